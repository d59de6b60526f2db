//go:build unix

package redis_test

import (
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/bentocache/bento/internal/testenv"
	redisbus "github.com/bentocache/bento/modules/buses/redis"
)

// TestBus_HungServer stops a server of the test's own (SIGSTOP): the
// subscriber connection stays open, but nothing answers. The health check
// notices that its PING gets no PONG and drops the connection; once the
// server continues, the bus reconnects, reports it, and receives again.
func TestBus_HungServer(t *testing.T) {
	srv := testenv.RedisServer(t)
	pub := newClient(t, srv.Addr)
	logger, logs := observed()
	const interval = 200 * time.Millisecond
	b := redisbus.New(redisbus.Options{Addrs: []string{srv.Addr}, HealthCheckInterval: interval, Logger: logger})
	t.Cleanup(func() { _ = b.Disconnect() })
	var reconnects atomic.Int32
	b.OnReconnect(func() { reconnects.Add(1) })
	ch := testenv.Prefix(t)
	in := newInbox()
	if err := b.Subscribe(t.Context(), ch, in.handle); err != nil {
		t.Fatal(err)
	}

	if err := syscall.Kill(srv.PID, syscall.SIGSTOP); err != nil {
		t.Fatalf("stopping redis-server (pid %d): %v", srv.PID, err)
	}
	resumed := false
	resume := func() {
		if !resumed {
			resumed = true
			if err := syscall.Kill(srv.PID, syscall.SIGCONT); err != nil {
				t.Errorf("continuing redis-server (pid %d): %v", srv.PID, err)
			}
		}
	}
	t.Cleanup(resume)
	if !eventually(t, reconnectTimeout, func() bool { return logged(logs, "no answer to a ping") }) {
		t.Fatalf("the health check did not give up on the hung server within %v (HealthCheckInterval %v)", reconnectTimeout, interval)
	}
	if !eventually(t, reconnectTimeout, func() bool { return logged(logs, "subscriber connection lost") }) {
		t.Fatalf("the bus did not drop its subscriber connection within %v of the health check giving up", reconnectTimeout)
	}

	resume()
	if !eventually(t, reconnectTimeout, func() bool { return reconnects.Load() > 0 }) {
		t.Fatalf("OnReconnect callbacks did not run within %v of the server continuing", reconnectTimeout)
	}
	if n, err := pub.Publish(t.Context(), ch, "after").Result(); err != nil || n != 1 {
		t.Errorf("PUBLISH once OnReconnect ran = %d receivers, %v; want 1", n, err)
	}
	if !in.waitFor(t, "after") {
		t.Errorf("the subscription got %q after the reconnect; want %q", in.payloads(), "after")
	}
}
