package nats_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	natsgo "github.com/nats-io/nats.go"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"

	"github.com/bentocache/bento"
	"github.com/bentocache/bento/drivertest"
	"github.com/bentocache/bento/internal/caddyfiletest"
	"github.com/bentocache/bento/internal/configtest"
	"github.com/bentocache/bento/internal/natsconn"
	"github.com/bentocache/bento/internal/tcpproxy"
	"github.com/bentocache/bento/internal/testenv"
	natsbus "github.com/bentocache/bento/modules/buses/nats"
	_ "github.com/bentocache/bento/modules/drivers/memory"
)

// waitTimeout bounds a wait for a delivery or a reconnect, on a loaded
// machine.
const waitTimeout = 15 * time.Second

// prefixed is a bento.Bus that puts a prefix before every channel name, so
// that the suites of tests sharing a server never share a subject.
type prefixed struct {
	bento.Bus
	prefix string
}

func (p prefixed) Publish(ctx context.Context, channel string, payload []byte) error {
	return p.Bus.Publish(ctx, p.prefix+"."+channel, payload)
}

func (p prefixed) Subscribe(ctx context.Context, channel string, handler func([]byte)) error {
	return p.Bus.Subscribe(ctx, p.prefix+"."+channel, handler)
}

func (p prefixed) Unsubscribe(ctx context.Context, channel string) error {
	return p.Bus.Unsubscribe(ctx, p.prefix+"."+channel)
}

// opener returns an open function for drivertest.Bus: a bus on the options
// mk returns, its subjects under a prefix of t's own, disconnected when the
// subtest ends.
func opener(t *testing.T, mk func() natsbus.Options) func(t *testing.T) bento.Bus {
	prefix := testenv.Prefix(t)
	return func(t *testing.T) bento.Bus {
		b := natsbus.New(mk())
		if err := b.Validate(); err != nil {
			t.Fatalf("Validate() = %v; want <nil>", err)
		}
		t.Cleanup(func() {
			if err := b.Disconnect(); err != nil {
				t.Errorf("Disconnect() = %v; want <nil>", err)
			}
		})
		return prefixed{Bus: b, prefix: prefix}
	}
}

func TestBus_Suite(t *testing.T) {
	url := testenv.NATS(t)
	drivertest.Bus(t, opener(t, func() natsbus.Options { return natsbus.Options{Servers: []string{url}} }), drivertest.Options{})
}

// TestBus_SuiteOnUserConn runs the suite on buses that share one
// connection of the application's, which must stay open after them.
func TestBus_SuiteOnUserConn(t *testing.T) {
	nc := connect(t, testenv.NATS(t))
	t.Run("Suite", func(t *testing.T) {
		drivertest.Bus(t, opener(t, func() natsbus.Options { return natsbus.Options{Conn: nc} }), drivertest.Options{})
	})
	if nc.IsClosed() {
		t.Errorf("the application's connection is closed after the buses on it disconnected; a bus never closes a connection it did not open")
	}
}

// connect returns a connection of the test's own, closed when t ends.
func connect(t *testing.T, url string, opts ...natsgo.Option) *natsgo.Conn {
	t.Helper()
	nc, err := natsgo.Connect(url, opts...)
	if err != nil {
		t.Fatalf("nats.Connect(%q) = %v", url, err)
	}
	t.Cleanup(nc.Close)
	return nc
}

// inbox collects the payloads a handler receives.
type inbox struct {
	mu     sync.Mutex
	got    []string
	signal chan struct{}
}

func newInbox() *inbox { return &inbox{signal: make(chan struct{}, 1)} }

func (in *inbox) handle(p []byte) {
	in.mu.Lock()
	in.got = append(in.got, string(p))
	in.mu.Unlock()
	select {
	case in.signal <- struct{}{}:
	default:
	}
}

func (in *inbox) payloads() []string {
	in.mu.Lock()
	defer in.mu.Unlock()
	return append([]string(nil), in.got...)
}

// waitFor waits until the inbox holds want, up to waitTimeout, and reports
// whether it does.
func (in *inbox) waitFor(t *testing.T, want string) bool {
	t.Helper()
	timer := time.NewTimer(waitTimeout)
	defer timer.Stop()
	for {
		for _, p := range in.payloads() {
			if p == want {
				return true
			}
		}
		select {
		case <-in.signal:
		case <-timer.C:
			return false
		case <-t.Context().Done():
			return false
		}
	}
}

// eventually calls cond every 20ms until it returns true or timeout has
// passed, and reports whether it returned true.
func eventually(t *testing.T, timeout time.Duration, cond func() bool) bool {
	t.Helper()
	deadline := time.Now().Add(timeout)
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		if time.Now().After(deadline) {
			return cond()
		}
		select {
		case <-t.Context().Done():
			return false
		case <-tick.C:
		}
	}
	return true
}

// TestBus_ReconnectAfterCut runs a bus through a proxy that drops its
// connection and refuses new ones, then lets them through again: a publish
// during the cut fails (nothing is buffered behind bento's outbox), the bus
// reports the reconnect through OnReconnect once the server has its
// subscription again, and the subscription receives without any help.
func TestBus_ReconnectAfterCut(t *testing.T) {
	url := testenv.NATS(t)
	proxy := tcpproxy.Start(t, testenv.NATSAddr(t))
	pub := connect(t, url)
	core, logs := observer.New(zap.InfoLevel)
	b := natsbus.New(natsbus.Options{
		Servers:       []string{"nats://" + proxy.Addr()},
		ReconnectWait: 50 * time.Millisecond,
		DialTimeout:   time.Second,
		Logger:        zap.New(core),
	})
	t.Cleanup(func() { _ = b.Disconnect() })
	var reconnects atomic.Int32
	b.OnReconnect(func() { reconnects.Add(1) })
	subject := testenv.Prefix(t)
	in := newInbox()
	if err := b.Subscribe(t.Context(), subject, in.handle); err != nil {
		t.Fatalf("Subscribe(ctx, %q, …) = %v", subject, err)
	}
	if err := pub.Publish(subject, []byte("before")); err != nil {
		t.Fatal(err)
	}
	if !in.waitFor(t, "before") {
		t.Fatalf("the subscription got %q before the cut; want %q", in.payloads(), "before")
	}

	proxy.Cut()
	if !eventually(t, waitTimeout, func() bool { return logs.FilterMessageSnippet("connection lost").Len() > 0 }) {
		t.Fatalf("the bus did not log the lost connection within %v of the cut", waitTimeout)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Second)
	err := b.Publish(ctx, subject, []byte("during"))
	cancel()
	if err == nil || !strings.HasPrefix(err.Error(), "nats bus: publish on ") {
		t.Errorf("Publish while the server is cut off = %v; want a \"nats bus: publish on\" error, so that bento's outbox keeps the message", err)
	}
	if n := reconnects.Load(); n != 0 {
		t.Errorf("OnReconnect callbacks ran %d times while the server was still cut off; want 0", n)
	}

	proxy.Restore()
	if !eventually(t, waitTimeout, func() bool { return reconnects.Load() > 0 }) {
		t.Fatalf("OnReconnect callbacks did not run within %v of the proxy's restore", waitTimeout)
	}
	// The server has the subscription once OnReconnect runs: a publish from
	// another connection, flushed, reaches it.
	if err := pub.Publish(subject, []byte("after")); err != nil {
		t.Fatal(err)
	}
	if !in.waitFor(t, "after") {
		t.Errorf("the subscription got %q after the reconnect; want %q", in.payloads(), "after")
	}
	if err := b.Publish(t.Context(), subject, []byte("by the bus")); err != nil {
		t.Errorf("Publish after the reconnect = %v; want <nil>", err)
	}
	if !in.waitFor(t, "by the bus") {
		t.Errorf("the subscription got %q; want the bus's own payload", in.payloads())
	}
	if got := in.payloads(); strings.Contains(strings.Join(got, ","), "during") {
		t.Errorf("the subscription got %q; the payload whose Publish failed must not arrive", got)
	}
	if n := reconnects.Load(); n != 1 {
		t.Errorf("OnReconnect callbacks ran %d times for one outage; want 1", n)
	}
}

// TestBus_ServerDownAtStart starts a bus whose server is cut off before its
// first use: Subscribe fails within its context, and once the server
// answers the bus connects, reports a reconnect and receives.
func TestBus_ServerDownAtStart(t *testing.T) {
	testenv.NATS(t)
	proxy := tcpproxy.Start(t, testenv.NATSAddr(t))
	proxy.Cut()
	b := natsbus.New(natsbus.Options{Servers: []string{"nats://" + proxy.Addr()}, ReconnectWait: 50 * time.Millisecond})
	t.Cleanup(func() { _ = b.Disconnect() })
	reconnected := make(chan struct{}, 1)
	b.OnReconnect(func() {
		select {
		case reconnected <- struct{}{}:
		default:
		}
	})
	subject := testenv.Prefix(t)
	in := newInbox()
	ctx, cancel := context.WithTimeout(t.Context(), 500*time.Millisecond)
	err := b.Subscribe(ctx, subject, in.handle)
	cancel()
	if err == nil {
		t.Fatalf("Subscribe with the server cut off = <nil>; want an error")
	}
	proxy.Restore()
	select {
	case <-reconnected:
	case <-time.After(waitTimeout):
		t.Fatalf("OnReconnect did not run within %v of the server answering", waitTimeout)
	}
	if err := b.Subscribe(t.Context(), subject, in.handle); err != nil {
		t.Fatalf("Subscribe once the server answers = %v; want <nil>", err)
	}
	if err := b.Publish(t.Context(), subject, []byte("x")); err != nil {
		t.Fatalf("Publish once the server answers = %v; want <nil>", err)
	}
	if !in.waitFor(t, "x") {
		t.Errorf("the subscription got %q; want %q", in.payloads(), "x")
	}
}

func TestSubject(t *testing.T) {
	tests := []struct{ channel, want string }{
		{"bento.bus:app:main", "bento.bus:app:main"},
		{"bento.bus::main", "bento.bus::main"},
		{"", "%"},
		{"a..b", "a.%.b"},
		{".a.", "%.a.%"},
		{"a.*", "a.%2A"},
		{"a.>", "a.%3E"},
		{"a b", "a%20b"},
		{"50%", "50%25"},
		{"é", "%C3%A9"},
	}
	seen := map[string]string{}
	for _, tt := range tests {
		got := natsbus.Subject(tt.channel)
		if got != tt.want {
			t.Errorf("Subject(%q) = %q; want %q", tt.channel, got, tt.want)
		}
		if other, ok := seen[got]; ok {
			t.Errorf("Subject(%q) = Subject(%q) = %q; want distinct subjects", tt.channel, other, got)
		}
		seen[got] = tt.channel
	}
}

func TestBus_AfterDisconnect(t *testing.T) {
	b := natsbus.New(natsbus.Options{Servers: []string{testenv.NATS(t)}})
	if err := b.Disconnect(); err != nil {
		t.Fatal(err)
	}
	if err := b.Publish(t.Context(), "a", []byte("x")); !errors.Is(err, natsbus.ErrClosed) {
		t.Errorf("Publish after Disconnect = %v; want natsbus.ErrClosed", err)
	}
	if err := b.Subscribe(t.Context(), "a", func([]byte) {}); !errors.Is(err, natsbus.ErrClosed) {
		t.Errorf("Subscribe after Disconnect = %v; want natsbus.ErrClosed", err)
	}
	if err := b.Unsubscribe(t.Context(), "a"); err != nil {
		t.Errorf("Unsubscribe after Disconnect = %v; want <nil>", err)
	}
}

func TestBus_UnmarshalCaddyfile(t *testing.T) {
	tests := []caddyfiletest.Case{
		{Name: "Bare", Input: `nats`, Want: `{}`},
		{Name: "ShortForm", Input: `nats nats://a:4222 nats://b:4222`, Want: `{"servers":["nats://a:4222","nats://b:4222"]}`},
		{Name: "Block", Input: `nats nats://a:4222 {
			servers nats://b:4222
			name app
			username u
			password p
			tls
			tls_server_name nats.example
			tls_insecure_skip_verify
			dial_timeout 1s
			reconnect_wait 250ms
			ping_interval 5s
		}`, Want: `{"servers":["nats://a:4222","nats://b:4222"],"name":"app","username":"u","password":"p","tls":true,` +
			`"tls_server_name":"nats.example","tls_insecure_skip_verify":true,"dial_timeout":1000000000,"reconnect_wait":250000000,"ping_interval":5000000000}`},
		{Name: "Token", Input: "nats {\n\ttoken s3cret\n}", Want: `{"token":"s3cret"}`},
		{Name: "Creds", Input: "nats {\n\tcreds_file /etc/nats/app.creds\n}", Want: `{"creds_file":"/etc/nats/app.creds"}`},
	}
	caddyfiletest.JSON(t, func() *natsbus.Bus { return new(natsbus.Bus) }, tests)
}

func TestBus_UnmarshalCaddyfileErrors(t *testing.T) {
	tests := []struct{ name, input, wantErr string }{
		{name: "Unknown", input: "nats {\n\tprefix app\n}", wantErr: `unknown nats bus option "prefix"`},
		{name: "ServersEmpty", input: "nats {\n\tservers\n}", wantErr: "servers needs at least one URL"},
		{name: "BadDuration", input: "nats {\n\tping_interval often\n}", wantErr: `ping_interval: invalid duration "often"`},
		{name: "FlagWithValue", input: "nats {\n\ttls yes\n}", wantErr: `tls takes no value, got "yes"`},
		{name: "TwoValues", input: "nats {\n\ttoken a b\n}", wantErr: "token takes one value, got 2"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := new(natsbus.Bus).UnmarshalCaddyfile(caddyfile.NewTestDispenser(tt.input))
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("UnmarshalCaddyfile(%q) = %v; want an error containing %q", tt.input, err, tt.wantErr)
			}
		})
	}
}

func TestBus_ConfigErrors(t *testing.T) {
	tests := []struct {
		name, bus string
		wantErr   []string
	}{
		{name: "EmptyServer", bus: `{"bus": "nats", "servers": [""]}`,
			wantErr: []string{`stores.main.bus`, "bento.buses.nats", "nats bus: servers[0] is empty"}},
		{name: "TwoAuths", bus: `{"bus": "nats", "username": "u", "token": "t"}`,
			wantErr: []string{"bento.buses.nats", "nats bus: more than one of username/password, token and creds_file"}},
		{name: "SkipVerifyWithoutTLS", bus: `{"bus": "nats", "tls_insecure_skip_verify": true}`,
			wantErr: []string{"nats bus: tls_insecure_skip_verify is set but tls is off"}},
		{name: "NegativePing", bus: `{"bus": "nats", "ping_interval": "-1s"}`,
			wantErr: []string{"nats bus: ping_interval is -1s"}},
		{name: "BadDuration", bus: `{"bus": "nats", "reconnect_wait": "often"}`,
			wantErr: []string{"bento.buses.nats", "often"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := fmt.Sprintf(`{"stores": {"main": {"l1": {"driver": "memory"}, "bus": %s}}}`, tt.bus)
			configtest.LoadFails(t, cfg, tt.wantErr...)
		})
	}
}

func TestBus_ValidateConnWithFields(t *testing.T) {
	b := natsbus.New(natsbus.Options{Conn: new(natsgo.Conn), Servers: []string{"nats://a:4222"}})
	err := b.Validate()
	if err == nil || !strings.Contains(err.Error(), "nats bus: conn and servers are both set") {
		t.Errorf("Validate() with Conn and Servers = %v; want an error naming both", err)
	}
}

func TestBus_ProvisionDoesNoIO(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	url := "nats://" + ln.Addr().String() // nothing listens once closed
	_ = ln.Close()
	b := &natsbus.Bus{Servers: []string{url}, PingInterval: caddy.Duration(time.Second)}
	ctx, cancel := caddy.NewContext(caddy.Context{Context: t.Context()})
	defer cancel()
	start := time.Now()
	if err := b.Provision(ctx); err != nil {
		t.Fatalf("Provision() = %v; want <nil>", err)
	}
	if err := b.Validate(); err != nil {
		t.Errorf("Validate() = %v; want <nil>", err)
	}
	if d := time.Since(start); d > 100*time.Millisecond {
		t.Errorf("Provision and Validate took %v with an unreachable server; want no I/O", d)
	}
	conf := natsconn.Config{Servers: []string{url}, PingInterval: time.Second}
	if refs := natsconn.Pooled(conf); refs != 1 {
		t.Errorf("after Provision the pool holds the connection %d times; want 1", refs)
	}
	for i := range 2 {
		if err := b.Cleanup(); err != nil {
			t.Errorf("Cleanup() #%d = %v; want <nil>", i+1, err)
		}
	}
	if refs := natsconn.Pooled(conf); refs != 0 {
		t.Errorf("after Cleanup the pool holds the connection %d times; want released", refs)
	}
	if err := new(natsbus.Bus).Cleanup(); err != nil {
		t.Errorf("Cleanup() of a bus never provisioned = %v; want <nil>", err)
	}
}

// TestLoadJSON_Bus runs two instances of a store whose L1s are kept
// coherent by a nats bus loaded from JSON: a write on one makes the other's
// L1 copy stale, and no goroutine of the bus or of nats.go outlives Close.
func TestLoadJSON_Bus(t *testing.T) {
	url := testenv.NATS(t)
	channel := testenv.Prefix(t)
	before := stacks()
	load := func(store string) *bento.Bento {
		t.Helper()
		cfg := fmt.Sprintf(`{"stores": {%q: {
			"bus_channel": %q,
			"grace": "1h",
			"l1": {"driver": "memory"},
			"bus": {"bus": "nats", "servers": [%q]}
		}}}`, store, channel, url)
		b, err := bento.LoadJSON(t.Context(), []byte(cfg))
		if err != nil {
			t.Fatalf("LoadJSON = %v; want <nil>", err)
		}
		return b
	}
	a, b := load("a"), load("b")
	ctx := t.Context()
	for _, m := range []*bento.Bento{a, b} {
		if err := m.Default().Set(ctx, "k", "v1", bento.SkipBusNotify()); err != nil {
			t.Fatal(err)
		}
	}
	if err := a.Default().Set(ctx, "k", "v2"); err != nil {
		t.Fatal(err)
	}
	graced := false
	b.On(func(e bento.Event) {
		if e.Kind == bento.EventHit && e.Key == "k" && e.Graced {
			graced = true
		}
	})
	if !eventually(t, waitTimeout, func() bool {
		_, _, _ = bento.Get[string](ctx, b.Default(), "k")
		return graced
	}) {
		t.Errorf("b's L1 copy of %q is still fresh %v after a.Set on the bus; want it stale", "k", waitTimeout)
	}
	for _, m := range []*bento.Bento{a, b} {
		if err := m.Close(); err != nil {
			t.Errorf("Close() = %v; want <nil>", err)
		}
	}
	if !eventually(t, 5*time.Second, func() bool { return len(stacks()) <= len(before) }) {
		t.Errorf("goroutines of the bus or nats.go outlive Close:\n%s", strings.Join(stacks(), "\n\n"))
	}
}

// stacks returns the stacks of the goroutines that run code of the bus
// package or of nats.go.
func stacks() []string {
	buf := make([]byte, 1<<20)
	buf = buf[:runtime.Stack(buf, true)]
	var out []string
	for g := range strings.SplitSeq(string(buf), "\n\n") {
		if strings.Contains(g, "bento/modules/buses/nats.") || strings.Contains(g, "nats-io/nats.go.") {
			out = append(out, g)
		}
	}
	return out
}
