package redis_test

import (
	"context"
	"errors"
	"io"
	"net"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/bentocache/bento"
	"github.com/bentocache/bento/internal/tcpproxy"
	"github.com/bentocache/bento/internal/testenv"
	"github.com/bentocache/bento/modules/drivers/redis"
)

const (
	// callTimeout bounds one call while the server is away: long enough
	// for go-redis's retries, so that a call that reaches it hangs.
	callTimeout = 15 * time.Second
	// recoverTimeout bounds the wait for calls to work again after the
	// server is back, on a loaded machine.
	recoverTimeout = 15 * time.Second
)

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

// connectionError reports whether err says that the connection to the
// server failed (refused, reset or closed), as opposed to a timeout.
func connectionError(err error) bool {
	var netErr net.Error
	return errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.ECONNREFUSED) ||
		errors.Is(err, net.ErrClosed) || (errors.As(err, &netErr) && !netErr.Timeout())
}

// TestDriver_CutAndRestore runs a driver through a proxy that drops every
// connection to the server and refuses new ones, then lets them through
// again: while cut, every call returns, before its context expires, an
// error that wraps the cause; once restored, calls work again without any
// help.
func TestDriver_CutAndRestore(t *testing.T) {
	addr := testenv.Redis(t)
	proxy := tcpproxy.Start(t, addr)
	keeper := newClient(t, addr)
	prefix := testenv.Prefix(t)
	t.Cleanup(func() { removeKeys(t, keeper, prefix) })
	dr := redis.New(redis.Options{Addrs: []string{proxy.Addr()}, Prefix: prefix, DialTimeout: time.Second})
	t.Cleanup(func() { _ = dr.Disconnect() })
	ctx := t.Context()
	if err := dr.Set(ctx, "k", []byte("before"), 0); err != nil {
		t.Fatalf("Set(ctx, %q, %q, 0) = %v before the cut", "k", "before", err)
	}

	ops := []struct {
		name string
		call func(ctx context.Context) error
	}{
		{"Get", func(ctx context.Context) error { _, _, err := dr.Get(ctx, "k"); return err }},
		{"Pull", func(ctx context.Context) error { _, _, err := dr.Pull(ctx, "k"); return err }},
		{"Set", func(ctx context.Context) error { return dr.Set(ctx, "k", []byte("during"), time.Minute) }},
		{"Has", func(ctx context.Context) error { _, err := dr.Has(ctx, "k"); return err }},
		{"Delete", func(ctx context.Context) error { _, err := dr.Delete(ctx, "k"); return err }},
		{"DeleteMany", func(ctx context.Context) error { _, err := dr.DeleteMany(ctx, []string{"k", "j"}); return err }},
		{"Clear", func(ctx context.Context) error { return dr.Clear(ctx) }},
		{"GetMany", func(ctx context.Context) error { _, err := dr.GetMany(ctx, []string{"k", "j"}); return err }},
		{"SetMany", func(ctx context.Context) error {
			return dr.SetMany(ctx, []bento.KeyValue{{Key: "k", Value: []byte("during")}}, 0)
		}},
	}

	proxy.Cut()
	for _, op := range ops {
		callCtx, cancel := context.WithTimeout(ctx, callTimeout)
		start := time.Now()
		var err error
		func() {
			defer func() {
				if p := recover(); p != nil {
					t.Errorf("%s panicked while the server was cut off: %v", op.name, p)
				}
			}()
			err = op.call(callCtx)
		}()
		expired := callCtx.Err() != nil
		cancel()
		switch {
		case err == nil:
			t.Errorf("%s = <nil> while the server was cut off; want an error", op.name)
		case expired:
			t.Errorf("%s = %v after %v: it returned only when its context expired; want the connection error before", op.name, err, time.Since(start).Round(time.Millisecond))
		case !strings.HasPrefix(err.Error(), "redis: ") || !connectionError(err):
			t.Errorf("%s = %v (%T); want a \"redis: …\" error wrapping the connection error", op.name, err, errors.Unwrap(err))
		default:
			t.Logf("%s while cut off, after %v: %v", op.name, time.Since(start).Round(time.Millisecond), err)
		}
	}

	proxy.Restore()
	var last error
	if !eventually(t, recoverTimeout, func() bool {
		v, found, err := dr.Get(ctx, "k")
		last = err
		return err == nil && found && string(v) == "before"
	}) {
		t.Fatalf("Get(ctx, %q) = %v %v after the proxy was restored; want %q, true, <nil>: the driver reconnects by itself", "k", last, recoverTimeout, "before")
	}
	for _, op := range ops {
		if err := op.call(ctx); err != nil {
			t.Errorf("%s = %v after the proxy was restored; want <nil>", op.name, err)
		}
	}
}
