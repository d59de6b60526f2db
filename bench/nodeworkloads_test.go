package bench

import (
	"context"
	"testing"
	"time"

	"github.com/bentocache/bento"
	"github.com/bentocache/bento/internal/testenv"
	"github.com/bentocache/bento/modules/drivers/memory"
	"github.com/bentocache/bento/modules/drivers/redis"
)

// The keys and the getOrSet TTL of BentoCache's benchmarks/all.ts, which
// node/bench.mjs runs on BentoCache itself.
const (
	nodeGetOrSetKey = "bento:key"
	nodeGetKey      = "bento:foo"
	nodeSetKey      = "key"
	nodeGetOrSetTTL = 100 * time.Millisecond
	// nodeL1Items is the bound of BentoCache's memory driver by default
	// (lru-cache, max 1000 entries), which all.ts keeps.
	nodeL1Items = 1000
)

// nodeLayout is the layers of a store of all.ts.
type nodeLayout struct{ l1, l2 bool }

var (
	nodeTiered = nodeLayout{l1: true, l2: true}
	nodeL1Only = nodeLayout{l1: true}
	nodeL2Only = nodeLayout{l2: true}
)

// BenchmarkBentoCacheWorkloads runs bento on BentoCache's own benchmark
// workloads (benchmarks/all.ts in the BentoCache repository), as
// node/bench.mjs runs them on BentoCache: one call after another, each
// checked, on the same store layouts (memory L1 + Redis L2, memory only,
// Redis only) and the same keys, the value being the User. Keep the two in
// step.
//
// Two departures from all.ts, made on both sides: its getOrSet factory
// sleeps 400 ms to play a database, which would swamp the mean every time
// the 100 ms TTL runs out, so the factory here returns at once; and L2
// errors are not suppressed, so that a Redis failure fails the benchmark
// instead of hiding behind L1 (this changes only the error path).
func BenchmarkBentoCacheWorkloads(b *testing.B) {
	want := NewUser(1)
	factory := func(context.Context, *bento.FactoryContext[User]) (User, error) {
		return NewUser(1), nil
	}
	ttl := bento.TTL(nodeGetOrSetTTL)
	getOrSet := func(layout nodeLayout) func(*testing.B) {
		return func(b *testing.B) {
			c, _ := newNodeStore(b, layout)
			ctx := context.Background()
			op := func() {
				u, err := bento.GetOrSet(ctx, c, nodeGetOrSetKey, factory, ttl)
				if err != nil {
					b.Fatal(err)
				}
				if u != want {
					b.Fatalf("GetOrSet(%q) = %+v, want %+v", nodeGetOrSetKey, u, want)
				}
			}
			op() // the warm-up: the first call runs the factory
			b.ReportAllocs()
			for b.Loop() {
				op()
			}
		}
	}

	// "Tiered Get", memory L1 + Redis L2. all.ts reads bento:foo and sets it
	// when the read finds nothing, but it does not await the read: what it
	// tests is a Promise, always truthy, so the set never runs and bento:foo
	// is never stored. What each call really does is thus a miss in L1 and
	// in Redis (one Redis GET that finds nothing), and that is what this
	// measures, the whole of it, as node/bench.mjs awaits the read.
	b.Run("workload=tiered_get", func(b *testing.B) {
		c, _ := newNodeStore(b, nodeTiered)
		ctx := context.Background()
		op := func() {
			u, found, err := bento.Get[User](ctx, c, nodeGetKey)
			if err != nil {
				b.Fatal(err)
			}
			if found {
				b.Fatalf("Get(%q) = %+v, want a miss", nodeGetKey, u)
			}
		}
		op()
		b.ReportAllocs()
		for b.Loop() {
			op()
		}
	})
	// "Tiered GetOrSet", memory L1 + Redis L2: GetOrSet of one key. L1 hits;
	// each time the 100 ms TTL runs out, one call refreshes the key: a Redis
	// GET (it expired there too), the factory, writes to both layers.
	b.Run("workload=tiered_getorset", getOrSet(nodeTiered))
	// "L1 GetOrSet", memory only: GetOrSet of one key. L1 hits; every
	// 100 ms, one call runs the factory.
	b.Run("workload=l1_getorset", getOrSet(nodeL1Only))
	// "L2 GetOrSet", Redis only: GetOrSet of one key. A Redis GET and a JSON
	// decode per call; every 100 ms, one call misses, runs the factory and
	// SETs the value.
	b.Run("workload=l2_getorset", getOrSet(nodeL2Only))
	// "Tiered Set", memory L1 + Redis L2: Set of one key with the default TTL
	// (30 minutes, as BentoCache's). An L1 write and a Redis SET per call.
	// all.ts sets the number 10; here, the User.
	b.Run("workload=tiered_set", func(b *testing.B) {
		c, prefix := newNodeStore(b, nodeTiered)
		ctx := context.Background()
		op := func() {
			if err := c.Set(ctx, nodeSetKey, NewUser(1)); err != nil {
				b.Fatal(err)
			}
		}
		op()
		b.ReportAllocs()
		for b.Loop() {
			op()
		}
		// Check that the workload wrote where it says it does: read the key
		// back from Redis alone.
		r, _ := newNodeStoreWithPrefix(b, nodeL2Only, prefix)
		u, found, err := bento.Get[User](ctx, r, nodeSetKey)
		if err != nil || !found || u != want {
			b.Fatalf("Redis holds %q = %+v (found %v, err %v), want %+v", nodeSetKey, u, found, err, want)
		}
	})
}

// newNodeStore returns the root of a store with the layers of layout, under a
// prefix of its own, and that prefix. Its keys are removed and the manager
// closed when b ends.
func newNodeStore(b *testing.B, layout nodeLayout) (*bento.Cache, string) {
	return newNodeStoreWithPrefix(b, layout, testenv.Prefix(b))
}

func newNodeStoreWithPrefix(b *testing.B, layout nodeLayout, prefix string) (*bento.Cache, string) {
	b.Helper()
	opts := []bento.Option{bento.Prefix(prefix)}
	if layout.l2 {
		opts = append(opts, bento.SuppressL2Errors(false))
	}
	store := bento.NewStore(opts...)
	if layout.l1 {
		// BentoCache's L1 in all.ts keeps values as given (serialize:
		// false), as bento's memory driver does.
		store.UseL1(memory.New(memory.Options{MaxItems: nodeL1Items}))
	}
	if layout.l2 {
		store.UseL2(redis.New(redis.Options{Addrs: []string{testenv.Redis(b)}}))
	}
	m, err := bento.New(bento.Config{Stores: map[string]*bento.Store{"main": store}})
	if err != nil {
		b.Fatal(err)
	}
	c := m.Default()
	b.Cleanup(func() {
		if err := c.Clear(context.Background()); err != nil {
			b.Errorf("clearing %s: %v", prefix, err)
		}
		if err := m.Close(); err != nil {
			b.Errorf("closing the store of %s: %v", prefix, err)
		}
	})
	return c, prefix
}
