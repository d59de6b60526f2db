package bento

import (
	"container/list"
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"github.com/bentocache/bento/internal/wire"
)

// ErrL2RecoveryDropped is wrapped by the error of the [EventError] that a
// store emits when its L2 recovery queue is full and drops its oldest failed
// write (see [L2RecoveryQueue]).
var ErrL2RecoveryDropped = errors.New("bento: l2 recovery queue full: oldest failed write dropped")

// replayTimeout bounds one replayed L2 change.
const replayTimeout = 10 * time.Second

// A store keeps the L2 changes that failed under SuppressL2Errors — writes,
// deletes, expires, clears and tag records — and replays them once L2
// answers again, before the circuit breaker closes: while the replay runs,
// calls keep skipping L2 (and their failed changes join the queue), so that
// L2 sees every change in order. A replayed write or delete never overwrites
// an entry created after it (see [pendingChange.apply]).

type changeKind uint8

const (
	changeSet changeKind = iota
	changeDelete
	changeExpire
	changeClear
	changeTag
)

// pendingChange is one L2 change that failed.
type pendingChange struct {
	id   string // what a later change of the same thing replaces
	c    *Cache
	kind changeKind
	key  string // the key, or the tag of a changeTag; "" for a clear

	// changeSet: the entry as written and when its physical lifetime ends
	// (unix ms, 0: never); expireAt, an Expire that came after it.
	raw       []byte
	createdAt int64
	deadline  int64
	expireAt  int64

	at       int64         // changeDelete, changeExpire: when it was made
	staleTTL time.Duration // changeExpire (and expireAt): how long the stale entry lives
}

// recovery is a store's queue of failed L2 changes, oldest first.
type recovery struct {
	max  int
	kick chan struct{}

	mu    sync.Mutex
	items list.List // of *pendingChange
	byID  map[string]*list.Element
	n     atomic.Int64 // items.Len(), read without mu on every L2 success
}

func newRecovery(max int) *recovery {
	return &recovery{max: max, kick: make(chan struct{}, 1), byID: make(map[string]*list.Element)}
}

func (r *recovery) pending() bool { return r.n.Load() > 0 }

func (r *recovery) wake() {
	select {
	case r.kick <- struct{}{}:
	default:
	}
}

// push queues p, merging it with what it supersedes: the last change of a key
// wins, a delete wins over a set, an expire after a set stales the set, and
// a clear drops every queued change of its namespace and the namespaces
// under it. It returns the change dropped to make room, if any.
func (r *recovery) push(p *pendingChange) (dropped *pendingChange) {
	r.mu.Lock()
	defer r.mu.Unlock()
	defer func() { r.n.Store(int64(r.items.Len())) }()
	if p.kind == changeClear {
		r.dropUnder(p.c.path)
	}
	if el := r.byID[p.id]; el != nil {
		q := el.Value.(*pendingChange)
		if p.kind == changeExpire && q.kind == changeSet {
			q.expireAt, q.staleTTL = p.at, p.staleTTL
			p = q
		} else if p.kind == changeExpire && q.kind == changeDelete {
			p = q // gone is more than stale
		}
		r.remove(el)
	}
	if r.max > 0 && r.items.Len() >= r.max {
		front := r.items.Front()
		dropped = front.Value.(*pendingChange)
		r.remove(front)
	}
	r.byID[p.id] = r.items.PushBack(p)
	return dropped
}

// forget drops the queued change of id, which a newer change that reached L2
// supersedes.
func (r *recovery) forget(id string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if el := r.byID[id]; el != nil {
		r.remove(el)
		r.n.Store(int64(r.items.Len()))
	}
}

// forgetUnder drops the queued changes of the namespace path and of the
// namespaces under it.
func (r *recovery) forgetUnder(path string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.dropUnder(path)
	r.n.Store(int64(r.items.Len()))
}

// dropUnder is forgetUnder for a caller that holds mu.
func (r *recovery) dropUnder(path string) {
	for el := r.items.Front(); el != nil; {
		next := el.Next()
		if under(el.Value.(*pendingChange).c.path, path) {
			r.remove(el)
		}
		el = next
	}
}

func (r *recovery) remove(el *list.Element) {
	delete(r.byID, el.Value.(*pendingChange).id)
	r.items.Remove(el)
}

func (r *recovery) front() (*list.Element, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	el := r.items.Front()
	return el, el != nil
}

// done removes a replayed change, unless a newer one replaced it meanwhile.
func (r *recovery) done(el *list.Element) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.byID[el.Value.(*pendingChange).id] == el {
		r.remove(el)
		r.n.Store(int64(r.items.Len()))
	}
}

func (r *recovery) len() int { return int(r.n.Load()) }

// under reports whether the namespace path p lies under path (or is it).
func under(p, path string) bool {
	return path == "" || p == path || (len(p) > len(path) && p[:len(path)] == path && p[len(path)] == ':')
}

// changeID names what a change is about, for merging.
func changeID(c *Cache, kind changeKind, key string) string {
	switch kind {
	case changeClear:
		return "clear\x00" + c.path
	case changeTag:
		return "tag\x00" + c.path + "\x00" + key
	}
	return "key\x00" + c.path + "\x00" + key
}

// recoverLater queues a change whose L2 call was skipped or failed under
// SuppressL2Errors. Without a recovery queue it does nothing.
func (c *Cache) recoverLater(p *pendingChange) {
	r := c.st.recovery
	if r == nil {
		return
	}
	p.c = c
	p.id = changeID(c, p.kind, p.key)
	if d := r.push(p); d != nil {
		err := fmt.Errorf("%w: store %q: key %q", ErrL2RecoveryDropped, c.st.name, qualified(d.c.path, d.key))
		c.st.logger.Warn("l2 recovery queue full; oldest failed write dropped",
			zap.String("namespace", d.c.path), zap.String("key", d.key), zap.Int("max", r.max))
		c.st.emit(d.c.path, Event{Kind: EventError, Key: d.key, Layer: LayerL2, Err: err})
	}
}

// reached tells the queue that a change of key reached L2: it supersedes a
// queued one (a clear, every queued change under its namespace).
func (c *Cache) reached(kind changeKind, key string) {
	r := c.st.recovery
	if r == nil || !r.pending() {
		return
	}
	if kind == changeClear {
		r.forgetUnder(c.path)
		return
	}
	r.forget(changeID(c, kind, key))
}

// l2Answered is the success of an L2 call: it closes the circuit breaker, or,
// with failed changes queued, keeps L2 skipped while they are replayed.
func (st *store) l2Answered() {
	if r := st.recovery; r != nil && r.pending() {
		r.wake()
		if st.breaker.span > 0 {
			st.breaker.recovering.Store(true)
			st.breaker.trial.Store(false)
			return
		}
	}
	st.breaker.success()
}

// recoveryLoop replays the queued changes when an L2 call succeeds, and
// tries on its own every breaker span (at least every second) while they
// wait, until the manager closes.
func (st *store) recoveryLoop() {
	t := time.NewTicker(max(time.Duration(st.breaker.span)*time.Millisecond, time.Second))
	defer t.Stop()
	for {
		select {
		case <-st.b.ctx.Done():
			return
		case <-st.recovery.kick:
		case <-t.C:
		}
		st.replay()
	}
}

// replay sends the queued changes to L2 in order. It is the breaker's trial
// when no call has been: a failure opens the breaker again and leaves the
// rest queued; once the queue is empty the breaker closes.
func (st *store) replay() {
	r := st.recovery
	if !r.pending() {
		return
	}
	b := &st.breaker
	if b.span > 0 && !b.recovering.Load() {
		if !b.allow(st.b.now()) {
			return // open, or a trial under way
		}
		b.recovering.Store(true)
		b.trial.Store(false)
	}
	n := 0
	for {
		el, ok := r.front()
		if !ok {
			break
		}
		p := el.Value.(*pendingChange)
		if err := p.apply(st.b.ctx); err != nil {
			b.recovering.Store(false)
			if st.b.ctx.Err() != nil {
				return
			}
			st.logger.Warn("l2 still failing; replay of failed writes paused",
				zap.Int("pending", r.len()), zap.Int("replayed", n), zap.Error(err))
			b.failure(st.b.now())
			return
		}
		r.done(el)
		n++
	}
	b.recovering.Store(false)
	b.success()
	st.logger.Info("l2 answers again; failed writes replayed", zap.Int("replayed", n))
}

// apply makes the change in L2, straight through the driver (the breaker is
// the replay's own), and tells the other instances, whose L1 may hold what L2
// held before. A set or a delete is not applied over an entry created after
// it, and an expire leaves such an entry alone: the newer write wins.
func (p *pendingChange) apply(ctx context.Context) (err error) {
	ctx, cancel := context.WithTimeout(ctx, replayTimeout)
	defer cancel()
	c := p.c
	switch p.kind {
	case changeClear:
		if err = c.l2.Clear(ctx); err == nil {
			c.publish(ctx, wire.KindClear)
		}
		return err
	case changeTag:
		return c.writeTagRecord(ctx, p.key)
	}
	kind := wire.KindSet
	c.invalidateKeys([]string{p.key}, func() {
		var newer bool
		switch p.kind {
		case changeSet:
			if newer, err = c.l2Newer(ctx, p.key, p.createdAt); err != nil {
				return
			}
			if newer {
				if c.l1 != nil {
					c.l1.Delete(p.key) // what L1 holds is the write L2 superseded
				}
				return
			}
			ttl := time.Duration(0)
			if p.deadline != 0 {
				left := p.deadline - c.st.b.now()
				if left <= 0 {
					return // it would be gone by now anyway
				}
				ttl = time.Duration(left) * time.Millisecond
			}
			if err = c.l2.Set(ctx, p.key, p.raw, ttl); err != nil || p.expireAt == 0 {
				return
			}
			kind = wire.KindExpire
			err = c.staleL2(ctx, p.key, p.expireAt, p.staleTTL)
		case changeDelete:
			kind = wire.KindDelete
			if newer, err = c.l2Newer(ctx, p.key, p.at); err == nil && !newer {
				_, err = c.l2.Delete(ctx, p.key)
			}
		case changeExpire:
			kind = wire.KindExpire
			err = c.staleL2(ctx, p.key, p.at, p.staleTTL)
		}
	})
	if err == nil {
		c.publish(ctx, kind, p.key)
	}
	return err
}

// l2Newer reports whether L2 holds an entry of key created after t. An entry
// of the same millisecond counts as older: the queued change wins the tie.
func (c *Cache) l2Newer(ctx context.Context, key string, t int64) (bool, error) {
	raw, found, err := c.l2.Get(ctx, key)
	if err != nil || !found {
		return false, err
	}
	e, err := decodeEntry[rawValue](c.st.serializer, raw)
	if err != nil {
		return false, nil // not an entry: nothing to keep
	}
	return e.createdAt > t, nil
}

// staleL2 rewrites the L2 entry of key as stale if it was created at or
// before t, keeping it for staleTTL (removing it when staleTTL is zero).
func (c *Cache) staleL2(ctx context.Context, key string, t int64, staleTTL time.Duration) error {
	raw, found, err := c.l2.Get(ctx, key)
	if err != nil || !found {
		return err
	}
	e, derr := decodeEntry[rawValue](c.st.serializer, raw)
	if derr == nil && e.createdAt > t {
		return nil // written after the expire
	}
	if derr != nil || staleTTL <= 0 {
		_, err = c.l2.Delete(ctx, key)
		return err
	}
	s := e.staled()
	if err := encodeEntry(c.st.serializer, s); err != nil {
		_, err = c.l2.Delete(ctx, key)
		return err
	}
	return c.l2.Set(ctx, key, s.raw, staleTTL)
}
