package integration_test

import (
	"context"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/bentocache/bento"
	"github.com/bentocache/bento/internal/tcpproxy"
	"github.com/bentocache/bento/internal/testenv"
	natsbus "github.com/bentocache/bento/modules/buses/nats"
	"github.com/bentocache/bento/modules/drivers/memory"
	"github.com/bentocache/bento/modules/drivers/natskv"
)

// natsBucket is the key-value bucket of these tests; each test has a
// prefix (and bus channel) of its own in it.
const natsBucket = "bento_integration"

// TestNATS_Coherence plays the coherence scenarios on three instances of
// one store on NATS alone: each has its own memory L1, the L2 is a
// JetStream key-value bucket and the bus core NATS.
func TestNATS_Coherence(t *testing.T) {
	t.Parallel()
	url := testenv.NATS(t)
	for _, sc := range coherenceScenarios() {
		t.Run(sc.name, func(t *testing.T) {
			t.Parallel()
			prefix := natsPrefix(t, url)
			sc.play(t, []*node{natsInstance(t, "a", url, url, prefix), natsInstance(t, "b", url, url, prefix), natsInstance(t, "c", url, url, prefix)})
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
	seedAll(t, []*node{a, b, c}, []seed{{key: "k", value: "v1"}, {ns: "users", key: "k", value: "v1"}})

	proxy.Cut()
	ctx := t.Context()
	if err := b.m.Default().Set(ctx, "k", "v2"); err != nil {
		t.Fatal(err)
	}
	if _, err := b.m.Namespace("users").Delete(ctx, "k"); err != nil {
		t.Fatal(err)
	}
	expect(t, []*node{c}, "b's writes", fresh("", "k", "v2"), missing("users", "k"))
	for _, w := range []want{fresh("", "k", "v1"), fresh("users", "k", "v1")} {
		if r := a.read(t, w.ns, w.key); !w.met(r) || r.layer != bento.LayerL1 {
			t.Fatalf("a: Get(ctx, %s) = %s while its bus is cut; want \"v1\" from l1: a cannot have heard of b's writes", w.where(), r)
		}
	}

	proxy.Restore()
	expect(t, []*node{a}, "restoring a's bus, cut while b wrote", fresh("", "k", "v2"), missing("users", "k"))
	if err := c.m.Default().Set(ctx, "k", "v3"); err != nil {
		t.Fatal(err)
	}
	expect(t, []*node{a}, `c.Set(ctx, "k", "v3"), after a's bus reconnected`, fresh("", "k", "v3"))
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

// natsInstance builds one instance, closed when t ends: one store whose
// entries are fresh for an hour and usable as stale for another, on its own
// memory L1, its own key-value driver (on kvURL) and its own bus (on
// busURL, a route that can be cut), on prefix and channel prefix.
func natsInstance(t *testing.T, name, busURL, kvURL, prefix string) *node {
	t.Helper()
	return newNode(t, name, func(logger *zap.Logger) *bento.Store {
		return bento.NewStore(bento.TTL(time.Hour), bento.Grace(time.Hour), bento.Prefix(prefix),
			bento.BusChannel(prefix), bento.RetryQueue(0, 20*time.Millisecond)).
			UseL1(memory.New(memory.Options{})).
			UseL2(natskv.New(natskv.Options{Servers: []string{kvURL}, Bucket: natsBucket})).
			UseBus(natsbus.New(natsbus.Options{Servers: []string{busURL}, ReconnectWait: 50 * time.Millisecond, Logger: logger}))
	})
}
