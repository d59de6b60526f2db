package postgres

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"go.uber.org/zap"
)

// queueSize is how many payloads a subscription holds for its handler
// before the listener waits for it.
const queueSize = 1024

// command asks the listener to make its LISTEN state on ident match the
// bus's subscriptions: LISTEN if the bus is subscribed, else UNLISTEN.
type command struct {
	ident string
	done  chan error // nil: nobody waits for the outcome
}

// reply tells the waiter, if any, the outcome of c.
func (c command) reply(err error) {
	if c.done != nil {
		c.done <- err // buffered, read at most once
	}
}

// enqueue hands c to the listener and ends its current wait. b.mu must be
// held.
func (b *Bus) enqueue(c command) {
	b.cmds = append(b.cmds, c)
	if b.interrupt != nil {
		b.interrupt()
	}
	select {
	case b.wake <- struct{}{}:
	default:
	}
}

// listen makes sure that the listener runs and listens on ident.
func (b *Bus) listen(ctx context.Context, ident string) error {
	if err := b.start(ctx); err != nil {
		return err
	}
	c := command{ident: ident, done: make(chan error, 1)}
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return ErrClosed
	}
	b.enqueue(c)
	b.mu.Unlock()
	select {
	case err := <-c.done:
		return err
	case <-ctx.Done():
		return ctx.Err()
	case <-b.ctx.Done():
		return ErrClosed
	}
}

// start opens the listening connection and starts the listener and the
// callback goroutine, unless they run already.
func (b *Bus) start(ctx context.Context) error {
	b.startMu.Lock()
	defer b.startMu.Unlock()
	b.mu.Lock()
	started := b.started
	b.mu.Unlock()
	if started {
		return nil
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	defer context.AfterFunc(b.ctx, cancel)()
	conn, err := b.connect(ctx)
	if err != nil {
		if b.ctx.Err() != nil {
			return ErrClosed
		}
		return fmt.Errorf("opening the listening connection: %w", err)
	}
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		closeConn(conn)
		return ErrClosed
	}
	b.started = true
	b.wg.Add(2)
	go b.runListener(conn)
	go b.runCallbacks()
	b.mu.Unlock()
	return nil
}

// session is one listening connection and what it listens on.
type session struct {
	conn   *pgx.Conn
	active map[string]bool // channels LISTENed on conn
}

// runListener owns the listening connection: it runs the commands, waits
// for notifications and dispatches them, and reconnects when the
// connection is lost, until Disconnect.
func (b *Bus) runListener(conn *pgx.Conn) {
	defer b.wg.Done()
	asm := &reassembler{onDrop: func(k partialKey, reason string) {
		b.log.Warn("postgres bus: incomplete message dropped",
			zap.String("pg_channel", k.channel), zap.String("sender", k.sender), zap.Uint64("id", k.id), zap.String("reason", reason))
	}}
	s := &session{conn: conn, active: make(map[string]bool)}
	err := b.listenAll(s)
	for {
		if err == nil {
			err = b.serve(s, asm)
		}
		closeConn(s.conn)
		if b.ctx.Err() != nil {
			b.failCommands(ErrClosed)
			return
		}
		b.log.Warn("postgres bus: listening connection lost; reconnecting", zap.Error(err))
		asm.reset("connection lost")
		if s = b.reconnect(); s == nil {
			return
		}
		b.log.Info("postgres bus: listening connection reopened; notifications sent meanwhile are lost")
		select {
		case b.resynced <- struct{}{}:
		default: // the callbacks will run anyway
		}
		err = nil
	}
}

// listenAll sends LISTEN for every subscribed channel on a new session.
func (b *Bus) listenAll(s *session) error {
	b.mu.Lock()
	idents := make([]string, 0, len(b.subs))
	for ident := range b.subs {
		idents = append(idents, ident)
	}
	b.mu.Unlock()
	for _, ident := range idents {
		if err := b.sync(s, ident); err != nil {
			return err
		}
	}
	return nil
}

// sync makes s listen on ident if and only if the bus is subscribed to it.
func (b *Bus) sync(s *session, ident string) error {
	b.mu.Lock()
	want := b.subs[ident] != nil
	b.mu.Unlock()
	if want == s.active[ident] {
		return nil
	}
	sql := "LISTEN " + pgx.Identifier{ident}.Sanitize()
	if !want {
		sql = "UNLISTEN " + pgx.Identifier{ident}.Sanitize()
	}
	ctx, cancel := context.WithTimeout(b.ctx, b.o.ConnectTimeout)
	defer cancel()
	if _, err := s.conn.Exec(ctx, sql); err != nil {
		return fmt.Errorf("%s: %w", sql, err)
	}
	if want {
		s.active[ident] = true
	} else {
		delete(s.active, ident)
	}
	return nil
}

// serve runs commands and dispatches notifications on s until the
// connection is lost (it returns why) or the bus is closed.
func (b *Bus) serve(s *session, asm *reassembler) error {
	for {
		b.mu.Lock()
		cmds := b.cmds
		b.cmds = nil
		ctx, cancel := context.WithTimeout(b.ctx, b.o.PingInterval)
		b.interrupt = cancel
		b.mu.Unlock()

		var lost error
		for _, c := range cmds {
			if lost != nil {
				c.reply(fmt.Errorf("%w: %w", ErrReconnecting, lost))
				continue
			}
			err := b.sync(s, c.ident)
			if err != nil && (s.conn.IsClosed() || b.ctx.Err() != nil) {
				lost = err
				err = fmt.Errorf("%w: %w", ErrReconnecting, err)
			}
			c.reply(err)
		}
		if lost != nil {
			cancel()
			return lost
		}

		n, err := s.conn.WaitForNotification(ctx)
		cause := ctx.Err()
		cancel()
		switch {
		case err == nil:
			if n != nil {
				b.dispatch(asm, n)
			}
		case b.ctx.Err() != nil:
			return nil
		case s.conn.IsClosed():
			return err
		case errors.Is(cause, context.Canceled):
			// interrupted: there are commands to run
		case errors.Is(cause, context.DeadlineExceeded):
			if err := b.ping(s); err != nil {
				return err
			}
		default:
			return err // the connection is in an unknown state
		}
	}
}

// ping checks a silent listening connection.
func (b *Bus) ping(s *session) error {
	ctx, cancel := context.WithTimeout(b.ctx, b.o.ConnectTimeout)
	defer cancel()
	if err := s.conn.Ping(ctx); err != nil {
		return fmt.Errorf("ping: %w", err)
	}
	return nil
}

// dispatch hands the message that n completes, if any, to the subscription
// to its channel.
func (b *Bus) dispatch(asm *reassembler, n *pgconn.Notification) {
	msg, complete, err := asm.add(time.Now(), n.Channel, n.Payload)
	if err != nil {
		b.log.Warn("postgres bus: notification dropped",
			zap.String("pg_channel", n.Channel), zap.Uint32("pid", n.PID), zap.Error(err))
		return
	}
	if !complete {
		return
	}
	b.mu.Lock()
	s := b.subs[n.Channel]
	b.mu.Unlock()
	if s != nil {
		s.push(b.ctx, msg)
	}
}

// reconnect opens a new listening session with backoff and listens on every
// subscribed channel. Meanwhile, commands fail with ErrReconnecting. It
// returns nil once the bus is closed.
func (b *Bus) reconnect() *session {
	delay := b.o.ReconnectDelay
	for attempt := 1; ; attempt++ {
		timer := time.NewTimer(jitter(delay))
	wait:
		for {
			select {
			case <-b.ctx.Done():
				timer.Stop()
				b.failCommands(ErrClosed)
				return nil
			case <-b.wake:
				b.failCommands(ErrReconnecting)
			case <-timer.C:
				break wait
			}
		}
		conn, err := b.connect(b.ctx)
		if err == nil {
			s := &session{conn: conn, active: make(map[string]bool)}
			if err = b.listenAll(s); err == nil {
				return s
			}
			closeConn(conn)
		}
		if b.ctx.Err() != nil {
			b.failCommands(ErrClosed)
			return nil
		}
		if attempt == 1 {
			b.log.Warn("postgres bus: reconnect failed; retrying with backoff", zap.Error(err))
		}
		delay = min(2*delay, b.o.MaxReconnectDelay)
	}
}

// failCommands answers the pending commands with err; the LISTEN state of
// the next session is rebuilt from the subscriptions.
func (b *Bus) failCommands(err error) {
	b.mu.Lock()
	cmds := b.cmds
	b.cmds = nil
	b.mu.Unlock()
	for _, c := range cmds {
		c.reply(err)
	}
}

// jitter returns d give or take up to 20%.
func jitter(d time.Duration) time.Duration {
	return d - d/5 + rand.N(2*d/5+1)
}

// runCallbacks calls the OnReconnect callbacks after each reconnect, until
// Disconnect. Reconnects that happen while they run are coalesced into one
// more round.
func (b *Bus) runCallbacks() {
	defer b.wg.Done()
	for {
		select {
		case <-b.ctx.Done():
			return
		case <-b.resynced:
		}
		b.mu.Lock()
		fns := append([]func(){}, b.callbacks...)
		b.mu.Unlock()
		for _, f := range fns {
			if b.ctx.Err() != nil {
				return
			}
			b.guard("OnReconnect callback", f)
		}
	}
}

// guard calls f, logging a panic instead of crashing the process.
func (b *Bus) guard(what string, f func()) {
	defer func() {
		if r := recover(); r != nil {
			b.log.Error("postgres bus: "+what+" panicked", zap.Any("panic", r), zap.Stack("stack"))
		}
	}()
	f()
}

// subscription is one handler on one channel. Its goroutine calls the
// handler with the queued payloads, one at a time, in order.
type subscription struct {
	handler func([]byte)
	queue   chan []byte
	done    chan struct{} // closed by stop

	mu      sync.Mutex
	stopped bool
}

func newSubscription(handler func([]byte)) *subscription {
	return &subscription{handler: handler, queue: make(chan []byte, queueSize), done: make(chan struct{})}
}

// push queues msg for the handler; it waits while the queue is full, until
// the subscription stops or ctx is done.
func (s *subscription) push(ctx context.Context, msg []byte) {
	select {
	case s.queue <- msg:
	case <-s.done:
	case <-ctx.Done():
	}
}

// run is the subscription's goroutine.
func (s *subscription) run(b *Bus) {
	defer b.wg.Done()
	for {
		select {
		case <-s.done:
			return
		case <-b.ctx.Done():
			return
		case msg := <-s.queue:
			if !s.begin() {
				return
			}
			b.guard("handler", func() { s.handler(msg) })
		}
	}
}

// begin reports whether the handler may be called: once stop has returned,
// it may not.
func (s *subscription) begin() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return !s.stopped
}

// stop makes s deliver nothing more and ends its goroutine. It is nil-safe
// and may be called twice.
func (s *subscription) stop() {
	if s == nil {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.stopped {
		s.stopped = true
		close(s.done)
	}
}
