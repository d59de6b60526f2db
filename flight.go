package bento

import (
	"reflect"
	"slices"
	"sync"
	"sync/atomic"
)

// flightShards spreads the in-flight work of a namespace over independent
// locks, so that misses on different keys rarely contend.
const flightShards = 32

// Invalidations win over work in flight, by one mechanism for reads and
// factories alike.
//
// Whatever may store a value it did not just receive from its caller — an L2
// read that copies its entry to L1, a factory that writes its result — first
// takes a guard on the key. The guard remembers how many invalidations the
// key, its namespace and the namespace's tags had seen. The value is stored
// only through [Cache.keep], which refuses once any of them moved on: the
// callers waiting for the work still get its result, but it is never written
// over an invalidation that came after the work began.
//
// Writes and invalidations of one key hold the key's lock for their whole
// length (L1 and L2), and count as an invalidation when they end. So a guard
// taken before or during a write of the key is refused afterwards, and the
// writes of one key on one instance reach L1 and L2 in the same order.
// Clears hold the store's clear lock, which keep shares.

// call is one factory run that concurrent callers of a key share.
type call struct {
	done chan struct{}
	g    guard // the leader's, taken when the call was registered

	// Results, read after done is closed.
	e      *entry // the value to return; nil with err or skip
	err    error
	graced bool  // e is a stale value served after a factory error
	layer  Layer // where e was found, when graced
	retry  bool  // the leader's own context ended: waiters run their own factory
}

// read is one L2 read of a key that concurrent callers share, so that N
// callers on a key that L1 misses cost one L2 round trip, not N.
type read struct {
	done chan struct{}

	// Results, read after done is closed.
	raw   []byte
	found bool
	err   error
	retry bool // the leader's own context ended: waiters read for themselves

	// decoded is the first reader's decoding of raw, which readers asking
	// for the same type reuse instead of decoding raw again.
	decoded atomic.Pointer[decoding]
}

// decoding is an entry decoded from a read's raw bytes as the type t.
type decoding struct {
	t reflect.Type
	e *entry
}

// keyLock serializes the writes and invalidations of one key on this
// instance and counts them, for the guards taken on the key. It exists while
// someone holds it.
type keyLock struct {
	mu    sync.Mutex // held by a write or an invalidation for its whole length
	refs  int        // holders; under the shard's mu
	epoch uint64     // invalidations of the key; changed under the shard's mu and mu
}

// guard is one piece of work's claim on a key: what the work read or
// computed may be stored only if no invalidation came since (see keep).
// The zero guard holds nothing.
type guard struct {
	key     string
	kl      *keyLock
	epoch   uint64 // kl.epoch when taken
	nsEpoch uint64 // the namespace's clears when taken
	tagSeq  uint64 // the namespace's tag invalidations when taken
}

type flightShard struct {
	mu    sync.Mutex
	m     map[string]*call
	reads map[string]*read
	locks map[string]*keyLock
	gen   atomic.Uint64 // finished calls, to skip a second L2 look when nothing changed
}

// flights holds the work in flight of one namespace.
type flights struct {
	shards [flightShards]flightShard

	epoch  atomic.Uint64 // clears of the namespace; changed under the store's clearMu
	tagSeq atomic.Uint64 // tag invalidations of the namespace
}

func (f *flights) shard(key string) *flightShard {
	// FNV-1a: no allocation, good enough to spread keys.
	h := uint32(2166136261)
	for i := 0; i < len(key); i++ {
		h ^= uint32(key[i])
		h *= 16777619
	}
	return &f.shards[h%flightShards]
}

// hold returns the lock of key with one more holder; the caller holds s.mu.
func (s *flightShard) hold(key string) *keyLock {
	kl := s.locks[key]
	if kl == nil {
		if s.locks == nil {
			s.locks = make(map[string]*keyLock)
		}
		kl = &keyLock{}
		s.locks[key] = kl
	}
	kl.refs++
	return kl
}

// unhold drops a holder of kl; the caller holds s.mu.
func (s *flightShard) unhold(key string, kl *keyLock) {
	kl.refs--
	if kl.refs == 0 && s.locks[key] == kl {
		delete(s.locks, key)
	}
}

// guardLocked takes a guard on key; the caller holds s.mu.
func (f *flights) guardLocked(s *flightShard, key string) guard {
	kl := s.hold(key)
	return guard{key: key, kl: kl, epoch: kl.epoch, nsEpoch: f.epoch.Load(), tagSeq: f.tagSeq.Load()}
}

// take takes a guard on key, for work that reads L2 without sharing the
// read.
func (f *flights) take(key string) guard {
	s := f.shard(key)
	s.mu.Lock()
	defer s.mu.Unlock()
	return f.guardLocked(s, key)
}

// release gives back a guard; the zero guard is fine.
func (f *flights) release(g *guard) {
	if g.kl == nil {
		return
	}
	s := f.shard(g.key)
	s.mu.Lock()
	s.unhold(g.key, g.kl)
	s.mu.Unlock()
	g.kl = nil
}

// join returns the call in flight for key, or registers a new one, with the
// leader's guard, and reports that the caller leads it.
func (f *flights) join(key string) (c *call, leader bool) {
	s := f.shard(key)
	s.mu.Lock()
	defer s.mu.Unlock()
	if c := s.m[key]; c != nil {
		return c, false
	}
	if s.m == nil {
		s.m = make(map[string]*call)
	}
	c = &call{done: make(chan struct{}), g: f.guardLocked(s, key)}
	s.m[key] = c
	return c, true
}

// joinRead takes a guard on key and returns the L2 read in flight for it, or
// registers a new one and reports that the caller must do it and then call
// endRead. A read that is registered began after the last invalidation of
// key (invalidations unregister reads), so it is as new as the guard.
func (f *flights) joinRead(key string) (g guard, r *read, leader bool) {
	s := f.shard(key)
	s.mu.Lock()
	defer s.mu.Unlock()
	g = f.guardLocked(s, key)
	if r := s.reads[key]; r != nil {
		return g, r, false
	}
	if s.reads == nil {
		s.reads = make(map[string]*read)
	}
	r = &read{done: make(chan struct{})}
	s.reads[key] = r
	return g, r, true
}

// endRead unregisters r and releases its waiters.
func (f *flights) endRead(key string, r *read) {
	s := f.shard(key)
	s.mu.Lock()
	if s.reads[key] == r {
		delete(s.reads, key)
	}
	s.mu.Unlock()
	close(r.done)
}

// finish unregisters c, gives back its guard and releases its waiters.
func (f *flights) finish(key string, c *call) {
	s := f.shard(key)
	s.mu.Lock()
	if s.m[key] == c {
		delete(s.m, key)
	}
	if c.g.kl != nil {
		s.unhold(key, c.g.kl)
		c.g.kl = nil
	}
	s.gen.Add(1)
	s.mu.Unlock()
	close(c.done)
}

func (f *flights) generation(key string) uint64 { return f.shard(key).gen.Load() }

// lockKeys takes the locks of keys (deduplicated, in order, so that two
// callers never wait for each other) and returns the function that counts
// the invalidation and gives them back.
func (f *flights) lockKeys(keys []string) (unlock func()) {
	if len(keys) > 1 {
		keys = slices.Compact(slices.Sorted(slices.Values(keys)))
	}
	locks := make([]*keyLock, len(keys))
	for i, k := range keys {
		s := f.shard(k)
		s.mu.Lock()
		locks[i] = s.hold(k)
		s.mu.Unlock()
		locks[i].mu.Lock()
	}
	return func() {
		for i, k := range keys {
			s := f.shard(k)
			s.mu.Lock()
			delete(s.reads, k) // the callers that come next read what is there now
			locks[i].epoch++
			s.unhold(k, locks[i])
			s.mu.Unlock()
			locks[i].mu.Unlock()
		}
	}
}

// forgetReads unregisters every L2 read in flight, so that no caller that
// comes after a clear shares a read begun before it.
func (f *flights) forgetReads() {
	for i := range f.shards {
		s := &f.shards[i]
		s.mu.Lock()
		clear(s.reads)
		s.mu.Unlock()
	}
}

// invalidateKeys runs work — a write or an invalidation of keys in L1 and
// L2 — holding the keys' locks, and then counts it as an invalidation: no
// guard taken on one of the keys before work ended stores anything after it.
func (c *Cache) invalidateKeys(keys []string, work func()) {
	unlock := c.flights.lockKeys(keys)
	defer unlock()
	work()
}

// invalidateNamespaces runs work — a clear of the namespace path and its
// children — holding the store's clear lock, and then counts it as an
// invalidation of every namespace under path.
func (st *store) invalidateNamespaces(path string, work func()) {
	st.clearMu.Lock()
	defer st.clearMu.Unlock()
	work()
	st.under(path, func(ns *Cache) {
		ns.flights.forgetReads()
		ns.flights.epoch.Add(1)
	})
}

// tagsInvalidated counts an invalidation of tags in c's namespace, so that
// no guard taken before it stores an entry carrying one of them.
func (c *Cache) tagsInvalidated(tags []string) {
	seq := c.flights.tagSeq.Add(1)
	for _, t := range tags {
		c.tags.state(t).seq.Store(seq)
	}
}

// keep runs store — an L1 copy of what g's work read, or the write of what
// it computed — unless an invalidation of g's key, of its namespace, or of
// one of tags came since g was taken; it reports whether store ran. With
// write, store changes L2 and so counts as an invalidation for the other
// guards on the key, as a write through invalidateKeys does.
func (c *Cache) keep(g *guard, tags []string, write bool, store func()) bool {
	c.st.clearMu.RLock()
	defer c.st.clearMu.RUnlock()
	g.kl.mu.Lock()
	defer g.kl.mu.Unlock()
	if !c.guardHolds(g, tags) {
		return false
	}
	store()
	if write {
		c.flights.invalidatedBy(g)
	}
	return true
}

// guardHolds reports whether no invalidation of g's key, of its namespace,
// or of one of tags came since g was taken. The caller holds g.kl.mu and the
// store's clearMu (for reading).
func (c *Cache) guardHolds(g *guard, tags []string) bool {
	if g.epoch != g.kl.epoch || g.nsEpoch != c.flights.epoch.Load() {
		return false
	}
	for _, t := range tags {
		if ts := c.tags.lookup(t); ts != nil && ts.seq.Load() > g.tagSeq {
			return false
		}
	}
	return true
}

// invalidatedBy counts a write made under g as an invalidation of its key,
// for the other guards on it. The caller holds g.kl.mu.
func (f *flights) invalidatedBy(g *guard) {
	s := f.shard(g.key)
	s.mu.Lock()
	delete(s.reads, g.key)
	g.kl.epoch++
	s.mu.Unlock()
}
