package bento

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/bentocache/bento/internal/wire"
)

// BentoCache's tag records, read and written by a store under
// [BentoCacheCompat]. BentoCache keeps a tag's invalidation as an ordinary
// entry of the namespace under "___bc:t:<tag>", whose value is the time of
// the last invalidation in unix milliseconds: an entry carrying the tag and
// created at or before it is stale (BentoCache has no hard delete by tag).
// After writing one, BentoCache publishes a set of its key, and a process
// reads a record again only then.

// bcTagKeyPrefix starts the key of a BentoCache tag record.
const bcTagKeyPrefix = "___bc:t:"

// bcTagTTL is how long BentoCache keeps a tag record fresh, and then as long
// again under grace.
const bcTagTTL = 10 * 24 * time.Hour

func isBCTagKey(key string) (tag string, ok bool) { return strings.CutPrefix(key, bcTagKeyPrefix) }

// mergeBCTagRecord merges the BentoCache record raw of tag into ts, as an
// expiry (its time bounded by the clock skew). An undecodable record is
// ignored.
func (c *Cache) mergeBCTagRecord(ts *tagState, tag string, raw []byte, now int64) {
	e, err := decodeEntry[int64](c.st.serializer, raw)
	if err != nil {
		c.st.logger.Warn("BentoCache tag record undecodable; ignored", zap.String("namespace", c.path), zap.String("tag", tag), zap.Error(err))
		return
	}
	atomicMax(&ts.expiredAt, c.st.notAfterSkew(e.value.(int64), now))
}

// writeBCTagRecords writes BentoCache's records of tags, invalidated at
// now, and publishes a set of their keys, so that BentoCache processes read
// them again. BentoCache cannot express a delete by tag: to it, a
// DeleteByTag is an ExpireByTag.
func (c *Cache) writeBCTagRecords(ctx context.Context, o *options, tags []string, now int64) error {
	if c.l2 == nil {
		return nil
	}
	keys := make([]string, 0, len(tags))
	var errs []error
	for _, t := range tags {
		key := bcTagKeyPrefix + t
		e := &entry{value: now, createdAt: now, expiresAt: now + bcTagTTL.Milliseconds()}
		if err := encodeEntry(c.st.serializer, e); err != nil {
			errs = append(errs, fmt.Errorf("bento: store %q: encoding BentoCache's record of tag %q: %w", c.st.name, t, err))
			continue
		}
		ok, err := c.l2Call(ctx, o, "set", key, func() error { return c.l2.Set(ctx, key, e.raw, 2*bcTagTTL) })
		if err != nil {
			errs = append(errs, err)
		}
		if ok {
			keys = append(keys, key)
		}
	}
	if len(keys) > 0 {
		c.publish(ctx, wire.KindSet, keys...)
	}
	return errors.Join(errs...)
}

// bcTagChanged applies a BentoCache process's announcement that it wrote
// its record of tag: the record is read again before the next entry
// carrying the tag is served, and work in flight that read an entry of it
// does not store what it read.
func (c *Cache) bcTagChanged(tag string) {
	c.tags.state(tag).loadedAt.Store(0)
	c.tagsInvalidated([]string{tag})
}
