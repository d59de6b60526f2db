// Package memory is bento's in-process bus (module bento.buses.memory): it
// connects the stores of one process, for tests and for a single binary that
// runs several instances of a store.
//
// Buses talk through a [Hub]. Delivery is synchronous: [Bus.Publish] returns
// once every subscriber of the channel on the hub, the publishing bus's own
// included, has run its handler. [Hub.Partition] and [Hub.Heal] simulate an
// outage and the reconnect that ends it.
package memory

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"

	"github.com/bentocache/bento"
	"github.com/bentocache/bento/internal/cfblock"
)

var (
	// ErrPartitioned is wrapped by the error [Bus.Publish] returns while the
	// bus's hub is partitioned (see [Hub.Partition]).
	ErrPartitioned = errors.New("memory bus: hub partitioned")
	// ErrClosed is returned by [Bus.Publish] and [Bus.Subscribe] after
	// [Bus.Disconnect].
	ErrClosed = errors.New("memory bus: bus closed")
)

func init() { caddy.RegisterModule(Bus{}) }

// defaultHub connects every Bus created with a nil [Options.Hub].
var defaultHub = NewHub()

// Hub connects buses: a payload published on a channel by any bus of the hub
// reaches every subscription to that channel on the hub. A Hub is safe for
// concurrent use. The zero value is an empty hub, ready to use.
type Hub struct {
	mu          sync.Mutex
	partitioned bool
	// channels holds the live subscriptions of each channel. A slice is never
	// modified once stored (copy on write), so Publish can range over it
	// without the lock.
	channels  map[string][]*subscription
	reconnect map[*Bus][]func()
}

// NewHub returns an empty hub, not partitioned.
func NewHub() *Hub {
	return new(Hub)
}

// Partition simulates an outage: until [Hub.Heal], Publish on any bus of the
// hub returns an error wrapping [ErrPartitioned] and delivers nothing.
// Subscriptions are kept. Partitioning a partitioned hub does nothing.
func (h *Hub) Partition() {
	h.mu.Lock()
	h.partitioned = true
	h.mu.Unlock()
}

// Heal ends a partition, then calls every callback registered with
// [Bus.OnReconnect] on the hub's connected buses, one after the other, on the
// calling goroutine. Healing a hub that is not partitioned does nothing.
func (h *Hub) Heal() {
	h.mu.Lock()
	if !h.partitioned {
		h.mu.Unlock()
		return
	}
	h.partitioned = false
	var fns []func()
	for _, bfns := range h.reconnect {
		fns = append(fns, bfns...)
	}
	h.mu.Unlock()
	for _, f := range fns {
		f()
	}
}

// Options configures a [Bus].
type Options struct {
	// Hub is the hub the bus publishes and subscribes on. Nil means a
	// process-wide default hub shared by every Bus created with a nil Hub, so
	// that two stores of one binary need no wiring to see each other; tests
	// should give each test its own hub with [NewHub].
	Hub *Hub
}

// Bus is a [bento.Bus] that moves payloads between the buses of one [Hub],
// within the process. Module ID: bento.buses.memory.
type Bus struct {
	hub *Hub
	// The fields below are guarded by hub.mu.
	closed bool
	subs   map[string]*subscription
}

// New returns a bus on o.Hub (or the default hub). It does no I/O and never
// fails.
func New(o Options) *Bus {
	b := &Bus{}
	b.init(o)
	return b
}

func (b *Bus) init(o Options) {
	b.hub = o.Hub
	if b.hub == nil {
		b.hub = defaultHub
	}
	b.subs = make(map[string]*subscription)
}

// CaddyModule returns the Caddy module information.
func (Bus) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{ID: "bento.buses.memory", New: func() caddy.Module { return new(Bus) }}
}

// Provision puts a bus from config on the process-wide default hub, so that
// the stores of one server see each other. It has no options.
func (b *Bus) Provision(caddy.Context) error {
	b.init(Options{})
	return nil
}

// Cleanup disconnects the bus.
func (b *Bus) Cleanup() error { return b.Disconnect() }

// UnmarshalCaddyfile reads the block of the memory bus, which takes no
// options:
//
//	memory
func (b *Bus) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	return cfblock.NoOptions(d, "the memory bus")
}

// Publish delivers a copy of payload to every subscription to channel on
// the hub, the bus's own included, and returns once their handlers have run.
//
// NOTE: a subscription whose handler is already running (on another
// goroutine, or because that handler is the one calling Publish) cannot run
// again at once: the payload is queued and the call already running the
// handler delivers it as soon as the handler returns. A handler may therefore
// publish, even on its own channel, without deadlocking.
func (b *Bus) Publish(ctx context.Context, channel string, payload []byte) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("memory bus: publishing on %q: %w", channel, err)
	}
	h := b.hub
	h.mu.Lock()
	if b.closed {
		h.mu.Unlock()
		return ErrClosed
	}
	if h.partitioned {
		h.mu.Unlock()
		return fmt.Errorf("memory bus: publishing on %q: %w", channel, ErrPartitioned)
	}
	subs := h.channels[channel]
	h.mu.Unlock()
	for _, s := range subs {
		s.deliver(payload)
	}
	return nil
}

// Subscribe calls handler with a copy of every payload published on channel
// by any bus of the hub, until [Bus.Unsubscribe] or [Bus.Disconnect].
// Subscribing again to a channel replaces the handler.
func (b *Bus) Subscribe(ctx context.Context, channel string, handler func(payload []byte)) error {
	if handler == nil {
		return fmt.Errorf("memory bus: subscribing to %q: nil handler", channel)
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("memory bus: subscribing to %q: %w", channel, err)
	}
	s := &subscription{handler: handler, active: true}
	h := b.hub
	h.mu.Lock()
	if b.closed {
		h.mu.Unlock()
		return ErrClosed
	}
	if h.channels == nil {
		h.channels = make(map[string][]*subscription)
	}
	old := b.subs[channel]
	b.subs[channel] = s
	h.channels[channel] = append(without(h.channels[channel], old), s)
	h.mu.Unlock()
	old.stop()
	return nil
}

// Unsubscribe stops deliveries on channel: once it returns, the handler is
// not called again (a call already running finishes). Unsubscribing from a
// channel the bus is not subscribed to, or after Disconnect, does nothing.
func (b *Bus) Unsubscribe(ctx context.Context, channel string) error {
	h := b.hub
	h.mu.Lock()
	s := b.subs[channel]
	if s != nil {
		delete(b.subs, channel)
		h.remove(channel, s)
	}
	h.mu.Unlock()
	s.stop()
	return nil
}

// OnReconnect registers f, called by [Hub.Heal] each time the hub's partition
// ends. After Disconnect, f is ignored.
func (b *Bus) OnReconnect(f func()) {
	if f == nil {
		return
	}
	h := b.hub
	h.mu.Lock()
	if !b.closed {
		if h.reconnect == nil {
			h.reconnect = make(map[*Bus][]func())
		}
		h.reconnect[b] = append(h.reconnect[b], f)
	}
	h.mu.Unlock()
}

// Disconnect removes the bus's subscriptions and reconnect callbacks from the
// hub; Publish and Subscribe then return [ErrClosed]. Calling it twice is
// fine.
func (b *Bus) Disconnect() error {
	h := b.hub
	h.mu.Lock()
	if b.closed {
		h.mu.Unlock()
		return nil
	}
	b.closed = true
	subs := b.subs
	b.subs = nil
	for channel, s := range subs {
		h.remove(channel, s)
	}
	delete(h.reconnect, b)
	h.mu.Unlock()
	for _, s := range subs {
		s.stop()
	}
	return nil
}

// remove drops s from channel's subscriptions. h.mu must be held.
func (h *Hub) remove(channel string, s *subscription) {
	if rest := without(h.channels[channel], s); len(rest) > 0 {
		h.channels[channel] = rest
	} else {
		delete(h.channels, channel)
	}
}

// without returns a new slice of subs without s (copy on write).
func without(subs []*subscription, s *subscription) []*subscription {
	out := make([]*subscription, 0, len(subs))
	for _, x := range subs {
		if x != s {
			out = append(out, x)
		}
	}
	return out
}

// subscription is one handler on one channel. Its handler runs on one
// goroutine at a time: the first publisher to find it idle runs it for its own
// payload and for whatever other publishers queue meanwhile.
type subscription struct {
	handler func([]byte)

	mu      sync.Mutex
	active  bool     // false once unsubscribed: queued payloads are dropped
	running bool     // a goroutine is draining queue
	queue   [][]byte // payloads waiting for the handler, oldest first
}

// deliver runs the handler on a copy of payload, or queues the copy for the
// goroutine already running the handler.
func (s *subscription) deliver(payload []byte) {
	s.mu.Lock()
	if !s.active {
		s.mu.Unlock()
		return
	}
	s.queue = append(s.queue, append([]byte(nil), payload...))
	if s.running {
		s.mu.Unlock()
		return
	}
	s.running = true
	defer func() {
		// Reached with the lock held, also when the handler panics: the
		// panic goes on to the publisher, and the next delivery drains what
		// is left in the queue.
		s.running = false
		s.mu.Unlock()
	}()
	for s.active && len(s.queue) > 0 {
		p := s.queue[0]
		s.queue[0] = nil
		s.queue = s.queue[1:]
		s.mu.Unlock()
		s.call(p)
	}
	s.queue = nil
}

// call runs the handler, which must be called without s.mu, and returns with
// s.mu held: also when the handler panics or calls runtime.Goexit (t.Fatal),
// so that deliver's deferred unlock always finds the lock held.
func (s *subscription) call(p []byte) {
	defer s.mu.Lock()
	s.handler(p)
}

// stop makes s deliver nothing more. It is nil-safe.
func (s *subscription) stop() {
	if s == nil {
		return
	}
	s.mu.Lock()
	s.active = false
	s.queue = nil
	s.mu.Unlock()
}

// Interface guards
var (
	_ bento.Bus             = (*Bus)(nil)
	_ caddy.Provisioner     = (*Bus)(nil)
	_ caddy.CleanerUpper    = (*Bus)(nil)
	_ caddyfile.Unmarshaler = (*Bus)(nil)
)
