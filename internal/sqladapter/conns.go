// Package sqladapter holds the plumbing that bento's SQL adapters
// (modules/adapters/postgres, mysql and sqlite) share: their hold on their
// connections and the queries of their table, the wrapping of their errors,
// the reading of their options, and the hashing, ordering and scanning of
// rows. The SQL itself, and what depends on the server, stays in each
// adapter.
//
//	type Adapter struct {
//		conns sqladapter.Conns[*sql.DB, *queries]
//	}
//
//	func (a *Adapter) Get(ctx context.Context, key string) (bento.Row, bool, error) {
//		db, q, err := a.conns.Get()
//		if err != nil {
//			return bento.Row{}, false, q.Fail("get", err)
//		}
//		…
//	}
package sqladapter

import (
	"sync"

	"github.com/caddyserver/caddy/v2"

	"github.com/bentocache/bento/internal/lease"
	"github.com/bentocache/bento/modules/drivers/database"
)

// Queries is what [Conns] needs of an adapter's queries: the problem of
// their table name, if any, which every call fails with. An adapter's
// queries embed a [Table], which has it.
type Queries interface {
	Err() error
}

// Conns is an adapter's hold on its connections C (a pool, a *sql.DB, a
// pair of them) and on the queries Q of its current table. The connections
// are the user's, opened by the adapter on first use, or a share of a pool
// of modules leased by Provision; after [Conns.Close], every call fails with
// [database.ErrDisconnected]. It is safe for concurrent use.
type Conns[C comparable, Q Queries] struct {
	mu     sync.Mutex // guards the fields below
	q      Q
	open   func() (c C, owned bool, err error)
	c      C
	owned  bool         // the adapter opened c, and closes it
	lease  *lease.Lease // set when c is shared through a pool of modules
	closed bool
}

// Init sets the queries and how to get the connections on first use: open
// returns the user's connections (owned false) or opens some (owned true).
// It is the one way in of an adapter's New and Provision.
func (cs *Conns[C, Q]) Init(q Q, open func() (c C, owned bool, err error)) {
	cs.mu.Lock()
	cs.q, cs.open = q, open
	cs.mu.Unlock()
}

// SetQueries sets the queries of the table used by every later call.
func (cs *Conns[C, Q]) SetQueries(q Q) {
	cs.mu.Lock()
	cs.q = q
	cs.mu.Unlock()
}

// Share sets connections that the adapter leased from a pool of modules:
// Close hands l back.
func (cs *Conns[C, Q]) Share(c C, l *lease.Lease) {
	cs.mu.Lock()
	cs.c, cs.lease = c, l
	cs.mu.Unlock()
}

// Lease takes the connections that key (a DSN, a path) names in pool, a
// pool of modules, and holds them as [Conns.Share] does. open opens them
// when no adapter holds them yet; the last adapter to let go of them closes
// them with close.
func (cs *Conns[C, Q]) Lease(pool *caddy.UsagePool, key string, open func() (C, error), close func(C) error) error {
	s, l, err := lease.Acquire(pool, key, func() (Shared[C], error) {
		c, err := open()
		return Shared[C]{C: c, close: close}, err
	})
	if err != nil {
		return err
	}
	cs.Share(s.C, l)
	return nil
}

// Shared is connections C in a pool of modules, as [Conns.Lease] puts them
// there.
type Shared[C any] struct {
	C     C
	close func(C) error
}

// Destruct closes the connections: the pool calls it when their last
// adapter lets go of them.
func (s Shared[C]) Destruct() error { return s.close(s.C) }

// Get returns the connections, getting them on first use, and the queries
// of the current table. q is returned with an error too, so that callers
// can wrap the error with it.
func (cs *Conns[C, Q]) Get() (c C, q Q, err error) {
	cs.mu.Lock()
	defer cs.mu.Unlock()
	var zero C
	q = cs.q
	switch {
	case q.Err() != nil:
		return zero, q, q.Err()
	case cs.closed:
		return zero, q, database.ErrDisconnected
	case cs.c != zero:
		return cs.c, q, nil
	}
	c, owned, err := cs.open()
	if err != nil {
		return zero, q, err
	}
	cs.c, cs.owned = c, owned
	return c, q, nil
}

// Held returns the connections held, or the zero C if none are yet, or any
// more.
func (cs *Conns[C, Q]) Held() C {
	cs.mu.Lock()
	defer cs.mu.Unlock()
	return cs.c
}

// Close makes every later Get fail with [database.ErrDisconnected] and
// returns what was held, for the adapter to let go of: the connections,
// whether the adapter opened them (and must close them), the lease to
// release (nil if none) and the queries of the current table. A second
// Close returns the zero C, false and nil.
func (cs *Conns[C, Q]) Close() (c C, owned bool, l *lease.Lease, q Q) {
	cs.mu.Lock()
	defer cs.mu.Unlock()
	var zero C
	c, owned, l, q = cs.c, cs.owned, cs.lease, cs.q
	cs.closed = true
	cs.c, cs.owned, cs.lease = zero, false, nil
	return c, owned, l, q
}
