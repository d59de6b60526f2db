package redis_test

import (
	"context"
	"errors"
	"net"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/bentocache/bento"
	"github.com/bentocache/bento/drivertest"
	"github.com/bentocache/bento/internal/testenv"
	redisbus "github.com/bentocache/bento/modules/buses/redis"
)

// deliveryTimeout bounds the wait for a payload, on a loaded machine.
const deliveryTimeout = 15 * time.Second

// newClient returns a client of the test's own on addr, closed when t ends.
func newClient(t testing.TB, addr string) *goredis.Client {
	t.Helper()
	c := goredis.NewClient(&goredis.Options{Addr: addr})
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// prefixed is a bento.Bus that puts a prefix before every channel name, so
// that the suites of tests sharing a server never share a channel.
type prefixed struct {
	bento.Bus
	prefix string
}

func (p prefixed) Publish(ctx context.Context, channel string, payload []byte) error {
	return p.Bus.Publish(ctx, p.prefix+":"+channel, payload)
}

func (p prefixed) Subscribe(ctx context.Context, channel string, handler func([]byte)) error {
	return p.Bus.Subscribe(ctx, p.prefix+":"+channel, handler)
}

func (p prefixed) Unsubscribe(ctx context.Context, channel string) error {
	return p.Bus.Unsubscribe(ctx, p.prefix+":"+channel)
}

// opener returns an open function for drivertest.Bus: a bus on the options
// mk returns, its channels under a prefix of t's own, disconnected when the
// subtest ends.
func opener(t *testing.T, mk func() redisbus.Options) func(t *testing.T) bento.Bus {
	prefix := testenv.Prefix(t)
	return func(t *testing.T) bento.Bus {
		b := redisbus.New(mk())
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

// inbox collects the payloads a handler receives.
type inbox struct {
	mu  sync.Mutex
	got []string
	// signal gets a token after each delivery.
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

// waitFor waits until the inbox holds want, up to deliveryTimeout, and
// reports whether it does.
func (in *inbox) waitFor(t *testing.T, want string) bool {
	t.Helper()
	timer := time.NewTimer(deliveryTimeout)
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

// busGoroutines counts the goroutines running code of the bus package.
func busGoroutines() int {
	return len(busStacks())
}

// busGoroutinesBack waits until no more goroutines than before run code of
// the bus package, and returns the stacks of those left if they do not go.
// A goroutine that has returned from its last call (WaitGroup.Done
// included) may still take a moment to exit, hence the wait.
func busGoroutinesBack(t *testing.T, before int) []string {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	tick := time.NewTicker(time.Millisecond)
	defer tick.Stop()
	for {
		st := busStacks()
		if len(st) <= before {
			return nil
		}
		if time.Now().After(deadline) {
			return st
		}
		<-tick.C
	}
}

// busStacks returns the stacks of the goroutines running code of the bus
// package.
func busStacks() []string {
	buf := make([]byte, 4<<20)
	buf = buf[:runtime.Stack(buf, true)]
	var stacks []string
	for g := range strings.SplitSeq(string(buf), "\n\n") {
		if strings.Contains(g, "bento/modules/buses/redis.(*Bus)") || strings.Contains(g, "bento/modules/buses/redis.(*subscription)") {
			stacks = append(stacks, g)
		}
	}
	return stacks
}

func TestBus(t *testing.T) {
	client := newClient(t, testenv.Redis(t))
	drivertest.Bus(t, opener(t, func() redisbus.Options {
		return redisbus.Options{Client: client}
	}), drivertest.Options{})
}

func TestBus_OwnedClient(t *testing.T) {
	addr := testenv.Redis(t)
	drivertest.Bus(t, opener(t, func() redisbus.Options {
		return redisbus.Options{Addrs: []string{addr}}
	}), drivertest.Options{})
}

func TestValidate(t *testing.T) {
	client := goredis.NewClient(&goredis.Options{Addr: "127.0.0.1:1"})
	ring := goredis.NewRing(&goredis.RingOptions{Addrs: map[string]string{"a": "127.0.0.1:1"}})
	t.Cleanup(func() {
		_ = client.Close()
		_ = ring.Close()
	})
	tests := []struct {
		name    string
		o       redisbus.Options
		wantErr string // a part of the message; "" for none
	}{
		{name: "Zero", o: redisbus.Options{}},
		{name: "Client", o: redisbus.Options{Client: client, HealthCheckInterval: -1}},
		{name: "OneAddr", o: redisbus.Options{Addrs: []string{"127.0.0.1:6379"}, DB: 3}},
		{name: "Cluster", o: redisbus.Options{Addrs: []string{"a:1", "b:1"}}},
		{name: "Ring", o: redisbus.Options{Client: ring}, wantErr: "redis bus: client is a *redis.Ring"},
		{name: "ClientAndAddrs", o: redisbus.Options{Client: client, Addrs: []string{"a:1"}}, wantErr: "redis bus: client and addrs are both set"},
		{name: "ClientAndTLS", o: redisbus.Options{Client: client, Username: "u"}, wantErr: "redis bus: client and username are both set"},
		{name: "EmptyAddr", o: redisbus.Options{Addrs: []string{""}}, wantErr: "redis bus: addrs[0] is empty"},
		{name: "NegativeDB", o: redisbus.Options{DB: -2}, wantErr: "redis bus: db is -2"},
		{name: "DBWithCluster", o: redisbus.Options{Addrs: []string{"a:1"}, Cluster: true, DB: 1}, wantErr: "redis bus: db is 1 with a cluster"},
		{name: "NegativeDialTimeout", o: redisbus.Options{DialTimeout: -1}, wantErr: "redis bus: dial_timeout is -1ns"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := redisbus.New(tt.o)
			t.Cleanup(func() { _ = b.Disconnect() })
			err := b.Validate()
			switch {
			case tt.wantErr == "" && err != nil:
				t.Errorf("Validate() = %v; want <nil>", err)
			case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
				t.Errorf("Validate() = %v; want an error containing %q", err, tt.wantErr)
			}
		})
	}
}

// TestBus_SubscribeIsActiveOnReturn publishes right after each Subscribe
// returns: PUBLISH must already count the bus among the receivers.
func TestBus_SubscribeIsActiveOnReturn(t *testing.T) {
	addr := testenv.Redis(t)
	pub := newClient(t, addr)
	b := redisbus.New(redisbus.Options{Client: newClient(t, addr)})
	t.Cleanup(func() { _ = b.Disconnect() })
	prefix := testenv.Prefix(t)
	for i := range 50 {
		ch := prefix + ":" + strconv.Itoa(i)
		if err := b.Subscribe(t.Context(), ch, func([]byte) {}); err != nil {
			t.Fatalf("Subscribe(ctx, %q, …) = %v", ch, err)
		}
		if n, err := pub.Publish(t.Context(), ch, "x").Result(); err != nil || n != 1 {
			t.Fatalf("PUBLISH %s right after Subscribe returned = %d receivers, %v; want 1: Subscribe returns once the subscription is active", ch, n, err)
		}
	}
}

func TestBus_Disconnect(t *testing.T) {
	addr := testenv.Redis(t)
	ch := testenv.Prefix(t)
	t.Run("UserClient", func(t *testing.T) {
		client := newClient(t, addr)
		before := busGoroutines()
		b := redisbus.New(redisbus.Options{Client: client, HealthCheckInterval: 50 * time.Millisecond})
		in := newInbox()
		b.OnReconnect(func() {})
		for _, c := range []string{ch + ":a", ch + ":b"} {
			if err := b.Subscribe(t.Context(), c, in.handle); err != nil {
				t.Fatal(err)
			}
		}
		if n := busGoroutines(); n <= before {
			t.Fatalf("%d goroutines run bus code after two Subscribes, %d before New; want more", n, before)
		}
		for i := range 2 {
			if err := b.Disconnect(); err != nil {
				t.Errorf("Disconnect() #%d = %v; want <nil>", i+1, err)
			}
		}
		if st := busGoroutinesBack(t, before); st != nil {
			t.Errorf("%d goroutines run bus code after Disconnect returned, %d before New; want every goroutine of the bus gone:\n%s", len(st), before, strings.Join(st, "\n\n"))
		}
		if err := client.Ping(t.Context()).Err(); err != nil {
			t.Errorf("client.Ping after Disconnect = %v; want <nil>: the bus never closes a client passed in Options.Client", err)
		}
		if n, err := client.Publish(t.Context(), ch+":a", "x").Result(); err != nil || n != 0 {
			t.Errorf("PUBLISH after Disconnect = %d receivers, %v; want 0: Disconnect closes the subscriber connection", n, err)
		}
		if err := b.Publish(t.Context(), ch+":a", []byte("x")); !errors.Is(err, redisbus.ErrClosed) {
			t.Errorf("Publish after Disconnect = %v; want an error wrapping ErrClosed", err)
		}
		if err := b.Subscribe(t.Context(), ch+":a", in.handle); !errors.Is(err, redisbus.ErrClosed) {
			t.Errorf("Subscribe after Disconnect = %v; want an error wrapping ErrClosed", err)
		}
		if err := b.Unsubscribe(t.Context(), ch+":a"); err != nil {
			t.Errorf("Unsubscribe after Disconnect = %v; want <nil>", err)
		}
	})
	t.Run("OwnedClient", func(t *testing.T) {
		before := busGoroutines()
		b := redisbus.New(redisbus.Options{Addrs: []string{addr}})
		if err := b.Subscribe(t.Context(), ch+":c", func([]byte) {}); err != nil {
			t.Fatal(err)
		}
		if err := b.Disconnect(); err != nil {
			t.Errorf("Disconnect() = %v; want <nil>", err)
		}
		if st := busGoroutinesBack(t, before); st != nil {
			t.Errorf("%d goroutines run bus code after Disconnect returned, %d before New; want none left:\n%s", len(st), before, strings.Join(st, "\n\n"))
		}
	})
	t.Run("NeverSubscribed", func(t *testing.T) {
		b := redisbus.New(redisbus.Options{Addrs: []string{addr}})
		if err := b.Publish(t.Context(), ch+":d", []byte("x")); err != nil {
			t.Errorf("Publish = %v; want <nil>", err)
		}
		if err := b.Disconnect(); err != nil {
			t.Errorf("Disconnect() of a bus that never subscribed = %v; want <nil>", err)
		}
	})
}

// TestBus_HandlerMaySubscribe subscribes and unsubscribes from inside a
// handler, which runs while the bus reads its connection.
func TestBus_HandlerMaySubscribe(t *testing.T) {
	addr := testenv.Redis(t)
	pub := newClient(t, addr)
	b := redisbus.New(redisbus.Options{Client: newClient(t, addr)})
	t.Cleanup(func() { _ = b.Disconnect() })
	first, second := testenv.Prefix(t), testenv.Prefix(t)
	in := newInbox()
	errs := make(chan error, 2)
	if err := b.Subscribe(t.Context(), first, func(p []byte) {
		errs <- b.Subscribe(context.Background(), second, in.handle)
		errs <- b.Unsubscribe(context.Background(), first)
	}); err != nil {
		t.Fatal(err)
	}
	if err := pub.Publish(t.Context(), first, "go").Err(); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		select {
		case err := <-errs:
			if err != nil {
				t.Fatalf("Subscribe or Unsubscribe from a handler = %v; want <nil>", err)
			}
		case <-time.After(deliveryTimeout):
			t.Fatalf("Subscribe and Unsubscribe from a handler did not return within %v", deliveryTimeout)
		}
	}
	if n, err := pub.Publish(t.Context(), second, "hello").Result(); err != nil || n != 1 {
		t.Errorf("PUBLISH on the channel subscribed from a handler = %d receivers, %v; want 1", n, err)
	}
	if !in.waitFor(t, "hello") {
		t.Errorf("the subscription made from a handler got %q; want %q", in.payloads(), "hello")
	}
	if n, err := pub.Publish(t.Context(), first, "again").Result(); err != nil || n != 0 {
		t.Errorf("PUBLISH on the channel unsubscribed from its handler = %d receivers, %v; want 0", n, err)
	}
}

// TestBus_SubscribeFails checks that a Subscribe that fails leaves no
// subscription behind.
func TestBus_SubscribeFails(t *testing.T) {
	addr := testenv.Redis(t)
	pub := newClient(t, addr)
	b := redisbus.New(redisbus.Options{Client: newClient(t, addr)})
	t.Cleanup(func() { _ = b.Disconnect() })
	ch := testenv.Prefix(t)
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if err := b.Subscribe(ctx, ch, func([]byte) {}); !errors.Is(err, context.Canceled) {
		t.Errorf("Subscribe with a cancelled context = %v; want an error wrapping context.Canceled", err)
	}
	if err := b.Subscribe(t.Context(), ch, nil); err == nil {
		t.Errorf("Subscribe with a nil handler = <nil>; want an error")
	}
	if n, err := pub.Publish(t.Context(), ch, "x").Result(); err != nil || n != 0 {
		t.Errorf("PUBLISH after failed Subscribes = %d receivers, %v; want 0", n, err)
	}
}

// TestBus_UnreachableServer checks that New does no I/O, that the first
// calls report the dial error, naming the address, that go-redis's own
// lines about the failed dial go to the bus's logger (not to stderr), and
// that a Subscribe that never reached the server logs no failed
// unsubscribe.
func TestBus_UnreachableServer(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	_ = l.Close()
	before := busGoroutines()
	logger, logs := observed()
	b := redisbus.New(redisbus.Options{Addrs: []string{addr}, DialTimeout: time.Second, Logger: logger})
	if err := b.Validate(); err != nil {
		t.Errorf("Validate() = %v; want <nil>: Validate does no I/O", err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	if err := b.Publish(ctx, "ch", []byte("x")); err == nil || !strings.Contains(err.Error(), addr) {
		t.Errorf("Publish on an unreachable server = %v; want an error naming %s", err, addr)
	}
	if err := b.Subscribe(ctx, "ch", func([]byte) {}); err == nil || !strings.Contains(err.Error(), addr) {
		t.Errorf("Subscribe on an unreachable server = %v; want an error naming %s", err, addr)
	}
	if ctx.Err() != nil {
		t.Errorf("the calls returned only when their context expired; want the dial error before")
	}
	if err := b.Disconnect(); err != nil {
		t.Errorf("Disconnect() = %v; want <nil>", err)
	}
	if st := busGoroutinesBack(t, before); st != nil {
		t.Errorf("%d goroutines run bus code after Disconnect, %d before New; want none left:\n%s", len(st), before, strings.Join(st, "\n\n"))
	}
	if logged(logs, "unsubscribe") {
		t.Errorf("a bus whose Subscribe never reached the server logged %q; want no unsubscribe failure", logs.FilterMessageSnippet("unsubscribe").All()[0].Message)
	}
	if n := logs.FilterLoggerName("go-redis").FilterMessageSnippet("failed to dial").Len(); n == 0 {
		t.Errorf("go-redis's lines about the failed dial did not reach the bus's logger (logged: %v); want them there, not on stderr", logs.All())
	}
}
