// Package redisconn holds what bento's Redis L2 driver and Redis bus share
// about connections: the connection options and their validation, the
// go-redis client built from them, the JSON and Caddyfile form that both
// modules read, and the pool through which modules loaded from config share
// one client per connection config.
//
// A client built by [Options.NewClient] belongs to its caller. A client
// from [Acquire] belongs to the pool: it is opened by the first holder,
// shared by every holder of an equal [Config] (a driver and a bus on the same
// server, two stores, the old and the new config across a reload), and
// closed when the last holder releases its lease.
//
//	client, l, err := redisconn.Acquire(conf) // no I/O
//	…
//	err = l.Release() // the last release closes client
package redisconn

import (
	"crypto/sha256"
	"crypto/tls"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/caddyserver/caddy/v2"

	"github.com/bentocache/bento/internal/lease"
)

// DefaultAddr is the address a client dials when the options name none.
const DefaultAddr = "127.0.0.1:6379"

// Options are the settings of a client that a driver or a bus opens itself.
// The zero value is valid: a single-node client of [DefaultAddr].
type Options struct {
	// Addrs are the "host:port" addresses of the Redis nodes. One address is
	// a single node, several are seed nodes of a Redis Cluster. Default:
	// [DefaultAddr].
	Addrs []string
	// Cluster opens a cluster client even when Addrs holds a single seed
	// node. Default: false, and then only several addresses make a cluster.
	Cluster bool
	// Username and Password authenticate the connections (Redis 6 ACL; with
	// an empty Username, Password is the legacy requirepass). Default: none.
	Username, Password string
	// DB is the database a single-node client selects; it must be 0 on a
	// cluster. Default: 0.
	DB int
	// TLS, when not nil, makes the connections use TLS with a clone of this
	// configuration. Default: plain TCP.
	TLS *tls.Config
	// DialTimeout bounds each attempt to connect to a node. Zero means
	// go-redis's default of 5s; negative values are reported by
	// [Options.Validate].
	DialTimeout time.Duration
	// Sentinel, when not nil, makes the client a sentinel failover client:
	// it asks the sentinels for the master of Sentinel.MasterName, and
	// follows a failover. Addrs and Cluster must then be unset.
	Sentinel *Sentinel
}

// Sentinel is the Redis Sentinel part of a connection config: the
// sentinels to ask, and the name of the master they monitor.
type Sentinel struct {
	// Name of the master the sentinels monitor, as in their "sentinel
	// monitor <name> …" line. Required.
	MasterName string `json:"master_name,omitempty"`
	// Addresses ("host:port") of the sentinels. At least one is required.
	Addrs []string `json:"addrs,omitempty"`
	// ACL user name on the sentinels. Default: none.
	Username string `json:"username,omitempty"`
	// Password on the sentinels (their requirepass, or the ACL user's).
	// Default: none; the master's password is the connection's password.
	Password string `json:"password,omitempty"`
}

// validate reports a sentinel config that cannot open a client.
func (s *Sentinel) validate() error {
	if strings.TrimSpace(s.MasterName) == "" {
		return errors.New("sentinel.master_name is empty: name the master the sentinels monitor")
	}
	if len(s.Addrs) == 0 {
		return errors.New("sentinel.addrs is empty: give at least one sentinel address")
	}
	for i, a := range s.Addrs {
		if strings.TrimSpace(a) == "" {
			return fmt.Errorf("sentinel.addrs[%d] is empty", i)
		}
	}
	return nil
}

// Validate reports options that cannot open a client: any of them set
// together with client (a client the application passed, nil if none: then
// the options do not apply), an empty address, a negative DB or
// DialTimeout, or a DB other than 0 on a cluster. opener names what would
// open the client ("driver", "bus"), for the message. It does no I/O. The
// errors name the config field and carry no prefix: the caller adds its
// own.
func (o Options) Validate(client goredis.UniversalClient, opener string) error {
	if client != nil {
		for _, f := range []struct {
			name string
			set  bool
		}{
			{"addrs", len(o.Addrs) > 0},
			{"cluster", o.Cluster},
			{"username", o.Username != ""},
			{"password", o.Password != ""},
			{"db", o.DB != 0},
			{"tls", o.TLS != nil},
			{"dial_timeout", o.DialTimeout != 0},
			{"sentinel", o.Sentinel != nil},
		} {
			if f.set {
				return fmt.Errorf("client and %s are both set: connection options apply only to a client the %s opens, configure the client instead", f.name, opener)
			}
		}
		return nil
	}
	if o.Sentinel != nil {
		if len(o.Addrs) > 0 || o.Cluster {
			return errors.New("sentinel and addrs or cluster are both set: with sentinel, the sentinels name the master; list them in sentinel.addrs")
		}
		if err := o.Sentinel.validate(); err != nil {
			return err
		}
	}
	for i, a := range o.Addrs {
		if strings.TrimSpace(a) == "" {
			return fmt.Errorf("addrs[%d] is empty", i)
		}
	}
	if o.DB < 0 {
		return fmt.Errorf("db is %d: it must not be negative", o.DB)
	}
	if o.DB != 0 && o.cluster() {
		return fmt.Errorf("db is %d with a cluster (several addrs or cluster set): a Redis Cluster has only database 0", o.DB)
	}
	if o.DialTimeout < 0 {
		return fmt.Errorf("dial_timeout is %v: it must not be negative", o.DialTimeout)
	}
	return nil
}

// NewClient opens the client that o describes, without I/O (go-redis dials
// on the first command): a sentinel failover *goredis.Client for Sentinel,
// a *goredis.ClusterClient for several addresses or Cluster, a
// *goredis.Client otherwise. The client honours context deadlines
// (ContextTimeoutEnabled). The caller closes it. From then on, go-redis's
// own log lines go where [RouteLogs] says, not to stderr.
func (o Options) NewClient() goredis.UniversalClient {
	installLogs()
	addrs := o.addrs()
	var tlsConfig *tls.Config
	if o.TLS != nil {
		tlsConfig = o.TLS.Clone()
	}
	if o.Sentinel != nil {
		return goredis.NewFailoverClient(&goredis.FailoverOptions{
			MasterName:            o.Sentinel.MasterName,
			SentinelAddrs:         slices.Clone(o.Sentinel.Addrs),
			SentinelUsername:      o.Sentinel.Username,
			SentinelPassword:      o.Sentinel.Password,
			Username:              o.Username,
			Password:              o.Password,
			DB:                    o.DB,
			TLSConfig:             tlsConfig,
			DialTimeout:           o.DialTimeout,
			DialerRetries:         dialAttempts,
			MaxRetries:            commandRetries,
			ContextTimeoutEnabled: true,
		})
	}
	if o.cluster() {
		return goredis.NewClusterClient(&goredis.ClusterOptions{
			Addrs:                 addrs,
			Username:              o.Username,
			Password:              o.Password,
			TLSConfig:             tlsConfig,
			DialTimeout:           o.DialTimeout,
			DialerRetries:         dialAttempts,
			MaxRetries:            commandRetries,
			ContextTimeoutEnabled: true,
		})
	}
	return goredis.NewClient(&goredis.Options{
		Addr:                  addrs[0],
		Username:              o.Username,
		Password:              o.Password,
		DB:                    o.DB,
		TLSConfig:             tlsConfig,
		DialTimeout:           o.DialTimeout,
		DialerRetries:         dialAttempts,
		MaxRetries:            commandRetries,
		ContextTimeoutEnabled: true,
	})
}

// A client bento opens dials once per attempt and retries a command once
// (a pooled connection the server dropped): with the store's circuit
// breaker, an unreachable server then costs one short failure, not the five
// dials and three retries per command of go-redis's defaults.
const (
	dialAttempts   = 1
	commandRetries = 1
)

// cluster reports whether o opens a cluster client.
func (o Options) cluster() bool { return len(o.Addrs) > 1 || o.Cluster }

// addrs returns a copy of Addrs, or DefaultAddr when there is none.
func (o Options) addrs() []string {
	if len(o.Addrs) == 0 {
		return []string{DefaultAddr}
	}
	return slices.Clone(o.Addrs)
}

// Config is the connection part of the config of bento's redis modules, as
// read from JSON or a Caddyfile: [Options] with TLS as plain settings, so
// that an equal Config means an identical client, which [Acquire] shares.
type Config struct {
	Addrs              []string
	Cluster            bool
	Username, Password string
	DB                 int
	DialTimeout        time.Duration
	// TLS turns TLS on, with the system's roots and at least TLS 1.2.
	TLS bool
	// TLSServerName is the name the server's certificate must have.
	// Default: the host of the address dialed.
	TLSServerName string
	// TLSInsecureSkipVerify accepts any certificate.
	TLSInsecureSkipVerify bool
	// Sentinel, when not nil, finds the master through Redis Sentinel.
	Sentinel *Sentinel
}

// Options returns the client options that c describes.
func (c Config) Options() Options {
	o := Options{
		Addrs:       slices.Clone(c.Addrs),
		Cluster:     c.Cluster,
		Username:    c.Username,
		Password:    c.Password,
		DB:          c.DB,
		DialTimeout: c.DialTimeout,
	}
	if c.Sentinel != nil {
		s := *c.Sentinel
		s.Addrs = slices.Clone(s.Addrs)
		o.Sentinel = &s
	}
	if c.TLS {
		o.TLS = &tls.Config{
			MinVersion:         tls.VersionTLS12,
			ServerName:         c.TLSServerName,
			InsecureSkipVerify: c.TLSInsecureSkipVerify, // the user's explicit, documented choice
		}
	}
	return o
}

// Validate reports what [Options.Validate] reports of c's options, and TLS
// settings given with TLS off. It does no I/O. The errors carry no prefix.
func (c Config) Validate() error {
	switch {
	case !c.TLS && c.TLSServerName != "":
		return errors.New("tls_server_name is set but tls is off: set tls to true as well")
	case !c.TLS && c.TLSInsecureSkipVerify:
		return errors.New("tls_insecure_skip_verify is set but tls is off: set tls to true as well")
	}
	return c.Options().Validate(nil, "")
}

// key returns the pool key of c: equal for configs that open identical
// clients (no address and the default one, seed nodes of a cluster in any
// order). It is a hash, so that the password never shows in a key.
func (c Config) key() string {
	n := c
	n.Addrs = c.Options().addrs()
	if c.Options().cluster() {
		slices.Sort(n.Addrs)
	}
	b, _ := json.Marshal(n) // a struct of strings, numbers and bools: never fails
	sum := sha256.Sum256(b)
	return "redisconn:" + hex.EncodeToString(sum[:])
}

// clients holds the clients of every module loaded from config, across
// config reloads.
var clients = caddy.NewUsagePool()

// pooledClient is a client in the pool; the pool closes it when its last
// holder lets go.
type pooledClient struct{ goredis.UniversalClient }

// Destruct closes the client.
func (p pooledClient) Destruct() error { return p.Close() }

// Acquire returns the client that c describes, shared by every holder of an
// equal Config, and the lease that holds it: the first Acquire opens the
// client (without I/O), the last [lease.Lease.Release] closes it. The
// holder must not close the client itself.
func Acquire(c Config) (goredis.UniversalClient, *lease.Lease, error) {
	p, l, err := lease.Acquire(clients, c.key(), func() (pooledClient, error) {
		return pooledClient{c.Options().NewClient()}, nil
	})
	if err != nil {
		return nil, nil, err
	}
	return p.UniversalClient, l, nil
}

// Pooled returns the client that [Acquire] shares for c, and how many
// leases hold it; nil and 0 when none does (the client, if there was one,
// is closed). It takes no lease: it is for tests and diagnostics.
func Pooled(c Config) (goredis.UniversalClient, int) {
	key := c.key()
	var client goredis.UniversalClient
	clients.Range(func(k, v any) bool {
		if k == key {
			client = v.(pooledClient).UniversalClient
			return false
		}
		return true
	})
	if client == nil {
		return nil, 0
	}
	refs, _ := clients.References(key)
	return client, refs
}
