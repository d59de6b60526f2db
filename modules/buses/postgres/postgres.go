// Package postgres is bento's bus on PostgreSQL LISTEN/NOTIFY (module
// bento.buses.postgres): it keeps the L1 of every instance of a store
// coherent with nothing but the PostgreSQL server the application already
// has. Documentation and examples import it as pgbus.
//
// Each bento channel maps to a PostgreSQL channel named by [Identifier].
// Payloads travel as base64 text, split into chunks of under 8000 bytes when
// they are large and reassembled on receipt. A bus listens on one dedicated
// connection, opened on the first [Bus.Subscribe], and publishes with
// pg_notify on a pool the user brings ([Options.Pool]) or on a connection of
// its own. When the listening connection drops, the bus reconnects with
// backoff, listens again and calls its [Bus.OnReconnect] callbacks:
// notifications sent meanwhile are lost, and the cache resyncs its L1.
//
//	pool, err := pgxpool.New(ctx, dsn)
//	…
//	store := bento.NewStore().
//		UseL1(memory.New(memory.Options{})).
//		UseBus(pgbus.New(pgbus.Options{Pool: pool}))
//
// From JSON or a Caddyfile, the bus is configured by its DSN:
// {"bus": "postgres", "dsn": "postgres://app@db:5432/app"}, or
// `bus postgres postgres://app@db:5432/app`.
package postgres

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"go.uber.org/zap"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"

	"github.com/bentocache/bento"
)

func init() { caddy.RegisterModule(new(Bus)) }

var (
	// ErrClosed is returned by [Bus.Publish] and [Bus.Subscribe] after
	// [Bus.Disconnect].
	ErrClosed = errors.New("postgres bus: bus closed")
	// ErrReconnecting is wrapped by the error [Bus.Subscribe] returns while
	// the listening connection is lost and the bus is reconnecting.
	ErrReconnecting = errors.New("postgres bus: listening connection lost, reconnecting")
	// ErrTooLarge is wrapped by the error [Bus.Publish] returns for a
	// payload over [MaxPayload] bytes.
	ErrTooLarge = errors.New("postgres bus: payload too large")
)

// Defaults of [Options].
const (
	// DefaultConnectTimeout is the default of [Options.ConnectTimeout].
	DefaultConnectTimeout = 5 * time.Second
	// DefaultReconnectDelay is the default of [Options.ReconnectDelay].
	DefaultReconnectDelay = 100 * time.Millisecond
	// DefaultMaxReconnectDelay is the default of [Options.MaxReconnectDelay].
	DefaultMaxReconnectDelay = 5 * time.Second
	// DefaultPingInterval is the default of [Options.PingInterval].
	DefaultPingInterval = 30 * time.Second
)

// MaxPayload is the largest payload [Bus.Publish] accepts: 16 MiB, sent as
// 2868 notifications.
const MaxPayload = 16 << 20

// notifySQL sends one chunk.
const notifySQL = "SELECT pg_notify($1, $2)"

// Pool is what the bus needs from a connection pool the user brings:
// *pgxpool.Pool has these methods. The bus runs its NOTIFY statements with
// Exec and SendBatch, and uses Query once, when [Options.DSN] is empty, to
// read the configuration of one of the pool's connections.
//
// WARNING: a *pgx.Conn has these methods too, but it is not safe for
// concurrent use, and a pgx.Tx sends its notifications only when it
// commits: give the bus a pool.
type Pool interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	SendBatch(ctx context.Context, b *pgx.Batch) pgx.BatchResults
}

// Options configures a [Bus]. Pool, DSN or both must be set.
type Options struct {
	// Pool is a pool the user owns, typically a *pgxpool.Pool: Publish
	// sends its notifications on it. It is never closed by the bus. Nil
	// means the bus opens one connection from DSN for publishing. When DSN
	// is empty, the listening connection is opened with the configuration
	// of one of the pool's connections.
	Pool Pool
	// DSN is a PostgreSQL connection string (URL or key=value), as
	// pgx.ParseConfig reads it. The bus opens its listening connection from
	// it and, when Pool is nil, its publishing connection; it closes both
	// on Disconnect. Empty means the pool's configuration.
	DSN string
	// ConnectTimeout bounds each attempt to open a connection. Zero or
	// negative means DefaultConnectTimeout (5s).
	ConnectTimeout time.Duration
	// ReconnectDelay is the wait before the first attempt to reopen a lost
	// listening connection; it doubles after each failed attempt, up to
	// MaxReconnectDelay, with up to 20% of jitter. Zero or negative means
	// DefaultReconnectDelay (100ms).
	ReconnectDelay time.Duration
	// MaxReconnectDelay bounds the wait between two attempts to reopen the
	// listening connection. Zero or negative means DefaultMaxReconnectDelay
	// (5s); a value under ReconnectDelay means ReconnectDelay.
	MaxReconnectDelay time.Duration
	// PingInterval is how long the listening connection may stay silent
	// before the bus pings it, so that a connection that died without a
	// word is noticed. Zero or negative means DefaultPingInterval (30s).
	PingInterval time.Duration
	// Logger receives what the bus cannot return to a caller: notifications
	// dropped as malformed or incomplete, lost connections and reconnects,
	// panicking handlers. Nil means no logging.
	Logger *zap.Logger
}

// withDefaults returns a copy of o with the defaults filled in.
func (o Options) withDefaults() Options {
	if o.ConnectTimeout <= 0 {
		o.ConnectTimeout = DefaultConnectTimeout
	}
	if o.ReconnectDelay <= 0 {
		o.ReconnectDelay = DefaultReconnectDelay
	}
	if o.MaxReconnectDelay <= 0 {
		o.MaxReconnectDelay = DefaultMaxReconnectDelay
	}
	o.MaxReconnectDelay = max(o.MaxReconnectDelay, o.ReconnectDelay)
	if o.PingInterval <= 0 {
		o.PingInterval = DefaultPingInterval
	}
	if o.Logger == nil {
		o.Logger = zap.NewNop()
	}
	return o
}

// Bus is a [bento.Bus] on PostgreSQL LISTEN/NOTIFY. Module ID:
// bento.buses.postgres; it serves a store's bus. A Bus is safe for
// concurrent use.
//
// Each subscription's handler runs on a goroutine of its own, one payload
// at a time, in the order the server delivered them; a handler may publish.
// A handler that falls more than a thousand payloads behind holds up the
// delivery to every subscription of the bus.
//
// A bus loaded from config opens its connections from its DSN on first use
// and closes them when the config is unloaded. Unlike the memory L1 driver,
// it does not share them across config reloads: subscriptions and
// reconnect callbacks belong to one manager, and a shared bus would let the
// manager being replaced (or a reload that fails) unsubscribe the channel
// of the one that replaces it. A reload costs a new LISTEN; the new bus
// subscribes before the old one lets go, so no message falls between them.
//
// NOTE: Disconnect waits for running handlers and callbacks, so they must
// not call it.
type Bus struct {
	// The PostgreSQL connection string, as a URL
	// ("postgres://app:secret@db:5432/app?sslmode=require") or as key=value
	// pairs ("host=db user=app dbname=app"). The bus opens two connections
	// from it: one to listen on, one to publish on. Placeholders such as
	// {env.DATABASE_URL} are replaced. Required.
	DSN string `json:"dsn,omitempty"`
	// How long each attempt to open a connection may take. Default: 5s.
	ConnectTimeout caddy.Duration `json:"connect_timeout,omitempty"`
	// How long to wait before the first attempt to reopen a lost listening
	// connection. The wait doubles after each failed attempt, give or take
	// 20%, up to max_reconnect_delay. Default: 100ms.
	ReconnectDelay caddy.Duration `json:"reconnect_delay,omitempty"`
	// The longest wait between two attempts to reopen the listening
	// connection; attempts go on until the config is unloaded. A value
	// under reconnect_delay means reconnect_delay. Default: 5s.
	MaxReconnectDelay caddy.Duration `json:"max_reconnect_delay,omitempty"`
	// How long the listening connection may stay silent before the bus
	// pings it. A connection that died without a word is noticed within
	// about ping_interval plus connect_timeout. Default: 30s.
	PingInterval caddy.Duration `json:"ping_interval,omitempty"`

	// fromConfig: the bus was provisioned from config, so Validate names
	// the JSON fields.
	fromConfig bool

	o      Options
	sender string        // this bus's id in the chunks it sends
	nextID atomic.Uint64 // the id of the last message sent
	ctx    context.Context
	cancel context.CancelFunc
	log    *zap.Logger

	cfgMu sync.Mutex
	cfg   *pgx.ConnConfig // for the bus's own connections, once known

	// pub holds a token while a Publish uses pubConn (the connection the
	// bus opened for publishing when there is no Pool).
	pub     chan struct{}
	pubConn *pgx.Conn

	startMu sync.Mutex // serializes the start of the listener

	mu        sync.Mutex
	closed    bool
	started   bool                     // the listener goroutines run
	subs      map[string]*subscription // by PostgreSQL channel
	callbacks []func()
	cmds      []command          // for the listener, oldest first
	interrupt context.CancelFunc // ends the listener's current wait
	wake      chan struct{}      // tells a reconnecting listener of cmds
	resynced  chan struct{}      // tells the callback goroutine to run
	wg        sync.WaitGroup     // every goroutine of the bus
}

// New returns a bus configured by o. It does no I/O and never fails: the
// listening connection is opened by the first [Bus.Subscribe], and
// [Bus.Validate] reports options that cannot work.
func New(o Options) *Bus {
	b := new(Bus)
	b.init(o)
	return b
}

// init sets b up from o: the one way in that New and Provision share. It
// does no I/O.
func (b *Bus) init(o Options) {
	o = o.withDefaults()
	var id [8]byte
	_, _ = rand.Read(id[:]) // crypto/rand.Read never fails
	b.o = o
	b.sender = hex.EncodeToString(id[:])
	b.ctx, b.cancel = context.WithCancel(context.Background())
	b.log = o.Logger
	b.pub = make(chan struct{}, 1)
	b.subs = make(map[string]*subscription)
	b.wake = make(chan struct{}, 1)
	b.resynced = make(chan struct{}, 1)
}

// CaddyModule returns the Caddy module information.
func (*Bus) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{ID: "bento.buses.postgres", New: func() caddy.Module { return new(Bus) }}
}

// Provision builds the bus from its JSON fields, logging where the manager
// logs ([bento.ModuleLogger]). It does no I/O: the connections are opened
// by the first Subscribe and Publish.
func (b *Bus) Provision(ctx caddy.Context) error {
	b.fromConfig = true
	b.init(Options{
		DSN:               b.DSN,
		ConnectTimeout:    time.Duration(b.ConnectTimeout),
		ReconnectDelay:    time.Duration(b.ReconnectDelay),
		MaxReconnectDelay: time.Duration(b.MaxReconnectDelay),
		PingInterval:      time.Duration(b.PingInterval),
		Logger:            bento.ModuleLogger(ctx),
	})
	return nil
}

// Validate reports options that cannot work: neither Pool nor DSN, or a DSN
// that does not parse. A bus from config is told about by its JSON fields:
// a missing or unparsable "dsn", or a negative duration. It does no I/O.
func (b *Bus) Validate() error {
	if b.fromConfig {
		return b.validateConfig()
	}
	if b.o.Pool == nil && b.o.DSN == "" {
		return errors.New("postgres bus: neither Pool nor DSN is set")
	}
	if b.o.DSN != "" {
		if _, err := pgx.ParseConfig(b.o.DSN); err != nil {
			return fmt.Errorf("postgres bus: parsing DSN: %w", err)
		}
	}
	return nil
}

// validateConfig is Validate for a bus provisioned from config: every
// problem, joined, each naming its JSON field.
func (b *Bus) validateConfig() error {
	var errs []error
	if b.DSN == "" {
		errs = append(errs, errors.New(`postgres bus: "dsn" is required: a PostgreSQL connection string such as "postgres://app@db:5432/app"`))
	} else if _, err := pgx.ParseConfig(b.DSN); err != nil {
		errs = append(errs, fmt.Errorf(`postgres bus: "dsn": %w`, err))
	}
	for _, f := range []struct {
		name string
		d    caddy.Duration
	}{
		{"connect_timeout", b.ConnectTimeout},
		{"reconnect_delay", b.ReconnectDelay},
		{"max_reconnect_delay", b.MaxReconnectDelay},
		{"ping_interval", b.PingInterval},
	} {
		if f.d < 0 {
			errs = append(errs, fmt.Errorf("postgres bus: %q must not be negative, got %s", f.name, time.Duration(f.d)))
		}
	}
	return errors.Join(errs...)
}

// Cleanup disconnects the bus; see [Bus.Disconnect]. It is safe after a
// failed or missing Provision, and to call twice.
func (b *Bus) Cleanup() error { return b.Disconnect() }

// Publish sends payload to every subscriber of channel, the subscriptions
// of this bus included, with pg_notify on the PostgreSQL channel
// [Identifier](channel). A payload that needs several chunks is sent in one
// transaction, so its chunks are delivered together or not at all. Publish
// returns once the server has accepted the notifications; it does not keep
// payload. After an error the payload may or may not have gone out (the
// cache sends it again, and a repeated invalidation is harmless); after
// [Bus.Disconnect] the error wraps [ErrClosed].
func (b *Bus) Publish(ctx context.Context, channel string, payload []byte) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("postgres bus: publishing on %q: %w", channel, err)
	}
	b.mu.Lock()
	closed := b.closed
	b.mu.Unlock()
	if closed {
		return ErrClosed
	}
	chunks, err := encodeChunks(b.sender, b.nextID.Add(1), payload)
	if err != nil {
		return fmt.Errorf("postgres bus: publishing on %q: %w", channel, err)
	}
	ident := Identifier(channel)
	if b.o.Pool != nil {
		err = notify(ctx, b.o.Pool, ident, chunks)
	} else {
		err = b.publishOwn(ctx, ident, chunks)
	}
	if err != nil {
		return fmt.Errorf("postgres bus: publishing on %q: %w", channel, err)
	}
	return nil
}

// Subscribe calls handler with every payload published on channel by any
// bus on the server, this one included, until [Bus.Unsubscribe] or
// [Bus.Disconnect]. When it returns nil, the bus listens on the channel:
// every payload published afterwards is delivered. The subscription does
// not depend on ctx, which bounds only the call. Subscribing again to a
// channel replaces the handler.
//
// The first Subscribe opens the listening connection. While that connection
// is lost, Subscribe returns an error wrapping [ErrReconnecting]; on any
// error, the bus is not subscribed to channel.
func (b *Bus) Subscribe(ctx context.Context, channel string, handler func(payload []byte)) error {
	if handler == nil {
		return fmt.Errorf("postgres bus: subscribing to %q: nil handler", channel)
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("postgres bus: subscribing to %q: %w", channel, err)
	}
	ident := Identifier(channel)
	s := newSubscription(handler)
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return ErrClosed
	}
	old := b.subs[ident]
	b.subs[ident] = s
	b.wg.Add(1)
	go s.run(b)
	b.mu.Unlock()
	old.stop()

	err := b.listen(ctx, ident)
	if err == nil {
		return nil
	}
	b.mu.Lock()
	if b.subs[ident] == s {
		delete(b.subs, ident)
		if b.started && !b.closed {
			b.enqueue(command{ident: ident}) // UNLISTEN, if the LISTEN went through
		}
	}
	b.mu.Unlock()
	s.stop()
	if errors.Is(err, ErrClosed) {
		return ErrClosed
	}
	return fmt.Errorf("postgres bus: subscribing to %q: %w", channel, err)
}

// Unsubscribe stops deliveries on channel: once it returns, the handler is
// not called again (a call already running finishes). The UNLISTEN itself
// is sent in the background. Unsubscribing from a channel the bus is not
// subscribed to, or after Disconnect, does nothing.
func (b *Bus) Unsubscribe(ctx context.Context, channel string) error {
	ident := Identifier(channel)
	b.mu.Lock()
	s := b.subs[ident]
	if s != nil {
		delete(b.subs, ident)
		if b.started {
			b.enqueue(command{ident: ident})
		}
	}
	b.mu.Unlock()
	s.stop()
	return nil
}

// OnReconnect registers f, called each time the bus has reopened a lost
// listening connection and listens again on every subscribed channel.
// Notifications published while the connection was lost are not delivered.
// Callbacks run one after the other on a goroutine of the bus, never
// concurrently with each other. After Disconnect, f is ignored.
func (b *Bus) OnReconnect(f func()) {
	if f == nil {
		return
	}
	b.mu.Lock()
	if !b.closed {
		b.callbacks = append(b.callbacks, f)
	}
	b.mu.Unlock()
}

// Disconnect stops every subscription, stops the bus's goroutines and waits
// for them, and closes the connections the bus opened; it never closes
// [Options.Pool]. Publish and Subscribe then return [ErrClosed]. Calling it
// twice is fine.
func (b *Bus) Disconnect() error {
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return nil
	}
	b.closed = true
	if b.cancel == nil { // never set up (Cleanup without Provision): nothing runs
		b.mu.Unlock()
		return nil
	}
	subs := b.subs
	b.subs = nil
	b.callbacks = nil
	cmds := b.cmds
	b.cmds = nil
	b.mu.Unlock()

	b.cancel()
	for _, s := range subs {
		s.stop()
	}
	for _, c := range cmds {
		c.reply(ErrClosed)
	}
	b.wg.Wait()

	b.pub <- struct{}{}
	if b.pubConn != nil {
		closeConn(b.pubConn)
		b.pubConn = nil
	}
	<-b.pub
	return nil
}

// publishOwn sends chunks on the bus's own publishing connection, opening
// it if needed. Disconnect aborts a call in progress.
func (b *Bus) publishOwn(ctx context.Context, ident string, chunks []string) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	defer context.AfterFunc(b.ctx, cancel)()
	select {
	case b.pub <- struct{}{}:
	case <-ctx.Done():
		if b.ctx.Err() != nil {
			return ErrClosed
		}
		return ctx.Err()
	}
	defer func() { <-b.pub }()
	if b.ctx.Err() != nil {
		return ErrClosed
	}
	if b.pubConn == nil || b.pubConn.IsClosed() {
		conn, err := b.connect(ctx)
		if err != nil {
			return err
		}
		b.pubConn = conn
	}
	err := notify(ctx, b.pubConn, ident, chunks)
	if err != nil && b.pubConn.IsClosed() {
		b.pubConn = nil // the next Publish opens another
	}
	return err
}

// notify sends chunks on db: one statement for a single chunk, else one
// batch, which PostgreSQL runs as one transaction.
func notify(ctx context.Context, db Pool, ident string, chunks []string) error {
	if len(chunks) == 1 {
		_, err := db.Exec(ctx, notifySQL, ident, chunks[0])
		return err
	}
	batch := new(pgx.Batch)
	for _, c := range chunks {
		batch.Queue(notifySQL, ident, c)
	}
	return db.SendBatch(ctx, batch).Close()
}

// connConfig returns the configuration of the connections the bus opens:
// parsed from DSN, or read once from a connection of Pool.
func (b *Bus) connConfig(ctx context.Context) (*pgx.ConnConfig, error) {
	b.cfgMu.Lock()
	defer b.cfgMu.Unlock()
	if b.cfg != nil {
		return b.cfg, nil
	}
	switch {
	case b.o.DSN != "":
		cfg, err := pgx.ParseConfig(b.o.DSN)
		if err != nil {
			return nil, fmt.Errorf("parsing DSN: %w", err)
		}
		b.cfg = cfg
	case b.o.Pool != nil:
		rows, err := b.o.Pool.Query(ctx, "SELECT 1")
		if err != nil {
			return nil, fmt.Errorf("reading the pool's connection configuration: %w", err)
		}
		conn := rows.Conn()
		if conn == nil {
			rows.Close()
			return nil, errors.New("reading the pool's connection configuration: the pool's rows have no connection; set DSN")
		}
		cfg := conn.Config()
		rows.Close()
		// The copy still points at that connection's notification buffer;
		// pgx gives each new connection its own when this is nil.
		cfg.OnNotification = nil
		b.cfg = cfg
	default:
		return nil, errors.New("neither Pool nor DSN is set")
	}
	return b.cfg, nil
}

// connect opens a connection of the bus's own, within ConnectTimeout.
func (b *Bus) connect(ctx context.Context) (*pgx.Conn, error) {
	cfg, err := b.connConfig(ctx)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, b.o.ConnectTimeout)
	defer cancel()
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("connecting: %w", err)
	}
	return conn, nil
}

// closeConn closes a connection of the bus's own, giving the server a
// moment to hear the goodbye.
func closeConn(conn *pgx.Conn) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	_ = conn.Close(ctx) // the connection is gone either way
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
