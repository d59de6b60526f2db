// Package redis is bento's L2 driver on go-redis (module bento.drivers.redis).
// It stores encoded entries in a Redis server or a Redis Cluster, as
// "prefix:namespace:key" string keys with millisecond TTLs.
//
// A [Driver] either opens its own client from [Options] (one address: a
// single node; several, or [Options.Cluster]: a cluster) or uses one the
// application already has ([Options.Client]), which it never closes. [New]
// does no I/O: the first command dials. A Driver loaded from config shares
// its client with every redis driver and bus of the process whose connection
// settings are the same, across config reloads too. Every multi-key command
// the driver sends names keys of one hash slot only, so the driver is safe on
// a Redis Cluster; [Driver.Clear] scans every master.
//
//	rdb := goredis.NewClient(&goredis.Options{Addr: "127.0.0.1:6379"})
//	defer rdb.Close()
//	l2 := redis.New(redis.Options{Client: rdb, Prefix: "app"})
//	if err := l2.Validate(); err != nil {
//		return err
//	}
//	users := l2.Namespace("users") // keys "app:users:*"
//	err := users.Set(ctx, "42", encoded, time.Minute)
//
// The driver needs Redis 6.2 or later (GETDEL).
package redis

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"

	"github.com/bentocache/bento"
	"github.com/bentocache/bento/internal/keys"
	"github.com/bentocache/bento/internal/lease"
	"github.com/bentocache/bento/internal/redisconn"
)

func init() { caddy.RegisterModule(Driver{}) }

// Sentinel is the "sentinel" part of the module's config: the sentinels
// to ask for the master, and the master's name.
type Sentinel = redisconn.Sentinel

// DefaultAddr is the address a Driver dials when [Options] names neither a
// client nor an address.
const DefaultAddr = redisconn.DefaultAddr

const (
	// scanCount is the COUNT hint of the SCAN calls of Clear: how many keys
	// the server looks at per call.
	scanCount = 500
	// maxKeysPerCommand bounds the keys of one MGET or UNLINK, so that one
	// batch does not block the server for long; a batch of more keys is
	// split into several commands sent in the same round trip.
	maxKeysPerCommand = 500
	// maxKeyInError is the length past which a key is abridged in an error.
	maxKeyInError = 128
)

// Driver is a [bento.L2Driver] and [bento.L2BatchDriver] that stores entries
// in Redis. Module ID: bento.drivers.redis; it serves the L2 layer only.
//
// Keys are "prefix:namespace:key" strings; values are stored as given, with
// SET … PX for a TTL. A Driver returned by [New] and the views returned by
// [Driver.Namespace] share one client. A Driver is safe for concurrent use.
//
// The exported fields are the module's JSON config, read by
// [Driver.Provision]; a Driver built by [New] takes its settings from
// [Options] instead.
type Driver struct {
	// Addresses ("host:port") of the Redis nodes. One address is a single
	// node; several are seed nodes of a Redis Cluster. Default:
	// ["127.0.0.1:6379"].
	Addrs []string `json:"addrs,omitempty"`
	// Open a cluster client even with a single address (a cluster's
	// configuration endpoint, or any one node). Default: false.
	Cluster bool `json:"cluster,omitempty"`
	// ACL user name (Redis 6 or later). Default: none.
	Username string `json:"username,omitempty"`
	// Password of the ACL user, or alone the legacy requirepass password;
	// "{env.REDIS_PASSWORD}" keeps it out of the file. Default: none.
	Password string `json:"password,omitempty"`
	// Database of a single node. A cluster has only database 0. Default: 0.
	DB int `json:"db,omitempty"`
	// Bound on each attempt to connect to a node, e.g. "2s". Default: 5s.
	DialTimeout caddy.Duration `json:"dial_timeout,omitempty"`
	// Connect with TLS (at least TLS 1.2, certificates checked against the
	// system's roots). Default: false, plain TCP.
	TLS bool `json:"tls,omitempty"`
	// With tls, the name the server's certificate must carry. Default: the
	// host of the address dialed.
	TLSServerName string `json:"tls_server_name,omitempty"`
	// With tls, accept any certificate: for tests only, it gives up the
	// protection TLS exists for. Default: false.
	TLSInsecureSkipVerify bool `json:"tls_insecure_skip_verify,omitempty"`
	// Find the master through Redis Sentinel: {"master_name": "mymaster",
	// "addrs": ["10.0.0.7:26379", …]}, with optional "username" and
	// "password" for the sentinels. The client follows a failover. addrs
	// and cluster must then be unset. Default: none.
	Sentinel *Sentinel `json:"sentinel,omitempty"`
	// Put before every key, as "prefix:namespace:key" (the store's own
	// prefix comes after it). Default: none.
	Prefix string `json:"prefix,omitempty"`

	c *conn
	// base is the prefix and namespaces joined by keys.Separator; "" for
	// none.
	base string
}

// conn is the state that a Driver and its namespace views share.
type conn struct {
	// o is the caller's options as given, for Validate.
	o Options
	// conf is the connection config of a driver loaded from config, for
	// Validate; nil for a driver built by New.
	conf   *redisconn.Config
	client goredis.UniversalClient
	// owned: the driver opened client, and Disconnect closes it.
	owned bool
	// lease holds client, from the pool of clients opened from config:
	// Disconnect releases it, and the last release closes client.
	lease *lease.Lease
	topo  topology
	// unroute stops sending go-redis's log lines to the module's logger.
	unroute func()

	closeOnce sync.Once
}

// topology says which keys one command may name on a client.
type topology int

const (
	// single: a *goredis.Client, one server: any keys.
	single topology = iota
	// cluster: a *goredis.ClusterClient: keys of one hash slot.
	cluster
	// sharded: any other client (a *goredis.Ring, a wrapper), whose
	// sharding the driver cannot see: one key per command.
	sharded
)

// Options configures a [Driver]; see [New]. The zero value is valid: a driver
// that opens a client to [DefaultAddr] and puts no prefix before its keys.
//
// Either Client or the connection fields (Addrs, Cluster, Username,
// Password, DB, TLS, DialTimeout) are used, never both; [Driver.Validate]
// reports a mix.
type Options struct {
	// Client is a client the application already has: a *goredis.Client
	// (single node, or sentinel failover), a *goredis.ClusterClient or a
	// *goredis.Ring. It is never closed by the driver. Nil means that the
	// driver opens a client from the connection fields below, and closes it
	// in [Driver.Disconnect].
	Client goredis.UniversalClient

	// Addrs are the "host:port" addresses of the Redis nodes. One address is
	// a single node, several are seed nodes of a Redis Cluster. Default:
	// [DefaultAddr].
	Addrs []string
	// Cluster makes the driver open a cluster client even when Addrs holds a
	// single seed node (a cluster's configuration endpoint). Default: false,
	// and then only several addresses make a cluster.
	Cluster bool
	// Username and Password authenticate the connections (Redis 6 ACL; with
	// an empty Username, Password is the legacy requirepass). Default: none.
	Username, Password string
	// DB is the database a single-node client selects. A cluster has only
	// database 0, so DB must be 0 with several addresses or Cluster. Default:
	// 0.
	DB int
	// TLS, when not nil, makes the connections use TLS with this
	// configuration (the driver uses a clone). Default: plain TCP.
	TLS *tls.Config
	// DialTimeout bounds each attempt to connect to a node. Zero means
	// go-redis's default of 5s; negative values are reported by
	// [Driver.Validate].
	DialTimeout time.Duration

	// Prefix is the first part of every key, as "prefix:namespace:key".
	// Empty means none, and then the driver owns the whole database:
	// [Driver.Clear] on the root removes every key of it.
	Prefix string
}

// New returns a driver on o.Client, or on a client it opens from the
// connection fields of o. It does no I/O and never fails: go-redis dials on
// the first command, so an unreachable server shows up as the error of the
// first call, and invalid options are reported by [Driver.Validate], which
// bento.New calls.
func New(o Options) *Driver {
	c := &conn{o: o, client: o.Client}
	if c.client == nil {
		c.client, c.owned = o.conn().NewClient(), true
	}
	dr := new(Driver)
	dr.init(c)
	return dr
}

// init makes dr the root view of c: the one way in that New and Provision
// share.
func (dr *Driver) init(c *conn) {
	switch c.client.(type) {
	case *goredis.Client:
		c.topo = single
	case *goredis.ClusterClient:
		c.topo = cluster
	default:
		c.topo = sharded
	}
	dr.c, dr.base = c, c.o.Prefix
}

// CaddyModule returns the Caddy module information.
func (Driver) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{ID: "bento.drivers.redis", New: func() caddy.Module { return new(Driver) }}
}

// Provision builds the driver from its JSON fields, on the client shared by
// every redis driver and bus loaded with the same connection settings
// (opened by the first of them, and kept across config reloads). No I/O.
func (dr *Driver) Provision(ctx caddy.Context) error {
	conf := dr.fields().Config()
	client, l, err := redisconn.Acquire(conf)
	if err != nil {
		return fmt.Errorf("redis: %w", err)
	}
	unroute := redisconn.RouteLogs(bento.ModuleLogger(ctx))
	dr.init(&conn{o: Options{Prefix: dr.Prefix}, conf: &conf, client: client, lease: l, unroute: unroute})
	return nil
}

// Validate reports options that the driver cannot honour: a client together
// with connection fields, an empty address, a negative DB or DialTimeout, a
// DB other than 0 on a cluster, or, in config, tls_server_name or
// tls_insecure_skip_verify without tls. It does no I/O. A namespace view
// reports the options of the driver it was made from.
func (dr *Driver) Validate() error {
	var err error
	if dr.c.conf != nil {
		err = dr.c.conf.Validate()
	} else {
		err = dr.c.o.conn().Validate(dr.c.o.Client, "driver")
	}
	if err != nil {
		return fmt.Errorf("redis: %w", err)
	}
	return nil
}

// Cleanup releases the driver's share of its client; see
// [Driver.Disconnect].
func (dr *Driver) Cleanup() error {
	if dr.c == nil {
		return nil // Provision did not get this far
	}
	return dr.Disconnect()
}

// UnmarshalCaddyfile sets the driver up from a Caddyfile block. The short
// form "redis <addr...>" names the addresses alone:
//
//	redis [<addr...>] {
//		addrs                    <addr...>
//		cluster
//		username                 <username>
//		password                 <password>
//		db                       <n>
//		dial_timeout             <duration>
//		tls
//		tls_server_name          <name>
//		tls_insecure_skip_verify
//		sentinel [<master_name> [<addr...>]] {
//			master_name <name>
//			addrs       <addr...>
//			username    <username>
//			password    <password>
//		}
//		prefix                   <prefix>
//	}
//
// Addresses given as arguments and with addrs add up.
func (dr *Driver) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	return dr.fields().UnmarshalCaddyfile(d, "redis driver", func(d *caddyfile.Dispenser) (bool, error) {
		if d.Val() != "prefix" {
			return false, nil
		}
		return true, redisconn.OneArg(d, &dr.Prefix)
	})
}

// Namespace returns a view of the same client under "<current>:<namespace>".
func (dr *Driver) Namespace(namespace string) bento.L2Driver {
	return &Driver{c: dr.c, base: keys.Join(dr.base, namespace)}
}

// Get returns a copy of the bytes stored under key (GET), if any. A missing
// key is not an error.
func (dr *Driver) Get(ctx context.Context, key string) ([]byte, bool, error) {
	k := dr.key(key)
	v, err := dr.c.client.Get(ctx, k).Result()
	if errors.Is(err, goredis.Nil) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("redis: get %s: %w", qk(k), err)
	}
	return bytesOf(v), true, nil
}

// Pull returns the bytes stored under key and deletes them, in one command
// (GETDEL).
func (dr *Driver) Pull(ctx context.Context, key string) ([]byte, bool, error) {
	k := dr.key(key)
	v, err := dr.c.client.GetDel(ctx, k).Result()
	if errors.Is(err, goredis.Nil) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("redis: pull %s: %w", qk(k), err)
	}
	return bytesOf(v), true, nil
}

// Set stores value under key (SET, with PX in milliseconds for a ttl > 0,
// rounded up to a whole millisecond). A ttl <= 0 means no expiry, and
// replaces any TTL the key had.
func (dr *Driver) Set(ctx context.Context, key string, value []byte, ttl time.Duration) error {
	k := dr.key(key)
	if err := dr.c.client.Process(ctx, setCmd(ctx, k, value, ttl)); err != nil {
		return fmt.Errorf("redis: set %s: %w", qk(k), err)
	}
	return nil
}

// Ping tells whether the server answers (PING); a store calls it once when
// it starts.
func (dr *Driver) Ping(ctx context.Context) error {
	if err := dr.c.client.Ping(ctx).Err(); err != nil {
		return fmt.Errorf("redis: ping: %w", err)
	}
	return nil
}

// Has reports whether key holds a value (EXISTS).
func (dr *Driver) Has(ctx context.Context, key string) (bool, error) {
	k := dr.key(key)
	n, err := dr.c.client.Exists(ctx, k).Result()
	if err != nil {
		return false, fmt.Errorf("redis: has %s: %w", qk(k), err)
	}
	return n > 0, nil
}

// Clear removes every key under this view's prefix and namespace: on every
// master (every node of a cluster, every shard of a ring), it walks the keys
// matching "<prefix>:<namespace>:*" with SCAN, glob characters of the prefix
// escaped, and removes each page of them with UNLINK. On the root of a
// driver with an empty prefix it removes every key of the database (SCAN of
// "*"), never with FLUSHDB.
//
// NOTE: Clear is not atomic. A key written under the prefix while Clear runs
// may survive it.
func (dr *Driver) Clear(ctx context.Context) error {
	pattern := escapeGlob(keys.ClearPrefix(dr.base)) + "*"
	scan := func(ctx context.Context, node goredis.Cmdable) error {
		var cursor uint64
		for {
			found, next, err := node.Scan(ctx, cursor, pattern, scanCount).Result()
			if err != nil {
				return err
			}
			if len(found) > 0 {
				if _, err := dr.c.unlink(ctx, found); err != nil {
					return err
				}
			}
			if next == 0 {
				return nil
			}
			cursor = next
		}
	}
	var err error
	switch c := dr.c.client.(type) {
	case interface {
		ForEachMaster(context.Context, func(context.Context, *goredis.Client) error) error
	}:
		err = c.ForEachMaster(ctx, func(ctx context.Context, node *goredis.Client) error { return scan(ctx, node) })
	case interface {
		ForEachShard(context.Context, func(context.Context, *goredis.Client) error) error
	}:
		err = c.ForEachShard(ctx, func(ctx context.Context, node *goredis.Client) error { return scan(ctx, node) })
	default:
		err = scan(ctx, dr.c.client)
	}
	if err != nil {
		return fmt.Errorf("redis: clear %s: %w", qk(pattern), err)
	}
	return nil
}

// Delete removes key (UNLINK) and reports whether it existed.
func (dr *Driver) Delete(ctx context.Context, key string) (bool, error) {
	k := dr.key(key)
	n, err := dr.c.client.Unlink(ctx, k).Result()
	if err != nil {
		return false, fmt.Errorf("redis: delete %s: %w", qk(k), err)
	}
	return n > 0, nil
}

// DeleteMany removes keys and reports whether any of them existed, in one
// round trip: one UNLINK per hash slot on a cluster, one for all the keys on
// a single node. An empty list sends nothing.
func (dr *Driver) DeleteMany(ctx context.Context, ks []string) (bool, error) {
	if len(ks) == 0 {
		return false, nil
	}
	full := make([]string, len(ks))
	for i, k := range ks {
		full[i] = dr.key(k)
	}
	n, err := dr.c.unlink(ctx, full)
	if err != nil {
		return false, fmt.Errorf("redis: delete %d keys: %w", len(ks), err)
	}
	return n > 0, nil
}

// Disconnect closes the client if the driver opened it, and does nothing to
// a client passed in [Options.Client]. It closes the client that every view
// of the driver shares. A driver loaded from config gives back its share of
// the pooled client instead, which is closed when its last holder lets go.
// Calling it twice is fine.
func (dr *Driver) Disconnect() error {
	if dr.c.unroute != nil {
		dr.c.unroute()
	}
	if dr.c.lease != nil {
		if err := dr.c.lease.Release(); err != nil {
			return fmt.Errorf("redis: disconnect: %w", err)
		}
		return nil
	}
	if !dr.c.owned {
		return nil
	}
	var err error
	dr.c.closeOnce.Do(func() {
		if cerr := dr.c.client.Close(); cerr != nil {
			err = fmt.Errorf("redis: disconnect: %w", cerr)
		}
	})
	return err
}

// GetMany returns a copy of the bytes stored under each key, nil where
// missing, in one round trip: one MGET per hash slot on a cluster (go-redis
// sends the commands for each node together), one for all the keys on a
// single node.
func (dr *Driver) GetMany(ctx context.Context, ks []string) ([][]byte, error) {
	if len(ks) == 0 {
		return nil, nil
	}
	full := make([]string, len(ks))
	for i, k := range ks {
		full[i] = dr.key(k)
	}
	groups := dr.c.groups(full)
	cmds := make([]goredis.Cmder, len(groups))
	for g, idx := range groups {
		args := make([]any, 1+len(idx))
		args[0] = "mget"
		for j, i := range idx {
			args[1+j] = full[i]
		}
		cmds[g] = goredis.NewSliceCmd(ctx, args...)
	}
	if err := dr.c.run(ctx, cmds); err != nil {
		return nil, fmt.Errorf("redis: get %d keys: %w", len(ks), err)
	}
	values := make([][]byte, len(ks))
	for g, idx := range groups {
		replies := cmds[g].(*goredis.SliceCmd).Val()
		if len(replies) != len(idx) {
			return nil, fmt.Errorf("redis: get %d keys: MGET of %d keys returned %d values", len(ks), len(idx), len(replies))
		}
		for j, i := range idx {
			switch v := replies[j].(type) {
			case nil:
			case string:
				values[i] = bytesOf(v)
			default:
				return nil, fmt.Errorf("redis: get %d keys: MGET returned a %T for %s", len(ks), v, qk(full[i]))
			}
		}
	}
	return values, nil
}

// SetMany stores every entry with the same ttl (<= 0: no expiry): one SET
// per entry, all sent in one round trip.
func (dr *Driver) SetMany(ctx context.Context, entries []bento.KeyValue, ttl time.Duration) error {
	if len(entries) == 0 {
		return nil
	}
	cmds := make([]goredis.Cmder, len(entries))
	for i, kv := range entries {
		cmds[i] = setCmd(ctx, dr.key(kv.Key), kv.Value, ttl)
	}
	if err := dr.c.run(ctx, cmds); err != nil {
		return fmt.Errorf("redis: set %d keys: %w", len(entries), err)
	}
	return nil
}

// conn returns the connection fields of o.
func (o Options) conn() redisconn.Options {
	return redisconn.Options{
		Addrs:       o.Addrs,
		Cluster:     o.Cluster,
		Username:    o.Username,
		Password:    o.Password,
		DB:          o.DB,
		TLS:         o.TLS,
		DialTimeout: o.DialTimeout,
	}
}

// fields binds the connection fields of dr's JSON config for redisconn.
func (dr *Driver) fields() redisconn.Fields {
	return redisconn.Fields{
		Addrs:                 &dr.Addrs,
		Cluster:               &dr.Cluster,
		Username:              &dr.Username,
		Password:              &dr.Password,
		DB:                    &dr.DB,
		DialTimeout:           &dr.DialTimeout,
		TLS:                   &dr.TLS,
		TLSServerName:         &dr.TLSServerName,
		TLSInsecureSkipVerify: &dr.TLSInsecureSkipVerify,
		Sentinel:              &dr.Sentinel,
	}
}

// key returns the Redis key of key in this view.
func (dr *Driver) key(key string) string { return keys.Join(dr.base, key) }

// unlink removes full keys in one round trip, grouped so that no command
// crosses hash slots, and returns how many existed.
func (c *conn) unlink(ctx context.Context, full []string) (int64, error) {
	groups := c.groups(full)
	cmds := make([]goredis.Cmder, len(groups))
	for g, idx := range groups {
		args := make([]any, 1+len(idx))
		args[0] = "unlink"
		for j, i := range idx {
			args[1+j] = full[i]
		}
		cmds[g] = goredis.NewIntCmd(ctx, args...)
	}
	if err := c.run(ctx, cmds); err != nil {
		return 0, err
	}
	var n int64
	for _, cmd := range cmds {
		n += cmd.(*goredis.IntCmd).Val()
	}
	return n, nil
}

// groups splits the indexes of full into the key lists of multi-key
// commands that the client can run: all the keys on a single node, the keys
// of one hash slot on a cluster, one key otherwise; at most
// maxKeysPerCommand in each.
func (c *conn) groups(full []string) [][]int {
	var groups [][]int
	add := func(idx []int) {
		for len(idx) > maxKeysPerCommand {
			groups = append(groups, idx[:maxKeysPerCommand:maxKeysPerCommand])
			idx = idx[maxKeysPerCommand:]
		}
		groups = append(groups, idx)
	}
	switch c.topo {
	case single:
		idx := make([]int, len(full))
		for i := range idx {
			idx[i] = i
		}
		add(idx)
	case cluster:
		bySlot := make(map[int][]int)
		var order []int
		for i, k := range full {
			s := slot(k)
			if _, ok := bySlot[s]; !ok {
				order = append(order, s)
			}
			bySlot[s] = append(bySlot[s], i)
		}
		for _, s := range order {
			add(bySlot[s])
		}
	default:
		for i := range full {
			groups = append(groups, []int{i})
		}
	}
	return groups
}

// run sends cmds in one round trip: a lone command directly, several in a
// pipeline (which a cluster client splits per node). It returns the first
// error of any command.
func (c *conn) run(ctx context.Context, cmds []goredis.Cmder) error {
	if len(cmds) == 1 {
		return c.client.Process(ctx, cmds[0])
	}
	pipe := c.client.Pipeline()
	for _, cmd := range cmds {
		_ = pipe.Process(ctx, cmd)
	}
	_, err := pipe.Exec(ctx)
	return err
}

// setCmd is SET key value, with PX for a ttl > 0.
func setCmd(ctx context.Context, key string, value []byte, ttl time.Duration) *goredis.StatusCmd {
	if ttl <= 0 {
		return goredis.NewStatusCmd(ctx, "set", key, value)
	}
	ms := ttl / time.Millisecond // rounded up below; ttl + 1ms - 1 would overflow
	if ttl%time.Millisecond != 0 {
		ms++
	}
	return goredis.NewStatusCmd(ctx, "set", key, value, "px", int64(ms))
}

// bytesOf copies a reply into a new slice that is never nil, so that an
// empty value stays distinguishable from a missing one. go-redis's
// StringCmd.Bytes would share the reply's memory instead.
func bytesOf(s string) []byte {
	return append(make([]byte, 0, len(s)), s...)
}

// escapeGlob escapes the characters that are special in a Redis glob
// pattern (SCAN MATCH), so that s matches only itself. It works on bytes:
// keys need not be UTF-8.
func escapeGlob(s string) string {
	if !strings.ContainsAny(s, `*?[]\`) {
		return s
	}
	var b strings.Builder
	b.Grow(len(s) + 8)
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '*', '?', '[', ']', '\\':
			b.WriteByte('\\')
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// qk quotes a key for an error message, abridged when long.
func qk(k string) string {
	if len(k) > maxKeyInError {
		return fmt.Sprintf("%q…(%d bytes)", k[:maxKeyInError], len(k))
	}
	return fmt.Sprintf("%q", k)
}

// Interface guards
var (
	_ bento.L2Driver      = (*Driver)(nil)
	_ bento.L2BatchDriver = (*Driver)(nil)
	_ bento.Pinger        = (*Driver)(nil)
	_ bento.Validator     = (*Driver)(nil)

	_ caddy.Provisioner     = (*Driver)(nil)
	_ caddy.Validator       = (*Driver)(nil)
	_ caddy.CleanerUpper    = (*Driver)(nil)
	_ caddyfile.Unmarshaler = (*Driver)(nil)
)
