package bento_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/bentocache/bento"
	"github.com/bentocache/bento/internal/mapstore"
)

func TestGetOrSet_MissThenHit(t *testing.T) {
	for _, l := range layers {
		t.Run(l.name, func(t *testing.T) {
			b := newBento(t, l.store())
			rec := record(b)
			c := b.Default()
			var runs atomic.Int32
			for i := range 3 {
				v, err := bento.GetOrSet(t.Context(), c, "k", constant("v", &runs))
				if err != nil || v != "v" {
					t.Fatalf("GetOrSet #%d = %q, %v; want \"v\", <nil>", i, v, err)
				}
			}
			if n := runs.Load(); n != 1 {
				t.Errorf("factory ran %d times; want 1", n)
			}
			if n := rec.count(bento.EventMiss, nil); n != 1 {
				t.Errorf("%d miss events; want 1", n)
			}
			if n := rec.count(bento.EventHit, func(e bento.Event) bool { return !e.Graced }); n != 2 {
				t.Errorf("%d hit events; want 2", n)
			}
		})
	}
}

func TestGetOrSet_Stampede(t *testing.T) {
	const callers = 10_000
	for _, l := range layers {
		t.Run(l.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				b := newBento(t, l.store())
				defer b.Close()
				c := b.Default()
				var runs atomic.Int32
				factory := func(ctx context.Context, fc *bento.FactoryContext[int]) (int, error) {
					runs.Add(1)
					time.Sleep(10 * time.Millisecond) // every caller arrives meanwhile
					return 42, nil
				}
				var wg sync.WaitGroup
				var bad atomic.Int32
				for range callers {
					wg.Go(func() {
						v, err := bento.GetOrSet(t.Context(), c, "hot", factory)
						if err != nil || v != 42 {
							bad.Add(1)
						}
					})
				}
				wg.Wait()
				if n := runs.Load(); n != 1 {
					t.Errorf("%d concurrent callers ran the factory %d times; want 1", callers, n)
				}
				if n := bad.Load(); n != 0 {
					t.Errorf("%d callers did not get 42", n)
				}
			})
		})
	}
}

func TestGetOrSet_StaleWhileRevalidate(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := newBento(t, layers[2].store(), bento.TTL(time.Minute), bento.Grace(time.Hour))
		defer b.Close()
		rec := record(b)
		c := b.Default()
		ctx := t.Context()
		if err := c.Set(ctx, "k", "old"); err != nil {
			t.Fatal(err)
		}
		time.Sleep(2 * time.Minute)

		release := make(chan struct{})
		var runs atomic.Int32
		slow := func(ctx context.Context, fc *bento.FactoryContext[string]) (string, error) {
			runs.Add(1)
			if old, ok := fc.Graced(); !ok || old != "old" {
				t.Errorf("fc.Graced() = %q, %v in a background refresh; want \"old\", true", old, ok)
			}
			<-release
			return "new", nil
		}
		// Timeout 0 (the default): the stale value at once, the refresh behind.
		for i := range 3 {
			v, err := bento.GetOrSet(ctx, c, "k", slow)
			if err != nil || v != "old" {
				t.Fatalf("GetOrSet #%d during refresh = %q, %v; want \"old\", <nil>", i, v, err)
			}
		}
		if n := rec.count(bento.EventHit, func(e bento.Event) bool { return e.Graced }); n != 3 {
			t.Errorf("%d graced hits; want 3", n)
		}
		close(release)
		synctest.Wait()
		if n := runs.Load(); n != 1 {
			t.Errorf("factory ran %d times for 3 callers of a stale key; want 1", n)
		}
		v, found, err := bento.Get[string](ctx, c, "k")
		if err != nil || !found || v != "new" {
			t.Errorf("Get after refresh = %q, %v, %v; want \"new\", true, <nil>", v, found, err)
		}
	})
}

func TestGetOrSet_SoftTimeout(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := newBento(t, layers[0].store(), bento.TTL(time.Minute), bento.Grace(time.Hour))
		defer b.Close()
		c := b.Default()
		ctx := t.Context()
		_ = c.Set(ctx, "k", "old")
		time.Sleep(2 * time.Minute)

		factory := func(d time.Duration, v string) bento.Factory[string] {
			return func(context.Context, *bento.FactoryContext[string]) (string, error) {
				time.Sleep(d)
				return v, nil
			}
		}
		// A factory faster than the soft timeout: its value.
		start := time.Now()
		v, err := bento.GetOrSet(ctx, c, "k", factory(10*time.Millisecond, "fast"), bento.Timeout(50*time.Millisecond))
		if err != nil || v != "fast" {
			t.Fatalf("GetOrSet with a fast factory = %q, %v; want \"fast\", <nil>", v, err)
		}
		if d := time.Since(start); d != 10*time.Millisecond {
			t.Errorf("GetOrSet returned after %s; want 10ms (the factory's time)", d)
		}

		_ = c.Expire(ctx, "k")
		// A slower one: the stale value after the soft timeout, the value later.
		start = time.Now()
		v, err = bento.GetOrSet(ctx, c, "k", factory(time.Second, "slow"), bento.Timeout(50*time.Millisecond))
		if err != nil || v != "fast" {
			t.Fatalf("GetOrSet past the soft timeout = %q, %v; want the stale \"fast\", <nil>", v, err)
		}
		if d := time.Since(start); d != 50*time.Millisecond {
			t.Errorf("GetOrSet returned after %s; want 50ms (the soft timeout)", d)
		}
		time.Sleep(time.Second)
		synctest.Wait()
		if v, _, _ := bento.Get[string](ctx, c, "k"); v != "slow" {
			t.Errorf("Get after the factory finished = %q; want \"slow\": the factory finishes and stores", v)
		}
	})
}

func TestGetOrSet_HardTimeout(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := newBento(t, layers[2].store())
		defer b.Close()
		c := b.Default()
		ctx := t.Context()
		slow := func(context.Context, *bento.FactoryContext[string]) (string, error) {
			time.Sleep(time.Second)
			return "late", nil
		}
		_, err := bento.GetOrSet(ctx, c, "k", slow, bento.HardTimeout(100*time.Millisecond))
		if !errors.Is(err, bento.ErrHardTimeout) {
			t.Fatalf("GetOrSet with a slow factory = %v; want ErrHardTimeout", err)
		}
		time.Sleep(time.Second)
		synctest.Wait()
		if v, found, _ := bento.Get[string](ctx, c, "k"); !found || v != "late" {
			t.Errorf("Get after the factory finished = %q, %v; want \"late\", true: the value is stored", v, found)
		}
	})
}

func TestGetOrSet_LockTimeout(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := newBento(t, layers[0].store())
		defer b.Close()
		c := b.Default()
		ctx := t.Context()
		release := make(chan struct{})
		go func() {
			_, _ = bento.GetOrSet(ctx, c, "k", func(context.Context, *bento.FactoryContext[int]) (int, error) {
				<-release
				return 1, nil
			})
		}()
		synctest.Wait() // the leader is in its factory
		start := time.Now()
		_, err := bento.GetOrSet(ctx, c, "k", constant(2, new(atomic.Int32)), bento.LockTimeout(100*time.Millisecond))
		if !errors.Is(err, bento.ErrLockTimeout) {
			t.Errorf("GetOrSet waiting on a busy key = %v; want ErrLockTimeout", err)
		}
		if d := time.Since(start); d != 100*time.Millisecond {
			t.Errorf("waited %s; want the lock timeout, 100ms", d)
		}
		close(release)
		synctest.Wait()
	})
}

func TestGetOrSet_LockTimeoutNeverDelaysStale(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := newBento(t, layers[0].store(), bento.TTL(time.Minute), bento.Grace(time.Hour), bento.Timeout(time.Hour))
		defer b.Close()
		c := b.Default()
		ctx := t.Context()
		_ = c.Set(ctx, "k", 1)
		time.Sleep(2 * time.Minute)
		release := make(chan struct{})
		go func() {
			_, _ = bento.GetOrSet(ctx, c, "k", func(context.Context, *bento.FactoryContext[int]) (int, error) {
				<-release
				return 2, nil
			})
		}()
		synctest.Wait()
		start := time.Now()
		v, err := bento.GetOrSet(ctx, c, "k", constant(3, new(atomic.Int32)), bento.LockTimeout(time.Minute))
		if err != nil || v != 1 || time.Since(start) != 0 {
			t.Errorf("GetOrSet on a stale key being refreshed = %d, %v after %s; want the stale 1 at once", v, err, time.Since(start))
		}
		close(release)
		synctest.Wait()
	})
}

func TestGetOrSet_FactoryError(t *testing.T) {
	boom := errors.New("boom")
	t.Run("NoStale", func(t *testing.T) {
		b := newBento(t, layers[2].store())
		var seen *bento.FactoryError
		_, err := bento.GetOrSet(t.Context(), b.Namespace("users"), "42", func(context.Context, *bento.FactoryContext[int]) (int, error) {
			return 0, boom
		}, bento.OnFactoryError(func(fe *bento.FactoryError) { seen = fe }))
		var fe *bento.FactoryError
		if !errors.As(err, &fe) || !errors.Is(err, boom) {
			t.Fatalf("GetOrSet with a failing factory = %v; want a *FactoryError wrapping boom", err)
		}
		if fe.Key != "42" || fe.Namespace != "users" || fe.Store != "main" || fe.Background {
			t.Errorf("FactoryError = %+v; want key 42, namespace users, store main, not background", *fe)
		}
		if seen != fe {
			t.Errorf("OnFactoryError saw %v; want the returned error", seen)
		}
		if _, found, _ := bento.Get[int](t.Context(), b.Namespace("users"), "42"); found {
			t.Error("a failed factory cached something")
		}
	})
	t.Run("StaleAndBackoff", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			b := newBento(t, layers[2].store(), bento.TTL(time.Minute), bento.Grace(time.Hour),
				bento.GraceBackoff(30*time.Second), bento.Timeout(time.Hour))
			defer b.Close()
			c := b.Default()
			ctx := t.Context()
			_ = c.Set(ctx, "k", "old")
			time.Sleep(2 * time.Minute)
			var runs atomic.Int32
			failing := func(context.Context, *bento.FactoryContext[string]) (string, error) {
				runs.Add(1)
				return "", boom
			}
			for i := range 3 {
				v, err := bento.GetOrSet(ctx, c, "k", failing)
				if err != nil || v != "old" {
					t.Fatalf("GetOrSet #%d with a failing factory and a stale value = %q, %v; want \"old\", <nil>", i, v, err)
				}
			}
			if n := runs.Load(); n != 1 {
				t.Errorf("factory ran %d times within the grace backoff; want 1", n)
			}
			time.Sleep(31 * time.Second)
			_, _ = bento.GetOrSet(ctx, c, "k", failing)
			if n := runs.Load(); n != 2 {
				t.Errorf("factory ran %d times after the grace backoff; want 2", n)
			}
		})
	})
	t.Run("BackgroundRefreshBacksOff", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			b := newBento(t, layers[2].store(), bento.TTL(time.Minute), bento.Grace(time.Hour), bento.GraceBackoff(30*time.Second))
			defer b.Close()
			c := b.Default()
			ctx := t.Context()
			_ = c.Set(ctx, "k", "old")
			time.Sleep(2 * time.Minute)
			var runs atomic.Int32
			var background atomic.Bool
			failing := func(context.Context, *bento.FactoryContext[string]) (string, error) {
				runs.Add(1)
				return "", boom
			}
			onErr := bento.OnFactoryError(func(fe *bento.FactoryError) { background.Store(fe.Background) })
			for range 3 {
				if v, err := bento.GetOrSet(ctx, c, "k", failing, onErr); err != nil || v != "old" {
					t.Fatalf("GetOrSet = %q, %v; want \"old\", <nil>", v, err)
				}
				synctest.Wait()
			}
			if n := runs.Load(); n != 1 {
				t.Errorf("background factory ran %d times within the grace backoff; want 1", n)
			}
			if !background.Load() {
				t.Error("OnFactoryError saw Background false for a background refresh")
			}
		})
	})
}

func TestGetOrSet_PanickingFactory(t *testing.T) {
	b := newBento(t, layers[0].store())
	c := b.Default()
	_, err := bento.GetOrSet(t.Context(), c, "k", func(context.Context, *bento.FactoryContext[int]) (int, error) {
		panic("kaboom")
	})
	var pe *bento.PanicError
	if !errors.As(err, &pe) || pe.Value != "kaboom" {
		t.Fatalf("GetOrSet with a panicking factory = %v; want a *PanicError with \"kaboom\"", err)
	}
	// The lock is released: the next caller runs its own factory.
	v, err := bento.GetOrSet(t.Context(), c, "k", constant(7, new(atomic.Int32)))
	if err != nil || v != 7 {
		t.Errorf("GetOrSet after a panic = %d, %v; want 7, <nil>", v, err)
	}
}

func TestGetOrSet_ForceFresh(t *testing.T) {
	b := newBento(t, layers[2].store())
	c := b.Default()
	ctx := t.Context()
	_ = c.Set(ctx, "k", 1)
	v, err := bento.GetOrSet(ctx, c, "k", constant(2, new(atomic.Int32)), bento.ForceFresh())
	if err != nil || v != 2 {
		t.Fatalf("GetOrSet(ForceFresh) = %d, %v; want 2, <nil>", v, err)
	}
	_, err = bento.GetOrSet(ctx, c, "k", func(context.Context, *bento.FactoryContext[int]) (int, error) {
		return 0, errors.New("down")
	}, bento.ForceFresh())
	if err == nil {
		t.Error("GetOrSet(ForceFresh) with a failing factory returned no error")
	}
	if v, _, _ := bento.Get[int](ctx, c, "k"); v != 2 {
		t.Errorf("Get after a failed ForceFresh = %d; want 2, untouched", v)
	}
}

func TestFactoryContext(t *testing.T) {
	t.Run("SetTTL", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			b := newBento(t, layers[2].store())
			defer b.Close()
			c := b.Default()
			_, _ = bento.GetOrSet(t.Context(), c, "k", func(ctx context.Context, fc *bento.FactoryContext[int]) (int, error) {
				fc.SetTTL(time.Second)
				return 1, nil
			})
			time.Sleep(1002 * time.Millisecond)
			if _, found, _ := bento.Get[int](t.Context(), c, "k"); found {
				t.Error("an entry whose factory set a 1s TTL was found after 1s")
			}
		})
	})
	t.Run("Skip", func(t *testing.T) {
		b := newBento(t, layers[2].store(), bento.Grace(time.Hour))
		c := b.Default()
		v, err := bento.GetOrSet(t.Context(), c, "k", func(ctx context.Context, fc *bento.FactoryContext[int]) (int, error) {
			return 5, fc.Skip()
		})
		if err != nil || v != 0 {
			t.Errorf("GetOrSet with fc.Skip() = %d, %v; want 0, <nil>", v, err)
		}
		if _, found, _ := bento.Get[int](t.Context(), c, "k"); found {
			t.Error("fc.Skip() cached a value")
		}
	})
	t.Run("SetOptionsRejectsStoreScope", func(t *testing.T) {
		b := newBento(t, layers[0].store())
		_, err := bento.GetOrSet(t.Context(), b.Default(), "k", func(ctx context.Context, fc *bento.FactoryContext[int]) (int, error) {
			fc.SetOptions(bento.Prefix("x"))
			return 1, nil
		})
		if err == nil {
			t.Error("fc.SetOptions(Prefix) was accepted; want an error naming the option")
		}
	})
	t.Run("GracedWithoutStale", func(t *testing.T) {
		b := newBento(t, layers[0].store())
		_, _ = bento.GetOrSet(t.Context(), b.Default(), "k", func(ctx context.Context, fc *bento.FactoryContext[int]) (int, error) {
			if v, ok := fc.Graced(); ok {
				t.Errorf("fc.Graced() = %d, true with no stale value; want false", v)
			}
			return 1, nil
		})
	})
}

// TestInvalidationWinsOverFactory: an invalidation that arrives while a
// factory runs is not overwritten by the factory's result, which still goes
// to the callers that waited for it.
func TestInvalidationWinsOverFactory(t *testing.T) {
	invalidations := []struct {
		name string
		do   func(ctx context.Context, c *bento.Cache) error
	}{
		{"Delete", func(ctx context.Context, c *bento.Cache) error { _, err := c.Delete(ctx, "k"); return err }},
		{"Expire", func(ctx context.Context, c *bento.Cache) error { return c.Expire(ctx, "k") }},
		{"Clear", func(ctx context.Context, c *bento.Cache) error { return c.Clear(ctx) }},
		{"ClearParent", func(ctx context.Context, c *bento.Cache) error { return c.Clear(ctx) }},
		{"DeleteByTag", func(ctx context.Context, c *bento.Cache) error { return c.DeleteByTag(ctx, "t") }},
	}
	for _, inv := range invalidations {
		t.Run(inv.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				b := newBento(t, layers[2].store())
				defer b.Close()
				ns := b.Namespace("users")
				target := ns
				if inv.name == "ClearParent" {
					target = b.Default()
				}
				ctx := t.Context()
				inFactory, release := make(chan struct{}), make(chan struct{})
				got := make(chan string, 1)
				go func() {
					v, _ := bento.GetOrSet(ctx, ns, "k", func(context.Context, *bento.FactoryContext[string]) (string, error) {
						close(inFactory)
						<-release
						return "computed", nil
					}, bento.Tags("t"))
					got <- v
				}()
				<-inFactory
				if err := inv.do(ctx, target); err != nil {
					t.Fatalf("%s: %v", inv.name, err)
				}
				close(release)
				if v := <-got; v != "computed" {
					t.Errorf("the waiting caller got %q; want \"computed\"", v)
				}
				synctest.Wait()
				if v, found, _ := bento.Get[string](ctx, ns, "k"); found {
					t.Errorf("after %s during the factory, Get = %q, true; want not found: the invalidation wins", inv.name, v)
				}
			})
		})
	}
}

func TestGet_Layers(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := newBento(t, layers[2].store(), bento.TTL(time.Minute), bento.Grace(time.Hour))
		defer b.Close()
		rec := record(b)
		c := b.Default()
		ctx := t.Context()
		if err := c.Set(ctx, "k", "v"); err != nil {
			t.Fatal(err)
		}
		// A second manager on the same L2 finds it in L2, then in its L1.
		if v, found, err := bento.Get[string](ctx, c, "missing"); found || err != nil {
			t.Errorf("Get(missing) = %q, %v, %v; want \"\", false, <nil>", v, found, err)
		}
		if rec.count(bento.EventMiss, nil) != 1 {
			t.Error("a missing key emitted no miss event")
		}
		_, found, _ := bento.Get[string](ctx, c, "k")
		if !found || rec.count(bento.EventHit, func(e bento.Event) bool { return e.Layer == bento.LayerL1 }) != 1 {
			t.Error("Get of a key just set was not an L1 hit")
		}
		time.Sleep(2 * time.Minute)
		v, found, _ := bento.Get[string](ctx, c, "k")
		if !found || v != "v" || rec.count(bento.EventHit, func(e bento.Event) bool { return e.Graced }) != 1 {
			t.Errorf("Get of a stale key under grace = %q, %v; want \"v\", true with a graced hit", v, found)
		}
		if has, _ := c.Has(ctx, "k"); has {
			t.Error("Has on a stale key = true; want false: stale counts as missing")
		}
		if missing, _ := c.Missing(ctx, "k"); !missing {
			t.Error("Missing on a stale key = false; want true")
		}
		if _, found, _ := bento.Get[string](ctx, c, "k", bento.Grace(0)); found {
			t.Error("Get of a stale key without grace found it")
		}
	})
}

func TestGet_FromL2KeepsCreationTime(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		l2 := mapstore.NewL2(mapstore.L2Options{})
		a := newBento(t, bento.NewStore().UseL1(newL1()).UseL2(l2), bento.TTL(time.Minute))
		defer a.Close()
		bb := newBento(t, bento.NewStore().UseL1(newL1()).UseL2(l2.WithPrefix("")), bento.TTL(time.Minute))
		defer bb.Close()
		ctx := t.Context()
		_ = a.Default().Set(ctx, "k", 1)
		time.Sleep(40 * time.Second)
		if _, found, _ := bento.Get[int](ctx, bb.Default(), "k"); !found {
			t.Fatal("second instance did not find the key in L2")
		}
		time.Sleep(21 * time.Second)
		// Copied into B's L1 with its original expiry, not a new TTL.
		if _, found, _ := bento.Get[int](ctx, bb.Default(), "k"); found {
			t.Error("an entry copied from L2 lived past its original TTL")
		}
	})
}

func TestTTL_PhysicalIsTTLPlusGrace(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		// BentoCache hands drivers the grace alone; a grace shorter than the
		// TTL then cut entries short.
		b := newBento(t, layers[1].store(), bento.TTL(time.Hour), bento.Grace(10*time.Minute))
		defer b.Close()
		c := b.Default()
		_ = c.Set(t.Context(), "k", 1)
		time.Sleep(30 * time.Minute)
		if _, found, _ := bento.Get[int](t.Context(), c, "k"); !found {
			t.Error("an entry with TTL 1h and grace 10m was gone after 30m")
		}
		time.Sleep(35 * time.Minute)
		if _, found, _ := bento.Get[int](t.Context(), c, "k"); !found {
			t.Error("an entry was gone 5m into its 10m grace")
		}
		time.Sleep(6 * time.Minute)
		if _, found, _ := bento.Get[int](t.Context(), c, "k"); found {
			t.Error("an entry outlived TTL + grace")
		}
	})
}

func TestOptions_Precedence(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b, err := bento.New(bento.Config{
			Options: []bento.Option{bento.TTL(time.Hour)},
			Stores: map[string]*bento.Store{
				"a": bento.NewStore().UseL1(newL1()),
				"b": bento.NewStore(bento.TTL(time.Minute)).UseL1(newL1()),
			},
			Default: "a",
		})
		if err != nil {
			t.Fatal(err)
		}
		defer b.Close()
		ctx := t.Context()
		sa, _ := b.Use("a")
		sb, _ := b.Use("b")
		_ = sa.Set(ctx, "manager", 1)                      // 1h
		_ = sb.Set(ctx, "store", 1)                        // 1m
		_ = sb.Set(ctx, "call", 1, bento.TTL(time.Second)) // 1s
		_ = sa.Set(ctx, "default", 1)
		checks := []struct {
			c     *bento.Cache
			key   string
			after time.Duration
			found bool
		}{
			{sb, "call", 1002 * time.Millisecond, false},
			{sb, "store", 0, true},
			{sb, "store", time.Minute, false},
			{sa, "manager", 0, true},
			{sa, "manager", time.Hour, false},
		}
		for _, ck := range checks {
			time.Sleep(ck.after)
			if _, found, _ := bento.Get[int](ctx, ck.c, ck.key); found != ck.found {
				t.Errorf("Get(%q) after %s more = found %v; want %v", ck.key, ck.after, found, ck.found)
			}
		}
	})
}

func TestDefaults(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := newBento(t, layers[0].store())
		defer b.Close()
		c := b.Default()
		_ = c.Set(t.Context(), "k", 1)
		time.Sleep(29 * time.Minute)
		if _, found, _ := bento.Get[int](t.Context(), c, "k"); !found {
			t.Error("default TTL shorter than 30m")
		}
		time.Sleep(time.Minute + 2*time.Millisecond)
		if _, found, _ := bento.Get[int](t.Context(), c, "k", bento.Grace(time.Hour)); found {
			t.Error("an entry outlived the default TTL (30m) with the default grace (off)")
		}
	})
}

func TestBadInput(t *testing.T) {
	b := newBento(t, layers[2].store())
	c := b.Namespace("users")
	ctx := t.Context()
	nop := constant(1, new(atomic.Int32))
	tests := []struct {
		name string
		err  error
		is   error  // when set, errors.Is must hold
		says string // the error text must name this
	}{
		{"EmptyKeySet", c.Set(ctx, "", 1), bento.ErrInvalidKey, "empty key"},
		{"EmptyKeyGetOrSet", func() error { _, err := bento.GetOrSet(ctx, c, "", nop); return err }(), bento.ErrInvalidKey, "empty key"},
		{"ReservedKey", c.Set(ctx, "__bento:tag:x", 1), bento.ErrInvalidKey, "__bento:tag:x"},
		{"NilFactory", func() error { _, err := bento.GetOrSet[int](ctx, c, "k", nil); return err }(), nil, `"users:k": nil factory`},
		{"NegativeTTL", c.Set(ctx, "k", 1, bento.TTL(-time.Second)), bento.ErrInvalidOption, "TTL must not be negative"},
		{"NegativeGrace", c.Set(ctx, "k", 1, bento.Grace(-1)), bento.ErrInvalidOption, "Grace must not be negative"},
		{"EmptyTag", c.Set(ctx, "k", 1, bento.Tags("")), bento.ErrInvalidOption, "empty tag"},
		{"StoreOptionPerCall", c.Set(ctx, "k", 1, bento.Prefix("x")), bento.ErrInvalidOption, "option Prefix is a store option"},
		{"Unencodable", c.Set(ctx, "k", make(chan int)), bento.ErrUnencodable, `"users:k": encoding chan int`},
		{"NoTag", c.DeleteByTag(ctx), bento.ErrInvalidTag, "no tag given"},
		{"UnknownStore", func() error { _, err := b.Use("nope"); return err }(), bento.ErrUnknownStore, `"nope"`},
		{"TypeMismatch", func() error {
			_ = c.Set(ctx, "n", "text")
			_, _, err := bento.Get[int](ctx, c, "n")
			return err
		}(), bento.ErrTypeMismatch, `key "users:n" holds a value of type string, not int`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.err == nil {
				t.Fatalf("got no error; want one naming %q", tt.says)
			}
			if tt.is != nil && !errors.Is(tt.err, tt.is) {
				t.Errorf("error %q is not %v", tt.err, tt.is)
			}
			if !strings.Contains(tt.err.Error(), tt.says) {
				t.Errorf("error %q does not say %q", tt.err, tt.says)
			}
		})
	}
}

func TestNew_Errors(t *testing.T) {
	tests := []struct {
		name string
		cfg  bento.Config
		says string
	}{
		{"NoStores", bento.Config{}, "no stores"},
		{"NoLayer", bento.Config{Stores: map[string]*bento.Store{"s": bento.NewStore()}}, `store "s": no layer`},
		{"NoDefault", bento.Config{Stores: map[string]*bento.Store{"a": layers[0].store(), "b": layers[0].store()}}, "names no default"},
		{"UnknownDefault", bento.Config{Default: "x", Stores: map[string]*bento.Store{"a": layers[0].store()}}, `default store "x"`},
		{"BadStoreOption", bento.Config{Stores: map[string]*bento.Store{"s": bento.NewStore(bento.TTL(-1)).UseL1(newL1())}}, `store "s": option TTL must not be negative`},
		{"BadManagerOption", bento.Config{Options: []bento.Option{bento.Grace(-1)}, Stores: map[string]*bento.Store{"s": layers[0].store()}}, "manager options"},
		{"InvalidDriver", bento.Config{Stores: map[string]*bento.Store{"s": bento.NewStore().UseL1(newL1WithMaxItems(-1))}}, `store "s": l1`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, err := bento.New(tt.cfg)
			if err == nil {
				b.Close()
				t.Fatalf("New succeeded; want an error saying %q", tt.says)
			}
			if !strings.Contains(err.Error(), tt.says) {
				t.Errorf("New error %q does not say %q", err, tt.says)
			}
		})
	}
	t.Run("StoreReused", func(t *testing.T) {
		st := layers[0].store()
		newBento(t, st)
		if _, err := bento.New(bento.Config{Stores: map[string]*bento.Store{"again": st}}); err == nil {
			t.Error("a *Store used by two managers was accepted")
		}
	})
}

func TestClose(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := newBento(t, layers[2].store(), bento.TTL(time.Minute), bento.Grace(time.Hour))
		c := b.Default()
		ctx := t.Context()
		_ = c.Set(ctx, "k", 1)
		time.Sleep(2 * time.Minute)
		// A background refresh is under way when Close is called: Close waits
		// for it (its context ends), and the bubble proves no goroutine is left.
		started := make(chan struct{})
		_, _ = bento.GetOrSet(ctx, c, "k", func(ctx context.Context, fc *bento.FactoryContext[int]) (int, error) {
			close(started)
			<-ctx.Done()
			return 0, ctx.Err()
		})
		<-started
		if err := b.Close(); err != nil {
			t.Errorf("Close = %v", err)
		}
		if err := b.Close(); err != nil {
			t.Errorf("second Close = %v; want <nil>", err)
		}
		if err := c.Set(ctx, "k", 2); !errors.Is(err, bento.ErrClosed) {
			t.Errorf("Set after Close = %v; want ErrClosed", err)
		}
	})
}

func TestNilValue(t *testing.T) {
	for _, l := range layers {
		t.Run(l.name, func(t *testing.T) {
			b := newBento(t, l.store())
			c := b.Default()
			if err := c.Set(t.Context(), "k", nil); err != nil {
				t.Fatal(err)
			}
			v, found, err := bento.Get[*struct{ A int }](t.Context(), c, "k")
			if !found || v != nil || err != nil {
				t.Errorf("Get of a nil value = %v, %v, %v; want <nil>, true, <nil>", v, found, err)
			}
		})
	}
}

// TestGraceBackoff_KeepsLifetime: serving a stale value under a grace
// backoff changes neither how long the layers keep it nor its staleness.
func TestGraceBackoff_KeepsLifetime(t *testing.T) {
	failing := func(context.Context, *bento.FactoryContext[string]) (string, error) {
		return "", errors.New("down")
	}
	t.Run("NotPastGrace", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			b := newBento(t, layers[2].store(), bento.TTL(time.Second), bento.Grace(2*time.Second),
				bento.GraceBackoff(10*time.Second), bento.Timeout(time.Hour))
			defer b.Close()
			c := b.Default()
			ctx := t.Context()
			_ = c.Set(ctx, "k", "v")
			time.Sleep(1500 * time.Millisecond)
			if v, err := bento.GetOrSet(ctx, c, "k", failing); err != nil || v != "v" {
				t.Fatalf("GetOrSet with a failing factory = %q, %v; want the stale \"v\"", v, err)
			}
			time.Sleep(2 * time.Second) // 3.5s: past TTL + grace (3s), inside the backoff
			if v, found, _ := bento.Get[string](ctx, c, "k"); found {
				t.Errorf("Get past TTL + grace during a grace backoff = %q, true; want not found", v)
			}
		})
	})
	t.Run("ExpiredNotCutShort", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			b := newBento(t, layers[2].store(), bento.Grace(6*time.Hour),
				bento.GraceBackoff(10*time.Second), bento.Timeout(time.Hour))
			defer b.Close()
			c := b.Default()
			ctx := t.Context()
			_ = c.Set(ctx, "k", "v")
			_ = c.Expire(ctx, "k")
			if v, err := bento.GetOrSet(ctx, c, "k", failing); err != nil || v != "v" {
				t.Fatalf("GetOrSet with a failing factory = %q, %v; want the stale \"v\"", v, err)
			}
			time.Sleep(11 * time.Second)
			if v, found, _ := bento.Get[string](ctx, c, "k"); !found || v != "v" {
				t.Errorf("Get 11s after a backoff of 10s on an expired entry with 6h grace = %q, %v; want the stale \"v\"", v, found)
			}
		})
	})
	t.Run("ExpireEndsIt", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			b := newBento(t, layers[0].store(), bento.TTL(time.Minute), bento.Grace(time.Hour),
				bento.GraceBackoff(time.Hour), bento.Timeout(time.Hour))
			defer b.Close()
			c := b.Default()
			ctx := t.Context()
			_ = c.Set(ctx, "k", "v")
			time.Sleep(2 * time.Minute)
			_, _ = bento.GetOrSet(ctx, c, "k", failing) // backs off for an hour
			_ = c.Set(ctx, "k", "v2")
			_ = c.Expire(ctx, "k")
			var runs atomic.Int32
			if v, _ := bento.GetOrSet(ctx, c, "k", constant("v3", &runs)); v != "v3" || runs.Load() != 1 {
				t.Errorf("GetOrSet after Set and Expire = %q (factory runs %d); want \"v3\" from the factory: writes end a backoff", v, runs.Load())
			}
		})
	})
}

func TestNamespace_InvalidNames(t *testing.T) {
	b := newBento(t, layers[0].store())
	for _, c := range []*bento.Cache{
		b.Namespace(""),
		b.Namespace("__bento"),
		b.Namespace("users:__bento"),
		b.Namespace("a::b"),
		b.Namespace("__bento").Namespace("tag"),
	} {
		if err := c.Set(t.Context(), "k", 1); !errors.Is(err, bento.ErrInvalidKey) {
			t.Errorf("Set on namespace %q = %v; want ErrInvalidKey", c.Path(), err)
		}
	}
	if err := b.Namespace("users").Namespace("posts").Set(t.Context(), "k", 1); err != nil {
		t.Errorf("Set on a valid nested namespace = %v", err)
	}
}
