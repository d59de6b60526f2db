package http

import (
	"bufio"
	"bytes"
	"errors"
	"net"
	nethttp "net/http"
	"strings"
	"time"
)

// record is what the handler keeps under a key: a stored response, or a
// hit-for-pass marker that says the URI's last response was not storable.
type record struct {
	Pass bool `json:"pass,omitempty"`

	Status int            `json:"status,omitempty"`
	Header nethttp.Header `json:"header,omitempty"`
	Body   []byte         `json:"body,omitempty"`
	// ResponseTime is when the response was received, and InitialAge its
	// corrected initial age (RFC 9111 §4.2.3), in milliseconds.
	ResponseTime int64 `json:"response_time,omitempty"`
	InitialAge   int64 `json:"initial_age,omitempty"`
	// Vary holds, for each header the response's Vary names, the request's
	// value when the response was stored.
	Vary map[string]string `json:"vary,omitempty"`
}

// age is the current age of rec at now (RFC 9111 §4.2.3).
func (rec *record) age(now time.Time) time.Duration {
	return time.Duration(rec.InitialAge)*time.Millisecond + max(now.Sub(time.UnixMilli(rec.ResponseTime)), 0)
}

// date is the response's Date, or its receipt time.
func (rec *record) date() time.Time {
	if t, err := nethttp.ParseTime(rec.Header.Get("Date")); err == nil {
		return t
	}
	return time.UnixMilli(rec.ResponseTime)
}

// hasValidator reports whether rec can be revalidated.
func (rec *record) hasValidator() bool {
	return rec.Header.Get("ETag") != "" || rec.Header.Get("Last-Modified") != ""
}

// excludedOnUpdate are the fields a 304 does not copy into a stored
// response (RFC 9111 §3.2): the hop-by-hop fields a cache does not store
// (§3.1), and the fields that describe the stored content itself, which a
// 304 cannot change because it comes without content — its length,
// coding, range and digest, and the entity tag that the revalidation
// matched it by (§4.3.4).
var excludedOnUpdate = func() map[string]bool {
	m := make(map[string]bool)
	for _, name := range []string{"Connection", "Keep-Alive", "Proxy-Connection", "TE", "Trailer", "Transfer-Encoding", "Upgrade",
		"Content-Length", "Content-Encoding", "Content-Range", "Content-MD5", "ETag"} {
		m[nethttp.CanonicalHeaderKey(name)] = true
	}
	return m
}()

// updated returns a copy of rec with the fields of a 304's header h
// (RFC 9111 §4.3.4), received at responseTime.
func (rec *record) updated(h nethttp.Header, requestTime, responseTime time.Time) *record {
	c := *rec
	c.Header = rec.Header.Clone()
	for name, values := range h {
		if excludedOnUpdate[name] || strings.HasPrefix(name, "Proxy-") {
			continue
		}
		c.Header[name] = values
	}
	c.ResponseTime = responseTime.UnixMilli()
	c.InitialAge = correctedInitialAge(c.Header, requestTime, responseTime).Milliseconds()
	return &c
}

// recorder captures the response of the upstream: up to limit bytes of a
// response that buffer says may be stored are kept, and anything else goes
// straight to the client's writer (w, which may be a discard writer for a
// background refresh). A body past limit stops the buffering: what was kept
// is written out and the rest streams.
type recorder struct {
	w      nethttp.ResponseWriter
	header nethttp.Header
	status int
	buf    bytes.Buffer
	limit  int64
	// buffer decides, at the status line, whether to keep the response.
	buffer    func(status int, h nethttp.Header) bool
	buffering bool
	// onPass, when set, is called with the header before a passed
	// response's status line goes out.
	onPass func(h nethttp.Header)
	passed bool // the response went (or is going) to w
	wrote  bool // WriteHeader happened
}

func newRecorder(w nethttp.ResponseWriter, limit int64, buffer func(int, nethttp.Header) bool) *recorder {
	return &recorder{w: w, header: make(nethttp.Header), limit: limit, buffer: buffer}
}

// Header returns the header being written.
func (rr *recorder) Header() nethttp.Header { return rr.header }

// WriteHeader decides whether to keep or pass the response.
func (rr *recorder) WriteHeader(status int) {
	if rr.wrote {
		return
	}
	if status < 200 {
		if !rr.buffering { // informational: pass on as it is
			copyHeader(rr.w.Header(), rr.header)
			rr.w.WriteHeader(status)
		}
		return
	}
	rr.wrote, rr.status = true, status
	if rr.buffer(status, rr.header) {
		rr.buffering = true
		return
	}
	rr.pass()
}

func (rr *recorder) pass() {
	rr.passed, rr.buffering = true, false
	if rr.onPass != nil {
		rr.onPass(rr.header)
	}
	copyHeader(rr.w.Header(), rr.header)
	rr.w.WriteHeader(rr.status)
	if rr.buf.Len() > 0 {
		_, _ = rr.w.Write(rr.buf.Bytes())
		rr.buf.Reset()
	}
}

// Write keeps or passes p.
func (rr *recorder) Write(p []byte) (int, error) {
	if !rr.wrote {
		rr.WriteHeader(nethttp.StatusOK)
	}
	if rr.buffering {
		if int64(rr.buf.Len()+len(p)) <= rr.limit {
			return rr.buf.Write(p)
		}
		rr.pass()
	}
	return rr.w.Write(p)
}

// Flush flushes a passed response; a kept one is complete only at the end.
func (rr *recorder) Flush() {
	if rr.passed {
		_ = nethttp.NewResponseController(rr.w).Flush()
	}
}

// Hijack hands the connection over, for protocol upgrades.
func (rr *recorder) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	if !rr.passed {
		copyHeader(rr.w.Header(), rr.header)
		rr.passed = true
	}
	return nethttp.NewResponseController(rr.w).Hijack()
}

// Unwrap returns the client's writer, for http.ResponseController.
func (rr *recorder) Unwrap() nethttp.ResponseWriter { return rr.w }

// kept reports whether the whole response is in the buffer.
func (rr *recorder) kept() bool { return rr.wrote && rr.buffering }

func copyHeader(dst, src nethttp.Header) {
	for k, v := range src {
		dst[k] = v
	}
}

// discard is the writer of a background refresh: nobody reads it.
type discard struct{ h nethttp.Header }

func (d *discard) Header() nethttp.Header {
	if d.h == nil {
		d.h = make(nethttp.Header)
	}
	return d.h
}
func (*discard) Write(p []byte) (int, error) { return len(p), nil }
func (*discard) WriteHeader(int)             {}
func (*discard) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	return nil, nil, errors.New("http.handlers.bento_cache: a background refresh cannot be hijacked")
}
