// Package nats is bento's bus on core NATS subjects (module
// bento.buses.nats). bento's documentation imports it as natsbus:
//
//	import natsbus "github.com/bentocache/bento/modules/buses/nats"
//
// A [Bus] publishes each payload on the subject named by the channel and
// subscribes to it, on a connection of its own or the application's
// ([Options.Conn], never closed by the bus). [Bus.Publish] returns once the
// server has the payload, and [Bus.Subscribe] once the server has the
// subscription (a PING round trip after each). When the connection is
// lost, nats.go reconnects and subscribes again; payloads published
// meanwhile are lost, so the bus then calls the [Bus.OnReconnect]
// callbacks, and bento clears the store's L1. The bus does not use
// JetStream: see docs/buses/nats.md for why.
//
//	nc, _ := natsgo.Connect(natsgo.DefaultURL)
//	defer nc.Close()
//	bus := natsbus.New(natsbus.Options{Conn: nc})
//	defer bus.Disconnect()
//	store := bento.NewStore().UseL1(l1).UseL2(l2).UseBus(bus)
package nats

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	natsgo "github.com/nats-io/nats.go"
	"go.uber.org/zap"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"

	"github.com/bentocache/bento"
	"github.com/bentocache/bento/internal/lease"
	"github.com/bentocache/bento/internal/natsconn"
)

func init() { caddy.RegisterModule(new(Bus)) }

// ErrClosed is wrapped by the errors of [Bus.Publish] and [Bus.Subscribe]
// after [Bus.Disconnect].
var ErrClosed = errors.New("nats bus: bus closed")

// DefaultURL is the server a Bus dials when [Options] names neither a
// connection nor a server.
const DefaultURL = natsconn.DefaultURL

// Bus is a [bento.Bus] on core NATS subjects. Module ID: bento.buses.nats.
// A Bus is safe for concurrent use.
//
// The exported fields are the module's JSON config, read by
// [Bus.Provision]; a Bus built by [New] takes its settings from [Options]
// instead.
type Bus struct {
	// Server URLs ("nats://host:4222", "tls://host:4222"); the client tries
	// them in turn and learns the others of a cluster from the server.
	// Default: ["nats://127.0.0.1:4222"].
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
	// Path of a NATS credentials file (a user JWT and its NKey seed), read
	// at the first connect. Default: none.
	CredsFile string `json:"creds_file,omitempty"`
	// Require TLS (at least TLS 1.2, certificates checked against the
	// system's roots). Default: false; a "tls://" URL requires it too.
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
	// How often an idle connection pings the server; after two unanswered
	// pings the connection is dropped and redialed. Default: 10s.
	PingInterval caddy.Duration `json:"ping_interval,omitempty"`

	conn  *natsconn.Conn
	lease *lease.Lease
	// conf is the connection config of a bus built from config or from
	// connection options, for Validate; nil for a bus on Options.Conn.
	conf *natsconn.Config
	// mixed names a connection field set together with Options.Conn.
	mixed  string
	logger *zap.Logger

	// ctx is the bus's own context for its goroutine; Disconnect cancels it.
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
	// watching is set once the status watcher runs.
	watching atomic.Bool

	// The fields below are guarded by mu.
	mu        sync.Mutex
	closed    bool
	subs      map[string]*subscription
	callbacks []func()
	status    chan natsgo.Status // the watcher's listener, nil until it runs
}

// Options configures a [Bus]; see [New]. The zero value is valid: a bus
// that opens a connection to [DefaultURL].
//
// Either Conn or the connection fields are used, never both;
// [Bus.Validate] reports a mix.
type Options struct {
	// Conn is a connection the application already has. It is never
	// closed by the bus. Nil means that the bus opens a connection from
	// the fields below on its first Publish or Subscribe, and closes it in
	// [Bus.Disconnect].
	//
	// NOTE: a publish while Conn is reconnecting lands in nats.go's
	// reconnect buffer (unless the connection was opened with
	// natsgo.ReconnectBufSize(-1)) and counts as sent; a connection the
	// bus opens has no such buffer, so a failed publish is retried by
	// bento's outbox instead.
	Conn *natsgo.Conn

	// Servers are the server URLs. Default: [DefaultURL].
	Servers []string
	// Name is the connection name. Default: none.
	Name string
	// Username and Password, or Token, or CredsFile authenticate the
	// connection. Default: none.
	Username, Password, Token, CredsFile string
	// DialTimeout bounds each attempt to connect. Zero means 2s.
	DialTimeout time.Duration
	// ReconnectWait is the pause between two reconnect attempts to one
	// server. Zero means 2s.
	ReconnectWait time.Duration
	// PingInterval is how often an idle connection pings the server. Zero
	// means 10s.
	PingInterval time.Duration

	// Logger receives what the bus cannot return: a lost and a restored
	// connection, an unsubscribe the server could not be told. Nil means
	// no logging.
	Logger *zap.Logger
}

// New returns a bus on o.Conn, or on a connection it opens from the
// connection fields of o. It does no I/O and never fails: the connection
// is dialed by the first Publish or Subscribe, and invalid options are
// reported by [Bus.Validate], which bento.New calls.
func New(o Options) *Bus {
	b := new(Bus)
	conf := o.conn()
	if o.Conn != nil {
		b.init(natsconn.Wrap(o.Conn), o.Logger)
		b.mixed = conf.FirstSet()
		return b
	}
	b.init(natsconn.New(conf), o.Logger)
	b.conf = &conf
	return b
}

// init sets b up on conn: the one way in that New and Provision share.
func (b *Bus) init(conn *natsconn.Conn, logger *zap.Logger) {
	b.conn = conn
	b.logger = logger
	if b.logger == nil {
		b.logger = zap.NewNop()
	}
	b.subs = make(map[string]*subscription)
	b.ctx, b.cancel = context.WithCancel(context.Background())
}

// CaddyModule returns the Caddy module information.
func (*Bus) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{ID: "bento.buses.nats", New: func() caddy.Module { return new(Bus) }}
}

// Provision builds the bus from its JSON fields, on the connection shared
// by every NATS bus and driver loaded with the same connection settings
// (made by the first of them, and kept across config reloads), logging
// through Caddy's logger. No I/O: the connection is dialed on first use.
func (b *Bus) Provision(ctx caddy.Context) error {
	conf := b.fields().Config()
	conn, l, err := natsconn.Acquire(conf)
	if err != nil {
		return fmt.Errorf("nats bus: %w", err)
	}
	b.init(conn, bento.ModuleLogger(ctx))
	b.conf, b.lease = &conf, l
	return nil
}

// Validate reports options that the bus cannot honour: a connection
// together with connection fields, an empty server URL, two ways to
// authenticate, TLS settings with tls off, a negative duration. It does no
// I/O.
func (b *Bus) Validate() error {
	if b.mixed != "" {
		return fmt.Errorf("nats bus: conn and %s are both set: connection options apply only to a connection the bus opens, configure the connection instead", b.mixed)
	}
	if b.conf == nil {
		return nil
	}
	if err := b.conf.Validate(); err != nil {
		return fmt.Errorf("nats bus: %w", err)
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
// "nats <url...>" names the servers alone:
//
//	nats [<url...>] {
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
//	}
//
// URLs given as arguments and with servers add up.
func (b *Bus) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	return b.fields().UnmarshalCaddyfile(d, "nats bus", nil)
}

// Publish sends payload to every subscriber of channel (on the subject
// [Subject] names), the
// bus's own included, and returns once the server has it. The payload is
// copied before Publish returns: the caller may reuse it. A payload larger
// than the server's max_payload (1 MB by default) is an error.
func (b *Bus) Publish(ctx context.Context, channel string, payload []byte) error {
	nc, err := b.connection()
	if err != nil {
		return fmt.Errorf("nats bus: publish on %q: %w", channel, err)
	}
	if err := nc.Publish(Subject(channel), payload); err != nil {
		return fmt.Errorf("nats bus: publish on %q: %w", channel, err)
	}
	if err := natsconn.Flush(ctx, nc); err != nil {
		return fmt.Errorf("nats bus: publish on %q: %w", channel, err)
	}
	return nil
}

// Subscribe calls handler with every payload published on channel (on the
// subject [Subject] names), until [Bus.Unsubscribe] or [Bus.Disconnect]. It returns once the
// server has the subscription, so a payload published after it returns is
// delivered; ctx bounds that wait, and the subscription outlives it.
// Subscribing again to a channel replaces the handler.
//
// The handler runs on a goroutine of the subscription, never concurrently
// with itself, with one publisher's payloads in order. Payloads wait in
// memory for it, without a bound (nats.go's default would drop payloads of
// a slow handler, and a dropped invalidation leaves an L1 stale): it must
// not block for long. It may publish, subscribe and unsubscribe.
//
// WARNING: a handler must not call Disconnect, which waits for it.
func (b *Bus) Subscribe(ctx context.Context, channel string, handler func(payload []byte)) error {
	if handler == nil {
		return fmt.Errorf("nats bus: subscribe to %q: nil handler", channel)
	}
	nc, err := b.connection()
	if err != nil {
		return fmt.Errorf("nats bus: subscribe to %q: %w", channel, err)
	}
	s := &subscription{done: make(chan struct{})}
	sub, err := nc.Subscribe(Subject(channel), func(m *natsgo.Msg) {
		if !s.stopped.Load() {
			handler(m.Data)
		}
	})
	if err != nil {
		return fmt.Errorf("nats bus: subscribe to %q: %w", channel, err)
	}
	s.sub = sub
	sub.SetClosedHandler(func(string) { close(s.done) })
	_ = sub.SetPendingLimits(-1, -1) // never fails on a fresh async subscription

	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		s.stop()
		return fmt.Errorf("nats bus: subscribe to %q: %w", channel, ErrClosed)
	}
	old := b.subs[channel]
	b.subs[channel] = s
	b.mu.Unlock()
	if old != nil {
		b.unsubscribe(channel, old)
	}
	if err := natsconn.Flush(ctx, nc); err != nil {
		b.mu.Lock()
		if b.subs[channel] == s {
			delete(b.subs, channel)
		}
		b.mu.Unlock()
		b.unsubscribe(channel, s)
		return fmt.Errorf("nats bus: subscribe to %q: %w", channel, err)
	}
	return nil
}

// Unsubscribe stops deliveries on channel: once it returns, the handler is
// not called again (a call already running finishes). Unsubscribing from a
// channel the bus is not subscribed to, or after Disconnect, does nothing.
func (b *Bus) Unsubscribe(ctx context.Context, channel string) error {
	b.mu.Lock()
	s := b.subs[channel]
	delete(b.subs, channel)
	b.mu.Unlock()
	if s != nil {
		b.unsubscribe(channel, s)
	}
	return nil
}

// OnReconnect registers f, called each time the connection is back after
// it was lost, once the server has the bus's subscriptions again; payloads
// published during the outage are lost. Callbacks run one after the other
// on a goroutine of the bus. After Disconnect, f is ignored.
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

// Disconnect stops every subscription, waits until the handlers and
// callbacks have returned, then closes the connection if the bus opened
// it; a connection passed in [Options.Conn] stays open. A bus loaded from
// config gives back its share of the pooled connection instead, which is
// closed when its last holder lets go. Calling it twice is fine.
func (b *Bus) Disconnect() error {
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return nil
	}
	b.closed = true
	subs, status := b.subs, b.status
	b.subs, b.callbacks = nil, nil
	b.mu.Unlock()

	b.cancel()
	for ch, s := range subs {
		b.unsubscribe(ch, s)
	}
	for _, s := range subs {
		<-s.done
	}
	if status != nil {
		if nc, err := b.conn.Get(); err == nil {
			nc.RemoveStatusListener(status)
		}
	}
	b.wg.Wait()
	var err error
	if b.lease != nil {
		if rerr := b.lease.Release(); rerr != nil {
			err = fmt.Errorf("nats bus: disconnect: releasing the connection: %w", rerr)
		}
	} else {
		b.conn.Close()
	}
	return err
}

// conn returns the connection fields of o.
func (o Options) conn() natsconn.Config {
	return natsconn.Config{
		Servers:       slices.Clone(o.Servers),
		Name:          o.Name,
		Username:      o.Username,
		Password:      o.Password,
		Token:         o.Token,
		CredsFile:     o.CredsFile,
		DialTimeout:   o.DialTimeout,
		ReconnectWait: o.ReconnectWait,
		PingInterval:  o.PingInterval,
	}
}

// fields binds the connection fields of b's JSON config for natsconn.
func (b *Bus) fields() natsconn.Fields {
	return natsconn.Fields{
		Servers:               &b.Servers,
		Name:                  &b.Name,
		Username:              &b.Username,
		Password:              &b.Password,
		Token:                 &b.Token,
		CredsFile:             &b.CredsFile,
		TLS:                   &b.TLS,
		TLSServerName:         &b.TLSServerName,
		TLSInsecureSkipVerify: &b.TLSInsecureSkipVerify,
		DialTimeout:           &b.DialTimeout,
		ReconnectWait:         &b.ReconnectWait,
		PingInterval:          &b.PingInterval,
	}
}

// connection returns the NATS connection, dialing it on first use, and
// starts the status watcher once.
func (b *Bus) connection() (*natsgo.Conn, error) {
	b.mu.Lock()
	closed := b.closed
	b.mu.Unlock()
	if closed {
		return nil, ErrClosed
	}
	nc, err := b.conn.Get()
	if err != nil {
		if errors.Is(err, natsconn.ErrClosed) {
			return nil, ErrClosed
		}
		return nil, err
	}
	if !b.watching.Load() {
		b.watch(nc)
	}
	return nc, nil
}

// watch registers a status listener on nc and starts the goroutine that
// turns its changes into OnReconnect calls, once.
func (b *Bus) watch(nc *natsgo.Conn) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed || b.status != nil {
		return
	}
	b.status = nc.StatusChanged(natsgo.CONNECTED, natsgo.RECONNECTING, natsgo.DISCONNECTED)
	b.watching.Store(true)
	// A first connect that failed is retried in the background: the
	// connection is then not yet up, and its coming up is a reconnect,
	// since payloads may have been published meanwhile.
	lost := !nc.IsConnected()
	b.wg.Add(1)
	go b.run(nc, b.status, lost)
}

// run reports the connection's losses and returns: after a loss, the
// first CONNECTED flushes (so that the server has every subscription,
// which nats.go sent again before it) and runs the callbacks.
func (b *Bus) run(nc *natsgo.Conn, status <-chan natsgo.Status, lost bool) {
	defer b.wg.Done()
	for {
		var st natsgo.Status
		select {
		case <-b.ctx.Done():
			return
		case s, ok := <-status:
			if !ok {
				return
			}
			st = s
		}
		switch st {
		case natsgo.RECONNECTING, natsgo.DISCONNECTED:
			if !lost {
				lost = true
				b.logger.Warn("nats bus: connection lost; reconnecting", zap.Error(nc.LastError()))
			}
		case natsgo.CONNECTED:
			if !lost {
				continue
			}
			ctx, cancel := context.WithTimeout(b.ctx, natsconn.FlushTimeout)
			err := natsconn.Flush(ctx, nc)
			cancel()
			if err != nil {
				if b.ctx.Err() != nil {
					return
				}
				// Lost again: the next CONNECTED reports it.
				continue
			}
			lost = false
			b.logger.Info("nats bus: connection restored", zap.String("server", nc.ConnectedUrlRedacted()))
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
}

// unsubscribe stops s and tells the server, logging a failure: no payload
// reaches the handler anyway, and the subscription ends with the
// connection.
func (b *Bus) unsubscribe(channel string, s *subscription) {
	if err := s.stop(); err != nil && !errors.Is(err, natsgo.ErrConnectionClosed) && !errors.Is(err, natsgo.ErrBadSubscription) {
		b.logger.Warn("nats bus: could not tell the server about an unsubscribe",
			zap.String("channel", channel), zap.Error(err))
	}
}

// Subject returns the NATS subject a channel is published on: the channel's
// "."-separated tokens, each with every byte outside [A-Za-z0-9_:-]
// written as %XX (so "*", ">", "%", spaces and non-ASCII bytes never reach
// the server as such), and an empty token written as "%". The mapping is
// one to one: two channels never share a subject, and bento's default
// channel "bento.bus:<prefix>:<store>" keeps its shape.
func Subject(channel string) string {
	var b strings.Builder
	for i, tok := range strings.Split(channel, ".") {
		if i > 0 {
			b.WriteByte('.')
		}
		if tok == "" {
			b.WriteByte('%')
			continue
		}
		for j := 0; j < len(tok); j++ {
			c := tok[j]
			if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == ':' || c == '-' {
				b.WriteByte(c)
				continue
			}
			fmt.Fprintf(&b, "%%%02X", c)
		}
	}
	return b.String()
}

// subscription is one handler on one subject.
type subscription struct {
	sub *natsgo.Subscription
	// stopped is set by stop: the handler is not called after it.
	stopped atomic.Bool
	// done is closed once nats.go's delivery goroutine has returned.
	done chan struct{}
}

// stop makes s deliver nothing more and unsubscribes it; a handler call in
// progress finishes. Calling it twice is fine.
func (s *subscription) stop() error {
	if s.stopped.Swap(true) {
		return nil
	}
	return s.sub.Unsubscribe()
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
