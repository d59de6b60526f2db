package http

import (
	"io"
	nethttp "net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"

	"github.com/bentocache/bento"
	"github.com/bentocache/bento/modules/drivers/memory"
)

// origin is an upstream for the handler: it answers with status, header
// and body, and counts its requests.
type origin struct {
	status int
	header nethttp.Header
	body   string
	calls  atomic.Int32
	last   atomic.Pointer[nethttp.Request]
}

func (o *origin) handler() caddyhttp.Handler {
	return caddyhttp.HandlerFunc(func(w nethttp.ResponseWriter, r *nethttp.Request) error {
		o.calls.Add(1)
		o.last.Store(r)
		for k, v := range o.header {
			w.Header()[k] = v
		}
		if inm := r.Header.Get("If-None-Match"); inm != "" && inm == o.header.Get("ETag") {
			w.WriteHeader(nethttp.StatusNotModified)
			return nil
		}
		status := o.status
		if status == 0 {
			status = nethttp.StatusOK
		}
		w.WriteHeader(status)
		_, _ = io.WriteString(w, o.body)
		return nil
	})
}

// newHandler returns a handler on a fresh memory store.
func newHandler(t *testing.T, configure func(*Handler)) *Handler {
	t.Helper()
	return newHandlerOn(t, bento.NewStore().UseL1(memory.New(memory.Options{})), configure)
}

// newHandlerOn returns a handler on store, closed when t ends.
func newHandlerOn(t *testing.T, store *bento.Store, configure func(*Handler)) *Handler {
	t.Helper()
	b, err := bento.New(bento.Config{Stores: map[string]*bento.Store{"main": store}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = b.Close() })
	h := new(Handler)
	if configure != nil {
		configure(h)
	}
	if err := h.setup(zap.NewNop()); err != nil {
		t.Fatalf("setup = %v", err)
	}
	h.cache = b.Namespace("http")
	t.Cleanup(func() { _ = h.Cleanup() })
	return h
}

// do sends one request through h to next and returns the response.
func do(t *testing.T, h *Handler, next caddyhttp.Handler, method, target string, header ...string) *httptest.ResponseRecorder {
	t.Helper()
	r := httptest.NewRequestWithContext(t.Context(), method, target, nil)
	for i := 0; i+1 < len(header); i += 2 {
		r.Header.Add(header[i], header[i+1])
	}
	w := httptest.NewRecorder()
	if err := h.ServeHTTP(w, r, next); err != nil {
		t.Fatalf("ServeHTTP(%s %s) = %v", method, target, err)
	}
	if w.Header().Get("Cache-Status") == "" {
		t.Errorf("%s %s: no Cache-Status header; RFC 9211 wants one on every response", method, target)
	}
	return w
}

func hdr(kv ...string) nethttp.Header {
	h := make(nethttp.Header)
	for i := 0; i+1 < len(kv); i += 2 {
		h.Add(kv[i], kv[i+1])
	}
	return h
}

// TestHandler_Storing: a second GET is answered from the cache exactly
// when RFC 9111 §3 and §4.2 allow it.
func TestHandler_Storing(t *testing.T) {
	old := time.Now().Add(-100 * time.Hour).UTC().Format(nethttp.TimeFormat)
	future := time.Now().Add(time.Hour).UTC().Format(nethttp.TimeFormat)
	tests := []struct {
		name      string
		status    int
		header    nethttp.Header
		reqHeader []string
		wantCalls int32
	}{
		{name: "MaxAge", header: hdr("Cache-Control", "max-age=60"), wantCalls: 1},
		{name: "SMaxage", header: hdr("Cache-Control", "s-maxage=60, max-age=0"), wantCalls: 1},
		{name: "SMaxageOverMaxAge", header: hdr("Cache-Control", "s-maxage=0, max-age=60"), wantCalls: 2},
		{name: "Expires", header: hdr("Expires", future), wantCalls: 1},
		{name: "InvalidExpires", header: hdr("Expires", "soon"), wantCalls: 2},
		{name: "Heuristic", header: hdr("Last-Modified", old), wantCalls: 1},
		{name: "HeuristicNotFor500", status: 500, header: hdr("Last-Modified", old), wantCalls: 2},
		{name: "NoStore", header: hdr("Cache-Control", "max-age=60, no-store"), wantCalls: 2},
		{name: "Private", header: hdr("Cache-Control", "max-age=60, private"), wantCalls: 2},
		{name: "NoFreshness", header: hdr(), wantCalls: 2},
		{name: "InvalidMaxAge", header: hdr("Cache-Control", "max-age=soon"), wantCalls: 2},
		{name: "VaryStar", header: hdr("Cache-Control", "max-age=60", "Vary", "*"), wantCalls: 2},
		{name: "AuthorizationPrivateByDefault", header: hdr("Cache-Control", "max-age=60"), reqHeader: []string{"Authorization", "Basic eDp5"}, wantCalls: 2},
		{name: "AuthorizationPublic", header: hdr("Cache-Control", "max-age=60, public"), reqHeader: []string{"Authorization", "Basic eDp5"}, wantCalls: 1},
		{name: "Status404MaxAge", status: 404, header: hdr("Cache-Control", "max-age=60"), wantCalls: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			h := newHandler(t, nil)
			o := &origin{status: tt.status, header: tt.header, body: "hello"}
			do(t, h, o.handler(), "GET", "http://example.com/a?x=1", tt.reqHeader...)
			w := do(t, h, o.handler(), "GET", "http://example.com/a?x=1", tt.reqHeader...)
			if got := o.calls.Load(); got != tt.wantCalls {
				t.Errorf("two GETs with response header %v: upstream called %d times; want %d (Cache-Status %q)", tt.header, got, tt.wantCalls, w.Header().Get("Cache-Status"))
			}
			if w.Body.String() != "hello" {
				t.Errorf("second GET body = %q; want %q", w.Body.String(), "hello")
			}
		})
	}
}

// TestHandler_RequestDirectives: the request's Cache-Control (§5.2.1).
func TestHandler_RequestDirectives(t *testing.T) {
	tests := []struct {
		name       string
		reqHeader  []string
		wantStatus int
		wantCalls  int32
	}{
		{name: "None", wantStatus: 200, wantCalls: 1},
		{name: "NoCache", reqHeader: []string{"Cache-Control", "no-cache"}, wantStatus: 200, wantCalls: 2},
		{name: "PragmaNoCache", reqHeader: []string{"Pragma", "no-cache"}, wantStatus: 200, wantCalls: 2},
		{name: "MaxAgeZero", reqHeader: []string{"Cache-Control", "max-age=0"}, wantStatus: 200, wantCalls: 2},
		{name: "MinFreshTooLong", reqHeader: []string{"Cache-Control", "min-fresh=3600"}, wantStatus: 200, wantCalls: 2},
		{name: "NoStore", reqHeader: []string{"Cache-Control", "no-store"}, wantStatus: 200, wantCalls: 2},
		{name: "OnlyIfCachedHit", reqHeader: []string{"Cache-Control", "only-if-cached"}, wantStatus: 200, wantCalls: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			h := newHandler(t, nil)
			o := &origin{header: hdr("Cache-Control", "max-age=60"), body: "b"}
			do(t, h, o.handler(), "GET", "http://example.com/r")
			w := do(t, h, o.handler(), "GET", "http://example.com/r", tt.reqHeader...)
			if w.Code != tt.wantStatus || o.calls.Load() != tt.wantCalls {
				t.Errorf("GET with %v after a stored max-age=60 = %d, %d upstream calls; want %d, %d", tt.reqHeader, w.Code, o.calls.Load(), tt.wantStatus, tt.wantCalls)
			}
		})
	}
	t.Run("OnlyIfCachedMiss", func(t *testing.T) {
		h := newHandler(t, nil)
		o := &origin{header: hdr("Cache-Control", "max-age=60")}
		w := do(t, h, o.handler(), "GET", "http://example.com/none", "Cache-Control", "only-if-cached")
		if w.Code != nethttp.StatusGatewayTimeout || o.calls.Load() != 0 {
			t.Errorf("only-if-cached on a miss = %d with %d upstream calls; want 504 and none", w.Code, o.calls.Load())
		}
	})
}

// TestHandler_Validation: a stale entry with an ETag is revalidated, and
// the 304 refreshes its headers (§4.3); a client's own conditional request
// gets a 304 from a fresh entry.
func TestHandler_Validation(t *testing.T) {
	h := newHandler(t, nil)
	o := &origin{header: hdr("Cache-Control", "max-age=0", "ETag", `"v1"`, "X-Gen", "1"), body: "body"}
	do(t, h, o.handler(), "GET", "http://example.com/v")
	o.header = hdr("Cache-Control", "max-age=60", "ETag", `"v1"`, "X-Gen", "2")
	w := do(t, h, o.handler(), "GET", "http://example.com/v")
	if got := o.last.Load().Header.Get("If-None-Match"); got != `"v1"` {
		t.Errorf("revalidation sent If-None-Match %q; want %q", got, `"v1"`)
	}
	if w.Code != 200 || w.Body.String() != "body" || w.Header().Get("X-Gen") != "2" {
		t.Errorf("after a 304: %d %q X-Gen=%q; want 200 \"body\" X-Gen=2 (headers updated from the 304)", w.Code, w.Body.String(), w.Header().Get("X-Gen"))
	}
	w = do(t, h, o.handler(), "GET", "http://example.com/v", "If-None-Match", `"v1"`)
	if w.Code != nethttp.StatusNotModified || o.calls.Load() != 2 {
		t.Errorf("conditional GET on a fresh entry = %d after %d upstream calls; want 304 after 2", w.Code, o.calls.Load())
	}
	w = do(t, h, o.handler(), "HEAD", "http://example.com/v")
	if w.Code != 200 || w.Body.Len() != 0 || o.calls.Load() != 2 {
		t.Errorf("HEAD on a stored GET = %d, body %q, %d upstream calls; want 200, empty, 2", w.Code, w.Body.String(), o.calls.Load())
	}
}

// TestHandler_Age: Age counts the time the response spent in the cache
// plus the Age it came with (§4.2.3).
func TestHandler_Age(t *testing.T) {
	h := newHandler(t, nil)
	now := time.Now()
	h.now = func() time.Time { return now }
	o := &origin{header: hdr("Cache-Control", "max-age=600", "Age", "10")}
	do(t, h, o.handler(), "GET", "http://example.com/age")
	now = now.Add(30 * time.Second)
	w := do(t, h, o.handler(), "GET", "http://example.com/age")
	if got := w.Header().Get("Age"); got != "40" {
		t.Errorf("Age after 30s in the cache of a response with Age: 10 = %q; want 40", got)
	}
	if cs := w.Header().Get("Cache-Status"); !strings.HasPrefix(cs, "bento; hit") {
		t.Errorf("Cache-Status = %q; want a hit", cs)
	}
}

// TestHandler_Vary: one entry per variant.
func TestHandler_Vary(t *testing.T) {
	h := newHandler(t, nil)
	o := &origin{header: hdr("Cache-Control", "max-age=60", "Vary", "Accept-Language")}
	for _, lang := range []string{"en", "fr", "en", "fr"} {
		do(t, h, o.handler(), "GET", "http://example.com/vary", "Accept-Language", lang)
	}
	if got := o.calls.Load(); got != 2 {
		t.Errorf("GETs in en, fr, en, fr of a Vary: Accept-Language response: %d upstream calls; want 2", got)
	}
}

// TestHandler_Invalidation: a non-error response to an unsafe method
// invalidates the target URI and a same-origin Location (§4.4).
func TestHandler_Invalidation(t *testing.T) {
	tests := []struct {
		name       string
		status     int
		location   string
		wantCalls  int32
		invalidate string
	}{
		{name: "PostTarget", status: 200, invalidate: "http://example.com/doc", wantCalls: 2},
		{name: "PostError", status: 500, invalidate: "http://example.com/doc", wantCalls: 1},
		{name: "Location", status: 201, location: "/doc", invalidate: "http://example.com/other", wantCalls: 2},
		{name: "OtherOriginLocation", status: 201, location: "http://elsewhere.com/doc", invalidate: "http://example.com/other", wantCalls: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			h := newHandler(t, nil)
			o := &origin{header: hdr("Cache-Control", "max-age=60")}
			do(t, h, o.handler(), "GET", "http://example.com/doc")
			post := &origin{status: tt.status, header: hdr("Location", tt.location)}
			do(t, h, post.handler(), "POST", tt.invalidate)
			do(t, h, o.handler(), "GET", "http://example.com/doc")
			if got := o.calls.Load(); got != tt.wantCalls {
				t.Errorf("GET, POST %s (%d, Location %q), GET: %d upstream GETs; want %d", tt.invalidate, tt.status, tt.location, got, tt.wantCalls)
			}
		})
	}
}

// TestHandler_LargeBodyPasses: a body over max_body_size streams through
// and is not stored.
func TestHandler_LargeBodyPasses(t *testing.T) {
	h := newHandler(t, func(h *Handler) { h.MaxBodySize = 8 })
	o := &origin{header: hdr("Cache-Control", "max-age=60"), body: strings.Repeat("x", 100)}
	w := do(t, h, o.handler(), "GET", "http://example.com/big")
	w2 := do(t, h, o.handler(), "GET", "http://example.com/big")
	if w.Body.Len() != 100 || w2.Body.Len() != 100 || o.calls.Load() != 2 {
		t.Errorf("two GETs of a 100-byte body with max_body_size 8: bodies %d and %d bytes, %d upstream calls; want 100, 100, 2", w.Body.Len(), w2.Body.Len(), o.calls.Load())
	}
}

// TestHandler_SurrogateKeys: the upstream's Surrogate-Key becomes tags,
// and deleting a tag purges the response.
func TestHandler_SurrogateKeys(t *testing.T) {
	h := newHandler(t, nil)
	o := &origin{header: hdr("Cache-Control", "max-age=60", "Surrogate-Key", "a b")}
	do(t, h, o.handler(), "GET", "http://example.com/tagged")
	if err := h.cache.DeleteByTag(t.Context(), "b"); err != nil {
		t.Fatal(err)
	}
	do(t, h, o.handler(), "GET", "http://example.com/tagged")
	if got := o.calls.Load(); got != 2 {
		t.Errorf("GET, DeleteByTag(b), GET of a response with Surrogate-Key: a b: %d upstream calls; want 2", got)
	}
}

// TestHandler_StaleIfError: an upstream error is answered from a stale
// entry when stale-if-error allows it, or the "+" extension of a
// Surrogate-Control max-age.
func TestHandler_StaleIfError(t *testing.T) {
	for _, header := range []nethttp.Header{
		hdr("Cache-Control", "max-age=1, stale-if-error=600"),
		hdr("Surrogate-Control", "max-age=1+600"),
	} {
		h := newHandler(t, nil)
		now := time.Now()
		h.now = func() time.Time { return now }
		o := &origin{header: header, body: "good"}
		do(t, h, o.handler(), "GET", "http://example.com/sie")
		now = now.Add(5 * time.Second)
		o.status, o.body, o.header = 503, "bad", hdr()
		w := do(t, h, o.handler(), "GET", "http://example.com/sie")
		if w.Code != 200 || w.Body.String() != "good" {
			t.Errorf("entry stored with %v, stale, upstream 503: got %d %q; want the stale 200 \"good\"", header, w.Code, w.Body.String())
		}
	}
}

// TestHandler_AgeParsing: the Age a response arrives with is its first
// member; a value that is not a non-negative integer is ignored (RFC 9111
// §5.1). With max-age=3600, an Age of 7200 makes the response stale at once.
func TestHandler_AgeParsing(t *testing.T) {
	tests := []struct {
		name      string
		ages      []string // Age field lines
		wantCalls int32
	}{
		{name: "Old", ages: []string{"7200"}, wantCalls: 2},
		{name: "OldFirstMember", ages: []string{"7200, 0"}, wantCalls: 2},
		{name: "ZeroFirstMember", ages: []string{"0, 7200"}, wantCalls: 1},
		{name: "OldFirstLine", ages: []string{"7200", "0"}, wantCalls: 2},
		{name: "ZeroFirstLine", ages: []string{"0", "7200"}, wantCalls: 1},
		{name: "NonNumericIgnored", ages: []string{"abc"}, wantCalls: 1},
		{name: "NegativeIgnored", ages: []string{"-7200"}, wantCalls: 1},
		{name: "FloatIgnored", ages: []string{"7200.0"}, wantCalls: 1},
		{name: "ParameterIgnored", ages: []string{"7200;foo=bar"}, wantCalls: 1},
		{name: "Saturated", ages: []string{"99999999999999999999"}, wantCalls: 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			h := newHandler(t, nil)
			header := hdr("Cache-Control", "max-age=3600")
			header["Age"] = tt.ages
			o := &origin{header: header, body: "hello"}
			do(t, h, o.handler(), "GET", "http://example.com/age")
			do(t, h, o.handler(), "GET", "http://example.com/age")
			if got := o.calls.Load(); got != tt.wantCalls {
				t.Errorf("two GETs of a max-age=3600 response with Age %q: %d upstream calls; want %d", tt.ages, got, tt.wantCalls)
			}
		})
	}
}

// TestHandler_304KeepsContentFields: a 304 updates the stored header
// fields, except those describing the stored content, which it comes
// without (RFC 9111 §3.2, §4.3.4).
func TestHandler_304KeepsContentFields(t *testing.T) {
	h := newHandler(t, nil)
	first := hdr("Cache-Control", "max-age=0", "ETag", `"v1"`, "Content-Encoding", "gzip", "Content-MD5", "md5-1",
		"Content-Range", "bytes 0-3/4", "X-Gen", "1")
	update := hdr("Cache-Control", "max-age=60", "ETag", `"v2"`, "Content-Encoding", "br", "Content-MD5", "md5-2",
		"Content-Range", "bytes 0-3/9", "X-Gen", "2")
	next := caddyhttp.HandlerFunc(func(w nethttp.ResponseWriter, r *nethttp.Request) error {
		if r.Header.Get("If-None-Match") != "" {
			copyHeader(w.Header(), update)
			w.WriteHeader(nethttp.StatusNotModified)
			return nil
		}
		copyHeader(w.Header(), first)
		_, _ = io.WriteString(w, "body")
		return nil
	})
	do(t, h, next, "GET", "http://example.com/304")
	for i := range 2 { // the answer to the revalidation, then the updated entry
		w := do(t, h, next, "GET", "http://example.com/304")
		if w.Code != 200 || w.Body.String() != "body" || w.Header().Get("X-Gen") != "2" {
			t.Fatalf("GET %d after a 304: %d %q X-Gen=%q; want 200 \"body\" X-Gen=2", i+2, w.Code, w.Body.String(), w.Header().Get("X-Gen"))
		}
		for _, name := range []string{"ETag", "Content-Encoding", "Content-MD5", "Content-Range"} {
			if got, want := w.Header().Get(name), first.Get(name); got != want {
				t.Errorf("GET %d after a 304 with %s: %q: %s = %q; want the stored %q", i+2, name, update.Get(name), name, got, want)
			}
		}
	}
}

// TestHandler_MustUnderstand: must-understand stores a response only when
// the cache knows the rules of its status code, and then overrides
// no-store (RFC 9111 §5.2.2.3).
func TestHandler_MustUnderstand(t *testing.T) {
	tests := []struct {
		name      string
		status    int
		cc        string
		wantCalls int32
	}{
		{name: "UnknownStatus", status: 599, cc: "max-age=3600, must-understand", wantCalls: 2},
		{name: "UnknownStatusWithout", status: 599, cc: "max-age=3600", wantCalls: 1},
		{name: "KnownStatusOverridesNoStore", status: 200, cc: "max-age=3600, no-store, must-understand", wantCalls: 1},
		{name: "NoStoreWithout", status: 200, cc: "max-age=3600, no-store", wantCalls: 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			h := newHandler(t, nil)
			o := &origin{status: tt.status, header: hdr("Cache-Control", tt.cc), body: "x"}
			do(t, h, o.handler(), "GET", "http://example.com/mu")
			do(t, h, o.handler(), "GET", "http://example.com/mu")
			if got := o.calls.Load(); got != tt.wantCalls {
				t.Errorf("two GETs of a %d with Cache-Control: %s: %d upstream calls; want %d", tt.status, tt.cc, got, tt.wantCalls)
			}
		})
	}
}

// TestHandler_SurrogateControl: Surrogate-Control (W3C Edge Architecture)
// governs the cache over Cache-Control when it has a max-age or no-store
// for it — targeted at its device token, else untargeted — and is removed
// from the responses to the client; the requests upstream announce the
// cache in Surrogate-Capability.
func TestHandler_SurrogateControl(t *testing.T) {
	tests := []struct {
		name      string
		header    nethttp.Header
		wantCalls int32
	}{
		{name: "MaxAge", header: hdr("Surrogate-Control", "max-age=3600"), wantCalls: 1},
		{name: "MaxAgeCaseInsensitive", header: hdr("Surrogate-Control", "MaX-aGe=3600"), wantCalls: 1},
		{name: "TargetedAtIt", header: hdr("Surrogate-Control", "max-age=3600;bento"), wantCalls: 1},
		{name: "TargetedElsewhere", header: hdr("Surrogate-Control", "max-age=3600;other"), wantCalls: 2},
		{name: "TargetedWins", header: hdr("Surrogate-Control", "max-age=3600, max-age=0;bento"), wantCalls: 2},
		{name: "OverCacheControlNoStore", header: hdr("Cache-Control", "no-store", "Surrogate-Control", "max-age=3600;bento"), wantCalls: 1},
		{name: "NoStoreOverCacheControl", header: hdr("Cache-Control", "max-age=3600", "Surrogate-Control", "no-store"), wantCalls: 2},
		{name: "ShortOverLongCacheControl", header: hdr("Cache-Control", "max-age=3600", "Surrogate-Control", "max-age=0"), wantCalls: 2},
		{name: "OverPastExpires", header: hdr("Expires", "Thu, 01 Jan 1970 00:00:00 GMT", "Surrogate-Control", "max-age=3600"), wantCalls: 1},
		{name: "BlankBeforeEqualsIgnored", header: hdr("Surrogate-Control", "max-age =3600"), wantCalls: 2},
		{name: "OtherDirectivesLeaveCacheControl", header: hdr("Cache-Control", "max-age=3600", "Surrogate-Control", `content="ESI/1.0"`), wantCalls: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			h := newHandler(t, nil)
			o := &origin{header: tt.header, body: "hello"}
			w1 := do(t, h, o.handler(), "GET", "http://example.com/sc")
			w2 := do(t, h, o.handler(), "GET", "http://example.com/sc")
			if got := o.calls.Load(); got != tt.wantCalls {
				t.Errorf("two GETs of a response with %v: %d upstream calls; want %d", tt.header, got, tt.wantCalls)
			}
			for i, w := range []*httptest.ResponseRecorder{w1, w2} {
				if sc := w.Header().Values("Surrogate-Control"); len(sc) > 0 {
					t.Errorf("response %d to the client has Surrogate-Control %q; the cache should remove it", i+1, sc)
				}
			}
			if got, want := o.last.Load().Header.Get("Surrogate-Capability"), `bento="Surrogate/1.0"`; got != want {
				t.Errorf("request upstream has Surrogate-Capability %q; want %q", got, want)
			}
		})
	}
	t.Run("Bypass", func(t *testing.T) {
		h := newHandler(t, nil)
		o := &origin{header: hdr("Surrogate-Control", "max-age=3600")}
		for _, method := range []string{"GET", "POST"} {
			w := do(t, h, o.handler(), method, "http://example.com/sc-bypass", "Cache-Control", "no-store")
			if sc := w.Header().Values("Surrogate-Control"); len(sc) > 0 {
				t.Errorf("%s passed through: response has Surrogate-Control %q; the cache should remove it", method, sc)
			}
			if got := o.last.Load().Header.Get("Surrogate-Capability"); got == "" {
				t.Errorf("%s passed through: no Surrogate-Capability upstream", method)
			}
		}
	})
}

// TestHandler_Range: a Range request is answered from a stored 200 with a
// 206 (or a 416, or the whole 200 when If-Range does not match); one the
// cache cannot answer goes upstream as it is and is not stored.
func TestHandler_Range(t *testing.T) {
	h := newHandler(t, nil)
	o := &origin{header: hdr("Cache-Control", "max-age=60", "ETag", `"v1"`, "Content-Type", "text/plain"), body: "0123456789"}
	do(t, h, o.handler(), "GET", "http://example.com/range", "Range", "bytes=0-1")
	if got := o.last.Load().Header.Get("Range"); got != "bytes=0-1" {
		t.Errorf("Range request on a miss went upstream with Range %q; want it as it is", got)
	}
	do(t, h, o.handler(), "GET", "http://example.com/range")
	if got := o.calls.Load(); got != 2 {
		t.Fatalf("Range GET on a miss, then a GET: %d upstream calls; want 2 (the ranged answer is not stored)", got)
	}
	tests := []struct {
		reqHeader    []string
		wantStatus   int
		wantBody     string
		contentRange string
	}{
		{reqHeader: []string{"Range", "bytes=0-1"}, wantStatus: 206, wantBody: "01", contentRange: "bytes 0-1/10"},
		{reqHeader: []string{"Range", "bytes=5-"}, wantStatus: 206, wantBody: "56789", contentRange: "bytes 5-9/10"},
		{reqHeader: []string{"Range", "bytes=-1"}, wantStatus: 206, wantBody: "9", contentRange: "bytes 9-9/10"},
		{reqHeader: []string{"Range", "bytes=20-"}, wantStatus: 416, contentRange: "bytes */10"},
		{reqHeader: []string{"Range", "bytes=0-1", "If-Range", `"v1"`}, wantStatus: 206, wantBody: "01", contentRange: "bytes 0-1/10"},
		{reqHeader: []string{"Range", "bytes=0-1", "If-Range", `"v0"`}, wantStatus: 200, wantBody: "0123456789"},
	}
	for _, tt := range tests {
		w := do(t, h, o.handler(), "GET", "http://example.com/range", tt.reqHeader...)
		if w.Code != tt.wantStatus || (tt.wantBody != "" && w.Body.String() != tt.wantBody) || w.Header().Get("Content-Range") != tt.contentRange {
			t.Errorf("GET with %q on a stored 200: %d %q Content-Range %q; want %d %q %q",
				tt.reqHeader, w.Code, w.Body.String(), w.Header().Get("Content-Range"), tt.wantStatus, tt.wantBody, tt.contentRange)
		}
		if w.Code == 206 && w.Header().Get("Content-Length") != strconv.Itoa(len(tt.wantBody)) {
			t.Errorf("GET with %q: Content-Length %q; want %d", tt.reqHeader, w.Header().Get("Content-Length"), len(tt.wantBody))
		}
	}
	w := do(t, h, o.handler(), "GET", "http://example.com/range", "Range", "bytes=0-0,2-2")
	if ct := w.Header().Get("Content-Type"); w.Code != 206 || !strings.HasPrefix(ct, "multipart/byteranges") {
		t.Errorf("GET with two ranges: %d, Content-Type %q; want 206 multipart/byteranges", w.Code, ct)
	}
	if got := o.calls.Load(); got != 2 {
		t.Errorf("Range GETs on a stored 200: %d upstream calls in all; want still 2", got)
	}
}

// TestHandler_RangeStaleWhileRevalidate: a Range request answered from a
// stale entry refreshes the whole response, not the range.
func TestHandler_RangeStaleWhileRevalidate(t *testing.T) {
	h := newHandler(t, nil)
	var now atomic.Pointer[time.Time]
	start := time.Now()
	now.Store(&start)
	h.now = func() time.Time { return *now.Load() }
	var calls atomic.Int32
	next := caddyhttp.HandlerFunc(func(w nethttp.ResponseWriter, r *nethttp.Request) error {
		calls.Add(1)
		w.Header().Set("Cache-Control", "max-age=1, stale-while-revalidate=600")
		nethttp.ServeContent(w, r, "", time.Time{}, strings.NewReader("0123456789"))
		return nil
	})
	do(t, h, next, "GET", "http://example.com/range-swr")
	later := start.Add(5 * time.Second)
	now.Store(&later)
	w := do(t, h, next, "GET", "http://example.com/range-swr", "Range", "bytes=0-1")
	if w.Code != 206 || w.Body.String() != "01" {
		t.Fatalf("Range GET on a stale entry within stale-while-revalidate: %d %q; want 206 \"01\"", w.Code, w.Body.String())
	}
	if err := h.Cleanup(); err != nil { // waits for the background refresh
		t.Fatal(err)
	}
	w = do(t, h, next, "GET", "http://example.com/range-swr")
	if w.Code != 200 || w.Body.String() != "0123456789" || calls.Load() != 2 {
		t.Errorf("GET after the refresh: %d %q after %d upstream calls; want 200 with the whole body after 2 (the refresh stored it)", w.Code, w.Body.String(), calls.Load())
	}
}

// TestHandler_KeyHeaders: key_headers select variants as a Vary would,
// also of a response that has no Vary, and a purge by URL removes them
// all.
func TestHandler_KeyHeaders(t *testing.T) {
	h := newHandler(t, func(h *Handler) { h.KeyHeaders = []string{"x-tenant", "X-Tenant"} })
	o := &origin{header: hdr("Cache-Control", "max-age=60")}
	get := func(tenant, wantStatus string) {
		t.Helper()
		w := do(t, h, o.handler(), "GET", "http://example.com/page", "X-Tenant", tenant)
		if cs := w.Header().Get("Cache-Status"); !strings.Contains(cs, wantStatus) {
			t.Errorf("GET for tenant %q: Cache-Status = %q; want %q", tenant, cs, wantStatus)
		}
	}
	get("a", "fwd=")
	get("b", "fwd=")
	get("a", "hit")
	get("b", "hit")
	if got := o.calls.Load(); got != 2 {
		t.Errorf("GETs for tenants a, b, a, b: %d upstream calls; want 2, one per tenant", got)
	}
	if _, err := (Purge{URLs: []string{"http://example.com/page"}}).Run(t.Context(), h.cache); err != nil {
		t.Fatal(err)
	}
	get("a", "fwd=")
	get("b", "fwd=")
	if got := o.calls.Load(); got != 4 {
		t.Errorf("after a purge of the URL: %d upstream calls in all; want 4: the purge removes every tenant's response", got)
	}
}

func TestHandler_KeyHeadersInvalid(t *testing.T) {
	h := &Handler{KeyHeaders: []string{"X-Tenant", "bad header"}}
	if err := h.Validate(); err == nil || !strings.Contains(err.Error(), `key_headers[1]: "bad header" is not a header name`) {
		t.Errorf("Validate() with key_headers [X-Tenant, \"bad header\"] = %v; want an error naming key_headers[1]", err)
	}
}

func TestHandler_KeyHeadersCaddyfile(t *testing.T) {
	var h Handler
	d := caddyfile.NewTestDispenser("bento_cache http {\n\tkey_headers X-Tenant Accept-Encoding\n\tkey_headers X-Device\n}")
	if err := h.UnmarshalCaddyfile(d); err != nil || !slices.Equal(h.KeyHeaders, []string{"X-Tenant", "Accept-Encoding", "X-Device"}) {
		t.Errorf("UnmarshalCaddyfile = %v, key_headers %q; want <nil>, [X-Tenant Accept-Encoding X-Device]", err, h.KeyHeaders)
	}
	err := new(Handler).UnmarshalCaddyfile(caddyfile.NewTestDispenser("bento_cache {\n\tkey_headers\n}"))
	if err == nil || !strings.Contains(err.Error(), "key_headers needs at least one header name") {
		t.Errorf("UnmarshalCaddyfile of a bare key_headers = %v; want an error saying it needs a header name", err)
	}
}
