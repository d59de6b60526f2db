package drivertest

import (
	"bytes"
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/bentocache/bento"
)

// Bus runs the compliance suite of [bento.Bus] as subtests of t. open is
// called once per bus a case needs (up to three per subtest), and every bus
// it returns within one subtest must reach the others: the same server, or
// the same in-process hub. Each subtest uses fresh random channel names, so
// subtests may share the transport. open releases the bus with t.Cleanup.
//
// A wait for a delivery lasts until the subtest's watchdog fires
// ([Options.Timeout]). A check that something is not delivered is made once
// a later payload, published after it, has arrived: it cannot fail a correct
// bus, but a bus that delivers very late may pass it.
func Bus(t *testing.T, open func(t *testing.T) bento.Bus, o Options) {
	t.Helper()
	s := suite[bento.Bus, busc]{kind: "bento.Bus", cases: busCases, check: newBusc}
	s.run(t, o, "", open)
}

// busEnv is what a case of the Bus suite works with.
type busEnv = env[bento.Bus, busc]

var busCases = []suiteCase[*busEnv]{
	{name: "Publish/ReachesEverySubscriber", run: busReachesEvery},
	{name: "Publish/NoSubscribers", run: busNoSubscribers},
	{name: "Publish/FromHandler", run: busFromHandler},
	{name: "Payload/Binary", run: func(t *testing.T, e *busEnv) { busPayload(t, e, allBytes()) }},
	{name: "Payload/Empty", run: func(t *testing.T, e *busEnv) { busPayload(t, e, []byte{}) }},
	{name: "Payload/Large", run: func(t *testing.T, e *busEnv) { busPayload(t, e, largeBytes(100<<10)) }},
	{name: "Payload/PublisherMayReuse", run: busPublisherMayReuse},
	{name: "Order/PerPublisher", run: busOrder},
	{name: "Channel/Isolated", run: busChannelIsolated},
	{name: "Subscribe/OutlivesContext", run: busOutlivesContext},
	{name: "Unsubscribe/StopsDelivery", run: busUnsubscribe},
	{name: "Unsubscribe/Resubscribe", run: busResubscribe},
	{name: "Disconnect/StopsDelivery", run: busDisconnectStops},
	{name: "Disconnect/Twice", run: busDisconnectTwice},
}

// busc wraps a Bus with calls that end the subtest when they fail.
type busc struct {
	t    *testing.T
	ctx  context.Context
	b    bento.Bus
	name string // "first", "second", …
}

// newBusc wraps b, opened by a case of e, named in messages by name
// ("first", "second", …).
func newBusc(t *testing.T, e *busEnv, b bento.Bus, name string) busc {
	return busc{t: t, ctx: e.ctx, b: b, name: name}
}

// subscribe subscribes an inbox to channel and returns it.
func (b busc) subscribe(channel string) *inbox {
	b.t.Helper()
	in := newInbox(b.t, fmt.Sprintf("%s bus's subscription to %q", b.name, channel))
	if err := b.b.Subscribe(b.ctx, channel, in.handle); err != nil {
		b.t.Fatalf("%s.Subscribe(ctx, %q, handler) = %v; want <nil>", b.name, channel, err)
	}
	return in
}

func (b busc) publish(channel string, payload []byte) {
	b.t.Helper()
	if err := b.b.Publish(b.ctx, channel, payload); err != nil {
		b.t.Fatalf("%s.Publish(ctx, %q, %s) = %v; want <nil>", b.name, channel, qb(payload), err)
	}
}

func (b busc) unsubscribe(channel string) {
	b.t.Helper()
	if err := b.b.Unsubscribe(b.ctx, channel); err != nil {
		b.t.Fatalf("%s.Unsubscribe(ctx, %q) = %v; want <nil>", b.name, channel, err)
	}
}

// inbox records the payloads handed to one subscription's handler.
type inbox struct {
	t    *testing.T
	name string
	// signal gets a token after each delivery.
	signal chan struct{}

	mu  sync.Mutex
	got [][]byte

	running atomic.Int32
	overlap atomic.Bool
}

// newInbox returns an empty inbox; at the end of the subtest, before open's
// cleanups, it reports whether its handler ever ran concurrently with
// itself.
func newInbox(t *testing.T, name string) *inbox {
	in := &inbox{t: t, name: name, signal: make(chan struct{}, 1)}
	t.Cleanup(func() {
		if in.overlap.Load() {
			t.Errorf("the handler of %s was called concurrently with itself; a Bus must not do that", in.name)
		}
	})
	return in
}

// handle is the subscription's handler.
func (in *inbox) handle(payload []byte) {
	if in.running.Add(1) > 1 {
		in.overlap.Store(true)
	}
	defer in.running.Add(-1)
	in.mu.Lock()
	in.got = append(in.got, bytes.Clone(payload))
	in.mu.Unlock()
	select {
	case in.signal <- struct{}{}:
	default:
	}
}

// payloads returns a copy of what the inbox has received so far.
func (in *inbox) payloads() [][]byte {
	in.mu.Lock()
	defer in.mu.Unlock()
	return append([][]byte(nil), in.got...)
}

// wait waits until the inbox holds at least n payloads or ctx is done, and
// returns what it holds. It reports a shortfall.
func (in *inbox) wait(ctx context.Context, o Options, n int, what string) [][]byte {
	in.t.Helper()
	for {
		got := in.payloads()
		if len(got) >= n {
			return got
		}
		select {
		case <-in.signal:
		case <-ctx.Done():
			in.t.Errorf("%s got %d of %d payloads before the watchdog fired (Options.Timeout = %v), after %s; want every payload delivered to every subscriber of its channel, the publisher's own included",
				in.name, len(got), n, o.timeout(), what)
			return got
		}
	}
}

// expect waits for want and checks that the inbox received exactly it.
func (in *inbox) expect(ctx context.Context, o Options, want [][]byte, what string) {
	in.t.Helper()
	got := in.wait(ctx, o, len(want), what)
	if len(got) > len(want) {
		in.t.Errorf("%s got %d payloads; want %d: %s", in.name, len(got), len(want), what)
	}
	for i := range min(len(got), len(want)) {
		if !bytes.Equal(got[i], want[i]) {
			msg := fmt.Sprintf("%s: payload %d = %s; want %s", in.name, i, qb(got[i]), qb(want[i]))
			if len(got[i]) != len(want[i]) {
				msg += fmt.Sprintf(" (got %d bytes, want %d)", len(got[i]), len(want[i]))
			} else {
				msg += fmt.Sprintf(" (first difference at byte %d)", firstDiff(got[i], want[i]))
			}
			in.t.Error(msg + "; " + what + ": a Bus delivers the exact bytes published, in order")
			return
		}
	}
}

// none checks that the inbox received nothing.
func (in *inbox) none(why string) {
	in.t.Helper()
	if got := in.payloads(); len(got) > 0 {
		in.t.Errorf("%s got %d payloads, the first %s; want none: %s", in.name, len(got), qb(got[0]), why)
	}
}

func busReachesEvery(t *testing.T, e *busEnv) {
	a, b := e.driver(t, "first"), e.driver(t, "second")
	ch := randomName()
	ra, rb := a.subscribe(ch), b.subscribe(ch)
	a.publish(ch, []byte("from first"))
	b.publish(ch, []byte("from second"))
	what := fmt.Sprintf(`published with first.Publish(ctx, %q, "from first") then second.Publish(ctx, %[1]q, "from second")`, ch)
	for _, in := range []*inbox{ra, rb} {
		got := in.wait(e.ctx, e.o, 2, what)
		have := make([]string, len(got))
		for i, p := range got {
			have[i] = string(p)
		}
		for _, w := range []string{"from first", "from second"} {
			if !slices.Contains(have, w) {
				t.Errorf("%s got %q; want it to contain %q: %s", in.name, have, w, what)
			}
		}
		if len(got) > 2 {
			t.Errorf("%s got %d payloads; want 2: each payload is delivered once", in.name, len(got))
		}
	}
}

func busNoSubscribers(t *testing.T, e *busEnv) {
	a := e.driver(t, "first")
	a.publish(randomName(), []byte("nobody listens"))
}

func busPayload(t *testing.T, e *busEnv, payload []byte) {
	a, b := e.driver(t, "first"), e.driver(t, "second")
	ch := randomName()
	ra, rb := a.subscribe(ch), b.subscribe(ch)
	a.publish(ch, payload)
	a.publish(ch, []byte("after"))
	what := fmt.Sprintf("first.Publish(ctx, %q, %s) then first.Publish(ctx, %[1]q, \"after\")", ch, qb(payload))
	for _, in := range []*inbox{ra, rb} {
		in.expect(e.ctx, e.o, [][]byte{payload, []byte("after")}, what)
	}
}

func busPublisherMayReuse(t *testing.T, e *busEnv) {
	a, b := e.driver(t, "first"), e.driver(t, "second")
	ch := randomName()
	ra, rb := a.subscribe(ch), b.subscribe(ch)
	buf := []byte("original")
	a.publish(ch, buf)
	copy(buf, "CHANGED!")
	a.publish(ch, buf)
	what := fmt.Sprintf(`first.Publish(ctx, %q, buf) with buf "original", then again after overwriting buf with "CHANGED!": Publish must not keep the caller's slice`, ch)
	for _, in := range []*inbox{ra, rb} {
		in.expect(e.ctx, e.o, [][]byte{[]byte("original"), []byte("CHANGED!")}, what)
	}
}

func busOrder(t *testing.T, e *busEnv) {
	a, b := e.driver(t, "first"), e.driver(t, "second")
	ch := randomName()
	ra, rb := a.subscribe(ch), b.subscribe(ch)
	var want [][]byte
	for i := range 100 {
		n := i
		if i%10 == 9 {
			n = 20 << 10 // some payloads large enough for a transport to split them
		}
		p := fmt.Appendf(nil, "%03d:", i)
		p = append(p, bytes.Repeat([]byte{byte('a' + i%26)}, n)...)
		want = append(want, p)
		a.publish(ch, p)
	}
	what := fmt.Sprintf("100 payloads published in order by first.Publish(ctx, %q, …)", ch)
	for _, in := range []*inbox{ra, rb} {
		in.expect(e.ctx, e.o, want, what)
	}
}

func busChannelIsolated(t *testing.T, e *busEnv) {
	a, b := e.driver(t, "first"), e.driver(t, "second")
	ch := randomName()
	others := []string{ch + "x", ch[:len(ch)-1], strings.ToUpper(ch), ch + ".*", ch + "*"}
	main := b.subscribe(ch)
	inboxes := make([]*inbox, len(others))
	for i, o := range others {
		inboxes[i] = b.subscribe(o)
	}
	for _, o := range others {
		a.publish(o, []byte("on "+o))
	}
	for i, o := range others {
		inboxes[i].expect(e.ctx, e.o, [][]byte{[]byte("on " + o)}, fmt.Sprintf("first.Publish(ctx, %q, %q)", o, "on "+o))
	}
	a.publish(ch, []byte("marker"))
	got := main.wait(e.ctx, e.o, 1, fmt.Sprintf(`first.Publish(ctx, %q, "marker")`, ch))
	if len(got) != 1 || string(got[0]) != "marker" {
		t.Errorf("%s got %q; want only \"marker\": payloads published on %q must reach only that channel's subscribers", main.name, got, others)
	}
}

func busOutlivesContext(t *testing.T, e *busEnv) {
	a, b := e.driver(t, "first"), e.driver(t, "second")
	ch := randomName()
	ctx, cancel := context.WithCancel(e.ctx)
	rb := newInbox(t, fmt.Sprintf("second bus's subscription to %q", ch))
	if err := b.b.Subscribe(ctx, ch, rb.handle); err != nil {
		t.Fatalf("second.Subscribe(ctx, %q, handler) = %v; want <nil>", ch, err)
	}
	cancel()
	a.publish(ch, []byte("after cancel"))
	rb.expect(e.ctx, e.o, [][]byte{[]byte("after cancel")}, fmt.Sprintf(`first.Publish(ctx, %q, "after cancel") after the context given to Subscribe was cancelled: a subscription lasts until Unsubscribe or Disconnect, a Bus never keeps the caller's context`, ch))
}

func busUnsubscribe(t *testing.T, e *busEnv) {
	a, b := e.driver(t, "first"), e.driver(t, "second")
	ch, witness := randomName(), randomName()
	ra := a.subscribe(ch)
	rb := b.subscribe(ch)
	rw := b.subscribe(witness)
	b.unsubscribe(ch)
	a.publish(ch, []byte("after unsubscribe"))
	ra.expect(e.ctx, e.o, [][]byte{[]byte("after unsubscribe")}, fmt.Sprintf(`first.Publish(ctx, %q, "after unsubscribe")`, ch))
	a.publish(witness, []byte("witness"))
	rw.expect(e.ctx, e.o, [][]byte{[]byte("witness")}, fmt.Sprintf(`first.Publish(ctx, %q, "witness") after second.Unsubscribe(ctx, %q): Unsubscribe stops only its own channel`, witness, ch))
	rb.none(fmt.Sprintf("second.Unsubscribe(ctx, %q) stops deliveries on the channel", ch))
}

func busResubscribe(t *testing.T, e *busEnv) {
	a, b := e.driver(t, "first"), e.driver(t, "second")
	ch := randomName()
	old := b.subscribe(ch)
	b.unsubscribe(ch)
	cur := b.subscribe(ch)
	a.publish(ch, []byte("again"))
	cur.expect(e.ctx, e.o, [][]byte{[]byte("again")}, fmt.Sprintf(`first.Publish(ctx, %q, "again") after second subscribed, unsubscribed and subscribed again`, ch))
	old.none(fmt.Sprintf("the handler given to the first second.Subscribe(ctx, %q, …) was unsubscribed", ch))
}

func busFromHandler(t *testing.T, e *busEnv) {
	a, b := e.driver(t, "first"), e.driver(t, "second")
	ch, ch2 := randomName(), randomName()
	var (
		mu   sync.Mutex
		errs []string
	)
	ra := newInbox(t, fmt.Sprintf("first bus's subscription to %q", ch))
	handler := func(p []byte) {
		ra.handle(p)
		if string(p) != "ping" {
			return
		}
		for _, c := range []struct {
			channel string
			payload string
		}{{ch2, "from handler"}, {ch, "pong"}} {
			if err := a.b.Publish(e.ctx, c.channel, []byte(c.payload)); err != nil {
				mu.Lock()
				errs = append(errs, fmt.Sprintf("first.Publish(ctx, %q, %q) from first's handler = %v; want <nil>", c.channel, c.payload, err))
				mu.Unlock()
			}
		}
	}
	if err := a.b.Subscribe(e.ctx, ch, handler); err != nil {
		t.Fatalf("first.Subscribe(ctx, %q, handler) = %v; want <nil>", ch, err)
	}
	ra2, rb2 := a.subscribe(ch2), b.subscribe(ch2)
	a.publish(ch, []byte("ping"))
	what := fmt.Sprintf(`published by first's handler for %q, from inside the handler: a handler may publish, even on its own channel, without deadlocking`, ch)
	for _, in := range []*inbox{rb2, ra2} {
		in.expect(e.ctx, e.o, [][]byte{[]byte("from handler")}, what)
	}
	ra.expect(e.ctx, e.o, [][]byte{[]byte("ping"), []byte("pong")}, what)
	mu.Lock()
	defer mu.Unlock()
	for _, m := range errs {
		t.Error(m)
	}
}

func busDisconnectStops(t *testing.T, e *busEnv) {
	a, b, w := e.driver(t, "first"), e.driver(t, "second"), e.driver(t, "third")
	ch := randomName()
	rb, rw := b.subscribe(ch), w.subscribe(ch)
	if err := b.b.Disconnect(); err != nil {
		t.Fatalf("second.Disconnect() = %v; want <nil>", err)
	}
	a.publish(ch, []byte("after disconnect"))
	rw.expect(e.ctx, e.o, [][]byte{[]byte("after disconnect")}, fmt.Sprintf(`first.Publish(ctx, %q, "after disconnect")`, ch))
	rb.none("second.Disconnect() stops every delivery to that bus")
}

func busDisconnectTwice(t *testing.T, e *busEnv) {
	a := e.driver(t, "first")
	a.subscribe(randomName())
	if err := a.b.Disconnect(); err != nil {
		t.Errorf("Disconnect() = %v; want <nil>", err)
	}
	if err := a.b.Disconnect(); err != nil {
		t.Errorf("second Disconnect() = %v; want <nil>: calling it twice is fine", err)
	}
}
