//go:build unix

package redis_test

import (
	"context"
	"errors"
	"net"
	"syscall"
	"testing"
	"time"

	"github.com/bentocache/bento/internal/testenv"
	"github.com/bentocache/bento/modules/drivers/redis"
)

// TestDriver_HungServerHonoursContext stops a server of the test's own
// (SIGSTOP): its connections stay open but nothing answers. A call then
// returns when its context expires, well before go-redis's 5s read timeout,
// because a driver that opens its client makes go-redis honour context
// deadlines; once the server continues, calls work again.
func TestDriver_HungServerHonoursContext(t *testing.T) {
	srv := testenv.RedisServer(t)
	dr := redis.New(redis.Options{Addrs: []string{srv.Addr}, Prefix: testenv.Prefix(t)})
	t.Cleanup(func() { _ = dr.Disconnect() })
	ctx := t.Context()
	if err := dr.Set(ctx, "k", []byte("v"), 0); err != nil {
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

	const deadline = 300 * time.Millisecond
	callCtx, cancel := context.WithTimeout(ctx, deadline)
	defer cancel()
	start := time.Now()
	_, _, err := dr.Get(callCtx, "k")
	took := time.Since(start)
	var netErr net.Error
	if err == nil || !(errors.Is(err, context.DeadlineExceeded) || (errors.As(err, &netErr) && netErr.Timeout())) {
		t.Errorf("Get(ctx, %q) on a hung server with a %v deadline = %v; want an error wrapping the timeout", "k", deadline, err)
	}
	if took > 4*time.Second {
		t.Errorf("Get(ctx, %q) on a hung server with a %v deadline returned after %v; want it to return at its deadline, not at go-redis's read timeout", "k", deadline, took.Round(time.Millisecond))
	}
	t.Logf("Get on a hung server, %v deadline: %v after %v", deadline, err, took.Round(time.Millisecond))

	resume()
	var last error
	if !eventually(t, recoverTimeout, func() bool {
		v, found, err := dr.Get(ctx, "k")
		last = err
		return err == nil && found && string(v) == "v"
	}) {
		t.Errorf("Get(ctx, %q) = %v %v after the server continued; want %q, true, <nil>", "k", last, recoverTimeout, "v")
	}
}
