package bento

import (
	"container/list"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/bentocache/bento/internal/bcwire"
	"github.com/bentocache/bento/internal/wire"
)

// closeTimeout bounds the bus work done by Close and by a failed New.
const closeTimeout = 5 * time.Second

// publishTimeout bounds one publication, so that a bus connection that hangs
// silently holds up the outbox, never a write.
const publishTimeout = 5 * time.Second

// maxBatchKeys bounds the keys of one message that joins queued messages.
const maxBatchKeys = 256

// busLink connects a store to its bus: it publishes this instance's
// invalidations from an ordered outbox, applies the other instances' ones to
// the local L1, and resyncs after a reconnect.
type busLink struct {
	st      *store
	bus     Bus
	channel string
	id      string // this instance's node id; its own messages are ignored
	codec   busCodec
	out     outbox

	subscribed bool // start subscribed (for abort)
}

func newBusLink(st *store, bus Bus) *busLink {
	bl := &busLink{
		st:  st,
		bus: bus,
		out: outbox{max: st.opts.retryQueueSize, wake: make(chan struct{}, 1)},
	}
	if st.opts.compat {
		bl.channel, bl.id, bl.codec = bcwire.Channel(st.name), bcwire.NewBusID(), bentoCacheCodec{prefix: st.opts.prefix, now: func() int64 { return st.b.now() }}
	} else {
		var id [8]byte
		_, _ = rand.Read(id[:]) // crypto/rand.Read never fails
		bl.channel, bl.id, bl.codec = "bento.bus:"+st.opts.prefix+":"+st.name, hex.EncodeToString(id[:]), wireCodec{}
	}
	if st.opts.busChannel != "" {
		bl.channel = st.opts.busChannel
	}
	return bl
}

// busCodec turns the store's bus messages into payloads on its channel, and
// payloads from the channel back into messages.
type busCodec interface {
	encode(m *wire.Message) ([]byte, error)
	// decode returns ok false, without an error, for a well-formed payload
	// that is not for this store (a foreign namespace).
	decode(payload []byte) (m wire.Message, ok bool, err error)
}

// wireCodec is bento's own bus encoding (internal/wire).
type wireCodec struct{}

func (wireCodec) encode(m *wire.Message) ([]byte, error) { return m.AppendBinary(nil) }

func (wireCodec) decode(payload []byte) (wire.Message, bool, error) {
	m, err := wire.Decode(payload)
	return m, err == nil, err
}

func (bl *busLink) start() error {
	if err := bl.bus.Subscribe(bl.st.b.ctx, bl.channel, bl.receive); err != nil {
		return fmt.Errorf("bento: store %q: bus: subscribing to %q: %w", bl.st.name, bl.channel, err)
	}
	bl.subscribed = true
	bl.bus.OnReconnect(bl.reconnected)
	bl.st.b.goBackground(bl.sender)
	return nil
}

// close makes one last attempt to send what is queued, then disconnects.
// Messages that still cannot be sent are dropped, and their number logged.
func (bl *busLink) close() error {
	ctx, cancel := context.WithTimeout(context.Background(), closeTimeout)
	defer cancel()
	bl.flush(ctx)
	if n := bl.out.len(); n > 0 {
		bl.st.logger.Warn("bus messages dropped at close", zap.String("channel", bl.channel), zap.Int("messages", n))
	}
	return bl.bus.Disconnect()
}

// publish tells the other instances what happened to keys of c's namespace.
// It never waits for the bus: the message joins the store's outbox, which
// one goroutine sends in order.
func (c *Cache) publish(_ context.Context, kind wire.Kind, keys ...string) {
	bl := c.st.bus
	if bl == nil {
		return
	}
	bl.out.push(wire.Message{Sender: bl.id, Kind: kind, Namespace: c.path, Keys: keys, Time: c.st.b.now()})
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

// sender sends the outbox whenever a message joins it, and retries what
// failed on the retry interval, until the manager closes.
func (bl *busLink) sender() {
	t := time.NewTicker(bl.st.opts.retryInterval)
	defer t.Stop()
	ctx := bl.st.b.ctx
	for {
		select {
		case <-ctx.Done():
			return
		case <-bl.out.wake:
		case <-t.C:
		}
		bl.flush(ctx)
	}
}

// flush publishes the outbox in order until it is empty or a publication
// fails. A failed message stays first in the outbox for the next flush —
// unless the retry queue is off, which drops it.
func (bl *busLink) flush(ctx context.Context) {
	for {
		b, ok := bl.out.next()
		if !ok {
			return
		}
		payload, err := bl.codec.encode(&b.msg)
		if err != nil {
			bl.st.logger.Error("bus message not encodable; dropped", zap.String("namespace", b.msg.Namespace), zap.Error(err))
			bl.out.done(b)
			continue
		}
		pctx, cancel := context.WithTimeout(ctx, publishTimeout)
		err = bl.bus.Publish(pctx, bl.channel, payload)
		cancel()
		if err != nil {
			if bl.out.max < 0 {
				bl.st.stats.busOut[1].Add(1)
				bl.st.logger.Warn("bus publish failed; message dropped (retry queue off)",
					zap.String("channel", bl.channel), zap.Stringer("kind", b.msg.Kind), zap.Error(err))
				bl.out.done(b)
				continue
			}
			bl.st.stats.busOut[1].Add(1)
			bl.st.logger.Warn("bus publish failed; messages kept for retry",
				zap.String("channel", bl.channel), zap.Int("queued", bl.out.len()), zap.Error(err))
			return
		}
		bl.out.done(b)
		for _, m := range b.parts {
			bl.st.emit(m.Namespace, Event{Kind: EventBusPublished, Keys: visible(m.Keys), Layer: LayerBus})
		}
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
	select {
	case bl.out.wake <- struct{}{}: // send what waited for the bus
	default:
	}
}

// receive applies a message from the bus.
func (bl *busLink) receive(payload []byte) {
	st := bl.st
	m, ok, err := bl.codec.decode(payload)
	if err != nil {
		st.stats.busIn[1].Add(1)
		st.logger.Warn("malformed bus message dropped", zap.String("channel", bl.channel), zap.Error(err))
		return
	}
	if !ok || m.Sender == bl.id {
		return
	}
	c := st.cache(m.Namespace)
	switch m.Kind {
	case wire.KindSet, wire.KindExpire, wire.KindDelete:
		now := st.b.now()
		at := st.notAfterSkew(m.Time, now)
		keys := make([]string, 0, len(m.Keys))
		for _, k := range m.Keys {
			if tag, ok := isTagKey(k); ok {
				c.applyTag(tag, m.Kind, at)
				// Entries written here after the message must outlive it, even
				// within the same millisecond.
				atomicMax(&st.lastInvalidation, at)
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
	c.changedNow()
	c.emit(Event{Kind: EventBusReceived, Keys: visible(m.Keys), Layer: LayerBus})
}

// notAfterSkew returns a time t from another instance, at the latest the
// allowed clock skew past now (see [MaxClockSkew]).
func (st *store) notAfterSkew(t, now int64) int64 {
	return min(t, now+st.opts.clockSkew.Milliseconds())
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

// outbox holds this instance's bus messages until they are sent, oldest
// first. A message for the same invalidation as one already waiting
// (kind, namespace and keys) replaces it and moves to the end, so order is
// that of the last occurrences. With max > 0, past max messages the oldest
// is dropped.
type outbox struct {
	max  int // 0: unbounded; < 0: failed messages are dropped, not kept
	wake chan struct{}

	mu    sync.Mutex
	items list.List // of *waiting
	byKey map[string]*list.Element
}

type waiting struct {
	key string
	msg wire.Message
}

// batch is the front of the outbox sent as one message: msg joins parts,
// consecutive messages of one kind and namespace.
type batch struct {
	msg   wire.Message
	parts []wire.Message
	elems []*list.Element
}

func (q *outbox) push(m wire.Message) {
	key := dedupeKey(&m)
	q.mu.Lock()
	if q.byKey == nil {
		q.byKey = make(map[string]*list.Element)
	}
	if el := q.byKey[key]; el != nil {
		q.items.Remove(el)
	} else if q.max > 0 && q.items.Len() >= q.max {
		front := q.items.Front()
		delete(q.byKey, front.Value.(*waiting).key)
		q.items.Remove(front)
	}
	q.byKey[key] = q.items.PushBack(&waiting{key: key, msg: m})
	q.mu.Unlock()
	select {
	case q.wake <- struct{}{}:
	default:
	}
}

// next returns the front of the outbox as one batch. Messages that carry
// tag keys are sent alone: their time is the tag's invalidation time.
func (q *outbox) next() (batch, bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	el := q.items.Front()
	if el == nil {
		return batch{}, false
	}
	first := el.Value.(*waiting).msg
	b := batch{msg: first, parts: []wire.Message{first}, elems: []*list.Element{el}}
	if carriesTags(first.Keys) {
		return b, true
	}
	b.msg.Keys = slices.Clone(first.Keys)
	for el = el.Next(); el != nil; el = el.Next() {
		m := el.Value.(*waiting).msg
		if m.Kind != first.Kind || m.Namespace != first.Namespace || carriesTags(m.Keys) ||
			len(b.msg.Keys)+len(m.Keys) > maxBatchKeys {
			break
		}
		b.msg.Keys = append(b.msg.Keys, m.Keys...)
		b.msg.Time = max(b.msg.Time, m.Time)
		b.parts = append(b.parts, m)
		b.elems = append(b.elems, el)
	}
	return b, true
}

// done removes a batch that was sent (or dropped), except the messages that
// were replaced meanwhile: their newer copy still waits.
func (q *outbox) done(b batch) {
	q.mu.Lock()
	defer q.mu.Unlock()
	for _, el := range b.elems {
		w := el.Value.(*waiting)
		if q.byKey[w.key] == el {
			delete(q.byKey, w.key)
			q.items.Remove(el)
		}
	}
}

func (q *outbox) len() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.items.Len()
}

// dedupeKey identifies a message regardless of its time: queuing the same
// invalidation twice sends it once.
func dedupeKey(m *wire.Message) string {
	return fmt.Sprintf("%d\x00%s\x00%s", m.Kind, m.Namespace, strings.Join(m.Keys, "\x00"))
}

// carriesTags reports whether a message's keys include tag bookkeeping keys.
func carriesTags(keys []string) bool {
	return slices.ContainsFunc(keys, func(k string) bool {
		_, ok := isTagKey(k)
		return ok
	})
}
