package bento_test

import (
	"context"
	"errors"
	"maps"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/bentocache/bento"
	"github.com/bentocache/bento/internal/faultl2"
	"github.com/bentocache/bento/internal/mapstore"
	busmem "github.com/bentocache/bento/modules/buses/memory"
	"github.com/bentocache/bento/modules/drivers/memory"
)

func keyList(prefix string, n int) []string {
	ks := make([]string, n)
	for i := range ks {
		ks[i] = prefix + strconv.Itoa(i)
	}
	return ks
}

// batchStore is a store on a fresh memory L1 and fl.
func batchStore(fl *faultl2.Driver, opts ...bento.Option) *bento.Store {
	return bento.NewStore(opts...).UseL1(memory.New(memory.Options{})).UseL2(fl)
}

// TestGetMany: the keys L1 misses are read from L2 in one call; the result
// has only the keys found.
func TestGetMany(t *testing.T) {
	ctx := t.Context()
	fl := faultl2.Wrap(mapstore.NewL2(mapstore.L2Options{}))
	writer := newBento(t, batchStore(fl)).Default()
	for _, k := range keyList("k", 10) {
		if err := writer.Set(ctx, k, "v"+k); err != nil {
			t.Fatal(err)
		}
	}
	reader := newBento(t, batchStore(fl)).Default()
	if _, _, err := bento.Get[string](ctx, reader, "k0"); err != nil { // k0 in L1
		t.Fatal(err)
	}
	before := fl.Calls()
	got, err := bento.GetMany[string](ctx, reader, append(keyList("k", 10), "missing", "k3"))
	if err != nil {
		t.Fatal(err)
	}
	if n := fl.Calls() - before; n != 1 {
		t.Errorf("GetMany of 9 keys L1 misses and 1 it holds made %d L2 calls; want 1", n)
	}
	want := map[string]string{}
	for _, k := range keyList("k", 10) {
		want[k] = "v" + k
	}
	if !maps.Equal(got, want) {
		t.Errorf("GetMany = %v; want %v (only the keys found)", got, want)
	}
	before = fl.Calls()
	if _, err := bento.GetMany[string](ctx, reader, keyList("k", 10)); err != nil || fl.Calls() != before {
		t.Errorf("a second GetMany made %d L2 calls, %v; want 0: the first copied them to L1", fl.Calls()-before, err)
	}
}

// TestSetMany: one L2 call and one bus message for all the entries; every
// instance then reads them.
func TestSetMany(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ps := newPeers(t, 0)
		defer ps.close()
		fl := faultl2.Wrap(ps.l2)
		a := ps.addWith(t, fl, busmem.New(busmem.Options{Hub: ps.hub}))
		b := ps.add(t)
		entries := map[string]any{}
		for _, k := range keyList("k", 20) {
			entries[k] = "old"
			b.mustSet(t, "", k, "old") // B holds them in L1
			b.read(t, "", k)
		}
		for k := range entries {
			entries[k] = "new"
		}
		ps.resetEvents()
		before := fl.Calls()
		if err := a.cache("").SetMany(t.Context(), entries, bento.TTL(time.Hour)); err != nil {
			t.Fatal(err)
		}
		if n := fl.Calls() - before; n != 1 {
			t.Errorf("SetMany of 20 entries made %d L2 calls; want 1", n)
		}
		synctest.Wait()
		if n := a.ev.count(bento.EventBusPublished, nil); n != 1 {
			t.Errorf("SetMany of 20 entries published %d bus messages; want 1", n)
		}
		for _, k := range keyList("k", 20) {
			if got := b.read(t, "", k); got.value != "new" {
				t.Errorf("Get(%s) on B after A's SetMany = %v; want \"new\"", k, got)
			}
		}
	})
}

// TestGetOrSetMany: L1, then one L2 batch, then one factory call for the keys
// still missing; a key the factory leaves out is not cached.
func TestGetOrSetMany(t *testing.T) {
	ctx := t.Context()
	fl := faultl2.Wrap(mapstore.NewL2(mapstore.L2Options{}))
	c := newBento(t, batchStore(fl)).Default()
	for _, k := range keyList("k", 5) {
		if err := c.Set(ctx, k, "set"); err != nil {
			t.Fatal(err)
		}
	}
	var calls [][]string
	factory := func(_ context.Context, missing []string) (map[string]string, error) {
		calls = append(calls, slices.Clone(missing))
		out := map[string]string{}
		for _, k := range missing {
			if k != "k9" {
				out[k] = "made"
			}
		}
		return out, nil
	}
	before := fl.Calls()
	got, err := bento.GetOrSetMany(ctx, c, keyList("k", 10), factory)
	if err != nil {
		t.Fatal(err)
	}
	if len(calls) != 1 || !slices.Equal(calls[0], []string{"k5", "k6", "k7", "k8", "k9"}) {
		t.Errorf("factory calls = %q; want one, with the five missing keys", calls)
	}
	if n := fl.Calls() - before; n != 2 {
		t.Errorf("GetOrSetMany of 10 keys, 5 in L1, made %d L2 calls; want 2 (one batch read, one batch write)", n)
	}
	want := map[string]string{"k0": "set", "k1": "set", "k2": "set", "k3": "set", "k4": "set", "k5": "made", "k6": "made", "k7": "made", "k8": "made"}
	if !maps.Equal(got, want) {
		t.Errorf("GetOrSetMany = %v; want %v (k9, left out by the factory, missing)", got, want)
	}
	calls = nil
	if _, err := bento.GetOrSetMany(ctx, c, keyList("k", 10), factory); err != nil {
		t.Fatal(err)
	}
	if len(calls) != 1 || !slices.Equal(calls[0], []string{"k9"}) {
		t.Errorf("factory calls of a second GetOrSetMany = %q; want one, for k9 alone (not cached)", calls)
	}
}

// TestGetOrSetMany_SharesWorkWithGetOrSet: a key whose factory a GetOrSet
// runs already is not computed again by an overlapping GetOrSetMany, which
// gets that factory's value.
func TestGetOrSetMany_SharesWorkWithGetOrSet(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := newBento(t, layers[0].store())
		defer b.Close()
		c := b.Default()
		ctx := t.Context()
		release := make(chan struct{})
		var single atomic.Int32
		var wg sync.WaitGroup
		wg.Go(func() {
			v, err := bento.GetOrSet(ctx, c, "shared", func(context.Context, *bento.FactoryContext[string]) (string, error) {
				single.Add(1)
				<-release
				return "from GetOrSet", nil
			})
			if v != "from GetOrSet" || err != nil {
				t.Errorf("GetOrSet = %q, %v", v, err)
			}
		})
		synctest.Wait() // its factory runs
		var asked [][]string
		var got map[string]string
		var err error
		wg.Go(func() {
			got, err = bento.GetOrSetMany(ctx, c, []string{"shared", "own"}, func(_ context.Context, missing []string) (map[string]string, error) {
				asked = append(asked, slices.Clone(missing))
				return map[string]string{"own": "from GetOrSetMany", "shared": "computed twice"}, nil
			})
		})
		synctest.Wait()
		close(release)
		wg.Wait()
		if err != nil {
			t.Fatal(err)
		}
		if len(asked) != 1 || !slices.Equal(asked[0], []string{"own"}) {
			t.Errorf("GetOrSetMany's factory calls = %q; want one, for \"own\" alone", asked)
		}
		if got["shared"] != "from GetOrSet" || got["own"] != "from GetOrSetMany" {
			t.Errorf("GetOrSetMany = %v; want shared from GetOrSet's factory", got)
		}
		if single.Load() != 1 {
			t.Errorf("GetOrSet's factory ran %d times; want 1", single.Load())
		}
	})
}

// TestGetOrSetMany_Grace: with every missing key stale, the stale values come
// back at once and the factory refreshes them in the background; a factory
// error falls back to them.
func TestGetOrSetMany_Grace(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := newBento(t, layers[0].store(), bento.TTL(time.Second), bento.Grace(time.Hour), bento.GraceBackoff(0))
		defer b.Close()
		c := b.Default()
		ctx := t.Context()
		if err := c.SetMany(ctx, map[string]any{"a": "old", "b": "old"}); err != nil {
			t.Fatal(err)
		}
		advance(2 * time.Second)
		release := make(chan struct{})
		refresh := func(_ context.Context, missing []string) (map[string]string, error) {
			<-release
			return map[string]string{"a": "new", "b": "new"}, nil
		}
		got, err := bento.GetOrSetMany(ctx, c, []string{"a", "b"}, refresh)
		if err != nil || got["a"] != "old" || got["b"] != "old" {
			t.Fatalf("GetOrSetMany of stale keys = %v, %v; want the stale values at once", got, err)
		}
		close(release)
		synctest.Wait()
		if got, _ := bento.GetMany[string](ctx, c, []string{"a", "b"}); got["a"] != "new" || got["b"] != "new" {
			t.Errorf("GetMany after the background refresh = %v; want the new values", got)
		}
		advance(2 * time.Second)
		boom := errors.New("database down")
		got, err = bento.GetOrSetMany(ctx, c, []string{"a", "b"}, func(context.Context, []string) (map[string]string, error) {
			return nil, boom
		}, bento.Timeout(time.Minute))
		if err != nil || got["a"] != "new" {
			t.Errorf("GetOrSetMany whose factory fails, with stale values = %v, %v; want the stale values, no error", got, err)
		}
		got, err = bento.GetOrSetMany(ctx, c, []string{"none"}, func(context.Context, []string) (map[string]string, error) {
			return nil, boom
		})
		var fe *bento.FactoryError
		if !errors.As(err, &fe) || !errors.Is(err, boom) || len(got) != 0 {
			t.Errorf("GetOrSetMany whose factory fails, without stale values = %v, %v; want a *FactoryError", got, err)
		}
	})
}
