package postgres

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/url"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/caddyserver/caddy/v2"

	"github.com/bentocache/bento"
	"github.com/bentocache/bento/drivertest"
	"github.com/bentocache/bento/internal/configtest"
	"github.com/bentocache/bento/internal/testenv"
	"github.com/bentocache/bento/modules/drivers/memory"
)

// waitTimeout bounds every wait for a delivery or a reconnect: generous,
// for a loaded 2-core machine.
const waitTimeout = 15 * time.Second

func TestBus(t *testing.T) {
	t.Parallel()
	dsn := testenv.Postgres(t)
	drivertest.Bus(t, func(t *testing.T) bento.Bus {
		return newBus(t, Options{DSN: dsn})
	}, drivertest.Options{})
}

// TestBus_Pool runs the suite on buses that share one pool and have no DSN:
// they publish on the pool and open their listening connection with the
// configuration of the pool's connections.
func TestBus_Pool(t *testing.T) {
	t.Parallel()
	pool := newConnPool(t, testenv.Postgres(t), 4)
	drivertest.Bus(t, func(t *testing.T) bento.Bus {
		return newBus(t, Options{Pool: pool})
	}, drivertest.Options{})
}

func TestNew_DoesNoIO(t *testing.T) {
	t.Parallel()
	b := New(Options{DSN: "postgres://nobody@127.0.0.1:1/none?connect_timeout=1"})
	if err := b.Validate(); err != nil {
		t.Errorf("Validate() = %v; want <nil>", err)
	}
	if err := b.Disconnect(); err != nil {
		t.Errorf("Disconnect() on a bus that never connected = %v; want <nil>", err)
	}
}

func TestValidate(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		o       Options
		wantErr string
	}{
		{name: "Empty", o: Options{}, wantErr: "neither Pool nor DSN"},
		{name: "BadDSN", o: Options{DSN: "postgres://a b@%zz"}, wantErr: "parsing DSN"},
		{name: "DSN", o: Options{DSN: "postgres://postgres@127.0.0.1:5432/test"}},
		{name: "KeyValueDSN", o: Options{DSN: "host=127.0.0.1 user=postgres dbname=test"}},
		{name: "Pool", o: Options{Pool: new(connPool)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := New(tt.o).Validate()
			switch {
			case tt.wantErr == "" && err != nil:
				t.Errorf("Validate() = %v; want <nil>", err)
			case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
				t.Errorf("Validate() = %v; want an error containing %q", err, tt.wantErr)
			}
		})
	}
}

func TestSubscribe_Unreachable(t *testing.T) {
	t.Parallel()
	b := newBus(t, Options{DSN: "postgres://postgres@127.0.0.1:1/test?sslmode=disable", ConnectTimeout: 2 * time.Second})
	err := b.Subscribe(t.Context(), "ch", func([]byte) {})
	if err == nil || !strings.Contains(err.Error(), "opening the listening connection") {
		t.Fatalf("Subscribe(ctx, %q, handler) with no server = %v; want an error about the listening connection", "ch", err)
	}
	if err := b.Publish(t.Context(), "ch", []byte("x")); err == nil {
		t.Errorf("Publish(ctx, %q, %q) with no server = <nil>; want an error", "ch", "x")
	}
}

func TestPublish_TooLarge(t *testing.T) {
	t.Parallel()
	b := newBus(t, Options{DSN: "postgres://postgres@127.0.0.1:1/test"})
	err := b.Publish(t.Context(), "ch", make([]byte, MaxPayload+1))
	if !errors.Is(err, ErrTooLarge) {
		t.Errorf("Publish(ctx, %q, <%d bytes>) = %v; want an error wrapping ErrTooLarge", "ch", MaxPayload+1, err)
	}
}

func TestDisconnect_ThenPublishAndSubscribe(t *testing.T) {
	t.Parallel()
	b := newBus(t, Options{DSN: testenv.Postgres(t)})
	ch := testenv.Prefix(t)
	subscribe(t, b, ch)
	publish(t, b, ch, []byte("before"))
	if err := b.Disconnect(); err != nil {
		t.Fatalf("Disconnect() = %v; want <nil>", err)
	}
	if err := b.Publish(t.Context(), ch, []byte("after")); !errors.Is(err, ErrClosed) {
		t.Errorf("Publish(ctx, %q, %q) after Disconnect = %v; want ErrClosed", ch, "after", err)
	}
	if err := b.Subscribe(t.Context(), ch, func([]byte) {}); !errors.Is(err, ErrClosed) {
		t.Errorf("Subscribe(ctx, %q, handler) after Disconnect = %v; want ErrClosed", ch, err)
	}
	if err := b.Unsubscribe(t.Context(), ch); err != nil {
		t.Errorf("Unsubscribe(ctx, %q) after Disconnect = %v; want <nil>", ch, err)
	}
}

func TestDisconnect_KeepsUserPool(t *testing.T) {
	t.Parallel()
	pool := newConnPool(t, testenv.Postgres(t), 1)
	b := New(Options{Pool: pool})
	ch := testenv.Prefix(t)
	in := subscribe(t, b, ch)
	publish(t, b, ch, []byte("x"))
	in.expect(t, []byte("x"))
	if err := b.Disconnect(); err != nil {
		t.Fatalf("Disconnect() = %v; want <nil>", err)
	}
	if _, err := pool.Exec(t.Context(), "SELECT 1"); err != nil {
		t.Errorf("pool.Exec(ctx, %q) after the bus's Disconnect = %v; want <nil>: the bus never closes Options.Pool", "SELECT 1", err)
	}
}

// TestPublish_PayloadSizes sends payloads around PostgreSQL's limit of 8000
// bytes and the bus's chunk size, in one order, on the bus's own connection
// and on a pool.
func TestPublish_PayloadSizes(t *testing.T) {
	t.Parallel()
	dsn := testenv.Postgres(t)
	all := make([]byte, 256)
	for i := range all {
		all[i] = byte(i)
	}
	var payloads [][]byte
	for _, n := range []int{0, 1, chunkSize - 1, chunkSize, chunkSize + 1, 7999, 8000, 2 * chunkSize, 100 << 10, 1 << 20} {
		payloads = append(payloads, pattern(n))
	}
	payloads = append(payloads, all, bytes.Repeat(all, 100))
	for _, publisher := range []string{"own", "pool"} {
		t.Run("publisher="+publisher, func(t *testing.T) {
			t.Parallel()
			o := Options{DSN: dsn}
			if publisher == "pool" {
				o.Pool = newConnPool(t, dsn, 1)
			}
			b := newBus(t, o)
			ch := testenv.Prefix(t)
			in := subscribe(t, b, ch)
			for _, p := range payloads {
				publish(t, b, ch, p)
			}
			in.expect(t, payloads...)
		})
	}
}

// TestListen_MalformedDropped sends garbage with pg_notify on the channel a
// bus listens on: each is dropped without a panic, and the next real
// payload still arrives, alone.
func TestListen_MalformedDropped(t *testing.T) {
	t.Parallel()
	dsn := testenv.Postgres(t)
	core, logs := observer.New(zap.WarnLevel)
	b := newBus(t, Options{DSN: dsn, Logger: zap.New(core)})
	ch := testenv.Prefix(t)
	in := subscribe(t, b, ch)
	raw, err := pgx.Connect(t.Context(), dsn)
	if err != nil {
		t.Fatalf("pgx.Connect: %v", err)
	}
	t.Cleanup(func() { raw.Close(context.Background()) })

	good, err := encodeChunks("0123456789abcdef", 1, pattern(3*chunkSize))
	if err != nil {
		t.Fatal(err)
	}
	garbage := []string{
		"",
		"hello",
		"b1",
		"b1:",
		"b2:0123456789abcdef:1:0:1:",
		"b1:0123456789abcdef:1:0:1:not base64!",
		"b1:0123456789abcdef:1:0:1:QQ", // unpadded
		"b1::1:0:1:QQ==",               // no sender
		"b1:" + strings.Repeat("s", maxSender+1) + ":1:0:1:",
		"b1:s:-1:0:1:",                   // negative id
		"b1:s:18446744073709551616:0:1:", // id overflow
		"b1:s:1:+0:1:",
		"b1:s:1:0:0:",         // no chunks
		"b1:s:1:1:1:",         // seq past total
		"b1:s:1:0:999999999:", // too many chunks
		"b1:s:1:0:2",          // four fields
		"b1:s:2:1:3:" + strings.Repeat("A", 7800), // middle chunk, no start
		good[0], // a start, then a gap
		good[2],
		good[0], // a start, then a chunk of another total
		strings.Replace(good[1], ":1:3:", ":1:4:", 1),
		good[0], // a start, then a short middle chunk
		strings.Replace(good[1], good[1][strings.LastIndex(good[1], ":")+1:], "QUJD", 1),
		good[0], // a start that never ends
		"b1:s:3:0:2:" + strings.Repeat("/", 7800),
		"\u00e9t\u00e9 \u2603 ✓",
	}
	for _, g := range garbage {
		if _, err := raw.Exec(t.Context(), notifySQL, Identifier(ch), g); err != nil {
			t.Fatalf("pg_notify(%q, %.40q) = %v", Identifier(ch), g, err)
		}
	}
	publish(t, b, ch, []byte("after the garbage"))
	in.expect(t, []byte("after the garbage"))
	// Logged before the last payload was dispatched: 21 notifications are
	// not valid chunks or do not follow the chunks before them, and 3 of
	// those end an incomplete message.
	for msg, want := range map[string]int{
		"postgres bus: notification dropped":       21,
		"postgres bus: incomplete message dropped": 3,
	} {
		if got := logs.FilterMessage(msg).Len(); got != want {
			t.Errorf("logged %q %d times; want %d", msg, got, want)
		}
	}
}

// TestSubscribe_HandlerPanics checks that a panicking handler is logged and
// that its subscription goes on.
func TestSubscribe_HandlerPanics(t *testing.T) {
	t.Parallel()
	core, logs := observer.New(zap.ErrorLevel)
	b := newBus(t, Options{DSN: testenv.Postgres(t), Logger: zap.New(core)})
	ch := testenv.Prefix(t)
	in := &inbox{name: fmt.Sprintf("subscription to %q", ch), signal: make(chan struct{}, 1)}
	handler := func(p []byte) {
		in.handle(p)
		if string(p) == "boom" {
			panic("boom")
		}
	}
	if err := b.Subscribe(t.Context(), ch, handler); err != nil {
		t.Fatalf("Subscribe(ctx, %q, handler) = %v; want <nil>", ch, err)
	}
	publish(t, b, ch, []byte("boom"))
	publish(t, b, ch, []byte("next"))
	in.expect(t, []byte("boom"), []byte("next"))
	if n := logs.FilterMessage("postgres bus: handler panicked").Len(); n != 1 {
		t.Errorf("logged %q %d times; want once", "postgres bus: handler panicked", n)
	}
}

// TestBento_Coherence runs two bento managers with an L1 each, no L2, and
// this bus: a write on one makes the other's copy stale.
func TestBento_Coherence(t *testing.T) {
	t.Parallel()
	dsn := testenv.Postgres(t)
	ch := testenv.Prefix(t)
	var (
		mu sync.Mutex
		db = "light" // the source of truth
	)
	load := func(ctx context.Context, fc *bento.FactoryContext[string]) (string, error) {
		mu.Lock()
		defer mu.Unlock()
		return db, nil
	}
	instance := func() *bento.Bento {
		b, err := bento.New(bento.Config{Stores: map[string]*bento.Store{
			"main": bento.NewStore(bento.BusChannel(ch)).
				UseL1(memory.New(memory.Options{})).
				UseBus(New(Options{DSN: dsn})),
		}})
		if err != nil {
			t.Fatalf("bento.New: %v", err)
		}
		t.Cleanup(func() { b.Close() })
		return b
	}
	a, b := instance(), instance()
	for name, m := range map[string]*bento.Bento{"a": a, "b": b} {
		if v, err := bento.GetOrSet(t.Context(), m.Default(), "theme", load); err != nil || v != "light" {
			t.Fatalf("GetOrSet(ctx, %s, %q) = %q, %v; want %q, <nil>", name, "theme", v, err, "light")
		}
	}
	mu.Lock()
	db = "dark"
	mu.Unlock()
	if err := a.Default().Set(t.Context(), "theme", "dark"); err != nil {
		t.Fatalf("a.Set(ctx, %q, %q) = %v", "theme", "dark", err)
	}
	var got string
	if !eventually(waitTimeout, func() bool {
		got, _ = bento.GetOrSet(t.Context(), b.Default(), "theme", load)
		return got == "dark"
	}) {
		t.Errorf("GetOrSet(ctx, b, %q) = %q for %v after a's Set; want %q: the bus makes b's L1 copy stale", "theme", got, waitTimeout, "dark")
	}
}

// TestModule_Load loads the module by ID from JSON, as a config does: the
// JSON fields become the options, and neither Provision nor Validate
// connects to anything (the DSN points at a listener that counts
// connections).
func TestModule_Load(t *testing.T) {
	t.Parallel()
	ln, accepted := countingListener(t)
	dsn := "postgres://app@" + ln + "/app?sslmode=disable"
	tests := []struct {
		name string
		json string
		want Options
	}{
		{
			name: "Defaults",
			json: `{"dsn": "` + dsn + `"}`,
			want: Options{DSN: dsn, ConnectTimeout: DefaultConnectTimeout, ReconnectDelay: DefaultReconnectDelay,
				MaxReconnectDelay: DefaultMaxReconnectDelay, PingInterval: DefaultPingInterval},
		},
		{
			name: "AllFields",
			json: `{"dsn": "` + dsn + `", "connect_timeout": "2s", "reconnect_delay": "10ms",
				"max_reconnect_delay": "1s", "ping_interval": "1m"}`,
			want: Options{DSN: dsn, ConnectTimeout: 2 * time.Second, ReconnectDelay: 10 * time.Millisecond,
				MaxReconnectDelay: time.Second, PingInterval: time.Minute},
		},
		{
			name: "MaxReconnectDelayUnderReconnectDelay",
			json: `{"dsn": "` + dsn + `", "reconnect_delay": "2s", "max_reconnect_delay": "1s"}`,
			want: Options{DSN: dsn, ConnectTimeout: DefaultConnectTimeout, ReconnectDelay: 2 * time.Second,
				MaxReconnectDelay: 2 * time.Second, PingInterval: DefaultPingInterval},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := caddy.NewContext(caddy.Context{Context: t.Context()})
			defer cancel() // runs the module's Cleanup
			v, err := ctx.LoadModuleByID("bento.buses.postgres", json.RawMessage(tt.json))
			if err != nil {
				t.Fatalf("LoadModuleByID(%q, %s) = %v; want <nil>", "bento.buses.postgres", tt.json, err)
			}
			b, ok := v.(*Bus)
			if !ok {
				t.Fatalf("LoadModuleByID(%q, …) = %T; want *Bus", "bento.buses.postgres", v)
			}
			got := b.o
			if got.Logger == nil {
				t.Errorf("provisioned bus has no logger; want bento.ModuleLogger's")
			}
			got.Logger = nil
			if got != tt.want {
				t.Errorf("provisioned bus options = %+v; want %+v", got, tt.want)
			}
		})
	}
	if n := accepted.Load(); n != 0 {
		t.Errorf("Provision, Validate and Cleanup opened %d connections; want none", n)
	}
}

// TestModule_Validate checks that the errors of a bus from config name its
// JSON fields.
func TestModule_Validate(t *testing.T) {
	t.Parallel()
	const dsn = "postgres://app@127.0.0.1:1/app"
	tests := []struct {
		name string
		json string
		says []string
	}{
		{"NoDSN", `{}`, []string{`"dsn" is required`}},
		{"EmptyDSN", `{"dsn": ""}`, []string{`"dsn" is required`}},
		{"BadDSN", `{"dsn": "postgres://a b@%zz"}`, []string{`"dsn"`}},
		{"NegativeConnectTimeout", `{"dsn": "` + dsn + `", "connect_timeout": "-1s"}`, []string{`"connect_timeout" must not be negative`}},
		{"NegativeReconnectDelay", `{"dsn": "` + dsn + `", "reconnect_delay": "-1s"}`, []string{`"reconnect_delay" must not be negative`}},
		{"NegativeMaxReconnectDelay", `{"dsn": "` + dsn + `", "max_reconnect_delay": "-1s"}`, []string{`"max_reconnect_delay" must not be negative`}},
		{"NegativePingInterval", `{"dsn": "` + dsn + `", "ping_interval": "-1s"}`, []string{`"ping_interval" must not be negative`}},
		{"Several", `{"ping_interval": "-1s", "connect_timeout": "-2s"}`,
			[]string{`"dsn" is required`, `"ping_interval"`, `"connect_timeout"`}},
		{"UnknownField", `{"dsn": "` + dsn + `", "pool": 4}`, []string{"pool"}},
		{"BadDuration", `{"dsn": "` + dsn + `", "ping_interval": "soon"}`, []string{"soon"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ctx, cancel := caddy.NewContext(caddy.Context{Context: t.Context()})
			defer cancel()
			_, err := ctx.LoadModuleByID("bento.buses.postgres", json.RawMessage(tt.json))
			for _, s := range tt.says {
				if err == nil || !strings.Contains(err.Error(), s) {
					t.Errorf("LoadModuleByID(%q, %s) = %v; want an error saying %q", "bento.buses.postgres", tt.json, err, s)
				}
			}
		})
	}
}

// TestCleanup checks that Cleanup disconnects, may be called twice, and is
// safe on a bus that was never provisioned (caddy cleans up after a failed
// Provision or Validate too).
func TestCleanup(t *testing.T) {
	t.Parallel()
	var never Bus
	for i := range 2 {
		if err := never.Cleanup(); err != nil {
			t.Errorf("Cleanup() #%d on a bus never provisioned = %v; want <nil>", i+1, err)
		}
	}
	ctx, cancel := caddy.NewContext(caddy.Context{Context: t.Context()})
	defer cancel()
	b := &Bus{DSN: "postgres://app@127.0.0.1:1/app"}
	if err := b.Provision(ctx); err != nil {
		t.Fatalf("Provision(ctx) = %v; want <nil>", err)
	}
	for i := range 2 {
		if err := b.Cleanup(); err != nil {
			t.Errorf("Cleanup() #%d = %v; want <nil>", i+1, err)
		}
	}
	if err := b.Publish(t.Context(), "ch", []byte("x")); !errors.Is(err, ErrClosed) {
		t.Errorf("Publish(ctx, %q, %q) after Cleanup = %v; want ErrClosed", "ch", "x", err)
	}
}

// TestLoadJSON runs two managers loaded by bento.LoadJSON, with the bus
// configured from JSON: a write on one makes the other's L1 copy stale,
// and closing the managers closes the bus's connections.
func TestLoadJSON(t *testing.T) {
	t.Parallel()
	ch := testenv.Prefix(t)
	dsn := withAppName(t, testenv.Postgres(t), ch)
	// The stores have different names because, within one process, the
	// memory L1 of a store loaded from config is shared by name (that is
	// how a reload keeps it); the explicit bus channel joins them.
	load := func(store string) *bento.Bento {
		cfg, err := json.Marshal(map[string]any{"stores": map[string]any{store: map[string]any{
			"bus_channel": ch,
			"l1":          map[string]any{"driver": "memory"},
			"bus":         map[string]any{"bus": "postgres", "dsn": dsn, "connect_timeout": "10s", "ping_interval": "1m"},
		}}})
		if err != nil {
			t.Fatal(err)
		}
		m, err := bento.LoadJSON(t.Context(), cfg)
		if err != nil {
			t.Fatalf("bento.LoadJSON(%s) = %v; want <nil>", cfg, err)
		}
		t.Cleanup(func() { m.Close() })
		return m
	}
	a, b := load(ch+"_a"), load(ch+"_b")
	ctx := t.Context()
	if err := b.Default().Set(ctx, "theme", "light"); err != nil {
		t.Fatalf("b.Set(ctx, %q, %q) = %v", "theme", "light", err)
	}
	if err := a.Default().Set(ctx, "theme", "dark"); err != nil {
		t.Fatalf("a.Set(ctx, %q, %q) = %v", "theme", "dark", err)
	}
	var (
		has bool
		err error
	)
	if !eventually(waitTimeout, func() bool {
		has, err = b.Default().Has(ctx, "theme")
		return err == nil && !has
	}) {
		t.Errorf("b.Has(ctx, %q) = %v, %v for %v after a's Set; want false: the bus from JSON makes b's L1 copy stale", "theme", has, err, waitTimeout)
	}

	raw, err := pgx.Connect(ctx, testenv.Postgres(t))
	if err != nil {
		t.Fatalf("pgx.Connect: %v", err)
	}
	t.Cleanup(func() { raw.Close(context.Background()) })
	conns := func() int {
		var n int
		if err := raw.QueryRow(ctx, "SELECT count(*) FROM pg_stat_activity WHERE application_name = $1", ch).Scan(&n); err != nil {
			t.Fatalf("counting the buses' connections: %v", err)
		}
		return n
	}
	if n := conns(); n < 4 {
		t.Errorf("found %d connections named %q; want 4 (each bus listens and publishes on its own)", n, ch)
	}
	for name, m := range map[string]*bento.Bento{"a": a, "b": b} {
		if err := m.Close(); err != nil {
			t.Errorf("%s.Close() = %v; want <nil>", name, err)
		}
	}
	var left int
	if !eventually(waitTimeout, func() bool {
		left = conns()
		return left == 0
	}) {
		t.Errorf("%d connections named %q are still open %v after the managers closed; want none", left, ch, waitTimeout)
	}
}

// TestLoadJSON_NoDSN checks that LoadJSON reports a bus without a DSN by
// store, field, module and JSON field.
func TestLoadJSON_NoDSN(t *testing.T) {
	t.Parallel()
	configtest.LoadFails(t, `{"stores": {"main": {"l1": {"driver": "memory"}, "bus": {"bus": "postgres"}}}}`,
		`stores.main.bus: module "bento.buses.postgres"`, `"dsn" is required`)
}

// TestDisconnect_NoLeak checks that Disconnect stops every goroutine of the
// bus and of the connections it opened. It does not run in parallel, so
// that no other test's bus is alive.
func TestDisconnect_NoLeak(t *testing.T) {
	dsn := testenv.Postgres(t)
	b := New(Options{DSN: dsn, PingInterval: 50 * time.Millisecond})
	ch, ch2 := testenv.Prefix(t), testenv.Prefix(t)
	in := subscribe(t, b, ch)
	subscribe(t, b, ch2)
	b.OnReconnect(func() {})
	publish(t, b, ch, pattern(3*chunkSize))
	in.expect(t, pattern(3*chunkSize))
	if running := goroutines(); len(running) < 4 {
		t.Fatalf("found %d goroutines of the bus and pgx before Disconnect; want at least 4 (listener, callbacks, two subscriptions): the leak check cannot see them", len(running))
	}
	if err := b.Disconnect(); err != nil {
		t.Fatalf("Disconnect() = %v; want <nil>", err)
	}
	if err := b.Disconnect(); err != nil {
		t.Fatalf("second Disconnect() = %v; want <nil>", err)
	}
	var left []string
	if !eventually(waitTimeout, func() bool {
		left = goroutines()
		return len(left) == 0
	}) {
		t.Errorf("%d goroutines of the bus or of pgx are still running after Disconnect; want none:\n%s", len(left), strings.Join(left, "\n\n"))
	}
}

// goroutines returns the stacks of the goroutines, other than the caller,
// that run code of this package's types or of pgx.
func goroutines() []string {
	buf := make([]byte, 1<<20)
	buf = buf[:runtime.Stack(buf, true)]
	var out []string
	for i, g := range strings.Split(string(buf), "\n\n") {
		if i == 0 {
			continue // the caller
		}
		if strings.Contains(g, "buses/postgres.(*") || strings.Contains(g, "github.com/jackc/pgx") {
			out = append(out, g)
		}
	}
	return out
}

// newBus returns New(o), disconnected when the test ends.
func newBus(t testing.TB, o Options) *Bus {
	t.Helper()
	b := New(o)
	t.Cleanup(func() {
		if err := b.Disconnect(); err != nil {
			t.Errorf("Disconnect() = %v; want <nil>", err)
		}
	})
	return b
}

// inbox records what one subscription receives.
type inbox struct {
	name   string
	signal chan struct{}

	mu  sync.Mutex
	got [][]byte
}

func (in *inbox) handle(p []byte) {
	in.mu.Lock()
	in.got = append(in.got, bytes.Clone(p))
	in.mu.Unlock()
	select {
	case in.signal <- struct{}{}:
	default:
	}
}

func (in *inbox) payloads() [][]byte {
	in.mu.Lock()
	defer in.mu.Unlock()
	return append([][]byte(nil), in.got...)
}

// expect waits until the inbox holds as many payloads as want and checks
// that they are want.
func (in *inbox) expect(t testing.TB, want ...[]byte) {
	t.Helper()
	deadline := time.NewTimer(waitTimeout)
	defer deadline.Stop()
	for len(in.payloads()) < len(want) {
		select {
		case <-in.signal:
		case <-deadline.C:
			if n := len(in.payloads()); n < len(want) {
				t.Fatalf("%s got %d payloads within %v; want %d", in.name, n, waitTimeout, len(want))
			}
		}
	}
	got := in.payloads()
	if len(got) != len(want) {
		t.Errorf("%s got %d payloads; want %d", in.name, len(got), len(want))
	}
	for i := range min(len(got), len(want)) {
		if !bytes.Equal(got[i], want[i]) {
			t.Errorf("%s: payload %d = %s; want %s", in.name, i, show(got[i]), show(want[i]))
		}
	}
}

// show abridges a payload for a message.
func show(p []byte) string {
	if len(p) <= 32 {
		return fmt.Sprintf("%q", p)
	}
	return fmt.Sprintf("%q… (%d bytes)", p[:32], len(p))
}

// subscribe subscribes a new inbox to channel on b.
func subscribe(t testing.TB, b *Bus, channel string) *inbox {
	t.Helper()
	in := &inbox{name: fmt.Sprintf("subscription to %q", channel), signal: make(chan struct{}, 1)}
	if err := b.Subscribe(t.Context(), channel, in.handle); err != nil {
		t.Fatalf("Subscribe(ctx, %q, handler) = %v; want <nil>", channel, err)
	}
	return in
}

func publish(t testing.TB, b *Bus, channel string, payload []byte) {
	t.Helper()
	if err := b.Publish(t.Context(), channel, payload); err != nil {
		t.Fatalf("Publish(ctx, %q, %s) = %v; want <nil>", channel, show(payload), err)
	}
}

// eventually calls cond every 10ms until it returns true or d has passed,
// and reports whether it returned true. cond is called once more at the
// deadline.
func eventually(d time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(d)
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		if time.Now().After(deadline) {
			return cond()
		}
		<-tick.C
	}
	return true
}

// pattern returns n bytes that differ from one chunk to the next.
func pattern(n int) []byte {
	p := make([]byte, n)
	for i := range p {
		p[i] = byte(i*7 + i/chunkSize)
	}
	return p
}

// countingListener accepts TCP connections on a loopback port and closes
// them at once; it returns the port's address and the number accepted.
func countingListener(t testing.TB) (string, *atomic.Int32) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("net.Listen: %v", err)
	}
	var n atomic.Int32
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			c, err := ln.Accept()
			if err != nil {
				return // closed
			}
			n.Add(1)
			c.Close()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		<-done
	})
	return ln.Addr().String(), &n
}

// withAppName returns dsn with its connections named name, so that a test
// can find them in pg_stat_activity.
func withAppName(t testing.TB, dsn, name string) string {
	t.Helper()
	if !strings.Contains(dsn, "://") { // key=value: later keys win
		return dsn + " application_name=" + name
	}
	u, err := url.Parse(dsn)
	if err != nil {
		t.Fatalf("url.Parse(%q): %v", dsn, err)
	}
	q := u.Query()
	q.Set("application_name", name)
	u.RawQuery = q.Encode()
	return u.String()
}

// connPool is a small pool of real connections with the methods of [Pool],
// safe for concurrent use, as *pgxpool.Pool is: it shows that the bus needs
// no more of a pool than those methods. (internal/integration runs the bus
// on a *pgxpool.Pool.)
type connPool struct {
	free chan *pgx.Conn
}

// newConnPool opens n connections to dsn, closed when the test ends.
func newConnPool(t testing.TB, dsn string, n int) *connPool {
	t.Helper()
	p := &connPool{free: make(chan *pgx.Conn, n)}
	for range n {
		c, err := pgx.Connect(t.Context(), dsn)
		if err != nil {
			t.Fatalf("pgx.Connect: %v", err)
		}
		p.free <- c
	}
	t.Cleanup(func() {
		for range n {
			c := <-p.free
			_ = c.Close(context.Background())
		}
	})
	return p
}

func (p *connPool) acquire(ctx context.Context) (*pgx.Conn, error) {
	select {
	case c := <-p.free:
		return c, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

func (p *connPool) Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error) {
	c, err := p.acquire(ctx)
	if err != nil {
		return pgconn.CommandTag{}, err
	}
	defer func() { p.free <- c }()
	return c.Exec(ctx, sql, args...)
}

func (p *connPool) Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error) {
	c, err := p.acquire(ctx)
	if err != nil {
		return nil, err
	}
	rows, err := c.Query(ctx, sql, args...)
	if err != nil {
		p.free <- c
		return nil, err
	}
	return &poolRows{Rows: rows, release: sync.OnceFunc(func() { p.free <- c })}, nil
}

func (p *connPool) SendBatch(ctx context.Context, b *pgx.Batch) pgx.BatchResults {
	c, err := p.acquire(ctx)
	if err != nil {
		return errBatch{err}
	}
	return &poolBatch{BatchResults: c.SendBatch(ctx, b), release: sync.OnceFunc(func() { p.free <- c })}
}

// poolRows gives its connection back to the pool when closed.
type poolRows struct {
	pgx.Rows
	release func()
}

func (r *poolRows) Close() {
	r.Rows.Close()
	r.release()
}

// poolBatch gives its connection back to the pool when closed.
type poolBatch struct {
	pgx.BatchResults
	release func()
}

func (r *poolBatch) Close() error {
	defer r.release()
	return r.BatchResults.Close()
}

// errBatch is the result of a batch that could not be sent.
type errBatch struct{ err error }

func (e errBatch) Exec() (pgconn.CommandTag, error) { return pgconn.CommandTag{}, e.err }
func (e errBatch) Query() (pgx.Rows, error)         { return nil, e.err }
func (e errBatch) QueryRow() pgx.Row                { return nil }
func (e errBatch) Close() error                     { return e.err }
func (e errBatch) Tx() pgx.Tx                       { return nil }

var _ Pool = (*connPool)(nil)
