package http

import (
	"bytes"
	"context"
	"errors"
	nethttp "net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/caddyserver/caddy/v2/modules/caddyhttp"

	"github.com/bentocache/bento"
)

// readGrace lets a read see a stale entry for as long as it physically
// lives: the handler judges freshness itself.
const readGrace = 100 * 365 * 24 * time.Hour

// state is what a lookup found for a request.
type state struct {
	uri string
	idx *varyIndex
	key string
	rec *record // nil on a miss
}

// ServeHTTP answers r from the cache or through next, storing what it may.
func (h *Handler) ServeHTTP(w nethttp.ResponseWriter, r *nethttp.Request, next caddyhttp.Handler) error {
	switch r.Method {
	case nethttp.MethodGet, nethttp.MethodHead:
	case nethttp.MethodOptions, nethttp.MethodTrace, nethttp.MethodConnect:
		return h.pass(w, r, next, "fwd=bypass", false)
	default:
		return h.pass(w, r, next, "fwd=bypass", true)
	}
	reqCC := requestDirectives(r.Header)
	if reqCC.has("no-store") || r.Header.Get("Upgrade") != "" {
		return h.pass(w, r, next, "fwd=bypass", false)
	}
	// HEAD and Range requests are answered from a stored GET response; when
	// it cannot answer them, they go upstream as they are, and their
	// responses are not stored.
	passOnly := r.Method == nethttp.MethodHead || ranged(r)
	st := h.lookup(r)
	now := h.now()
	if st.rec == nil || st.rec.Pass {
		if reqCC.has("only-if-cached") {
			return h.gatewayTimeout(w)
		}
		if passOnly {
			return h.pass(w, r, next, "fwd=uri-miss", false)
		}
		if st.rec != nil { // hit-for-pass: no coalescing, but store if it may
			st.rec = nil
			return h.direct(w, r, next, st, "fwd=uri-miss")
		}
		return h.forward(w, r, next, st, "fwd=uri-miss")
	}

	rec := st.rec
	cc := h.responseDirectives(rec.Header)
	age := rec.age(now)
	life := h.policy.lifetime(rec.Status, rec.Header, cc, rec.date())
	ttl := life - age
	mustRevalidate := cc.has("must-revalidate") || cc.has("proxy-revalidate") || cc.has("s-maxage") || cc.has("no-cache")
	fresh := ttl > 0 && !cc.has("no-cache")
	acceptable := fresh && !reqCC.has("no-cache")
	if n, ok, valid := reqCC.seconds("max-age"); ok && valid && age > time.Duration(n)*time.Second {
		acceptable = false
	}
	if n, ok, valid := reqCC.seconds("min-fresh"); ok && valid && ttl < time.Duration(n)*time.Second {
		acceptable = false
	}
	if acceptable {
		return h.serve(w, r, rec, now, "hit; ttl="+strconv.FormatInt(int64(ttl/time.Second), 10))
	}
	stale := !fresh && !mustRevalidate && !reqCC.has("no-cache")
	if stale && reqCC.has("max-stale") {
		n, _, valid := reqCC.seconds("max-stale")
		if reqCC["max-stale"] == "" || (valid && -ttl <= time.Duration(n)*time.Second) {
			return h.serve(w, r, rec, now, "hit; ttl="+strconv.FormatInt(int64(ttl/time.Second), 10))
		}
	}
	if stale && -ttl <= h.swrWindow(cc) {
		h.refresh(r, next, st)
		return h.serve(w, r, rec, now, "hit; ttl="+strconv.FormatInt(int64(ttl/time.Second), 10)+"; detail=stale-while-revalidate")
	}
	if reqCC.has("only-if-cached") {
		return h.gatewayTimeout(w)
	}
	if passOnly {
		return h.pass(w, r, next, "fwd=stale", false)
	}
	fwd := "fwd=stale"
	if fresh {
		fwd = "fwd=request"
	}
	return h.forward(w, r, next, st, fwd)
}

// lookup finds the stored response r selects, fresh or stale. A cache
// failure reads as a miss.
func (h *Handler) lookup(r *nethttp.Request) state {
	ctx := r.Context()
	st := state{uri: targetURI(r)}
	if idx, found, err := bento.Get[varyIndex](ctx, h.cache, indexKey(st.uri)); err != nil {
		h.logger.Debug("reading the vary index", zap.String("uri", st.uri), zap.Error(err))
	} else if found {
		st.idx = &idx
	}
	st.key = variantKey(st.uri, st.idx, r)
	e, found, err := bento.GetEntry[record](ctx, h.cache, st.key, bento.Grace(readGrace))
	if err != nil {
		h.logger.Debug("reading a response", zap.String("key", st.key), zap.Error(err))
		return st
	}
	if found && (e.Value.Pass || e.Value.Status != 0) {
		rec := e.Value
		if rec.Pass || varyMatches(h.selecting(rec.Header), rec.Vary, r) {
			st.rec = &rec
		}
	}
	return st
}

// swrWindow is how long past its freshness a response may be answered
// while it is revalidated.
func (h *Handler) swrWindow(cc directives) time.Duration {
	if n, ok, valid := cc.seconds("stale-while-revalidate"); ok {
		return secondsDuration(n, valid)
	}
	return time.Duration(h.StaleWhileRevalidate)
}

// sieWindow is how long past its freshness a response may be answered
// when the upstream fails.
func (h *Handler) sieWindow(cc directives) time.Duration {
	if n, ok, valid := cc.seconds("stale-if-error"); ok {
		return secondsDuration(n, valid)
	}
	return time.Duration(h.StaleIfError)
}

// cacheStatus appends the handler's member to the Cache-Status field.
func (h *Handler) cacheStatus(hdr nethttp.Header, params string) {
	hdr.Add("Cache-Status", h.CacheStatusName+"; "+params)
}

func (h *Handler) gatewayTimeout(w nethttp.ResponseWriter) error {
	h.cacheStatus(w.Header(), "fwd=miss; detail=only-if-cached")
	w.WriteHeader(nethttp.StatusGatewayTimeout)
	return nil
}

// ranged reports whether r asks for part of the representation; only GET
// has range semantics (RFC 9110 §14.2).
func ranged(r *nethttp.Request) bool {
	return r.Method == nethttp.MethodGet && r.Header.Get("Range") != ""
}

// serve writes rec: a 304 to a conditional request it satisfies, the
// ranges asked for from a 200, headers only to HEAD.
func (h *Handler) serve(w nethttp.ResponseWriter, r *nethttp.Request, rec *record, now time.Time, status string) error {
	hdr := w.Header()
	for k, v := range rec.Header {
		hdr[k] = slices.Clone(v)
	}
	hdr.Del(surrogateControl)
	hdr.Set("Age", strconv.FormatInt(int64(rec.age(now)/time.Second), 10))
	h.cacheStatus(hdr, status)
	if rec.Status == nethttp.StatusOK && notModified(r, rec.Header) {
		for _, k := range []string{"Content-Length", "Content-Type", "Content-Encoding", "Content-Range"} {
			hdr.Del(k)
		}
		w.WriteHeader(nethttp.StatusNotModified)
		return nil
	}
	if rec.Status == nethttp.StatusOK && ranged(r) {
		serveRanges(w, r, rec)
		return nil
	}
	w.WriteHeader(rec.Status)
	if r.Method != nethttp.MethodHead && len(rec.Body) > 0 {
		_, _ = w.Write(rec.Body)
	}
	return nil
}

// serveRanges answers a Range request from the stored 200 rec through
// net/http's own range handling: a 206 with the range (or a multipart
// one with the ranges), a 416 for ranges outside the body, or the whole
// 200 when If-Range does not match. The stored Content-Length is the
// whole body's, so it goes; a missing Content-Type stays missing.
func serveRanges(w nethttp.ResponseWriter, r *nethttp.Request, rec *record) {
	hdr := w.Header()
	hdr.Del("Content-Length")
	if _, ok := hdr["Content-Type"]; !ok {
		hdr["Content-Type"] = nil
	}
	modified, _ := nethttp.ParseTime(rec.Header.Get("Last-Modified"))
	nethttp.ServeContent(w, r, "", modified, bytes.NewReader(rec.Body))
}

// notModified reports whether r's own conditions are met by a response
// with header hdr (RFC 9110 §13.1.2, §13.1.3).
func notModified(r *nethttp.Request, hdr nethttp.Header) bool {
	if inm := r.Header.Values("If-None-Match"); len(inm) > 0 {
		etag := strings.TrimPrefix(hdr.Get("ETag"), "W/")
		if etag == "" {
			return false
		}
		for _, line := range inm {
			for _, t := range strings.Split(line, ",") {
				t = strings.TrimSpace(t)
				if t == "*" || strings.TrimPrefix(t, "W/") == etag {
					return true
				}
			}
		}
		return false
	}
	ims, err := nethttp.ParseTime(r.Header.Get("If-Modified-Since"))
	if err != nil {
		return false
	}
	lm, err := nethttp.ParseTime(hdr.Get("Last-Modified"))
	if err != nil {
		if lm, err = nethttp.ParseTime(hdr.Get("Date")); err != nil {
			return false
		}
	}
	return !lm.After(ims)
}

// forward gets the response from the upstream, coalescing concurrent
// requests for one key: one of them goes upstream and the others get its
// response, or go on their own when it was not storable or does not match
// their variant.
func (h *Handler) forward(w nethttp.ResponseWriter, r *nethttp.Request, next caddyhttp.Handler, st state, fwd string) error {
	var out *outcome
	var fetchErr error
	v, err := bento.GetOrSet(r.Context(), h.cache, st.key, func(ctx context.Context, fc *bento.FactoryContext[record]) (record, error) {
		out, fetchErr = h.fetch(w, r, next, st, fwd)
		switch {
		case fetchErr != nil:
			return record{}, fc.Skip()
		case out.store != nil && !out.moved:
			fc.SetTTL(out.ttl)
			fc.SetOptions(bento.Grace(out.grace))
			fc.SetTags(out.tags...)
			return *out.store, nil
		case out.pass:
			fc.SetTTL(time.Duration(h.HitForPass))
			return record{Pass: true}, nil
		}
		return record{}, fc.Skip()
	}, bento.ForceFresh(), bento.HardTimeout(0))
	if out != nil || fetchErr != nil { // this request went upstream
		if err != nil {
			h.logger.Debug("storing a response", zap.String("key", st.key), zap.Error(err))
		}
		return h.finish(w, r, out, fetchErr)
	}
	if err == nil && !v.Pass && v.Status != 0 && varyMatches(h.selecting(v.Header), v.Vary, r) {
		return h.serve(w, r, &v, h.now(), fwd+"; collapsed")
	}
	if err != nil {
		h.logger.Debug("waiting for a coalesced response", zap.String("key", st.key), zap.Error(err))
	}
	return h.direct(w, r, next, st, fwd)
}

// direct gets the response from the upstream for this request alone, and
// stores it if it may.
func (h *Handler) direct(w nethttp.ResponseWriter, r *nethttp.Request, next caddyhttp.Handler, st state, fwd string) error {
	out, err := h.fetch(w, r, next, st, fwd)
	if err == nil && out.store != nil && !out.moved {
		h.set(r.Context(), st.key, out)
	}
	return h.finish(w, r, out, err)
}

// finish writes what fetch kept to the client; a passed response is
// already written.
func (h *Handler) finish(w nethttp.ResponseWriter, r *nethttp.Request, out *outcome, err error) error {
	if err != nil {
		return err
	}
	if out.serve != nil {
		return h.serve(w, r, out.serve, h.now(), out.status)
	}
	return nil
}

// refresh revalidates st in the background, once per key at a time.
func (h *Handler) refresh(r *nethttp.Request, next caddyhttp.Handler, st state) {
	if _, busy := h.bg.refreshing.LoadOrStore(st.key, struct{}{}); busy {
		return
	}
	br := r.Clone(context.WithoutCancel(r.Context()))
	br.Method = nethttp.MethodGet
	for _, k := range []string{"If-None-Match", "If-Modified-Since", "Range", "If-Range", "Cache-Control", "Pragma"} {
		br.Header.Del(k)
	}
	h.bg.wg.Add(1)
	go func() {
		defer h.bg.wg.Done()
		defer h.bg.refreshing.Delete(st.key)
		if err := h.forward(&discard{}, br, next, st, "fwd=stale"); err != nil {
			h.logger.Debug("background revalidation", zap.String("key", st.key), zap.Error(err))
		}
	}()
}

// set stores out under key, outside GetOrSet.
func (h *Handler) set(ctx context.Context, key string, out *outcome) {
	err := h.cache.Set(ctx, key, *out.store, bento.TTL(out.ttl), bento.Grace(out.grace), bento.Tags(out.tags...))
	if err != nil {
		h.logger.Debug("storing a response", zap.String("key", key), zap.Error(err))
	}
}

// pass sends r upstream through next and the response straight to the
// client, with status as the Cache-Status parameters. With invalidate (an
// unsafe method), a non-error response invalidates what it changed.
func (h *Handler) pass(w nethttp.ResponseWriter, r *nethttp.Request, next caddyhttp.Handler, status string, invalidate bool) error {
	h.cacheStatus(w.Header(), status)
	r.Header.Add("Surrogate-Capability", surrogateCapability(h.CacheStatusName))
	return next.ServeHTTP(&passing{ResponseWriterWrapper: &caddyhttp.ResponseWriterWrapper{ResponseWriter: w}, h: h, r: r, invalidate: invalidate}, r)
}

// passing writes a response that does not go through the cache: it
// removes Surrogate-Control, which is for the cache only, and with
// invalidate it invalidates the target URI of an unsafe request, and its
// same-origin Location and Content-Location, when the response is not an
// error (RFC 9111 §4.4) — before the status line goes out, so that the
// client's next request sees the invalidation.
type passing struct {
	*caddyhttp.ResponseWriterWrapper
	h          *Handler
	r          *nethttp.Request
	invalidate bool
	done       bool
}

// WriteHeader invalidates, then writes the status line.
func (pw *passing) WriteHeader(status int) {
	if !pw.done && (status >= 200 || status == nethttp.StatusSwitchingProtocols) {
		pw.done = true
		pw.Header().Del(surrogateControl)
		if pw.invalidate && status < 400 {
			pw.h.invalidate(pw.r, pw.Header())
		}
	}
	pw.ResponseWriterWrapper.WriteHeader(status)
}

// Write writes the status line first if needed.
func (pw *passing) Write(p []byte) (int, error) {
	if !pw.done {
		pw.WriteHeader(nethttp.StatusOK)
	}
	return pw.ResponseWriterWrapper.Write(p)
}

// invalidate deletes the responses of r's target URI and of the
// same-origin URIs in hdr's Location and Content-Location, on every
// instance.
func (h *Handler) invalidate(r *nethttp.Request, hdr nethttp.Header) {
	uri := targetURI(r)
	keys := []string{responseKey(uri), indexKey(uri)}
	origin := uri[:len(uri)-len(r.URL.RequestURI())]
	for _, field := range []string{"Location", "Content-Location"} {
		v := hdr.Get(field)
		if v == "" {
			continue
		}
		ref, err := r.URL.Parse(v)
		if err != nil {
			continue
		}
		target := ref.String()
		if !ref.IsAbs() {
			target = origin + ref.RequestURI()
		}
		if strings.HasPrefix(target, origin+"/") || target == origin {
			keys = append(keys, responseKey(target), indexKey(target))
		}
	}
	if _, err := h.cache.DeleteMany(r.Context(), keys); err != nil && !errors.Is(err, context.Canceled) {
		h.logger.Warn("invalidating after an unsafe request", zap.String("uri", uri), zap.Error(err))
	}
}
