// Package memory is bento's in-process L1 driver (module
// bento.drivers.memory), built on [github.com/maypok86/otter/v2].
//
// A [Driver] keeps values as given, in one otter cache that the driver and all
// of its namespaces share; keys are laid out as "prefix:namespace:key" like in
// every bento driver. Entries expire through otter's timer wheel (no timer or
// goroutine per entry), and the cache may be bounded by a number of entries
// ([Options.MaxItems]), by the bytes of the stored entries ([Options.MaxSize])
// and by the bytes of any one entry ([Options.MaxEntrySize]). Otter runs one
// background goroutine per cache for the periodic removal of expired entries;
// [Driver.Disconnect] stops it.
//
//	l1 := memory.New(memory.Options{MaxSize: 64 << 20, Prefix: "app"})
//	if err := l1.Validate(); err != nil {
//		return err
//	}
//	defer l1.Disconnect()
//	users := l1.Namespace("users") // keys "app:users:*"
//	users.Set("42", u, time.Minute)
package memory

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/maypok86/otter/v2"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"

	"github.com/bentocache/bento"
	"github.com/bentocache/bento/internal/clock"
	"github.com/bentocache/bento/internal/keys"
	"github.com/bentocache/bento/internal/lease"
)

func init() { caddy.RegisterModule(Driver{}) }

// Driver is a [bento.L1Driver] that keeps entries in an otter cache. Module
// ID: bento.drivers.memory; it serves the L1 layer only.
//
// A Driver returned by [New] and the views returned by [Driver.Namespace]
// share one cache. A Driver is safe for concurrent use.
type Driver struct {
	// Bound on the number of entries. Default: none.
	MaxItems int `json:"max_items,omitempty"`
	// Bound on the total size of the entries, in bytes or with a unit
	// ("64MiB"), counting each entry's encoded size. Default: none.
	MaxSize bento.Size `json:"max_size,omitempty"`
	// Entries larger than this are not stored, e.g. "1MiB". Default: none.
	MaxEntrySize bento.Size `json:"max_entry_size,omitempty"`
	// Put before every key, as "prefix:namespace:key". Default: none (the
	// store's own prefix still applies).
	Prefix string `json:"prefix,omitempty"`

	s    *store
	pool *lease.Lease // set when the store came from the usage pool
	// prefix is "prefix:namespace…" as built by keys.Join; "" for none.
	prefix string
	// keyPrefix is keys.ClearPrefix(prefix): what every key of this view
	// starts with, so that a full key is keyPrefix+key.
	keyPrefix string
}

// Options configures a [Driver]; see [New]. The zero value is valid: an
// unbounded cache with no key prefix.
//
// MaxItems and MaxSize may be set together. Otter bounds a cache either by
// count or by weight, not both, so the driver then bounds it by weight alone
// and weighs every entry at least ceil(MaxSize/MaxItems) bytes: since the
// total weight never exceeds MaxSize, neither bound can be exceeded. The price
// is that a cache of entries smaller than MaxSize/MaxItems holds at most
// MaxItems of them while using less than MaxSize bytes, and that a mix of
// small and large entries fits slightly fewer than either bound alone would
// allow.
//
// Like otter, the cache may briefly exceed a bound while it evicts: eviction
// runs in maintenance passes after writes, not inside Set.
type Options struct {
	// MaxItems bounds the number of entries. Zero means no bound; negative
	// values are reported by [Driver.Validate].
	MaxItems int
	// MaxSize bounds the sum of the sizes of the stored entries, in bytes. The
	// size of an entry is its value's Size() int method, which bento provides
	// by encoding values when [Driver.WeighsValues] is true (the size of the
	// encoded entry); a value without that method, and one whose Size is
	// below one, weighs one byte, so it still counts against the bound. An
	// entry larger than MaxSize is not stored. Above 4 GiB, otter's 32-bit
	// weights count units of ceil(MaxSize/(2³²-1)) bytes, sizes rounded up.
	// Zero means no bound; negative values are reported by [Driver.Validate].
	MaxSize int64
	// MaxEntrySize bounds the size of one entry, in bytes, measured as for
	// MaxSize. Set does not store a larger entry and removes any older value
	// under its key, so that a reader never sees a stale value. Zero means no
	// bound; negative values are reported by [Driver.Validate].
	MaxEntrySize int64
	// Prefix is put before every key, as "prefix:namespace:key". Default:
	// none, and then [Driver.Clear] on the root removes every entry.
	Prefix string
	// Clock is the time source for TTLs. Default (nil): a coarse clock of
	// millisecond resolution owned by the driver, read with one atomic load
	// (the precise time costs as much as the rest of a lookup) and stopped by
	// [Driver.Disconnect]; its goroutine parks while nobody reads it. A clock
	// that does not tick disables the periodic removal of expired entries
	// (they are still never returned). Tests may inject a fake clock, or run
	// under testing/synctest with the default one. The driver never stops a
	// clock passed here.
	Clock otter.Clock
}

// store is the state shared by a Driver and its namespace views.
type store struct {
	cache *otter.Cache[string, entry]
	// o is the caller's options as given, for Validate.
	o Options
	// clock is the default clock when Options.Clock is nil; Disconnect stops it.
	clock *clock.Clock
	// sized: Set must measure values (MaxSize or MaxEntrySize is set).
	sized bool
	// maxEntrySize is Options.MaxEntrySize, or 0 for no bound.
	maxEntrySize int64
	// With MaxSize, weights count units of unit bytes (1 unless MaxSize is
	// above math.MaxUint32, otter's largest weight); maxWeight is MaxSize in
	// units and minWeight the least weight of an entry (see Options).
	unit, maxWeight, minWeight uint64
	// evictions counts the entries otter evicted to stay within a bound.
	evictions atomic.Uint64
}

// entry is what the otter cache holds for one key.
type entry struct {
	value any
	// ttl is the ttl given to Set; <= 0 is no expiry. ExpiryWritingFunc
	// reads it on every write.
	ttl time.Duration
	// weight is computed once by Set; the weigher returns it.
	weight uint32
}

// sizer is what a value implements to be weighed in bytes.
type sizer interface{ Size() int }

// New returns a Driver configured by o. It does no I/O and never fails:
// invalid options are reported by [Driver.Validate], and until then a
// negative bound is treated as no bound.
func New(o Options) *Driver {
	return &Driver{s: newStore(o), prefix: o.Prefix, keyPrefix: keys.ClearPrefix(o.Prefix)}
}

// newStore builds the otter cache that o describes: the one way in that New
// and Provision share.
func newStore(o Options) *store {
	s := &store{o: o}
	maxItems := max(o.MaxItems, 0)
	maxSize := max(o.MaxSize, 0)
	s.maxEntrySize = max(o.MaxEntrySize, 0)
	s.sized = maxSize > 0 || s.maxEntrySize > 0

	oo := &otter.Options[string, entry]{
		ExpiryCalculator: otter.ExpiryWritingFunc(expiresAfter),
		Clock:            o.Clock,
	}
	if maxItems > 0 || maxSize > 0 {
		oo.OnDeletion = func(e otter.DeletionEvent[string, entry]) {
			if e.Cause == otter.CauseOverflow {
				s.evictions.Add(1)
			}
		}
	}
	if o.Clock == nil {
		s.clock = clock.New(time.Millisecond, time.Second)
		oo.Clock = s.clock
	}
	switch {
	case maxSize > 0:
		s.unit = max(1, ceilDiv(uint64(maxSize), math.MaxUint32))
		s.maxWeight = uint64(maxSize) / s.unit
		s.minWeight = 1
		if maxItems > 0 {
			s.minWeight = max(1, ceilDiv(s.maxWeight, uint64(maxItems)))
		}
		oo.MaximumWeight = s.maxWeight
		oo.Weigher = weigh
	case maxItems > 0:
		oo.MaximumSize = maxItems
	}
	// The options are valid by construction: New cannot fail.
	s.cache = otter.Must(oo)
	return s
}

// CaddyModule returns the Caddy module information.
func (Driver) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{ID: "bento.drivers.memory", New: func() caddy.Module { return new(Driver) }}
}

// stores shares caches across config reloads: the same store with the same
// settings keeps its L1 contents.
var stores = caddy.NewUsagePool()

// Provision builds the driver from its JSON fields, sharing the cache of an
// identical driver of the same store from the previous config. No I/O.
func (dr *Driver) Provision(ctx caddy.Context) error {
	o := Options{MaxItems: dr.MaxItems, MaxSize: int64(dr.MaxSize), MaxEntrySize: int64(dr.MaxEntrySize), Prefix: dr.Prefix}
	key := fmt.Sprintf("%s|%d|%d|%d", bento.StoreName(ctx), o.MaxItems, o.MaxSize, o.MaxEntrySize)
	s, l, err := lease.Acquire(stores, key, func() (*store, error) { return newStore(o), nil })
	if err != nil {
		return err
	}
	s.o = o // the options of this driver, for Validate
	dr.s, dr.pool, dr.prefix, dr.keyPrefix = s, l, o.Prefix, keys.ClearPrefix(o.Prefix)
	return nil
}

// UnmarshalJSON reads the module's JSON fields one by one, so that an
// invalid value names its field (field "max_size": invalid size "-1KiB").
func (dr *Driver) UnmarshalJSON(b []byte) error {
	type fields Driver // the fields without this method
	return bento.UnmarshalStrict(b, (*fields)(dr))
}

// Cleanup releases the driver's share of its cache.
func (dr *Driver) Cleanup() error { return dr.Disconnect() }

// UnmarshalCaddyfile sets the driver up from a Caddyfile block:
//
//	memory {
//		max_items      <n>
//		max_size       <size>
//		max_entry_size <size>
//		prefix         <prefix>
//	}
func (dr *Driver) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	d.Next() // the module name
	if d.NextArg() {
		return d.ArgErr()
	}
	for d.NextBlock(0) {
		switch d.Val() {
		case "max_items":
			var v string
			if !d.Args(&v) {
				return d.ArgErr()
			}
			n, err := strconv.Atoi(v)
			if err != nil {
				return d.Errf("max_items: %q is not a whole number", v)
			}
			dr.MaxItems = n
		case "max_size", "max_entry_size":
			name := d.Val()
			var v string
			if !d.Args(&v) {
				return d.ArgErr()
			}
			size, err := bento.ParseSize(v)
			if err != nil {
				return d.Errf("%s: %v", name, err)
			}
			if name == "max_size" {
				dr.MaxSize = size
			} else {
				dr.MaxEntrySize = size
			}
		case "prefix":
			if !d.Args(&dr.Prefix) {
				return d.ArgErr()
			}
		default:
			return d.Errf("unknown memory driver option %q", d.Val())
		}
	}
	return nil
}

// Destruct stops the cache's goroutines and the clock the store owns; the
// usage pool calls it when the last driver using the store lets go.
func (s *store) Destruct() error {
	s.cache.StopAllGoroutines()
	if s.clock != nil {
		s.clock.Stop()
	}
	return nil
}

// Validate reports negative bounds in the options given to [New], every
// problem found, joined.
func (dr *Driver) Validate() error {
	var errs []error
	if o := dr.s.o; o.MaxItems < 0 {
		errs = append(errs, fmt.Errorf("memory: max_items must not be negative, got %d", o.MaxItems))
	}
	if o := dr.s.o; o.MaxSize < 0 {
		errs = append(errs, fmt.Errorf("memory: max_size must not be negative, got %d", o.MaxSize))
	}
	if o := dr.s.o; o.MaxEntrySize < 0 {
		errs = append(errs, fmt.Errorf("memory: max_entry_size must not be negative, got %d", o.MaxEntrySize))
	}
	return errors.Join(errs...)
}

// Namespace returns a view of the same cache whose keys are under
// "<prefix>:<namespace>" (just "<namespace>" on an unprefixed driver). Views
// nest, and are cheap: they share dr's cache and hold only their prefix.
func (dr *Driver) Namespace(namespace string) bento.L1Driver {
	prefix := keys.Join(dr.prefix, namespace)
	return &Driver{s: dr.s, pool: dr.pool, prefix: prefix, keyPrefix: keys.ClearPrefix(prefix)}
}

// Get returns the value stored under key, if it has not expired. Get does
// not allocate when the full key ("prefix:namespace:key") is at most 128
// bytes long, nor for any key on an unprefixed driver.
func (dr *Driver) Get(key string) (value any, found bool) {
	var buf [lookupKeySize]byte
	e, ok := dr.s.cache.GetIfPresent(dr.lookupKey(&buf, key))
	return e.value, ok
}

// Pull returns the value stored under key and deletes it, atomically: of
// two concurrent Pulls of one key, one finds the value.
func (dr *Driver) Pull(key string) (value any, found bool) {
	e, ok := dr.s.cache.Invalidate(dr.fullKey(key))
	return e.value, ok
}

// L1Stats returns the entries the cache holds (otter's estimate, all
// namespaces of the driver's cache), their size in bytes as MaxSize counts it
// (0 without MaxSize), and how many entries it evicted to stay within its
// bounds: the bento_l1_* metrics.
func (dr *Driver) L1Stats() (entries, sizeBytes, evictions uint64) {
	entries = uint64(max(dr.s.cache.EstimatedSize(), 0))
	if dr.s.maxWeight > 0 {
		sizeBytes = dr.s.cache.WeightedSize() * dr.s.unit
	}
	return entries, sizeBytes, dr.s.evictions.Load()
}

// Set stores value under key for ttl; a ttl <= 0 means no expiry. With
// [Options.MaxEntrySize] or [Options.MaxSize], an entry that is too large is
// not stored and any older value under key is removed.
func (dr *Driver) Set(key string, value any, ttl time.Duration) {
	full := dr.fullKey(key)
	e := entry{value: value, ttl: ttl, weight: 1}
	if dr.s.sized {
		w, ok := dr.s.weight(value)
		if !ok {
			dr.s.cache.Invalidate(full)
			return
		}
		e.weight = w
	}
	dr.s.cache.Set(full, e)
}

// Has reports whether key holds a value that has not expired. Unlike Get, it
// does not count as a use of the entry for eviction.
func (dr *Driver) Has(key string) bool {
	var buf [lookupKeySize]byte
	_, ok := dr.s.cache.GetEntryQuietly(dr.lookupKey(&buf, key))
	return ok
}

// Clear removes every key under this driver's prefix and namespace:
// "app:users:*" for Namespace("users") of a driver with prefix "app", never
// "app:usersX:*". On a driver with an empty prefix it removes every entry of
// the cache, the namespaces' included.
//
// NOTE: with a prefix, Clear walks every key of the cache, the other
// namespaces' included: its cost grows with the whole cache.
func (dr *Driver) Clear() {
	if dr.keyPrefix == "" {
		dr.s.cache.InvalidateAll()
		return
	}
	for k := range dr.s.cache.Keys() {
		if strings.HasPrefix(k, dr.keyPrefix) {
			dr.s.cache.Invalidate(k)
		}
	}
}

// Delete removes key and reports whether it held a value that had not
// expired.
func (dr *Driver) Delete(key string) (deleted bool) {
	_, ok := dr.s.cache.Invalidate(dr.fullKey(key))
	return ok
}

// DeleteMany removes keys and reports whether any of them held a value. An
// empty list is fine.
func (dr *Driver) DeleteMany(keys []string) (deletedAny bool) {
	for _, k := range keys {
		if dr.Delete(k) {
			deletedAny = true
		}
	}
	return deletedAny
}

// RemainingTTL reports how long key has left to live. It reports 0 and true
// for an entry that never expires, and 0 and false for a missing or expired
// one.
func (dr *Driver) RemainingTTL(key string) (ttl time.Duration, found bool) {
	var buf [lookupKeySize]byte
	e, ok := dr.s.cache.GetEntryQuietly(dr.lookupKey(&buf, key))
	if !ok {
		return 0, false
	}
	if e.Value.ttl <= 0 {
		return 0, true
	}
	// Positive: GetEntryQuietly returns no expired entry.
	return e.ExpiresAfter(), true
}

// Disconnect stops otter's background goroutine of the cache that dr shares
// with its namespaces, and waits for it to exit; calling it again, on dr or on
// any of those views, does nothing. The cache still works afterwards, without
// the periodic removal of expired entries (which are never returned anyway).
// It never fails.
func (dr *Driver) Disconnect() error {
	if dr.pool != nil {
		return dr.pool.Release()
	}
	return dr.s.Destruct()
}

// WeighsValues reports whether the driver measures values, that is whether
// [Options.MaxSize] or [Options.MaxEntrySize] is set. bento then hands Set
// values whose Size method gives the length of the encoded entry.
func (dr *Driver) WeighsValues() bool {
	return dr.s.sized
}

// lookupKeySize is the size of the stack buffer that Get, Has and
// RemainingTTL build a full key in. A longer full key is built on the heap.
const lookupKeySize = 128

// lookupKey returns the full key of key for a lookup that does not keep it.
// The result may point into buf, and is valid only while buf is.
//
// Building the key in a stack buffer is what keeps Get from allocating: a
// concatenation that the compiler cannot keep on the stack (one longer than
// 32 bytes, or that escapes) allocates. Handing otter a string over buf is
// safe only because otter neither keeps nor leaks the key of a lookup, which
// holds for otter v2.4.0 (re-check on upgrade):
//   - Cache.GetIfPresent and Cache.GetEntryQuietly take the key to
//     hashmap.Map.Get, which hashes it (maphash.Comparable: for a string, the
//     hash depends on the bytes only, and abi.EscapeNonString does not make a
//     string escape) and compares it with the keys of a bucket's nodes. What
//     else they do (stats, the read buffer, maintenance, the Entry they
//     return) uses the node found and its own key, never the argument.
//   - The driver's ExpiryCalculator is an ExpiryWritingFunc, so a read calls
//     no calculator (withReadExpiry is false), and no StatsRecorder is set.
//
// Escape analysis backs this up: buf stays on the stack only because the
// compiler proves that GetIfPresent and GetEntryQuietly let no copy of the key
// outlive the call. If a later otter stored the key, buf would move to the
// heap and TestDriver_GetDoesNotAllocate would fail, instead of a string over
// a dead stack frame surviving. Only an otter that hid the key from escape
// analysis (through unsafe code) and kept it could break this; v2.4.0 does not.
func (dr *Driver) lookupKey(buf *[lookupKeySize]byte, key string) string {
	if dr.keyPrefix == "" {
		return key
	}
	n := len(dr.keyPrefix) + len(key)
	if n > len(buf) {
		return dr.keyPrefix + key
	}
	copy(buf[:], dr.keyPrefix)
	copy(buf[len(dr.keyPrefix):], key)
	return unsafe.String(&buf[0], n)
}

// fullKey returns the full key of key, for a write that otter keeps.
func (dr *Driver) fullKey(key string) string {
	return keys.Join(dr.prefix, key)
}

// weight returns the weight of an entry holding v, and false if the entry is
// too large to be stored.
func (s *store) weight(v any) (uint32, bool) {
	size := int64(1)
	if sz, ok := v.(sizer); ok {
		size = max(int64(sz.Size()), 1)
	}
	if s.maxEntrySize > 0 && size > s.maxEntrySize {
		return 0, false
	}
	if s.maxWeight == 0 {
		return 1, true // no MaxSize: otter does not weigh
	}
	if size > s.o.MaxSize {
		return 0, false
	}
	// Clamped, an entry whose size rounds up past maxWeight is alone in the
	// cache and no larger than MaxSize: the bound holds.
	w := min(max(ceilDiv(uint64(size), s.unit), s.minWeight), s.maxWeight)
	return uint32(w), true // maxWeight <= math.MaxUint32
}

// weigh is otter's Weigher: the weight that Set computed.
func weigh(_ string, e entry) uint32 {
	return e.weight
}

// expiresAfter is otter's expiry for a write. otter keeps the previous
// deadline when given a duration <= 0, so an entry that never expires gets
// the longest duration, which otter saturates to a deadline it never reaches.
func expiresAfter(e otter.Entry[string, entry]) time.Duration {
	if e.Value.ttl <= 0 {
		return math.MaxInt64
	}
	return e.Value.ttl
}

// ceilDiv returns a/b rounded up; b > 0.
func ceilDiv(a, b uint64) uint64 {
	return a/b + min(a%b, 1)
}

// Interface guards
var (
	_ bento.L1Driver  = (*Driver)(nil)
	_ bento.WeighedL1 = (*Driver)(nil)
	_ bento.Validator = (*Driver)(nil)

	_ caddy.Provisioner     = (*Driver)(nil)
	_ caddy.Validator       = (*Driver)(nil)
	_ caddy.CleanerUpper    = (*Driver)(nil)
	_ caddyfile.Unmarshaler = (*Driver)(nil)
	_ json.Unmarshaler      = (*Driver)(nil)
)
