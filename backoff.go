package bento

import "sync"

// maxBackoffs bounds the keys a namespace remembers a grace backoff for;
// past it, new failures are not backed off (each call tries the factory).
const maxBackoffs = 10_000

// backoffs holds, per key, until when (unix ms) a stale value is served
// without calling the factory after a failure. Expired records are dropped
// when looked at, and when the table is full.
type backoffs struct {
	mu    sync.Mutex
	until map[string]int64
}

func (b *backoffs) set(key string, until int64) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.until == nil {
		b.until = make(map[string]int64)
	}
	if len(b.until) >= maxBackoffs {
		b.sweep(until)
		if len(b.until) >= maxBackoffs {
			return
		}
	}
	b.until[key] = until
}

// active reports whether key is backed off at now.
func (b *backoffs) active(key string, now int64) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	until, ok := b.until[key]
	if ok && until <= now {
		delete(b.until, key)
		return false
	}
	return ok
}

// forget drops the records of keys; with none, every record.
func (b *backoffs) forget(keys ...string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if len(keys) == 0 {
		b.until = nil
		return
	}
	for _, k := range keys {
		delete(b.until, k)
	}
}

// sweep drops the records that ended before now; the caller holds mu.
func (b *backoffs) sweep(now int64) {
	for k, until := range b.until {
		if until <= now {
			delete(b.until, k)
		}
	}
}
