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
	for _, sc := range redisScenarios() {
		t.Run(sc.name, func(t *testing.T) {
			t.Parallel()
			sc.run(t, newRedisTest(t, []string{addr}))
		})
	}
}

// TestRedis_ClusterCoherence runs the scenarios of TestRedis_Coherence on a
// three-master Redis Cluster: the L2 drivers and the buses are cluster
// clients, and the instances' keys and channel spread over the masters.
func TestRedis_ClusterCoherence(t *testing.T) {
	t.Parallel()
	addrs := testenv.RedisCluster(t)
	for _, sc := range redisScenarios() {
		t.Run(sc.name, func(t *testing.T) {
			t.Parallel()
			sc.run(t, newRedisTest(t, addrs))
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

// redisScenario is a coherence scenario: entries every instance holds,
// then writes on one instance and the state every instance must then read.
type redisScenario struct {
	name  string
	seed  []seed
	steps []step
}

// redisScenarios are the writes of BEHAVIOUR.md ("Three instances on one
// L2 and bus") with the state each must leave on every instance.
func redisScenarios() []redisScenario {
	tagged := []seed{
		{key: "t1", value: "v1", tags: []string{"team:7"}},
		{key: "t2", value: "v2", tags: []string{"team:7", "team:8"}},
		{key: "u", value: "v3", tags: []string{"team:8"}},
		{key: "plain", value: "v4"},
	}
	nested := []seed{
		{key: "k", value: "root"},
		{ns: "users", key: "k", value: "users"},
		{ns: "users:posts", key: "k", value: "posts"},
		{ns: "usersX", key: "k", value: "usersX"},
	}
	return []redisScenario{
		{
			name: "Set",
			seed: []seed{{key: "k", value: "v1"}},
			steps: []step{{
				does: `Set(ctx, "k", "v2")`,
				act:  func(ctx context.Context, m *bento.Bento) error { return m.Default().Set(ctx, "k", "v2") },
				want: []want{fresh("", "k", "v2")},
			}, {
				by:   2,
				does: `Namespace("users").Set(ctx, "k", "v3")`,
				act:  func(ctx context.Context, m *bento.Bento) error { return m.Namespace("users").Set(ctx, "k", "v3") },
				want: []want{fresh("", "k", "v2"), fresh("users", "k", "v3")},
			}},
		},
		{
			name: "Delete",
			seed: []seed{{key: "k", value: "v1"}, {key: "other", value: "v2"}},
			steps: []step{{
				does: `Delete(ctx, "k")`,
				act:  func(ctx context.Context, m *bento.Bento) error { return deleted(m.Default().Delete(ctx, "k")) },
				want: []want{missing("", "k"), fresh("", "other", "v2")},
			}},
		},
		{
			name: "DeleteMany",
			seed: []seed{{key: "k1", value: "v1"}, {key: "k2", value: "v2"}, {key: "k3", value: "v3"}},
			steps: []step{{
				by:   1,
				does: `DeleteMany(ctx, ["k1" "k2"])`,
				act: func(ctx context.Context, m *bento.Bento) error {
					return deleted(m.Default().DeleteMany(ctx, []string{"k1", "k2"}))
				},
				want: []want{missing("", "k1"), missing("", "k2"), fresh("", "k3", "v3")},
			}},
		},
		{
			name: "Expire",
			seed: []seed{{key: "k", value: "v1"}, {key: "other", value: "v2"}},
			steps: []step{{
				does: `Expire(ctx, "k")`,
				act:  func(ctx context.Context, m *bento.Bento) error { return m.Default().Expire(ctx, "k") },
				want: []want{stale("", "k", "v1"), fresh("", "other", "v2")},
			}},
		},
		{
			name: "ClearNamespace",
			seed: nested,
			steps: []step{{
				does: `Namespace("users").Clear(ctx)`,
				act:  func(ctx context.Context, m *bento.Bento) error { return m.Namespace("users").Clear(ctx) },
				want: []want{
					missing("users", "k"), missing("users:posts", "k"),
					fresh("", "k", "root"), fresh("usersX", "k", "usersX"),
				},
			}},
		},
		{
			name: "ClearRoot",
			seed: nested,
			steps: []step{{
				by:   2,
				does: `Default().Clear(ctx)`,
				act:  func(ctx context.Context, m *bento.Bento) error { return m.Default().Clear(ctx) },
				want: []want{missing("", "k"), missing("users", "k"), missing("users:posts", "k"), missing("usersX", "k")},
			}},
		},
		{
			name: "DeleteByTag",
			seed: tagged,
			steps: []step{{
				does: `DeleteByTag(ctx, "team:7")`,
				act:  func(ctx context.Context, m *bento.Bento) error { return m.Default().DeleteByTag(ctx, "team:7") },
				want: []want{missing("", "t1"), missing("", "t2"), fresh("", "u", "v3"), fresh("", "plain", "v4")},
			}, {
				// An entry written after the invalidation, by another
				// instance, is not affected.
				by:   1,
				does: `Set(ctx, "t1", "again", Tags("team:7"))`,
				act: func(ctx context.Context, m *bento.Bento) error {
					return m.Default().Set(ctx, "t1", "again", bento.Tags("team:7"))
				},
				want: []want{fresh("", "t1", "again"), missing("", "t2")},
			}},
		},
		{
			name: "ExpireByTag",
			seed: tagged,
			steps: []step{{
				does: `ExpireByTag(ctx, "team:7")`,
				act:  func(ctx context.Context, m *bento.Bento) error { return m.Default().ExpireByTag(ctx, "team:7") },
				want: []want{stale("", "t1", "v1"), stale("", "t2", "v2"), fresh("", "u", "v3"), fresh("", "plain", "v4")},
			}, {
				by:   2,
				does: `Set(ctx, "t1", "again", Tags("team:7"))`,
				act: func(ctx context.Context, m *bento.Bento) error {
					return m.Default().Set(ctx, "t1", "again", bento.Tags("team:7"))
				},
				want: []want{fresh("", "t1", "again"), stale("", "t2", "v2")},
			}},
		},
	}
}

// run plays sc on three instances of rt.
func (sc redisScenario) run(t *testing.T, rt *redisTest) {
	instances := []*node{rt.instance(t, "a"), rt.instance(t, "b"), rt.instance(t, "c")}
	seedAll(t, instances, sc.seed)
	for _, s := range sc.steps {
		actor := instances[s.by]
		if err := s.act(t.Context(), actor.m); err != nil {
			t.Fatalf("%s: %s = %v; want <nil>", actor.name, s.does, err)
		}
		after := actor.name + "." + s.does
		expect(t, instances, after, s.want...)
		if t.Failed() {
			t.FailNow() // the next step would start from an unknown state
		}
	}
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
