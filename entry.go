package bento

import (
	"encoding/json"
	"fmt"
	"slices"
)

// foreverMillis is the logicalExpiration of an entry that never expires: the
// largest time a JavaScript Date holds, so BentoCache reads it as "never" too.
const foreverMillis int64 = 8_640_000_000_000_000

// entry is what a store keeps: the decoded value for L1, the encoded
// envelope for L2, and the metadata of both. An entry is immutable once
// stored; changes make a copy.
type entry struct {
	value     any
	raw       []byte   // the encoded envelope, nil until encoded
	expiresAt int64    // logical expiry in unix milliseconds; 0: never
	createdAt int64    // unix milliseconds
	tags      []string // nil when untagged
}

// Size is the length of the encoded entry: what the memory driver's max_size
// counts (see [WeighedL1]).
func (e *entry) Size() int { return len(e.raw) }

func (e *entry) fresh(now int64) bool { return e.expiresAt == 0 || now < e.expiresAt }

// servable reports whether e, read from L1, may be returned as it is: there,
// fresh and untagged (a tagged entry must be checked against the
// invalidations of its tags). It is the whole test of the hot path; e may be
// nil.
func (e *entry) servable(now int64) bool { return e != nil && e.tags == nil && e.fresh(now) }

// refreshDue reports whether e, fresh, is older than threshold × its TTL
// (see [EagerRefresh]). An entry that never expires is never due.
func (e *entry) refreshDue(now int64, threshold float64) bool {
	return e.expiresAt != 0 && float64(now-e.createdAt) > threshold*float64(e.expiresAt-e.createdAt)
}

// expiredMillis is the logical expiry of an entry made stale by Expire (or a
// bus message): long past on every clock, so that an instance whose clock
// lags the writer's still sees the entry stale. How long a stale entry stays
// usable is its physical lifetime (TTL + grace), not its logical expiry.
const expiredMillis = 1

// staled returns a copy of e that is stale on every instance.
func (e *entry) staled() *entry {
	c := *e
	c.expiresAt = expiredMillis
	return &c
}

// remaining is how long a copy of e read from L2 should live in L1 from
// now: until its logical expiry plus grace, 0 for a forever entry, and at
// least 1ms so that a driver never reads a non-positive ttl as "forever".
func (e *entry) remaining(now int64, grace int64) int64 {
	if e.expiresAt == 0 {
		return 0
	}
	return max(e.expiresAt+grace-now, 1)
}

// envelope is BentoCache's encoding of an entry, so that bento and
// BentoCache services can share one L2.
type envelope[T any] struct {
	Value             T        `json:"value" msgpack:"value"`
	LogicalExpiration int64    `json:"logicalExpiration" msgpack:"logicalExpiration"`
	CreatedAt         int64    `json:"createdAt" msgpack:"createdAt"`
	Tags              []string `json:"tags,omitempty" msgpack:"tags,omitempty"`
}

func (e *entry) envelope() envelope[any] {
	exp := e.expiresAt
	if exp == 0 {
		exp = foreverMillis
	}
	return envelope[any]{Value: e.value, LogicalExpiration: exp, CreatedAt: e.createdAt, Tags: e.tags}
}

func fromEnvelope[T any](env *envelope[T], raw []byte) *entry {
	exp := env.LogicalExpiration
	if exp >= foreverMillis {
		exp = 0
	}
	tags := env.Tags
	if len(tags) == 0 {
		tags = nil // "tags": [] is untagged too (servable needs nil)
	}
	return &entry{value: env.Value, raw: raw, expiresAt: exp, createdAt: env.CreatedAt, tags: tags}
}

func encodeEntry(s Serializer, e *entry) error {
	raw, err := s.Marshal(e.envelope())
	if err != nil {
		return err
	}
	e.raw = raw
	return nil
}

// decodeEntry decodes raw as an entry whose value is a T.
func decodeEntry[T any](s Serializer, raw []byte) (*entry, error) {
	var env envelope[T]
	if err := s.Unmarshal(raw, &env); err != nil {
		return nil, err
	}
	if env.CreatedAt == 0 && env.LogicalExpiration == 0 {
		return nil, fmt.Errorf("not a bento entry (no logicalExpiration, no createdAt)")
	}
	if len(env.Tags) > MaxEntryTags {
		return nil, fmt.Errorf("the entry carries %d tags, more than the %d an entry may carry", len(env.Tags), MaxEntryTags)
	}
	return fromEnvelope(&env, raw), nil
}

// rawValue is a value kept in its encoded form: decodeEntry[rawValue] reads
// an entry's metadata without decoding its value. It implements the raw hooks
// of encoding/json and of msgpack (MarshalMsgpack/UnmarshalMsgpack), so that
// metadata can be rewritten (Expire) without knowing the value's type.
type rawValue []byte

func (r rawValue) MarshalJSON() ([]byte, error) {
	if len(r) == 0 {
		return []byte("null"), nil
	}
	return r, nil
}

func (r *rawValue) UnmarshalJSON(b []byte) error {
	*r = slices.Clone(b)
	return nil
}

// MarshalMsgpack returns the value's msgpack bytes as they were read.
func (r rawValue) MarshalMsgpack() ([]byte, error) { return r, nil }

// UnmarshalMsgpack keeps the value's msgpack bytes.
func (r *rawValue) UnmarshalMsgpack(b []byte) error {
	*r = slices.Clone(b)
	return nil
}

// jsonSerializer is the default [Serializer], on encoding/json.
type jsonSerializer struct{}

func (jsonSerializer) Marshal(v any) ([]byte, error)      { return json.Marshal(v) }
func (jsonSerializer) Unmarshal(data []byte, v any) error { return json.Unmarshal(data, v) }

// JSON returns bento's default serializer, on encoding/json.
func JSON() Serializer { return jsonSerializer{} }
