// Package redis is bento's bus on Redis pub/sub (module bento.buses.redis).
// bento's documentation imports it as redisbus, beside the redis L2 driver:
//
//	import redisbus "github.com/bentocache/bento/modules/buses/redis"
//
// A [Bus] publishes with PUBLISH on a client, either its own or the
// application's ([Options.Client], never closed by the bus), and receives on
// a subscriber connection of its own (a go-redis PubSub), which one
// goroutine reads. [Bus.Subscribe] returns once the server has confirmed the
// subscription, and each subscription's handler runs on a goroutine of its
// own, one payload at a time, in order. When the subscriber connection is
// lost, go-redis redials and subscribes again; the bus notices both ends of
// the outage and calls the [Bus.OnReconnect] callbacks, since messages
// published meanwhile are lost. A health check pings a silent connection,
// so that a connection that hangs without failing is noticed too. A Bus
// loaded from config publishes on the client shared by every redis bus and
// driver of the process whose connection settings are the same.
//
//	rdb := goredis.NewClient(&goredis.Options{Addr: "127.0.0.1:6379"})
//	defer rdb.Close()
//	bus := redisbus.New(redisbus.Options{Client: rdb})
//	defer bus.Disconnect()
//	store := bento.NewStore().UseL1(l1).UseL2(l2).UseBus(bus)
package redis

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	goredis "github.com/redis/go-redis/v9"
	"go.uber.org/zap"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"

	"github.com/bentocache/bento"
	"github.com/bentocache/bento/internal/lease"
	"github.com/bentocache/bento/internal/redisconn"
)

func init() { caddy.RegisterModule(new(Bus)) }

// ErrClosed is wrapped by the errors of [Bus.Publish] and [Bus.Subscribe]
// after [Bus.Disconnect].
var ErrClosed = errors.New("redis bus: bus closed")

// Sentinel is the "sentinel" part of the module's config: the sentinels
// to ask for the master, and the master's name.
type Sentinel = redisconn.Sentinel

// DefaultAddr is the address a Bus dials when [Options] names neither a
// client nor an address.
const DefaultAddr = redisconn.DefaultAddr

const (
	// defaultHealthCheckInterval is Options.HealthCheckInterval's default,
	// go-redis's own for PubSub.Channel.
	defaultHealthCheckInterval = 3 * time.Second
	// minBackoff and maxBackoff bound the wait between two attempts to
	// read from a subscriber connection that failed.
	minBackoff = 50 * time.Millisecond
	maxBackoff = 2 * time.Second
	// unsubscribeTimeout bounds telling the server about an Unsubscribe or
	// a failed Subscribe.
	unsubscribeTimeout = 5 * time.Second
	// tokenPrefix starts the payload of the bus's own PINGs.
	tokenPrefix = "bento-bus:"
)

// Bus is a [bento.Bus] on Redis pub/sub. Module ID: bento.buses.redis. A
// Bus is safe for concurrent use.
//
// The exported fields are the module's JSON config, read by
// [Bus.Provision]; a Bus built by [New] takes its settings from [Options]
// instead.
type Bus struct {
	// Addresses ("host:port") of the Redis nodes. One address is a single
	// node; several are seed nodes of a Redis Cluster, whose PUBLISH reaches
	// the subscribers of every node. Default: ["127.0.0.1:6379"].
	Addrs []string `json:"addrs,omitempty"`
	// Open a cluster client even with a single address. Default: false.
	Cluster bool `json:"cluster,omitempty"`
	// ACL user name (Redis 6 or later). Default: none.
	Username string `json:"username,omitempty"`
	// Password of the ACL user, or alone the legacy requirepass password;
	// "{env.REDIS_PASSWORD}" keeps it out of the file. Default: none.
	Password string `json:"password,omitempty"`
	// Database of a single node; pub/sub channels do not depend on it. A
	// cluster has only database 0. Default: 0.
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
	// How long the subscriber connection may stay silent before the bus
	// pings it, and how long it then waits for the answer before it
	// reconnects, e.g. "5s". A negative duration turns the check off.
	// Default: 3s.
	HealthCheckInterval caddy.Duration `json:"health_check_interval,omitempty"`

	o Options
	// conf is the connection config of a bus loaded from config, for
	// Validate; nil for a bus built by New.
	conf   *redisconn.Config
	client goredis.UniversalClient
	owned  bool // Disconnect closes client only when the bus opened it
	// lease holds client, from the pool of clients opened from config:
	// Disconnect releases it, and the last release closes client.
	lease    *lease.Lease
	interval time.Duration
	logger   *zap.Logger
	unroute  func() // stops sending go-redis's log lines to logger

	// ctx is the bus's own context for its goroutines and its subscriber
	// connection, never a caller's; Disconnect cancels it.
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
	// ops holds a token while a Subscribe or an Unsubscribe runs, so that
	// they reach the server in the order they were called.
	ops chan struct{}
	// reconnected tells the notifier goroutine to run the callbacks.
	reconnected chan struct{}
	// activity counts the replies read from the subscriber connection, for
	// the health check.
	activity atomic.Uint64
	// tokens numbers the payloads of the bus's PINGs.
	tokens atomic.Uint64

	// The fields below are guarded by mu.
	mu     sync.Mutex
	closed bool
	ps     *goredis.PubSub // nil until the first Subscribe
	subs   map[string]*subscription
	// pongs holds, by token, the channels closed when the PONG answering
	// the PING with that token arrives.
	pongs map[string]chan struct{}
	// lost is closed, and replaced, each time the subscriber connection
	// fails.
	lost      chan struct{}
	callbacks []func()
}

// Options configures a [Bus]; see [New]. The zero value is valid: a bus that
// opens a client to [DefaultAddr].
//
// Either Client or the connection fields (Addrs, Cluster, Username,
// Password, DB, TLS, DialTimeout) are used, never both; [Bus.Validate]
// reports a mix.
type Options struct {
	// Client is a client the application already has: a *goredis.Client
	// (single node, or sentinel failover) or a *goredis.ClusterClient. It
	// is never closed by the bus; the bus opens its subscriber connection
	// from it and closes that. A *goredis.Ring cannot carry the bus. Nil
	// means that the bus opens a client from the connection fields below,
	// and closes it in [Bus.Disconnect].
	Client goredis.UniversalClient

	// Addrs are the "host:port" addresses of the Redis nodes. One address is
	// a single node, several are seed nodes of a Redis Cluster, whose
	// PUBLISH reaches the subscribers of every node. Default: [DefaultAddr].
	Addrs []string
	// Cluster makes the bus open a cluster client even when Addrs holds a
	// single seed node. Default: false.
	Cluster bool
	// Username and Password authenticate the connections (Redis 6 ACL; with
	// an empty Username, Password is the legacy requirepass). Default: none.
	Username, Password string
	// DB is the database a single-node client selects. Pub/sub channels do
	// not depend on it. It must be 0 on a cluster. Default: 0.
	DB int
	// TLS, when not nil, makes the connections use TLS with this
	// configuration (the bus uses a clone). Default: plain TCP.
	TLS *tls.Config
	// DialTimeout bounds each attempt to connect to a node. Zero means
	// go-redis's default of 5s; negative values are reported by
	// [Bus.Validate].
	DialTimeout time.Duration

	// HealthCheckInterval is how long the subscriber connection may stay
	// silent before the bus pings it, and how long it then waits for the
	// answer: with none, it drops the connection and reconnects, as for a
	// connection that failed. Zero means 3s. Negative disables the check,
	// and then a connection that hangs without failing (a peer that is
	// gone without a reset) is noticed only by TCP keep-alive.
	HealthCheckInterval time.Duration

	// Logger receives what the bus cannot return: a lost and restored
	// subscriber connection, an Unsubscribe the server could not be told.
	// Nil means no logging.
	Logger *zap.Logger
}

// New returns a bus on o.Client, or on a client it opens from the
// connection fields of o. It does no I/O and never fails: the subscriber
// connection is dialed by the first Subscribe, and invalid options are
// reported by [Bus.Validate], which bento.New calls.
func New(o Options) *Bus {
	client, owned := o.Client, false
	if client == nil {
		client, owned = o.conn().NewClient(), true
	}
	b := new(Bus)
	b.init(o, client, owned)
	return b
}

// init sets b up on client, with its own context for its goroutines: the
// one way in that New and Provision share.
func (b *Bus) init(o Options, client goredis.UniversalClient, owned bool) {
	b.o, b.client, b.owned = o, client, owned
	b.interval, b.logger = o.HealthCheckInterval, o.Logger
	b.ops = make(chan struct{}, 1)
	b.reconnected = make(chan struct{}, 1)
	b.subs = make(map[string]*subscription)
	b.pongs = make(map[string]chan struct{})
	b.lost = make(chan struct{})
	if b.interval == 0 {
		b.interval = defaultHealthCheckInterval
	}
	if b.logger == nil {
		b.logger = zap.NewNop()
	}
	b.unroute = redisconn.RouteLogs(o.Logger)
	b.ctx, b.cancel = context.WithCancel(context.Background())
}

// CaddyModule returns the Caddy module information. Its receiver is a
// pointer, since a Bus holds locks that must not be copied.
func (*Bus) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{ID: "bento.buses.redis", New: func() caddy.Module { return new(Bus) }}
}

// Provision builds the bus from its JSON fields, publishing on the client
// shared by every redis bus and driver loaded with the same connection
// settings (opened by the first of them, and kept across config reloads),
// and logging through Caddy's logger. No I/O: the subscriber connection is
// dialed by the first Subscribe.
func (b *Bus) Provision(ctx caddy.Context) error {
	conf := b.fields().Config()
	client, l, err := redisconn.Acquire(conf)
	if err != nil {
		return fmt.Errorf("redis bus: %w", err)
	}
	b.init(Options{HealthCheckInterval: time.Duration(b.HealthCheckInterval), Logger: bento.ModuleLogger(ctx)}, client, false)
	b.conf, b.lease = &conf, l
	return nil
}

// Validate reports options that the bus cannot honour: a client together
// with connection fields, a *goredis.Ring, an empty address, a negative DB
// or DialTimeout, a DB other than 0 on a cluster, or, in config,
// tls_server_name or tls_insecure_skip_verify without tls. It does no I/O.
func (b *Bus) Validate() error {
	if _, ok := b.o.Client.(*goredis.Ring); ok {
		return errors.New("redis bus: client is a *redis.Ring: pub/sub needs a single-node or a cluster client")
	}
	var err error
	if b.conf != nil {
		err = b.conf.Validate()
	} else {
		err = b.o.conn().Validate(b.o.Client, "bus")
	}
	if err != nil {
		return fmt.Errorf("redis bus: %w", err)
	}
	return nil
}

// Cleanup disconnects the bus; see [Bus.Disconnect].
func (b *Bus) Cleanup() error {
	if b.cancel == nil {
		return nil // Provision did not get this far
	}
	return b.Disconnect()
}

// UnmarshalCaddyfile sets the bus up from a Caddyfile block. The short form
// "redis <addr...>" names the addresses alone:
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
//		health_check_interval    <duration>|off
//	}
//
// Addresses given as arguments and with addrs add up; "off" turns the
// health check off.
func (b *Bus) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	return b.fields().UnmarshalCaddyfile(d, "redis bus", func(d *caddyfile.Dispenser) (bool, error) {
		if d.Val() != "health_check_interval" {
			return false, nil
		}
		var v string
		if err := redisconn.OneArg(d, &v); err != nil {
			return true, err
		}
		if v == "off" {
			b.HealthCheckInterval = -1
			return true, nil
		}
		dur, err := caddy.ParseDuration(v)
		if err != nil {
			return true, d.Errf("health_check_interval: invalid duration %q: %v", v, err)
		}
		b.HealthCheckInterval = caddy.Duration(dur)
		return true, nil
	})
}

// Publish sends payload to every subscriber of channel (PUBLISH), the bus's
// own included. The payload is written before Publish returns: the caller
// may reuse it.
//
// On a cluster, every PUBLISH on one channel goes to the same node, the
// master of the channel's hash slot, so that subscribers on every node get
// one publisher's payloads in order. (go-redis sends a PUBLISH to any node,
// and the cluster bus links of two nodes do not keep an order between
// them.)
func (b *Bus) Publish(ctx context.Context, channel string, payload []byte) error {
	if b.isClosed() {
		return fmt.Errorf("redis bus: publish on %q: %w", channel, ErrClosed)
	}
	cmd := goredis.NewIntCmd(ctx, "publish", channel, payload)
	cmd.SetFirstKeyPos(1) // route by the channel, as if it were a key
	if err := b.client.Process(ctx, cmd); err != nil {
		return fmt.Errorf("redis bus: publish on %q: %w", channel, err)
	}
	return nil
}

// Subscribe calls handler with every payload published on channel, until
// [Bus.Unsubscribe] or [Bus.Disconnect]. It returns once the server has
// confirmed the subscription on the subscriber connection, so a payload
// published after it returns is delivered; ctx bounds that wait, and the
// subscription outlives it. Subscribing again to a channel replaces the
// handler; if that Subscribe fails, the bus is no longer subscribed to
// channel. The first Subscribe dials the subscriber connection and starts
// the bus's goroutines.
//
// The handler runs on a goroutine of the subscription, never concurrently
// with itself, with the payloads in the order they were published by one
// publisher. Payloads wait in memory for it, so a handler that cannot keep
// up makes the bus grow; it must not block for long. It may publish,
// subscribe and unsubscribe.
//
// WARNING: a handler must not call Disconnect, which waits for it.
func (b *Bus) Subscribe(ctx context.Context, channel string, handler func(payload []byte)) error {
	if handler == nil {
		return fmt.Errorf("redis bus: subscribe to %q: nil handler", channel)
	}
	if err := b.acquire(ctx); err != nil {
		return fmt.Errorf("redis bus: subscribe to %q: %w", channel, err)
	}
	defer b.release()
	ps, s, err := b.add(channel, handler)
	if err != nil {
		return fmt.Errorf("redis bus: subscribe to %q: %w", channel, err)
	}
	opCtx, done := b.opContext(ctx)
	defer done()
	err = ps.Subscribe(opCtx, channel)
	sent := err == nil // else the server never heard of the subscription
	if sent {
		err = b.confirm(ctx, opCtx, ps)
	}
	if err != nil {
		b.drop(ps, channel, s, sent)
		return fmt.Errorf("redis bus: subscribe to %q: %w", channel, err)
	}
	return nil
}

// Unsubscribe stops deliveries on channel: once it returns, the handler is
// not called again (a call already running finishes). Then it tells the
// server; if that fails, the failure is logged, not returned, since no
// payload reaches the handler anyway and the subscription is not restored
// on the next connection. Unsubscribing from a channel the bus is not
// subscribed to, or after Disconnect, does nothing.
func (b *Bus) Unsubscribe(ctx context.Context, channel string) error {
	if err := b.acquire(ctx); err != nil {
		if errors.Is(err, ErrClosed) {
			return nil
		}
		return fmt.Errorf("redis bus: unsubscribe from %q: %w", channel, err)
	}
	defer b.release()
	b.mu.Lock()
	s, ps := b.subs[channel], b.ps
	delete(b.subs, channel)
	b.mu.Unlock()
	if s == nil {
		return nil
	}
	s.stop()
	b.unsubscribe(ps, channel, true)
	return nil
}

// OnReconnect registers f, called each time the subscriber connection is
// back after it was lost, once the server has confirmed the bus's
// subscriptions again; payloads published during the outage are lost.
// Callbacks run one after the other on a goroutine of the bus, never
// concurrently with themselves; reconnects that happen while they run are
// reported once more after them. After Disconnect, f is ignored.
//
// WARNING: a callback must not call Disconnect, which waits for it.
func (b *Bus) OnReconnect(f func()) {
	if f == nil {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if !b.closed {
		b.callbacks = append(b.callbacks, f)
	}
}

// Disconnect stops every subscription, closes the subscriber connection,
// waits until the bus's goroutines (handlers and callbacks included) have
// returned, then closes the client if the bus opened it; a client passed in
// [Options.Client] stays open. A bus loaded from config gives back its
// share of the pooled client instead, which is closed when its last holder
// lets go. Calling it twice is fine.
func (b *Bus) Disconnect() error {
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return nil
	}
	b.closed = true
	ps, subs := b.ps, b.subs
	b.subs, b.callbacks = nil, nil
	b.mu.Unlock()

	b.cancel()
	b.unroute()
	for _, s := range subs {
		s.stop()
	}
	var errs []error
	if ps != nil {
		if err := ps.Close(); err != nil {
			errs = append(errs, fmt.Errorf("redis bus: disconnect: closing the subscriber connection: %w", err))
		}
	}
	b.wg.Wait()
	if b.owned {
		if err := b.client.Close(); err != nil {
			errs = append(errs, fmt.Errorf("redis bus: disconnect: closing the client: %w", err))
		}
	}
	if b.lease != nil {
		if err := b.lease.Release(); err != nil {
			errs = append(errs, fmt.Errorf("redis bus: disconnect: releasing the client: %w", err))
		}
	}
	return errors.Join(errs...)
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

// fields binds the connection fields of b's JSON config for redisconn.
func (b *Bus) fields() redisconn.Fields {
	return redisconn.Fields{
		Addrs:                 &b.Addrs,
		Cluster:               &b.Cluster,
		Username:              &b.Username,
		Password:              &b.Password,
		DB:                    &b.DB,
		DialTimeout:           &b.DialTimeout,
		TLS:                   &b.TLS,
		TLSServerName:         &b.TLSServerName,
		TLSInsecureSkipVerify: &b.TLSInsecureSkipVerify,
		Sentinel:              &b.Sentinel,
	}
}

func (b *Bus) isClosed() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.closed
}

// acquire takes the ops token, or returns ctx's error or ErrClosed.
func (b *Bus) acquire(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	select {
	case b.ops <- struct{}{}:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	case <-b.ctx.Done():
		return ErrClosed
	}
}

func (b *Bus) release() { <-b.ops }

// add registers handler for channel, replacing (and stopping) any previous
// subscription to it, and returns the subscriber connection, opened with
// the bus's goroutines on the first call.
func (b *Bus) add(channel string, handler func([]byte)) (*goredis.PubSub, *subscription, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return nil, nil, ErrClosed
	}
	if b.ps == nil {
		if _, ok := b.client.(*goredis.Ring); ok {
			return nil, nil, errors.New("the client is a *redis.Ring, which cannot carry pub/sub")
		}
		// Without channels, Subscribe does no I/O: the connection is
		// dialed by the first command or read.
		b.ps = b.client.Subscribe(b.ctx)
		b.wg.Add(2)
		go b.receive(b.ps)
		go b.notify()
		if b.interval > 0 {
			b.wg.Add(1)
			go b.health(b.ps)
		}
	}
	s := &subscription{handler: handler, wake: make(chan struct{}, 1), done: make(chan struct{})}
	if old := b.subs[channel]; old != nil {
		old.stop()
	}
	b.subs[channel] = s
	b.wg.Add(1)
	go s.run(&b.wg)
	return b.ps, s, nil
}

// drop undoes the add of s to channel after its Subscribe failed; sent
// tells whether the subscribe reached the server.
func (b *Bus) drop(ps *goredis.PubSub, channel string, s *subscription, sent bool) {
	b.mu.Lock()
	ours := b.subs[channel] == s
	if ours {
		delete(b.subs, channel)
	}
	b.mu.Unlock()
	s.stop()
	if ours {
		b.unsubscribe(ps, channel, sent)
	}
}

// unsubscribe tells the server that the bus no longer listens on channel
// (go-redis also forgets the channel, so that a reconnect does not
// subscribe it again), logging a failure when the server had heard of the
// subscription: a Subscribe that never reached it has nothing to undo there.
func (b *Bus) unsubscribe(ps *goredis.PubSub, channel string, subscribed bool) {
	ctx, cancel := context.WithTimeout(b.ctx, unsubscribeTimeout)
	defer cancel()
	if err := ps.Unsubscribe(ctx, channel); err != nil && subscribed && b.ctx.Err() == nil {
		b.logger.Warn("redis bus: could not tell the server about an unsubscribe; the subscription ends with the connection",
			zap.String("channel", channel), zap.Error(err))
	}
}

// opContext returns the context for commands on the subscriber connection
// made for a caller: cancelled with ctx or by Disconnect, so that a dial
// stops, but without ctx's deadline. go-redis turns a context deadline into
// a socket deadline, and drops a connection whose command timed out: a
// caller's short deadline would cost every subscription a reconnect.
func (b *Bus) opContext(ctx context.Context) (context.Context, context.CancelFunc) {
	opCtx, cancel := context.WithCancel(b.ctx)
	stop := context.AfterFunc(ctx, cancel)
	return opCtx, func() {
		stop()
		cancel()
	}
}

// confirm returns once every command sent on ps before it has been handled
// by the server: it sends a PING with a token of its own and waits for the
// PONG, which Redis answers in order on the connection. If the connection
// is lost first, it asks again on the next one, on which go-redis
// subscribes to every channel before anything else. ctx bounds the wait;
// opCtx is for the commands (see opContext).
func (b *Bus) confirm(ctx, opCtx context.Context, ps *goredis.PubSub) error {
	for {
		token, pong, lost := b.expectPong()
		if err := ps.Ping(opCtx, token); err != nil {
			b.forgetPong(token)
			if ctx.Err() != nil {
				return ctx.Err()
			}
			return err
		}
		select {
		case <-pong:
			return nil
		case <-lost:
			b.forgetPong(token)
		case <-ctx.Done():
			b.forgetPong(token)
			return ctx.Err()
		case <-b.ctx.Done():
			b.forgetPong(token)
			return ErrClosed
		}
	}
}

// expectPong returns a fresh PING token, the channel closed when its PONG
// arrives, and the channel closed when the connection is next lost.
func (b *Bus) expectPong() (token string, pong, lost <-chan struct{}) {
	token = tokenPrefix + strconv.FormatUint(b.tokens.Add(1), 10)
	ch := make(chan struct{})
	b.mu.Lock()
	defer b.mu.Unlock()
	b.pongs[token] = ch
	return token, ch, b.lost
}

func (b *Bus) forgetPong(token string) {
	b.mu.Lock()
	delete(b.pongs, token)
	b.mu.Unlock()
}

// receive reads the subscriber connection until Disconnect: it hands
// payloads to their subscriptions and PONGs to their waiters. go-redis
// redials a failed connection and subscribes again by itself, on the next
// read; receive notes the failure (waking the waiters of that connection's
// PONGs), waits a backoff between failed reads, and signals a reconnect on
// the first reply read after a failure.
func (b *Bus) receive(ps *goredis.PubSub) {
	defer b.wg.Done()
	lost := false
	backoff := minBackoff
	for {
		msg, err := ps.Receive(b.ctx)
		if b.ctx.Err() != nil {
			return
		}
		if err != nil {
			var reply goredis.Error
			if errors.As(err, &reply) {
				// An error reply: the connection is fine.
				b.logger.Warn("redis bus: error reply on the subscriber connection", zap.Error(err))
				continue
			}
			if !lost {
				lost = true
				b.logger.Warn("redis bus: subscriber connection lost; reconnecting", zap.Error(err))
				b.markLost()
			}
			if !b.sleep(backoff) {
				return
			}
			backoff = min(2*backoff, maxBackoff)
			continue
		}
		b.activity.Add(1)
		if lost {
			lost, backoff = false, minBackoff
			b.logger.Info("redis bus: subscriber connection restored")
			select {
			case b.reconnected <- struct{}{}:
			default: // the notifier has one pending already
			}
		}
		switch m := msg.(type) {
		case *goredis.Message:
			b.dispatch(m.Channel, m.Payload)
		case *goredis.Pong:
			b.pong(m.Payload)
		}
	}
}

// markLost wakes everyone waiting for a PONG on the connection that failed.
func (b *Bus) markLost() {
	b.mu.Lock()
	defer b.mu.Unlock()
	close(b.lost)
	b.lost = make(chan struct{})
}

// sleep waits d, and reports false if the bus was disconnected meanwhile.
func (b *Bus) sleep(d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-b.ctx.Done():
		return false
	}
}

// dispatch queues a copy of payload for channel's subscription, if any.
func (b *Bus) dispatch(channel, payload string) {
	b.mu.Lock()
	s := b.subs[channel]
	b.mu.Unlock()
	if s != nil {
		s.push([]byte(payload))
	}
}

// pong wakes the waiter of token, if any.
func (b *Bus) pong(token string) {
	if !strings.HasPrefix(token, tokenPrefix) {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if ch := b.pongs[token]; ch != nil {
		close(ch)
		delete(b.pongs, token)
	}
}

// notify runs the OnReconnect callbacks each time receive signals a
// reconnect.
func (b *Bus) notify() {
	defer b.wg.Done()
	for {
		select {
		case <-b.ctx.Done():
			return
		case <-b.reconnected:
		}
		b.mu.Lock()
		fns := slices.Clone(b.callbacks)
		b.mu.Unlock()
		for _, f := range fns {
			if b.ctx.Err() != nil {
				return
			}
			f()
		}
	}
}

// health pings the subscriber connection each time it has been silent for
// an interval, and drops it when the PONG does not come within another.
func (b *Bus) health(ps *goredis.PubSub) {
	defer b.wg.Done()
	tick := time.NewTicker(b.interval)
	defer tick.Stop()
	seen := b.activity.Load()
	for {
		select {
		case <-b.ctx.Done():
			return
		case <-tick.C:
		}
		if now := b.activity.Load(); now != seen {
			seen = now
			continue
		}
		b.check(ps)
		seen = b.activity.Load()
	}
}

// check pings ps and waits an interval for the PONG; without one, it drops
// the connection. A ping that cannot be written needs nothing more: go-redis
// has dropped that connection already.
//
// The ping is bounded by an interval too: when the connection is down, it
// redials (go-redis dials on the first command), holding the PubSub's lock,
// which the receive loop and Disconnect wait for.
func (b *Bus) check(ps *goredis.PubSub) {
	token, pong, lost := b.expectPong()
	defer b.forgetPong(token)
	ctx, cancel := context.WithTimeout(b.ctx, b.interval)
	err := ps.Ping(ctx, token)
	cancel()
	if err != nil {
		return
	}
	t := time.NewTimer(b.interval)
	defer t.Stop()
	select {
	case <-pong:
		return
	case <-lost:
		return
	case <-b.ctx.Done():
		return
	case <-t.C:
	}
	b.logger.Warn("redis bus: no answer to a ping on the subscriber connection; dropping it",
		zap.Duration("waited", b.interval))
	// go-redis drops a connection on which a command failed on its
	// deadline (the connection's state is then unknown), and redials on
	// the next read, which fails at once since the read in progress is on
	// the closed connection. A deadline already past makes the PING fail
	// that way without sending it.
	expired, cancel := context.WithDeadline(b.ctx, time.Unix(0, 0))
	defer cancel()
	_ = ps.Ping(expired)
}

// subscription is one handler on one channel, with the payloads waiting for
// it and the goroutine that runs it.
type subscription struct {
	handler func([]byte)
	// wake gets a token when a payload is queued.
	wake chan struct{}
	// done is closed by stop.
	done chan struct{}

	mu      sync.Mutex
	stopped bool
	queue   [][]byte
}

// push queues payload for the handler, unless s is stopped.
func (s *subscription) push(payload []byte) {
	s.mu.Lock()
	if s.stopped {
		s.mu.Unlock()
		return
	}
	s.queue = append(s.queue, payload)
	s.mu.Unlock()
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// stop drops the queued payloads and makes s deliver nothing more; the
// handler call in progress, if any, finishes. Calling it twice is fine.
func (s *subscription) stop() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.stopped {
		s.stopped = true
		s.queue = nil
		close(s.done)
	}
}

// run calls the handler with each queued payload, in order, until stop.
func (s *subscription) run(wg *sync.WaitGroup) {
	defer wg.Done()
	for {
		select {
		case <-s.done:
			return
		case <-s.wake:
		}
		for {
			p, ok := s.next()
			if !ok {
				break
			}
			s.handler(p)
		}
	}
}

// next pops the oldest queued payload, unless s is stopped.
func (s *subscription) next() ([]byte, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.stopped || len(s.queue) == 0 {
		return nil, false
	}
	p := s.queue[0]
	s.queue[0] = nil
	s.queue = s.queue[1:]
	return p, true
}

// Interface guards
var (
	_ bento.Bus       = (*Bus)(nil)
	_ bento.Validator = (*Bus)(nil)

	_ caddy.Provisioner     = (*Bus)(nil)
	_ caddy.Validator       = (*Bus)(nil)
	_ caddy.CleanerUpper    = (*Bus)(nil)
	_ caddyfile.Unmarshaler = (*Bus)(nil)
)
