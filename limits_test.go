package bento_test

import (
	"context"
	"errors"
	"fmt"
	"math"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/bentocache/bento"
	"github.com/bentocache/bento/internal/faultl2"
	"github.com/bentocache/bento/internal/mapstore"
	"github.com/bentocache/bento/modules/drivers/memory"
)

// tagList returns n distinct tags.
func tagList(n int) []string {
	tags := make([]string, n)
	for i := range tags {
		tags[i] = fmt.Sprintf("t%d", i)
	}
	return tags
}

// TestTags_EntryCarriesAtMostMaxEntryTags: a write with more tags than
// MaxEntryTags is an error naming the limit, from Set and from a factory; at
// the limit it is fine.
func TestTags_EntryCarriesAtMostMaxEntryTags(t *testing.T) {
	c := newBento(t, layers[2].store()).Default()
	ctx := t.Context()
	if err := c.Set(ctx, "ok", "v", bento.Tags(tagList(bento.MaxEntryTags)...)); err != nil {
		t.Fatalf("Set with %d tags = %v; want <nil>", bento.MaxEntryTags, err)
	}
	err := c.Set(ctx, "k", "v", bento.Tags(tagList(bento.MaxEntryTags+1)...))
	if !errors.Is(err, bento.ErrInvalidTag) || !strings.Contains(err.Error(), fmt.Sprint(bento.MaxEntryTags)) {
		t.Errorf("Set with %d tags = %v; want an ErrInvalidTag naming the limit %d", bento.MaxEntryTags+1, err, bento.MaxEntryTags)
	}
	_, err = bento.GetOrSet(ctx, c, "f", func(_ context.Context, fc *bento.FactoryContext[string]) (string, error) {
		fc.SetTags(tagList(bento.MaxEntryTags + 1)...)
		return "v", nil
	})
	if !errors.Is(err, bento.ErrInvalidTag) {
		t.Errorf("GetOrSet whose factory sets %d tags = %v; want an ErrInvalidTag", bento.MaxEntryTags+1, err)
	}
}

// TestTags_AmplificationFromL2: an L2 entry listing 50,000 tags is corrupt —
// a miss and an error event after two L2 calls (the read and the removal),
// not one call per tag — and an entry at the limit has its tag records read
// in one batch.
func TestTags_AmplificationFromL2(t *testing.T) {
	ctx := t.Context()
	m := mapstore.NewL2(mapstore.L2Options{})
	fl := faultl2.Wrap(m)
	b := newBento(t, bento.NewStore().UseL1(memory.New(memory.Options{})).UseL2(fl))
	rec := record(b)
	c := b.Default()
	raw := fmt.Sprintf(`{"value":"v","logicalExpiration":%d,"createdAt":1,"tags":["%s"]}`,
		time.Now().Add(time.Hour).UnixMilli(), strings.Join(tagList(50_000), `","`))
	if err := m.Namespace(bento.DefaultPrefix).Set(ctx, "bomb", []byte(raw), 0); err != nil {
		t.Fatal(err)
	}
	before := fl.Calls()
	if _, found, err := bento.Get[string](ctx, c, "bomb"); found || err != nil {
		t.Errorf("Get of an entry with 50,000 tags = found %t, %v; want a miss", found, err)
	}
	if n := fl.Calls() - before; n > 2 {
		t.Errorf("Get of an entry with 50,000 tags made %d L2 calls; want at most 2", n)
	}
	if n := rec.count(bento.EventError, nil); n != 1 {
		t.Errorf("error events for the corrupt entry = %d; want 1", n)
	}

	if err := c.Set(ctx, "many", "v", bento.Tags(tagList(bento.MaxEntryTags)...)); err != nil {
		t.Fatal(err)
	}
	reader := newBento(t, bento.NewStore().UseL2(fl)).Default() // reads L2, knows no tag
	before = fl.Calls()
	if v, found, err := bento.Get[string](ctx, reader, "many"); v != "v" || !found || err != nil {
		t.Fatalf("Get of an entry with %d tags = %q, %t, %v; want \"v\"", bento.MaxEntryTags, v, found, err)
	}
	if n := fl.Calls() - before; n != 2 {
		t.Errorf("Get of an entry with %d unknown tags made %d L2 calls; want 2 (the entry, then its tag records in one batch)", bento.MaxEntryTags, n)
	}
}

// TestLifetimes_Saturate: lifetimes whose sum or conversion overflows — a TTL
// plus a grace past the largest Duration, the largest Duration itself, a
// hundred thousand days — are stored as (close to) forever in every shape of
// store, never as an entry gone at once or a failed write.
func TestLifetimes_Saturate(t *testing.T) {
	cases := []struct {
		name string
		opts []bento.Option
	}{
		{"1h+2562047h", []bento.Option{bento.TTL(time.Hour), bento.Grace(2_562_047 * time.Hour)}},
		{"2000000h+2000000h", []bento.Option{bento.TTL(2_000_000 * time.Hour), bento.Grace(2_000_000 * time.Hour)}},
		{"MaxInt64", []bento.Option{bento.TTL(math.MaxInt64)}},
		{"100000d", []bento.Option{bento.TTL(100_000 * 24 * time.Hour)}},
	}
	for _, shape := range layers {
		for _, tc := range cases {
			t.Run(shape.name+"/"+tc.name, func(t *testing.T) {
				synctest.Test(t, func(t *testing.T) {
					b := newBento(t, shape.store())
					defer b.Close()
					c := b.Default()
					ctx := t.Context()
					if err := c.Set(ctx, "k", "v", tc.opts...); err != nil {
						t.Fatalf("Set = %v; want <nil>", err)
					}
					advance(time.Second) // an overflowed lifetime would have ended
					if v, found, err := bento.Get[string](ctx, c, "k", tc.opts...); v != "v" || !found || err != nil {
						t.Errorf("Get a second after Set = %q, %t, %v; want \"v\"", v, found, err)
					}
					if has, err := c.Has(ctx, "k"); !has || err != nil {
						t.Errorf("Has a second after Set = %t, %v; want a fresh entry", has, err)
					}
				})
			})
		}
	}
}

// settle collects garbage until f reports true or a deadline passes:
// cleanups run on their own goroutine after a collection.
func settle(f func() bool) bool {
	deadline := time.Now().Add(10 * time.Second)
	for !f() {
		if time.Now().After(deadline) {
			return false
		}
		runtime.GC()
		time.Sleep(time.Millisecond)
	}
	return true
}

// TestNamespaces_Reclaimed pins that a namespace nobody holds is forgotten:
// 50,000 misses in 50,000 namespaces leave neither their entries nor their
// memory behind, in a store with an L2 and one without.
func TestNamespaces_Reclaimed(t *testing.T) {
	for _, shape := range []string{"L1", "L1L2"} {
		t.Run(shape, func(t *testing.T) {
			st := bento.NewStore().UseL1(memory.New(memory.Options{MaxItems: 1000}))
			if shape == "L1L2" {
				st.UseL2(mapstore.NewL2(mapstore.L2Options{}))
			}
			b := newBento(t, st)
			var before runtime.MemStats
			runtime.GC()
			runtime.ReadMemStats(&before)
			ctx := t.Context()
			for i := range 50_000 {
				if _, found, err := bento.Get[string](ctx, b.Namespace("ns"+strconv.Itoa(i)), "k"); found || err != nil {
					t.Fatalf("Get in a new namespace = found %t, %v; want a miss", found, err)
				}
			}
			if !settle(func() bool { return bento.NamespaceCount(b) < 100 }) {
				t.Errorf("namespaces held after 50,000 misses in as many namespaces no caller holds: %d; want fewer than 100", bento.NamespaceCount(b))
			}
			var after runtime.MemStats
			runtime.GC()
			runtime.ReadMemStats(&after)
			if grew := int64(after.HeapAlloc) - int64(before.HeapAlloc); grew > 8<<20 {
				t.Errorf("the heap grew by %d MiB over 50,000 namespaces no longer held; want under 8 MiB", grew>>20)
			}
		})
	}
}

// TestNamespaces_TagInvalidationsOutliveTheCache: in a store without L2 a
// namespace's tag invalidations exist only in memory, so the namespace stays
// after its last caller let go: an entry invalidated by tag does not come
// back.
func TestNamespaces_TagInvalidationsOutliveTheCache(t *testing.T) {
	b := newBento(t, bento.NewStore(bento.TTL(time.Hour)).UseL1(memory.New(memory.Options{})))
	ctx := t.Context()
	func() {
		users := b.Namespace("users")
		if err := users.Set(ctx, "k", "v", bento.Tags("x")); err != nil {
			t.Fatal(err)
		}
		if err := users.DeleteByTag(ctx, "x"); err != nil {
			t.Fatal(err)
		}
	}()
	for range 5 {
		runtime.GC()
	}
	if _, found, err := bento.Get[string](ctx, b.Namespace("users"), "k"); found || err != nil {
		t.Errorf("Get(users, k) after DeleteByTag(x) and a collection = found %t, %v; want a miss", found, err)
	}
}

// TestTags_StatesBounded: reading entries that carry 30,000 distinct tags
// never invalidated leaves at most about MaxTagStates tag states, while the
// state of an invalidated tag stays.
func TestTags_StatesBounded(t *testing.T) {
	b := newBento(t, bento.NewStore(bento.TTL(time.Hour)).UseL1(memory.New(memory.Options{})))
	c := b.Default()
	ctx := t.Context()
	if err := c.Set(ctx, "kept", "v", bento.Tags("gone")); err != nil {
		t.Fatal(err)
	}
	if err := c.DeleteByTag(ctx, "gone"); err != nil {
		t.Fatal(err)
	}
	for i := range 3 * bento.MaxTagStates {
		k := "k" + strconv.Itoa(i)
		if err := c.Set(ctx, k, "v", bento.Tags("t"+strconv.Itoa(i))); err != nil {
			t.Fatal(err)
		}
		_, _, _ = bento.Get[string](ctx, c, k)
	}
	if n := bento.TagStateCount(c); n > bento.MaxTagStates+1 {
		t.Errorf("tag states after reading entries with %d distinct tags = %d; want at most %d", 3*bento.MaxTagStates, n, bento.MaxTagStates+1)
	}
	if _, found, err := bento.Get[string](ctx, c, "kept"); found || err != nil {
		t.Errorf("Get(kept), tagged with the invalidated tag, after the sweeps = found %t, %v; want a miss", found, err)
	}
}
