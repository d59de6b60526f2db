package integration_test

// The instances of the coherence tests, what they read and what they must
// read, shared by the Redis, PostgreSQL and NATS tests.

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
)

// waitTimeout bounds every wait for the bus, which delivers asynchronously:
// generous, for a loaded 2-core machine. Deliveries normally take a few
// milliseconds.
const waitTimeout = 15 * time.Second

// node is one instance of the service: a manager with one store, "main",
// which records its logs and the outcome of its reads.
type node struct {
	name string
	m    *bento.Bento
	logs *observer.ObservedLogs

	mu   sync.Mutex
	last map[string]bento.Event // the last hit or miss, by namespace and key
}

// newNode builds a node on the store that store defines, named "main",
// closed when t ends. The store's drivers log with the logger they are
// given, as the manager does.
func newNode(t *testing.T, name string, store func(logger *zap.Logger) *bento.Store) *node {
	t.Helper()
	return newStoreNode(t, name, "main", store)
}

// newStoreNode is [newNode] with the store named storeName.
func newStoreNode(t *testing.T, name, storeName string, store func(logger *zap.Logger) *bento.Store) *node {
	t.Helper()
	core, logs := observer.New(zap.InfoLevel)
	logger := zap.New(core).Named(name)
	n := &node{name: name, logs: logs, last: make(map[string]bento.Event)}
	m, err := bento.New(bento.Config{Stores: map[string]*bento.Store{storeName: store(logger)}, Logger: logger})
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

func (n *node) String() string { return n.name }

func (n *node) record(e bento.Event) {
	if e.Kind != bento.EventHit && e.Kind != bento.EventMiss {
		return
	}
	n.mu.Lock()
	n.last[e.Namespace+"\x00"+e.Key] = e
	n.mu.Unlock()
}

// cache returns the namespace ns of the node's store, its root for "".
func (n *node) cache(ns string) *bento.Cache {
	if ns == "" {
		return n.m.Default()
	}
	return n.m.Namespace(ns)
}

// reading is what one Get returned, and where it was found.
type reading struct {
	value   string
	found   bool
	layer   bento.Layer
	graced  bool
	staleAt time.Time // when the value stops being fresh, where the reader says
}

func (r reading) String() string {
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
func (n *node) read(t *testing.T, ns, key string) reading {
	t.Helper()
	v, found, err := bento.Get[string](t.Context(), n.cache(ns), key)
	if err != nil {
		t.Fatalf("%s: Get(ctx, %s) = %v; want no error", n.name, where(ns, key), err)
	}
	n.mu.Lock()
	e := n.last[ns+"\x00"+key]
	n.mu.Unlock()
	return reading{value: v, found: found, layer: e.Layer, graced: e.Graced}
}

// want is the state a node must read.
type want struct {
	ns, key string
	value   string
	found   bool
	graced  bool
	layer   bento.Layer // where the value must come from; LayerNone: anywhere
}

func fresh(ns, key, value string) want { return want{ns: ns, key: key, value: value, found: true} }
func stale(ns, key, value string) want {
	return want{ns: ns, key: key, value: value, found: true, graced: true}
}
func missing(ns, key string) want { return want{ns: ns, key: key} }

func (w want) met(r reading) bool {
	return r.found == w.found && (!w.found || r.value == w.value && r.graced == w.graced &&
		(w.layer == bento.LayerNone || r.layer == w.layer))
}

func (w want) String() string {
	switch {
	case !w.found:
		return "not found"
	case w.graced:
		return fmt.Sprintf("%q, stale (under grace)", w.value)
	case w.layer != bento.LayerNone:
		return fmt.Sprintf("%q from %s, fresh", w.value, w.layer)
	}
	return fmt.Sprintf("%q, fresh", w.value)
}

func (w want) where() string { return where(w.ns, w.key) }

// where names key in namespace ns for a message.
func where(ns, key string) string {
	if ns == "" {
		return strconv.Quote(key)
	}
	return strconv.Quote(ns + ":" + key)
}

// instance is what expect reads: a [node], or anything else that reads
// like one.
type instance interface {
	comparable
	String() string
	read(t *testing.T, ns, key string) reading
}

// expect reads every want on every node until all are met, and reports
// those that are not met within waitTimeout (one deadline for all the
// nodes). after says what happened, for the message.
func expect[N instance](t *testing.T, nodes []N, after string, wants ...want) {
	t.Helper()
	unmet := make(map[N][]string)
	check := func() bool {
		clear(unmet)
		for _, n := range nodes {
			for _, w := range wants {
				if r := n.read(t, w.ns, w.key); !w.met(r) {
					unmet[n] = append(unmet[n], fmt.Sprintf("Get(ctx, %s) = %s; want %s", w.where(), r, w))
				}
			}
		}
		return len(unmet) == 0
	}
	if poll(t, waitTimeout, check) {
		return
	}
	for _, n := range nodes {
		if lines := unmet[n]; len(lines) > 0 {
			t.Errorf("%s, %v after %s:\n\t%s\nevery instance must read the new state on its next Get once the bus has delivered",
				n, waitTimeout, after, strings.Join(lines, "\n\t"))
		}
	}
}

// poll calls cond every 10ms until it returns true, d has passed or t has
// ended, and reports whether it returned true. cond is called once more at
// the deadline.
func poll(t *testing.T, d time.Duration, cond func() bool) bool {
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

// seed is an entry every node holds in its L1 before a test acts.
type seed struct {
	ns, key, value string
	tags           []string
}

// seedAll writes the seeds on the first node without telling the bus, then
// has every node read them twice: the first Get copies an entry from L2 to
// L1, the second must find it there, fresh. No bus message is sent, so no
// node's copy can be made stale behind the test's back.
func seedAll(t *testing.T, nodes []*node, seeds []seed) {
	t.Helper()
	ctx := t.Context()
	for _, s := range seeds {
		opts := []bento.Option{bento.SkipBusNotify()}
		if len(s.tags) > 0 {
			opts = append(opts, bento.Tags(s.tags...))
		}
		if err := nodes[0].cache(s.ns).Set(ctx, s.key, s.value, opts...); err != nil {
			t.Fatalf("%s: Set(ctx, %s, %q) = %v; want <nil>", nodes[0].name, where(s.ns, s.key), s.value, err)
		}
	}
	for _, n := range nodes {
		for _, s := range seeds {
			n.read(t, s.ns, s.key)
			if r := n.read(t, s.ns, s.key); !r.found || r.value != s.value || r.layer != bento.LayerL1 || r.graced {
				t.Fatalf("seeding: %s: Get(ctx, %s) = %s; want %q from l1, fresh: every node must hold the entry in its L1",
					n.name, where(s.ns, s.key), r, s.value)
			}
		}
	}
}

// step is one write on one node, and the state every node must then read.
type step struct {
	by   int    // the index of the node that acts
	does string // the call, for messages
	act  func(ctx context.Context, m *bento.Bento) error
	want []want
}

// deleted turns the result of Delete or DeleteMany into an error when
// nothing was deleted: a test deletes only what it seeded.
func deleted(existed bool, err error) error {
	if err == nil && !existed {
		return errors.New("reported nothing deleted; want true")
	}
	return err
}
