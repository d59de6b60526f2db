package redis_test

import (
	"context"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/bentocache/bento/internal/tcpproxy"
	"github.com/bentocache/bento/internal/testenv"
	redisbus "github.com/bentocache/bento/modules/buses/redis"
)

// reconnectTimeout bounds the wait for a reconnect once the server is back,
// on a loaded machine.
const reconnectTimeout = 15 * time.Second

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

// observed returns a logger that records what the bus logs.
func observed() (*zap.Logger, *observer.ObservedLogs) {
	core, logs := observer.New(zap.InfoLevel)
	return zap.New(core), logs
}

// logged reports whether logs hold an entry whose message contains msg.
func logged(logs *observer.ObservedLogs, msg string) bool {
	return logs.FilterMessageSnippet(msg).Len() > 0
}

// TestBus_ReconnectAfterCut runs a bus through a proxy that drops its
// connections and refuses new ones, then lets them through again: the bus
// reports the reconnect through OnReconnect, and its subscriptions receive
// again without any help.
func TestBus_ReconnectAfterCut(t *testing.T) {
	addr := testenv.Redis(t)
	proxy := tcpproxy.Start(t, addr)
	pub := newClient(t, addr)
	logger, logs := observed()
	b := redisbus.New(redisbus.Options{Addrs: []string{proxy.Addr()}, DialTimeout: time.Second, Logger: logger})
	t.Cleanup(func() { _ = b.Disconnect() })
	var reconnects atomic.Int32
	b.OnReconnect(func() { reconnects.Add(1) })
	chans := []string{testenv.Prefix(t), testenv.Prefix(t)}
	inboxes := []*inbox{newInbox(), newInbox()}
	for i, ch := range chans {
		if err := b.Subscribe(t.Context(), ch, inboxes[i].handle); err != nil {
			t.Fatalf("Subscribe(ctx, %q, …) = %v", ch, err)
		}
		if err := pub.Publish(t.Context(), ch, "before").Err(); err != nil {
			t.Fatal(err)
		}
		if !inboxes[i].waitFor(t, "before") {
			t.Fatalf("the subscription to %q got %q before the cut; want %q", ch, inboxes[i].payloads(), "before")
		}
	}

	proxy.Cut()
	ctx, cancel := context.WithTimeout(t.Context(), deliveryTimeout)
	err := b.Publish(ctx, chans[0], []byte("during"))
	cancel()
	if err == nil || !strings.HasPrefix(err.Error(), "redis bus: publish on ") {
		t.Errorf("Publish while the server is cut off = %v; want a \"redis bus: publish on\" error", err)
	}
	if !eventually(t, reconnectTimeout, func() bool { return logged(logs, "subscriber connection lost") }) {
		t.Fatalf("the bus did not notice that its subscriber connection was cut within %v", reconnectTimeout)
	}
	if n := reconnects.Load(); n != 0 {
		t.Errorf("OnReconnect callbacks ran %d times while the server was still cut off; want 0", n)
	}

	proxy.Restore()
	if !eventually(t, reconnectTimeout, func() bool { return reconnects.Load() > 0 }) {
		t.Fatalf("OnReconnect callbacks did not run within %v of the proxy's restore", reconnectTimeout)
	}
	for i, ch := range chans {
		if n, err := pub.Publish(t.Context(), ch, "after").Result(); err != nil || n != 1 {
			t.Errorf("PUBLISH %s once OnReconnect ran = %d receivers, %v; want 1: the bus subscribes again before it reports the reconnect", ch, n, err)
		}
		if !inboxes[i].waitFor(t, "after") {
			t.Errorf("the subscription to %q got %q after the reconnect; want %q", ch, inboxes[i].payloads(), "after")
		}
	}
	if err := b.Publish(t.Context(), chans[0], []byte("published by the bus")); err != nil {
		t.Errorf("Publish after the reconnect = %v; want <nil>", err)
	}
	if !inboxes[0].waitFor(t, "published by the bus") {
		t.Errorf("the subscription to %q got %q; want the bus's own payload", chans[0], inboxes[0].payloads())
	}
	if n := reconnects.Load(); n != 1 {
		t.Errorf("OnReconnect callbacks ran %d times for one outage; want 1", n)
	}
}

// TestBus_ReconnectWithoutSubscriptions cuts the connection of a bus that
// has unsubscribed from everything: nothing arrives on the new connection
// by itself, so it is the health check's PING that shows it is back.
func TestBus_ReconnectWithoutSubscriptions(t *testing.T) {
	addr := testenv.Redis(t)
	proxy := tcpproxy.Start(t, addr)
	b := redisbus.New(redisbus.Options{Addrs: []string{proxy.Addr()}, HealthCheckInterval: 100 * time.Millisecond})
	t.Cleanup(func() { _ = b.Disconnect() })
	reconnected := make(chan struct{}, 1)
	b.OnReconnect(func() {
		select {
		case reconnected <- struct{}{}:
		default:
		}
	})
	ch := testenv.Prefix(t)
	if err := b.Subscribe(t.Context(), ch, func([]byte) {}); err != nil {
		t.Fatal(err)
	}
	if err := b.Unsubscribe(t.Context(), ch); err != nil {
		t.Fatal(err)
	}
	proxy.Cut()
	proxy.Restore()
	select {
	case <-reconnected:
	case <-time.After(reconnectTimeout):
		t.Fatalf("OnReconnect callbacks did not run within %v of a cut and restore", reconnectTimeout)
	}
	// The bus still works: a new subscription receives.
	in := newInbox()
	ch2 := ch + ":" + strconv.Itoa(2)
	if err := b.Subscribe(t.Context(), ch2, in.handle); err != nil {
		t.Fatal(err)
	}
	if err := newClient(t, addr).Publish(t.Context(), ch2, "x").Err(); err != nil {
		t.Fatal(err)
	}
	if !in.waitFor(t, "x") {
		t.Errorf("a subscription made after the reconnect got %q; want %q", in.payloads(), "x")
	}
}
