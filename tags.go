package bento

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"

	"go.uber.org/zap"

	"github.com/bentocache/bento/internal/wire"
)

// Tag invalidation works by time, as in BentoCache: DeleteByTag and
// ExpireByTag record when a tag was invalidated, and an entry carrying the tag
// that was created at or before that time is gone (or stale). The records live
// in-process (so an L1-only store keeps them even when L1 evicts), in L2 under
// the namespace's reserved key "__bento:tag:<tag>" (so other instances and
// restarts find them), and travel on the bus.

// tagKeyPrefix starts the reserved key of a tag record.
const tagKeyPrefix = reservedPrefix + ":tag:"

// entryState is what an entry is worth at a given time.
type entryState uint8

const (
	stateFresh entryState = iota
	stateStale
	stateGone // invalidated by DeleteByTag: treat as missing and remove
)

// tagRecord is the L2 form of a tag's invalidation times (unix ms).
type tagRecord struct {
	DeletedAt int64 `json:"deletedAt" msgpack:"deletedAt"`
	ExpiredAt int64 `json:"expiredAt" msgpack:"expiredAt"`
}

// MaxEntryTags is the most tags one entry may carry. A write with more is an
// error wrapping [ErrInvalidTag]; an entry read from L2 with more is corrupt
// (a miss and an error event), so that one entry cannot make every read of
// it fetch thousands of tag records.
const MaxEntryTags = 256

// maxTagStates bounds the tag states a namespace keeps in memory before it
// forgets the ones it can do without (see tagStates.sweep).
const maxTagStates = 10_000

// tagRecheck is how long a tag record read from L2 is trusted when the store
// has no bus to announce changes: a tag invalidation made by another instance
// is seen within this time.
const tagRecheck = 1000 // milliseconds

// tagState is the in-process form of a tag record.
type tagState struct {
	loadedAt  atomic.Int64 // unix ms of the last read from L2; 0: never
	deletedAt atomic.Int64
	expiredAt atomic.Int64
	seq       atomic.Uint64 // the namespace's tag invalidation count at the last one of this tag (see keep)
}

func (ts *tagState) merge(r tagRecord) {
	atomicMax(&ts.deletedAt, r.DeletedAt)
	atomicMax(&ts.expiredAt, r.ExpiredAt)
}

func atomicMax(a *atomic.Int64, v int64) {
	for {
		cur := a.Load()
		if v <= cur || a.CompareAndSwap(cur, v) {
			return
		}
	}
}

// tagStates holds the tag states of one namespace.
type tagStates struct {
	m       sync.Map // tag → *tagState
	n       atomic.Int64
	sweepMu sync.Mutex
}

func (t *tagStates) state(tag string) *tagState {
	if v, ok := t.m.Load(tag); ok {
		return v.(*tagState)
	}
	v, loaded := t.m.LoadOrStore(tag, &tagState{})
	if !loaded && t.n.Add(1) > maxTagStates {
		t.sweep(v.(*tagState))
	}
	return v.(*tagState)
}

// sweep bounds the states kept: past maxTagStates it forgets the tags never
// invalidated (what a later read needs of them, it reads again), and past
// twice that, also those whose record came from L2 (read again too). The
// tags invalidated here and not yet read back stay: for a store without L2
// they are the only record. keep is the state being handed out.
func (t *tagStates) sweep(keep *tagState) {
	if !t.sweepMu.TryLock() {
		return // another caller is sweeping
	}
	defer t.sweepMu.Unlock()
	for _, fromL2Too := range []bool{false, true} {
		if t.n.Load() <= maxTagStates || (fromL2Too && t.n.Load() <= 2*maxTagStates) {
			return
		}
		t.m.Range(func(k, v any) bool {
			ts := v.(*tagState)
			clean := ts.deletedAt.Load() == 0 && ts.expiredAt.Load() == 0 && ts.seq.Load() == 0
			if ts != keep && (clean || (fromL2Too && ts.loadedAt.Load() != 0)) {
				if t.m.CompareAndDelete(k, v) {
					t.n.Add(-1)
				}
			}
			return true
		})
	}
}

// lookup returns the state of tag, or nil when nothing is known of it.
func (t *tagStates) lookup(tag string) *tagState {
	if v, ok := t.m.Load(tag); ok {
		return v.(*tagState)
	}
	return nil
}

// reset forgets what was read from L2, so the next check reads it again
// (after a bus reconnect, when messages may have been missed).
func (t *tagStates) reset() {
	t.m.Range(func(_, v any) bool {
		v.(*tagState).loadedAt.Store(0)
		return true
	})
}

// tag returns the state of tag, reading its record from L2 the first time
// and — when no bus keeps it current — again once it is older than tagRecheck.
func (c *Cache) tag(ctx context.Context, o *options, tag string) *tagState {
	ts := c.tags.state(tag)
	if c.l2 == nil {
		return ts
	}
	now := c.st.b.now()
	if c.tagKnown(ts, now) {
		return ts
	}
	var raw, bcRaw []byte
	var found bool
	ok, err := c.l2Call(ctx, o, "get", tagKeyPrefix+tag, func() (err error) {
		if raw, found, err = c.l2.Get(ctx, tagKeyPrefix+tag); err != nil || !c.st.opts.compat {
			return err
		}
		bcRaw, _, err = c.l2.Get(ctx, bcTagKeyPrefix+tag)
		return err
	})
	if !ok {
		// Unknown for now: go on with what is known, ask again next time. A
		// suppressed error was logged by l2Call; this one cannot be returned.
		if err != nil {
			c.st.logger.Warn("tag record unreadable", zap.String("namespace", c.path), zap.String("tag", tag), zap.Error(err))
		}
		return ts
	}
	if found {
		c.mergeTagRecord(ts, tag, raw, now)
	}
	if bcRaw != nil {
		c.mergeBCTagRecord(ts, tag, bcRaw, now)
	}
	ts.loadedAt.Store(now)
	return ts
}

// mergeTagRecord merges the L2 record raw of tag into ts, its times bounded
// by the clock skew (see [MaxClockSkew]). An undecodable record is ignored.
func (c *Cache) mergeTagRecord(ts *tagState, tag string, raw []byte, now int64) {
	e, err := decodeEntry[tagRecord](c.st.serializer, raw)
	if err != nil {
		c.st.logger.Warn("tag record undecodable; ignored", zap.String("namespace", c.path), zap.String("tag", tag), zap.Error(err))
		return
	}
	r := e.value.(tagRecord)
	r.DeletedAt = c.st.notAfterSkew(r.DeletedAt, now)
	r.ExpiredAt = c.st.notAfterSkew(r.ExpiredAt, now)
	ts.merge(r)
}

// tagKnown reports whether ts, as read from L2, may be trusted at now
// without reading its record again: always when a bus keeps it current,
// otherwise for tagRecheck.
func (c *Cache) tagKnown(ts *tagState, now int64) bool {
	at := ts.loadedAt.Load()
	return at != 0 && (c.st.bus != nil || now-at < tagRecheck)
}

// loadTags reads, in one batch where the L2 driver can, the records of those
// of tags that are not known yet, so that judging an entry with many tags
// costs one round trip, not one per tag.
func (c *Cache) loadTags(ctx context.Context, o *options, tags []string) {
	bd, ok := c.l2.(L2BatchDriver)
	if !ok || len(tags) < 2 {
		return
	}
	now := c.st.b.now()
	var need, keys []string
	for _, t := range tags {
		if !c.tagKnown(c.tags.state(t), now) {
			need = append(need, t)
			keys = append(keys, tagKeyPrefix+t)
		}
	}
	if len(need) < 2 {
		return
	}
	if c.st.opts.compat { // BentoCache's records after bento's
		for _, t := range need {
			keys = append(keys, bcTagKeyPrefix+t)
		}
	}
	var values [][]byte
	// Named by a tag key, so that a failure stays out of events as every
	// tag-record failure does.
	if ok, _ := c.l2Call(ctx, o, "get_many", keys[0], func() (err error) {
		values, err = bd.GetMany(ctx, keys)
		return err
	}); !ok {
		return // each tag is read on its own below, or known later
	}
	for i, t := range need {
		ts := c.tags.state(t)
		if values[i] != nil {
			c.mergeTagRecord(ts, t, values[i], now)
		}
		if j := len(need) + i; j < len(values) && values[j] != nil {
			c.mergeBCTagRecord(ts, t, values[j], now)
		}
		ts.loadedAt.Store(now)
	}
}

// judge says whether e is fresh, stale or gone at now, tags included.
func (c *Cache) judge(ctx context.Context, o *options, key string, e *entry, now int64) entryState {
	s := stateFresh
	if !e.fresh(now) {
		s = stateStale
	}
	if c.l2 != nil {
		c.loadTags(ctx, o, e.tags)
	}
	for _, t := range e.tags {
		ts := c.tag(ctx, o, t)
		if e.createdAt <= ts.deletedAt.Load() {
			return stateGone
		}
		if e.createdAt <= ts.expiredAt.Load() {
			s = stateStale
		}
	}
	return s
}

// usable reports whether a stale entry may be served: with grace on, any
// stale entry a layer still holds (drivers keep it for TTL + grace).
func usable(o *options) bool { return o.grace > 0 }

// DeleteByTag removes every entry of this namespace that carries one of the
// tags and was created before the call, in every layer and on every instance
// (a hard delete: BentoCache keeps them as stale, see BEHAVIOUR.md). Entries
// written after the call are not affected.
func (c *Cache) DeleteByTag(ctx context.Context, tags ...string) error {
	return c.invalidateTags(ctx, tags, wire.KindDelete)
}

// ExpireByTag makes every entry of this namespace that carries one of the
// tags, and was created before the call, stale: usable under grace, refreshed
// by the next GetOrSet.
func (c *Cache) ExpireByTag(ctx context.Context, tags ...string) error {
	return c.invalidateTags(ctx, tags, wire.KindExpire)
}

func (c *Cache) invalidateTags(ctx context.Context, tags []string, kind wire.Kind) error {
	if err := c.usable(); err != nil {
		return err
	}
	if len(tags) == 0 {
		return fmt.Errorf("%w: store %q: invalidating tags: no tag given", ErrInvalidTag, c.st.name)
	}
	for _, t := range tags {
		if t == "" {
			return fmt.Errorf("%w: store %q: invalidating tags: empty tag", ErrInvalidTag, c.st.name)
		}
	}
	o := &c.st.opts
	now := c.st.b.now()
	atomicMax(&c.st.lastInvalidation, now)
	keys := make([]string, len(tags))
	for i, t := range tags {
		keys[i] = tagKeyPrefix + t
		c.applyTag(t, kind, now)
	}
	c.tagsInvalidated(tags)
	var errs []error
	if c.l2 != nil {
		for _, t := range tags {
			if err := c.persistTag(ctx, o, t); err != nil {
				errs = append(errs, err)
			}
		}
	}
	c.publish(ctx, kind, keys...)
	if c.st.opts.compat {
		errs = append(errs, c.writeBCTagRecords(ctx, o, tags, now))
	}
	return errors.Join(errs...)
}

// applyTag records an invalidation of tag at time at. Without an L2 the
// record exists only here: the namespace stays for as long as the store.
func (c *Cache) applyTag(tag string, kind wire.Kind, at int64) {
	if c.l2 == nil {
		c.st.pin(c)
	}
	ts := c.tags.state(tag)
	if kind == wire.KindDelete {
		atomicMax(&ts.deletedAt, at)
	} else {
		atomicMax(&ts.expiredAt, at)
	}
}

// persistTag merges the in-process record of tag into its L2 record; a
// change that L2 did not take is replayed when L2 is back.
func (c *Cache) persistTag(ctx context.Context, o *options, tag string) error {
	ok, err := c.l2Call(ctx, o, "set", tagKeyPrefix+tag, func() error { return c.writeTagRecord(ctx, tag) })
	if !ok && err == nil {
		c.recoverLater(&pendingChange{kind: changeTag, key: tag})
	}
	return err
}

// writeTagRecord reads the L2 record of tag afresh, whatever is cached —
// another instance may have raised the other field meanwhile, and a write
// must only ever raise both — merges it into the in-process one and writes
// the result.
func (c *Cache) writeTagRecord(ctx context.Context, tag string) error {
	key := tagKeyPrefix + tag
	ts := c.tags.state(tag)
	raw, found, err := c.l2.Get(ctx, key)
	if err != nil {
		return err
	}
	now := c.st.b.now()
	if found {
		c.mergeTagRecord(ts, tag, raw, now)
	}
	ts.loadedAt.Store(now)
	rec := tagRecord{DeletedAt: ts.deletedAt.Load(), ExpiredAt: ts.expiredAt.Load()}
	e := &entry{value: rec, createdAt: now}
	if err := encodeEntry(c.st.serializer, e); err != nil {
		return fmt.Errorf("bento: store %q: encoding tag %q: %w", c.st.name, tag, err)
	}
	return c.l2.Set(ctx, key, e.raw, 0)
}

func isTagKey(key string) (tag string, ok bool) { return strings.CutPrefix(key, tagKeyPrefix) }
