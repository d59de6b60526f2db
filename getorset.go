package bento

import (
	"context"
	"errors"
	"fmt"
	"runtime/debug"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"github.com/bentocache/bento/internal/wire"
)

// ErrTypeMismatch is wrapped by the error of a read whose type parameter does
// not match the stored value, when the value cannot be decoded as that type.
var ErrTypeMismatch = errors.New("bento: type mismatch")

// Factory computes the value of a key that is missing or stale. It runs once
// for all the concurrent callers of one key. Returning fc.Skip() caches
// nothing.
type Factory[T any] func(ctx context.Context, fc *FactoryContext[T]) (T, error)

// FactoryContext lets a factory adapt how its value is cached.
type FactoryContext[T any] struct {
	c     *Cache
	key   string
	opts  options
	stale *entry
	skip  bool
}

// Key returns the key being computed, within its namespace.
func (fc *FactoryContext[T]) Key() string { return fc.key }

// SetTTL sets the TTL of the value being computed (adaptive caching).
func (fc *FactoryContext[T]) SetTTL(d time.Duration) { TTL(d).apply(&fc.opts) }

// SetTags replaces the tags of the value being computed.
func (fc *FactoryContext[T]) SetTags(tags ...string) {
	fc.opts.tags = nil
	Tags(tags...).apply(&fc.opts)
}

// SetOptions applies opts to the write of the value being computed; options
// not passed keep their value.
func (fc *FactoryContext[T]) SetOptions(opts ...Option) {
	fc.opts.tags = fc.opts.tags[:len(fc.opts.tags):len(fc.opts.tags)]
	for _, o := range opts {
		o.apply(&fc.opts)
	}
	if fc.opts.storeScoped != "" {
		fc.opts.fail(invalidOption("option %s is a store option, not a per-call one", fc.opts.storeScoped))
	}
}

// Skip makes the factory cache nothing and return the zero value, ignoring
// any stale value: return it as the factory's error, as in
// `return zero, fc.Skip()`.
func (fc *FactoryContext[T]) Skip() error {
	fc.skip = true
	return errSkip
}

var errSkip = errors.New("bento: factory skipped")

// Graced returns the stale value of the key, if there is one — also in a
// background refresh.
func (fc *FactoryContext[T]) Graced() (T, bool) {
	if fc.stale == nil {
		var zero T
		return zero, false
	}
	v, err := valueOf[T](fc.c, fc.key, fc.stale)
	return v, err == nil
}

// Get returns the value of key: fresh from L1, else fresh from L2 (copied to
// L1), else — with grace — a stale value (L2's before L1's). It never runs a
// factory. found is false for a miss, which is not an error.
func Get[T any](ctx context.Context, c *Cache, key string, opts ...Option) (value T, found bool, err error) {
	h, err := readEntry[T](ctx, c, key, opts)
	if err != nil || h.e == nil {
		return value, false, err
	}
	value, err = valueOf[T](c, key, h.e)
	return value, err == nil, err
}

// Entry is a value read with what the cache knows of it (see [GetEntry]).
type Entry[T any] struct {
	Value T
	// CreatedAt is when the value was written (by any instance), to the
	// millisecond: an HTTP cache's Age is the time since.
	CreatedAt time.Time
	// StaleAt is when the value stops being fresh; zero for a value that
	// never expires.
	StaleAt time.Time
	// Stale reports a value served as stale, under grace.
	Stale bool
	// Layer is where it was found: [LayerL1] or [LayerL2].
	Layer Layer
	// Tags are the entry's tags; nil when it has none. Do not change them.
	Tags []string
}

// GetEntry is [Get] that also says what the cache knows of the value: when
// it was created, when it turns stale, whether it is stale, which layer
// served it and its tags.
func GetEntry[T any](ctx context.Context, c *Cache, key string, opts ...Option) (Entry[T], bool, error) {
	h, err := readEntry[T](ctx, c, key, opts)
	if err != nil || h.e == nil {
		return Entry[T]{}, false, err
	}
	v, err := valueOf[T](c, key, h.e)
	if err != nil {
		return Entry[T]{}, false, err
	}
	out := Entry[T]{Value: v, CreatedAt: time.UnixMilli(h.e.createdAt), Stale: h.graced, Layer: h.layer, Tags: h.e.tags}
	if h.e.expiresAt != 0 {
		out.StaleAt = time.UnixMilli(h.e.expiresAt)
	}
	return out, true, nil
}

// readEntry is what Get and GetEntry share: the entry of key, fresh from L1, else
// fresh from L2, else stale under grace, with its hit or miss reported; a
// nil entry is a miss.
func readEntry[T any](ctx context.Context, c *Cache, key string, opts []Option) (hit, error) {
	var scratch options
	if _, err := c.callInto(&scratch, key, opts); err != nil {
		return hit{}, err
	}
	now := c.st.b.now()
	l1e := c.l1Entry(key)
	if l1e.servable(now) {
		// The hot path, as GetOrSet's: nothing outlives the call.
		c.hit(key, LayerL1, false)
		return hit{e: l1e, layer: LayerL1}, nil
	}
	return readSlow[T](ctx, c, c.lasting(&scratch, opts), key, now, l1e)
}

// readSlow is readEntry past a fresh L1 hit, traced.
func readSlow[T any](ctx context.Context, c *Cache, o *options, key string, now int64, l1e *entry) (h hit, err error) {
	ctx, sp := c.trace(ctx, OpGet, key, nil)
	if sp != nil {
		defer func() {
			spanFound(sp, h.layer, h.graced)
			sp.End(err)
		}()
	}
	fresh, stale, err := lookup[T](ctx, c, o, key, now, l1e)
	if err != nil {
		return hit{}, err
	}
	h = fresh
	if h.e == nil {
		h = stale
		h.graced = true
	}
	if h.e == nil {
		c.emit(Event{Kind: EventMiss, Key: key})
		return hit{}, nil
	}
	c.hit(key, h.layer, h.graced)
	return h, nil
}

// GetOrSet returns the value of key, computing it with factory on a miss. N
// concurrent callers on one key run the factory once and all get its value.
// With grace and a stale value, the stale value is returned at once (or after
// the soft [Timeout]) while the factory refreshes it in the background.
//
// An L1 hit returns the value as stored, not a copy: callers of the key
// share one pointer, map or slice, and must not change it.
func GetOrSet[T any](ctx context.Context, c *Cache, key string, factory Factory[T], opts ...Option) (T, error) {
	return getOrSet(ctx, c, key, factory, opts, false)
}

// GetOrSetForever is [GetOrSet] for a value that never expires.
func GetOrSetForever[T any](ctx context.Context, c *Cache, key string, factory Factory[T], opts ...Option) (T, error) {
	return getOrSet(ctx, c, key, factory, opts, true)
}

// Pull returns the value of key, as [Get] would, and deletes it from every
// layer and instance, atomically: of N concurrent Pulls of one key, on one
// instance or several sharing an L2, one gets the value. With an L2, the L2
// driver's Pull (GETDEL and its equivalents) decides who got it; the local
// L1 copy decides only while L2 is unreachable (its error suppressed).
func Pull[T any](ctx context.Context, c *Cache, key string, opts ...Option) (value T, found bool, err error) {
	o, err := c.call(key, opts)
	if err != nil {
		return value, false, err
	}
	now := c.st.b.now()
	c.backoffs.forget(key)
	var e *entry
	layer := LayerL1
	c.invalidateKeys([]string{key}, func() {
		if c.l1 != nil {
			if v, ok := c.l1.Pull(key); ok {
				e, _ = v.(*entry)
			}
		}
		if c.l2 == nil {
			return
		}
		var raw []byte
		var inL2, ok bool
		ok, err = c.l2Call(ctx, o, "pull", key, func() (err error) {
			raw, inL2, err = c.l2.Pull(ctx, key)
			return err
		})
		switch {
		case !ok: // unreachable: what L1 held is all there is
		case !inL2:
			e = nil // another caller or instance pulled it first
		default:
			e, err = decodePulled[T](ctx, c, key, raw)
			layer = LayerL2
		}
	})
	usableNow := false
	if e != nil {
		switch c.judge(ctx, o, key, e, now) {
		case stateFresh:
			usableNow = true
			c.hit(key, layer, false)
		case stateStale:
			if usableNow = usable(o); usableNow {
				c.hit(key, layer, true)
			}
		}
	}
	if !usableNow && err == nil {
		c.emit(Event{Kind: EventMiss, Key: key})
	}
	c.emit(Event{Kind: EventDeleted, Key: key})
	if !o.skipBusNotify {
		c.publish(ctx, wire.KindDelete, key)
	}
	if !usableNow {
		return value, false, err
	}
	value, verr := valueOf[T](c, key, e)
	return value, verr == nil, errors.Join(verr, err)
}

// decodePulled decodes the bytes a Pull took from L2 as an entry whose value
// is a T, as decodeL2; corrupt bytes are reported and read as a miss.
func decodePulled[T any](ctx context.Context, c *Cache, key string, raw []byte) (*entry, error) {
	e, mismatch, corrupt := decodeL2[T](c, key, raw)
	if corrupt != nil {
		c.corrupt(ctx, key, corrupt)
	}
	return e, mismatch
}

func getOrSet[T any](ctx context.Context, c *Cache, key string, factory Factory[T], opts []Option, forever bool) (T, error) {
	var zero T
	// The call's options live in scratch, on this stack, while the hot path
	// needs them; the slow path takes a copy.
	var scratch options
	fo, err := c.callInto(&scratch, key, opts)
	if err != nil {
		return zero, err
	}
	if factory == nil {
		return zero, fmt.Errorf("bento: store %q: key %q: nil factory", c.st.name, qualified(c.path, key))
	}
	now := c.st.b.now()
	var l1e *entry
	if !fo.forceFresh {
		// The hot path: a fresh, untagged L1 hit allocates nothing.
		if l1e = c.l1Entry(key); l1e.servable(now) {
			if fo.eagerRefresh > 0 && l1e.refreshDue(now, fo.eagerRefresh) {
				refreshEarly(ctx, c, key, factory, c.lasting(&scratch, opts), l1e, now)
			}
			c.hit(key, LayerL1, false)
			return valueOf[T](c, key, l1e)
		}
	}
	o := c.lasting(&scratch, opts)
	if forever {
		o = o.forever()
	}
	return getOrSetSlow(ctx, c, key, factory, o, l1e, now)
}

func getOrSetSlow[T any](ctx context.Context, c *Cache, key string, factory Factory[T], o *options, l1e *entry, now int64) (v T, err error) {
	ctx, sp := c.trace(ctx, OpGetOrSet, key, nil)
	if sp != nil {
		defer func() { sp.End(err) }()
	}
	var zero T
	gen := c.flights.generation(key)
	var stale hit
	if !o.forceFresh {
		fresh, s, err := lookup[T](ctx, c, o, key, now, l1e)
		if err != nil {
			return zero, err
		}
		if fresh.e != nil {
			if o.eagerRefresh > 0 && fresh.e.refreshDue(now, o.eagerRefresh) {
				refreshEarly(ctx, c, key, factory, o, fresh.e, now)
			}
			c.hit(key, fresh.layer, false)
			spanFound(sp, fresh.layer, false)
			return valueOf[T](c, key, fresh.e)
		}
		stale = s
		if stale.e != nil && c.backoffs.active(key, now) {
			// The factory failed lately: serve the stale value without retrying.
			c.hit(key, stale.layer, true)
			spanFound(sp, stale.layer, true)
			return valueOf[T](c, key, stale.e)
		}
	}
	if stale.e == nil {
		c.emit(Event{Kind: EventMiss, Key: key})
		spanFound(sp, LayerNone, false)
	} else {
		spanFound(sp, stale.layer, true) // served stale, unless lead says otherwise
	}
	for {
		cl, leader := c.flights.join(key)
		if leader {
			return lead(ctx, c, key, factory, o, stale, cl, gen, sp)
		}
		if stale.e != nil {
			// A refresh is under way: take the stale value without waiting.
			c.hit(key, stale.layer, true)
			return valueOf[T](c, key, stale.e)
		}
		v, retry, err := await[T](ctx, c, key, cl, o)
		if !retry {
			return v, err
		}
	}
}

// hit is a value found in a layer.
type hit struct {
	e      *entry
	layer  Layer
	graced bool // e is stale, served under grace (set by readEntry)
}

func (c *Cache) hit(key string, layer Layer, graced bool) {
	// Counted here, not in emit: the hot path pays for the count alone.
	c.st.stats.hit(layer, graced)
	if c.st.b.events.active() {
		c.st.deliver(c.path, Event{Kind: EventHit, Key: key, Layer: layer, Graced: graced})
	}
}

// lookup reads L1 (l1e, already fetched) then L2: it returns the fresh entry
// if a layer has one, else the best stale entry usable under o's grace.
func lookup[T any](ctx context.Context, c *Cache, o *options, key string, now int64, l1e *entry) (fresh, stale hit, err error) {
	if l1e != nil {
		switch c.judge(ctx, o, key, l1e, now) {
		case stateFresh:
			return hit{e: l1e, layer: LayerL1}, hit{}, nil
		case stateStale:
			if usable(o) {
				stale = hit{e: l1e, layer: LayerL1}
			}
		case stateGone:
			c.l1.Delete(key)
		}
	}
	if c.l2 == nil {
		return hit{}, stale, nil
	}
	e, state, err := fromL2[T](ctx, c, o, key, now)
	switch {
	case err != nil || e == nil:
		return hit{}, stale, err
	case state == stateFresh:
		return hit{e: e, layer: LayerL2}, hit{}, nil
	case usable(o):
		return hit{}, hit{e: e, layer: LayerL2}, nil
	}
	return hit{}, stale, nil
}

// fromL2 reads key from L2 and judges the entry at now. A fresh entry is
// copied to L1 and a gone one removed from L2, unless an invalidation of the
// key came since the read began (see keep); a gone entry reads as nil.
func fromL2[T any](ctx context.Context, c *Cache, o *options, key string, now int64) (*entry, entryState, error) {
	rctx, sp := c.trace(ctx, OpL2Read, key, nil)
	e, g, err := l2Get[T](rctx, c, o, key)
	defer c.flights.release(&g)
	if err != nil || e == nil {
		spanFound(sp, LayerNone, false)
		spanEnd(sp, err)
		return nil, stateGone, err
	}
	state := c.judge(ctx, o, key, e, now)
	if sp != nil {
		if state == stateGone {
			sp.Found(LayerNone, false)
		} else {
			sp.Found(LayerL2, state == stateStale)
		}
		sp.End(nil)
	}
	switch state {
	case stateFresh:
		if c.l1 != nil && c.l1Entry(key) != e { // callers sharing one L2 read store it once
			c.keep(&g, e.tags, false, func() { c.l1Store(key, e, now, o) })
		}
	case stateGone:
		c.keep(&g, nil, true, func() { _ = c.l2Delete(ctx, o, key) })
		return nil, stateGone, nil
	}
	return e, state, nil
}

// lead runs the factory for the callers of key, as the timeouts say.
//
// sp is the call's span, if traced: lead corrects its outcome where the value
// is not the one getOrSetSlow expected (stale, or none).
func lead[T any](ctx context.Context, c *Cache, key string, factory Factory[T], o *options, stale hit, cl *call, gen uint64, sp Span) (T, error) {
	var zero T
	if !o.forceFresh {
		// Look again: another caller may have filled the key since our look.
		now := c.st.b.now()
		if e := c.l1Entry(key); e != nil && c.judge(ctx, o, key, e, now) == stateFresh {
			cl.e = e
			c.flights.finish(key, cl)
			c.hit(key, LayerL1, false)
			spanFound(sp, LayerL1, false)
			return valueOf[T](c, key, e)
		}
		if c.l2 != nil && c.flights.generation(key) != gen {
			if e, state, err := fromL2[T](ctx, c, o, key, now); err == nil && e != nil && state == stateFresh {
				cl.e = e
				c.flights.finish(key, cl)
				c.hit(key, LayerL2, false)
				spanFound(sp, LayerL2, false)
				return valueOf[T](c, key, e)
			}
		}
	}

	var abandoned atomic.Bool // the caller stopped waiting: the run is in the background
	background := func() bool {
		return c.st.b.goBackground(func() {
			bctx, cancel := c.st.b.detach(ctx)
			defer cancel()
			execute(bctx, c, key, factory, o, stale, cl, &abandoned)
		})
	}
	switch {
	case stale.e != nil && o.timeout == 0:
		// Stale-while-revalidate: the stale value now, the refresh behind.
		abandoned.Store(true)
		if !background() {
			c.flights.finish(key, cl)
		}
		c.hit(key, stale.layer, true)
		return valueOf[T](c, key, stale.e)

	case stale.e != nil || o.hardTimeout > 0:
		limit, limitErr := o.hardTimeout, ErrHardTimeout
		if stale.e != nil {
			limit, limitErr = o.timeout, ErrSoftTimeout
		}
		if !background() {
			c.flights.finish(key, cl)
			return zero, ErrClosed
		}
		done, err := wait(ctx, cl.done, limit)
		if done {
			if !cl.graced {
				spanFound(sp, LayerNone, false) // the factory's value, in time
			}
			return result[T](c, key, cl)
		}
		abandoned.Store(true)
		if err != nil {
			return zero, fmt.Errorf("bento: store %q: key %q: waiting for the factory: %w", c.st.name, qualified(c.path, key), err)
		}
		if stale.e != nil {
			c.st.stats.factory[factorySoftTimeout].Add(1)
			c.hit(key, stale.layer, true)
			return valueOf[T](c, key, stale.e)
		}
		c.st.stats.factory[factoryHardTimeout].Add(1)
		return zero, fmt.Errorf("%w: store %q: key %q: factory still running after %s", limitErr, c.st.name, qualified(c.path, key), limit)

	default:
		execute(ctx, c, key, factory, o, hit{}, cl, nil)
		return result[T](c, key, cl)
	}
}

// refreshEarly refreshes current, a fresh entry of key past its eager
// refresh threshold, in the background, unless a refresh (or any factory) of
// key is under way or one failed lately. The refresh looks at L2 first: an
// entry newer than current that is not due itself means another instance
// refreshed it, and it is taken as it is. A failed refresh leaves current
// alone and is not tried again for GraceBackoff.
func refreshEarly[T any](ctx context.Context, c *Cache, key string, factory Factory[T], o *options, current *entry, now int64) {
	if c.backoffs.active(key, now) {
		return
	}
	cl, leader := c.flights.join(key)
	if !leader {
		return
	}
	ok := c.st.b.goBackground(func() {
		bctx, cancel := c.st.b.detach(ctx)
		defer cancel()
		if c.l2 != nil {
			now := c.st.b.now()
			e, state, err := fromL2[T](bctx, c, o, key, now)
			if err == nil && e != nil && state == stateFresh && e.createdAt > current.createdAt && !e.refreshDue(now, o.eagerRefresh) {
				cl.e = e
				c.flights.finish(key, cl)
				return
			}
		}
		var abandoned atomic.Bool
		abandoned.Store(true) // nobody waits: a failure is logged, not returned
		execute(bctx, c, key, factory, o, hit{}, cl, &abandoned)
		if cl.err != nil {
			c.backoff(key, o)
		}
	})
	if !ok {
		c.flights.finish(key, cl)
	}
}

// await waits for another caller's factory on key. retry reports that the
// leader gave up (its context ended) and the caller should try again.
func await[T any](ctx context.Context, c *Cache, key string, cl *call, o *options) (v T, retry bool, err error) {
	limit, limitErr := o.lockTimeout, ErrLockTimeout
	if o.hardTimeout > 0 && (limit == 0 || o.hardTimeout < limit) {
		limit, limitErr = o.hardTimeout, ErrHardTimeout
	}
	done, err := wait(ctx, cl.done, limit)
	if err != nil {
		return v, false, fmt.Errorf("bento: store %q: key %q: waiting for the factory: %w", c.st.name, qualified(c.path, key), err)
	}
	if !done {
		if limitErr == ErrHardTimeout {
			c.st.stats.factory[factoryHardTimeout].Add(1)
		}
		return v, false, fmt.Errorf("%w: store %q: key %q: waited %s for another caller's factory", limitErr, c.st.name, qualified(c.path, key), limit)
	}
	if cl.retry {
		return v, true, nil
	}
	v, err = result[T](c, key, cl)
	return v, false, err
}

// wait waits for done, up to limit (0: no limit) or the end of ctx.
func wait(ctx context.Context, done <-chan struct{}, limit time.Duration) (bool, error) {
	var timeout <-chan time.Time
	if limit > 0 {
		t := time.NewTimer(limit)
		defer t.Stop()
		timeout = t.C
	}
	select {
	case <-done:
		return true, nil
	case <-timeout:
		return false, nil
	case <-ctx.Done():
		return false, ctx.Err()
	}
}

// result is what a finished call gives its callers.
func result[T any](c *Cache, key string, cl *call) (T, error) {
	var zero T
	if cl.err != nil {
		return zero, cl.err
	}
	if cl.e == nil {
		return zero, nil // skipped
	}
	if cl.graced {
		c.hit(key, cl.layer, true)
	}
	return valueOf[T](c, key, cl.e)
}

// execute runs the factory and stores its value, unless an invalidation came
// meanwhile. On failure it falls back to the stale value (with grace backoff)
// or records a *FactoryError. abandoned is nil when the caller runs it inline.
func execute[T any](ctx context.Context, c *Cache, key string, factory Factory[T], o *options, stale hit, cl *call, abandoned *atomic.Bool) {
	defer c.flights.finish(key, cl)
	var held *heldLock
	if c.st.locker != nil {
		var e *entry
		var err error
		lctx, sp := c.trace(ctx, OpLockWait, key, nil)
		held, e, err = lockOrWait[T](lctx, c, key, o)
		spanEnd(sp, err)
		switch {
		case err != nil:
			cl.err = err
			if stale.e != nil {
				cl.e, cl.graced, cl.layer, cl.err = stale.e, true, stale.layer, nil
			}
			return
		case e != nil: // the holder on another instance wrote it
			cl.e = e
			return
		case held != nil:
			defer held.release()
		}
	}
	fc := &FactoryContext[T]{c: c, key: key, opts: *o, stale: stale.e}
	started := time.Now()
	fctx, sp := c.trace(ctx, OpFactory, key, nil)
	v, err := invoke(fctx, factory, fc)
	if sp != nil {
		serr := err
		if errors.Is(serr, errSkip) {
			serr = nil // a skip is no failure
		}
		sp.End(serr)
	}
	if fc.skip && (err == nil || errors.Is(err, errSkip)) {
		c.st.stats.factoryRan(factorySkipped, time.Since(started))
		return
	}
	if err == nil {
		err = fc.opts.err // an invalid SetTTL, SetTags or SetOptions
	}
	if err != nil {
		c.st.stats.factoryRan(factoryError, time.Since(started))
	} else {
		c.st.stats.factoryRan(factoryOK, time.Since(started))
	}
	if err != nil {
		c.factoryFailed(ctx, key, o, stale, cl, abandoned, err)
		return
	}
	e, err := c.newEntry(key, v, &fc.opts)
	if err != nil {
		cl.err = err
		return
	}
	if held != nil && held.lost.Load() {
		// Another instance may hold the lock now and write its own value:
		// this one goes to the callers only.
		cl.e = e
		return
	}
	var l2ok bool
	stored := c.keep(&cl.g, e.tags, true, func() {
		wctx, sp := c.traceWrite(ctx, &fc.opts, key, nil)
		l2ok, err = c.store(wctx, key, e, &fc.opts)
		spanEnd(sp, err)
	})
	if err != nil {
		cl.err = err
		return
	}
	if stored {
		c.written(ctx, key, &fc.opts, l2ok)
	}
	cl.e = e
}

func (c *Cache) factoryFailed(ctx context.Context, key string, o *options, stale hit, cl *call, abandoned *atomic.Bool, err error) {
	bg := abandoned != nil && abandoned.Load()
	if bg && stale.e != nil && o.timeout > 0 {
		err = fmt.Errorf("%w: %w", ErrSoftTimeout, err)
	} else if bg && stale.e == nil && o.hardTimeout > 0 {
		err = fmt.Errorf("%w: %w", ErrHardTimeout, err)
	}
	fe := &FactoryError{Store: c.st.name, Key: key, Namespace: c.path, Background: bg, Cause: err}
	if o.onFactoryError != nil {
		o.onFactoryError(fe)
	}
	if bg {
		c.st.logger.Error("background factory failed", zap.String("namespace", c.path), zap.String("key", key), zap.Error(err))
	}
	if stale.e != nil {
		c.backoff(key, o)
		cl.e, cl.graced, cl.layer = stale.e, true, stale.layer
		return
	}
	cl.err = fe
	if abandoned == nil && ctx.Err() != nil {
		cl.retry = true // the leader's caller went away; its waiters try again
	}
}

// backoff records, after a factory failure with a stale value at hand, that
// key is served stale without calling the factory for GraceBackoff. The
// record is in-process: the entry itself, and how long the layers keep it,
// are left as they are.
func (c *Cache) backoff(key string, o *options) {
	if o.graceBackoff <= 0 {
		return
	}
	until := c.st.b.now() + max(o.graceBackoff.Milliseconds(), 1) // sub-ms rounds up
	c.backoffs.set(key, until)
}

// invoke calls the factory, turning a panic into a *PanicError.
func invoke[T any](ctx context.Context, factory Factory[T], fc *FactoryContext[T]) (v T, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = &PanicError{Value: r, Stack: debug.Stack()}
		}
	}()
	return factory(ctx, fc)
}

// valueOf returns e's value as a T, decoding the encoded form when the stored
// value has another type.
func valueOf[T any](c *Cache, key string, e *entry) (T, error) {
	if v, ok := e.value.(T); ok {
		return v, nil
	}
	var zero T
	if e.value == nil {
		return zero, nil
	}
	if e.raw != nil {
		if d, err := decodeEntry[T](c.st.serializer, e.raw); err == nil {
			if v, ok := d.value.(T); ok {
				return v, nil
			}
			if d.value == nil {
				return zero, nil
			}
		}
	}
	return zero, fmt.Errorf("%w: store %q: key %q holds a value of type %T, not %T", ErrTypeMismatch, c.st.name, qualified(c.path, key), e.value, zero)
}
