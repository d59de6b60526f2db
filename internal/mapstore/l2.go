// Package mapstore holds bento's reference in-process implementations of the
// L2 and database adapter contracts, over plain maps. bento's own tests use
// them where a real backend would only add noise, and the compliance suites in
// drivertest are checked against them.
//
// Time is read with time.Now, so they work under testing/synctest's fake
// clock.
package mapstore

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/bentocache/bento"
	"github.com/bentocache/bento/internal/keys"
)

// L2Options configures an [L2].
type L2Options struct {
	// Prefix is the first part of every key, as "prefix:namespace:key".
	// Empty means none: keys are "namespace:key", and Clear on the root
	// removes every key of the map.
	Prefix string
}

// L2 is a [bento.L2Driver], [bento.L2BatchDriver] and [bento.Pruner] over a
// map shared by all its views ([L2.Namespace], [L2.WithPrefix]). Values are
// copied in and out; an entry past its TTL is invisible, and removed when
// touched or pruned. It is safe for concurrent use.
type L2 struct {
	m    *l2Map
	base string // prefix and namespaces, joined by keys.Separator
}

// l2Map is the storage behind every view of an L2.
type l2Map struct {
	mu      sync.Mutex
	entries map[string]l2Entry
}

type l2Entry struct {
	value     []byte
	expiresAt time.Time // zero: never
}

// live reports whether e has not expired at now.
func (e l2Entry) live(now time.Time) bool {
	return e.expiresAt.IsZero() || now.Before(e.expiresAt)
}

// NewL2 returns an empty L2 on a map of its own.
func NewL2(o L2Options) *L2 {
	return &L2{m: &l2Map{entries: make(map[string]l2Entry)}, base: o.Prefix}
}

// WithPrefix returns a view of the same map under prefix, as if [NewL2] had
// been called with it on a shared backend: the view's keys and Clear are
// independent of dr's unless one prefix lies under the other.
func (dr *L2) WithPrefix(prefix string) *L2 {
	return &L2{m: dr.m, base: prefix}
}

// Len returns the number of entries in the whole map, expired ones not yet
// removed included. Tests use it to check that Prune and lazy removal work.
func (dr *L2) Len() int {
	dr.m.mu.Lock()
	defer dr.m.mu.Unlock()
	return len(dr.m.entries)
}

// Namespace returns a view of the same map under "<current>:<namespace>".
func (dr *L2) Namespace(namespace string) bento.L2Driver {
	return &L2{m: dr.m, base: keys.Join(dr.base, namespace)}
}

// Get returns a copy of the bytes stored under key, if any.
func (dr *L2) Get(ctx context.Context, key string) ([]byte, bool, error) {
	if err := ctx.Err(); err != nil {
		return nil, false, fmt.Errorf("mapstore: get %q: %w", key, err)
	}
	dr.m.mu.Lock()
	defer dr.m.mu.Unlock()
	v, ok := dr.m.get(dr.key(key), time.Now())
	return v, ok, nil
}

// Pull returns a copy of the bytes stored under key and deletes them.
func (dr *L2) Pull(ctx context.Context, key string) ([]byte, bool, error) {
	if err := ctx.Err(); err != nil {
		return nil, false, fmt.Errorf("mapstore: pull %q: %w", key, err)
	}
	k := dr.key(key)
	dr.m.mu.Lock()
	defer dr.m.mu.Unlock()
	v, ok := dr.m.get(k, time.Now())
	delete(dr.m.entries, k)
	return v, ok, nil
}

// Set stores a copy of value under key. A ttl <= 0 means no expiry.
func (dr *L2) Set(ctx context.Context, key string, value []byte, ttl time.Duration) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("mapstore: set %q: %w", key, err)
	}
	e := newEntry(value, ttl)
	dr.m.mu.Lock()
	defer dr.m.mu.Unlock()
	dr.m.entries[dr.key(key)] = e
	return nil
}

// Has reports whether key holds a value that has not expired.
func (dr *L2) Has(ctx context.Context, key string) (bool, error) {
	if err := ctx.Err(); err != nil {
		return false, fmt.Errorf("mapstore: has %q: %w", key, err)
	}
	dr.m.mu.Lock()
	defer dr.m.mu.Unlock()
	_, ok := dr.m.get(dr.key(key), time.Now())
	return ok, nil
}

// Clear removes every key under this view's prefix and namespace (see
// [keys.ClearPrefix]); on the root of an empty prefix, every key of the map.
func (dr *L2) Clear(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("mapstore: clear %q: %w", dr.base, err)
	}
	dr.m.mu.Lock()
	defer dr.m.mu.Unlock()
	for k := range dr.m.entries {
		if keys.Under(k, dr.base) {
			delete(dr.m.entries, k)
		}
	}
	return nil
}

// Delete removes key and reports whether it held a value that had not
// expired.
func (dr *L2) Delete(ctx context.Context, key string) (bool, error) {
	if err := ctx.Err(); err != nil {
		return false, fmt.Errorf("mapstore: delete %q: %w", key, err)
	}
	dr.m.mu.Lock()
	defer dr.m.mu.Unlock()
	return dr.m.delete(dr.key(key), time.Now()), nil
}

// DeleteMany removes keys and reports whether any of them held a value that
// had not expired.
func (dr *L2) DeleteMany(ctx context.Context, ks []string) (bool, error) {
	if err := ctx.Err(); err != nil {
		return false, fmt.Errorf("mapstore: delete %d keys: %w", len(ks), err)
	}
	now := time.Now()
	dr.m.mu.Lock()
	defer dr.m.mu.Unlock()
	deletedAny := false
	for _, k := range ks {
		if dr.m.delete(dr.key(k), now) {
			deletedAny = true
		}
	}
	return deletedAny, nil
}

// Disconnect does nothing: the map stays readable through every view.
// Calling it twice is fine.
func (dr *L2) Disconnect() error { return nil }

// GetMany returns a copy of the bytes stored under each key, nil where
// missing.
func (dr *L2) GetMany(ctx context.Context, ks []string) ([][]byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("mapstore: get %d keys: %w", len(ks), err)
	}
	now := time.Now()
	values := make([][]byte, len(ks))
	dr.m.mu.Lock()
	defer dr.m.mu.Unlock()
	for i, k := range ks {
		values[i], _ = dr.m.get(dr.key(k), now)
	}
	return values, nil
}

// SetMany stores a copy of every entry with the same ttl (<= 0: no expiry).
func (dr *L2) SetMany(ctx context.Context, entries []bento.KeyValue, ttl time.Duration) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("mapstore: set %d keys: %w", len(entries), err)
	}
	dr.m.mu.Lock()
	defer dr.m.mu.Unlock()
	for _, kv := range entries {
		dr.m.entries[dr.key(kv.Key)] = newEntry(kv.Value, ttl)
	}
	return nil
}

// Prune removes every expired entry of the map, under any prefix.
func (dr *L2) Prune(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("mapstore: prune: %w", err)
	}
	now := time.Now()
	dr.m.mu.Lock()
	defer dr.m.mu.Unlock()
	for k, e := range dr.m.entries {
		if !e.live(now) {
			delete(dr.m.entries, k)
		}
	}
	return nil
}

func (dr *L2) key(key string) string { return keys.Join(dr.base, key) }

func newEntry(value []byte, ttl time.Duration) l2Entry {
	e := l2Entry{value: clone(value)}
	if ttl > 0 {
		e.expiresAt = time.Now().Add(ttl)
	}
	return e
}

// get returns a copy of the live value under k, removing it if it has
// expired. m.mu must be held.
func (m *l2Map) get(k string, now time.Time) ([]byte, bool) {
	e, ok := m.entries[k]
	if !ok {
		return nil, false
	}
	if !e.live(now) {
		delete(m.entries, k)
		return nil, false
	}
	return clone(e.value), true
}

// delete removes k and reports whether it held a live value. m.mu must be
// held.
func (m *l2Map) delete(k string, now time.Time) bool {
	e, ok := m.entries[k]
	if ok {
		delete(m.entries, k)
	}
	return ok && e.live(now)
}

// clone copies b into a new slice that is never nil, so that an empty value
// stays distinguishable from a missing one ([bento.L2BatchDriver.GetMany]).
func clone(b []byte) []byte {
	return append(make([]byte, 0, len(b)), b...)
}

// Interface guards
var (
	_ bento.L2Driver      = (*L2)(nil)
	_ bento.L2BatchDriver = (*L2)(nil)
	_ bento.Pruner        = (*L2)(nil)
)
