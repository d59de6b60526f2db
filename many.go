package bento

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"runtime/debug"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/bentocache/bento/internal/wire"
)

// ManyFactory computes the values of the keys that GetOrSetMany found
// nowhere, in one call. A key it leaves out of the map is a miss: it is not
// cached, and GetOrSetMany's result does not have it.
type ManyFactory[T any] func(ctx context.Context, missing []string) (map[string]T, error)

// GetMany returns the values of the keys that hold one, as [Get] finds them
// (fresh from L1, else fresh from L2, else stale under grace), with one L2
// round trip for all the keys L1 misses when the L2 driver is an
// [L2BatchDriver] (one per hash slot or statement, as the driver batches).
// The result has only the keys found.
func GetMany[T any](ctx context.Context, c *Cache, keys []string, opts ...Option) (out map[string]T, err error) {
	o, keys, err := c.callMany(keys, opts)
	if err != nil {
		return nil, err
	}
	_, sp, fresh, stale, err := lookupMany[T](ctx, c, o, keys, OpGetMany)
	if sp != nil {
		defer func() {
			sp.FoundMany(len(out), len(keys)-len(out))
			sp.End(err)
		}()
	}
	if err != nil {
		return nil, err
	}
	out = make(map[string]T, len(keys))
	for i, k := range keys {
		h := fresh[i]
		if h.e == nil {
			h = stale[i]
		}
		if h.e == nil {
			c.emit(Event{Kind: EventMiss, Key: k})
			continue
		}
		c.hit(k, h.layer, h.e == stale[i].e)
		v, err := valueOf[T](c, k, h.e)
		if err != nil {
			return out, err
		}
		out[k] = v
	}
	return out, nil
}

// SetMany stores every entry with the options, as [Cache.Set] would each:
// L1, then L2 in one round trip through an [L2BatchDriver] (one write per
// key with [Jitter], whose TTLs differ), then one bus message for them all.
func (c *Cache) SetMany(ctx context.Context, entries map[string]any, opts ...Option) error {
	keys := slices.Sorted(maps.Keys(entries))
	o, keys, err := c.callMany(keys, opts)
	if err != nil || len(keys) == 0 {
		return err
	}
	es := make([]*entry, len(keys))
	for i, k := range keys {
		if es[i], err = c.newEntry(k, entries[k], o); err != nil {
			return err
		}
	}
	c.backoffs.forget(keys...)
	var l2ok bool
	c.invalidateKeys(keys, func() { l2ok, err = c.storeMany(ctx, keys, es, o) })
	if err != nil {
		return err
	}
	c.wroteMany(ctx, keys, o, l2ok)
	return nil
}

// GetOrSetMany returns the values of keys, computing those found nowhere
// with one call of factory. It reads L1, then L2 in one batch for the rest,
// then calls factory with the keys still missing — those whose factory no
// other caller runs: concurrent GetOrSetMany and [GetOrSet] calls share the
// work of the keys they share, so no key's factory runs twice at once.
//
// With grace, keys that hold a stale value are refreshed too; if every
// missing key has one, the stale values are returned at once (or after the
// soft [Timeout]) while the factory runs in the background, as GetOrSet
// does. Otherwise the call waits for the factory ([HardTimeout] bounds the
// wait; past it the keys without a value fail with [ErrHardTimeout]). A
// factory error falls back to the stale values where there are some and is
// returned (a [*FactoryError]) for the other keys, with the values found.
// The values written go to L2 in one round trip and to the bus in one
// message. Tags and TTL come from the options.
func GetOrSetMany[T any](ctx context.Context, c *Cache, keys []string, factory ManyFactory[T], opts ...Option) (result map[string]T, err error) {
	o, keys, err := c.callMany(keys, opts)
	if err != nil {
		return nil, err
	}
	if factory == nil {
		return nil, fmt.Errorf("bento: store %q: nil factory", c.st.name)
	}
	var fresh, stale []hit
	var sp Span
	if o.forceFresh {
		ctx, sp = c.trace(ctx, OpGetOrSetMany, "", keys)
		fresh, stale = make([]hit, len(keys)), make([]hit, len(keys))
	} else {
		ctx, sp, fresh, stale, err = lookupMany[T](ctx, c, o, keys, OpGetOrSetMany)
	}
	if sp != nil {
		found := 0
		for i := range fresh {
			if fresh[i].e != nil || stale[i].e != nil {
				found++
			}
		}
		defer func() {
			sp.FoundMany(found, len(keys)-found)
			sp.End(err)
		}()
	}
	if err != nil {
		return nil, err
	}
	out := make(map[string]T, len(keys))
	// put adds e, the value of k, to the result; found (in a layer, or
	// stale after a factory failure) is reported as a hit from layer.
	put := func(k string, e *entry, found bool, layer Layer, graced bool) error {
		if found {
			c.hit(k, layer, graced)
		}
		v, err := valueOf[T](c, k, e)
		if err == nil {
			out[k] = v
		}
		return err
	}
	// The keys to compute: the ones this call leads, and the ones another
	// caller computes already.
	var mine, theirs []pending
	for i, k := range keys {
		if fresh[i].e != nil {
			if err := put(k, fresh[i].e, true, fresh[i].layer, false); err != nil {
				return out, err
			}
			continue
		}
		if stale[i].e == nil {
			c.emit(Event{Kind: EventMiss, Key: k})
		}
		cl, leader := c.flights.join(k)
		p := pending{key: k, cl: cl, stale: stale[i]}
		if leader {
			mine = append(mine, p)
		} else {
			theirs = append(theirs, p)
		}
	}
	allStale := !slices.ContainsFunc(append(slices.Clip(mine), theirs...), func(p pending) bool { return p.stale.e == nil })

	var errs []error
	if len(mine) > 0 {
		var abandoned atomic.Bool
		run := func(ctx context.Context) { executeMany(ctx, c, mine, factory, o, &abandoned) }
		done, err := c.runMany(ctx, o, allStale, run, &abandoned)
		for _, p := range mine {
			switch {
			case done && p.cl.err != nil:
				errs = append(errs, p.cl.err)
			case done && p.cl.e != nil:
				err = errors.Join(err, put(p.key, p.cl.e, p.cl.graced, p.cl.layer, true))
			case !done && p.stale.e != nil:
				err = errors.Join(err, put(p.key, p.stale.e, true, p.stale.layer, true))
			case !done:
				errs = append(errs, fmt.Errorf("%w: store %q: key %q: factory still running after %s",
					ErrHardTimeout, c.st.name, qualified(c.path, p.key), o.hardTimeout))
			}
		}
		if err != nil {
			errs = append(errs, err)
		}
	}
	for _, p := range theirs {
		if p.stale.e != nil {
			if err := put(p.key, p.stale.e, true, p.stale.layer, true); err != nil {
				errs = append(errs, err)
			}
			continue
		}
		v, retry, err := await[T](ctx, c, p.key, p.cl, o)
		if retry { // the other caller gave up: compute this key alone
			v, err = getOrSetSlow(ctx, c, p.key, oneOf(factory), o, nil, c.st.b.now())
		}
		if err != nil {
			errs = append(errs, err)
		} else if p.cl.e != nil || retry {
			out[p.key] = v
		}
	}
	return out, errors.Join(errs...)
}

// pending is a key of GetOrSetMany still to compute, with the call that
// computes it and its stale value, if any.
type pending struct {
	key   string
	cl    *call
	stale hit
}

// runMany runs the factory of a GetOrSetMany as the timeouts say: in the
// background when every key has a stale value (waiting up to the soft
// timeout) or with a hard timeout (waiting up to it), else inline. It
// reports whether the run finished in time.
func (c *Cache) runMany(ctx context.Context, o *options, allStale bool, run func(context.Context), abandoned *atomic.Bool) (bool, error) {
	limit := o.hardTimeout
	if allStale {
		limit = o.timeout
	}
	if !allStale && limit == 0 {
		run(ctx)
		return true, nil
	}
	done := make(chan struct{})
	if !c.st.b.goBackground(func() {
		defer close(done)
		bctx, cancel := c.st.b.detach(ctx)
		defer cancel()
		run(bctx)
	}) {
		return false, ErrClosed
	}
	if allStale && limit == 0 {
		abandoned.Store(true) // stale-while-revalidate: the stale values now
		return false, nil
	}
	finished, err := wait(ctx, done, limit)
	if !finished {
		abandoned.Store(true)
	}
	return finished, err
}

// oneOf turns a ManyFactory into the Factory of one key.
func oneOf[T any](factory ManyFactory[T]) Factory[T] {
	return func(ctx context.Context, fc *FactoryContext[T]) (T, error) {
		var zero T
		m, err := factory(ctx, []string{fc.Key()})
		if err != nil {
			return zero, err
		}
		v, ok := m[fc.Key()]
		if !ok {
			return zero, fc.Skip()
		}
		return v, nil
	}
}

// executeMany calls factory once for the keys of mine, writes the values it
// returns — those of keys no invalidation reached meanwhile — in one batch,
// and settles each key's call: its value, its stale value after a failure
// (with grace backoff), or the error.
func executeMany[T any](ctx context.Context, c *Cache, mine []pending, factory ManyFactory[T], o *options, abandoned *atomic.Bool) {
	keys := make([]string, len(mine))
	for i, p := range mine {
		keys[i] = p.key
	}
	defer func() {
		for _, p := range mine {
			c.flights.finish(p.key, p.cl)
		}
	}()
	started := time.Now()
	fctx, sp := c.trace(ctx, OpFactory, "", keys)
	values, err := invokeMany(fctx, factory, keys)
	spanEnd(sp, err)
	result := factoryOK
	if err != nil {
		result = factoryError
	}
	c.st.stats.factoryRan(result, time.Since(started))
	if err != nil {
		bg := abandoned.Load()
		for _, p := range mine {
			fe := &FactoryError{Store: c.st.name, Key: p.key, Namespace: c.path, Background: bg, Cause: err}
			if o.onFactoryError != nil {
				o.onFactoryError(fe)
			}
			if p.stale.e != nil {
				c.backoff(p.key, o)
				p.cl.e, p.cl.graced, p.cl.layer = p.stale.e, true, p.stale.layer
			} else {
				p.cl.err = fe
			}
		}
		return
	}
	var ws []pending
	var es []*entry
	for _, p := range mine {
		v, ok := values[p.key]
		if !ok {
			continue // a miss: not cached, not returned
		}
		e, err := c.newEntry(p.key, v, o)
		if err != nil {
			p.cl.err = err
			continue
		}
		p.cl.e = e
		ws, es = append(ws, p), append(es, e)
	}
	var wkeys []string // for the span only
	if c.st.b.tracer.Load() != nil {
		wkeys = make([]string, len(ws))
		for i, p := range ws {
			wkeys[i] = p.key
		}
	}
	wctx, wsp := c.traceWrite(ctx, o, "", wkeys)
	stored, l2ok, err := c.keepMany(wctx, ws, es, o)
	spanEnd(wsp, err)
	if err != nil {
		for _, p := range ws {
			p.cl.err = err
		}
		return
	}
	c.wroteMany(ctx, stored, o, l2ok)
}

// invokeMany calls the factory, turning a panic into a *PanicError.
func invokeMany[T any](ctx context.Context, factory ManyFactory[T], keys []string) (m map[string]T, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = &PanicError{Value: r, Stack: debug.Stack()}
		}
	}()
	return factory(ctx, keys)
}

// keepMany writes es, the values computed for ws, in one batch: each only if
// no invalidation of its key came since its call began (see keep). It
// returns the keys written, and whether L2 took them.
func (c *Cache) keepMany(ctx context.Context, ws []pending, es []*entry, o *options) (stored []string, l2ok bool, err error) {
	if len(ws) == 0 {
		return nil, true, nil
	}
	order := make([]int, len(ws))
	for i := range order {
		order[i] = i
	}
	slices.SortFunc(order, func(a, b int) int { return strings.Compare(ws[a].key, ws[b].key) })
	c.st.clearMu.RLock()
	defer c.st.clearMu.RUnlock()
	for _, i := range order { // in key order, as lockKeys takes them
		ws[i].cl.g.kl.mu.Lock()
	}
	var keep []*entry
	for _, i := range order {
		if c.guardHolds(&ws[i].cl.g, es[i].tags) {
			stored = append(stored, ws[i].key)
			keep = append(keep, es[i])
		}
	}
	l2ok, err = c.storeMany(ctx, stored, keep, o)
	for _, i := range order {
		g := &ws[i].cl.g
		if slices.Contains(stored, ws[i].key) {
			c.flights.invalidatedBy(g)
		}
		g.kl.mu.Unlock()
	}
	return stored, l2ok, err
}

// storeMany writes es under keys to L1, then L2 in one round trip (one write
// per key with Jitter, whose TTLs differ, or without an L2BatchDriver). It
// reports whether L2 took them all; failed writes are queued for recovery as
// store's are. Callers hold the keys' locks.
func (c *Cache) storeMany(ctx context.Context, keys []string, es []*entry, o *options) (l2ok bool, err error) {
	bd, batch := c.l2.(L2BatchDriver)
	if c.l2 == nil || o.skipL2Write || !batch || o.jitter > 0 || len(keys) < 2 {
		l2ok = true
		for i, k := range keys {
			ok, kerr := c.store(ctx, k, es[i], o)
			l2ok, err = l2ok && ok, errors.Join(err, kerr)
		}
		return l2ok, err
	}
	ttl := o.physicalTTL()
	kvs := make([]KeyValue, len(keys))
	for i, k := range keys {
		if c.l1 != nil {
			c.l1.Set(k, es[i], ttl)
		}
		kvs[i] = KeyValue{Key: k, Value: es[i].raw}
	}
	l2ok, err = c.l2Call(ctx, o, "set_many", "", func() error { return bd.SetMany(ctx, kvs, ttl) })
	for i, k := range keys {
		c.setOutcome(k, es[i], ttl, l2ok, err)
	}
	return l2ok, err
}

// wroteMany reports written keys: an event each, then one set on the bus
// for them all when L2 took them.
func (c *Cache) wroteMany(ctx context.Context, keys []string, o *options, notify bool) {
	for _, k := range keys {
		c.emit(Event{Kind: EventWritten, Key: k})
	}
	if notify && !o.skipBusNotify && len(keys) > 0 {
		c.publish(ctx, wire.KindSet, keys...)
	}
}

// lookupMany is lookup for many keys: L1 first, then one L2 batch read for
// the keys without a fresh L1 entry. fresh[i] and stale[i] are keys[i]'s
// fresh entry and usable stale entry (L2's before L1's), if any. When a key
// has no fresh L1 entry, it starts a span for op, the call's, and returns
// it with its context (else ctx and a nil Span).
func lookupMany[T any](ctx context.Context, c *Cache, o *options, keys []string, op Op) (_ context.Context, sp Span, fresh, stale []hit, err error) {
	now := c.st.b.now()
	fresh, stale = make([]hit, len(keys)), make([]hit, len(keys))
	var rest []int
	for i, k := range keys {
		if e := c.l1Entry(k); e != nil {
			switch c.judge(ctx, o, k, e, now) {
			case stateFresh:
				fresh[i] = hit{e: e, layer: LayerL1}
				continue
			case stateStale:
				if usable(o) {
					stale[i] = hit{e: e, layer: LayerL1}
				}
			case stateGone:
				c.l1.Delete(k)
			}
		}
		rest = append(rest, i)
	}
	if len(rest) > 0 {
		ctx, sp = c.trace(ctx, op, "", keys)
	}
	if c.l2 == nil || len(rest) == 0 {
		return ctx, sp, fresh, stale, nil
	}
	guards := make([]guard, len(rest))
	restKeys := make([]string, len(rest))
	for j, i := range rest {
		guards[j] = c.flights.take(keys[i])
		restKeys[j] = keys[i]
	}
	defer func() {
		for j := range guards {
			c.flights.release(&guards[j])
		}
	}()
	rctx, rsp := c.trace(ctx, OpL2Read, "", restKeys)
	raws, ok, err := c.l2GetMany(rctx, o, restKeys)
	if rsp != nil {
		n := 0
		for _, r := range raws {
			if r != nil {
				n++
			}
		}
		rsp.FoundMany(n, len(restKeys)-n)
		rsp.End(err)
	}
	if !ok {
		return ctx, sp, fresh, stale, err
	}
	for j, i := range rest {
		k := keys[i]
		if raws[j] == nil {
			continue
		}
		e, mismatch, corrupt := decodeL2[T](c, k, raws[j])
		if mismatch != nil {
			return ctx, sp, fresh, stale, mismatch
		}
		if corrupt != nil {
			c.corrupt(ctx, k, corrupt)
			continue
		}
		switch c.judge(ctx, o, k, e, now) {
		case stateFresh:
			fresh[i], stale[i] = hit{e: e, layer: LayerL2}, hit{}
			if c.l1 != nil {
				c.keep(&guards[j], e.tags, false, func() { c.l1Store(k, e, now, o) })
			}
		case stateStale:
			if usable(o) {
				stale[i] = hit{e: e, layer: LayerL2}
			}
		case stateGone:
			c.keep(&guards[j], nil, true, func() { _ = c.l2Delete(ctx, o, k) })
		}
	}
	return ctx, sp, fresh, stale, nil
}

// l2GetMany reads keys from L2 in one call through an L2BatchDriver, else
// one Get per key; raws[i] is nil where keys[i] is missing. ok is false when
// L2 was skipped or failed.
func (c *Cache) l2GetMany(ctx context.Context, o *options, keys []string) (raws [][]byte, ok bool, err error) {
	bd, batch := c.l2.(L2BatchDriver)
	ok, err = c.l2Call(ctx, o, "get_many", "", func() error {
		if batch {
			raws, err = bd.GetMany(ctx, keys)
			return err
		}
		raws = make([][]byte, len(keys))
		for i, k := range keys {
			v, found, err := c.l2.Get(ctx, k)
			if err != nil {
				return err
			}
			if found {
				raws[i] = nonNilBytes(v)
			}
		}
		return nil
	})
	return raws, ok && len(raws) == len(keys), err
}

// nonNilBytes is v, or an empty slice for a found empty value: nil means
// missing in a batch.
func nonNilBytes(v []byte) []byte {
	if v == nil {
		return []byte{}
	}
	return v
}

// callMany resolves the options of a call on many keys and checks every
// key; it returns the keys without duplicates.
func (c *Cache) callMany(keys []string, opts []Option) (*options, []string, error) {
	if err := c.usable(); err != nil {
		return nil, nil, err
	}
	o := c.st.opts.forCall(opts)
	if o.err != nil {
		return nil, nil, fmt.Errorf("bento: store %q: %w", c.st.name, o.err)
	}
	seen := make(map[string]bool, len(keys))
	out := make([]string, 0, len(keys))
	for _, k := range keys {
		if err := c.checkKey(k); err != nil {
			return nil, nil, err
		}
		if !seen[k] {
			seen[k] = true
			out = append(out, k)
		}
	}
	return o.clone(), out, nil
}
