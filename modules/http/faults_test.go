package http

import (
	"fmt"
	nethttp "net/http"
	"strings"
	"testing"
	"time"

	"github.com/bentocache/bento"
	"github.com/bentocache/bento/internal/tcpproxy"
	"github.com/bentocache/bento/internal/testenv"
	redisbus "github.com/bentocache/bento/modules/buses/redis"
	"github.com/bentocache/bento/modules/drivers/memory"
	"github.com/bentocache/bento/modules/drivers/redis"
)

// TestHandler_CacheDown cuts the store's L2 and bus off their Redis server,
// between the handler and a real Redis: the handler serves what its L1
// holds and sends everything else upstream, and a cache failure never
// becomes a 5xx, for a hit, a miss, an unsafe method's invalidation or an
// instance whose L1 is empty.
func TestHandler_CacheDown(t *testing.T) {
	proxy := tcpproxy.Start(t, testenv.Redis(t))
	prefix := testenv.Prefix(t)
	store := func() *bento.Store {
		addrs := []string{proxy.Addr()}
		return bento.NewStore(bento.Prefix(prefix), bento.BusChannel(prefix)).
			UseL1(memory.New(memory.Options{})).
			UseL2(redis.New(redis.Options{Addrs: addrs})).
			UseBus(redisbus.New(redisbus.Options{Addrs: addrs}))
	}
	h := newHandlerOn(t, store(), nil)
	cold := newHandlerOn(t, store(), nil) // another instance, which reads nothing before the cut
	o := &origin{header: hdr("Cache-Control", "max-age=600"), body: "from upstream"}
	served := func(h *Handler, method, target, wantStatus string, wantCalls int32) {
		t.Helper()
		w := do(t, h, o.handler(), method, target)
		if w.Code >= 500 || w.Body.String() != "from upstream" || o.calls.Load() != wantCalls ||
			!strings.Contains(w.Header().Get("Cache-Status"), wantStatus) {
			t.Errorf("%s %s with the cache's Redis cut = %d %q, Cache-Status %q, upstream calls %d; want 200 %q, %q, %d calls: a cache failure never becomes a 5xx",
				method, target, w.Code, w.Body.String(), w.Header().Get("Cache-Status"), o.calls.Load(), "from upstream", wantStatus, wantCalls)
		}
	}

	served(h, nethttp.MethodGet, "http://example.com/a", "fwd=uri-miss", 1)
	proxy.Cut()
	served(h, nethttp.MethodGet, "http://example.com/a", "hit", 1)
	served(h, nethttp.MethodGet, "http://example.com/b", "fwd=", 2)
	served(h, nethttp.MethodPost, "http://example.com/a", "fwd=", 3)
	served(cold, nethttp.MethodGet, "http://example.com/c", "fwd=", 4)

	proxy.Restore()
	// Once Redis is back, the cache works again: a response stored by one
	// instance is a hit on another, from L2.
	warm := newHandlerOn(t, store(), nil)
	deadline := time.Now().Add(15 * time.Second)
	for k := 0; ; k++ {
		target := fmt.Sprintf("http://example.com/d%d", k)
		do(t, cold, o.handler(), nethttp.MethodGet, target)
		if w := do(t, warm, o.handler(), nethttp.MethodGet, target); strings.Contains(w.Header().Get("Cache-Status"), "hit") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("15s after Redis came back, a response stored by one instance is still not a hit on another; want the L2 to work again")
		}
		time.Sleep(50 * time.Millisecond) // the breaker's next probe; polling, with a deadline
	}
}
