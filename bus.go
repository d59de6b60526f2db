package bento

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"strings"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/bentocache/bento/internal/wire"
)

// closeTimeout bounds the bus work done by Close and by a failed New.
const closeTimeout = 5 * time.Second

// busLink connects a store to its bus: it publishes this instance's
// invalidations, applies the other instances' ones to the local L1, queues
// what could not be published, and resyncs after a reconnect.
type busLink struct {
	st      *store
	bus     Bus
	channel string
	id      string // this instance's node id; its own messages are ignored
	queue   retryQueue

	subscribed bool // start subscribed (for abort)
}

func newBusLink(st *store, bus Bus) *busLink {
	channel := st.opts.busChannel
	if channel == "" {
		channel = "bento.bus:" + st.opts.prefix + ":" + st.name
	}
	var id [8]byte
	_, _ = rand.Read(id[:]) // crypto/rand.Read never fails
	return &busLink{
		st:      st,
		bus:     bus,
		channel: channel,
		id:      hex.EncodeToString(id[:]),
		queue:   retryQueue{max: st.opts.retryQueueSize},
	}
}

func (bl *busLink) start() error {
	if err := bl.bus.Subscribe(bl.st.b.ctx, bl.channel, bl.receive); err != nil {
		return fmt.Errorf("bento: store %q: bus: subscribing to %q: %w", bl.st.name, bl.channel, err)
	}
	bl.subscribed = true
	bl.bus.OnReconnect(bl.reconnected)
	if bl.queue.max >= 0 {
		bl.st.b.goBackground(bl.retryLoop)
	}
	return nil
}

// close makes one last attempt to send what is queued, then disconnects.
// Messages that still cannot be sent are dropped, and their number logged.
func (bl *busLink) close() error {
	ctx, cancel := context.WithTimeout(context.Background(), closeTimeout)
	defer cancel()
	bl.flush(ctx)
	if n := bl.queue.len(); n > 0 {
		bl.st.logger.Warn("bus messages dropped at close", zap.String("channel", bl.channel), zap.Int("messages", n))
	}
	return bl.bus.Disconnect()
}

// publish tells the other instances what happened to keys of c's namespace.
func (c *Cache) publish(ctx context.Context, kind wire.Kind, keys ...string) {
	bl := c.st.bus
	if bl == nil {
		return
	}
	m := wire.Message{Sender: bl.id, Kind: kind, Namespace: c.path, Keys: keys, Time: c.st.b.now()}
	payload, err := m.AppendBinary(nil)
	if err != nil {
		c.st.logger.Error("bus message not encodable", zap.String("namespace", c.path), zap.Error(err))
		return
	}
	if err := bl.bus.Publish(ctx, bl.channel, payload); err != nil {
		bl.failed(&m, payload, err)
		return
	}
	c.emit(Event{Kind: EventBusPublished, Keys: visible(keys), Layer: LayerBus})
}

// visible returns the keys of a message that events may show: tag
// bookkeeping keys never do (a tag invalidation's message shows no key).
func visible(keys []string) []string {
	var out []string
	for _, k := range keys {
		if _, internal := isTagKey(k); !internal {
			out = append(out, k)
		}
	}
	return out
}

// failed queues a message whose publication failed, for a later retry.
func (bl *busLink) failed(m *wire.Message, payload []byte, err error) {
	if bl.queue.max < 0 {
		bl.st.logger.Warn("bus publish failed; message dropped (retry queue off)",
			zap.String("channel", bl.channel), zap.Stringer("kind", m.Kind), zap.Error(err))
		return
	}
	bl.st.logger.Warn("bus publish failed; message queued for retry",
		zap.String("channel", bl.channel), zap.Stringer("kind", m.Kind), zap.Error(err))
	bl.queue.push(dedupeKey(m), payload)
}

// dedupeKey identifies a message regardless of its time: queuing the same
// invalidation twice sends it once.
func dedupeKey(m *wire.Message) string {
	return fmt.Sprintf("%d\x00%s\x00%s", m.Kind, m.Namespace, strings.Join(m.Keys, "\x00"))
}

func (bl *busLink) retryLoop() {
	t := time.NewTicker(bl.st.opts.retryInterval)
	defer t.Stop()
	for {
		select {
		case <-bl.st.b.ctx.Done():
			return
		case <-t.C:
			bl.flush(bl.st.b.ctx)
		}
	}
}

// flush publishes the queued messages in order, stopping at the first failure.
func (bl *busLink) flush(ctx context.Context) {
	for {
		it, ok := bl.queue.peek()
		if !ok {
			return
		}
		if err := bl.bus.Publish(ctx, bl.channel, it.payload); err != nil {
			return
		}
		bl.queue.remove(it)
	}
}

// reconnected runs when the bus reconnects after losing its connection. The
// messages published meanwhile are lost to this instance, and it cannot know
// which, so it clears its whole L1 for the store and forgets the tag records
// it read; then it sends what it had queued.
func (bl *busLink) reconnected() {
	st := bl.st
	if st.b.ctx.Err() != nil {
		return // the manager is closed, or its New failed: not ours any more
	}
	st.logger.Info("bus reconnected; resyncing l1", zap.String("channel", bl.channel))
	st.under("", func(c *Cache) { c.tags.reset() })
	st.invalidateNamespaces("", func() {
		if st.l1 != nil {
			st.l1.Clear()
		}
	})
	st.b.goBackground(func() { bl.flush(st.b.ctx) })
}

// receive applies a message from the bus.
func (bl *busLink) receive(payload []byte) {
	st := bl.st
	m, err := wire.Decode(payload)
	if err != nil {
		st.logger.Warn("malformed bus message dropped", zap.String("channel", bl.channel), zap.Error(err))
		return
	}
	if m.Sender == bl.id {
		return
	}
	c := st.cache(m.Namespace)
	switch m.Kind {
	case wire.KindSet, wire.KindExpire, wire.KindDelete:
		now := st.b.now()
		keys := make([]string, 0, len(m.Keys))
		for _, k := range m.Keys {
			if tag, ok := isTagKey(k); ok {
				c.applyTag(tag, m.Kind, m.Time)
				// Entries written here after the message must outlive it, even
				// within the same millisecond.
				atomicMax(&st.lastInvalidation, m.Time)
				c.tagsInvalidated([]string{tag})
				continue
			}
			keys = append(keys, k)
		}
		if len(keys) > 0 {
			c.invalidateKeys(keys, func() {
				for _, k := range keys {
					if m.Kind != wire.KindDelete {
						c.staleL1(k, now)
					} else if c.l1 != nil {
						c.l1.Delete(k)
					}
				}
			})
		}
	case wire.KindClear:
		st.invalidateNamespaces(c.path, func() {
			if c.l1 != nil {
				c.l1.Clear()
			}
		})
	}
	c.emit(Event{Kind: EventBusReceived, Keys: visible(m.Keys), Layer: LayerBus})
}

// staleL1 makes the L1 copy of key stale, keeping its physical lifetime, so
// that it stays usable under grace while the next read looks at L2.
func (c *Cache) staleL1(key string, now int64) {
	e := c.l1Entry(key)
	if e == nil || !e.fresh(now) {
		return
	}
	ttl, ok := c.l1.RemainingTTL(key)
	if !ok {
		return
	}
	c.l1.Set(key, e.staled(), ttl)
}

// retryQueue holds bus messages whose publication failed, oldest first,
// deduplicated, optionally bounded (dropping the oldest).
type retryQueue struct {
	max   int // 0: unbounded; < 0: off
	mu    sync.Mutex
	items []*queued
	byKey map[string]*queued
}

// queued is a snapshot of one queue item; version tells a replaced payload.
type queued struct {
	key     string
	payload []byte
	version int
}

func (q *retryQueue) push(key string, payload []byte) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if it := q.byKey[key]; it != nil {
		it.payload = payload // the newer time wins
		it.version++
		return
	}
	if q.byKey == nil {
		q.byKey = make(map[string]*queued)
	}
	if q.max > 0 && len(q.items) >= q.max {
		delete(q.byKey, q.items[0].key)
		q.items = q.items[1:]
	}
	it := &queued{key: key, payload: payload}
	q.items = append(q.items, it)
	q.byKey[key] = it
}

// peek returns a copy of the oldest item.
func (q *retryQueue) peek() (queued, bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if len(q.items) == 0 {
		return queued{}, false
	}
	return *q.items[0], true
}

// remove drops the item that peek returned, unless it was replaced since.
func (q *retryQueue) remove(it queued) {
	q.mu.Lock()
	defer q.mu.Unlock()
	cur := q.byKey[it.key]
	if cur == nil || cur.version != it.version {
		return
	}
	for i, x := range q.items {
		if x == cur {
			q.items = append(q.items[:i], q.items[i+1:]...)
			delete(q.byKey, it.key)
			return
		}
	}
}

func (q *retryQueue) len() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return len(q.items)
}
