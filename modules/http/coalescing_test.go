package http

import (
	"io"
	nethttp "net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
)

// TestHandler_Coalescing: 1,000 concurrent requests for a cold URL make
// one upstream request, and every one of them gets its response.
func TestHandler_Coalescing(t *testing.T) {
	const n = 1000
	h := newHandler(t, nil)
	var calls atomic.Int32
	release := make(chan struct{})
	next := caddyhttp.HandlerFunc(func(w nethttp.ResponseWriter, r *nethttp.Request) error {
		calls.Add(1)
		<-release // hold the one upstream request while the others arrive
		w.Header().Set("Cache-Control", "max-age=60")
		_, _ = io.WriteString(w, "cold")
		return nil
	})
	var started, wg sync.WaitGroup
	started.Add(n)
	bodies := make([]string, n)
	for i := range n {
		wg.Go(func() {
			r := httptest.NewRequestWithContext(t.Context(), "GET", "http://example.com/cold", nil)
			w := httptest.NewRecorder()
			started.Done()
			if err := h.ServeHTTP(w, r, next); err != nil {
				t.Errorf("ServeHTTP = %v", err)
			}
			bodies[i] = w.Body.String()
		})
	}
	started.Wait()
	close(release)
	wg.Wait()
	if got := calls.Load(); got != 1 {
		t.Errorf("%d concurrent GETs of a cold URL: %d upstream requests; want 1", n, got)
	}
	for i, b := range bodies {
		if b != "cold" {
			t.Fatalf("request %d got body %q; want the upstream's %q", i, b, "cold")
		}
	}
}

// TestHandler_HitForPassInParallel: once a URI's response has turned out
// not to be storable, concurrent requests for it go upstream together,
// not one after another behind a coalesced fetch. The upstream answers
// only when it holds all of them at once, so queued requests would never
// be answered within the deadline.
func TestHandler_HitForPassInParallel(t *testing.T) {
	const n = 20
	h := newHandler(t, nil)
	var inFlight atomic.Int32
	all := make(chan struct{})
	var once sync.Once
	gate := true
	next := caddyhttp.HandlerFunc(func(w nethttp.ResponseWriter, r *nethttp.Request) error {
		if gate {
			if inFlight.Add(1) == n {
				once.Do(func() { close(all) })
			}
			select {
			case <-all:
			case <-time.After(10 * time.Second):
				w.WriteHeader(nethttp.StatusGatewayTimeout)
				return nil
			}
		}
		w.Header().Set("Cache-Control", "no-store")
		_, _ = io.WriteString(w, "private")
		return nil
	})
	gate = false
	do(t, h, next, "GET", "http://example.com/uncacheable") // leaves the hit-for-pass marker
	gate = true

	var wg sync.WaitGroup
	codes := make([]int, n)
	for i := range n {
		wg.Go(func() {
			r := httptest.NewRequestWithContext(t.Context(), "GET", "http://example.com/uncacheable", nil)
			w := httptest.NewRecorder()
			if err := h.ServeHTTP(w, r, next); err != nil {
				t.Errorf("ServeHTTP = %v", err)
			}
			codes[i] = w.Code
		})
	}
	wg.Wait()
	for i, code := range codes {
		if code != nethttp.StatusOK {
			t.Fatalf("request %d of %d concurrent ones after a no-store response: %d; want 200 (the upstream never held all %d at once: they queued behind one another)", i, n, code, n)
		}
	}
}
