// Package natskv is bento's L2 driver on a NATS JetStream key-value bucket
// (module bento.drivers.natskv): a replicated, clustered L2 that needs no
// Redis and no database.
//
// Every entry is one key of the bucket. bento's "prefix:namespace:key"
// layout becomes the key's "."-separated tokens ([EncodeKey]), so that
// clearing a namespace is one purge of the bucket's stream by subject
// filter. The value stored is the entry's bytes behind a small header
// holding its expiry, which every read checks: the server's per-key TTL
// needs NATS 2.11, and this driver does not rely on it (see
// docs/drivers/natskv.md).
//
//	dr := natskv.New(natskv.Options{Conn: nc, Bucket: "cache"})
//	defer dr.Disconnect()
//	store := bento.NewStore().UseL1(l1).UseL2(dr)
package natskv

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"math/rand/v2"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	natsgo "github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"

	"github.com/bentocache/bento"
	"github.com/bentocache/bento/internal/keys"
	"github.com/bentocache/bento/internal/lease"
	"github.com/bentocache/bento/internal/natsconn"
)

func init() { caddy.RegisterModule(Driver{}) }

// DefaultBucket is the bucket a driver uses when its options name none.
const DefaultBucket = "bento"

const (
	// inline and chunked are the first byte of every stored value: the
	// entry's bytes follow the header, or are in chunks under other keys.
	inline  = 1
	chunked = 2
	// headerSize is the version byte and the expiry, in unix
	// milliseconds, big-endian (0: never).
	headerSize = 9
	// chunkedSize is headerSize, then the chunks' nonce (8 bytes), their
	// count (4) and the entry's length (8).
	chunkedSize = headerSize + 20
	// payloadMargin is what a value leaves of the server's max_payload for
	// the rest of the message.
	payloadMargin = 1 << 10
	// maxKeyLen bounds an encoded key: the server limits the control line
	// that carries a subject (4 KiB by default). Past it, the key's last
	// parts are replaced by a hash (see EncodeKey).
	maxKeyLen = 1 << 10
	// opTimeout bounds a call whose context has no deadline: a JetStream
	// request without one would wait for ever for a server that is gone.
	opTimeout = 10 * time.Second
)

// ErrClosed is wrapped by the errors of a driver's calls after
// [Driver.Disconnect].
var ErrClosed = errors.New("natskv: driver closed")

// Driver is a [bento.L2Driver] on a NATS JetStream key-value bucket.
// Module ID: bento.drivers.natskv; it serves the L2 layer only. A Driver
// and the views returned by [Driver.Namespace] share one connection and
// bucket. A Driver is safe for concurrent use.
//
// The exported fields are the module's JSON config, read by
// [Driver.Provision]; a Driver built by [New] takes its settings from
// [Options] instead.
type Driver struct {
	// Server URLs ("nats://host:4222"). Default: ["nats://127.0.0.1:4222"].
	Servers []string `json:"servers,omitempty"`
	// Connection name, shown by the server's monitoring. Default: none.
	Name string `json:"name,omitempty"`
	// User name, with password. Default: none.
	Username string `json:"username,omitempty"`
	// Password of username; "{env.NATS_PASSWORD}" keeps it out of the file.
	// Default: none.
	Password string `json:"password,omitempty"`
	// Authentication token, instead of a user name. Default: none.
	Token string `json:"token,omitempty"`
	// Path of a NATS credentials file, read at the first connect. Default:
	// none.
	CredsFile string `json:"creds_file,omitempty"`
	// Require TLS (at least TLS 1.2, system roots). Default: false.
	TLS bool `json:"tls,omitempty"`
	// With tls, the name the server's certificate must carry. Default: the
	// host of the URL dialed.
	TLSServerName string `json:"tls_server_name,omitempty"`
	// With tls, accept any certificate: for tests only. Default: false.
	TLSInsecureSkipVerify bool `json:"tls_insecure_skip_verify,omitempty"`
	// Bound on each attempt to connect, e.g. "1s". Default: 2s.
	DialTimeout caddy.Duration `json:"dial_timeout,omitempty"`
	// Pause between two reconnect attempts to one server. Default: 2s.
	ReconnectWait caddy.Duration `json:"reconnect_wait,omitempty"`
	// How often an idle connection pings the server. Default: 10s.
	PingInterval caddy.Duration `json:"ping_interval,omitempty"`

	// Name of the key-value bucket: letters, digits, "_" and "-". It is
	// created on first use if it does not exist. Default: "bento".
	Bucket string `json:"bucket,omitempty"`
	// Put before every key, as "prefix:namespace:key" (the store's own
	// prefix comes after it). Default: none.
	Prefix string `json:"prefix,omitempty"`
	// Replicas of a bucket the driver creates (1 to 5; a cluster of at
	// least that many servers). Default: 1.
	Replicas int `json:"replicas,omitempty"`
	// Storage of a bucket the driver creates: "file" or "memory".
	// Default: "file".
	Storage string `json:"storage,omitempty"`
	// Age past which the server removes any entry of a bucket the driver
	// creates, whatever its TTL: a bound on the space of entries nobody
	// reads again. Entries that expire earlier are misses from their
	// expiry on. Default: none.
	MaxAge caddy.Duration `json:"max_age,omitempty"`

	c *conn
	// base is the prefix and namespaces joined by keys.Separator.
	base string
}

// Options configures a [Driver]; see [New]. The zero value is valid: a
// driver on bucket [DefaultBucket] of a server at nats://127.0.0.1:4222.
type Options struct {
	// Conn is a connection the application already has, never closed by
	// the driver. Nil means that the driver opens one from the connection
	// fields below on first use, and closes it in [Driver.Disconnect].
	Conn *natsgo.Conn

	// Servers, Name, Username, Password, Token, CredsFile, DialTimeout,
	// ReconnectWait and PingInterval are those of a connection the
	// driver opens; see the JSON fields of [Driver].
	Servers                                    []string
	Name, Username, Password, Token, CredsFile string
	DialTimeout, ReconnectWait, PingInterval   time.Duration

	// Bucket is the key-value bucket, created on first use if missing.
	// Default: [DefaultBucket].
	Bucket string
	// Prefix is the first part of every key. Default: none.
	Prefix string
	// Replicas of a bucket the driver creates. Zero means 1.
	Replicas int
	// MemoryStorage makes a bucket the driver creates keep its data in
	// memory. Default: file storage.
	MemoryStorage bool
	// MaxAge bounds the age of every entry of a bucket the driver
	// creates. Zero means no bound.
	MaxAge time.Duration
}

// conn is the state that a Driver and its namespace views share.
type conn struct {
	nats  *natsconn.Conn
	lease *lease.Lease
	// mixed names a connection field set together with Options.Conn.
	mixed string
	// conf is the connection config of a connection the driver opens.
	conf    natsconn.Config
	bucket  string
	storage string
	cfg     jetstream.KeyValueConfig

	mu     sync.Mutex
	kv     jetstream.KeyValue // nil until the bucket is opened
	js     jetstream.JetStream
	nc     *natsgo.Conn
	closed bool
}

// New returns a driver on o.Conn, or on a connection it opens from the
// connection fields of o. It does no I/O and never fails: the connection
// is dialed, and the bucket opened or created, by the first call, and
// invalid options are reported by [Driver.Validate], which bento.New calls.
func New(o Options) *Driver {
	conf := natsconn.Config{
		Servers: slices.Clone(o.Servers), Name: o.Name,
		Username: o.Username, Password: o.Password, Token: o.Token, CredsFile: o.CredsFile,
		DialTimeout: o.DialTimeout, ReconnectWait: o.ReconnectWait, PingInterval: o.PingInterval,
	}
	c := &conn{conf: conf}
	if o.Conn != nil {
		c.nats, c.mixed = natsconn.Wrap(o.Conn), conf.FirstSet()
	} else {
		c.nats = natsconn.New(conf)
	}
	storage := "file"
	if o.MemoryStorage {
		storage = "memory"
	}
	c.setBucket(o.Bucket, storage, o.Replicas, o.MaxAge)
	return &Driver{c: c, base: o.Prefix}
}

// setBucket records the bucket and the config of a bucket to create.
func (c *conn) setBucket(bucket, storage string, replicas int, maxAge time.Duration) {
	if bucket == "" {
		bucket = DefaultBucket
	}
	if storage == "" {
		storage = "file"
	}
	c.bucket, c.storage = bucket, storage
	c.cfg = jetstream.KeyValueConfig{
		Bucket:      bucket,
		Description: "bento L2 cache",
		History:     1,
		TTL:         maxAge,
		Replicas:    max(replicas, 1),
		Storage:     jetstream.FileStorage,
	}
	if storage == "memory" {
		c.cfg.Storage = jetstream.MemoryStorage
	}
}

// CaddyModule returns the Caddy module information.
func (Driver) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{ID: "bento.drivers.natskv", New: func() caddy.Module { return new(Driver) }}
}

// Provision builds the driver from its JSON fields, on the connection
// shared by every NATS bus and driver loaded with the same connection
// settings. No I/O: the connection is dialed on first use.
func (dr *Driver) Provision(caddy.Context) error {
	conf := dr.fields().Config()
	nc, l, err := natsconn.Acquire(conf)
	if err != nil {
		return fmt.Errorf("natskv: %w", err)
	}
	c := &conn{nats: nc, lease: l, conf: conf}
	c.setBucket(dr.Bucket, dr.Storage, dr.Replicas, time.Duration(dr.MaxAge))
	dr.c, dr.base = c, dr.Prefix
	return nil
}

var bucketPattern = regexp.MustCompile(`^[a-zA-Z0-9_-]+$`)

// Validate reports options the driver cannot honour: a connection together
// with connection fields, bad connection settings, a bucket name NATS
// rejects, replicas outside 0 to 5, an unknown storage, a negative max_age.
// It does no I/O.
func (dr *Driver) Validate() error {
	c := dr.c
	if c == nil {
		return nil
	}
	if c.mixed != "" {
		return fmt.Errorf("natskv: conn and %s are both set: connection options apply only to a connection the driver opens, configure the connection instead", c.mixed)
	}
	if err := c.conf.Validate(); err != nil {
		return fmt.Errorf("natskv: %w", err)
	}
	switch {
	case !bucketPattern.MatchString(c.bucket):
		return fmt.Errorf("natskv: bucket is %q: a bucket name has only letters, digits, \"_\" and \"-\"", c.bucket)
	case c.cfg.Replicas > 5:
		return fmt.Errorf("natskv: replicas is %d: JetStream keeps 1 to 5 replicas", c.cfg.Replicas)
	case c.storage != "file" && c.storage != "memory":
		return fmt.Errorf("natskv: storage is %q: want \"file\" or \"memory\"", c.storage)
	case c.cfg.TTL < 0:
		return fmt.Errorf("natskv: max_age is %v: it must not be negative", c.cfg.TTL)
	}
	return nil
}

// Cleanup disconnects the driver; see [Driver.Disconnect].
func (dr *Driver) Cleanup() error {
	if dr.c == nil {
		return nil
	}
	return dr.Disconnect()
}

// UnmarshalCaddyfile sets the driver up from a Caddyfile block. The short
// form "natskv <url...>" names the servers alone:
//
//	natskv [<url...>] {
//		servers                  <url...>
//		name                     <connection name>
//		username                 <username>
//		password                 <password>
//		token                    <token>
//		creds_file               <path>
//		tls
//		tls_server_name          <name>
//		tls_insecure_skip_verify
//		dial_timeout             <duration>
//		reconnect_wait           <duration>
//		ping_interval            <duration>
//		bucket                   <name>
//		prefix                   <prefix>
//		replicas                 <n>
//		storage                  file|memory
//		max_age                  <duration>
//	}
func (dr *Driver) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	return dr.fields().UnmarshalCaddyfile(d, "natskv driver", func(d *caddyfile.Dispenser) (bool, error) {
		switch d.Val() {
		case "bucket":
			return true, natsconn.OneArg(d, &dr.Bucket)
		case "prefix":
			return true, natsconn.OneArg(d, &dr.Prefix)
		case "storage":
			return true, natsconn.OneArg(d, &dr.Storage)
		case "max_age":
			return true, natsconn.DurationArg(d, &dr.MaxAge)
		case "replicas":
			var v string
			if err := natsconn.OneArg(d, &v); err != nil {
				return true, err
			}
			n, err := strconv.Atoi(v)
			if err != nil {
				return true, d.Errf("replicas: %q is not a whole number", v)
			}
			dr.Replicas = n
			return true, nil
		}
		return false, nil
	})
}

// Namespace returns a view of the same bucket under "<current>:<namespace>".
func (dr *Driver) Namespace(namespace string) bento.L2Driver {
	return &Driver{c: dr.c, base: keys.Join(dr.base, namespace)}
}

// Get returns the bytes stored under key, if any and not expired. An
// expired entry is a miss, and is deleted unless it was written again
// meanwhile.
func (dr *Driver) Get(ctx context.Context, key string) ([]byte, bool, error) {
	k := dr.key(key)
	v, _, found, _, err := dr.get(ctx, k)
	if err != nil {
		return nil, false, fmt.Errorf("natskv: get %q: %w", qk(k), err)
	}
	return v, found, nil
}

// Pull returns the bytes stored under key and deletes them: of several
// concurrent Pulls of one key, one gets the value (the delete is
// conditional on the revision read).
func (dr *Driver) Pull(ctx context.Context, key string) ([]byte, bool, error) {
	k := dr.key(key)
	v, rev, found, isChunked, err := dr.get(ctx, k)
	if err != nil || !found {
		if err != nil {
			err = fmt.Errorf("natskv: pull %q: %w", qk(k), err)
		}
		return nil, false, err
	}
	err = dr.withKV(ctx, func(ctx context.Context, kv jetstream.KeyValue) error {
		ek := EncodeKey(k)
		if err := kv.Delete(ctx, ek, jetstream.LastRevision(rev)); err != nil {
			return err
		}
		if isChunked {
			return dr.purge(ctx, chunksFilter(dr.c.bucket, ek))
		}
		return nil
	})
	if errors.Is(err, jetstream.ErrKeyRevisionMismatch) || errors.Is(err, jetstream.ErrKeyExists) {
		return nil, false, nil // another Pull, a Delete or a Set came first
	}
	if err != nil {
		return nil, false, fmt.Errorf("natskv: pull %q: %w", qk(k), err)
	}
	return v, true, nil
}

// Set stores value under key, expiring after ttl (ttl <= 0: never). A
// value too large for one message of the server (its max_payload, 1 MB by
// default) is stored in chunks under keys of its own, the chunks first.
func (dr *Driver) Set(ctx context.Context, key string, value []byte, ttl time.Duration) error {
	k := dr.key(key)
	var exp uint64
	if ttl > 0 {
		exp = uint64(time.Now().Add(ttl).UnixMilli())
	}
	err := dr.withKV(ctx, func(ctx context.Context, kv jetstream.KeyValue) error {
		ek := EncodeKey(k)
		limit := int(dr.c.maxPayload()) - payloadMargin
		if headerSize+len(value) <= limit {
			buf := make([]byte, headerSize+len(value))
			buf[0] = inline
			binary.BigEndian.PutUint64(buf[1:headerSize], exp)
			copy(buf[headerSize:], value)
			_, err := kv.Put(ctx, ek, buf)
			return err
		}
		// The chunks of an earlier large value of the key go first.
		if err := dr.purge(ctx, chunksFilter(dr.c.bucket, ek)); err != nil {
			return err
		}
		nonce := rand.Uint64()
		n := 0
		for off := 0; off < len(value); off += limit {
			if _, err := kv.Put(ctx, chunkKey(ek, nonce, n), value[off:min(off+limit, len(value))]); err != nil {
				return err
			}
			n++
		}
		head := make([]byte, chunkedSize)
		head[0] = chunked
		binary.BigEndian.PutUint64(head[1:headerSize], exp)
		binary.BigEndian.PutUint64(head[headerSize:], nonce)
		binary.BigEndian.PutUint32(head[headerSize+8:], uint32(n))
		binary.BigEndian.PutUint64(head[headerSize+12:], uint64(len(value)))
		_, err := kv.Put(ctx, ek, head)
		return err
	})
	if err != nil {
		return fmt.Errorf("natskv: set %q: %w", qk(k), err)
	}
	return nil
}

// Has reports whether key holds an entry that has not expired.
func (dr *Driver) Has(ctx context.Context, key string) (bool, error) {
	k := dr.key(key)
	_, _, found, _, err := dr.get(ctx, k)
	if err != nil {
		return false, fmt.Errorf("natskv: has %q: %w", qk(k), err)
	}
	return found, nil
}

// Clear removes every key under this view's prefix and namespace with one
// purge of the bucket's stream, filtered by the subject of "<prefix>.
// <namespace>.>" (every key of the bucket on the root of a driver with an
// empty prefix): the server removes the matching keys, and no other key is
// read or touched.
func (dr *Driver) Clear(ctx context.Context) error {
	err := dr.withKV(ctx, func(ctx context.Context, _ jetstream.KeyValue) error {
		return dr.purge(ctx, dr.clearSubject())
	})
	if err != nil {
		return fmt.Errorf("natskv: clear %q: %w", dr.clearSubject(), err)
	}
	return nil
}

// Delete removes key and reports whether it held an entry that had not
// expired.
func (dr *Driver) Delete(ctx context.Context, key string) (bool, error) {
	k := dr.key(key)
	existed, err := dr.delete(ctx, k)
	if err != nil {
		return false, fmt.Errorf("natskv: delete %q: %w", qk(k), err)
	}
	return existed, nil
}

// DeleteMany removes keys, one request each, and reports whether any of
// them held an entry that had not expired. An empty list sends nothing.
func (dr *Driver) DeleteMany(ctx context.Context, ks []string) (bool, error) {
	any := false
	for _, key := range ks {
		k := dr.key(key)
		existed, err := dr.delete(ctx, k)
		if err != nil {
			return any, fmt.Errorf("natskv: delete %q: %w", qk(k), err)
		}
		any = any || existed
	}
	return any, nil
}

// Disconnect closes the connection if the driver opened it; a connection
// passed in [Options.Conn] stays open. A driver loaded from config gives
// back its share of the pooled connection instead. It acts for every view
// of the driver; calling it twice is fine.
func (dr *Driver) Disconnect() error {
	c := dr.c
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil
	}
	c.closed = true
	c.mu.Unlock()
	if c.lease != nil {
		if err := c.lease.Release(); err != nil {
			return fmt.Errorf("natskv: disconnect: %w", err)
		}
		return nil
	}
	c.nats.Close()
	return nil
}

// fields binds the connection fields of dr's JSON config for natsconn.
func (dr *Driver) fields() natsconn.Fields {
	return natsconn.Fields{
		Servers:               &dr.Servers,
		Name:                  &dr.Name,
		Username:              &dr.Username,
		Password:              &dr.Password,
		Token:                 &dr.Token,
		CredsFile:             &dr.CredsFile,
		TLS:                   &dr.TLS,
		TLSServerName:         &dr.TLSServerName,
		TLSInsecureSkipVerify: &dr.TLSInsecureSkipVerify,
		DialTimeout:           &dr.DialTimeout,
		ReconnectWait:         &dr.ReconnectWait,
		PingInterval:          &dr.PingInterval,
	}
}

// key returns the full "prefix:namespace:key" of key.
func (dr *Driver) key(key string) string { return keys.Join(dr.base, key) }

// clearSubject is the subject filter of the keys under dr's base.
func (dr *Driver) clearSubject() string {
	if dr.base == "" {
		return "$KV." + dr.c.bucket + ".>"
	}
	return "$KV." + dr.c.bucket + "." + EncodeKey(dr.base) + ".>"
}

// get reads the entry of the full key k: its value and revision, and
// whether it is there and not expired; chunked reports that its value is
// in chunks. An expired entry is deleted, on the condition that it was not
// written again since. A chunk that is missing (the key was written again
// while it was read) makes a miss.
func (dr *Driver) get(ctx context.Context, k string) (value []byte, rev uint64, found, isChunked bool, err error) {
	err = dr.withKV(ctx, func(ctx context.Context, kv jetstream.KeyValue) error {
		ek := EncodeKey(k)
		e, err := kv.Get(ctx, ek)
		if errors.Is(err, jetstream.ErrKeyNotFound) || errors.Is(err, jetstream.ErrKeyDeleted) {
			return nil
		}
		if err != nil {
			return err
		}
		raw := e.Value()
		if len(raw) < headerSize || (raw[0] != inline && raw[0] != chunked) || (raw[0] == chunked && len(raw) != chunkedSize) {
			return fmt.Errorf("stored value of %d bytes is not a bento entry", len(raw))
		}
		isChunked = raw[0] == chunked
		exp := binary.BigEndian.Uint64(raw[1:headerSize])
		if exp != 0 && time.Now().UnixMilli() >= int64(exp) {
			// Best effort: a failure leaves an expired entry, which reads
			// as a miss all the same.
			if kv.Delete(ctx, ek, jetstream.LastRevision(e.Revision())) == nil && isChunked {
				_ = dr.purge(ctx, chunksFilter(dr.c.bucket, ek))
			}
			return nil
		}
		if !isChunked {
			value, rev, found = raw[headerSize:], e.Revision(), true
			return nil
		}
		nonce := binary.BigEndian.Uint64(raw[headerSize:])
		n := binary.BigEndian.Uint32(raw[headerSize+8:])
		total := binary.BigEndian.Uint64(raw[headerSize+12:])
		buf := make([]byte, 0, total)
		for i := range int(n) {
			c, err := kv.Get(ctx, chunkKey(ek, nonce, i))
			if errors.Is(err, jetstream.ErrKeyNotFound) || errors.Is(err, jetstream.ErrKeyDeleted) {
				return nil
			}
			if err != nil {
				return err
			}
			buf = append(buf, c.Value()...)
		}
		if uint64(len(buf)) != total {
			return nil
		}
		value, rev, found = buf, e.Revision(), true
		return nil
	})
	return value, rev, found, isChunked, err
}

// delete removes the full key k, and its chunks, and reports whether it
// held a live entry.
func (dr *Driver) delete(ctx context.Context, k string) (bool, error) {
	_, _, found, isChunked, err := dr.get(ctx, k)
	if err != nil || !found {
		return false, err
	}
	err = dr.withKV(ctx, func(ctx context.Context, kv jetstream.KeyValue) error {
		ek := EncodeKey(k)
		if err := kv.Delete(ctx, ek); err != nil {
			return err
		}
		if isChunked {
			return dr.purge(ctx, chunksFilter(dr.c.bucket, ek))
		}
		return nil
	})
	return err == nil, err
}

// purge removes every key of the bucket on subjects matching filter, in
// one request to the server.
func (dr *Driver) purge(ctx context.Context, filter string) error {
	dr.c.mu.Lock()
	js := dr.c.js
	dr.c.mu.Unlock()
	s, err := js.Stream(ctx, "KV_"+dr.c.bucket)
	if err != nil {
		return err
	}
	return s.Purge(ctx, jetstream.WithPurgeSubject(filter))
}

// maxPayload is the largest message the server takes.
func (c *conn) maxPayload() int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.nc == nil {
		return 1 << 20
	}
	return c.nc.MaxPayload()
}

// chunkKey is the key of chunk i of the value of ek written with nonce:
// the tokens "=X" (which no encoded part can be), the nonce and i, under
// ek, so that a clear of any namespace of ek removes them too.
func chunkKey(ek string, nonce uint64, i int) string {
	return ek + ".=X." + strconv.FormatUint(nonce, 16) + "." + strconv.Itoa(i)
}

// chunksFilter is the subject of every chunk of ek in bucket.
func chunksFilter(bucket, ek string) string { return "$KV." + bucket + "." + ek + ".=X.>" }

// qk abridges a long key for an error message.
func qk(k string) string {
	if len(k) > 128 {
		return k[:64] + "…" + k[len(k)-32:]
	}
	return k
}

// withKV runs f on the bucket, opened (or created) on first use, under
// ctx bounded by opTimeout when it has no deadline.
func (dr *Driver) withKV(ctx context.Context, f func(ctx context.Context, kv jetstream.KeyValue) error) error {
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, opTimeout)
		defer cancel()
	}
	kv, err := dr.c.open(ctx)
	if err != nil {
		return err
	}
	return f(ctx, kv)
}

// open returns the bucket, connecting and opening or creating it on the
// first call that succeeds.
func (c *conn) open(ctx context.Context) (jetstream.KeyValue, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return nil, ErrClosed
	}
	if c.kv != nil {
		return c.kv, nil
	}
	nc, err := c.nats.Get()
	if err != nil {
		return nil, err
	}
	js, err := jetstream.New(nc)
	if err != nil {
		return nil, err
	}
	kv, err := js.KeyValue(ctx, c.bucket)
	if errors.Is(err, jetstream.ErrBucketNotFound) {
		kv, err = js.CreateKeyValue(ctx, c.cfg)
		if errors.Is(err, jetstream.ErrBucketExists) {
			kv, err = js.KeyValue(ctx, c.bucket) // another instance made it first
		}
	}
	if err != nil {
		return nil, fmt.Errorf("opening bucket %q: %w", c.bucket, err)
	}
	c.nc, c.js, c.kv = nc, js, kv
	return kv, nil
}

// EncodeKey returns the NATS key of a bento key: the ":"-separated parts
// become "."-separated tokens, each with every byte outside
// [A-Za-z0-9_/-] written as =XX (two upper-case hex digits), and an empty
// part written as "=". The result holds only the characters NATS allows
// in a key, keeps the layout (a namespace is a subject prefix, so a clear
// is a subject filter), and [DecodeKey] reverses it.
//
// A key whose encoding would pass 1 KiB keeps the tokens of its leading
// parts that fit, and the rest becomes one token "=H" followed by the
// SHA-256 of the whole key, in hex: the server's limit on a control line
// would reject it otherwise. Such a key cannot be decoded, and a clear of a
// namespace whose own name was hashed away misses it.
func EncodeKey(key string) string {
	var b strings.Builder
	for i, part := range strings.Split(key, keys.Separator) {
		mark := b.Len()
		if i > 0 {
			b.WriteByte('.')
		}
		if part == "" {
			b.WriteByte('=')
		}
		for j := 0; j < len(part); j++ {
			c := part[j]
			if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '/' || c == '-' {
				b.WriteByte(c)
				continue
			}
			fmt.Fprintf(&b, "=%02X", c)
		}
		if b.Len() > maxKeyLen-hashedLen {
			sum := sha256.Sum256([]byte(key))
			head := b.String()[:mark]
			if head != "" {
				head += "."
			}
			return head + "=H" + hex.EncodeToString(sum[:])
		}
	}
	return b.String()
}

// hashedLen is the length of a hashed tail: ".", "=H" and 64 hex digits.
const hashedLen = 67

// DecodeKey returns the bento key that [EncodeKey] encoded as nk, or an
// error if nk is not such an encoding.
func DecodeKey(nk string) (string, error) {
	var b strings.Builder
	for i, tok := range strings.Split(nk, ".") {
		if i > 0 {
			b.WriteString(keys.Separator)
		}
		if tok == "=" {
			continue
		}
		if strings.HasPrefix(tok, "=H") {
			return "", fmt.Errorf("natskv: key %q ends in a hash of a long key, which cannot be decoded", nk)
		}
		if tok == "" {
			return "", fmt.Errorf("natskv: key %q has an empty token", nk)
		}
		for j := 0; j < len(tok); j++ {
			if tok[j] != '=' {
				b.WriteByte(tok[j])
				continue
			}
			if j+3 > len(tok) {
				return "", fmt.Errorf("natskv: key %q has a truncated escape", nk)
			}
			n, err := strconv.ParseUint(tok[j+1:j+3], 16, 8)
			if err != nil {
				return "", fmt.Errorf("natskv: key %q has a bad escape %q", nk, tok[j:j+3])
			}
			b.WriteByte(byte(n))
			j += 2
		}
	}
	return b.String(), nil
}

// Interface guards
var (
	_ bento.L2Driver  = (*Driver)(nil)
	_ bento.Validator = (*Driver)(nil)

	_ caddy.Provisioner     = (*Driver)(nil)
	_ caddy.Validator       = (*Driver)(nil)
	_ caddy.CleanerUpper    = (*Driver)(nil)
	_ caddyfile.Unmarshaler = (*Driver)(nil)
)
