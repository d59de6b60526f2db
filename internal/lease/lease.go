// Package lease shares resources between module instances through a
// caddy.UsagePool: a config reload provisions the new modules before the old
// ones are cleaned up, so a resource acquired under the same key (a client, a
// pool, an L1 cache) survives the reload instead of being closed and opened
// again. A Lease is released at most once, however many of Disconnect and
// Cleanup call Release.
package lease

import (
	"fmt"
	"sync"

	"github.com/caddyserver/caddy/v2"
)

// Lease is one holder's reference to a pooled resource.
type Lease struct {
	pool *caddy.UsagePool
	key  string
	once sync.Once
}

// Acquire returns the resource pooled under key, constructing it on first
// use, and the lease that holds it.
func Acquire[T caddy.Destructor](pool *caddy.UsagePool, key string, construct func() (T, error)) (T, *Lease, error) {
	var zero T
	v, _, err := pool.LoadOrNew(key, func() (caddy.Destructor, error) { return construct() })
	if err != nil {
		return zero, nil, err
	}
	t, ok := v.(T)
	if !ok {
		_, _ = pool.Delete(key)
		return zero, nil, fmt.Errorf("lease: pool holds a value of type %T under %q, not %T", v, key, zero)
	}
	return t, &Lease{pool: pool, key: key}, nil
}

// Release gives the resource back; the last release destructs it. Calling
// it again does nothing.
func (l *Lease) Release() error {
	var err error
	l.once.Do(func() { _, err = l.pool.Delete(l.key) })
	return err
}
