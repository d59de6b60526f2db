package memory

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/bentocache/bento"
	"github.com/bentocache/bento/drivertest"
)

// newBus returns a bus on h, disconnected when the test ends.
func newBus(t *testing.T, h *Hub) *Bus {
	t.Helper()
	b := New(Options{Hub: h})
	t.Cleanup(func() { b.Disconnect() })
	return b
}

// recorder collects the payloads its handler receives. Deliveries in these
// tests happen on the test goroutine unless a test says otherwise, but the
// lock keeps -race quiet when they do not.
type recorder struct {
	mu  sync.Mutex
	got []string
}

func (r *recorder) handle(p []byte) {
	r.mu.Lock()
	r.got = append(r.got, string(p))
	r.mu.Unlock()
}

func (r *recorder) payloads() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.got)
}

func subscribe(t *testing.T, b *Bus, channel string) *recorder {
	t.Helper()
	r := new(recorder)
	if err := b.Subscribe(t.Context(), channel, r.handle); err != nil {
		t.Fatalf("Subscribe(ctx, %q) = %v; want nil", channel, err)
	}
	return r
}

func publish(t *testing.T, b *Bus, channel, payload string) {
	t.Helper()
	if err := b.Publish(t.Context(), channel, []byte(payload)); err != nil {
		t.Fatalf("Publish(ctx, %q, %q) = %v; want nil", channel, payload, err)
	}
}

func wantPayloads(t *testing.T, who string, r *recorder, want ...string) {
	t.Helper()
	if got := r.payloads(); !slices.Equal(got, want) {
		t.Errorf("%s received %q; want %q", who, got, want)
	}
}

func TestBus_PublishIsSynchronous(t *testing.T) {
	h := NewHub()
	a, b, c := newBus(t, h), newBus(t, h), newBus(t, h)
	ra := subscribe(t, a, "ch")
	rb := subscribe(t, b, "ch")
	rc := subscribe(t, c, "other")

	publish(t, a, "ch", "m1")
	publish(t, b, "ch", "m2")

	wantPayloads(t, "publisher's own subscription", ra, "m1", "m2")
	wantPayloads(t, "peer subscription", rb, "m1", "m2")
	wantPayloads(t, "subscription to another channel", rc)
}

func TestBus_HubsAreIsolated(t *testing.T) {
	a, b := newBus(t, NewHub()), newBus(t, NewHub())
	rb := subscribe(t, b, "ch")
	publish(t, a, "ch", "m")
	wantPayloads(t, "subscription on another hub", rb)
}

func TestBus_DefaultHub(t *testing.T) {
	a, b := newBus(t, nil), newBus(t, nil)
	channel := "memory-bus-test-" + t.Name()
	rb := subscribe(t, b, channel)
	publish(t, a, channel, "m")
	wantPayloads(t, "subscription on the default hub", rb, "m")
}

func TestBus_HandlersGetTheirOwnCopy(t *testing.T) {
	h := NewHub()
	a, b := newBus(t, h), newBus(t, h)
	var seen []string
	scribble := func(p []byte) {
		seen = append(seen, string(p))
		for i := range p {
			p[i] = 'X'
		}
	}
	for _, bus := range []*Bus{a, b} {
		if err := bus.Subscribe(t.Context(), "ch", scribble); err != nil {
			t.Fatal(err)
		}
	}
	payload := []byte("hello")
	if err := a.Publish(t.Context(), "ch", payload); err != nil {
		t.Fatal(err)
	}
	if want := []string{"hello", "hello"}; !slices.Equal(seen, want) {
		t.Errorf("handlers received %q; want %q (each handler its own copy)", seen, want)
	}
	if string(payload) != "hello" {
		t.Errorf("after Publish the caller's payload is %q; want %q untouched", payload, "hello")
	}
}

func TestBus_Unsubscribe(t *testing.T) {
	h := NewHub()
	a, b := newBus(t, h), newBus(t, h)
	ra := subscribe(t, a, "ch")
	rb := subscribe(t, b, "ch")
	if err := b.Unsubscribe(t.Context(), "ch"); err != nil {
		t.Fatalf("Unsubscribe(ctx, %q) = %v; want nil", "ch", err)
	}
	if err := b.Unsubscribe(t.Context(), "never-subscribed"); err != nil {
		t.Errorf("Unsubscribe(ctx, %q) = %v; want nil for a channel never subscribed", "never-subscribed", err)
	}
	publish(t, a, "ch", "m")
	wantPayloads(t, "remaining subscription", ra, "m")
	wantPayloads(t, "unsubscribed handler", rb)

	rb2 := subscribe(t, b, "ch")
	publish(t, a, "ch", "m2")
	wantPayloads(t, "subscription made again", rb2, "m2")
}

func TestBus_SubscribeAgainReplaces(t *testing.T) {
	b := newBus(t, NewHub())
	first := subscribe(t, b, "ch")
	second := subscribe(t, b, "ch")
	publish(t, b, "ch", "m")
	wantPayloads(t, "replaced handler", first)
	wantPayloads(t, "new handler", second, "m")
}

func TestBus_Disconnect(t *testing.T) {
	h := NewHub()
	a, b := newBus(t, h), newBus(t, h)
	ra := subscribe(t, a, "ch")
	rb := subscribe(t, b, "ch")
	reconnects := 0
	b.OnReconnect(func() { reconnects++ })

	for i := range 2 {
		if err := b.Disconnect(); err != nil {
			t.Fatalf("Disconnect() #%d = %v; want nil", i+1, err)
		}
	}
	publish(t, a, "ch", "m")
	wantPayloads(t, "live bus", ra, "m")
	wantPayloads(t, "disconnected bus", rb)

	if err := b.Publish(t.Context(), "ch", []byte("m")); !errors.Is(err, ErrClosed) {
		t.Errorf("Publish after Disconnect = %v; want ErrClosed", err)
	}
	if err := b.Subscribe(t.Context(), "ch", rb.handle); !errors.Is(err, ErrClosed) {
		t.Errorf("Subscribe after Disconnect = %v; want ErrClosed", err)
	}
	if err := b.Unsubscribe(t.Context(), "ch"); err != nil {
		t.Errorf("Unsubscribe after Disconnect = %v; want nil", err)
	}
	b.OnReconnect(func() { reconnects++ })
	h.Partition()
	h.Heal()
	if reconnects != 0 {
		t.Errorf("Heal called a disconnected bus's OnReconnect callbacks %d times; want 0", reconnects)
	}
}

func TestHub_PartitionAndHeal(t *testing.T) {
	h := NewHub()
	a, b := newBus(t, h), newBus(t, h)
	rb := subscribe(t, b, "ch")
	var calls []string
	a.OnReconnect(func() { calls = append(calls, "a1") })
	a.OnReconnect(func() { calls = append(calls, "a2") })
	b.OnReconnect(func() { calls = append(calls, "b") })

	h.Heal()
	if len(calls) != 0 {
		t.Fatalf("Heal without Partition called %q; want no callback", calls)
	}

	h.Partition()
	h.Partition()
	for _, bus := range []*Bus{a, b} {
		err := bus.Publish(t.Context(), "ch", []byte("lost"))
		if !errors.Is(err, ErrPartitioned) {
			t.Errorf("Publish while partitioned = %v; want an error wrapping ErrPartitioned", err)
		}
	}
	// Subscribing is local: it works during a partition.
	ra := subscribe(t, a, "ch")
	wantPayloads(t, "subscription during the partition", rb)

	h.Heal()
	slices.Sort(calls)
	if want := []string{"a1", "a2", "b"}; !slices.Equal(calls, want) {
		t.Errorf("Heal called %q; want every OnReconnect callback once: %q", calls, want)
	}
	publish(t, a, "ch", "after")
	wantPayloads(t, "subscription after Heal", rb, "after")
	wantPayloads(t, "subscription made during the partition", ra, "after")

	h.Heal()
	if len(calls) != 3 {
		t.Errorf("a second Heal called callbacks again (%q); want nothing", calls)
	}
}

func TestHub_HealCallbackMayPublish(t *testing.T) {
	h := NewHub()
	a := newBus(t, h)
	ra := subscribe(t, a, "ch")
	a.OnReconnect(func() {
		if err := a.Publish(context.Background(), "ch", []byte("resync")); err != nil {
			t.Errorf("Publish from an OnReconnect callback = %v; want nil", err)
		}
	})
	h.Partition()
	h.Heal()
	wantPayloads(t, "subscription", ra, "resync")
}

func TestBus_ContextCanceled(t *testing.T) {
	b := newBus(t, NewHub())
	r := subscribe(t, b, "ch")
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if err := b.Publish(ctx, "ch", []byte("m")); !errors.Is(err, context.Canceled) {
		t.Errorf("Publish(canceled ctx) = %v; want an error wrapping context.Canceled", err)
	}
	if err := b.Subscribe(ctx, "other", r.handle); !errors.Is(err, context.Canceled) {
		t.Errorf("Subscribe(canceled ctx) = %v; want an error wrapping context.Canceled", err)
	}
	wantPayloads(t, "subscription", r)
}

func TestBus_SubscribeNilHandler(t *testing.T) {
	b := newBus(t, NewHub())
	if err := b.Subscribe(t.Context(), "ch", nil); err == nil {
		t.Error("Subscribe(ctx, \"ch\", nil) = nil; want an error")
	}
}

func TestBus_HandlerMayPublish(t *testing.T) {
	h := NewHub()
	a, b := newBus(t, h), newBus(t, h)
	rOther := subscribe(t, a, "other")
	var got []string
	// b's handler answers every "ping" on its own channel and on another one.
	err := b.Subscribe(t.Context(), "ch", func(p []byte) {
		got = append(got, string(p))
		if string(p) != "ping" {
			return
		}
		if err := b.Publish(context.Background(), "other", []byte("pong")); err != nil {
			t.Errorf("Publish from a handler = %v", err)
		}
		if err := b.Publish(context.Background(), "ch", []byte("echo")); err != nil {
			t.Errorf("Publish on the handler's own channel = %v", err)
		}
		if err := b.Unsubscribe(context.Background(), "unrelated"); err != nil {
			t.Errorf("Unsubscribe from a handler = %v", err)
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	publish(t, a, "ch", "ping")
	if want := []string{"ping", "echo"}; !slices.Equal(got, want) {
		t.Errorf("handler received %q; want %q, all before the outer Publish returned", got, want)
	}
	wantPayloads(t, "other channel", rOther, "pong")
}

func TestBus_HandlerMayUnsubscribeItself(t *testing.T) {
	b := newBus(t, NewHub())
	calls := 0
	err := b.Subscribe(t.Context(), "ch", func([]byte) {
		calls++
		if err := b.Unsubscribe(context.Background(), "ch"); err != nil {
			t.Errorf("Unsubscribe from its own handler = %v", err)
		}
		// Queued behind this call, then dropped: the subscription is gone.
		if err := b.Publish(context.Background(), "ch", nil); err != nil {
			t.Errorf("Publish = %v", err)
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	publish(t, b, "ch", "m")
	publish(t, b, "ch", "m")
	if calls != 1 {
		t.Errorf("handler ran %d times; want 1 (it unsubscribed itself)", calls)
	}
}

func TestBus_HandlerNeverConcurrent(t *testing.T) {
	h := NewHub()
	const publishers, each = 8, 200
	sub := newBus(t, h)
	var inside, overlaps, delivered atomic.Int64
	err := sub.Subscribe(t.Context(), "ch", func([]byte) {
		if inside.Add(1) > 1 {
			overlaps.Add(1)
		}
		delivered.Add(1)
		inside.Add(-1)
	})
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for i := range publishers {
		pub := newBus(t, h)
		wg.Go(func() {
			for j := range each {
				if err := pub.Publish(context.Background(), "ch", fmt.Appendf(nil, "%d/%d", i, j)); err != nil {
					t.Errorf("Publish = %v", err)
					return
				}
			}
		})
	}
	wg.Wait()
	if n := overlaps.Load(); n != 0 {
		t.Errorf("handler ran concurrently with itself %d times; want never", n)
	}
	if got, want := delivered.Load(), int64(publishers*each); got != want {
		t.Errorf("after every Publish returned, handler ran %d times; want %d", got, want)
	}
}

// TestBus_BusySubscription pins down what happens when a payload arrives for
// a subscription whose handler is running on another goroutine: it is queued
// for that goroutine, and dropped if the subscription ends first.
func TestBus_BusySubscription(t *testing.T) {
	h := NewHub()
	pub, sub := newBus(t, h), newBus(t, h)
	started, release := make(chan struct{}), make(chan struct{})
	r := new(recorder)
	err := sub.Subscribe(t.Context(), "ch", func(p []byte) {
		r.handle(p)
		if string(p) == "block" {
			close(started)
			<-release
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error)
	go func() { done <- pub.Publish(context.Background(), "ch", []byte("block")) }()
	<-started

	publish(t, pub, "ch", "queued") // returns at once: the handler is busy
	if err := sub.Unsubscribe(t.Context(), "ch"); err != nil {
		t.Fatal(err)
	}
	close(release)
	if err := <-done; err != nil {
		t.Fatalf("Publish(block) = %v", err)
	}
	wantPayloads(t, "handler unsubscribed while busy", r, "block")
}

func TestBus_HandlerPanicDoesNotWedge(t *testing.T) {
	b := newBus(t, NewHub())
	r := new(recorder)
	err := b.Subscribe(t.Context(), "ch", func(p []byte) {
		if string(p) == "panic" {
			panic("boom")
		}
		r.handle(p)
	})
	if err != nil {
		t.Fatal(err)
	}
	func() {
		defer func() {
			if recover() == nil {
				t.Error("Publish did not propagate the handler's panic")
			}
		}()
		b.Publish(t.Context(), "ch", []byte("panic"))
	}()
	publish(t, b, "ch", "after")
	wantPayloads(t, "handler after a panic", r, "after")
}

func TestHub_ZeroValue(t *testing.T) {
	var h Hub
	a := newBus(t, &h)
	r := subscribe(t, a, "ch")
	reconnected := false
	a.OnReconnect(func() { reconnected = true })
	publish(t, a, "ch", "m")
	wantPayloads(t, "subscription on a zero Hub", r, "m")
	h.Partition()
	h.Heal()
	if !reconnected {
		t.Error("Heal on a zero Hub did not call OnReconnect callbacks")
	}
}

// TestBus_Compliance runs drivertest.Bus with every bus of a test on one hub.
func TestBus_Compliance(t *testing.T) {
	h := NewHub()
	drivertest.Bus(t, func(t *testing.T) bento.Bus {
		return newBus(t, h)
	}, drivertest.Options{})
}
