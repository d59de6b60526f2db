package postgres

import (
	"context"
	"errors"
	"net"
	"net/url"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/bentocache/bento/internal/tcpproxy"
	"github.com/bentocache/bento/internal/testenv"
)

// proxied starts a tcpproxy in front of the server of dsn and returns it
// with a DSN that goes through it, naming its connections appName.
func proxied(t *testing.T, dsn, appName string) (*tcpproxy.Proxy, string) {
	t.Helper()
	cfg, err := pgx.ParseConfig(dsn)
	if err != nil {
		t.Fatalf("pgx.ParseConfig(%q): %v", dsn, err)
	}
	p := tcpproxy.Start(t, net.JoinHostPort(cfg.Host, strconv.Itoa(int(cfg.Port))))
	host, port, _ := net.SplitHostPort(p.Addr())
	if !strings.Contains(dsn, "://") { // key=value: later keys win
		return p, dsn + " host=" + host + " port=" + port + " application_name=" + appName
	}
	u, err := url.Parse(dsn)
	if err != nil {
		t.Fatalf("url.Parse(%q): %v", dsn, err)
	}
	u.Host = p.Addr()
	q := u.Query()
	q.Set("application_name", appName)
	u.RawQuery = q.Encode()
	return p, u.String()
}

// TestReconnect_AfterCut subscribes a bus through a proxy, cuts every
// connection and restores service: the bus reconnects, listens again, calls
// its OnReconnect callbacks, and payloads flow again. Payloads published
// while it was cut off are lost.
func TestReconnect_AfterCut(t *testing.T) {
	t.Parallel()
	dsn := testenv.Postgres(t)
	ch := testenv.Prefix(t)
	proxy, viaProxy := proxied(t, dsn, ch)
	core, logs := observer.New(zap.InfoLevel)
	b := newBus(t, Options{DSN: viaProxy, ReconnectDelay: 10 * time.Millisecond, MaxReconnectDelay: 100 * time.Millisecond, Logger: zap.New(core)})
	direct := newBus(t, Options{DSN: dsn})
	var reconnects atomic.Int32
	b.OnReconnect(func() { reconnects.Add(1) })
	in := subscribe(t, b, ch)
	publish(t, b, ch, []byte("before"))
	in.expect(t, []byte("before"))

	proxy.Cut()
	if err := b.Publish(t.Context(), ch, []byte("cut")); err == nil {
		t.Errorf("Publish(ctx, %q, %q) through a cut proxy = <nil>; want an error, so that the cache queues the message", ch, "cut")
	}
	var subErr error
	if !eventually(waitTimeout, func() bool {
		subErr = b.Subscribe(t.Context(), ch+"-other", func([]byte) {})
		return errors.Is(subErr, ErrReconnecting)
	}) {
		t.Errorf("Subscribe(ctx, %q, handler) while the listening connection is cut = %v; want an error wrapping ErrReconnecting", ch+"-other", subErr)
	}
	publish(t, direct, ch, []byte("lost"))
	if n := reconnects.Load(); n != 0 {
		t.Errorf("OnReconnect callbacks ran %d times while the proxy was cut; want 0", n)
	}

	proxy.Restore()
	if !eventually(waitTimeout, func() bool { return reconnects.Load() >= 1 }) {
		t.Fatalf("OnReconnect callbacks did not run within %v of restoring the proxy", waitTimeout)
	}
	publish(t, direct, ch, []byte("after"))
	var pubErr error
	if !eventually(waitTimeout, func() bool {
		pubErr = b.Publish(t.Context(), ch, []byte("from the reconnected bus"))
		return pubErr == nil
	}) {
		t.Fatalf("Publish(ctx, %q, …) on the reconnected bus = %v; want <nil> once service is restored", ch, pubErr)
	}
	in.expect(t, []byte("before"), []byte("after"), []byte("from the reconnected bus"))
	if n := reconnects.Load(); n != 1 {
		t.Errorf("OnReconnect callbacks ran %d times for one cut; want 1", n)
	}
	for _, msg := range []string{
		"postgres bus: listening connection lost; reconnecting",
		"postgres bus: listening connection reopened; notifications sent meanwhile are lost",
	} {
		if n := logs.FilterMessage(msg).Len(); n != 1 {
			t.Errorf("logged %q %d times for one cut; want once", msg, n)
		}
	}
}

// TestRoutes_DirectAndProxied has two buses reach the server by different
// routes, one of them pinging its silent listening connection: they hear
// each other.
func TestRoutes_DirectAndProxied(t *testing.T) {
	t.Parallel()
	dsn := testenv.Postgres(t)
	ch := testenv.Prefix(t)
	_, viaProxy := proxied(t, dsn, ch)
	a := newBus(t, Options{DSN: dsn})
	b := newBus(t, Options{DSN: viaProxy, PingInterval: 20 * time.Millisecond})
	ra, rb := subscribe(t, a, ch), subscribe(t, b, ch)

	// Wait for b's listening connection to be pinged, so that the payloads
	// below arrive on a connection whose waits have timed out before.
	raw, err := pgx.Connect(t.Context(), dsn)
	if err != nil {
		t.Fatalf("pgx.Connect: %v", err)
	}
	t.Cleanup(func() { raw.Close(context.Background()) })
	if !eventually(waitTimeout, func() bool {
		var n int
		err := raw.QueryRow(t.Context(), "SELECT count(*) FROM pg_stat_activity WHERE application_name = $1 AND query = '-- ping'", ch).Scan(&n)
		return err == nil && n > 0
	}) {
		t.Fatalf("the proxied bus's listening connection was not pinged within %v with PingInterval 20ms", waitTimeout)
	}

	publish(t, a, ch, []byte("from direct"))
	in := pattern(2*chunkSize + 1)
	publish(t, b, ch, in)
	for _, r := range []*inbox{ra, rb} {
		r.expect(t, []byte("from direct"), in)
	}
}
