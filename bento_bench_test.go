package bento_test

import (
	"context"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/maypok86/otter/v2"

	"github.com/bentocache/bento"
	"github.com/bentocache/bento/internal/clock"
	"github.com/bentocache/bento/internal/mapstore"
	"github.com/bentocache/bento/modules/drivers/memory"
)

const benchKeys = 1 << 12

func benchKeyset() []string {
	ks := make([]string, benchKeys)
	for i := range ks {
		ks[i] = "user:" + strconv.Itoa(i)
	}
	return ks
}

type point struct{ X, Y int64 }

func pointFactory(context.Context, *bento.FactoryContext[point]) (point, error) {
	return point{1, 2}, nil
}

func filledCache(b *testing.B, st *bento.Store, ks []string) *bento.Cache {
	m, err := bento.New(bento.Config{Stores: map[string]*bento.Store{"main": st}})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { m.Close() })
	c := m.Namespace("users")
	for _, k := range ks {
		if _, err := bento.GetOrSet(b.Context(), c, k, pointFactory); err != nil {
			b.Fatal(err)
		}
	}
	return c
}

// BenchmarkGetOrSet measures the L1-hit path against otter's GetIfPresent on
// the same key set: the limit of any cache built on otter.
func BenchmarkGetOrSet(b *testing.B) {
	ks := benchKeyset()
	b.Run("layer=l1/hit=true", func(b *testing.B) {
		c := filledCache(b, bento.NewStore().UseL1(memory.New(memory.Options{})), ks)
		ctx := b.Context()
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			if _, err := bento.GetOrSet(ctx, c, ks[i&(benchKeys-1)], pointFactory); err != nil {
				b.Fatal(err)
			}
			i++
		}
	})
	b.Run("layer=l1/hit=true/eager=true/jitter=true", func(b *testing.B) {
		// The same hit with EagerRefresh and Jitter set: the threshold is
		// checked on every hit, and is not reached here.
		c := filledCache(b, bento.NewStore(bento.EagerRefresh(0.9), bento.Jitter(time.Minute)).UseL1(memory.New(memory.Options{})), ks)
		ctx := b.Context()
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			if _, err := bento.GetOrSet(ctx, c, ks[i&(benchKeys-1)], pointFactory); err != nil {
				b.Fatal(err)
			}
			i++
		}
	})
	b.Run("layer=l1/hit=true/parallel=true", func(b *testing.B) {
		c := filledCache(b, bento.NewStore().UseL1(memory.New(memory.Options{})), ks)
		ctx := b.Context()
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			i := 0
			for pb.Next() {
				_, _ = bento.GetOrSet(ctx, c, ks[i&(benchKeys-1)], pointFactory)
				i++
			}
		})
	})
	b.Run("layer=l2/hit=true", func(b *testing.B) {
		c := filledCache(b, bento.NewStore().UseL2(mapstore.NewL2(mapstore.L2Options{})), ks)
		ctx := b.Context()
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			if _, err := bento.GetOrSet(ctx, c, ks[i&(benchKeys-1)], pointFactory); err != nil {
				b.Fatal(err)
			}
			i++
		}
	})
	b.Run("peer=otter/op=GetIfPresent", func(b *testing.B) {
		o := otter.Must(&otter.Options[string, point]{MaximumSize: 1 << 20})
		for _, k := range ks {
			o.Set(k, point{1, 2})
		}
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			if _, ok := o.GetIfPresent(ks[i&(benchKeys-1)]); !ok {
				b.Fatal("miss")
			}
			i++
		}
	})
	b.Run("peer=otter/op=GetIfPresent/expiry=true", func(b *testing.B) {
		// otter as bento's memory L1 runs it: per-entry expiry, a coarse clock.
		o := otter.Must(&otter.Options[string, point]{
			ExpiryCalculator: otter.ExpiryWriting[string, point](time.Hour),
			Clock:            clock.New(time.Millisecond, time.Second),
		})
		for _, k := range ks {
			o.Set(k, point{1, 2})
		}
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			if _, ok := o.GetIfPresent(ks[i&(benchKeys-1)]); !ok {
				b.Fatal("miss")
			}
			i++
		}
	})
	b.Run("peer=otter/op=GetIfPresent/parallel=true", func(b *testing.B) {
		o := otter.Must(&otter.Options[string, point]{MaximumSize: 1 << 20})
		for _, k := range ks {
			o.Set(k, point{1, 2})
		}
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			i := 0
			for pb.Next() {
				o.GetIfPresent(ks[i&(benchKeys-1)])
				i++
			}
		})
	})
}

func BenchmarkSet(b *testing.B) {
	ks := benchKeyset()
	for _, l := range layers {
		b.Run("layer="+strings.ToLower(l.name), func(b *testing.B) {
			c := filledCache(b, l.store(), nil)
			ctx := b.Context()
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				if err := c.Set(ctx, ks[i&(benchKeys-1)], point{1, 2}); err != nil {
					b.Fatal(err)
				}
				i++
			}
		})
	}
}
