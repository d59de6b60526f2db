package integration_test

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

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
	rt.seed(t, []*redisInstance{a, b, c}, []redisSeed{{key: "k", value: "v1"}, {key: "gone", value: "v1"}})

	proxy.Cut()
	ctx := t.Context()
	if err := a.m.Default().Set(ctx, "k", "v2"); err != nil {
		t.Fatalf("a.Set(ctx, %q, %q) with its bus cut = %v; want <nil>: a bus failure is not the caller's error", "k", "v2", err)
	}
	if err := redisDeleted(a.m.Default().Delete(ctx, "gone")); err != nil {
		t.Fatalf("a.Delete(ctx, %q) with its bus cut = %v; want <nil>", "gone", err)
	}
	// The writes returned at once; their messages wait in a's outbox.
	const kept = "bus publish failed; messages kept for retry"
	if !redisPoll(t, 10*time.Second, func() bool { return a.logs.FilterMessage(kept).Len() > 0 }) {
		t.Errorf("a never logged %q for a Set and a Delete with its bus cut; want it logged", kept)
	}
	// Nothing reached the others: they still serve their L1 copies. Without
	// this, the test could not tell a delivery after Restore from one before.
	for _, n := range []*redisInstance{b, c} {
		for _, key := range []string{"k", "gone"} {
			if r := n.read(t, "", key); !r.found || r.value != "v1" || r.layer != bento.LayerL1 || r.graced {
				t.Fatalf("%s: Get(ctx, %q) = %s while a's bus is cut; want \"v1\" from l1, fresh: no message can have arrived", n.name, key, r)
			}
		}
	}

	proxy.Restore()
	for _, n := range []*redisInstance{b, c} {
		n.expect(t, `restoring a's bus after a.Set(ctx, "k", "v2") and a.Delete(ctx, "gone") were queued`,
			redisWant{key: "k", value: "v2", state: redisFresh}, redisWant{key: "gone", state: redisMissing})
	}
	a.expect(t, "restoring a's bus", redisWant{key: "k", value: "v2", state: redisFresh}, redisWant{key: "gone", state: redisMissing})
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
	rt.seed(t, []*redisInstance{a, b, c}, []redisSeed{{key: "k", value: "v1"}, {ns: "users", key: "k", value: "v1"}})

	proxy.Cut()
	ctx := t.Context()
	if err := b.m.Default().Set(ctx, "k", "v2"); err != nil {
		t.Fatalf("b.Set(ctx, %q, %q) = %v; want <nil>", "k", "v2", err)
	}
	if err := redisDeleted(b.m.Namespace("users").Delete(ctx, "k")); err != nil {
		t.Fatalf("b.Namespace(%q).Delete(ctx, %q) = %v; want <nil>", "users", "k", err)
	}
	c.expect(t, "b's writes", redisWant{key: "k", value: "v2", state: redisFresh}, redisWant{ns: "users", key: "k", state: redisMissing})
	// a missed both messages: until its bus is back, it serves its L1.
	for _, w := range []redisWant{{key: "k"}, {ns: "users", key: "k"}} {
		if r := a.read(t, w.ns, w.key); !r.found || r.value != "v1" || r.layer != bento.LayerL1 || r.graced {
			t.Fatalf("a: Get(ctx, %s) = %s while its bus is cut; want \"v1\" from l1, fresh: a cannot have heard of b's writes", w.where(), r)
		}
	}

	proxy.Restore()
	a.expect(t, "restoring a's bus, cut while b wrote",
		redisWant{key: "k", value: "v2", state: redisFresh}, redisWant{ns: "users", key: "k", state: redisMissing})
	const resync = "bus reconnected; resyncing l1"
	if n := a.logs.FilterMessage(resync).Len(); n != 1 {
		t.Errorf("a logged %q %d times for one cut; want once", resync, n)
	}
	// The subscription is back: a hears the next write.
	if err := c.m.Default().Set(ctx, "k", "v3"); err != nil {
		t.Fatalf("c.Set(ctx, %q, %q) = %v; want <nil>", "k", "v3", err)
	}
	a.expect(t, `c.Set(ctx, "k", "v3"), after a's bus reconnected`, redisWant{key: "k", value: "v3", state: redisFresh})
}

// redisScenario is a coherence scenario: entries every instance holds,
// then writes on one instance and the state every instance must then read.
type redisScenario struct {
	name  string
	seed  []redisSeed
	steps []redisStep
}

// redisStep is one write on one instance, and the state every instance
// must then read.
type redisStep struct {
	by   int    // the index of the instance that acts
	does string // the call, for messages
	act  func(ctx context.Context, m *bento.Bento) error
	want []redisWant
}

// redisScenarios are the writes of BEHAVIOUR.md ("Three instances on one
// L2 and bus") with the state each must leave on every instance.
func redisScenarios() []redisScenario {
	fresh := func(ns, key, value string) redisWant {
		return redisWant{ns: ns, key: key, value: value, state: redisFresh}
	}
	stale := func(ns, key, value string) redisWant {
		return redisWant{ns: ns, key: key, value: value, state: redisStale}
	}
	missing := func(ns, key string) redisWant { return redisWant{ns: ns, key: key, state: redisMissing} }
	tagged := []redisSeed{
		{key: "t1", value: "v1", tags: []string{"team:7"}},
		{key: "t2", value: "v2", tags: []string{"team:7", "team:8"}},
		{key: "u", value: "v3", tags: []string{"team:8"}},
		{key: "plain", value: "v4"},
	}
	nested := []redisSeed{
		{key: "k", value: "root"},
		{ns: "users", key: "k", value: "users"},
		{ns: "users:posts", key: "k", value: "posts"},
		{ns: "usersX", key: "k", value: "usersX"},
	}
	return []redisScenario{
		{
			name: "Set",
			seed: []redisSeed{{key: "k", value: "v1"}},
			steps: []redisStep{{
				does: `Set(ctx, "k", "v2")`,
				act:  func(ctx context.Context, m *bento.Bento) error { return m.Default().Set(ctx, "k", "v2") },
				want: []redisWant{fresh("", "k", "v2")},
			}, {
				by:   2,
				does: `Namespace("users").Set(ctx, "k", "v3")`,
				act:  func(ctx context.Context, m *bento.Bento) error { return m.Namespace("users").Set(ctx, "k", "v3") },
				want: []redisWant{fresh("", "k", "v2"), fresh("users", "k", "v3")},
			}},
		},
		{
			name: "Delete",
			seed: []redisSeed{{key: "k", value: "v1"}, {key: "other", value: "v2"}},
			steps: []redisStep{{
				does: `Delete(ctx, "k")`,
				act:  func(ctx context.Context, m *bento.Bento) error { return redisDeleted(m.Default().Delete(ctx, "k")) },
				want: []redisWant{missing("", "k"), fresh("", "other", "v2")},
			}},
		},
		{
			name: "DeleteMany",
			seed: []redisSeed{{key: "k1", value: "v1"}, {key: "k2", value: "v2"}, {key: "k3", value: "v3"}},
			steps: []redisStep{{
				by:   1,
				does: `DeleteMany(ctx, ["k1" "k2"])`,
				act: func(ctx context.Context, m *bento.Bento) error {
					return redisDeleted(m.Default().DeleteMany(ctx, []string{"k1", "k2"}))
				},
				want: []redisWant{missing("", "k1"), missing("", "k2"), fresh("", "k3", "v3")},
			}},
		},
		{
			name: "Expire",
			seed: []redisSeed{{key: "k", value: "v1"}, {key: "other", value: "v2"}},
			steps: []redisStep{{
				does: `Expire(ctx, "k")`,
				act:  func(ctx context.Context, m *bento.Bento) error { return m.Default().Expire(ctx, "k") },
				want: []redisWant{stale("", "k", "v1"), fresh("", "other", "v2")},
			}},
		},
		{
			name: "ClearNamespace",
			seed: nested,
			steps: []redisStep{{
				does: `Namespace("users").Clear(ctx)`,
				act:  func(ctx context.Context, m *bento.Bento) error { return m.Namespace("users").Clear(ctx) },
				want: []redisWant{
					missing("users", "k"), missing("users:posts", "k"),
					fresh("", "k", "root"), fresh("usersX", "k", "usersX"),
				},
			}},
		},
		{
			name: "ClearRoot",
			seed: nested,
			steps: []redisStep{{
				by:   2,
				does: `Default().Clear(ctx)`,
				act:  func(ctx context.Context, m *bento.Bento) error { return m.Default().Clear(ctx) },
				want: []redisWant{missing("", "k"), missing("users", "k"), missing("users:posts", "k"), missing("usersX", "k")},
			}},
		},
		{
			name: "DeleteByTag",
			seed: tagged,
			steps: []redisStep{{
				does: `DeleteByTag(ctx, "team:7")`,
				act:  func(ctx context.Context, m *bento.Bento) error { return m.Default().DeleteByTag(ctx, "team:7") },
				want: []redisWant{missing("", "t1"), missing("", "t2"), fresh("", "u", "v3"), fresh("", "plain", "v4")},
			}, {
				// An entry written after the invalidation, by another
				// instance, is not affected.
				by:   1,
				does: `Set(ctx, "t1", "again", Tags("team:7"))`,
				act: func(ctx context.Context, m *bento.Bento) error {
					return m.Default().Set(ctx, "t1", "again", bento.Tags("team:7"))
				},
				want: []redisWant{fresh("", "t1", "again"), missing("", "t2")},
			}},
		},
		{
			name: "ExpireByTag",
			seed: tagged,
			steps: []redisStep{{
				does: `ExpireByTag(ctx, "team:7")`,
				act:  func(ctx context.Context, m *bento.Bento) error { return m.Default().ExpireByTag(ctx, "team:7") },
				want: []redisWant{stale("", "t1", "v1"), stale("", "t2", "v2"), fresh("", "u", "v3"), fresh("", "plain", "v4")},
			}, {
				by:   2,
				does: `Set(ctx, "t1", "again", Tags("team:7"))`,
				act: func(ctx context.Context, m *bento.Bento) error {
					return m.Default().Set(ctx, "t1", "again", bento.Tags("team:7"))
				},
				want: []redisWant{fresh("", "t1", "again"), stale("", "t2", "v2")},
			}},
		},
	}
}

// run plays sc on three instances of rt.
func (sc redisScenario) run(t *testing.T, rt *redisTest) {
	instances := []*redisInstance{rt.instance(t, "a"), rt.instance(t, "b"), rt.instance(t, "c")}
	rt.seed(t, instances, sc.seed)
	for _, s := range sc.steps {
		actor := instances[s.by]
		if err := s.act(t.Context(), actor.m); err != nil {
			t.Fatalf("%s: %s = %v; want <nil>", actor.name, s.does, err)
		}
		after := actor.name + "." + s.does
		for _, n := range instances {
			n.expect(t, after, s.want...)
		}
		if t.Failed() {
			t.FailNow() // the next step would start from an unknown state
		}
	}
}

// redisWait bounds every wait for the bus, which delivers asynchronously:
// generous, for a loaded 2-core machine. Deliveries normally take a
// millisecond; after a cut, the bus redials within its 2s backoff.
const redisWait = 15 * time.Second

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
func (rt *redisTest) instance(t *testing.T, name string, busAddr ...string) *redisInstance {
	t.Helper()
	core, logs := observer.New(zap.InfoLevel)
	logger := zap.New(core).Named(name)
	if len(busAddr) == 0 {
		busAddr = rt.addrs
	}
	store := bento.NewStore(
		bento.TTL(time.Hour),
		bento.Grace(time.Hour),
		bento.Prefix(rt.prefix),
		bento.BusChannel(rt.prefix),
		bento.RetryQueue(0, 20*time.Millisecond),
	).
		UseL1(memory.New(memory.Options{})).
		UseL2(redis.New(redis.Options{Addrs: rt.addrs})).
		UseBus(redisbus.New(redisbus.Options{Addrs: busAddr, Logger: logger.Named("bus")}))
	n := &redisInstance{name: name, logs: logs, last: make(map[string]bento.Event)}
	m, err := bento.New(bento.Config{Stores: map[string]*bento.Store{"main": store}, Logger: logger})
	if err != nil {
		t.Fatalf("%s: bento.New = %v; want <nil>", name, err)
	}
	t.Cleanup(func() {
		if err := m.Close(); err != nil {
			t.Errorf("%s: Close() = %v; want <nil>", name, err)
		}
	})
	m.On(n.record)
	n.m = m
	return n
}

// redisSeed is an entry every instance holds in its L1 before a test acts.
type redisSeed struct {
	ns, key, value string
	tags           []string
}

// seed writes the seeds on the first instance without telling the bus, then
// has every instance read them twice: the first Get copies an entry from L2
// to L1, the second must find it there, fresh. No bus message is sent, so no
// instance's copy can be made stale behind the test's back.
func (rt *redisTest) seed(t *testing.T, instances []*redisInstance, seeds []redisSeed) {
	t.Helper()
	ctx := t.Context()
	for _, s := range seeds {
		opts := []bento.Option{bento.SkipBusNotify()}
		if len(s.tags) > 0 {
			opts = append(opts, bento.Tags(s.tags...))
		}
		if err := instances[0].cache(s.ns).Set(ctx, s.key, s.value, opts...); err != nil {
			t.Fatalf("%s: Set(ctx, %s, %q) = %v; want <nil>", instances[0].name, redisWhere(s.ns, s.key), s.value, err)
		}
	}
	for _, n := range instances {
		for _, s := range seeds {
			n.read(t, s.ns, s.key)
			if r := n.read(t, s.ns, s.key); !r.found || r.value != s.value || r.layer != bento.LayerL1 || r.graced {
				t.Fatalf("seeding: %s: Get(ctx, %s) = %s; want %q from l1, fresh: every instance must hold the entry in its L1",
					n.name, redisWhere(s.ns, s.key), r, s.value)
			}
		}
	}
}

// redisInstance is one instance of the service.
type redisInstance struct {
	name string
	m    *bento.Bento
	logs *observer.ObservedLogs

	mu   sync.Mutex
	last map[string]bento.Event // the last hit or miss, by namespace and key
}

func (n *redisInstance) record(e bento.Event) {
	if e.Kind != bento.EventHit && e.Kind != bento.EventMiss {
		return
	}
	n.mu.Lock()
	n.last[e.Namespace+"\x00"+e.Key] = e
	n.mu.Unlock()
}

// cache returns the namespace ns of the instance's store, its root for "".
func (n *redisInstance) cache(ns string) *bento.Cache {
	if ns == "" {
		return n.m.Default()
	}
	return n.m.Namespace(ns)
}

// redisReading is what one Get returned, and where it was found.
type redisReading struct {
	value  string
	found  bool
	layer  bento.Layer
	graced bool
}

func (r redisReading) String() string {
	if !r.found {
		return "not found"
	}
	state := "fresh"
	if r.graced {
		state = "stale"
	}
	return fmt.Sprintf("%q from %s, %s", r.value, r.layer, state)
}

// read runs Get on key in namespace ns.
func (n *redisInstance) read(t *testing.T, ns, key string) redisReading {
	t.Helper()
	v, found, err := bento.Get[string](t.Context(), n.cache(ns), key)
	if err != nil {
		t.Fatalf("%s: Get(ctx, %s) = %v; want no error", n.name, redisWhere(ns, key), err)
	}
	n.mu.Lock()
	e := n.last[ns+"\x00"+key]
	n.mu.Unlock()
	return redisReading{value: v, found: found, layer: e.Layer, graced: e.Graced}
}

// redisState is what a Get must find.
type redisState int

const (
	redisMissing redisState = iota
	redisFresh
	redisStale // under grace
)

// redisWant is the state an instance must read.
type redisWant struct {
	ns, key string
	value   string
	state   redisState
}

func (w redisWant) met(r redisReading) bool {
	switch w.state {
	case redisFresh:
		return r.found && r.value == w.value && !r.graced
	case redisStale:
		return r.found && r.value == w.value && r.graced
	}
	return !r.found
}

func (w redisWant) String() string {
	switch w.state {
	case redisFresh:
		return fmt.Sprintf("%q, fresh", w.value)
	case redisStale:
		return fmt.Sprintf("%q, stale (under grace)", w.value)
	}
	return "not found"
}

func (w redisWant) where() string { return redisWhere(w.ns, w.key) }

// redisWhere names key in namespace ns for a message.
func redisWhere(ns, key string) string {
	if ns == "" {
		return strconv.Quote(key)
	}
	return strconv.Quote(ns + ":" + key)
}

// expect reads every want on n until all are met, and reports those that
// are not met within redisWait. after says what happened, for the message.
func (n *redisInstance) expect(t *testing.T, after string, wants ...redisWant) {
	t.Helper()
	var unmet []string
	check := func() bool {
		unmet = unmet[:0]
		for _, w := range wants {
			if r := n.read(t, w.ns, w.key); !w.met(r) {
				unmet = append(unmet, fmt.Sprintf("Get(ctx, %s) = %s; want %s", w.where(), r, w))
			}
		}
		return len(unmet) == 0
	}
	if !redisPoll(t, redisWait, check) {
		t.Errorf("%s, %v after %s:\n\t%s\nevery instance must read the new state on its next Get once the bus has delivered",
			n.name, redisWait, after, strings.Join(unmet, "\n\t"))
	}
}

// redisPoll calls cond every 10ms until it returns true, d has passed or t
// has ended, and reports whether it returned true. cond is called once
// more at the deadline.
func redisPoll(t *testing.T, d time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(d)
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		if time.Now().After(deadline) {
			return cond()
		}
		select {
		case <-tick.C:
		case <-t.Context().Done():
			return false
		}
	}
	return true
}

// redisDeleted turns the result of Delete or DeleteMany into an error when
// nothing was deleted: a test deletes only what it seeded.
func redisDeleted(existed bool, err error) error {
	if err == nil && !existed {
		return errors.New("reported nothing deleted; want true")
	}
	return err
}
