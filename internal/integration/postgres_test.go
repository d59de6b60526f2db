package integration_test

import (
	"context"
	"net"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"go.uber.org/zap"

	"github.com/bentocache/bento"
	"github.com/bentocache/bento/internal/tcpproxy"
	"github.com/bentocache/bento/internal/testenv"
	pgadapter "github.com/bentocache/bento/modules/adapters/postgres"
	pgbus "github.com/bentocache/bento/modules/buses/postgres"
	"github.com/bentocache/bento/modules/drivers/database"
	"github.com/bentocache/bento/modules/drivers/memory"
)

// TestPostgres_Coherence runs three instances of one store, each with its
// own memory L1, on one PostgreSQL table (L2) and one PostgreSQL bus
// channel. Every node first holds the seeded entries in its L1, fresh; then
// one node writes, and every node must read the new state on its next Get.
// Without the bus the others would go on serving their L1 copies for an
// hour, so a node that reads the new state heard of the write on the bus.
func TestPostgres_Coherence(t *testing.T) {
	t.Parallel()
	for _, sc := range coherenceScenarios() {
		t.Run(sc.name, func(t *testing.T) {
			t.Parallel()
			p := newPGTest(t)
			var nodes []*node
			for _, name := range []string{"a", "b", "c"} {
				nodes = append(nodes, newNode(t, name, p.store(nodeConfig{})))
			}
			sc.play(t, nodes)
		})
	}
}

// TestPostgres_OutageQueuesWrites cuts one node's bus off the server: its
// writes still reach L2, their bus messages (one of each kind) go to the
// retry queue, and once service is restored the queue, retried every 20ms,
// delivers them to the other nodes.
func TestPostgres_OutageQueuesWrites(t *testing.T) {
	t.Parallel()
	p := newPGTest(t)
	proxy, viaProxy := proxied(t, p.dsn, p.name)
	a := newNode(t, "a", p.store(nodeConfig{busDSN: viaProxy}))
	b, c := newNode(t, "b", p.store(nodeConfig{})), newNode(t, "c", p.store(nodeConfig{}))
	seeds := []seed{
		{key: "k", value: "v1"},
		{key: "gone", value: "v1"},
		{key: "t1", value: "v1", tags: []string{"team:7"}},
		{ns: "users", key: "k", value: "v1"},
	}
	seedAll(t, []*node{a, b, c}, seeds)

	proxy.Cut()
	ctx := t.Context()
	writes := []struct {
		does string
		act  func() error
	}{
		{`Set(ctx, "k", "v2")`, func() error { return a.m.Default().Set(ctx, "k", "v2") }},
		{`Delete(ctx, "gone")`, func() error { return deleted(a.m.Default().Delete(ctx, "gone")) }},
		{`DeleteByTag(ctx, "team:7")`, func() error { return a.m.Default().DeleteByTag(ctx, "team:7") }},
		{`Namespace("users").Clear(ctx)`, func() error { return a.m.Namespace("users").Clear(ctx) }},
	}
	for _, w := range writes {
		if err := w.act(); err != nil {
			t.Fatalf("a.%s with its bus cut = %v; want <nil>: a bus failure is not the caller's error", w.does, err)
		}
	}
	// The writes returned at once; their messages wait in a's outbox.
	const kept = "bus publish failed; messages kept for retry"
	if !poll(t, 10*time.Second, func() bool { return a.logs.FilterMessage(kept).Len() > 0 }) {
		t.Errorf("a never logged %q for %d writes with its bus cut; want it logged", kept, len(writes))
	}
	// Nothing reached the others: they still serve their L1 copies. Without
	// this, the test could not tell a delivery after Restore from one before.
	for _, n := range []*node{b, c} {
		for _, s := range seeds {
			if r := n.read(t, s.ns, s.key); !r.found || r.value != "v1" || r.layer != bento.LayerL1 || r.graced {
				t.Fatalf("%s: Get(ctx, %s) = %s while a's bus is cut; want \"v1\" from l1, fresh: no message can have arrived", n.name, where(s.ns, s.key), r)
			}
		}
	}

	proxy.Restore()
	expect(t, []*node{b, c}, "restoring a's bus after a's writes were queued",
		fresh("", "k", "v2"), missing("", "gone"), missing("", "t1"), missing("users", "k"))
}

// TestPostgres_OutageResyncsL1 cuts one node's bus off the server while
// another node writes: the cut node misses those messages, and nothing says
// which. Once its bus has reconnected, it clears its L1 and forgets the tag
// records it read, so that it reads the new state from L2 instead of its
// stale copies; it hears the bus again; and its own write of the outage,
// queued with a retry interval too long to matter, is sent on the
// reconnect.
func TestPostgres_OutageResyncsL1(t *testing.T) {
	t.Parallel()
	p := newPGTest(t)
	proxy, viaProxy := proxied(t, p.dsn, p.name)
	a := newNode(t, "a", p.store(nodeConfig{busDSN: viaProxy, retryInterval: time.Hour}))
	b, c := newNode(t, "b", p.store(nodeConfig{})), newNode(t, "c", p.store(nodeConfig{}))
	seeds := []seed{
		{key: "k", value: "v1"},
		{ns: "users", key: "k", value: "v1"},
		{key: "t1", value: "v1", tags: []string{"team:7"}},
		{key: "mine", value: "v1"},
	}
	seedAll(t, []*node{a, b, c}, seeds)

	proxy.Cut()
	ctx := t.Context()
	if err := b.m.Default().Set(ctx, "k", "v2"); err != nil {
		t.Fatalf("b.Set(ctx, %q, %q) = %v; want <nil>", "k", "v2", err)
	}
	if err := deleted(b.m.Namespace("users").Delete(ctx, "k")); err != nil {
		t.Fatalf("b.Namespace(%q).Delete(ctx, %q) = %v; want <nil>", "users", "k", err)
	}
	if err := b.m.Default().DeleteByTag(ctx, "team:7"); err != nil {
		t.Fatalf("b.DeleteByTag(ctx, %q) = %v; want <nil>", "team:7", err)
	}
	if err := a.m.Default().Set(ctx, "mine", "v2"); err != nil {
		t.Fatalf("a.Set(ctx, %q, %q) with its bus cut = %v; want <nil>", "mine", "v2", err)
	}
	// Nobody but a reads "t1" from here on: a read that finds it deleted by
	// its tag also deletes it from L2, and a would then miss it whatever its
	// tag records say.
	expect(t, []*node{c}, "b's writes", fresh("", "k", "v2"), missing("users", "k"))
	// a missed b's messages: until its bus is back, it serves its L1; and b
	// and c did not hear of a's write.
	for _, s := range seeds {
		if s.key == "mine" {
			continue
		}
		if r := a.read(t, s.ns, s.key); !r.found || r.value != "v1" || r.layer != bento.LayerL1 || r.graced {
			t.Fatalf("a: Get(ctx, %s) = %s while its bus is cut; want \"v1\" from l1, fresh: a cannot have heard of b's writes", where(s.ns, s.key), r)
		}
	}
	for _, n := range []*node{b, c} {
		if r := n.read(t, "", "mine"); !r.found || r.value != "v1" || r.layer != bento.LayerL1 || r.graced {
			t.Fatalf("%s: Get(ctx, %q) = %s while a's bus is cut; want \"v1\" from l1, fresh: no message of a's can have arrived", n.name, "mine", r)
		}
	}

	proxy.Restore()
	expect(t, []*node{a}, "restoring a's bus, cut while b wrote",
		fresh("", "k", "v2"), missing("users", "k"), missing("", "t1"), fresh("", "mine", "v2"))
	expect(t, []*node{b, c}, "restoring a's bus, cut while a wrote \"mine\"", fresh("", "mine", "v2"))
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

// pgTest is one test's share of the PostgreSQL server: a table of its own
// for L2, and a bus channel of its own, both called name.
type pgTest struct {
	dsn  string
	name string
	// pool is the one the nodes' L2 adapters and direct buses share. The
	// adapters and buses never close it; the test does, after dropping the
	// table.
	pool *pgxpool.Pool
}

// newPGTest reserves a table and a channel on the server, or skips t when
// there is no server. The table is dropped when t ends, after the nodes
// created later have closed.
func newPGTest(t *testing.T) *pgTest {
	t.Helper()
	dsn := testenv.Postgres(t)
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		t.Fatalf("pgxpool.ParseConfig(%q): %v", dsn, err)
	}
	cfg.MaxConns = 4 // tests run in parallel: spare the server's max_connections
	pool, err := pgxpool.NewWithConfig(context.Background(), cfg)
	if err != nil {
		t.Fatalf("pgxpool.NewWithConfig: %v", err)
	}
	t.Cleanup(pool.Close)
	p := &pgTest{dsn: dsn, name: testenv.Prefix(t), pool: pool}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if _, err := pool.Exec(ctx, "DROP TABLE IF EXISTS "+pgx.Identifier{p.name}.Sanitize()); err != nil {
			t.Errorf("dropping table %q: %v", p.name, err)
		}
	})
	return p
}

// nodeConfig is what differs between the nodes of a test.
type nodeConfig struct {
	// busDSN, if set, is the only route of the node's bus: it listens and
	// publishes through it (a tcpproxy that the test can cut). Otherwise
	// the bus listens on a connection of its own and publishes on the
	// shared pool.
	busDSN string
	// retryInterval is how often failed bus messages are retried. Default:
	// 20ms.
	retryInterval time.Duration
}

// store returns a function that defines one node's store: entries fresh
// for an hour and usable as stale for another, so that nothing changes
// during a test unless a node is told; its own memory L1; the test's table
// through an adapter of its own; a bus of its own on the test's channel.
func (p *pgTest) store(nc nodeConfig) func(logger *zap.Logger) *bento.Store {
	return func(logger *zap.Logger) *bento.Store {
		bo := pgbus.Options{
			Pool:              p.pool,
			DSN:               p.dsn,
			ReconnectDelay:    10 * time.Millisecond,
			MaxReconnectDelay: 100 * time.Millisecond,
			Logger:            logger.Named("bus"),
		}
		if nc.busDSN != "" {
			bo.Pool, bo.DSN = nil, nc.busDSN
		}
		retry := nc.retryInterval
		if retry == 0 {
			retry = 20 * time.Millisecond
		}
		return bento.NewStore(
			bento.TTL(time.Hour),
			bento.Grace(time.Hour),
			bento.BusChannel(p.name),
			bento.RetryQueue(0, retry),
		).
			UseL1(memory.New(memory.Options{})).
			UseL2(database.New(database.Options{
				Adapter:   pgadapter.New(pgadapter.Options{Pool: p.pool}),
				TableName: p.name,
			})).
			UseBus(pgbus.New(bo))
	}
}

// proxied starts a tcpproxy in front of the server of dsn, and returns it
// with a DSN that goes through it and names its connections appName.
func proxied(t *testing.T, dsn, appName string) (*tcpproxy.Proxy, string) {
	t.Helper()
	cfg, err := pgx.ParseConfig(dsn)
	if err != nil {
		t.Fatalf("pgx.ParseConfig(%q): %v", dsn, err)
	}
	proxy := tcpproxy.Start(t, net.JoinHostPort(cfg.Host, strconv.Itoa(int(cfg.Port))))
	host, port, _ := net.SplitHostPort(proxy.Addr())
	if !strings.Contains(dsn, "://") { // key=value: later keys win
		return proxy, dsn + " host=" + host + " port=" + port + " application_name=" + appName
	}
	u, err := url.Parse(dsn)
	if err != nil {
		t.Fatalf("url.Parse(%q): %v", dsn, err)
	}
	u.Host = proxy.Addr()
	q := u.Query()
	q.Set("application_name", appName)
	u.RawQuery = q.Encode()
	return proxy, u.String()
}
