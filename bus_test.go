package bento_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/bentocache/bento"
	"github.com/bentocache/bento/internal/mapstore"
	"github.com/bentocache/bento/internal/wire"
	busmem "github.com/bentocache/bento/modules/buses/memory"
	"github.com/bentocache/bento/modules/drivers/memory"
)

// This file tests "The bus" of BEHAVIOUR.md with several managers in one
// process, each with its own memory L1, sharing one mapstore L2 and one
// memory bus hub. It also holds the multi-instance helpers that
// tags_test.go and l2failure_test.go use.

// peerStoreName is the name of the one store every peer has; its bus channel
// is therefore "bento.bus.main".
const peerStoreName = "main"

// peerChannel is the default bus channel of the store peerStoreName.
const peerChannel = "bento.bus:bento:" + peerStoreName // the default channel: "bento.bus:<prefix>:<store>"

// peerLog collects the events of one manager.
type peerLog struct {
	mu     sync.Mutex
	events []bento.Event
}

func logEvents(b *bento.Bento) *peerLog {
	l := &peerLog{}
	b.On(func(e bento.Event) {
		l.mu.Lock()
		l.events = append(l.events, e)
		l.mu.Unlock()
	})
	return l
}

func (l *peerLog) len() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.events)
}

// since returns the events recorded after the first n.
func (l *peerLog) since(n int) []bento.Event {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.events[n:])
}

func (l *peerLog) all() []bento.Event { return l.since(0) }

// count returns how many events of kind were recorded, among those that pred
// accepts (all of them with a nil pred).
func (l *peerLog) count(kind bento.EventKind, pred func(bento.Event) bool) int {
	n := 0
	for _, e := range l.all() {
		if e.Kind == kind && (pred == nil || pred(e)) {
			n++
		}
	}
	return n
}

func (l *peerLog) reset() {
	l.mu.Lock()
	l.events = nil
	l.mu.Unlock()
}

// withKeys selects the events whose Keys are exactly keys.
func withKeys(keys ...string) func(bento.Event) bool {
	return func(e bento.Event) bool { return slices.Equal(e.Keys, keys) }
}

// peer is one instance: a manager with one store, and its events.
type peer struct {
	name string
	b    *bento.Bento
	ev   *peerLog
}

// startPeer builds a manager whose only store is st. Nothing is left running
// when it fails.
func startPeer(t *testing.T, name string, st *bento.Store) *peer {
	t.Helper()
	b, err := bento.New(bento.Config{Stores: map[string]*bento.Store{peerStoreName: st}})
	if err != nil {
		t.Fatalf("bento.New(%s) = %v; want no error", name, err)
	}
	return &peer{name: name, b: b, ev: logEvents(b)}
}

// cache returns the namespace path of p ("" for the root).
func (p *peer) cache(path string) *bento.Cache {
	if path == "" {
		return p.b.Default()
	}
	return p.b.Namespace(path)
}

// read is the outcome of one Get[string], with what its hit event said.
type read struct {
	value  string
	found  bool
	graced bool
	layer  bento.Layer
}

func (r read) String() string {
	if !r.found {
		return "not found"
	}
	return fmt.Sprintf("%q (graced %t, layer %q)", r.value, r.graced, r.layer)
}

// read calls Get[string] on p, once the bubble's bus messages have been
// delivered (publishing is asynchronous), and fails the test on an error.
// It must be called inside a synctest bubble.
func (p *peer) read(t *testing.T, path, key string, opts ...bento.Option) read {
	t.Helper()
	synctest.Wait()
	mark := p.ev.len()
	v, found, err := bento.Get[string](t.Context(), p.cache(path), key, opts...)
	if err != nil {
		t.Fatalf("%s: Get(%q, %q) = %v; want no error", p.name, path, key, err)
	}
	r := read{value: v, found: found}
	for _, e := range p.ev.since(mark) {
		if e.Kind == bento.EventHit && e.Namespace == path && e.Key == key {
			r.graced, r.layer = e.Graced, e.Layer
		}
	}
	return r
}

// mustSet calls Set on p, fails the test on an error, and waits for the
// bubble's bus messages to be delivered. It must be called inside a
// synctest bubble.
func (p *peer) mustSet(t *testing.T, path, key, value string, opts ...bento.Option) {
	t.Helper()
	if err := p.cache(path).Set(t.Context(), key, value, opts...); err != nil {
		t.Fatalf("%s: Set(%q, %q, %q) = %v; want no error", p.name, path, key, value, err)
	}
	synctest.Wait()
}

// peers are instances sharing one L2 and one bus hub. Build them inside a
// synctest bubble and defer close.
type peers struct {
	hub  *busmem.Hub
	l2   *mapstore.L2
	opts []bento.Option
	list []*peer
}

// newPeers starts n peers named A, B, C, … with the store options opts.
func newPeers(t *testing.T, n int, opts ...bento.Option) *peers {
	t.Helper()
	ps := &peers{hub: busmem.NewHub(), l2: mapstore.NewL2(mapstore.L2Options{}), opts: opts}
	for range n {
		ps.add(t)
	}
	return ps
}

// add starts one more peer on the shared L2 and hub.
func (ps *peers) add(t *testing.T) *peer {
	t.Helper()
	return ps.addWith(t, ps.l2, busmem.New(busmem.Options{Hub: ps.hub}))
}

// addWith starts one more peer with its own L2 and bus drivers (which should
// reach the shared ones) and the peers' options followed by extra.
func (ps *peers) addWith(t *testing.T, l2 bento.L2Driver, bus bento.Bus, extra ...bento.Option) *peer {
	t.Helper()
	st := bento.NewStore(append(slices.Clone(ps.opts), extra...)...).
		UseL1(memory.New(memory.Options{})).UseL2(l2).UseBus(bus)
	name := string(rune('A' + len(ps.list)))
	b, err := bento.New(bento.Config{Stores: map[string]*bento.Store{peerStoreName: st}})
	if err != nil {
		ps.close()
		t.Fatalf("bento.New(%s) = %v; want no error", name, err)
	}
	p := &peer{name: name, b: b, ev: logEvents(b)}
	ps.list = append(ps.list, p)
	return p
}

func (ps *peers) close() {
	for _, p := range ps.list {
		_ = p.b.Close()
	}
}

func (ps *peers) resetEvents() {
	for _, p := range ps.list {
		p.ev.reset()
	}
}

// advance sleeps d and half a millisecond more: every manager's coarse clock
// ticks on whole milliseconds of the bubble's fake time, so all of them then
// read the same time (sleeping a whole number of milliseconds would wake the
// test at the same instant as the clocks' tickers, in no set order).
func advance(d time.Duration) { time.Sleep(d + 500*time.Microsecond) }

// nsKey is a key in a namespace path ("" for the root).
type nsKey struct{ ns, key string }

func (k nsKey) String() string { return fmt.Sprintf("(%q, %q)", k.ns, k.key) }

// TestBus_ThreeInstancesReadEveryWrite: three instances on one L2 and bus;
// after any write on one, the others (and the writer) read the new state on
// their next Get — with the default and the empty prefix, whichever instance
// writes. Every instance holds every key in its L1 beforehand, so a stale L1
// copy would show. The writer publishes one message, the others publish
// nothing and apply it once, and the writer ignores its own message.
func TestBus_ThreeInstancesReadEveryWrite(t *testing.T) {
	t.Parallel()
	seed := []struct {
		k     nsKey
		value string
		tags  []string
	}{
		{nsKey{"users", "k1"}, "v1", []string{"t1"}},
		{nsKey{"users", "k2"}, "v2", []string{"t2"}},
		{nsKey{"users", "k3"}, "v3", nil},
		{nsKey{"usersX", "k1"}, "x1", []string{"t1"}},
		{nsKey{"posts", "k1"}, "p1", []string{"t1"}},
		{nsKey{"", "k1"}, "r1", []string{"t1"}},
	}
	gone := read{}
	stale := func(v string) read { return read{value: v, found: true, graced: true} }
	fresh := func(v string) read { return read{value: v, found: true} }

	tests := []struct {
		name string
		op   func(ctx context.Context, c func(path string) *bento.Cache) error
		// want lists the keys that change; the others keep their seed value,
		// fresh, in every instance's L1.
		want map[nsKey]read
	}{
		{
			name: "Set",
			op: func(ctx context.Context, c func(string) *bento.Cache) error {
				return c("users").Set(ctx, "k1", "new")
			},
			want: map[nsKey]read{{"users", "k1"}: fresh("new")},
		},
		{
			name: "Delete",
			op: func(ctx context.Context, c func(string) *bento.Cache) error {
				_, err := c("users").Delete(ctx, "k1")
				return err
			},
			want: map[nsKey]read{{"users", "k1"}: gone},
		},
		{
			name: "DeleteMany",
			op: func(ctx context.Context, c func(string) *bento.Cache) error {
				_, err := c("users").DeleteMany(ctx, []string{"k1", "k2"})
				return err
			},
			want: map[nsKey]read{{"users", "k1"}: gone, {"users", "k2"}: gone},
		},
		{
			name: "Expire",
			op: func(ctx context.Context, c func(string) *bento.Cache) error {
				return c("users").Expire(ctx, "k1")
			},
			want: map[nsKey]read{{"users", "k1"}: stale("v1")},
		},
		{
			name: "ClearNamespace",
			op: func(ctx context.Context, c func(string) *bento.Cache) error {
				return c("users").Clear(ctx)
			},
			want: map[nsKey]read{{"users", "k1"}: gone, {"users", "k2"}: gone, {"users", "k3"}: gone},
		},
		{
			name: "ClearRoot",
			op: func(ctx context.Context, c func(string) *bento.Cache) error {
				return c("").Clear(ctx)
			},
			want: map[nsKey]read{
				{"users", "k1"}: gone, {"users", "k2"}: gone, {"users", "k3"}: gone,
				{"usersX", "k1"}: gone, {"posts", "k1"}: gone, {"", "k1"}: gone,
			},
		},
		{
			name: "DeleteByTag",
			op: func(ctx context.Context, c func(string) *bento.Cache) error {
				return c("users").DeleteByTag(ctx, "t1")
			},
			want: map[nsKey]read{{"users", "k1"}: gone},
		},
		{
			name: "ExpireByTag",
			op: func(ctx context.Context, c func(string) *bento.Cache) error {
				return c("users").ExpireByTag(ctx, "t1")
			},
			want: map[nsKey]read{{"users", "k1"}: stale("v1")},
		},
	}
	for _, prefix := range []string{"bento", ""} {
		for _, tt := range tests {
			for writer := range 3 {
				name := fmt.Sprintf("prefix=%q/%s/by%c", prefix, tt.name, 'A'+writer)
				t.Run(name, func(t *testing.T) {
					t.Parallel()
					synctest.Test(t, func(t *testing.T) {
						ps := newPeers(t, 3, bento.Prefix(prefix), bento.Grace(time.Hour))
						defer ps.close()
						ctx := t.Context()
						for _, s := range seed {
							ps.list[0].mustSet(t, s.k.ns, s.k.key, s.value, bento.Tags(s.tags...))
						}
						for _, p := range ps.list {
							for _, s := range seed {
								p.read(t, s.k.ns, s.k.key) // copies it to p's L1
								if got := p.read(t, s.k.ns, s.k.key); got != freshL1(s.value) {
									t.Fatalf("before the write: Get%v on %s = %v; want %v", s.k, p.name, got, freshL1(s.value))
								}
							}
						}
						advance(5 * time.Millisecond)
						ps.resetEvents()

						w := ps.list[writer]
						if err := tt.op(ctx, w.cache); err != nil {
							t.Fatalf("%s on %s = %v; want no error", tt.name, w.name, err)
						}
						synctest.Wait() // the messages are delivered
						for i, p := range ps.list {
							wantPub, wantRecv := 0, 1
							if i == writer {
								wantPub, wantRecv = 1, 0
							}
							if got := p.ev.count(bento.EventBusPublished, nil); got != wantPub {
								t.Errorf("%s on %s: bus messages published by %s = %d; want %d", tt.name, w.name, p.name, got, wantPub)
							}
							if got := p.ev.count(bento.EventBusReceived, nil); got != wantRecv {
								t.Errorf("%s on %s: bus messages applied by %s = %d; want %d", tt.name, w.name, p.name, got, wantRecv)
							}
						}
						for _, p := range ps.list {
							for _, s := range seed {
								got := p.read(t, s.k.ns, s.k.key)
								want, changed := tt.want[s.k]
								if !changed {
									want = freshL1(s.value)
								} else {
									got.layer = 0 // the layer of a changed key does not matter
								}
								if got != want {
									t.Errorf("after %s on %s: Get%v on %s = %v; want %v", tt.name, w.name, s.k, p.name, got, want)
								}
							}
						}
					})
				})
			}
		}
	}
}

// freshL1 is a fresh read of v served by L1.
func freshL1(v string) read { return read{value: v, found: true, layer: bento.LayerL1} }

// TestBus_SenderIgnoresOwnMessages: the memory bus delivers a message to its
// publisher too; the publisher must not apply it, so its own fresh L1 copy
// stays fresh and in L1.
func TestBus_SenderIgnoresOwnMessages(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		ps := newPeers(t, 2)
		defer ps.close()
		a, b := ps.list[0], ps.list[1]
		a.mustSet(t, "users", "k", "v1")
		if got, want := a.read(t, "users", "k"), freshL1("v1"); got != want {
			t.Errorf("Get(users, k) on A after its Set = %v; want %v", got, want)
		}
		if got := a.ev.count(bento.EventBusReceived, nil); got != 0 {
			t.Errorf("bus messages applied by A after its own Set = %d; want 0", got)
		}
		if got := b.ev.count(bento.EventBusReceived, withKeys("k")); got != 1 {
			t.Errorf("bus messages [k] applied by B after A's Set = %d; want 1", got)
		}
		if got := b.ev.count(bento.EventBusPublished, nil); got != 0 {
			t.Errorf("bus messages published by B after applying A's Set = %d; want 0", got)
		}
	})
}

// TestBus_ClearReachesUnopenedNamespace: B only ever opened "users:posts",
// never "users"; a clear of "users" on A still clears B's copies under it.
func TestBus_ClearReachesUnopenedNamespace(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		cleared string // the namespace A clears
	}{
		{"parent", "users"},
		{"root", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			synctest.Test(t, func(t *testing.T) {
				ps := newPeers(t, 2)
				defer ps.close()
				a, b := ps.list[0], ps.list[1]
				a.mustSet(t, "users:posts", "k", "v1")
				b.read(t, "users:posts", "k")
				if got, want := b.read(t, "users:posts", "k"), freshL1("v1"); got != want {
					t.Fatalf("Get(users:posts, k) on B before the clear = %v; want %v", got, want)
				}
				if err := a.cache(tt.cleared).Clear(t.Context()); err != nil {
					t.Fatalf("Clear(%q) on A = %v; want no error", tt.cleared, err)
				}
				if got := b.read(t, "users:posts", "k"); got.found {
					t.Errorf("Get(users:posts, k) on B after Clear(%q) on A = %v; want not found", tt.cleared, got)
				}
			})
		})
	}
}

// TestBus_EmptyPrefixNamespaceClearSparesSibling: with an empty prefix too, a
// clear of "users" on one instance leaves "usersX" in the others' L1.
func TestBus_EmptyPrefixNamespaceClearSparesSibling(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		ps := newPeers(t, 2, bento.Prefix(""))
		defer ps.close()
		a, b := ps.list[0], ps.list[1]
		a.mustSet(t, "users", "k", "u")
		a.mustSet(t, "usersX", "k", "x")
		a.mustSet(t, "", "users", "root") // the root key "users" is not the namespace
		for _, k := range []nsKey{{"users", "k"}, {"usersX", "k"}, {"", "users"}} {
			b.read(t, k.ns, k.key)
		}
		if err := a.cache("users").Clear(t.Context()); err != nil {
			t.Fatalf("Clear(users) on A = %v; want no error", err)
		}
		if got := b.read(t, "users", "k"); got.found {
			t.Errorf("Get(users, k) on B after Clear(users) on A = %v; want not found", got)
		}
		if got, want := b.read(t, "usersX", "k"), freshL1("x"); got != want {
			t.Errorf("Get(usersX, k) on B after Clear(users) on A = %v; want %v", got, want)
		}
		if got, want := b.read(t, "", "users"), freshL1("root"); got != want {
			t.Errorf("Get(\"\", users) on B after Clear(users) on A = %v; want %v", got, want)
		}
		if got, want := a.read(t, "usersX", "k"), freshL1("x"); got != want {
			t.Errorf("Get(usersX, k) on A after its Clear(users) = %v; want %v", got, want)
		}
	})
}

// TestBus_OutageQueuesAndResyncs: while the bus is down, writes succeed
// locally and their messages are queued; on reconnect every receiver clears
// its L1 for the store and the queued messages are delivered, so B reads A's
// latest value.
func TestBus_OutageQueuesAndResyncs(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		ps := newPeers(t, 2)
		defer ps.close()
		a, b := ps.list[0], ps.list[1]
		a.mustSet(t, "", "k", "v1")
		a.mustSet(t, "users", "other", "o")
		for _, k := range []nsKey{{"", "k"}, {"users", "other"}} {
			b.read(t, k.ns, k.key)
			if got := b.read(t, k.ns, k.key); got.layer != bento.LayerL1 {
				t.Fatalf("Get%v on B before the outage = %v; want an L1 hit", k, got)
			}
		}
		ps.resetEvents()

		ps.hub.Partition()
		if err := a.cache("").Set(t.Context(), "k", "v2"); err != nil {
			t.Fatalf("Set(k, v2) on A while the bus is down = %v; want no error", err)
		}
		if got, want := a.read(t, "", "k"), freshL1("v2"); got != want {
			t.Errorf("Get(k) on A while the bus is down = %v; want %v", got, want)
		}
		if got := a.ev.count(bento.EventBusPublished, nil); got != 0 {
			t.Errorf("bus messages published by A while the bus is down = %d; want 0", got)
		}
		if got := b.ev.count(bento.EventBusReceived, nil); got != 0 {
			t.Fatalf("bus messages applied by B while the bus is down = %d; want 0", got)
		}

		ps.hub.Heal()
		synctest.Wait()
		if got := b.ev.count(bento.EventBusReceived, withKeys("k")); got != 1 {
			t.Errorf("queued messages [k] applied by B after the reconnect = %d; want 1", got)
		}
		if got, want := b.read(t, "", "k"), "v2"; !got.found || got.value != want {
			t.Errorf("Get(k) on B after the reconnect = %v; want %q", got, want)
		}
		// Nobody touched users:other: only the resync can have dropped B's copy.
		if got, want := b.read(t, "users", "other"), (read{value: "o", found: true, layer: bento.LayerL2}); got != want {
			t.Errorf("Get(users, other) on B after the reconnect = %v; want %v (L1 resynced)", got, want)
		}
	})
}

// TestBus_RetryQueue: the retry queue deduplicates and, when bounded, drops
// the oldest message; a negative bound turns it off.
func TestBus_RetryQueue(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		opt    bento.Option // A's retry queue
		writes func(t *testing.T, a *peer)
		want   [][]string // the keys of the messages B applies after the reconnect, in order
	}{
		{
			name: "deduplicated",
			opt:  bento.Option{}, // the zero Option: the default queue
			writes: func(t *testing.T, a *peer) {
				for _, v := range []string{"v2", "v3", "v4"} {
					a.mustSet(t, "", "k", v)
				}
				for range 2 {
					if _, err := a.cache("").Delete(t.Context(), "j"); err != nil {
						t.Fatalf("Delete(j) on A = %v; want no error", err)
					}
				}
			},
			want: [][]string{{"k"}, {"j"}},
		},
		{
			name: "bounded",
			opt:  bento.RetryQueue(2, 0),
			writes: func(t *testing.T, a *peer) {
				for _, k := range []string{"k1", "k2", "k3"} {
					a.mustSet(t, "", k, "v")
				}
			},
			want: [][]string{{"k2", "k3"}}, // what waited in a row goes out as one message
		},
		{
			name: "off",
			opt:  bento.RetryQueue(-1, 0),
			writes: func(t *testing.T, a *peer) {
				a.mustSet(t, "", "k", "v")
			},
			want: nil,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			synctest.Test(t, func(t *testing.T) {
				ps := newPeers(t, 0)
				defer ps.close()
				a := ps.addWith(t, ps.l2, busmem.New(busmem.Options{Hub: ps.hub}), tt.opt)
				b := ps.add(t)
				ps.hub.Partition()
				tt.writes(t, a)
				ps.hub.Heal()
				synctest.Wait()
				var got [][]string
				for _, e := range b.ev.all() {
					if e.Kind == bento.EventBusReceived {
						got = append(got, e.Keys)
					}
				}
				if !slices.EqualFunc(got, tt.want, slices.Equal) {
					t.Errorf("keys of the messages B applied after the reconnect = %q; want %q", got, tt.want)
				}
			})
		})
	}
}

// errFlaky is what flakyBus.Publish returns while failing.
var errFlaky = errors.New("flaky bus: down")

// flakyBus is a bento.Bus whose Publish fails while failing is set and that
// never reports a reconnect: only the retry interval can resend.
type flakyBus struct {
	bento.Bus
	failing atomic.Bool
}

func (f *flakyBus) Publish(ctx context.Context, channel string, payload []byte) error {
	if f.failing.Load() {
		return errFlaky
	}
	return f.Bus.Publish(ctx, channel, payload)
}

func (f *flakyBus) OnReconnect(func()) {}

// TestBus_RetryOnInterval: a queued message is resent on the retry interval,
// without a reconnect.
func TestBus_RetryOnInterval(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		const interval = 100 * time.Millisecond
		ps := newPeers(t, 0)
		defer ps.close()
		fb := &flakyBus{Bus: busmem.New(busmem.Options{Hub: ps.hub})}
		a := ps.addWith(t, ps.l2, fb, bento.RetryQueue(0, interval))
		b := ps.add(t)
		a.mustSet(t, "", "k", "v1")
		b.read(t, "", "k")
		b.ev.reset()

		fb.failing.Store(true)
		a.mustSet(t, "", "k", "v2") // its message fails at once and waits for the interval
		fb.failing.Store(false)
		if got, want := b.read(t, "", "k"), freshL1("v1"); got != want {
			t.Fatalf("Get(k) on B before the retry = %v; want %v (the message is still queued)", got, want)
		}
		advance(interval)
		synctest.Wait()
		if got := b.ev.count(bento.EventBusReceived, withKeys("k")); got != 1 {
			t.Errorf("messages [k] applied by B one retry interval later = %d; want 1", got)
		}
		if got := b.read(t, "", "k"); got.value != "v2" {
			t.Errorf("Get(k) on B one retry interval later = %v; want %q", got, "v2")
		}
	})
}

// TestBus_MalformedMessageDropped: bytes that are not a message, published
// straight on the store's channel, are dropped without a panic, and later
// messages still work. A well-formed foreign message first shows that the
// channel is the right one.
func TestBus_MalformedMessageDropped(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		ps := newPeers(t, 2)
		defer ps.close()
		a, b := ps.list[0], ps.list[1]
		raw := busmem.New(busmem.Options{Hub: ps.hub})
		defer raw.Disconnect()
		ctx := t.Context()

		a.mustSet(t, "", "k", "v1")
		b.read(t, "", "k")
		b.ev.reset()
		m := wire.Message{Sender: "stranger", Kind: wire.KindDelete, Keys: []string{"k"}, Time: 1}
		valid, err := m.MarshalBinary()
		if err != nil {
			t.Fatalf("MarshalBinary() = %v", err)
		}
		if err := raw.Publish(ctx, peerChannel, valid); err != nil {
			t.Fatalf("Publish(%q, valid message) = %v", peerChannel, err)
		}
		if got := b.ev.count(bento.EventBusReceived, withKeys("k")); got != 1 {
			t.Fatalf("well-formed foreign messages applied by B = %d; want 1", got)
		}

		ps.resetEvents()
		malformed := [][]byte{
			nil,
			{0xff},
			{wire.Version},
			{wire.Version, 9},
			{wire.Version, byte(wire.KindSet), 0x80},
			{wire.Version, byte(wire.KindSet), 2, 0xff, 'x'},
			{wire.Version + 1, byte(wire.KindClear), 0, 0, 0, 0},
			append(slices.Clone(valid), 0),
			valid[:len(valid)-1],
			[]byte("not a message at all"),
		}
		for _, p := range malformed {
			if err := raw.Publish(ctx, peerChannel, p); err != nil {
				t.Fatalf("Publish(%q, %x) = %v", peerChannel, p, err)
			}
		}
		if got := b.ev.count(bento.EventBusReceived, nil) + a.ev.count(bento.EventBusReceived, nil); got != 0 {
			t.Errorf("malformed messages applied = %d; want 0", got)
		}

		b.read(t, "", "k")
		a.mustSet(t, "", "k", "v2")
		if got := b.ev.count(bento.EventBusReceived, withKeys("k")); got != 1 {
			t.Errorf("messages [k] applied by B after the malformed ones = %d; want 1", got)
		}
		if got := b.read(t, "", "k"); got.value != "v2" {
			t.Errorf("Get(k) on B after the malformed messages and A's Set = %v; want %q", got, "v2")
		}
	})
}

// TestBus_MessageWinsOverFactoryInFlight: a bus message about a key arriving
// while this instance's factory for that key runs keeps the factory's result
// from being written over the other instance's change. The callers still get
// the factory's value.
func TestBus_MessageWinsOverFactoryInFlight(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		op   func(ctx context.Context, a *peer) error
		want read // what both read afterwards
	}{
		{"Set", func(ctx context.Context, a *peer) error { return a.cache("users").Set(ctx, "k", "from A") },
			read{value: "from A", found: true}},
		{"Delete", func(ctx context.Context, a *peer) error {
			_, err := a.cache("users").Delete(ctx, "k")
			return err
		}, read{}},
		{"Expire", func(ctx context.Context, a *peer) error { return a.cache("users").Expire(ctx, "k") }, read{}},
		{"ClearNamespace", func(ctx context.Context, a *peer) error { return a.cache("users").Clear(ctx) }, read{}},
		{"ClearRoot", func(ctx context.Context, a *peer) error { return a.cache("").Clear(ctx) }, read{}},
		{"DeleteByTag", func(ctx context.Context, a *peer) error { return a.cache("users").DeleteByTag(ctx, "x") }, read{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			synctest.Test(t, func(t *testing.T) {
				ps := newPeers(t, 2)
				defer ps.close()
				a, b := ps.list[0], ps.list[1]
				ctx := t.Context()

				release := make(chan struct{})
				type result struct {
					v   string
					err error
				}
				done := make(chan result, 1)
				go func() {
					v, err := bento.GetOrSet(ctx, b.cache("users"), "k", func(ctx context.Context, fc *bento.FactoryContext[string]) (string, error) {
						fc.SetTags("x")
						<-release
						return "from B", nil
					})
					done <- result{v, err}
				}()
				synctest.Wait() // B's factory is running
				if err := tt.op(ctx, a); err != nil {
					t.Fatalf("%s on A = %v; want no error", tt.name, err)
				}
				synctest.Wait() // A's message reaches B while its factory runs
				close(release)
				if r := <-done; r.err != nil || r.v != "from B" {
					t.Errorf("GetOrSet(k) on B, whose factory ran across %s on A = %q, %v; want %q, nil", tt.name, r.v, r.err, "from B")
				}
				for _, p := range []*peer{a, b} {
					got := p.read(t, "users", "k")
					got.layer = 0
					if got != tt.want {
						t.Errorf("Get(users, k) on %s after %s on A during B's factory = %v; want %v", p.name, tt.name, got, tt.want)
					}
				}
			})
		})
	}
}

// stallingBus is a bento.Bus whose Publish hangs, as a silently dead
// connection does, until unstalled or its context ends.
type stallingBus struct {
	bento.Bus
	mu   sync.Mutex
	gate chan struct{} // nil: not stalled
}

func (s *stallingBus) stall() {
	s.mu.Lock()
	s.gate = make(chan struct{})
	s.mu.Unlock()
}

func (s *stallingBus) unstall() {
	s.mu.Lock()
	close(s.gate)
	s.gate = nil
	s.mu.Unlock()
}

func (s *stallingBus) Publish(ctx context.Context, channel string, payload []byte) error {
	s.mu.Lock()
	gate := s.gate
	s.mu.Unlock()
	if gate != nil {
		select {
		case <-gate:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return s.Bus.Publish(ctx, channel, payload)
}

// TestBus_StalledBusNeverStallsWrites pins that writes return once their L1
// and L2 work is done, whatever the bus does: with the bus hanging, Set,
// Delete, Expire and Clear all return, and their messages then reach the
// other instance in the order they were made.
func TestBus_StalledBusNeverStallsWrites(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		ps := newPeers(t, 0)
		defer ps.close()
		sb := &stallingBus{Bus: busmem.New(busmem.Options{Hub: ps.hub})}
		a := ps.addWith(t, ps.l2, sb)
		ps.add(t)
		ctx := t.Context()
		var got []string
		var mu sync.Mutex
		raw := busmem.New(busmem.Options{Hub: ps.hub})
		if err := raw.Subscribe(ctx, peerChannel, func(p []byte) {
			m, err := wire.Decode(p)
			if err != nil {
				t.Errorf("a message on the channel does not decode: %v", err)
				return
			}
			mu.Lock()
			defer mu.Unlock()
			for _, k := range m.Keys {
				got = append(got, m.Kind.String()+" "+k)
			}
			if m.Kind == wire.KindClear {
				got = append(got, "clear")
			}
		}); err != nil {
			t.Fatal(err)
		}
		defer raw.Disconnect()

		sb.stall()
		c := a.cache("")
		writes := make(chan error, 1)
		go func() {
			writes <- errors.Join(
				c.Set(ctx, "k1", "v"),
				c.Set(ctx, "k2", "v"),
				func() error { _, err := c.Delete(ctx, "k1"); return err }(),
				c.Expire(ctx, "k2"),
				c.Set(ctx, "k3", "v"),
				c.Clear(ctx),
				c.Set(ctx, "k4", "v"),
			)
		}()
		synctest.Wait()
		select {
		case err := <-writes:
			if err != nil {
				t.Fatalf("writes with the bus stalled: %v", err)
			}
		default:
			t.Fatal("writes are still waiting for a stalled bus; want them done")
		}
		sb.unstall()
		synctest.Wait()
		mu.Lock()
		defer mu.Unlock()
		want := []string{"set k1", "set k2", "delete k1", "expire k2", "set k3", "clear", "set k4"}
		if !slices.Equal(got, want) {
			t.Errorf("messages on the bus after it came back = %q; want %q, in order", got, want)
		}
	})
}
