package integration_test

import (
	"context"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/bentocache/bento"
	"github.com/bentocache/bento/internal/tcpproxy"
	"github.com/bentocache/bento/internal/testenv"
	redisbus "github.com/bentocache/bento/modules/buses/redis"
	"github.com/bentocache/bento/modules/drivers/memory"
	"github.com/bentocache/bento/modules/drivers/redis"
)

// The helpers of this file are named redis…, so that they never meet those
// of the package's other files.

// TestRedis_Coherence runs three instances of one store, each with its own
// memory L1, on one Redis server (L2) and one Redis bus channel. Every
// instance first holds the seeded entries in its L1, fresh; then one
// instance writes, and every instance must read the new state on its next
// Get. Without the bus the others would go on serving their L1 copies for an
// hour, so an instance that reads the new state heard of the write on the
// bus.
func TestRedis_Coherence(t *testing.T) {
	t.Parallel()
	addr := testenv.Redis(t)
	for _, sc := range coherenceScenarios() {
		t.Run(sc.name, func(t *testing.T) {
			t.Parallel()
			sc.play(t, newRedisTest(t, []string{addr}).instances(t))
		})
	}
}

// TestRedis_ClusterCoherence runs the scenarios of TestRedis_Coherence on a
// three-master Redis Cluster: the L2 drivers and the buses are cluster
// clients, and the instances' keys and channel spread over the masters.
func TestRedis_ClusterCoherence(t *testing.T) {
	t.Parallel()
	addrs := testenv.RedisCluster(t)
	for _, sc := range coherenceScenarios() {
		t.Run(sc.name, func(t *testing.T) {
			t.Parallel()
			sc.play(t, newRedisTest(t, addrs).instances(t))
		})
	}
}

// TestRedis_OutageQueuesWrites cuts one instance's bus off the server: its
// writes still reach L2, their bus messages go to the retry queue, and once
// service is restored the queue delivers them to the other instances.
func TestRedis_OutageQueuesWrites(t *testing.T) {
	t.Parallel()
	rt := newRedisTest(t, []string{testenv.Redis(t)})
	proxy := tcpproxy.Start(t, rt.addrs[0])
	a := rt.instance(t, "a", proxy.Addr())
	b, c := rt.instance(t, "b"), rt.instance(t, "c")
	seedAll(t, []*node{a, b, c}, []seed{{key: "k", value: "v1"}, {key: "gone", value: "v1"}})

	proxy.Cut()
	ctx := t.Context()
	if err := a.m.Default().Set(ctx, "k", "v2"); err != nil {
		t.Fatalf("a.Set(ctx, %q, %q) with its bus cut = %v; want <nil>: a bus failure is not the caller's error", "k", "v2", err)
	}
	if err := deleted(a.m.Default().Delete(ctx, "gone")); err != nil {
		t.Fatalf("a.Delete(ctx, %q) with its bus cut = %v; want <nil>", "gone", err)
	}
	// The writes returned at once; their messages wait in a's outbox.
	const kept = "bus publish failed; messages kept for retry"
	if !poll(t, 10*time.Second, func() bool { return a.logs.FilterMessage(kept).Len() > 0 }) {
		t.Errorf("a never logged %q for a Set and a Delete with its bus cut; want it logged", kept)
	}
	// Nothing reached the others: they still serve their L1 copies. Without
	// this, the test could not tell a delivery after Restore from one before.
	for _, n := range []*node{b, c} {
		for _, key := range []string{"k", "gone"} {
			if r := n.read(t, "", key); !r.found || r.value != "v1" || r.layer != bento.LayerL1 || r.graced {
				t.Fatalf("%s: Get(ctx, %q) = %s while a's bus is cut; want \"v1\" from l1, fresh: no message can have arrived", n.name, key, r)
			}
		}
	}

	proxy.Restore()
	for _, n := range []*node{b, c} {
		expect(t, []*node{n}, `restoring a's bus after a.Set(ctx, "k", "v2") and a.Delete(ctx, "gone") were queued`,
			fresh("", "k", "v2"), missing("", "gone"))
	}
	expect(t, []*node{a}, "restoring a's bus", fresh("", "k", "v2"), missing("", "gone"))
}

// TestRedis_OutageResyncsL1 cuts one instance's bus off the server while
// another instance writes: the cut instance misses those messages, and
// nothing says which. Once its bus has reconnected, it clears its L1 and
// reads the new state from L2 instead of its stale copies, and hears the bus
// again.
func TestRedis_OutageResyncsL1(t *testing.T) {
	t.Parallel()
	rt := newRedisTest(t, []string{testenv.Redis(t)})
	proxy := tcpproxy.Start(t, rt.addrs[0])
	a := rt.instance(t, "a", proxy.Addr())
	b, c := rt.instance(t, "b"), rt.instance(t, "c")
	seedAll(t, []*node{a, b, c}, []seed{{key: "k", value: "v1"}, {ns: "users", key: "k", value: "v1"}})

	proxy.Cut()
	ctx := t.Context()
	if err := b.m.Default().Set(ctx, "k", "v2"); err != nil {
		t.Fatalf("b.Set(ctx, %q, %q) = %v; want <nil>", "k", "v2", err)
	}
	if err := deleted(b.m.Namespace("users").Delete(ctx, "k")); err != nil {
		t.Fatalf("b.Namespace(%q).Delete(ctx, %q) = %v; want <nil>", "users", "k", err)
	}
	expect(t, []*node{c}, "b's writes", fresh("", "k", "v2"), missing("users", "k"))
	// a missed both messages: until its bus is back, it serves its L1.
	for _, w := range []want{{key: "k"}, {ns: "users", key: "k"}} {
		if r := a.read(t, w.ns, w.key); !r.found || r.value != "v1" || r.layer != bento.LayerL1 || r.graced {
			t.Fatalf("a: Get(ctx, %s) = %s while its bus is cut; want \"v1\" from l1, fresh: a cannot have heard of b's writes", w.where(), r)
		}
	}

	proxy.Restore()
	expect(t, []*node{a}, "restoring a's bus, cut while b wrote",
		fresh("", "k", "v2"), missing("users", "k"))
	const resync = "bus reconnected; resyncing l1"
	if n := a.logs.FilterMessage(resync).Len(); n != 1 {
		t.Errorf("a logged %q %d times for one cut; want once", resync, n)
	}
	// The subscription is back: a hears the next write.
	if err := c.m.Default().Set(ctx, "k", "v3"); err != nil {
		t.Fatalf("c.Set(ctx, %q, %q) = %v; want <nil>", "k", "v3", err)
	}
	expect(t, []*node{a}, `c.Set(ctx, "k", "v3"), after a's bus reconnected`, fresh("", "k", "v3"))
}

// instances starts the three instances of a coherence scenario on rt.
func (rt *redisTest) instances(t *testing.T) []*node {
	return []*node{rt.instance(t, "a"), rt.instance(t, "b"), rt.instance(t, "c")}
}

// redisTest is one test's share of a Redis deployment: its addresses, and a
// key prefix and a bus channel of its own, both named prefix.
type redisTest struct {
	addrs  []string
	prefix string
}

// newRedisTest reserves a prefix on the deployment at addrs. The keys under
// it are removed when t ends, after the instances created later have closed.
func newRedisTest(t *testing.T, addrs []string) *redisTest {
	t.Helper()
	rt := &redisTest{addrs: addrs, prefix: testenv.Prefix(t)}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		dr := redis.New(redis.Options{Addrs: addrs, Prefix: rt.prefix})
		defer func() { _ = dr.Disconnect() }()
		if err := dr.Clear(ctx); err != nil {
			t.Errorf("removing the keys under %q: %v", rt.prefix, err)
		}
	})
	return rt
}

// instance builds one instance of the service, closed when t ends: a
// manager with one store, "main", whose entries are fresh for an hour and
// usable as stale for another (nothing changes during a test unless an
// instance is told), on its own memory L1, its own L2 client and its own bus
// on the test's prefix and channel, retrying failed bus messages every 20ms.
// Its bus connects to busAddr when given (a route that can be cut), to the
// test's addresses otherwise. It records its logs and the outcome of its
// reads.
func (rt *redisTest) instance(t *testing.T, name string, busAddr ...string) *node {
	t.Helper()
	if len(busAddr) == 0 {
		busAddr = rt.addrs
	}
	return newNode(t, name, func(logger *zap.Logger) *bento.Store {
		return bento.NewStore(
			bento.TTL(time.Hour),
			bento.Grace(time.Hour),
			bento.Prefix(rt.prefix),
			bento.BusChannel(rt.prefix),
			bento.RetryQueue(0, 20*time.Millisecond),
		).
			UseL1(memory.New(memory.Options{})).
			UseL2(redis.New(redis.Options{Addrs: rt.addrs})).
			UseBus(redisbus.New(redisbus.Options{Addrs: busAddr, Logger: logger.Named("bus")}))
	})
}
