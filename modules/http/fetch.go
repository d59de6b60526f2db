package http

import (
	"context"
	"mime"
	nethttp "net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/caddyserver/caddy/v2/modules/caddyhttp"

	"github.com/bentocache/bento"
)

// outcome is what one upstream request came to.
type outcome struct {
	serve  *record // to write to the client; nil when already passed to it
	status string  // the Cache-Status parameters for serve
	store  *record // to store; nil when not storable
	ttl    time.Duration
	grace  time.Duration
	tags   []string
	moved  bool // stored by fetch under another key (a new Vary)
	pass   bool // not storable: remember that for a while
}

// errorStatus are the upstream answers that stale-if-error covers.
func errorStatus(status int) bool { return status >= 500 && status <= 504 }

// fetch sends r upstream through next — as a conditional request when the
// stored response of st has a validator — and sorts out the answer.
func (h *Handler) fetch(w nethttp.ResponseWriter, r *nethttp.Request, next caddyhttp.Handler, st state, fwd string) (*outcome, error) {
	out := &outcome{}
	up := r.Clone(r.Context())
	up.Header.Del("If-None-Match")
	up.Header.Del("If-Modified-Since")
	up.Header.Add("Surrogate-Capability", surrogateCapability(h.CacheStatusName))
	conditional := false
	if st.rec != nil {
		if etag := st.rec.Header.Get("ETag"); etag != "" {
			up.Header.Set("If-None-Match", etag)
			conditional = true
		}
		if lm := st.rec.Header.Get("Last-Modified"); lm != "" {
			up.Header.Set("If-Modified-Since", lm)
			conditional = true
		}
	}
	authorized := r.Header.Get("Authorization") != ""
	staleOK := func() bool {
		if st.rec == nil {
			return false
		}
		cc := h.responseDirectives(st.rec.Header)
		if cc.has("must-revalidate") || cc.has("proxy-revalidate") || cc.has("no-cache") {
			return false
		}
		life := h.policy.lifetime(st.rec.Status, st.rec.Header, cc, st.rec.date())
		return st.rec.age(h.now())-life <= h.sieWindow(cc)
	}
	requestTime := h.now()
	rr := newRecorder(w, h.MaxBodySize, func(status int, hdr nethttp.Header) bool {
		switch {
		case status == nethttp.StatusNotModified && conditional:
			return true
		case errorStatus(status) && staleOK():
			return true
		}
		ok, _ := h.policy.storable(status, hdr, h.responseDirectives(hdr), authorized)
		if ok {
			if ct, _, _ := mime.ParseMediaType(hdr.Get("Content-Type")); ct == "text/event-stream" {
				ok = false
			} else if n, err := strconv.ParseInt(hdr.Get("Content-Length"), 10, 64); err == nil && n > h.MaxBodySize {
				ok = false
			}
		}
		if !ok {
			out.pass = true
		}
		return ok
	})
	rr.onPass = func(hdr nethttp.Header) {
		hdr.Del(surrogateControl)
		h.cacheStatus(hdr, fwd)
	}
	err := next.ServeHTTP(rr, up)
	responseTime := h.now()
	if rr.passed {
		out.pass = true
		return out, err
	}
	if err != nil || (rr.kept() && errorStatus(rr.status)) {
		if staleOK() {
			out.serve, out.status = st.rec, "hit; detail=stale-if-error"
			return out, nil
		}
		if err != nil {
			return nil, err
		}
	}
	if !rr.wrote { // the upstream wrote nothing at all
		rr.WriteHeader(nethttp.StatusOK)
	}
	if rr.passed {
		out.pass = true
		return out, nil
	}

	if rr.status == nethttp.StatusNotModified && conditional {
		rec := st.rec.updated(rr.header, requestTime, responseTime)
		out.serve, out.status = rec, fwd+"; fwd-status=304"
		h.keep(r, st, rec, out)
		return out, nil
	}
	rec := &record{
		Status:       rr.status,
		Header:       rr.header,
		Body:         slices.Clone(rr.buf.Bytes()),
		ResponseTime: responseTime.UnixMilli(),
		InitialAge:   correctedInitialAge(rr.header, requestTime, responseTime).Milliseconds(),
	}
	if rec.Header.Get("Date") == "" {
		rec.Header.Set("Date", responseTime.UTC().Format(nethttp.TimeFormat))
	}
	out.serve, out.status = rec, fwd
	if ok, _ := h.policy.storable(rec.Status, rec.Header, h.responseDirectives(rec.Header), authorized); ok {
		h.keep(r, st, rec, out)
	} else {
		out.pass = true
	}
	return out, nil
}

// keep prepares rec for storage: its lifetime in the store, its tags, its
// variant key (storing it there at once, with a new Vary index, when the
// Vary of the response differs from the index the lookup used).
func (h *Handler) keep(r *nethttp.Request, st state, rec *record, out *outcome) {
	cc := h.responseDirectives(rec.Header)
	life := h.policy.lifetime(rec.Status, rec.Header, cc, rec.date())
	out.ttl = max(life-rec.age(time.UnixMilli(rec.ResponseTime)), time.Millisecond)
	out.grace = max(time.Duration(h.Keep), h.swrWindow(cc), h.sieWindow(cc), time.Millisecond)
	out.tags = surrogateKeys(rec.Header, h.SurrogateKeyHeader)
	out.store = rec
	if out.status != "" && !strings.Contains(out.status, "stored") {
		out.status += "; stored"
	}
	names := h.selecting(rec.Header)
	if len(names) > 0 {
		rec.Vary = make(map[string]string, len(names))
		for _, n := range names {
			rec.Vary[n] = varyValue(r.Header, n)
		}
	}
	var have []string
	if st.idx != nil {
		have = st.idx.Names
	}
	if slices.Equal(names, have) {
		return
	}
	ctx := r.Context()
	out.moved = true
	if len(names) == 0 {
		if _, err := h.cache.Delete(ctx, indexKey(st.uri)); err != nil {
			h.logger.Debug("deleting a vary index", zap.String("uri", st.uri), zap.Error(err))
		}
		h.set(ctx, responseKey(st.uri), out)
		return
	}
	idx := &varyIndex{Names: names, Gen: newGeneration()}
	if err := h.cache.Set(ctx, indexKey(st.uri), *idx, bento.TTL(out.ttl+out.grace)); err != nil {
		h.logger.Debug("storing a vary index", zap.String("uri", st.uri), zap.Error(err))
		return
	}
	h.set(ctx, variantKey(st.uri, idx, r), out)
	if st.idx == nil {
		// The plain key of the URI may hold an older response without Vary.
		_, _ = h.cache.Delete(context.WithoutCancel(ctx), responseKey(st.uri))
	}
}

// surrogateKeys returns the tags the upstream gave a response in header
// name: space-separated (Surrogate-Key) or comma-separated (Cache-Tag).
func surrogateKeys(hdr nethttp.Header, name string) []string {
	var tags []string
	for _, v := range hdr.Values(name) {
		for _, f := range strings.FieldsFunc(v, func(c rune) bool { return c == ' ' || c == ',' || c == '\t' }) {
			tags = append(tags, f)
		}
	}
	slices.Sort(tags)
	return slices.Compact(tags)
}
