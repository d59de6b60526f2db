// Package redis is bento's cluster-wide lock on Redis (module
// bento.lockers.redis): SET NX PX with a random token per lock, refreshed
// while the factory runs and released only by its owner (a Lua script
// compares the token). Every command names one key, so the locker is safe
// on a Redis Cluster.
//
//	rdb := goredis.NewClient(&goredis.Options{Addr: "127.0.0.1:6379"})
//	store := bento.NewStore().
//		UseL1(memory.New(memory.Options{})).
//		UseL2(redisdriver.New(redisdriver.Options{Client: rdb})).
//		UseLocker(redislocker.New(redislocker.Options{Client: rdb}))
package redis

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"

	"github.com/bentocache/bento"
	"github.com/bentocache/bento/internal/lease"
	"github.com/bentocache/bento/internal/redisconn"
)

func init() { caddy.RegisterModule(Locker{}) }

// DefaultLease is how long a lock holds without a refresh when neither
// [Options] nor the config say otherwise.
const DefaultLease = 10 * time.Second

// ErrLost is wrapped by the error of a Refresh whose lock expired and may
// belong to another owner now.
var ErrLost = errors.New("redis locker: lock lost")

// refresh extends the lock only for its owner; release deletes it only for
// its owner.
var (
	refresh = goredis.NewScript(`if redis.call("get", KEYS[1]) == ARGV[1] then return redis.call("pexpire", KEYS[1], ARGV[2]) end return 0`)
	release = goredis.NewScript(`if redis.call("get", KEYS[1]) == ARGV[1] then return redis.call("del", KEYS[1]) end return 0`)
)

// Locker is a [bento.Locker] on Redis. Module ID: bento.lockers.redis. The
// exported fields are its JSON config (the connection fields are those of
// bento.drivers.redis, and a locker with the same ones shares its client).
type Locker struct {
	// Addresses ("host:port") of the Redis nodes; several are seed nodes of
	// a cluster. Default: ["127.0.0.1:6379"].
	Addrs []string `json:"addrs,omitempty"`
	// Open a cluster client even with a single address.
	Cluster bool `json:"cluster,omitempty"`
	// ACL user name (Redis 6+).
	Username string `json:"username,omitempty"`
	// Password of the user, or the legacy requirepass.
	Password string `json:"password,omitempty"`
	// Database of a single node.
	DB int `json:"db,omitempty"`
	// Bound on each attempt to connect to a node. Default: 5s.
	DialTimeout caddy.Duration `json:"dial_timeout,omitempty"`
	// Connect with TLS.
	TLS bool `json:"tls,omitempty"`
	// The server name TLS checks. Default: the address's host.
	TLSServerName string `json:"tls_server_name,omitempty"`
	// Skip TLS certificate checks (tests only).
	TLSInsecureSkipVerify bool `json:"tls_insecure_skip_verify,omitempty"`
	// A Redis Sentinel setup to reach the master through.
	Sentinel *redisconn.Sentinel `json:"sentinel,omitempty"`
	// How long a lock holds without a refresh: a holder that dies loses it
	// after this. Default: 10s.
	Lease caddy.Duration `json:"lease,omitempty"`

	client goredis.UniversalClient
	owned  bool         // New opened client
	pooled *lease.Lease // Provision's shared client
	closed *sync.Once   // one Disconnect
}

// Options configures a Locker built by [New].
type Options struct {
	// Client is a client the application has; the locker never closes it.
	// Nil: the locker opens one on Addrs and closes it at Disconnect.
	Client goredis.UniversalClient
	// Addrs are the Redis nodes when Client is nil. Default: 127.0.0.1:6379.
	Addrs []string
	// Lease is how long a lock holds without a refresh. Default:
	// [DefaultLease].
	Lease time.Duration
}

// New returns a Locker; it does no I/O.
func New(o Options) *Locker {
	l := &Locker{Lease: caddy.Duration(o.Lease), client: o.Client, closed: new(sync.Once)}
	if l.client == nil {
		l.client = redisconn.Options{Addrs: o.Addrs}.NewClient()
		l.owned = true
	}
	return l
}

// CaddyModule returns the module's information.
func (Locker) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{ID: "bento.lockers.redis", New: func() caddy.Module { return new(Locker) }}
}

// Provision takes the shared client of the locker's connection settings.
func (l *Locker) Provision(caddy.Context) error {
	client, pooled, err := redisconn.Acquire(l.fields().Config())
	if err != nil {
		return fmt.Errorf("redis locker: %w", err)
	}
	l.client, l.pooled, l.closed = client, pooled, new(sync.Once)
	return nil
}

// Validate reports a negative lease.
func (l *Locker) Validate() error {
	if l.Lease < 0 {
		return fmt.Errorf("redis locker: lease is %v: it must not be negative", time.Duration(l.Lease))
	}
	return nil
}

// Cleanup releases what Provision took.
func (l *Locker) Cleanup() error { return l.Disconnect() }

// UnmarshalCaddyfile reads
//
//	locker redis [<addr...>] {
//		lease <duration>
//		… the connection options of the redis driver
//	}
func (l *Locker) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	return l.fields().UnmarshalCaddyfile(d, "redis locker", func(d *caddyfile.Dispenser) (bool, error) {
		if d.Val() != "lease" {
			return false, nil
		}
		var s string
		if err := redisconn.OneArg(d, &s); err != nil {
			return true, err
		}
		v, err := caddy.ParseDuration(s)
		if err != nil || v <= 0 {
			return true, d.Errf("lease: want a positive duration, such as 10s, got %q", s)
		}
		l.Lease = caddy.Duration(v)
		return true, nil
	})
}

func (l *Locker) fields() redisconn.Fields {
	return redisconn.Fields{
		Addrs: &l.Addrs, Cluster: &l.Cluster, Username: &l.Username, Password: &l.Password, DB: &l.DB,
		DialTimeout: &l.DialTimeout, TLS: &l.TLS, TLSServerName: &l.TLSServerName,
		TLSInsecureSkipVerify: &l.TLSInsecureSkipVerify, Sentinel: &l.Sentinel,
	}
}

func (l *Locker) lease() time.Duration {
	if l.Lease > 0 {
		return time.Duration(l.Lease)
	}
	return DefaultLease
}

// Acquire tries once to take the lock name: SET name token NX PX lease.
func (l *Locker) Acquire(ctx context.Context, name string) (bento.Lock, error) {
	var b [16]byte
	_, _ = rand.Read(b[:])
	token := hex.EncodeToString(b[:])
	ok, err := l.client.SetNX(ctx, name, token, l.lease()).Result()
	if err != nil {
		return nil, fmt.Errorf("redis locker: acquire %q: %w", name, err)
	}
	if !ok {
		return nil, nil
	}
	return &lock{l: l, name: name, token: token}, nil
}

// Disconnect closes the client the locker opened, or gives back the shared
// one; twice is fine.
func (l *Locker) Disconnect() (err error) {
	if l.closed == nil {
		return nil // Provision did not get this far
	}
	l.closed.Do(func() {
		switch {
		case l.pooled != nil:
			err = l.pooled.Release()
		case l.owned:
			err = l.client.Close()
		}
	})
	return err
}

// lock is one lock this process owns.
type lock struct {
	l     *Locker
	name  string
	token string
}

func (k *lock) Lease() time.Duration { return k.l.lease() }

func (k *lock) Refresh(ctx context.Context) error {
	n, err := refresh.Run(ctx, k.l.client, []string{k.name}, k.token, strconv.FormatInt(k.l.lease().Milliseconds(), 10)).Int()
	if err != nil {
		return fmt.Errorf("redis locker: refresh %q: %w", k.name, err)
	}
	if n == 0 {
		return fmt.Errorf("%w: %q", ErrLost, k.name)
	}
	return nil
}

func (k *lock) Release(ctx context.Context) error {
	if err := release.Run(ctx, k.l.client, []string{k.name}, k.token).Err(); err != nil {
		return fmt.Errorf("redis locker: release %q: %w", k.name, err)
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
