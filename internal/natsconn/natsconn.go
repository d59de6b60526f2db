// Package natsconn holds what bento's NATS bus and NATS key-value driver
// share about connections: the connection settings and their validation,
// the JSON and Caddyfile form that both modules read, a connection that
// dials on first use, and the pool through which modules loaded from config
// share one connection per connection config.
//
// A [Conn] from [New] belongs to its caller. A Conn from [Acquire] belongs
// to the pool: it is opened by the first holder, shared by every holder of
// an equal [Config] (a driver and a bus on the same servers, two stores, the
// old and the new config across a reload), and closed when the last holder
// releases its lease.
package natsconn

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/caddyserver/caddy/v2"

	"github.com/bentocache/bento/internal/lease"
)

// DefaultURL is the server a connection dials when the config names none.
const DefaultURL = nats.DefaultURL

// DefaultPingInterval is how often an idle connection pings the server
// when the config says nothing: with two pings outstanding allowed, a
// connection that hangs without failing is dropped within about three
// intervals.
const DefaultPingInterval = 10 * time.Second

// Config is the connection part of the config of bento's NATS modules, as
// read from JSON or a Caddyfile. An equal Config means an identical
// connection, which [Acquire] shares.
type Config struct {
	// Servers are the server URLs ("nats://host:4222"); several are tried
	// in turn. Default: [DefaultURL].
	Servers []string
	// Name is the connection name the server shows in its monitoring.
	Name string
	// Username and Password, or Token, authenticate the connection.
	Username, Password, Token string
	// CredsFile is a NATS credentials file (JWT and NKey seed).
	CredsFile string
	// TLS requires TLS, with the system's roots and at least TLS 1.2.
	TLS bool
	// TLSServerName is the name the server's certificate must have.
	TLSServerName string
	// TLSInsecureSkipVerify accepts any certificate.
	TLSInsecureSkipVerify bool
	// DialTimeout bounds each attempt to connect. Zero: nats.go's 2s.
	DialTimeout time.Duration
	// ReconnectWait is the pause between two reconnect attempts to one
	// server. Zero: nats.go's 2s.
	ReconnectWait time.Duration
	// PingInterval is how often an idle connection pings the server. Zero:
	// [DefaultPingInterval]; negative values are reported by Validate.
	PingInterval time.Duration
}

// Validate reports settings that cannot open a connection: an empty or
// unparsable server URL, two authentication methods at once, TLS settings
// with TLS off, a negative duration. It does no I/O. The errors name the
// config field and carry no prefix: the caller adds its own.
func (c Config) Validate() error {
	for i, s := range c.Servers {
		if strings.TrimSpace(s) == "" {
			return fmt.Errorf("servers[%d] is empty", i)
		}
		if strings.ContainsAny(s, " \t\n") {
			return fmt.Errorf("servers[%d] is %q: a server URL has no spaces (list several servers as several entries)", i, s)
		}
	}
	auth := 0
	if c.Username != "" || c.Password != "" {
		auth++
	}
	if c.Token != "" {
		auth++
	}
	if c.CredsFile != "" {
		auth++
	}
	if auth > 1 {
		return errors.New("more than one of username/password, token and creds_file is set: choose one way to authenticate")
	}
	if c.Password != "" && c.Username == "" {
		return errors.New("password is set without username")
	}
	switch {
	case !c.TLS && c.TLSServerName != "":
		return errors.New("tls_server_name is set but tls is off: set tls to true as well")
	case !c.TLS && c.TLSInsecureSkipVerify:
		return errors.New("tls_insecure_skip_verify is set but tls is off: set tls to true as well")
	}
	for _, d := range []struct {
		name string
		v    time.Duration
	}{{"dial_timeout", c.DialTimeout}, {"reconnect_wait", c.ReconnectWait}, {"ping_interval", c.PingInterval}} {
		if d.v < 0 {
			return fmt.Errorf("%s is %v: it must not be negative", d.name, d.v)
		}
	}
	return nil
}

// FirstSet returns the config name of the first field of c that is set,
// or "" when none is: for the error about connection fields given together
// with a connection the application opened.
func (c Config) FirstSet() string {
	for _, f := range []struct {
		name string
		set  bool
	}{
		{"servers", len(c.Servers) > 0},
		{"name", c.Name != ""},
		{"username", c.Username != ""},
		{"password", c.Password != ""},
		{"token", c.Token != ""},
		{"creds_file", c.CredsFile != ""},
		{"tls", c.TLS},
		{"dial_timeout", c.DialTimeout != 0},
		{"reconnect_wait", c.ReconnectWait != 0},
		{"ping_interval", c.PingInterval != 0},
	} {
		if f.set {
			return f.name
		}
	}
	return ""
}

// url returns the servers as the comma-separated list nats.Connect takes.
func (c Config) url() string {
	if len(c.Servers) == 0 {
		return DefaultURL
	}
	return strings.Join(c.Servers, ",")
}

// options returns the nats.go options of c. The connection never gives up
// reconnecting, retries a first connect that fails (so that a server down
// at start-up is a reconnect, not an error), and buffers nothing while it
// is disconnected: a publish then fails, and bento's outbox keeps the
// message, instead of a buffer that a restart of the process would lose
// silently.
func (c Config) options() []nats.Option {
	ping := c.PingInterval
	if ping == 0 {
		ping = DefaultPingInterval
	}
	opts := []nats.Option{
		nats.MaxReconnects(-1),
		nats.RetryOnFailedConnect(true),
		nats.ReconnectBufSize(-1),
		nats.PingInterval(ping),
	}
	if c.Name != "" {
		opts = append(opts, nats.Name(c.Name))
	}
	if c.Username != "" {
		opts = append(opts, nats.UserInfo(c.Username, c.Password))
	}
	if c.Token != "" {
		opts = append(opts, nats.Token(c.Token))
	}
	if c.CredsFile != "" {
		opts = append(opts, nats.UserCredentials(c.CredsFile))
	}
	if c.TLS {
		opts = append(opts, nats.Secure(&tls.Config{
			MinVersion:         tls.VersionTLS12,
			ServerName:         c.TLSServerName,
			InsecureSkipVerify: c.TLSInsecureSkipVerify, // the user's explicit, documented choice
		}))
	}
	if c.DialTimeout > 0 {
		opts = append(opts, nats.Timeout(c.DialTimeout))
	}
	if c.ReconnectWait > 0 {
		opts = append(opts, nats.ReconnectWait(c.ReconnectWait))
	}
	return opts
}

// Conn is a NATS connection that dials on first use, or one the
// application handed over. It is safe for concurrent use.
type Conn struct {
	conf  Config
	owned bool

	mu     sync.Mutex
	nc     *nats.Conn
	closed bool
}

// New returns a connection of c, dialed by the first [Conn.Get]. The caller
// closes it.
func New(c Config) *Conn { return &Conn{conf: c, owned: true} }

// Wrap returns a Conn on nc, a connection the application opened: Close
// leaves it open.
func Wrap(nc *nats.Conn) *Conn { return &Conn{nc: nc} }

// ErrClosed is returned by [Conn.Get] after [Conn.Close].
var ErrClosed = errors.New("connection closed")

// Get returns the nats.Conn, dialing it on the first call. A server that
// does not answer is no error: the connection keeps trying in the
// background, and its operations fail meanwhile. A failure to set the
// connection up (a credentials file that cannot be read) is returned, and
// the next Get tries again.
func (c *Conn) Get() (*nats.Conn, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return nil, ErrClosed
	}
	if c.nc != nil {
		return c.nc, nil
	}
	nc, err := nats.Connect(c.conf.url(), c.conf.options()...)
	if err != nil {
		return nil, fmt.Errorf("connecting to %s: %w", c.conf.url(), err)
	}
	c.nc = nc
	return nc, nil
}

// Close closes the connection if this Conn opened it, and makes Get fail.
// Calling it twice is fine.
func (c *Conn) Close() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return
	}
	c.closed = true
	if c.owned && c.nc != nil {
		c.nc.Close()
	}
}

// Destruct closes the connection, for the pool.
func (c *Conn) Destruct() error {
	c.Close()
	return nil
}

// key returns the pool key of c. It is a hash, so that a password never
// shows in a key.
func (c Config) key() string {
	n := c
	n.Servers = slices.Clone(c.Servers)
	if len(n.Servers) == 0 {
		n.Servers = []string{DefaultURL}
	}
	b, _ := json.Marshal(n) // strings, numbers and bools: never fails
	sum := sha256.Sum256(b)
	return "natsconn:" + hex.EncodeToString(sum[:])
}

// conns holds the connections of every module loaded from config, across
// config reloads.
var conns = caddy.NewUsagePool()

// Acquire returns the connection that c describes, shared by every holder
// of an equal Config, and the lease that holds it: the first Acquire makes
// the Conn (without I/O), the last [lease.Lease.Release] closes it. The
// holder must not close it itself.
func Acquire(c Config) (*Conn, *lease.Lease, error) {
	return lease.Acquire(conns, c.key(), func() (*Conn, error) { return New(c), nil })
}

// Pooled reports how many leases hold the connection of c; 0 when none
// does. It is for tests.
func Pooled(c Config) int {
	refs, _ := conns.References(c.key())
	return refs
}

// FlushTimeout bounds a flush made on a caller's context that has no
// deadline: nats.go needs one.
const FlushTimeout = 10 * time.Second

// Flush waits until the server has handled everything sent on nc before
// it, bounded by ctx (and by [FlushTimeout] when ctx has no deadline).
func Flush(ctx context.Context, nc *nats.Conn) error {
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, FlushTimeout)
		defer cancel()
	}
	return nc.FlushWithContext(ctx)
}
