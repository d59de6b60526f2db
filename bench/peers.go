package bench

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/dgraph-io/ristretto"
	gocache "github.com/eko/gocache/lib/v4/cache"
	"github.com/eko/gocache/lib/v4/marshaler"
	gocachestore "github.com/eko/gocache/lib/v4/store"
	gocachemem "github.com/eko/gocache/store/go_cache/v4"
	gocacheredis "github.com/eko/gocache/store/redis/v4"
	gocacheristretto "github.com/eko/gocache/store/ristretto/v4"
	rediscache "github.com/go-redis/cache/v9"
	"github.com/maypok86/otter/v2"
	gomemcache "github.com/patrickmn/go-cache"
	goredis "github.com/redis/go-redis/v9"
	"github.com/viccon/sturdyc"
	"github.com/vmihailenco/msgpack/v5"

	"github.com/bentocache/bento"
	"github.com/bentocache/bento/modules/drivers/memory"
	bentoredis "github.com/bentocache/bento/modules/drivers/redis"
	bentomsgpack "github.com/bentocache/bento/modules/serializers/msgpack"
)

// The names of the peers, as the benchmarks print them (peer=<name>).
const (
	// PeerBento is bento: a memory L1 over a Redis L2.
	PeerBento = "bento"
	// PeerOtter is otter v2 alone, the in-memory cache under bento's L1: the
	// limit of an L1 built on it.
	PeerOtter = "otter"
	// PeerGoRedis is a bare go-redis client: one command per operation, the
	// limit of any Redis tier.
	PeerGoRedis = "goredis"
	// PeerGocache is eko/gocache: a loadable cache over a chain of an
	// in-memory store and Redis.
	PeerGocache = "gocache"
	// PeerGoRedisCache is go-redis/cache: its local TinyLFU over Redis.
	PeerGoRedisCache = "gorediscache"
	// PeerSturdyc is viccon/sturdyc with its distributed storage on Redis.
	PeerSturdyc = "sturdyc"
)

// DefaultTTL is the time to live of every entry, in every layer of every
// peer, when [Config.TTL] is zero: long enough that nothing expires during a
// benchmark, so that no peer pays for a refresh that another does not.
const DefaultTTL = time.Hour

// DefaultL1Entries bounds the L1 when [Config.L1Entries] is zero: above the
// keys that a run of a workload without eviction touches (unless it lasts
// many seconds), so that it measures each peer's reads and writes, not its
// eviction. A real L1 is always bounded, so every peer that takes a bound
// gets one.
const DefaultL1Entries = 1 << 18

// peerSettleTimeout bounds [Peer.Settle]: a write still missing after it is lost.
const peerSettleTimeout = 30 * time.Second

// Peer is one cache under test behind the few operations the workloads use,
// so that each workload is written once for every peer.
type Peer interface {
	// GetOrSet returns the value of key: from the L1, else from Redis, else
	// from [Config.Load], whose value it stores in every layer. It is each
	// peer's own read-through call, with its own stampede protection.
	GetOrSet(ctx context.Context, key string) (User, error)
	// Set stores u under key in every layer.
	Set(ctx context.Context, key string, u User) error
	// Settle waits until the writes the peer made in the background have
	// reached Redis, and returns the first error among them. gocache's
	// loadable cache and sturdyc hand the value of a factory to goroutines
	// of their own, which write it to Redis after GetOrSet has returned; the
	// workloads count that work by settling before they stop the timer.
	Settle() error
	// PastL1 is the number of reads, since the peer was built, that its L1
	// did not answer (they went to Redis or to the factory). ok is false
	// when the peer cannot tell.
	PastL1() (n int64, ok bool)
	// Close settles the peer, then releases its clients and goroutines.
	// Calling it twice is fine.
	Close() error
}

// Config configures a [Peer].
type Config struct {
	// Redis is the "host:port" of the Redis server of the L2. Empty builds
	// bento with no L2 and is required by otter, which has none; every other
	// peer needs it.
	Redis string
	// L1Entries bounds the L1, in entries. Zero means [DefaultL1Entries], a
	// bound that the workload does not reach; then gocache keeps its fastest
	// in-memory store, go-cache, which has no bound at all. A bound set here
	// is one the workload reaches, so gocache uses ristretto, the store it
	// offers that can be bounded by a number of entries.
	L1Entries int
	// TTL is the time to live of every entry. Zero means [DefaultTTL].
	TTL time.Duration
	// Load is the factory: the value of a key that no layer holds. Required.
	Load func(ctx context.Context, key string) (User, error)
	// CountL1 makes bento count its reads past the L1 for [Peer.PastL1]. It
	// does so with an event listener, which costs it a call on every read,
	// so it is off unless a workload reports a hit ratio. The other peers
	// always count, at no cost to a hit: their counters sit on their Redis
	// or factory path.
	CountL1 bool
}

// NewPeer builds the peer called name (one of the Peer* constants).
func NewPeer(name string, cfg Config) (Peer, error) {
	if cfg.Load == nil {
		return nil, errors.New("bench: Config.Load is required")
	}
	if cfg.TTL == 0 {
		cfg.TTL = DefaultTTL
	}
	if name != PeerBento && name != PeerOtter && cfg.Redis == "" {
		return nil, fmt.Errorf("bench: peer %s needs Config.Redis", name)
	}
	switch name {
	case PeerBento:
		return newBentoPeer(cfg)
	case PeerOtter:
		if cfg.Redis != "" {
			return nil, errors.New("bench: otter has no L2: leave Config.Redis empty")
		}
		return newOtterPeer(cfg)
	case PeerGoRedis:
		return newGoRedisPeer(cfg), nil
	case PeerGocache:
		return newGocachePeer(cfg)
	case PeerGoRedisCache:
		return newGoRedisCachePeer(cfg), nil
	case PeerSturdyc:
		return newSturdycPeer(cfg), nil
	}
	return nil, fmt.Errorf("bench: unknown peer %q", name)
}

// l1Entries is cfg's L1 bound, with the default applied.
func (cfg Config) l1Entries() int {
	if cfg.L1Entries > 0 {
		return cfg.L1Entries
	}
	return DefaultL1Entries
}

// newPeerRedisClient opens a client of the peer's own, with go-redis's default
// pool, so that no peer waits on another's connections.
func newPeerRedisClient(addr string) *goredis.Client {
	return goredis.NewClient(&goredis.Options{Addr: addr})
}

// peerWrites tracks the Redis writes that a peer makes from its own goroutines:
// the peer counts the writes it expects, the Redis side counts those done, and
// Settle waits until the two meet.
type peerWrites struct {
	done   atomic.Int64
	notify chan struct{} // one pending wake-up, so a done write is never missed
	mu     sync.Mutex
	err    error
}

func newPeerWrites() *peerWrites { return &peerWrites{notify: make(chan struct{}, 1)} }

// finish records a write that ended, with err if it failed.
func (w *peerWrites) finish(err error) {
	w.fail(err)
	w.done.Add(1)
	select {
	case w.notify <- struct{}{}:
	default:
	}
}

// fail records err, if it is the first error.
func (w *peerWrites) fail(err error) {
	if err == nil {
		return
	}
	w.mu.Lock()
	if w.err == nil {
		w.err = err
	}
	w.mu.Unlock()
}

// wait returns once want writes have finished, with the first error seen.
func (w *peerWrites) wait(want int64) error {
	timer := time.NewTimer(peerSettleTimeout)
	defer timer.Stop()
	for w.done.Load() < want {
		select {
		case <-w.notify:
		case <-timer.C:
			return fmt.Errorf("bench: %d of %d background writes reached Redis after %v", w.done.Load(), want, peerSettleTimeout)
		}
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.err
}

// bentoPeer is bento as its documentation sets it up: one store, a memory
// L1, a Redis L2, the msgpack serializer. msgpack is what gocache's
// marshaler and go-redis/cache encode with, so every peer but sturdyc (whose
// distributed records are JSON, not configurable) pays for the same codec.
// The store has no key prefix: every peer is given the same full keys, so
// that none pays for building a namespaced key but bento.
type bentoPeer struct {
	m       *bento.Bento
	c       *bento.Cache
	client  *goredis.Client // nil without an L2
	factory bento.Factory[User]
	pastL1  atomic.Int64
	counted bool
	once    sync.Once
	err     error
}

func newBentoPeer(cfg Config) (*bentoPeer, error) {
	p := &bentoPeer{counted: cfg.CountL1}
	load := cfg.Load
	p.factory = func(ctx context.Context, fc *bento.FactoryContext[User]) (User, error) {
		return load(ctx, fc.Key())
	}
	// No key prefix, as no other peer has one: the run's keys are exactly the
	// ones it deletes at its end.
	st := bento.NewStore(bento.TTL(cfg.TTL), bento.Prefix("")).
		UseL1(memory.New(memory.Options{MaxItems: cfg.l1Entries()})).
		UseSerializer(bentomsgpack.Serializer{})
	if cfg.Redis != "" {
		p.client = newPeerRedisClient(cfg.Redis)
		st.UseL2(bentoredis.New(bentoredis.Options{Client: p.client}))
	}
	m, err := bento.New(bento.Config{Stores: map[string]*bento.Store{"main": st}})
	if err != nil {
		if p.client != nil {
			_ = p.client.Close()
		}
		return nil, err
	}
	p.m, p.c = m, m.Default()
	if cfg.CountL1 {
		// A read that the L1 does not answer ends in exactly one of a miss
		// or a hit on another layer.
		m.On(func(e bento.Event) {
			if e.Kind == bento.EventMiss || (e.Kind == bento.EventHit && e.Layer != bento.LayerL1) {
				p.pastL1.Add(1)
			}
		})
	}
	return p, nil
}

// GetOrSet is bento.GetOrSet, with one factory made once: a hit allocates
// nothing of the adapter's.
func (p *bentoPeer) GetOrSet(ctx context.Context, key string) (User, error) {
	return bento.GetOrSet(ctx, p.c, key, p.factory)
}

// Set is Cache.Set, with the store's TTL.
func (p *bentoPeer) Set(ctx context.Context, key string, u User) error {
	return p.c.Set(ctx, key, u)
}

// Settle has nothing to wait for: bento writes both layers before it returns.
func (p *bentoPeer) Settle() error { return nil }

// PastL1 counts misses and hits on L2 from bento's events, when
// Config.CountL1 registered the listener.
func (p *bentoPeer) PastL1() (int64, bool) { return p.pastL1.Load(), p.counted }

// Close closes the manager, which disconnects its drivers, then the Redis
// client, which the driver never closes since it did not open it.
func (p *bentoPeer) Close() error {
	p.once.Do(func() {
		p.err = p.m.Close()
		if p.client != nil {
			p.err = errors.Join(p.err, p.client.Close())
		}
	})
	return p.err
}

// otterPeer is otter v2 alone, configured as a plain bounded cache (a
// maximum size, no expiry, no stats): the least work an in-memory cache on
// otter can do, so the floor under bento's L1. A hit is GetIfPresent alone;
// a miss goes through otter's Get with a loader, which runs it once for
// concurrent callers.
type otterPeer struct {
	c      *otter.Cache[string, User]
	loader otter.Loader[string, User]
	loads  atomic.Int64
}

func newOtterPeer(cfg Config) (*otterPeer, error) {
	c, err := otter.New(&otter.Options[string, User]{MaximumSize: cfg.l1Entries()})
	if err != nil {
		return nil, err
	}
	p := &otterPeer{c: c}
	load := cfg.Load
	p.loader = otter.LoaderFunc[string, User](func(ctx context.Context, key string) (User, error) {
		p.loads.Add(1)
		return load(ctx, key)
	})
	return p, nil
}

// GetOrSet is GetIfPresent, and otter's loading Get on a miss.
func (p *otterPeer) GetOrSet(ctx context.Context, key string) (User, error) {
	if u, ok := p.c.GetIfPresent(key); ok {
		return u, nil
	}
	return p.c.Get(ctx, key, p.loader)
}

// Set is otter's Set.
func (p *otterPeer) Set(_ context.Context, key string, u User) error {
	p.c.Set(key, u)
	return nil
}

// Settle has nothing to wait for: otter has no other layer.
func (p *otterPeer) Settle() error { return nil }

// PastL1 counts the loader's runs: with no other layer, a read the cache did
// not answer is a read that ran the loader (callers that joined another's
// load count as answered).
func (p *otterPeer) PastL1() (int64, bool) { return p.loads.Load(), true }

// Close stops otter's goroutines.
func (p *otterPeer) Close() error {
	p.c.StopAllGoroutines()
	return nil
}

// goRedisPeer is a bare go-redis client: GET and msgpack decoding for a read,
// msgpack encoding and SET for a write. It is the least a Redis tier can do,
// so the floor under every peer's L2 path. Its GetOrSet is a naive
// read-through, GET then SET on a miss, with no stampede protection: the
// workloads only use it to fill Redis and to read.
type goRedisPeer struct {
	client *goredis.Client
	ttl    time.Duration
	load   func(context.Context, string) (User, error)
}

func newGoRedisPeer(cfg Config) *goRedisPeer {
	return &goRedisPeer{client: newPeerRedisClient(cfg.Redis), ttl: cfg.TTL, load: cfg.Load}
}

// GetOrSet is GET and decoding; on a miss, the factory and Set.
func (p *goRedisPeer) GetOrSet(ctx context.Context, key string) (User, error) {
	var u User
	b, err := p.client.Get(ctx, key).Bytes()
	if errors.Is(err, goredis.Nil) {
		if u, err = p.load(ctx, key); err != nil {
			return u, err
		}
		return u, p.Set(ctx, key, u)
	}
	if err != nil {
		return u, err
	}
	err = msgpack.Unmarshal(b, &u)
	return u, err
}

// Set is msgpack encoding and SET with the TTL.
func (p *goRedisPeer) Set(ctx context.Context, key string, u User) error {
	b, err := msgpack.Marshal(&u)
	if err != nil {
		return err
	}
	return p.client.Set(ctx, key, b, p.ttl).Err()
}

// Settle has nothing to wait for: every command has returned.
func (p *goRedisPeer) Settle() error { return nil }

// PastL1 cannot tell: there is no L1.
func (p *goRedisPeer) PastL1() (int64, bool) { return 0, false }

// Close closes the client; a second call finds it closed, which is fine.
func (p *goRedisPeer) Close() error {
	err := p.client.Close()
	if errors.Is(err, goredis.ErrClosed) {
		return nil
	}
	return err
}

// gocachePeer is eko/gocache built from the pieces it documents for two
// tiers: a chain of an in-memory store and Redis, wrapped in its loadable cache (the
// read-through call, with singleflight) and in its marshaler, which encodes
// values as msgpack. The chain needs one value type for both stores, and
// Redis gives back strings, so the chain holds encoded bytes and every read
// decodes them, an L1 hit included: that is how gocache caches a struct in
// Redis.
//
// The in-memory store is go-cache. gocache offers it, ristretto, bigcache
// and freecache; bigcache and freecache keep byte slices in arenas of their
// own and copy a value out on every read. go-cache is a map under a lock: a
// Set is visible to the next Get, and through gocache its Get takes about
// half the time of ristretto's (whose store makes two lookups per read,
// value then TTL). Ristretto buffers its Sets, may drop them, and is only synchronous with
// gocache's synchronous-set option, which waits on its buffer at about four
// times go-cache's cost per Set. But go-cache has no bound, so when a
// workload sets [Config.L1Entries] to a bound it must hit (the Zipf one),
// the store is ristretto with synchronous sets, bounded to that many
// entries.
//
// The loadable cache does not write a loaded value itself: it hands it to a
// goroutine that writes the chain, L1 then Redis, after GetOrSet returns.
// Settle waits for those writes, counted at the Redis store.
type gocachePeer struct {
	client   *goredis.Client
	rc       *ristretto.Cache // nil with go-cache
	l2       *gocacheRedisStore
	chain    *gocache.ChainCache[any]
	loadable *gocache.LoadableCache[any]
	m        *marshaler.Marshaler
	ttl      time.Duration
	sets     atomic.Int64 // Set calls: each writes Redis once
	loads    atomic.Int64 // loaded values: each is written to Redis once, later
	once     sync.Once
	err      error
}

func newGocachePeer(cfg Config) (*gocachePeer, error) {
	p := &gocachePeer{client: newPeerRedisClient(cfg.Redis), ttl: cfg.TTL}
	var l1 gocache.SetterCacheInterface[any]
	if cfg.L1Entries > 0 {
		rc, err := ristretto.NewCache(&ristretto.Config{
			NumCounters:        10 * int64(cfg.L1Entries), // ristretto's advice: ten counters per entry
			MaxCost:            int64(cfg.L1Entries),
			BufferItems:        64, // ristretto's advice
			Cost:               func(any) int64 { return 1 },
			IgnoreInternalCost: true, // so the cost of an entry is 1, and MaxCost counts entries
		})
		if err != nil {
			_ = p.client.Close()
			return nil, err
		}
		p.rc = rc
		l1 = gocache.New[any](gocacheristretto.NewRistretto(rc, gocachestore.WithSynchronousSet(), gocachestore.WithExpiration(cfg.TTL)))
	} else {
		// No janitor (cleanup interval 0): it is a goroutine that only a
		// finalizer stops; an expired entry is still never returned.
		l1 = gocache.New[any](gocachemem.NewGoCache(gomemcache.New(cfg.TTL, 0), gocachestore.WithExpiration(cfg.TTL)))
	}
	p.l2 = &gocacheRedisStore{
		RedisStore: gocacheredis.NewRedis(p.client, gocachestore.WithExpiration(cfg.TTL)),
		w:          newPeerWrites(),
	}
	p.chain = gocache.NewChain[any](l1, gocache.New[any](p.l2))
	load := cfg.Load
	p.loadable = gocache.NewLoadable[any](func(ctx context.Context, key any) (any, []gocachestore.Option, error) {
		u, err := load(ctx, key.(string))
		if err != nil {
			return nil, nil, err
		}
		b, err := msgpack.Marshal(&u)
		if err != nil {
			return nil, nil, err
		}
		p.loads.Add(1)
		return b, []gocachestore.Option{gocachestore.WithExpiration(p.ttl)}, nil
	}, p.chain)
	p.m = marshaler.New(p.loadable)
	return p, nil
}

// GetOrSet is the marshaler's Get over the loadable cache: singleflight,
// the chain (memory, then Redis), the factory on a miss, and decoding.
func (p *gocachePeer) GetOrSet(ctx context.Context, key string) (User, error) {
	var u User
	_, err := p.m.Get(ctx, key, &u)
	return u, err
}

// Set is the marshaler's Set: encoding, then the chain's Set, which writes
// memory then Redis before it returns.
func (p *gocachePeer) Set(ctx context.Context, key string, u User) error {
	p.sets.Add(1)
	return p.m.Set(ctx, key, u, gocachestore.WithExpiration(p.ttl))
}

// Settle waits until Redis has had one write per Set and per loaded value.
func (p *gocachePeer) Settle() error {
	return p.l2.w.wait(p.sets.Load() + p.loads.Load())
}

// PastL1 counts the lookups that reached the Redis store: the chain only
// asks Redis when the in-memory store missed.
func (p *gocachePeer) PastL1() (int64, bool) { return p.l2.gets.Load(), true }

// Close settles, then stops gocache's goroutines and ristretto's, then
// closes the client.
func (p *gocachePeer) Close() error {
	p.once.Do(func() {
		p.err = p.Settle()
		// The loadable cache and the chain each run a goroutine; closing them
		// in this order writes out what they still hold before Redis goes.
		p.err = errors.Join(p.err, p.loadable.Close(), p.chain.Close())
		if p.rc != nil {
			p.rc.Close()
		}
		p.err = errors.Join(p.err, p.client.Close())
	})
	return p.err
}

// gocacheRedisStore is gocache's Redis store, counted: the reads that reach
// it, for PastL1, and the writes that end, for Settle.
type gocacheRedisStore struct {
	*gocacheredis.RedisStore
	gets atomic.Int64
	w    *peerWrites
}

// Get counts the lookup, then makes it.
func (s *gocacheRedisStore) Get(ctx context.Context, key any) (any, error) {
	s.gets.Add(1)
	return s.RedisStore.Get(ctx, key)
}

// GetWithTTL, the chain's read, counts the lookup, then makes it.
func (s *gocacheRedisStore) GetWithTTL(ctx context.Context, key any) (any, time.Duration, error) {
	s.gets.Add(1)
	return s.RedisStore.GetWithTTL(ctx, key)
}

// Set writes, then counts the write as done for Settle.
func (s *gocacheRedisStore) Set(ctx context.Context, key, value any, options ...gocachestore.Option) error {
	err := s.RedisStore.Set(ctx, key, value, options...)
	s.w.finish(err)
	return err
}

// Clear refuses: gocache's Redis store clears with FLUSHALL, which would
// empty a server that other tests share.
func (s *gocacheRedisStore) Clear(context.Context) error {
	return errors.New("bench: gocache's Redis Clear is FLUSHALL; delete the keys instead")
}

// goRedisCachePeer is go-redis/cache as its documentation sets it up: its
// local TinyLFU over Redis, its default codec (msgpack, compressed with s2 above 64
// bytes, which a User is not), Once as the read-through call (with
// singleflight) and Set as the write. The local cache holds encoded bytes,
// so every read decodes, an L1 hit included.
type goRedisCachePeer struct {
	client *goredis.Client
	redis  *countedRedis
	c      *rediscache.Cache
	ttl    time.Duration
	do     func(*rediscache.Item) (any, error)
}

func newGoRedisCachePeer(cfg Config) *goRedisCachePeer {
	p := &goRedisCachePeer{client: newPeerRedisClient(cfg.Redis), ttl: cfg.TTL}
	p.redis = &countedRedis{Client: p.client}
	p.c = rediscache.New(&rediscache.Options{
		Redis:      p.redis,
		LocalCache: rediscache.NewTinyLFU(cfg.l1Entries(), cfg.TTL),
	})
	load := cfg.Load
	// One Do for every call: it finds the key in the item.
	p.do = func(it *rediscache.Item) (any, error) { return load(it.Context(), it.Key) }
	return p
}

// GetOrSet is Once: the local cache, then singleflight, Redis, and the
// factory on a miss; then decoding.
func (p *goRedisCachePeer) GetOrSet(ctx context.Context, key string) (User, error) {
	var u User
	err := p.c.Once(&rediscache.Item{Ctx: ctx, Key: key, Value: &u, TTL: p.ttl, Do: p.do})
	return u, err
}

// Set is go-redis/cache's Set: encoding, the local cache, then SET.
func (p *goRedisCachePeer) Set(ctx context.Context, key string, u User) error {
	return p.c.Set(&rediscache.Item{Ctx: ctx, Key: key, Value: u, TTL: p.ttl})
}

// Settle has nothing to wait for: go-redis/cache writes both layers before it
// returns.
func (p *goRedisCachePeer) Settle() error { return nil }

// PastL1 counts the GETs sent to Redis: go-redis/cache only sends one when
// its local cache missed.
func (p *goRedisCachePeer) PastL1() (int64, bool) { return p.redis.gets.Load(), true }

// Close closes the client; go-redis/cache itself runs no goroutine.
func (p *goRedisCachePeer) Close() error {
	err := p.client.Close()
	if errors.Is(err, goredis.ErrClosed) {
		return nil
	}
	return err
}

// countedRedis is the client go-redis/cache talks to, with its GETs counted.
type countedRedis struct {
	*goredis.Client
	gets atomic.Int64
}

// Get counts the lookup, then sends it.
func (r *countedRedis) Get(ctx context.Context, key string) *goredis.StringCmd {
	r.gets.Add(1)
	return r.Client.Get(ctx, key)
}

// sturdycShards and sturdycEvictPercent are the shard count and the share of
// a full shard evicted at once, as in sturdyc's README.
const (
	sturdycShards       = 10
	sturdycEvictPercent = 10
)

// sturdycPeer is viccon/sturdyc with its distributed storage on Redis:
// GetOrFetch looks in memory, then in the storage, then runs the fetch
// function, and writes its value to memory at once and to the storage from a
// goroutine of its own, as JSON records (sturdyc's format; it cannot be
// changed). sturdyc leaves the storage to the user behind a four-method
// interface, implemented here on go-redis: GET, SET with the TTL, MGET, and
// a pipeline of SETs. Continuous evictions are off: they run on a goroutine
// that sturdyc never stops, and with an hour's TTL they would find nothing
// to evict during a benchmark; a full shard still evicts.
//
// sturdyc's own Set writes memory only: it has no call that writes the
// distributed storage. So this peer's Set writes memory with sturdyc's Set
// and Redis with a record of sturdyc's format through the same storage, which
// is what an application has to do itself. Workloads that measure a write
// leave sturdyc out, since that write would be this package's code.
type sturdycPeer struct {
	client  *goredis.Client
	st      *sturdycRedis
	c       *sturdyc.Client[User]
	load    func(context.Context, string) (User, error)
	fetched atomic.Int64 // fetched values: each is written to Redis once, later
	sets    atomic.Int64 // Set calls: each writes Redis once
	once    sync.Once
	err     error
}

func newSturdycPeer(cfg Config) *sturdycPeer {
	p := &sturdycPeer{client: newPeerRedisClient(cfg.Redis), load: cfg.Load}
	p.st = &sturdycRedis{client: p.client, ttl: cfg.TTL, w: newPeerWrites()}
	p.c = sturdyc.New[User](cfg.l1Entries(), sturdycShards, cfg.TTL, sturdycEvictPercent,
		sturdyc.WithNoContinuousEvictions(),
		sturdyc.WithDistributedStorage(p.st),
	)
	return p
}

// GetOrSet is GetOrFetch.
func (p *sturdycPeer) GetOrSet(ctx context.Context, key string) (User, error) {
	// The fetch function takes no key, so each call needs a closure.
	return p.c.GetOrFetch(ctx, key, func(ctx context.Context) (User, error) {
		u, err := p.load(ctx, key)
		if err == nil {
			p.fetched.Add(1)
		}
		return u, err
	})
}

// Set is sturdyc's Set, to memory, and a record written to Redis here, as
// sturdyc would write it (see sturdycPeer).
func (p *sturdycPeer) Set(ctx context.Context, key string, u User) error {
	p.sets.Add(1)
	p.c.Set(key, u)
	b, err := json.Marshal(sturdycRecord{CreatedAt: time.Now(), Value: u})
	if err != nil {
		p.st.w.finish(err)
		return err
	}
	return p.st.set(ctx, key, b)
}

// Settle waits until Redis has had one write per fetched value and per Set.
func (p *sturdycPeer) Settle() error {
	return p.st.w.wait(p.fetched.Load() + p.sets.Load())
}

// PastL1 counts the lookups sent to the distributed storage: sturdyc only
// asks it when memory missed.
func (p *sturdycPeer) PastL1() (int64, bool) { return p.st.gets.Load(), true }

// Close settles, then closes the client.
func (p *sturdycPeer) Close() error {
	p.once.Do(func() {
		// sturdyc has no Close; once its writes are in, nothing of it runs.
		p.err = p.Settle()
		p.err = errors.Join(p.err, p.client.Close())
	})
	return p.err
}

// sturdycRecord has the JSON fields of the records sturdyc writes to its
// distributed storage, so that a value Set here reads back through it.
type sturdycRecord struct {
	CreatedAt       time.Time `json:"created_at"`
	Value           User      `json:"value"`
	IsMissingRecord bool      `json:"is_missing_record"`
}

// sturdycRedis is sturdyc's distributed storage on Redis. sturdyc leaves the
// TTL of the storage to it: every record gets the peer's TTL. The interface
// has no errors, so a failed read is a miss for sturdyc, and is also kept for
// Settle to report.
type sturdycRedis struct {
	client *goredis.Client
	ttl    time.Duration
	gets   atomic.Int64
	w      *peerWrites
}

// Get returns the record under key.
func (s *sturdycRedis) Get(ctx context.Context, key string) ([]byte, bool) {
	s.gets.Add(1)
	b, err := s.client.Get(ctx, key).Bytes()
	if err != nil {
		if !errors.Is(err, goredis.Nil) {
			s.w.fail(err)
		}
		return nil, false
	}
	return b, true
}

// Set stores the record under key.
func (s *sturdycRedis) Set(ctx context.Context, key string, value []byte) {
	_ = s.set(ctx, key, value)
}

func (s *sturdycRedis) set(ctx context.Context, key string, value []byte) error {
	err := s.client.Set(ctx, key, value, s.ttl).Err()
	s.w.finish(err)
	return err
}

// GetBatch returns the records under keys that exist, in one MGET.
func (s *sturdycRedis) GetBatch(ctx context.Context, keys []string) map[string][]byte {
	s.gets.Add(int64(len(keys)))
	vals, err := s.client.MGet(ctx, keys...).Result()
	if err != nil {
		s.w.fail(err)
		return nil
	}
	out := make(map[string][]byte, len(keys))
	for i, v := range vals {
		if str, ok := v.(string); ok {
			out[keys[i]] = []byte(str)
		}
	}
	return out
}

// SetBatch stores every record, in one pipeline.
func (s *sturdycRedis) SetBatch(ctx context.Context, records map[string][]byte) {
	cmds, _ := s.client.Pipelined(ctx, func(pipe goredis.Pipeliner) error {
		for k, v := range records {
			pipe.Set(ctx, k, v, s.ttl)
		}
		return nil
	})
	for _, c := range cmds {
		s.w.finish(c.Err())
	}
}
