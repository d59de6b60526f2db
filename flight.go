package bento

import (
	"reflect"
	"slices"
	"sync"
	"sync/atomic"
)

// flightShards spreads the in-flight calls of a namespace over independent
// locks, so that misses on different keys rarely contend.
const flightShards = 32

// call is one factory run that concurrent callers of a key share.
//
// The leader holds mu while it writes the result; an invalidation takes mu to
// mark the call. So either the invalidation comes first and the write is
// skipped, or the write completes before the invalidation deletes it: an
// invalidation always wins over a factory in flight.
type call struct {
	done chan struct{}

	mu          sync.Mutex
	invalidated bool
	staleTags   []string // tags invalidated while the factory ran

	// Results, read after done is closed.
	e      *entry // the value to return; nil with err or skip
	err    error
	graced bool  // e is a stale value served after a factory error
	layer  Layer // where e was found, when graced
	retry  bool  // the leader's own context ended: waiters run their own factory
}

// writable reports whether the result may be stored; the caller holds mu.
func (c *call) writable(tags []string) bool {
	if c.invalidated {
		return false
	}
	for _, t := range c.staleTags {
		if slices.Contains(tags, t) {
			return false
		}
	}
	return true
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

type flightShard struct {
	mu    sync.Mutex
	m     map[string]*call
	reads map[string]*read
	gen   atomic.Uint64 // finished calls, to skip a second L2 look when nothing changed
}

// flights holds the calls in flight of one namespace.
type flights struct {
	shards [flightShards]flightShard
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

// join returns the call in flight for key, or registers a new one and reports
// that the caller leads it.
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
	c = &call{done: make(chan struct{})}
	s.m[key] = c
	return c, true
}

// joinRead returns the L2 read in flight for key, or registers a new one and
// reports that the caller must do it and then call endRead.
func (f *flights) joinRead(key string) (r *read, leader bool) {
	s := f.shard(key)
	s.mu.Lock()
	defer s.mu.Unlock()
	if r := s.reads[key]; r != nil {
		return r, false
	}
	if s.reads == nil {
		s.reads = make(map[string]*read)
	}
	r = &read{done: make(chan struct{})}
	s.reads[key] = r
	return r, true
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

// forgetReads unregisters the L2 reads in flight for keys (every key when
// none is given), so that a caller that comes after a write never shares a
// read that began before it: the callers already waiting keep their read.
func (f *flights) forgetReads(keys ...string) {
	if len(keys) == 0 {
		for i := range f.shards {
			s := &f.shards[i]
			s.mu.Lock()
			clear(s.reads)
			s.mu.Unlock()
		}
		return
	}
	for _, k := range keys {
		s := f.shard(k)
		s.mu.Lock()
		delete(s.reads, k)
		s.mu.Unlock()
	}
}

// finish unregisters c and releases its waiters.
func (f *flights) finish(key string, c *call) {
	s := f.shard(key)
	s.mu.Lock()
	if s.m[key] == c {
		delete(s.m, key)
	}
	s.gen.Add(1)
	s.mu.Unlock()
	close(c.done)
}

// invalidate marks the call in flight for key, if any, so that its result is
// not written over the invalidation that follows.
func (f *flights) invalidate(key string) {
	s := f.shard(key)
	s.mu.Lock()
	c := s.m[key]
	delete(s.reads, key)
	s.mu.Unlock()
	if c != nil {
		c.mu.Lock()
		c.invalidated = true
		c.mu.Unlock()
	}
}

// invalidateAll marks every call in flight (a namespace clear); with tags,
// only results carrying one of them are kept from being written.
func (f *flights) invalidateAll(tags []string) {
	for i := range f.shards {
		s := &f.shards[i]
		s.mu.Lock()
		calls := make([]*call, 0, len(s.m))
		for _, c := range s.m {
			calls = append(calls, c)
		}
		if tags == nil {
			// Tagged entries are judged by each reader after its read; a
			// clear must keep later callers off the reads begun before it.
			clear(s.reads)
		}
		s.mu.Unlock()
		for _, c := range calls {
			c.mu.Lock()
			if tags == nil {
				c.invalidated = true
			} else {
				c.staleTags = append(c.staleTags, tags...)
			}
			c.mu.Unlock()
		}
	}
}

func (f *flights) generation(key string) uint64 { return f.shard(key).gen.Load() }
