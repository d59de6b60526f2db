package bento_test

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/bentocache/bento"
	"github.com/bentocache/bento/internal/faultl2"
	"github.com/bentocache/bento/internal/mapstore"
	busmem "github.com/bentocache/bento/modules/buses/memory"
	"github.com/bentocache/bento/modules/drivers/memory"
)

// This file tests "L2 failures" of BEHAVIOUR.md.

// errDown is the fault injected into L2.
var errDown = errors.New("l2 down")

// asL2Error returns err as an *L2Error and fails the test if it is not one,
// or does not wrap errDown.
func asL2Error(t *testing.T, call string, err error) *bento.L2Error {
	t.Helper()
	var l2e *bento.L2Error
	if !errors.As(err, &l2e) {
		t.Errorf("%s = %v; want an *L2Error", call, err)
		return nil
	}
	if !errors.Is(err, errDown) {
		t.Errorf("%s = %v; want it to wrap %v", call, err, errDown)
	}
	return l2e
}

// l2Errors returns the L2 errors carried by the error events of l.
func l2Errors(l *peerLog) []*bento.L2Error {
	var out []*bento.L2Error
	for _, e := range l.all() {
		var l2e *bento.L2Error
		if e.Kind == bento.EventError && errors.As(e.Err, &l2e) {
			out = append(out, l2e)
		}
	}
	return out
}

// TestL2Failure_SuppressedWithL1: with an L1, L2 errors are suppressed by
// default: Get, GetOrSet and Set go on with L1 and the factory, and every
// failure is an error event carrying an *L2Error.
func TestL2Failure_SuppressedWithL1(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		fl := faultl2.Wrap(mapstore.NewL2(mapstore.L2Options{}))
		// No breaker: every call reaches the failing L2.
		p := startPeer(t, "A", bento.NewStore(bento.L2CircuitBreaker(0)).UseL1(memory.New(memory.Options{})).UseL2(fl))
		defer p.b.Close()
		ctx := t.Context()
		users := p.cache("users")
		p.mustSet(t, "users", "held", "h")
		fl.Fail(errDown)

		steps := []struct {
			name string
			do   func() error
			op   string // the L2 operation whose failure is reported
		}{
			{"Set(k, v)", func() error { return users.Set(ctx, "k", "v") }, "set"},
			{"Get(k)", func() error {
				if v, found, err := bento.Get[string](ctx, users, "k"); err != nil || !found || v != "v" {
					t.Errorf("Get(k) with L2 down = %q, %t, %v; want %q from L1", v, found, err, "v")
				}
				return nil
			}, ""},
			{"Get(missing)", func() error {
				if v, found, err := bento.Get[string](ctx, users, "missing"); err != nil || found {
					t.Errorf("Get(missing) with L2 down = %q, %t, %v; want not found, nil", v, found, err)
				}
				return nil
			}, "get"},
			{"GetOrSet(g)", func() error {
				var runs atomic.Int32
				for range 2 {
					if v, err := bento.GetOrSet(ctx, users, "g", counted("made", &runs)); err != nil || v != "made" {
						t.Errorf("GetOrSet(g) with L2 down = %q, %v; want %q, nil", v, err, "made")
					}
				}
				if runs.Load() != 1 {
					t.Errorf("factory runs of GetOrSet(g) twice with L2 down = %d; want 1", runs.Load())
				}
				return nil
			}, "get"},
			{"Get(held)", func() error {
				if v, found, err := bento.Get[string](ctx, users, "held"); err != nil || !found || v != "h" {
					t.Errorf("Get(held) with L2 down = %q, %t, %v; want %q from L1", v, found, err, "h")
				}
				return nil
			}, ""},
		}
		for _, s := range steps {
			p.ev.reset()
			if err := s.do(); err != nil {
				t.Errorf("%s with L2 down = %v; want no error", s.name, err)
			}
			errs := l2Errors(p.ev)
			if s.op == "" {
				if len(errs) != 0 {
					t.Errorf("%s with L2 down, served by L1: L2 error events = %v; want none", s.name, errs)
				}
				continue
			}
			var ops []string
			for _, e := range errs {
				ops = append(ops, e.Op)
				if e.Store != peerStoreName || !errors.Is(e, errDown) {
					t.Errorf("%s with L2 down: error event %v; want store %q and cause %v", s.name, e, peerStoreName, errDown)
				}
			}
			if !contains(ops, s.op) {
				t.Errorf("%s with L2 down: ops of the L2 error events = %q; want %q among them", s.name, ops, s.op)
			}
		}
	})
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// TestL2Failure_NotSuppressed: without an L1, or with SuppressL2Errors(false)
// on the store or the call, L2 failures are returned as *L2Error naming the
// store, the operation and the key.
func TestL2Failure_NotSuppressed(t *testing.T) {
	t.Parallel()
	configs := []struct {
		name     string
		store    func(l2 bento.L2Driver) *bento.Store
		callOpts []bento.Option
	}{
		{"L2 only", func(l2 bento.L2Driver) *bento.Store { return bento.NewStore().UseL2(l2) }, nil},
		{"L1 and store option", func(l2 bento.L2Driver) *bento.Store {
			return bento.NewStore(bento.SuppressL2Errors(false)).UseL1(memory.New(memory.Options{})).UseL2(l2)
		}, nil},
		{"L1 and call option", func(l2 bento.L2Driver) *bento.Store {
			return bento.NewStore().UseL1(memory.New(memory.Options{})).UseL2(l2)
		}, []bento.Option{bento.SuppressL2Errors(false)}},
	}
	ops := []struct {
		name string
		do   func(ctx context.Context, c *bento.Cache, opts []bento.Option) error
		op   string // "": any
		key  string // "" for an operation on many keys or on the namespace
	}{
		{"Set", func(ctx context.Context, c *bento.Cache, opts []bento.Option) error {
			return c.Set(ctx, "k", "v", opts...)
		}, "set", "k"},
		{"Get", func(ctx context.Context, c *bento.Cache, opts []bento.Option) error {
			_, _, err := bento.Get[string](ctx, c, "k", opts...)
			return err
		}, "get", "k"},
		{"GetOrSet", func(ctx context.Context, c *bento.Cache, opts []bento.Option) error {
			var runs atomic.Int32
			_, err := bento.GetOrSet(ctx, c, "k", counted("v", &runs), opts...)
			return err
		}, "get", "k"},
		{"Has", func(ctx context.Context, c *bento.Cache, opts []bento.Option) error {
			_, err := c.Has(ctx, "k", opts...)
			return err
		}, "get", "k"},
		{"Delete", func(ctx context.Context, c *bento.Cache, opts []bento.Option) error {
			_, err := c.Delete(ctx, "k", opts...)
			return err
		}, "delete", "k"},
		{"DeleteMany", func(ctx context.Context, c *bento.Cache, opts []bento.Option) error {
			_, err := c.DeleteMany(ctx, []string{"k", "j"}, opts...)
			return err
		}, "delete_many", ""},
		{"Expire", func(ctx context.Context, c *bento.Cache, opts []bento.Option) error {
			return c.Expire(ctx, "k", opts...)
		}, "", "k"},
		{"Clear", func(ctx context.Context, c *bento.Cache, opts []bento.Option) error {
			return c.Clear(ctx, opts...)
		}, "clear", ""},
	}
	for _, cfg := range configs {
		for _, op := range ops {
			t.Run(cfg.name+"/"+op.name, func(t *testing.T) {
				t.Parallel()
				synctest.Test(t, func(t *testing.T) {
					fl := faultl2.Wrap(mapstore.NewL2(mapstore.L2Options{}))
					p := startPeer(t, "A", cfg.store(fl))
					defer p.b.Close()
					fl.Fail(errDown)
					err := op.do(t.Context(), p.cache("users"), cfg.callOpts)
					l2e := asL2Error(t, op.name+" with L2 down", err)
					if l2e == nil {
						return
					}
					if l2e.Store != peerStoreName {
						t.Errorf("%s with L2 down: L2Error.Store = %q; want %q", op.name, l2e.Store, peerStoreName)
					}
					if op.op != "" && l2e.Op != op.op || l2e.Op == "" {
						t.Errorf("%s with L2 down: L2Error.Op = %q; want %q", op.name, l2e.Op, op.op)
					}
					if l2e.Namespace != "users" {
						t.Errorf("%s with L2 down: L2Error.Namespace = %q; want %q", op.name, l2e.Namespace, "users")
					}
					if l2e.Key != op.key {
						t.Errorf("%s with L2 down: L2Error.Key = %q; want %q", op.name, l2e.Key, op.key)
					}
				})
			})
		}
	}
}

// TestL2Failure_InvalidationsApplyLocallyAndPublish: Delete, DeleteMany,
// Expire and Clear with L2 down still change the local L1 and still publish on
// the bus; then, not suppressed, they return an *L2Error.
func TestL2Failure_InvalidationsApplyLocallyAndPublish(t *testing.T) {
	t.Parallel()
	ops := []struct {
		name string
		do   func(ctx context.Context, c *bento.Cache) error
		keys []string // of the bus message
	}{
		{"Delete", func(ctx context.Context, c *bento.Cache) error {
			_, err := c.Delete(ctx, "k")
			return err
		}, []string{"k"}},
		{"DeleteMany", func(ctx context.Context, c *bento.Cache) error {
			_, err := c.DeleteMany(ctx, []string{"k", "j"})
			return err
		}, []string{"k", "j"}},
		{"Expire", func(ctx context.Context, c *bento.Cache) error { return c.Expire(ctx, "k") }, []string{"k"}},
		{"Clear", func(ctx context.Context, c *bento.Cache) error { return c.Clear(ctx) }, nil},
	}
	for _, suppressed := range []bool{false, true} {
		for _, op := range ops {
			name := op.name + "/suppressed"
			if !suppressed {
				name = op.name + "/not suppressed"
			}
			t.Run(name, func(t *testing.T) {
				t.Parallel()
				synctest.Test(t, func(t *testing.T) {
					ps := newPeers(t, 0)
					defer ps.close()
					fl := faultl2.Wrap(ps.l2)
					a := ps.addWith(t, fl, busmem.New(busmem.Options{Hub: ps.hub}), bento.SuppressL2Errors(suppressed))
					b := ps.add(t)
					ctx := t.Context()
					for _, k := range []string{"k", "j"} {
						a.mustSet(t, "users", k, "v-"+k)
						a.read(t, "users", k)
						b.read(t, "users", k)
					}
					ps.resetEvents()

					fl.Fail(errDown)
					err := op.do(ctx, a.cache("users"))
					if suppressed {
						if err != nil {
							t.Errorf("%s with L2 down, suppressed = %v; want no error", op.name, err)
						}
					} else {
						asL2Error(t, op.name+" with L2 down", err)
					}
					synctest.Wait() // the message is delivered
					if got := a.ev.count(bento.EventBusPublished, withKeys(op.keys...)); got != 1 {
						t.Errorf("%s with L2 down: bus messages %q published by A = %d; want 1", op.name, op.keys, got)
					}
					if got := b.ev.count(bento.EventBusReceived, withKeys(op.keys...)); got != 1 {
						t.Errorf("%s with L2 down: bus messages %q applied by B = %d; want 1", op.name, op.keys, got)
					}
					// A's L1 changed: reading it alone (L2 is down) finds nothing.
					if got := a.read(t, "users", "k", bento.SuppressL2Errors(true)); got.found {
						t.Errorf("Get(users, k) on A after %s with L2 down = %v; want not found", op.name, got)
					}
					// B's L1 copy is gone or stale: B reads L2, which A could not change.
					if got, want := b.read(t, "users", "k"), (read{value: "v-k", found: true, layer: bento.LayerL2}); got != want {
						t.Errorf("Get(users, k) on B after %s on A with A's L2 down = %v; want %v", op.name, got, want)
					}
				})
			})
		}
	}
}

// TestL2Failure_FailedSetNotPublished: a Set whose L2 write failed (and was
// suppressed) tells no other instance: their copy is still what L2 holds.
func TestL2Failure_FailedSetNotPublished(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		ps := newPeers(t, 0, bento.L2CircuitBreaker(0)) // L2 is back as soon as it heals
		defer ps.close()
		fl := faultl2.Wrap(ps.l2)
		a := ps.addWith(t, fl, busmem.New(busmem.Options{Hub: ps.hub}))
		b := ps.add(t)
		a.mustSet(t, "", "k", "v1")
		b.read(t, "", "k")
		ps.resetEvents()

		fl.Fail(errDown)
		a.mustSet(t, "", "k", "v2")
		if got := a.ev.count(bento.EventBusPublished, nil); got != 0 {
			t.Errorf("bus messages published by A after a Set whose L2 write failed = %d; want 0", got)
		}
		if got := b.ev.count(bento.EventBusReceived, nil); got != 0 {
			t.Errorf("bus messages applied by B after A's Set whose L2 write failed = %d; want 0", got)
		}
		if got, want := b.read(t, "", "k"), freshL1("v1"); got != want {
			t.Errorf("Get(k) on B after A's Set whose L2 write failed = %v; want %v", got, want)
		}
		if got, want := a.read(t, "", "k"), freshL1("v2"); got != want {
			t.Errorf("Get(k) on A after its Set whose L2 write failed = %v; want %v", got, want)
		}

		fl.Heal()
		a.mustSet(t, "", "k", "v3")
		if got := a.ev.count(bento.EventBusPublished, withKeys("k")); got != 1 {
			t.Errorf("bus messages [k] published by A after a Set with L2 back = %d; want 1", got)
		}
		if got := b.read(t, "", "k"); got.value != "v3" {
			t.Errorf("Get(k) on B after A's Set with L2 back = %v; want %q", got, "v3")
		}
	})
}

// TestL2Failure_CircuitBreaker: after an L2 failure the store skips L2 for
// the breaker's duration — every namespace of the store — then one trial call
// decides: a success closes the breaker, a failure opens it again.
func TestL2Failure_CircuitBreaker(t *testing.T) {
	t.Parallel()
	const span = 100 * time.Millisecond
	newBreakerPeer := func(t *testing.T, l2 bento.L2Driver, opts ...bento.Option) *peer {
		t.Helper()
		// No recovery queue: only the calls made here reach L2 (the replay
		// of failed writes is TestL2Recovery's).
		base := []bento.Option{bento.L2CircuitBreaker(span), bento.L2RecoveryQueue(0)}
		return startPeer(t, "A", bento.NewStore(append(base, opts...)...).
			UseL1(memory.New(memory.Options{})).UseL2(l2))
	}
	// calls runs f and returns how many L2 calls it made.
	calls := func(fl *faultl2.Driver, f func()) int64 {
		n := fl.Calls()
		f()
		return fl.Calls() - n
	}

	t.Run("opens, then a successful trial closes it", func(t *testing.T) {
		t.Parallel()
		synctest.Test(t, func(t *testing.T) {
			fl := faultl2.Wrap(mapstore.NewL2(mapstore.L2Options{}))
			p := newBreakerPeer(t, fl)
			defer p.b.Close()
			ctx := t.Context()
			users, posts := p.cache("users"), p.cache("posts")
			fl.Fail(errDown)
			if n := calls(fl, func() { p.read(t, "users", "k1") }); n != 1 {
				t.Fatalf("L2 calls of Get(users, k1), the first failure = %d; want 1", n)
			}
			open := []struct {
				name string
				do   func()
			}{
				{"Get(users, k2)", func() { p.read(t, "users", "k2") }},
				{"Set(users, k3)", func() { p.mustSet(t, "users", "k3", "v3") }},
				{"Get(posts, k1)", func() { p.read(t, "posts", "k1") }},
				{"GetOrSet(posts, k4)", func() {
					var runs atomic.Int32
					if v, err := bento.GetOrSet(ctx, posts, "k4", counted("v4", &runs)); err != nil || v != "v4" {
						t.Errorf("GetOrSet(posts, k4) with the breaker open = %q, %v; want %q, nil", v, err, "v4")
					}
				}},
				{"Delete(users, k3)", func() { _, _ = users.Delete(ctx, "k3") }},
			}
			for _, s := range open {
				if n := calls(fl, s.do); n != 0 {
					t.Errorf("L2 calls of %s with the breaker open = %d; want 0", s.name, n)
				}
			}
			advance(span / 2)
			if n := calls(fl, func() { p.read(t, "users", "k1") }); n != 0 {
				t.Errorf("L2 calls of Get(users, k1) %s after the failure = %d; want 0", span/2, n)
			}

			advance(span/2 + 2*time.Millisecond)
			fl.Heal()
			if n := calls(fl, func() { p.read(t, "users", "k1") }); n != 1 {
				t.Errorf("L2 calls of Get(users, k1), the trial after %s = %d; want 1", span, n)
			}
			for _, k := range []string{"k2", "k5"} {
				if n := calls(fl, func() { p.read(t, "posts", k) }); n != 1 {
					t.Errorf("L2 calls of Get(posts, %s) after a successful trial = %d; want 1", k, n)
				}
			}
		})
	})

	t.Run("a failed trial opens it again", func(t *testing.T) {
		t.Parallel()
		synctest.Test(t, func(t *testing.T) {
			fl := faultl2.Wrap(mapstore.NewL2(mapstore.L2Options{}))
			p := newBreakerPeer(t, fl)
			defer p.b.Close()
			fl.Fail(errDown)
			p.read(t, "", "k")
			advance(span + 2*time.Millisecond)
			if n := calls(fl, func() { p.read(t, "", "k") }); n != 1 {
				t.Fatalf("L2 calls of Get(k), the trial = %d; want 1", n)
			}
			if n := calls(fl, func() { p.read(t, "", "k") }); n != 0 {
				t.Errorf("L2 calls of Get(k) after a failed trial = %d; want 0", n)
			}
			advance(span + 2*time.Millisecond)
			fl.Heal()
			if n := calls(fl, func() { p.read(t, "", "k") }); n != 1 {
				t.Errorf("L2 calls of Get(k), the second trial = %d; want 1", n)
			}
			if n := calls(fl, func() { p.read(t, "", "k") }); n != 1 {
				t.Errorf("L2 calls of Get(k) after a successful trial = %d; want 1", n)
			}
		})
	})

	t.Run("open, not suppressed: ErrCircuitOpen", func(t *testing.T) {
		t.Parallel()
		synctest.Test(t, func(t *testing.T) {
			fl := faultl2.Wrap(mapstore.NewL2(mapstore.L2Options{}))
			p := newBreakerPeer(t, fl, bento.SuppressL2Errors(false))
			defer p.b.Close()
			ctx := t.Context()
			fl.Fail(errDown)
			_, _, err := bento.Get[string](ctx, p.cache("users"), "k")
			asL2Error(t, "Get(users, k), the first failure", err)
			n := fl.Calls()
			_, _, err = bento.Get[string](ctx, p.cache("users"), "k")
			var l2e *bento.L2Error
			if !errors.As(err, &l2e) || !errors.Is(err, bento.ErrCircuitOpen) {
				t.Errorf("Get(users, k) with the breaker open = %v; want an *L2Error wrapping ErrCircuitOpen", err)
			}
			if got := fl.Calls() - n; got != 0 {
				t.Errorf("L2 calls of Get(users, k) with the breaker open = %d; want 0", got)
			}
		})
	})

	t.Run("half-open: one trial at a time", func(t *testing.T) {
		t.Parallel()
		synctest.Test(t, func(t *testing.T) {
			gate := &gatedL2{L2Driver: mapstore.NewL2(mapstore.L2Options{}), st: &gateState{}}
			fl := faultl2.Wrap(gate)
			p := newBreakerPeer(t, fl)
			defer p.b.Close()
			ctx := t.Context()
			fl.Fail(errDown)
			p.read(t, "", "k")
			advance(span + 2*time.Millisecond)
			fl.Heal()

			release := gate.hold()
			done := make(chan struct{})
			go func() {
				defer close(done)
				_, _, _ = bento.Get[string](ctx, p.b.Default(), "trial")
			}()
			synctest.Wait() // the trial waits in L2
			n := fl.Calls()
			other := make(chan struct{})
			go func() {
				defer close(other)
				if _, found, err := bento.Get[string](ctx, p.b.Default(), "other"); found || err != nil {
					t.Errorf("Get(other) during the trial = %t, %v; want not found, nil", found, err)
				}
			}()
			select {
			case <-other:
			case <-time.After(time.Second):
				t.Errorf("Get(other) during the trial still waits after 1s; want it to skip L2 at once")
			}
			if got := fl.Calls() - n; got != 0 {
				t.Errorf("L2 calls of Get(other) while the trial is under way = %d; want 0", got)
			}
			release()
			<-done
			<-other
			if n := calls(fl, func() { p.read(t, "", "k") }); n != 1 {
				t.Errorf("L2 calls of Get(k) after the trial succeeded = %d; want 1", n)
			}
		})
	})
}

// gatedL2 is an L2 driver whose Get waits while its gate is held.
type gatedL2 struct {
	bento.L2Driver
	st *gateState
}

type gateState struct {
	mu   sync.Mutex
	gate chan struct{} // nil: open
}

// hold makes every Get wait until the returned release is called.
func (g *gatedL2) hold() (release func()) {
	ch := make(chan struct{})
	g.st.mu.Lock()
	g.st.gate = ch
	g.st.mu.Unlock()
	return func() {
		g.st.mu.Lock()
		g.st.gate = nil
		g.st.mu.Unlock()
		close(ch)
	}
}

func (g *gatedL2) Namespace(namespace string) bento.L2Driver {
	return &gatedL2{L2Driver: g.L2Driver.Namespace(namespace), st: g.st}
}

func (g *gatedL2) Get(ctx context.Context, key string) ([]byte, bool, error) {
	g.st.mu.Lock()
	ch := g.st.gate
	g.st.mu.Unlock()
	if ch != nil {
		<-ch
	}
	return g.L2Driver.Get(ctx, key)
}

// TestL2Failure_CorruptEntry: bytes in L2 that do not decode as an entry are
// a miss and an error event, never a panic; GetOrSet then runs the factory.
func TestL2Failure_CorruptEntry(t *testing.T) {
	t.Parallel()
	payloads := []struct {
		name string
		raw  string
	}{
		{"not JSON", "garbage"},
		{"empty", ""},
		{"binary", "\x00\xff\xfe"},
		{"truncated", `{"value":"v","logicalExp`},
		{"null", "null"},
		{"empty object", "{}"},
		{"array", `[1,2,3]`},
		{"wrong field types", `{"value":"v","logicalExpiration":"soon","createdAt":[]}`},
	}
	shapes := []struct {
		name  string
		store func(l2 bento.L2Driver) *bento.Store
	}{
		{"L1L2", func(l2 bento.L2Driver) *bento.Store {
			return bento.NewStore().UseL1(memory.New(memory.Options{})).UseL2(l2)
		}},
		{"L2", func(l2 bento.L2Driver) *bento.Store { return bento.NewStore().UseL2(l2) }},
	}
	for _, shape := range shapes {
		for _, pl := range payloads {
			t.Run(shape.name+"/"+pl.name, func(t *testing.T) {
				t.Parallel()
				synctest.Test(t, func(t *testing.T) {
					m := mapstore.NewL2(mapstore.L2Options{})
					p := startPeer(t, "A", shape.store(m))
					defer p.b.Close()
					ctx := t.Context()
					users := p.cache("users")
					corrupt := func() {
						t.Helper()
						if err := m.Set(ctx, "bento:users:k", []byte(pl.raw), 0); err != nil {
							t.Fatalf("mapstore Set(bento:users:k) = %v", err)
						}
					}
					errorEvents := func() int {
						return p.ev.count(bento.EventError, func(e bento.Event) bool {
							return e.Namespace == "users" && e.Key == "k" && e.Err != nil
						})
					}

					corrupt()
					v, found, err := bento.Get[string](ctx, users, "k")
					if err != nil || found {
						t.Errorf("Get(k) on a corrupt L2 entry = %q, %t, %v; want not found, nil", v, found, err)
					}
					if got := errorEvents(); got != 1 {
						t.Errorf("error events for k after Get on a corrupt L2 entry = %d; want 1", got)
					}

					corrupt()
					if has, err := users.Has(ctx, "k"); has || err != nil {
						t.Errorf("Has(k) on a corrupt L2 entry = %t, %v; want false, nil", has, err)
					}

					corrupt()
					p.ev.reset()
					var runs atomic.Int32
					if v, err := bento.GetOrSet(ctx, users, "k", counted("fresh", &runs)); err != nil || v != "fresh" || runs.Load() != 1 {
						t.Errorf("GetOrSet(k) on a corrupt L2 entry = %q, %v with %d runs; want %q, nil with 1", v, err, runs.Load(), "fresh")
					}
					if got := errorEvents(); got == 0 {
						t.Errorf("error events for k after GetOrSet on a corrupt L2 entry = 0; want some")
					}
					if v, found, err := bento.Get[string](ctx, users, "k"); err != nil || !found || v != "fresh" {
						t.Errorf("Get(k) after GetOrSet replaced a corrupt entry = %q, %t, %v; want %q", v, found, err, "fresh")
					}
				})
			})
		}
	}
}

// TestL2Failure_WrongTypeIsNotCorrupt: an L2 entry that decodes, but not as
// the type asked for, is a type mismatch (ErrTypeMismatch, as from L1), not a
// corrupt entry: it is not reported as undecodable and not removed from L2.
func TestL2Failure_WrongTypeIsNotCorrupt(t *testing.T) {
	t.Parallel()
	shapes := []struct {
		name  string
		store func(l2 bento.L2Driver) *bento.Store
	}{
		{"L2", func(l2 bento.L2Driver) *bento.Store { return bento.NewStore().UseL2(l2) }},
		// A second instance reads the entry from L2 into its own L1.
		{"L1L2", func(l2 bento.L2Driver) *bento.Store {
			return bento.NewStore().UseL1(memory.New(memory.Options{})).UseL2(l2)
		}},
	}
	for _, shape := range shapes {
		t.Run(shape.name, func(t *testing.T) {
			t.Parallel()
			synctest.Test(t, func(t *testing.T) {
				m := mapstore.NewL2(mapstore.L2Options{})
				writer := startPeer(t, "A", shape.store(m))
				defer writer.b.Close()
				reader := startPeer(t, "B", shape.store(m))
				defer reader.b.Close()
				ctx := t.Context()
				writer.mustSet(t, "users", "n", "text")

				v, found, err := bento.Get[int](ctx, reader.cache("users"), "n")
				if !errors.Is(err, bento.ErrTypeMismatch) {
					t.Errorf("Get[int](n) on an L2 entry holding a string = %d, %t, %v; want an error wrapping ErrTypeMismatch", v, found, err)
				}
				if _, found, _ := m.Get(ctx, "bento:users:n"); !found {
					t.Errorf("L2 entry bento:users:n after Get[int](n) = not found; want it kept")
				}
				if got := reader.read(t, "users", "n"); !got.found || got.value != "text" {
					t.Errorf("Get[string](n) after Get[int](n) = %v; want %q", got, "text")
				}
			})
		})
	}
}

// TestL2Failure_TagInvalidationWithL2Down: DeleteByTag and ExpireByTag with
// L2 down still apply locally and on the other instances through the bus;
// then, not suppressed, they return an *L2Error.
func TestL2Failure_TagInvalidationWithL2Down(t *testing.T) {
	t.Parallel()
	kinds := []struct {
		name       string
		invalidate func(c *bento.Cache, ctx context.Context, tags ...string) error
		want       func(r read) bool
		says       string
	}{
		{"DeleteByTag", (*bento.Cache).DeleteByTag, func(r read) bool { return !r.found }, "not found"},
		{"ExpireByTag", (*bento.Cache).ExpireByTag, func(r read) bool { return r.found && r.graced }, "graced"},
	}
	for _, suppressed := range []bool{false, true} {
		for _, kind := range kinds {
			name := kind.name + "/suppressed"
			if !suppressed {
				name = kind.name + "/not suppressed"
			}
			t.Run(name, func(t *testing.T) {
				t.Parallel()
				synctest.Test(t, func(t *testing.T) {
					// No breaker: every call reaches the failing L2.
					ps := newPeers(t, 0, bento.Grace(time.Hour), bento.L2CircuitBreaker(0))
					defer ps.close()
					fl := faultl2.Wrap(ps.l2)
					a := ps.addWith(t, fl, busmem.New(busmem.Options{Hub: ps.hub}), bento.SuppressL2Errors(suppressed))
					b := ps.add(t)
					a.mustSet(t, "users", "k", "v", bento.Tags("x"))
					a.read(t, "users", "k")
					b.read(t, "users", "k")
					advance(5 * time.Millisecond)
					ps.resetEvents()

					fl.Fail(errDown)
					err := kind.invalidate(a.cache("users"), t.Context(), "x")
					if suppressed {
						if err != nil {
							t.Errorf("%s(x) with L2 down, suppressed = %v; want no error", kind.name, err)
						}
					} else {
						asL2Error(t, kind.name+"(x) with L2 down", err)
					}
					synctest.Wait() // the message is delivered
					if got := b.ev.count(bento.EventBusReceived, nil); got != 1 {
						t.Errorf("%s(x) with A's L2 down: bus messages applied by B = %d; want 1", kind.name, got)
					}
					if got := a.read(t, "users", "k", bento.SuppressL2Errors(true)); !kind.want(got) {
						t.Errorf("Get(users, k) on A after %s(x) with L2 down = %v; want %s", kind.name, got, kind.says)
					}
					if got := b.read(t, "users", "k"); !kind.want(got) {
						t.Errorf("Get(users, k) on B after %s(x) on A with A's L2 down = %v; want %s", kind.name, got, kind.says)
					}
				})
			})
		}
	}
}
