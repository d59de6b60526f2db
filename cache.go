package bento

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/bentocache/bento/internal/keys"
	"github.com/bentocache/bento/internal/wire"
)

// reservedPrefix starts bento's own keys (tag bookkeeping); user keys may not.
const reservedPrefix = "__bento"

// Cache is one namespace of a store (the store's root is the namespace "").
// Its methods are the non-generic operations; [Get], [GetOrSet],
// [GetOrSetForever] and [Pull] are functions because Go methods cannot have
// type parameters. A Cache is safe for concurrent use.
type Cache struct {
	st   *store
	path string   // namespace path relative to the store prefix; "" for the root
	l1   L1Driver // views of this namespace; nil when the layer is absent
	l2   L2Driver

	flights  flights
	tags     tagStates
	backoffs backoffs

	changedMu sync.Mutex
	changed   chan struct{} // closed at the next bus message (see changes)

	err error // set on a Cache for an invalid namespace name: every call fails
}

// Namespace returns the child namespace name: keys "prefix:<path>:name:key"
// in every layer. Namespaces nest; clearing one clears its children. The same
// name returns the same *Cache.
//
// An empty name, or one in bento's reserved space ("__bento…"), gives a Cache
// whose every call fails with an error wrapping [ErrInvalidKey].
func (c *Cache) Namespace(name string) *Cache {
	path := keys.Join(c.path, name)
	if c.err != nil {
		return &Cache{st: c.st, path: path, err: c.err}
	}
	for _, seg := range strings.Split(name, keys.Separator) {
		if seg == "" || strings.HasPrefix(seg, reservedPrefix) {
			return &Cache{st: c.st, path: path, err: fmt.Errorf(
				"%w: store %q: namespace %q: every part of a namespace name must be non-empty and must not start with %q",
				ErrInvalidKey, c.st.name, path, reservedPrefix)}
		}
	}
	return c.st.cache(path)
}

// Store returns the name of the store this Cache belongs to.
func (c *Cache) Store() string { return c.st.name }

// Path returns the namespace path ("users:posts"), "" for a store's root.
func (c *Cache) Path() string { return c.path }

func (c *Cache) checkKey(key string) error {
	if key == "" {
		return fmt.Errorf("%w: store %q: empty key", ErrInvalidKey, c.st.name)
	}
	if strings.HasPrefix(key, reservedPrefix) {
		return fmt.Errorf("%w: store %q: key %q: the prefix %q is reserved for bento", ErrInvalidKey, c.st.name, key, reservedPrefix)
	}
	return nil
}

// call resolves the options of one call and checks its key.
func (c *Cache) call(key string, opts []Option) (*options, error) {
	if len(opts) == 0 {
		return c.callInto(nil, key, opts)
	}
	return c.callInto(new(options), key, opts)
}

// callInto is call resolving the options in scratch, which the caller keeps
// on its stack: the result is scratch, or the store's options when opts is
// empty. The read paths use it so that a hit with per-call options allocates
// nothing; what outlives the call must be a [options.clone].
func (c *Cache) callInto(scratch *options, key string, opts []Option) (*options, error) {
	if err := c.usable(); err != nil {
		return nil, err
	}
	if err := c.checkKey(key); err != nil {
		return nil, err
	}
	o := c.st.opts.forCallInto(scratch, opts)
	if o.err != nil {
		return nil, fmt.Errorf("bento: store %q: key %q: %w", c.st.name, qualified(c.path, key), o.err)
	}
	return o, nil
}

// lasting returns the options callInto resolved into scratch from opts, as
// options that may outlive the call: the store's own when opts is empty,
// else a heap copy of scratch, made only on the paths past an L1 hit.
func (c *Cache) lasting(scratch *options, opts []Option) *options {
	if len(opts) == 0 {
		return &c.st.opts
	}
	return scratch.clone()
}

// usable reports why no call may go ahead: a closed manager or an invalid
// namespace.
func (c *Cache) usable() error {
	if c.err != nil {
		return c.err
	}
	if c.st.b.closed.Load() {
		return ErrClosed
	}
	return nil
}

// newEntry builds the entry that a write of value with o stores, encoded when
// a layer needs the bytes.
func (c *Cache) newEntry(key string, value any, o *options) (*entry, error) {
	now := c.st.b.now()
	e := &entry{value: value, createdAt: max(now, c.st.lastInvalidation.Load()+1)}
	if o.ttl > 0 {
		ms := o.ttl.Milliseconds()
		if j := o.jitter.Milliseconds(); j > 0 && ms < foreverMillis {
			ms += rand.Int64N(j + 1)
		}
		if ms < foreverMillis-now {
			e.expiresAt = now + max(ms, 1)
		} // else never: past what an envelope (a JavaScript Date) can hold
	}
	if len(o.tags) > 0 {
		e.tags = dedupe(o.tags)
		if len(e.tags) > MaxEntryTags {
			return nil, fmt.Errorf("%w: store %q: key %q: %d tags; an entry carries at most %d", ErrInvalidTag, c.st.name, qualified(c.path, key), len(e.tags), MaxEntryTags)
		}
	}
	if (c.l2 != nil && !o.skipL2Write) || c.st.encodeL1 {
		if err := encodeEntry(c.st.serializer, e); err != nil {
			return nil, fmt.Errorf("%w: store %q: key %q: encoding %T: %w", ErrUnencodable, c.st.name, qualified(c.path, key), value, err)
		}
	}
	return e, nil
}

// store writes e to L1, then L2. It reports whether L2 took the entry (true
// when L2 was not to be written); err is an L2 failure that is not
// suppressed. Callers hold the key's lock (invalidateKeys or keep).
func (c *Cache) store(ctx context.Context, key string, e *entry, o *options) (l2ok bool, err error) {
	ttl := c.lifetime(e, o)
	if c.l1 != nil {
		c.l1.Set(key, e, ttl)
	}
	if c.l2 == nil || o.skipL2Write {
		return true, nil
	}
	l2ok, err = c.l2Call(ctx, o, "set", key, func() error { return c.l2.Set(ctx, key, e.raw, ttl) })
	c.setOutcome(key, e, ttl, l2ok, err)
	return l2ok, err
}

// setOutcome tells the recovery queue how the L2 write of e under key, for
// ttl, went: it reached L2 and supersedes a queued change, or it was
// skipped or failed under suppression (err nil) and is queued for replay.
func (c *Cache) setOutcome(key string, e *entry, ttl time.Duration, l2ok bool, err error) {
	switch {
	case l2ok:
		c.reached(changeSet, key)
	case err == nil:
		p := &pendingChange{kind: changeSet, key: key, raw: e.raw, createdAt: e.createdAt}
		if ttl > 0 {
			p.deadline = c.st.b.now() + ttl.Milliseconds()
		}
		c.recoverLater(p)
	}
}

// lifetime is the physical TTL of a new entry e written with o: TTL + grace,
// where the TTL includes e's jitter.
func (c *Cache) lifetime(e *entry, o *options) time.Duration {
	if o.jitter <= 0 || e.expiresAt == 0 {
		return o.physicalTTL()
	}
	return max(addSaturated(millis(e.expiresAt-c.st.b.now()), o.grace), time.Millisecond)
}

// written reports a stored write: the event, then a set on the bus when
// notify (the L2 write, if any, went through).
func (c *Cache) written(ctx context.Context, key string, o *options, notify bool) {
	c.emit(Event{Kind: EventWritten, Key: key})
	if notify && !o.skipBusNotify {
		c.publish(ctx, wire.KindSet, key)
	}
}

// Set stores value under key with the options (TTL, Grace, Tags, …). It writes
// L1, then L2, then tells the other instances. A nil value is a value.
func (c *Cache) Set(ctx context.Context, key string, value any, opts ...Option) error {
	o, err := c.call(key, opts)
	if err != nil {
		return err
	}
	return c.set(ctx, key, value, o)
}

// SetForever stores value under key with no expiry.
func (c *Cache) SetForever(ctx context.Context, key string, value any, opts ...Option) error {
	o, err := c.call(key, opts)
	if err != nil {
		return err
	}
	return c.set(ctx, key, value, o.forever())
}

func (c *Cache) set(ctx context.Context, key string, value any, o *options) error {
	e, err := c.newEntry(key, value, o)
	if err != nil {
		return err
	}
	c.backoffs.forget(key)
	var l2ok bool
	// A Set wins over the work in flight on key, a factory's too.
	c.invalidateKeys([]string{key}, func() { l2ok, err = c.store(ctx, key, e, o) })
	if err != nil {
		return err
	}
	c.written(ctx, key, o, l2ok)
	return nil
}

// forever returns o with no TTL.
func (o *options) forever() *options {
	if o.ttl == 0 {
		return o
	}
	c := *o
	c.ttl = 0
	return &c
}

// Has reports whether key holds a fresh value; a stale value counts as
// missing.
func (c *Cache) Has(ctx context.Context, key string, opts ...Option) (bool, error) {
	o, err := c.call(key, opts)
	if err != nil {
		return false, err
	}
	now := c.st.b.now()
	if e := c.l1Entry(key); e != nil && c.judge(ctx, o, key, e, now) == stateFresh {
		return true, nil
	}
	if c.l2 == nil {
		return false, nil
	}
	e, g, err := l2Get[rawValue](ctx, c, o, key)
	c.flights.release(&g)
	if err != nil || e == nil {
		return false, err
	}
	return c.judge(ctx, o, key, e, now) == stateFresh, nil
}

// Missing is the negation of [Cache.Has].
func (c *Cache) Missing(ctx context.Context, key string, opts ...Option) (bool, error) {
	has, err := c.Has(ctx, key, opts...)
	return !has, err
}

// Delete removes key from L1 and L2 and tells the other instances, even if L2
// failed. It reports whether the key existed in either layer. With L2 errors
// not suppressed, an L2 failure is returned as an [*L2Error] after L1 changed.
func (c *Cache) Delete(ctx context.Context, key string, opts ...Option) (bool, error) {
	o, err := c.call(key, opts)
	if err != nil {
		return false, err
	}
	return c.deleteKeys(ctx, o, []string{key})
}

// DeleteMany is [Cache.Delete] for several keys, with one bus message.
func (c *Cache) DeleteMany(ctx context.Context, keys []string, opts ...Option) (bool, error) {
	if len(keys) == 0 {
		return false, c.usable()
	}
	o, err := c.call(keys[0], opts)
	if err != nil {
		return false, err
	}
	for _, k := range keys[1:] {
		if err := c.checkKey(k); err != nil {
			return false, err
		}
	}
	return c.deleteKeys(ctx, o, keys)
}

func (c *Cache) deleteKeys(ctx context.Context, o *options, keys []string) (existed bool, err error) {
	c.backoffs.forget(keys...)
	c.invalidateKeys(keys, func() {
		if c.l1 != nil {
			existed = c.l1.DeleteMany(keys)
		}
		if c.l2 == nil {
			return
		}
		var l2existed bool
		op, key := "delete_many", ""
		if len(keys) == 1 {
			op, key = "delete", keys[0]
		}
		ok, l2err := c.l2Call(ctx, o, op, key, func() (err error) {
			if len(keys) == 1 {
				l2existed, err = c.l2.Delete(ctx, keys[0])
			} else {
				l2existed, err = c.l2.DeleteMany(ctx, keys)
			}
			return err
		})
		existed, err = existed || l2existed, l2err
		now := c.st.b.now()
		for _, k := range keys {
			if ok {
				c.reached(changeDelete, k)
			} else if err == nil {
				c.recoverLater(&pendingChange{kind: changeDelete, key: k, at: now})
			}
		}
	})
	for _, k := range keys {
		c.emit(Event{Kind: EventDeleted, Key: k})
	}
	if !o.skipBusNotify {
		c.publish(ctx, wire.KindDelete, keys...)
	}
	return existed, err
}

// Expire makes key stale, not gone: with grace, Get still returns it (as
// stale) and GetOrSet refreshes it. Without grace it is as good as deleted.
func (c *Cache) Expire(ctx context.Context, key string, opts ...Option) error {
	o, err := c.call(key, opts)
	if err != nil {
		return err
	}
	c.backoffs.forget(key)
	c.invalidateKeys([]string{key}, func() {
		if c.l1 != nil {
			c.expireL1(key, o.staleTTL())
		}
		if c.l2 == nil {
			return
		}
		now := c.st.b.now()
		var ok bool
		ok, err = c.l2Call(ctx, o, "expire", key, func() error { return c.staleL2(ctx, key, math.MaxInt64, o.staleTTL()) })
		if ok {
			c.reached(changeExpire, key)
		} else if err == nil {
			c.recoverLater(&pendingChange{kind: changeExpire, key: key, at: now, staleTTL: o.staleTTL()})
		}
	})
	c.emit(Event{Kind: EventExpired, Key: key})
	if !o.skipBusNotify {
		c.publish(ctx, wire.KindExpire, key)
	}
	return err
}

// expireL1 replaces the L1 copy of key with a stale one that lives for ttl,
// or removes it when ttl is zero (no grace).
func (c *Cache) expireL1(key string, ttl time.Duration) {
	e := c.l1Entry(key)
	if e == nil {
		return
	}
	if ttl <= 0 {
		c.l1.Delete(key)
		return
	}
	c.l1.Set(key, e.staled(), ttl)
}

// l2Delete removes key from L2 through the circuit breaker (see l2Call).
func (c *Cache) l2Delete(ctx context.Context, o *options, key string) error {
	_, err := c.l2Call(ctx, o, "delete", key, func() error {
		_, err := c.l2.Delete(ctx, key)
		return err
	})
	return err
}

// Clear removes every key of this namespace and of its children, in L1 and
// L2, and tells the other instances. Clearing a store's root clears every
// namespace; clearing "users" never touches "usersX".
func (c *Cache) Clear(ctx context.Context, opts ...Option) error {
	if err := c.usable(); err != nil {
		return err
	}
	o := c.st.opts.forCall(opts)
	if o.err != nil {
		return fmt.Errorf("bento: store %q: clear: %w", c.st.name, o.err)
	}
	c.st.under(c.path, func(ns *Cache) { ns.backoffs.forget() })
	var err error
	c.st.invalidateNamespaces(c.path, func() {
		if c.l1 != nil {
			c.l1.Clear()
		}
		if c.l2 == nil {
			return
		}
		var ok bool
		ok, err = c.l2Call(ctx, o, "clear", "", func() error { return c.l2.Clear(ctx) })
		if ok {
			c.reached(changeClear, "")
		} else if err == nil {
			c.recoverLater(&pendingChange{kind: changeClear})
		}
	})
	c.emit(Event{Kind: EventCleared})
	if !o.skipBusNotify {
		c.publish(ctx, wire.KindClear)
	}
	return err
}

// Prune asks the L2 driver to remove expired entries, if it is a [Pruner];
// otherwise it does nothing.
//
// Expired entries are removed from the whole driver, whatever the namespace
// Prune is called on.
func (c *Cache) Prune(ctx context.Context) error {
	if err := c.usable(); err != nil {
		return err
	}
	p, ok := c.st.l2Driver.(Pruner)
	if !ok {
		return nil
	}
	if err := p.Prune(ctx); err != nil {
		return &L2Error{Store: c.st.name, Op: "prune", Namespace: c.path, Err: err}
	}
	return nil
}

// l1Entry returns the L1 entry of key, if any.
func (c *Cache) l1Entry(key string) *entry {
	if c.l1 == nil {
		return nil
	}
	v, ok := c.l1.Get(key)
	if !ok {
		return nil
	}
	e, _ := v.(*entry)
	return e
}

// l1Store copies an entry read from L2 into L1, keeping its creation time and
// logical expiry.
func (c *Cache) l1Store(key string, e *entry, now int64, o *options) {
	if c.l1 == nil {
		return
	}
	c.l1.Set(key, e, millis(e.remaining(now, o.grace.Milliseconds())))
}

func dedupe(tags []string) []string {
	out := make([]string, 0, len(tags))
	for _, t := range tags {
		if !slices.Contains(out, t) {
			out = append(out, t)
		}
	}
	return out
}
