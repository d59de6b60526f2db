package bento

import (
	"context"
	"time"
)

// L1Driver is an in-process store. It keeps values as given (no encoding).
// A value that implements interface{ Size() int } is weighed by it for size limits.
//
// Keys are laid out as "prefix:namespace:key", the same in every driver:
// Namespace("users") on a driver with prefix "app" addresses "app:users:*", and
// Clear removes exactly the keys under its own prefix ("app:users:", never
// "app:usersX"). An L1Driver is safe for concurrent use.
type L1Driver interface {
	// Namespace returns a view of the same store under "<current>:<namespace>".
	Namespace(namespace string) L1Driver
	// Get returns the value stored under key, if any.
	Get(key string) (value any, found bool)
	// Pull returns the value stored under key and deletes it.
	Pull(key string) (value any, found bool)
	// Set stores value under key. A ttl <= 0 means no expiry.
	Set(key string, value any, ttl time.Duration)
	// Has reports whether key holds a value.
	Has(key string) bool
	// Clear removes every key under this driver's prefix and namespace.
	Clear()
	// Delete removes key and reports whether it existed.
	Delete(key string) (deleted bool)
	// DeleteMany removes keys and reports whether any of them existed.
	DeleteMany(keys []string) (deletedAny bool)
	// RemainingTTL reports how long key has left to live; zero means no expiry.
	RemainingTTL(key string) (ttl time.Duration, found bool)
	// Disconnect releases the driver's resources. Calling it twice is fine.
	Disconnect() error
}

// L2Driver is a shared, remote store of encoded entries.
//
// A missing key is not an error: Get and Pull report found == false and a nil
// error, and upstream "no rows" / "nil reply" sentinels never leave a driver.
// The key layout and the meaning of Clear are those of [L1Driver].
type L2Driver interface {
	// Namespace returns a view of the same store under "<current>:<namespace>".
	Namespace(namespace string) L2Driver
	// Get returns the bytes stored under key, if any.
	Get(ctx context.Context, key string) (value []byte, found bool, err error)
	// Pull returns the bytes stored under key and deletes them.
	Pull(ctx context.Context, key string) (value []byte, found bool, err error)
	// Set stores value under key. A ttl <= 0 means no expiry.
	Set(ctx context.Context, key string, value []byte, ttl time.Duration) error
	// Has reports whether key holds a value.
	Has(ctx context.Context, key string) (bool, error)
	// Clear removes every key under this driver's prefix and namespace.
	Clear(ctx context.Context) error
	// Delete removes key and reports whether it existed.
	Delete(ctx context.Context, key string) (deleted bool, err error)
	// DeleteMany removes keys and reports whether any of them existed. An
	// empty list is not an error.
	DeleteMany(ctx context.Context, keys []string) (deletedAny bool, err error)
	// Disconnect releases what the driver opened; it never closes a client the
	// user handed to it. Calling it twice is fine.
	Disconnect() error
}

// KeyValue is one entry of a batch write ([L2BatchDriver.SetMany]).
type KeyValue struct {
	Key   string
	Value []byte
}

// L2BatchDriver is an optional [L2Driver] capability, found by type assertion:
// reading or writing many keys in as few round trips as the backend allows.
type L2BatchDriver interface {
	// GetMany returns one slot per key, in order; a missing key's slot is nil.
	GetMany(ctx context.Context, keys []string) (values [][]byte, err error)
	// SetMany stores every entry with the same ttl (<= 0: no expiry).
	SetMany(ctx context.Context, entries []KeyValue, ttl time.Duration) error
}

// Locker is a cluster-wide lock service (module namespace bento.lockers):
// with one, a GetOrSet that misses L1 and L2 takes the key's lock before
// running its factory, so that one factory runs per key across every
// instance that shares the locker (see [Store.UseLocker]).
type Locker interface {
	// Acquire tries once to take the lock called name. It returns the lock
	// when this caller now owns it, nil and no error when another owner
	// holds it, and an error when the service failed.
	Acquire(ctx context.Context, name string) (Lock, error)
	// Disconnect releases what the locker opened; twice is fine.
	Disconnect() error
}

// Lock is one owned lock of a [Locker]. It expires after its lease unless
// refreshed, so that a holder that dies loses it.
type Lock interface {
	// Lease is how long the lock holds without a Refresh.
	Lease() time.Duration
	// Refresh extends the lock by its lease; it fails when the lock was lost.
	Refresh(ctx context.Context) error
	// Release gives the lock back. Only its owner's release counts: a lock
	// that expired and was taken by another owner is left to that owner.
	Release(ctx context.Context) error
}

// Pinger is an optional [L2Driver] capability: one cheap round trip that
// tells whether the backend answers. A store pings its L2 once when it
// starts, so that an unreachable L2 shows in the log at once and opens the
// circuit breaker.
type Pinger interface {
	Ping(ctx context.Context) error
}

// Pruner is an optional [L2Driver] capability: a backend that does not expire
// entries by itself removes the expired ones when Prune is called.
type Pruner interface {
	Prune(ctx context.Context) error
}

// Bus is a transport for invalidation messages between instances. The cache
// owns message encoding, node ids, retries and resync; a Bus only moves bytes.
//
// A Bus delivers a published payload to every subscriber of the channel,
// including subscribers in the publishing process.
type Bus interface {
	// Publish sends payload to every subscriber of channel.
	Publish(ctx context.Context, channel string, payload []byte) error
	// Subscribe calls handler for every payload published on channel until
	// Unsubscribe or Disconnect. The handler must not be called concurrently
	// with itself.
	Subscribe(ctx context.Context, channel string, handler func(payload []byte)) error
	// Unsubscribe stops deliveries on channel.
	Unsubscribe(ctx context.Context, channel string) error
	// OnReconnect registers f, called each time the transport reconnects after
	// losing its connection (messages published meanwhile may be lost).
	OnReconnect(f func())
	// Disconnect releases what the bus opened. Calling it twice is fine.
	Disconnect() error
}

// Serializer encodes values for L2. JSON is the default.
type Serializer interface {
	Marshal(v any) ([]byte, error)
	Unmarshal(data []byte, v any) error
}

// DatabaseAdapter lets the database L2 driver use any SQL library.
type DatabaseAdapter interface {
	// SetTableName sets the table used by every other method.
	SetTableName(name string)
	// CreateTableIfNotExists creates the table and its indexes if missing.
	CreateTableIfNotExists(ctx context.Context) error
	// Get returns the row stored under key, expired or not.
	Get(ctx context.Context, key string) (row Row, found bool, err error)
	// Set inserts or replaces the row for row.Key: never two rows for one key.
	Set(ctx context.Context, row Row) error
	// Delete removes the row for key and reports whether it existed.
	Delete(ctx context.Context, key string) (bool, error)
	// DeleteMany removes the rows for keys and reports how many existed.
	DeleteMany(ctx context.Context, keys []string) (int64, error)
	// Clear removes every row whose key starts with prefix; an empty prefix
	// removes every row. LIKE wildcards in prefix match literally.
	Clear(ctx context.Context, prefix string) error
	// PruneExpiredEntries removes every row whose ExpiresAt has passed.
	PruneExpiredEntries(ctx context.Context) error
	// Disconnect releases what the adapter opened. Calling it twice is fine.
	Disconnect() error
}

// Row is one entry of a [DatabaseAdapter].
type Row struct {
	Key       string
	Value     []byte
	ExpiresAt time.Time // zero: never
}

// WeighedL1 is an optional [L1Driver] capability. A driver whose limits count
// bytes reports true from WeighsValues; the cache then encodes every value
// before storing it, so that the value handed to Set implements
// interface{ Size() int } with the length of the encoded entry.
type WeighedL1 interface {
	WeighsValues() bool
}

// Validator is implemented by drivers, buses and serializers whose options
// can be wrong. [New] calls Validate on each and reports a problem with the
// store and the layer. It is the same method caddy calls on a module.
type Validator interface {
	Validate() error
}
