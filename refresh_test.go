package bento_test

import (
	"context"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/bentocache/bento"
	"github.com/bentocache/bento/internal/mapstore"
	"github.com/bentocache/bento/modules/drivers/memory"
)

// TestEagerRefresh: a hit past the threshold returns at once and refreshes
// in the background, once for 50 concurrent callers; before the threshold
// nothing is refreshed.
func TestEagerRefresh(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := newBento(t, bento.NewStore(bento.TTL(100*time.Millisecond), bento.EagerRefresh(0.5)).UseL1(memory.New(memory.Options{})))
		defer b.Close()
		c := b.Default()
		ctx := t.Context()
		var runs atomic.Int32
		release := make(chan struct{})
		factory := func(context.Context, *bento.FactoryContext[string]) (string, error) {
			n := runs.Add(1)
			if n > 1 {
				<-release // the refresh waits; the hits must not
			}
			return "v" + strconv.Itoa(int(n)), nil
		}
		if v, err := bento.GetOrSet(ctx, c, "k", factory); v != "v1" || err != nil {
			t.Fatalf("first GetOrSet = %q, %v", v, err)
		}
		advance(40 * time.Millisecond)
		if v, _ := bento.GetOrSet(ctx, c, "k", factory); v != "v1" || runs.Load() != 1 {
			t.Fatalf("GetOrSet at 40%% of the TTL = %q after %d factory runs; want \"v1\", 1", v, runs.Load())
		}
		advance(20 * time.Millisecond) // past half the TTL
		var wg sync.WaitGroup
		for range 50 {
			wg.Go(func() {
				if v, err := bento.GetOrSet(ctx, c, "k", factory); v != "v1" || err != nil {
					t.Errorf("GetOrSet past the threshold = %q, %v; want \"v1\" at once", v, err)
				}
			})
		}
		wg.Wait() // returned while the refresh is held
		close(release)
		synctest.Wait()
		if n := runs.Load(); n != 2 {
			t.Errorf("factory runs after 50 hits past the threshold = %d; want 2 (one refresh)", n)
		}
		if v, _, _ := bento.Get[string](ctx, c, "k"); v != "v2" {
			t.Errorf("Get after the refresh = %q; want \"v2\"", v)
		}
	})
}

// TestEagerRefresh_LooksAtL2First: an instance whose L1 copy is due takes
// the entry another instance refreshed in L2, without running its factory
// (FusionCache #651).
func TestEagerRefresh_LooksAtL2First(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		l2 := mapstore.NewL2(mapstore.L2Options{})
		opts := []bento.Option{bento.TTL(100 * time.Millisecond), bento.EagerRefresh(0.5)}
		a := newBento(t, bento.NewStore(opts...).UseL1(memory.New(memory.Options{})).UseL2(l2))
		defer a.Close()
		bb := newBento(t, bento.NewStore(opts...).UseL1(memory.New(memory.Options{})).UseL2(l2))
		defer bb.Close()
		ctx := t.Context()
		var aRuns atomic.Int32
		aFactory := func(context.Context, *bento.FactoryContext[string]) (string, error) {
			aRuns.Add(1)
			return "fromA", nil
		}
		if _, err := bento.GetOrSet(ctx, a.Default(), "k", aFactory); err != nil {
			t.Fatal(err)
		}
		advance(60 * time.Millisecond)
		if err := bb.Default().Set(ctx, "k", "fromB"); err != nil { // B refreshed it
			t.Fatal(err)
		}
		advance(time.Millisecond)
		if v, _ := bento.GetOrSet(ctx, a.Default(), "k", aFactory); v != "fromA" {
			t.Errorf("A's GetOrSet past the threshold = %q; want its own copy, \"fromA\", at once", v)
		}
		synctest.Wait()
		if n := aRuns.Load(); n != 1 {
			t.Errorf("A's factory runs = %d; want 1: the refresh found B's newer entry in L2", n)
		}
		if v, _, _ := bento.Get[string](ctx, a.Default(), "k"); v != "fromB" {
			t.Errorf("A's Get after its refresh = %q; want \"fromB\"", v)
		}
	})
}

// TestEagerRefresh_Threshold: a threshold outside (0, 1) is an error naming
// the option.
func TestEagerRefresh_Threshold(t *testing.T) {
	c := newBento(t, layers[0].store()).Default()
	for _, th := range []float64{0, 1, 1.5, -0.2} {
		_, err := bento.GetOrSet(t.Context(), c, "k", constant("v", new(atomic.Int32)), bento.EagerRefresh(th))
		if err == nil || !strings.Contains(err.Error(), "EagerRefresh") {
			t.Errorf("GetOrSet with EagerRefresh(%v) = %v; want an error naming EagerRefresh", th, err)
		}
	}
}

// TestJitter: entries written together with Jitter(d) turn stale and expire
// at spread times within [TTL, TTL+d], in L1 and L2 alike.
func TestJitter(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := newBento(t, bento.NewStore(bento.TTL(time.Second), bento.Jitter(time.Second)).
			UseL1(memory.New(memory.Options{})).UseL2(mapstore.NewL2(mapstore.L2Options{})))
		defer b.Close()
		c := b.Default()
		ctx := t.Context()
		const n = 200
		staleAt := map[time.Time]bool{}
		for i := range n {
			k := "k" + strconv.Itoa(i)
			if err := c.Set(ctx, k, "v"); err != nil {
				t.Fatal(err)
			}
			e, found, err := bento.GetEntry[string](ctx, c, k)
			if !found || err != nil {
				t.Fatalf("GetEntry(%s) = %v, %v", k, found, err)
			}
			if ttl := e.StaleAt.Sub(e.CreatedAt); ttl < time.Second || ttl > 2*time.Second {
				t.Errorf("%s turns stale %v after it was written; want within [1s, 2s]", k, ttl)
			}
			staleAt[e.StaleAt] = true
		}
		if len(staleAt) < n/10 {
			t.Errorf("%d entries written together turn stale at %d distinct times; want them spread", n, len(staleAt))
		}
		advance(1500 * time.Millisecond)
		gone := 0
		for i := range n {
			if _, found, _ := bento.Get[string](ctx, c, "k"+strconv.Itoa(i)); !found {
				gone++
			}
		}
		if gone == 0 || gone == n {
			t.Errorf("entries gone half-way through the jitter = %d of %d; want some, not all", gone, n)
		}
	})
}

// TestGetEntry: the metadata of a read — creation and staleness times, the
// layer, the tags, and whether a stale value was served.
func TestGetEntry(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := newBento(t, bento.NewStore(bento.TTL(time.Minute), bento.Grace(time.Hour)).
			UseL1(memory.New(memory.Options{})).UseL2(mapstore.NewL2(mapstore.L2Options{})))
		defer b.Close()
		c := b.Default()
		ctx := t.Context()
		written := time.Now()
		if err := c.Set(ctx, "k", "v", bento.Tags("a", "b")); err != nil {
			t.Fatal(err)
		}
		advance(10 * time.Second)
		e, found, err := bento.GetEntry[string](ctx, c, "k")
		if !found || err != nil || e.Value != "v" || e.Layer != bento.LayerL1 || e.Stale || strings.Join(e.Tags, ",") != "a,b" {
			t.Fatalf("GetEntry = %+v, %v, %v; want \"v\" from L1, fresh, tags a,b", e, found, err)
		}
		if d := e.CreatedAt.Sub(written); d < -time.Millisecond || d > time.Millisecond {
			t.Errorf("CreatedAt = %v; want the write's time %v", e.CreatedAt, written)
		}
		if got := e.StaleAt.Sub(e.CreatedAt); got != time.Minute {
			t.Errorf("StaleAt - CreatedAt = %v; want the TTL, 1m", got)
		}
		if err := c.Expire(ctx, "k"); err != nil {
			t.Fatal(err)
		}
		if e, found, _ := bento.GetEntry[string](ctx, c, "k"); !found || !e.Stale {
			t.Errorf("GetEntry after Expire = %+v, %v; want the value, stale", e, found)
		}
		if _, found, err := bento.GetEntry[string](ctx, c, "missing"); found || err != nil {
			t.Errorf("GetEntry(missing) = %v, %v; want a miss", found, err)
		}
	})
}
