// Package postgres is bento's cluster-wide lock on PostgreSQL advisory locks
// (module bento.lockers.postgres), for a store that keeps its L2 in
// PostgreSQL and needs no Redis at all.
//
// A lock is a session-level advisory lock (pg_try_advisory_lock) on a
// connection of its own, held for as long as the lock: a holder that dies
// loses it with its connection. The lease is kept in the process: a lock not
// refreshed within it closes its connection, and so ends.
//
//	locker := pglocker.New(pglocker.Options{Pool: pool})
package postgres

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"sync"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/bentocache/bento"
)

func init() { caddy.RegisterModule(Locker{}) }

// DefaultLease is how long a lock holds without a refresh when neither
// [Options] nor the config say otherwise.
const DefaultLease = 10 * time.Second

// ErrLost is wrapped by the error of a Refresh whose lock ended: its lease
// ran out or its connection was lost.
var ErrLost = errors.New("postgres locker: lock lost")

// Locker is a [bento.Locker] on PostgreSQL advisory locks. Module ID:
// bento.lockers.postgres. The exported fields are its JSON config.
type Locker struct {
	// DSN is the connection string ("postgres://user@host:5432/db").
	DSN string `json:"dsn,omitempty"`
	// How long a lock holds without a refresh. Default: 10s.
	Lease caddy.Duration `json:"lease,omitempty"`

	pool  *pgxpool.Pool
	owned bool
	once  *sync.Once
}

// Options configures a Locker built by [New].
type Options struct {
	// Pool is a pool the application has; the locker never closes it. Each
	// lock holds one of its connections while it lasts.
	Pool *pgxpool.Pool
	// Lease is how long a lock holds without a refresh. Default:
	// [DefaultLease].
	Lease time.Duration
}

// New returns a Locker on o.Pool; it does no I/O.
func New(o Options) *Locker {
	return &Locker{pool: o.Pool, Lease: caddy.Duration(o.Lease), once: new(sync.Once)}
}

// CaddyModule returns the module's information.
func (Locker) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{ID: "bento.lockers.postgres", New: func() caddy.Module { return new(Locker) }}
}

// Provision opens the locker's pool (it connects on first use).
func (l *Locker) Provision(caddy.Context) error {
	if l.DSN == "" {
		return errors.New("postgres locker: dsn: a connection string is required")
	}
	pool, err := pgxpool.New(context.Background(), l.DSN)
	if err != nil {
		return fmt.Errorf("postgres locker: dsn: %w", err)
	}
	l.pool, l.owned, l.once = pool, true, new(sync.Once)
	return nil
}

// Validate reports a negative lease.
func (l *Locker) Validate() error {
	if l.Lease < 0 {
		return fmt.Errorf("postgres locker: lease is %v: it must not be negative", time.Duration(l.Lease))
	}
	return nil
}

// Cleanup closes what Provision opened.
func (l *Locker) Cleanup() error { return l.Disconnect() }

// UnmarshalCaddyfile reads
//
//	locker postgres <dsn> {
//		lease <duration>
//	}
func (l *Locker) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	d.Next()
	if d.NextArg() {
		l.DSN = d.Val()
	}
	for d.NextBlock(0) {
		switch d.Val() {
		case "dsn":
			if !d.NextArg() {
				return d.ArgErr()
			}
			l.DSN = d.Val()
		case "lease":
			if !d.NextArg() {
				return d.ArgErr()
			}
			v, err := caddy.ParseDuration(d.Val())
			if err != nil || v <= 0 {
				return d.Errf("lease: want a positive duration, such as 10s, got %q", d.Val())
			}
			l.Lease = caddy.Duration(v)
		default:
			return d.Errf("postgres locker: unknown option %q; known options: dsn, lease", d.Val())
		}
	}
	return nil
}

func (l *Locker) lease() time.Duration {
	if l.Lease > 0 {
		return time.Duration(l.Lease)
	}
	return DefaultLease
}

// lockID is the advisory lock key of name: a 64-bit FNV-1a hash.
func lockID(name string) int64 {
	h := fnv.New64a()
	_, _ = h.Write([]byte(name))
	return int64(h.Sum64())
}

// Acquire tries once to take the lock name on a connection of its own.
func (l *Locker) Acquire(ctx context.Context, name string) (bento.Lock, error) {
	conn, err := l.pool.Acquire(ctx)
	if err != nil {
		return nil, fmt.Errorf("postgres locker: acquire %q: %w", name, err)
	}
	id := lockID(name)
	var ok bool
	if err := conn.QueryRow(ctx, "SELECT pg_try_advisory_lock($1)", id).Scan(&ok); err != nil {
		conn.Release()
		return nil, fmt.Errorf("postgres locker: acquire %q: %w", name, err)
	}
	if !ok {
		conn.Release()
		return nil, nil
	}
	k := &lock{l: l, name: name, id: id, conn: conn}
	k.timer = time.AfterFunc(l.lease(), k.expire)
	return k, nil
}

// Disconnect closes the pool the locker opened; twice is fine.
func (l *Locker) Disconnect() error {
	if l.once == nil {
		return nil
	}
	l.once.Do(func() {
		if l.owned {
			l.pool.Close()
		}
	})
	return nil
}

// lock is one advisory lock, held on conn.
type lock struct {
	l    *Locker
	name string
	id   int64

	mu    sync.Mutex
	conn  *pgxpool.Conn // nil once ended
	timer *time.Timer
}

func (k *lock) Lease() time.Duration { return k.l.lease() }

// expire ends a lock whose lease ran out: closing its session releases it.
func (k *lock) expire() {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.conn == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	_ = k.conn.Conn().Close(ctx)
	k.conn.Release()
	k.conn = nil
}

func (k *lock) Refresh(ctx context.Context) error {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.conn == nil {
		return fmt.Errorf("%w: %q", ErrLost, k.name)
	}
	if err := k.conn.Ping(ctx); err != nil {
		return fmt.Errorf("%w: %q: %w", ErrLost, k.name, err)
	}
	k.timer.Reset(k.l.lease())
	return nil
}

func (k *lock) Release(ctx context.Context) error {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.conn == nil {
		return nil // it ended already: nothing of it is left to release
	}
	k.timer.Stop()
	_, err := k.conn.Exec(ctx, "SELECT pg_advisory_unlock($1)", k.id)
	k.conn.Release()
	k.conn = nil
	if err != nil {
		return fmt.Errorf("postgres locker: release %q: %w", k.name, err)
	}
	return nil
}

// Interface guards
var (
	_ bento.Locker          = (*Locker)(nil)
	_ caddy.Provisioner     = (*Locker)(nil)
	_ caddy.Validator       = (*Locker)(nil)
	_ caddy.CleanerUpper    = (*Locker)(nil)
	_ caddyfile.Unmarshaler = (*Locker)(nil)
)
