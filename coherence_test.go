package bento_test

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/bentocache/bento"
	"github.com/bentocache/bento/internal/faultl2"
	"github.com/bentocache/bento/internal/mapstore"
	"github.com/bentocache/bento/internal/wire"
	busmem "github.com/bentocache/bento/modules/buses/memory"
)

// invalidation is one way to invalidate the key "k" (tagged "t") of a
// namespace, with what a Get of it reads afterwards.
type invalidation struct {
	name  string
	do    func(ctx context.Context, c *bento.Cache) error
	value string
	found bool
	// byTag: a read judges its entry's tags when it ends, so the callers of a
	// read caught in flight see a tag invalidation too, as a miss.
	byTag bool
}

var invalidations = []invalidation{
	{"Set", func(ctx context.Context, c *bento.Cache) error { return c.Set(ctx, "k", "new") }, "new", true, false},
	{"Delete", func(ctx context.Context, c *bento.Cache) error { _, err := c.Delete(ctx, "k"); return err }, "", false, false},
	{"Expire", func(ctx context.Context, c *bento.Cache) error { return c.Expire(ctx, "k") }, "", false, false},
	{"Clear", func(ctx context.Context, c *bento.Cache) error { return c.Clear(ctx) }, "", false, false},
	{"DeleteByTag", func(ctx context.Context, c *bento.Cache) error { return c.DeleteByTag(ctx, "t") }, "", false, true},
	{"ExpireByTag", func(ctx context.Context, c *bento.Cache) error { return c.ExpireByTag(ctx, "t") }, "", false, true},
}

// inFlightReaders are the reads that can be caught in their L2 round trip;
// each starts its callers, which the test then holds.
var inFlightReaders = []struct {
	name    string
	callers int
	onMiss  string // what a caller gets for a miss
	read    func(ctx context.Context, c *bento.Cache) string
}{
	{"Get", 1, "", func(ctx context.Context, c *bento.Cache) string {
		v, _, _ := bento.Get[string](ctx, c, "k")
		return v
	}},
	{"GetOrSet", 1, "factory", func(ctx context.Context, c *bento.Cache) string {
		v, _ := bento.GetOrSet(ctx, c, "k", func(context.Context, *bento.FactoryContext[string]) (string, error) {
			return "factory", nil
		})
		return v
	}},
	{"SharedGet", 3, "", func(ctx context.Context, c *bento.Cache) string {
		v, _, _ := bento.Get[string](ctx, c, "k")
		return v
	}},
}

// TestReadInFlightNeverResurrects pins that an L2 read caught in flight by
// an invalidation of its key — made on the same instance or reaching it over
// the bus — hands what it read to its callers but never stores it in L1:
// the next Get reads the invalidated state, not the old value.
func TestReadInFlightNeverResurrects(t *testing.T) {
	for _, rd := range inFlightReaders {
		for _, inv := range invalidations {
			for _, origin := range []string{"local", "bus"} {
				t.Run(rd.name+"/"+inv.name+"/"+origin, func(t *testing.T) {
					synctest.Test(t, func(t *testing.T) {
						ps := &peers{hub: busmem.NewHub(), l2: mapstore.NewL2(mapstore.L2Options{})}
						fa := faultl2.Wrap(ps.l2)
						a := ps.addWith(t, fa, busmem.New(busmem.Options{Hub: ps.hub}))
						b := ps.add(t)
						defer ps.close()
						ctx := t.Context()
						b.mustSet(t, "", "k", "old", bento.Tags("t"))
						synctest.Wait()

						_, release := fa.HoldNextRead()
						defer release()
						got := make([]string, rd.callers)
						var wg sync.WaitGroup
						for i := range rd.callers {
							wg.Go(func() { got[i] = rd.read(ctx, a.b.Default()) })
							synctest.Wait() // the first read is held; the others joined it
						}
						by := a
						if origin == "bus" {
							by = b
						}
						if err := inv.do(ctx, by.b.Default()); err != nil {
							t.Fatalf("%s on %s: %v", inv.name, by.name, err)
						}
						synctest.Wait() // the bus message, if any, has reached A
						release()
						wg.Wait()
						wantGot, wantValue, wantFound := "old", inv.value, inv.found
						if inv.byTag {
							wantGot, wantValue, wantFound = rd.onMiss, rd.onMiss, rd.onMiss != ""
						}
						for i, v := range got {
							if v != wantGot {
								t.Errorf("caller %d of the held read got %q; want %q", i, v, wantGot)
							}
						}
						if r := a.read(t, "", "k"); r.value != wantValue || r.found != wantFound {
							t.Errorf("A's Get after %s on %s and the held read = %v; want %q, found %t",
								inv.name, by.name, r, wantValue, wantFound)
						}
					})
				})
			}
		}
	}
}

// TestPull_OneCallerGetsTheValue pins that Pull is atomic: of many
// concurrent Pulls of one key — in each store shape, and on two instances
// sharing an L2 that both hold the key in L1 — exactly one gets the value,
// and the key is gone afterwards.
func TestPull_OneCallerGetsTheValue(t *testing.T) {
	const pullers = 64
	pullAll := func(t *testing.T, caches ...*bento.Cache) {
		t.Helper()
		start := make(chan struct{})
		var got atomic.Int32
		var wg sync.WaitGroup
		for i := range pullers {
			c := caches[i%len(caches)]
			wg.Go(func() {
				<-start
				v, found, err := bento.Pull[string](t.Context(), c, "k")
				if err != nil {
					t.Errorf("Pull: %v", err)
				}
				if found {
					got.Add(1)
					if v != "v" {
						t.Errorf("Pull = %q; want \"v\"", v)
					}
				}
			})
		}
		close(start)
		wg.Wait()
		if n := got.Load(); n != 1 {
			t.Errorf("%d concurrent Pulls found the value %d times; want once", pullers, n)
		}
		for _, c := range caches {
			if _, found, err := bento.Get[string](t.Context(), c, "k"); found || err != nil {
				t.Errorf("Get after the Pulls: found %t, %v; want a miss", found, err)
			}
		}
	}
	for _, shape := range layers {
		t.Run(shape.name, func(t *testing.T) {
			c := newBento(t, shape.store()).Default()
			for range 20 {
				if err := c.Set(t.Context(), "k", "v"); err != nil {
					t.Fatal(err)
				}
				pullAll(t, c)
			}
		})
	}
	t.Run("TwoInstances", func(t *testing.T) {
		ps := newPeers(t, 2)
		defer ps.close()
		a, b := ps.list[0].b.Default(), ps.list[1].b.Default()
		for range 20 {
			if err := a.Set(t.Context(), "k", "v"); err != nil {
				t.Fatal(err)
			}
			for _, c := range []*bento.Cache{a, b} { // both hold it in L1
				if _, found, err := bento.Get[string](t.Context(), c, "k"); !found || err != nil {
					t.Fatalf("Get before the Pulls: found %t, %v", found, err)
				}
			}
			pullAll(t, a, b)
		}
	})
}

// TestPull_Events: a Pull that finds the value reports a hit, then the
// deletion; one that finds nothing, a miss.
func TestPull_Events(t *testing.T) {
	b := newBento(t, layers[2].store())
	rec := record(b)
	c := b.Default()
	if err := c.Set(t.Context(), "k", "v"); err != nil {
		t.Fatal(err)
	}
	rec.reset()
	if _, found, _ := bento.Pull[string](t.Context(), c, "k"); !found {
		t.Fatal("Pull of a stored key found nothing")
	}
	if _, found, _ := bento.Pull[string](t.Context(), c, "k"); found {
		t.Fatal("a second Pull found the value again")
	}
	var kinds []bento.EventKind
	for _, e := range rec.events {
		kinds = append(kinds, e.Kind)
	}
	want := []bento.EventKind{bento.EventHit, bento.EventDeleted, bento.EventMiss, bento.EventDeleted}
	if !slices.Equal(kinds, want) {
		t.Errorf("events = %v; want %v", kinds, want)
	}
}

// TestClockSkew_WrongClockCannotDisableTags pins that times from another
// instance are bounded by MaxClockSkew: a bus message and an L2 tag record
// dated a century ahead count as dated now + the skew, so once the skew has
// passed, entries written here are created at the local time again and
// DeleteByTag removes them.
func TestClockSkew_WrongClockCannotDisableTags(t *testing.T) {
	const century = 100 * 365 * 24 * time.Hour
	const skew = time.Second
	t.Run("BusMessage", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			ps := newPeers(t, 2, bento.MaxClockSkew(skew))
			defer ps.close()
			a, b := ps.list[0], ps.list[1]
			ctx := t.Context()
			future := wire.Message{Sender: "wrong-clock", Kind: wire.KindDelete, Namespace: "users",
				Keys: []string{"__bento:tag:x"}, Time: time.Now().Add(century).UnixMilli()}
			payload, err := future.AppendBinary(nil)
			if err != nil {
				t.Fatal(err)
			}
			raw := busmem.New(busmem.Options{Hub: ps.hub})
			defer raw.Disconnect()
			if err := raw.Publish(ctx, peerChannel, payload); err != nil {
				t.Fatal(err)
			}
			synctest.Wait()
			advance(skew + time.Millisecond)

			b.mustSet(t, "users", "k", "v", bento.Tags("x"))
			advance(time.Millisecond)
			if err := a.cache("users").DeleteByTag(ctx, "x"); err != nil {
				t.Fatal(err)
			}
			for _, p := range []*peer{a, b} {
				if got := p.read(t, "users", "k"); got.found {
					t.Errorf("Get(users, k) on %s after DeleteByTag(x), a century-ahead message before = %v; want not found", p.name, got)
				}
			}
		})
	})
	t.Run("L2TagRecord", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			ps := newPeers(t, 0, bento.MaxClockSkew(skew))
			defer ps.close()
			ctx := t.Context()
			record := fmt.Sprintf(`{"value":{"deletedAt":%d,"expiredAt":0},"logicalExpiration":8640000000000000,"createdAt":1}`,
				time.Now().Add(century).UnixMilli())
			if err := ps.l2.Namespace("bento").Namespace("users").Set(ctx, "__bento:tag:x", []byte(record), 0); err != nil {
				t.Fatal(err)
			}
			a := ps.add(t)
			// The first entry tagged x reads the record: it counts as dated
			// now + the skew, so that entry is gone...
			a.mustSet(t, "users", "first", "v", bento.Tags("x"))
			if got := a.read(t, "users", "first"); got.found {
				t.Errorf("Get(users, first) tagged x, written within the skew of reading a century-ahead tag record = %v; want not found", got)
			}
			// ...and so is every one written within the skew, but no later one.
			advance(skew + time.Millisecond)
			a.mustSet(t, "users", "k", "v", bento.Tags("x"))
			if got := a.read(t, "users", "k"); !got.found {
				t.Errorf("Get(users, k) tagged x, written after the skew past a century-ahead tag record = %v; want found", got)
			}
		})
	})
}
