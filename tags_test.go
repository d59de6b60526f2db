package bento_test

import (
	"context"
	"strings"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/bentocache/bento"
	"github.com/bentocache/bento/internal/faultl2"
	"github.com/bentocache/bento/internal/mapstore"
	"github.com/bentocache/bento/modules/drivers/memory"
)

// This file tests "Tags" of BEHAVIOUR.md.

// tagShapes are the store shapes the tag behaviours must hold for.
var tagShapes = []struct {
	name  string
	store func(opts ...bento.Option) *bento.Store
}{
	{"L1", func(opts ...bento.Option) *bento.Store {
		return bento.NewStore(opts...).UseL1(memory.New(memory.Options{}))
	}},
	{"L2", func(opts ...bento.Option) *bento.Store {
		return bento.NewStore(opts...).UseL2(mapstore.NewL2(mapstore.L2Options{}))
	}},
	{"L1L2", func(opts ...bento.Option) *bento.Store {
		return bento.NewStore(opts...).UseL1(memory.New(memory.Options{})).UseL2(mapstore.NewL2(mapstore.L2Options{}))
	}},
}

// inEveryTagShape runs f as a parallel subtest of t named prefix and the
// shape's name, once for each of tagShapes, inside a synctest bubble, with
// peer "A" on that shape's store with an hour of grace.
func inEveryTagShape(t *testing.T, prefix string, f func(t *testing.T, p *peer)) {
	t.Helper()
	for _, shape := range tagShapes {
		t.Run(prefix+shape.name, func(t *testing.T) {
			t.Parallel()
			synctest.Test(t, func(t *testing.T) {
				p := startPeer(t, "A", shape.store(bento.Grace(time.Hour)))
				defer p.b.Close()
				f(t, p)
			})
		})
	}
}

// counted returns a factory of v that counts its runs.
func counted(v string, runs *atomic.Int32) bento.Factory[string] {
	return func(context.Context, *bento.FactoryContext[string]) (string, error) {
		runs.Add(1)
		return v, nil
	}
}

// TestTags_DeleteByTagIsHardDelete: DeleteByTag removes every entry carrying
// one of the tags, even under grace (BentoCache issue #71); other entries stay
// fresh, and GetOrSet runs the factory instead of serving the old value.
func TestTags_DeleteByTagIsHardDelete(t *testing.T) {
	t.Parallel()
	inEveryTagShape(t, "", func(t *testing.T, p *peer) {
		ctx := t.Context()
		p.mustSet(t, "users", "a", "va", bento.Tags("x"))
		p.mustSet(t, "users", "b", "vb", bento.Tags("x", "y"))
		p.mustSet(t, "users", "c", "vc", bento.Tags("y"))
		p.mustSet(t, "users", "d", "vd")
		advance(2 * time.Millisecond)

		users := p.cache("users")
		if err := users.DeleteByTag(ctx, "x"); err != nil {
			t.Fatalf("DeleteByTag(x) = %v; want no error", err)
		}
		for _, k := range []string{"a", "b"} {
			if got := p.read(t, "users", k); got.found {
				t.Errorf("Get(%s) with grace after DeleteByTag(x) = %v; want not found", k, got)
			}
			if has, err := users.Has(ctx, k); has || err != nil {
				t.Errorf("Has(%s) after DeleteByTag(x) = %t, %v; want false, nil", k, has, err)
			}
		}
		for k, v := range map[string]string{"c": "vc", "d": "vd"} {
			if got := p.read(t, "users", k); !got.found || got.value != v || got.graced {
				t.Errorf("Get(%s) after DeleteByTag(x) = %v; want %q, fresh", k, got, v)
			}
		}
		var runs atomic.Int32
		v, err := bento.GetOrSet(ctx, users, "a", counted("new", &runs))
		if err != nil || v != "new" || runs.Load() != 1 {
			t.Errorf("GetOrSet(a) after DeleteByTag(x) = %q, %v with %d factory runs; want %q, nil with 1", v, err, runs.Load(), "new")
		}
	})
}

// TestTags_ExpireByTagKeepsStale: ExpireByTag makes the tagged entries
// stale: usable under grace (a graced hit), missing for Has and without
// grace, and refreshed by the next GetOrSet.
func TestTags_ExpireByTagKeepsStale(t *testing.T) {
	t.Parallel()
	inEveryTagShape(t, "", func(t *testing.T, p *peer) {
		ctx := t.Context()
		users := p.cache("users")
		p.mustSet(t, "users", "a", "va", bento.Tags("x"))
		p.mustSet(t, "users", "c", "vc", bento.Tags("y"))
		advance(2 * time.Millisecond)

		if err := users.ExpireByTag(ctx, "x"); err != nil {
			t.Fatalf("ExpireByTag(x) = %v; want no error", err)
		}
		if got := p.read(t, "users", "a"); !got.found || got.value != "va" || !got.graced {
			t.Errorf("Get(a) with grace after ExpireByTag(x) = %v; want %q, graced", got, "va")
		}
		if got := p.read(t, "users", "a", bento.Grace(0)); got.found {
			t.Errorf("Get(a, Grace(0)) after ExpireByTag(x) = %v; want not found", got)
		}
		if has, err := users.Has(ctx, "a"); has || err != nil {
			t.Errorf("Has(a) after ExpireByTag(x) = %t, %v; want false, nil", has, err)
		}
		if got := p.read(t, "users", "c"); !got.found || got.value != "vc" || got.graced {
			t.Errorf("Get(c) after ExpireByTag(x) = %v; want %q, fresh", got, "vc")
		}

		var runs atomic.Int32
		v, err := bento.GetOrSet(ctx, users, "a", counted("new", &runs))
		if err != nil || v != "va" {
			t.Errorf("GetOrSet(a) after ExpireByTag(x) = %q, %v; want the stale %q, nil", v, err, "va")
		}
		synctest.Wait() // the background refresh
		if got := p.read(t, "users", "a"); !got.found || got.value != "new" || got.graced {
			t.Errorf("Get(a) after the refresh = %v; want %q, fresh", got, "new")
		}
		if runs.Load() != 1 {
			t.Errorf("factory runs = %d; want 1", runs.Load())
		}
	})
}

// TestTags_LaterEntriesUnaffected: an entry created after an invalidation,
// even within the same millisecond (the fake clock does not move here), is
// not affected by it.
func TestTags_LaterEntriesUnaffected(t *testing.T) {
	t.Parallel()
	kinds := []struct {
		name       string
		invalidate func(c *bento.Cache, ctx context.Context, tags ...string) error
	}{
		{"DeleteByTag", (*bento.Cache).DeleteByTag},
		{"ExpireByTag", (*bento.Cache).ExpireByTag},
	}
	for _, kind := range kinds {
		inEveryTagShape(t, kind.name+"/", func(t *testing.T, p *peer) {
			ctx := t.Context()
			users := p.cache("users")
			p.mustSet(t, "users", "a", "old", bento.Tags("x"))
			if err := kind.invalidate(users, ctx, "x"); err != nil {
				t.Fatalf("%s(x) = %v; want no error", kind.name, err)
			}
			p.mustSet(t, "users", "a", "new", bento.Tags("x"))
			if got := p.read(t, "users", "a"); !got.found || got.value != "new" || got.graced {
				t.Errorf("Get(a) after %s(x) then Set(a, new) in the same ms = %v; want %q, fresh", kind.name, got, "new")
			}

			var runs atomic.Int32
			f := func(ctx context.Context, fc *bento.FactoryContext[string]) (string, error) {
				runs.Add(1)
				fc.SetTags("x")
				return "made", nil
			}
			for range 2 {
				if v, err := bento.GetOrSet(ctx, users, "b", f); err != nil || v != "made" {
					t.Errorf("GetOrSet(b) after %s(x) = %q, %v; want %q, nil", kind.name, v, err, "made")
				}
			}
			if runs.Load() != 1 {
				t.Errorf("factory runs for b created after %s(x) = %d; want 1", kind.name, runs.Load())
			}
		})
	}
}

// TestTags_ScopedToNamespace: invalidating a tag in one namespace leaves the
// entries of other namespaces (and of the root) that carry the same tag.
func TestTags_ScopedToNamespace(t *testing.T) {
	t.Parallel()
	inEveryTagShape(t, "", func(t *testing.T, p *peer) {
		ctx := t.Context()
		for _, ns := range []string{"users", "posts", ""} {
			p.mustSet(t, ns, "a", "v-"+ns, bento.Tags("x"))
		}
		advance(2 * time.Millisecond)
		if err := p.cache("users").DeleteByTag(ctx, "x"); err != nil {
			t.Fatalf("DeleteByTag(x) on users = %v; want no error", err)
		}
		if err := p.cache("posts").ExpireByTag(ctx, "x"); err != nil {
			t.Fatalf("ExpireByTag(x) on posts = %v; want no error", err)
		}
		if got := p.read(t, "users", "a"); got.found {
			t.Errorf("Get(users, a) after DeleteByTag(x) on users = %v; want not found", got)
		}
		if got := p.read(t, "posts", "a"); !got.found || !got.graced {
			t.Errorf("Get(posts, a) after ExpireByTag(x) on posts = %v; want graced", got)
		}
		if got := p.read(t, "", "a"); !got.found || got.value != "v-" || got.graced {
			t.Errorf("Get(\"\", a) after invalidating x in users and posts = %v; want %q, fresh", got, "v-")
		}
	})
}

// TestTags_FromFactory: tags given by fc.SetTags in a factory, or by the Tags
// option of GetOrSet, are the entry's tags; SetTags replaces the option's.
func TestTags_FromFactory(t *testing.T) {
	t.Parallel()
	inEveryTagShape(t, "", func(t *testing.T, p *peer) {
		ctx := t.Context()
		users := p.cache("users")
		var runs atomic.Int32
		tagged := func(tags ...string) bento.Factory[string] {
			return func(_ context.Context, fc *bento.FactoryContext[string]) (string, error) {
				runs.Add(1)
				if len(tags) > 0 {
					fc.SetTags(tags...)
				}
				return "v-" + fc.Key(), nil
			}
		}
		for _, c := range []struct {
			key  string
			f    bento.Factory[string]
			opts []bento.Option
		}{
			{"a", tagged("x"), nil},
			{"b", tagged(), []bento.Option{bento.Tags("y")}},
			{"c", tagged("z"), []bento.Option{bento.Tags("y")}},
		} {
			if v, err := bento.GetOrSet(ctx, users, c.key, c.f, c.opts...); err != nil || v != "v-"+c.key {
				t.Fatalf("GetOrSet(%s) = %q, %v; want %q, nil", c.key, v, err, "v-"+c.key)
			}
		}
		advance(2 * time.Millisecond)

		if err := users.DeleteByTag(ctx, "x", "y"); err != nil {
			t.Fatalf("DeleteByTag(x, y) = %v; want no error", err)
		}
		for _, k := range []string{"a", "b"} {
			if got := p.read(t, "users", k); got.found {
				t.Errorf("Get(%s) after DeleteByTag(x, y) = %v; want not found", k, got)
			}
		}
		if got := p.read(t, "users", "c"); !got.found || got.graced {
			t.Errorf("Get(c), whose factory replaced tag y by z, after DeleteByTag(x, y) = %v; want fresh", got)
		}
		if err := users.DeleteByTag(ctx, "z"); err != nil {
			t.Fatalf("DeleteByTag(z) = %v; want no error", err)
		}
		if got := p.read(t, "users", "c"); got.found {
			t.Errorf("Get(c) after DeleteByTag(z) = %v; want not found", got)
		}
		runs.Store(0)
		if v, err := bento.GetOrSet(ctx, users, "a", tagged("x")); err != nil || v != "v-a" || runs.Load() != 1 {
			t.Errorf("GetOrSet(a) after DeleteByTag(x) = %q, %v with %d factory runs; want %q, nil with 1", v, err, runs.Load(), "v-a")
		}
	})
}

// TestTags_AcrossInstances: a tag invalidation on one instance reaches the
// others through the bus, and an instance started later through the tag
// records in L2.
func TestTags_AcrossInstances(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		ps := newPeers(t, 3, bento.Grace(time.Hour))
		defer ps.close()
		ctx := t.Context()
		a, b, c := ps.list[0], ps.list[1], ps.list[2]
		a.mustSet(t, "users", "k1", "v1", bento.Tags("x"))
		a.mustSet(t, "users", "k2", "v2", bento.Tags("y"))
		a.mustSet(t, "users", "k3", "v3", bento.Tags("z"))
		for _, p := range ps.list {
			for _, k := range []string{"k1", "k2", "k3"} {
				p.read(t, "users", k)
			}
		}
		advance(5 * time.Millisecond)

		if err := a.cache("users").DeleteByTag(ctx, "x"); err != nil {
			t.Fatalf("DeleteByTag(x) on A = %v; want no error", err)
		}
		if err := b.cache("users").ExpireByTag(ctx, "y"); err != nil {
			t.Fatalf("ExpireByTag(y) on B = %v; want no error", err)
		}
		d := ps.add(t) // knows of the invalidations only through L2
		for _, p := range []*peer{a, b, c, d} {
			if got := p.read(t, "users", "k1"); got.found {
				t.Errorf("Get(users, k1) on %s after DeleteByTag(x) on A = %v; want not found", p.name, got)
			}
			if got := p.read(t, "users", "k2"); !got.found || got.value != "v2" || !got.graced {
				t.Errorf("Get(users, k2) on %s after ExpireByTag(y) on B = %v; want %q, graced", p.name, got, "v2")
			}
			if got := p.read(t, "users", "k3"); !got.found || got.value != "v3" || got.graced {
				t.Errorf("Get(users, k3) on %s = %v; want %q, fresh", p.name, got, "v3")
			}
		}
	})
}

// TestTags_LaterEntryOnAnotherInstance: an entry that instance B creates
// right after A's tag invalidation — in the same millisecond — is not
// affected by it, on B or on A.
func TestTags_LaterEntryOnAnotherInstance(t *testing.T) {
	t.Parallel()
	kinds := []struct {
		name       string
		invalidate func(c *bento.Cache, ctx context.Context, tags ...string) error
	}{
		{"DeleteByTag", (*bento.Cache).DeleteByTag},
		{"ExpireByTag", (*bento.Cache).ExpireByTag},
	}
	for _, kind := range kinds {
		t.Run(kind.name, func(t *testing.T) {
			t.Parallel()
			synctest.Test(t, func(t *testing.T) {
				ps := newPeers(t, 2, bento.Grace(time.Hour))
				defer ps.close()
				a, b := ps.list[0], ps.list[1]
				a.mustSet(t, "users", "k", "old", bento.Tags("x"))
				b.read(t, "users", "k")
				advance(5 * time.Millisecond)

				if err := kind.invalidate(a.cache("users"), t.Context(), "x"); err != nil {
					t.Fatalf("%s(x) on A = %v; want no error", kind.name, err)
				}
				synctest.Wait()                                    // the invalidation reaches B
				b.mustSet(t, "users", "k", "new", bento.Tags("x")) // same millisecond
				for _, p := range []*peer{b, a} {
					if got := p.read(t, "users", "k"); !got.found || got.value != "new" || got.graced {
						t.Errorf("Get(users, k) on %s after %s(x) on A then Set(k, new) on B = %v; want %q, fresh", p.name, kind.name, got, "new")
					}
				}
			})
		})
	}
}

// TestTags_BookkeepingHiddenFromEvents: no event, on any instance, names
// bento's internal tag records ("__bento…"), in Key or in Keys — also when
// reading them from L2 fails.
func TestTags_BookkeepingHiddenFromEvents(t *testing.T) {
	t.Parallel()
	internal := func(t *testing.T, p *peer) {
		t.Helper()
		for _, e := range p.ev.all() {
			if strings.HasPrefix(e.Key, "__bento") {
				t.Errorf("event %s on %s has Key %q; want no internal key", e.Kind, p.name, e.Key)
			}
			for _, k := range e.Keys {
				if strings.HasPrefix(k, "__bento") {
					t.Errorf("event %s on %s has Keys %q; want no internal key", e.Kind, p.name, e.Keys)
					break
				}
			}
		}
	}
	t.Run("bus", func(t *testing.T) {
		t.Parallel()
		synctest.Test(t, func(t *testing.T) {
			ps := newPeers(t, 2, bento.Grace(time.Hour))
			defer ps.close()
			ctx := t.Context()
			a, b := ps.list[0], ps.list[1]
			a.mustSet(t, "users", "k1", "v1", bento.Tags("x"))
			f := func(_ context.Context, fc *bento.FactoryContext[string]) (string, error) {
				fc.SetTags("y")
				return "v2", nil
			}
			if _, err := bento.GetOrSet(ctx, a.cache("users"), "k2", f); err != nil {
				t.Fatalf("GetOrSet(k2) on A = %v; want no error", err)
			}
			b.read(t, "users", "k1")
			b.read(t, "users", "k2")
			advance(2 * time.Millisecond)
			if err := a.cache("users").DeleteByTag(ctx, "x"); err != nil {
				t.Fatalf("DeleteByTag(x) on A = %v; want no error", err)
			}
			if err := b.cache("users").ExpireByTag(ctx, "y"); err != nil {
				t.Fatalf("ExpireByTag(y) on B = %v; want no error", err)
			}
			for _, p := range ps.list {
				p.read(t, "users", "k1")
				p.read(t, "users", "k2")
			}
			if got := a.ev.count(bento.EventBusPublished, nil); got == 0 {
				t.Fatalf("bus messages published by A = 0; want some (the test would prove nothing)")
			}
			for _, p := range ps.list {
				internal(t, p)
			}
		})
	})
	t.Run("l2 failing", func(t *testing.T) {
		t.Parallel()
		synctest.Test(t, func(t *testing.T) {
			fl := faultl2.Wrap(mapstore.NewL2(mapstore.L2Options{}))
			// No breaker: every call reaches the failing L2.
			p := startPeer(t, "A", bento.NewStore(bento.Grace(time.Hour), bento.L2CircuitBreaker(0)).UseL1(memory.New(memory.Options{})).UseL2(fl))
			defer p.b.Close()
			p.mustSet(t, "users", "k", "v", bento.Tags("x"))
			fl.Fail(nil)
			if got := p.read(t, "users", "k"); got.value != "v" {
				t.Errorf("Get(users, k) with L2 failing = %v; want %q from L1", got, "v")
			}
			if err := p.cache("users").DeleteByTag(t.Context(), "y"); err != nil {
				t.Logf("DeleteByTag(y) with L2 failing = %v", err)
			}
			// A user key's L2 failure is an event; tag records' failures are not.
			if err := p.cache("users").Set(t.Context(), "k2", "v2", bento.Tags("x")); err != nil {
				t.Fatalf("Set(k2) with L2 failing and an L1 = %v; want the error suppressed", err)
			}
			if got := p.ev.count(bento.EventError, nil); got == 0 {
				t.Fatalf("error events with L2 failing = 0; want some (the test would prove nothing)")
			}
			internal(t, p)
		})
	})
}

// TestTags_RecordsMergeInL2: two instances invalidate the same tag without
// hearing of each other — the bus is down, or there is none — A deletes by it,
// then B expires by it. The L2 record must keep both, so that an instance
// started later still sees A's delete (the entry gone, not merely stale).
func TestTags_RecordsMergeInL2(t *testing.T) {
	t.Parallel()
	scenario := func(t *testing.T, a, b *peer, startC func() *peer) {
		t.Helper()
		ctx := t.Context()
		a.mustSet(t, "users", "k", "v", bento.Tags("x"))
		b.read(t, "users", "k") // B reads tag x's record (none yet)
		advance(5 * time.Millisecond)
		if err := a.cache("users").DeleteByTag(ctx, "x"); err != nil {
			t.Fatalf("DeleteByTag(x) on A = %v; want no error", err)
		}
		advance(time.Millisecond)
		if err := b.cache("users").ExpireByTag(ctx, "x"); err != nil {
			t.Fatalf("ExpireByTag(x) on B = %v; want no error", err)
		}
		// C reads first: a read that finds the entry gone also removes it
		// from L2, which would hide a lost record from C.
		c := startC()
		for _, p := range []*peer{c, a} {
			if got := p.read(t, "users", "k"); got.found {
				t.Errorf("Get(users, k) on %s after DeleteByTag(x) on A, then ExpireByTag(x) on B = %v; want not found", p.name, got)
			}
		}
	}
	t.Run("bus outage", func(t *testing.T) {
		t.Parallel()
		synctest.Test(t, func(t *testing.T) {
			ps := newPeers(t, 2, bento.Grace(time.Hour))
			defer ps.close()
			ps.hub.Partition()
			scenario(t, ps.list[0], ps.list[1], func() *peer {
				ps.hub.Heal()
				synctest.Wait()
				return ps.add(t) // started after the outage: knows only what L2 says
			})
		})
	})
	t.Run("no bus", func(t *testing.T) {
		t.Parallel()
		synctest.Test(t, func(t *testing.T) {
			l2 := mapstore.NewL2(mapstore.L2Options{})
			var list []*peer
			defer func() {
				for _, p := range list {
					_ = p.b.Close()
				}
			}()
			start := func(name string) *peer {
				p := startPeer(t, name, bento.NewStore(bento.Grace(time.Hour)).UseL1(memory.New(memory.Options{})).UseL2(l2))
				list = append(list, p)
				return p
			}
			a, b := start("A"), start("B")
			scenario(t, a, b, func() *peer { return start("C") })
		})
	})
}
