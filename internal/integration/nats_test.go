package integration_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/bentocache/bento"
	"github.com/bentocache/bento/internal/tcpproxy"
	"github.com/bentocache/bento/internal/testenv"
	natsbus "github.com/bentocache/bento/modules/buses/nats"
	"github.com/bentocache/bento/modules/drivers/memory"
	"github.com/bentocache/bento/modules/drivers/natskv"
)

// The helpers of this file are named nats…, so that they never meet those
// of the package's other files.

// natsBucket is the key-value bucket of these tests; each test has a
// prefix (and bus channel) of its own in it.
const natsBucket = "bento_integration"

// natsWait bounds every wait for the bus on a loaded machine.
const natsWait = 15 * time.Second

// TestNATS_Coherence runs three instances of one store on NATS alone: each
// has its own memory L1, the L2 is a JetStream key-value bucket and the bus
// core NATS. Every instance holds the seeded entries in its L1, fresh; then
// one instance writes, and every instance must read the new state on its
// next Get: without the bus the others would serve their L1 copies for an
// hour.
func TestNATS_Coherence(t *testing.T) {
	t.Parallel()
	url := testenv.NATS(t)
	seeds := []natsSeed{
		{key: "k", value: "v1"},
		{key: "t", value: "v2", tags: []string{"team:7"}},
		{ns: "users", key: "k", value: "users"},
		{ns: "users:posts", key: "k", value: "posts"},
		{ns: "usersX", key: "k", value: "usersX"},
	}
	tests := []struct {
		name string
		by   int
		does string
		act  func(ctx context.Context, m *bento.Bento) error
		want []natsWant
	}{
		{name: "Set", by: 0, does: `Set(ctx, "k", "v9")`,
			act:  func(ctx context.Context, m *bento.Bento) error { return m.Default().Set(ctx, "k", "v9") },
			want: []natsWant{{key: "k", value: "v9"}, {key: "t", value: "v2"}}},
		{name: "Delete", by: 1, does: `Delete(ctx, "k")`,
			act: func(ctx context.Context, m *bento.Bento) error {
				_, err := m.Default().Delete(ctx, "k")
				return err
			},
			want: []natsWant{{key: "k"}, {key: "t", value: "v2"}}},
		{name: "ClearNamespace", by: 2, does: `Namespace("users").Clear(ctx)`,
			act: func(ctx context.Context, m *bento.Bento) error { return m.Namespace("users").Clear(ctx) },
			want: []natsWant{{ns: "users", key: "k"}, {ns: "users:posts", key: "k"},
				{key: "k", value: "v1"}, {ns: "usersX", key: "k", value: "usersX"}}},
		{name: "DeleteByTag", by: 0, does: `DeleteByTag(ctx, "team:7")`,
			act:  func(ctx context.Context, m *bento.Bento) error { return m.Default().DeleteByTag(ctx, "team:7") },
			want: []natsWant{{key: "t"}, {key: "k", value: "v1"}}},
		{name: "Expire", by: 1, does: `Expire(ctx, "k")`,
			act:  func(ctx context.Context, m *bento.Bento) error { return m.Default().Expire(ctx, "k") },
			want: []natsWant{{key: "k", value: "v1", stale: true}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			prefix := natsPrefix(t, url)
			nodes := []*natsNode{natsInstance(t, "a", url, url, prefix), natsInstance(t, "b", url, url, prefix), natsInstance(t, "c", url, url, prefix)}
			natsSeedAll(t, nodes, seeds)
			if err := tt.act(t.Context(), nodes[tt.by].m); err != nil {
				t.Fatalf("%s.%s = %v; want <nil>", nodes[tt.by].name, tt.does, err)
			}
			for _, n := range nodes {
				n.expect(t, nodes[tt.by].name+"."+tt.does, tt.want...)
			}
		})
	}
}

// TestNATS_OutageResyncsL1 cuts one instance's bus off the server while
// another writes: the cut instance misses the messages. Once its bus is
// back, it clears its L1 and reads the new state from L2, and hears the
// bus again.
func TestNATS_OutageResyncsL1(t *testing.T) {
	t.Parallel()
	url := testenv.NATS(t)
	proxy := tcpproxy.Start(t, testenv.NATSAddr(t))
	prefix := natsPrefix(t, url)
	a := natsInstance(t, "a", "nats://"+proxy.Addr(), url, prefix)
	b, c := natsInstance(t, "b", url, url, prefix), natsInstance(t, "c", url, url, prefix)
	natsSeedAll(t, []*natsNode{a, b, c}, []natsSeed{{key: "k", value: "v1"}, {ns: "users", key: "k", value: "v1"}})

	proxy.Cut()
	ctx := t.Context()
	if err := b.m.Default().Set(ctx, "k", "v2"); err != nil {
		t.Fatal(err)
	}
	if _, err := b.m.Namespace("users").Delete(ctx, "k"); err != nil {
		t.Fatal(err)
	}
	c.expect(t, "b's writes", natsWant{key: "k", value: "v2"}, natsWant{ns: "users", key: "k"})
	for _, w := range []natsWant{{key: "k"}, {ns: "users", key: "k"}} {
		if r := a.read(t, w.ns, w.key); !r.found || r.value != "v1" || r.layer != bento.LayerL1 {
			t.Fatalf("a: Get(ctx, %s:%s) = %s while its bus is cut; want \"v1\" from l1: a cannot have heard of b's writes", w.ns, w.key, r)
		}
	}

	proxy.Restore()
	a.expect(t, "restoring a's bus, cut while b wrote", natsWant{key: "k", value: "v2"}, natsWant{ns: "users", key: "k"})
	if err := c.m.Default().Set(ctx, "k", "v3"); err != nil {
		t.Fatal(err)
	}
	a.expect(t, `c.Set(ctx, "k", "v3"), after a's bus reconnected`, natsWant{key: "k", value: "v3"})
}

// natsPrefix returns a fresh prefix whose keys are removed when t ends.
func natsPrefix(t *testing.T, url string) string {
	t.Helper()
	prefix := testenv.Prefix(t)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		dr := natskv.New(natskv.Options{Servers: []string{url}, Bucket: natsBucket, Prefix: prefix})
		defer func() { _ = dr.Disconnect() }()
		if err := dr.Clear(ctx); err != nil {
			t.Errorf("removing the keys under %q: %v", prefix, err)
		}
	})
	return prefix
}

// natsNode is one instance of the service.
type natsNode struct {
	name string
	m    *bento.Bento

	mu   sync.Mutex
	last map[string]bento.Event // the last hit or miss, by namespace and key
}

// natsInstance builds one instance, closed when t ends: one store whose
// entries are fresh for an hour and usable as stale for another, on its own
// memory L1, its own key-value driver (on kvURL) and its own bus (on
// busURL, a route that can be cut), on prefix and channel prefix.
func natsInstance(t *testing.T, name, busURL, kvURL, prefix string) *natsNode {
	t.Helper()
	core, _ := observer.New(zap.InfoLevel)
	logger := zap.New(core).Named(name)
	store := bento.NewStore(bento.TTL(time.Hour), bento.Grace(time.Hour), bento.Prefix(prefix),
		bento.BusChannel(prefix), bento.RetryQueue(0, 20*time.Millisecond)).
		UseL1(memory.New(memory.Options{})).
		UseL2(natskv.New(natskv.Options{Servers: []string{kvURL}, Bucket: natsBucket})).
		UseBus(natsbus.New(natsbus.Options{Servers: []string{busURL}, ReconnectWait: 50 * time.Millisecond, Logger: logger}))
	m, err := bento.New(bento.Config{Stores: map[string]*bento.Store{"main": store}, Logger: logger})
	if err != nil {
		t.Fatalf("%s: bento.New = %v; want <nil>", name, err)
	}
	t.Cleanup(func() {
		if err := m.Close(); err != nil {
			t.Errorf("%s: Close() = %v; want <nil>", name, err)
		}
	})
	n := &natsNode{name: name, m: m, last: make(map[string]bento.Event)}
	m.On(func(e bento.Event) {
		if e.Kind == bento.EventHit || e.Kind == bento.EventMiss {
			n.mu.Lock()
			n.last[e.Namespace+"\x00"+e.Key] = e
			n.mu.Unlock()
		}
	})
	return n
}

// natsSeed is an entry every instance holds in its L1 before a test acts.
type natsSeed struct {
	ns, key, value string
	tags           []string
}

// natsSeedAll writes the seeds on the first node without telling the bus,
// then has every node read each twice: the second read must come from L1.
func natsSeedAll(t *testing.T, nodes []*natsNode, seeds []natsSeed) {
	t.Helper()
	for _, s := range seeds {
		opts := []bento.Option{bento.SkipBusNotify()}
		if len(s.tags) > 0 {
			opts = append(opts, bento.Tags(s.tags...))
		}
		if err := nodes[0].cache(s.ns).Set(t.Context(), s.key, s.value, opts...); err != nil {
			t.Fatalf("seeding %s:%s: %v", s.ns, s.key, err)
		}
	}
	for _, n := range nodes {
		for _, s := range seeds {
			n.read(t, s.ns, s.key)
			if r := n.read(t, s.ns, s.key); !r.found || r.value != s.value || r.layer != bento.LayerL1 || r.graced {
				t.Fatalf("seeding: %s: Get(ctx, %s:%s) = %s; want %q from l1, fresh", n.name, s.ns, s.key, r, s.value)
			}
		}
	}
}

func (n *natsNode) cache(ns string) *bento.Cache {
	if ns == "" {
		return n.m.Default()
	}
	return n.m.Namespace(ns)
}

// natsReading is what one Get returned, and where it was found.
type natsReading struct {
	value  string
	found  bool
	layer  bento.Layer
	graced bool
}

func (r natsReading) String() string {
	if !r.found {
		return "not found"
	}
	return fmt.Sprintf("%q from %s, graced %v", r.value, r.layer, r.graced)
}

func (n *natsNode) read(t *testing.T, ns, key string) natsReading {
	t.Helper()
	v, found, err := bento.Get[string](t.Context(), n.cache(ns), key)
	if err != nil {
		t.Fatalf("%s: Get(ctx, %s:%s) = %v; want no error", n.name, ns, key, err)
	}
	n.mu.Lock()
	e := n.last[ns+"\x00"+key]
	n.mu.Unlock()
	return natsReading{value: v, found: found, layer: e.Layer, graced: e.Graced}
}

// natsWant is what a Get must return: value, fresh unless stale; not found
// when value is "".
type natsWant struct {
	ns, key, value string
	stale          bool
}

func (w natsWant) met(r natsReading) bool {
	if w.value == "" {
		return !r.found
	}
	return r.found && r.value == w.value && r.graced == w.stale
}

// expect reads every want on n until all are met, and reports those not
// met within natsWait.
func (n *natsNode) expect(t *testing.T, after string, wants ...natsWant) {
	t.Helper()
	var unmet []string
	deadline := time.Now().Add(natsWait)
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for {
		unmet = unmet[:0]
		for _, w := range wants {
			if r := n.read(t, w.ns, w.key); !w.met(r) {
				unmet = append(unmet, fmt.Sprintf("Get(ctx, %s:%s) = %s; want %+v", w.ns, w.key, r, w))
			}
		}
		if len(unmet) == 0 {
			return
		}
		if time.Now().After(deadline) {
			break
		}
		select {
		case <-tick.C:
		case <-t.Context().Done():
			return
		}
	}
	t.Errorf("%s, %v after %s:\n\t%s", n.name, natsWait, after, strings.Join(unmet, "\n\t"))
}
