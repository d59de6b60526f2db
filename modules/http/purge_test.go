package http

import (
	"errors"
	nethttp "net/http"
	"strings"
	"testing"
)

// TestPurge: a purge by URL removes that URL's responses, every variant
// of them, and nothing else; by tag the tagged ones; all of them with All.
func TestPurge(t *testing.T) {
	const (
		a = "http://Example.com/a?x=1"
		b = "http://example.com/b"
	)
	tests := []struct {
		name  string
		purge Purge
		// wantCalls are the upstream calls of a second round of GETs of a
		// (two variants) and b, after the purge.
		wantA, wantB int32
	}{
		{name: "URL", purge: Purge{URLs: []string{"HTTP://EXAMPLE.COM/a?x=1"}}, wantA: 2, wantB: 0},
		{name: "URLWithOtherQuery", purge: Purge{URLs: []string{"http://example.com/a?x=2"}}, wantA: 0, wantB: 0},
		{name: "HTTPSIsAnotherURL", purge: Purge{URLs: []string{"https://example.com/a?x=1"}}, wantA: 0, wantB: 0},
		{name: "Tag", purge: Purge{Tags: []string{"bee"}}, wantA: 0, wantB: 1},
		{name: "All", purge: Purge{All: true}, wantA: 2, wantB: 1},
		{name: "URLAndTag", purge: Purge{URLs: []string{a}, Tags: []string{"bee"}}, wantA: 2, wantB: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHandler(t, nil)
			oa := &origin{header: hdr("Cache-Control", "max-age=60", "Vary", "Accept-Language")}
			ob := &origin{header: hdr("Cache-Control", "max-age=60", "Surrogate-Key", "bee")}
			round := func() {
				do(t, h, oa.handler(), "GET", a, "Accept-Language", "en")
				do(t, h, oa.handler(), "GET", a, "Accept-Language", "fr")
				do(t, h, ob.handler(), "GET", b)
			}
			round()
			oa.calls.Store(0)
			ob.calls.Store(0)
			round() // all hits
			if oa.calls.Load() != 0 || ob.calls.Load() != 0 {
				t.Fatalf("second round before any purge: %d and %d upstream calls; want 0 and 0", oa.calls.Load(), ob.calls.Load())
			}
			if _, err := tt.purge.Run(t.Context(), h.cache); err != nil {
				t.Fatalf("Purge%+v.Run = %v", tt.purge, err)
			}
			round()
			if oa.calls.Load() != tt.wantA || ob.calls.Load() != tt.wantB {
				t.Errorf("after Purge%+v: %d upstream calls for the two variants of %s and %d for %s; want %d and %d",
					tt.purge, oa.calls.Load(), a, ob.calls.Load(), b, tt.wantA, tt.wantB)
			}
		})
	}
}

// TestPurge_Deleted: the result says whether a URL had a stored response.
func TestPurge_Deleted(t *testing.T) {
	h := newHandler(t, nil)
	o := &origin{header: hdr("Cache-Control", "max-age=60")}
	do(t, h, o.handler(), "GET", "http://example.com/d")
	for _, want := range []bool{true, false} {
		res, err := Purge{URLs: []string{"http://example.com/d"}}.Run(t.Context(), h.cache)
		if err != nil || res.Deleted != want {
			t.Errorf("purge of a URL (stored before: %v) = %+v, %v; want Deleted %v", want, res, err, want)
		}
	}
}

// TestPurge_Invalid: a purge of nothing, or of a URL that is not absolute,
// is an error that names the URL and leaves the cache as it was.
func TestPurge_Invalid(t *testing.T) {
	h := newHandler(t, nil)
	o := &origin{header: hdr("Cache-Control", "max-age=60")}
	do(t, h, o.handler(), "GET", "http://example.com/kept")
	tests := []struct {
		purge Purge
		want  string
	}{
		{Purge{}, "names nothing"},
		{Purge{Tags: []string{}}, "names nothing"},
		{Purge{URLs: []string{"/kept"}}, `urls[0]: "/kept" is not an absolute http or https URL`},
		{Purge{URLs: []string{"http://example.com/kept", "ftp://example.com/kept"}}, `urls[1]: "ftp://example.com/kept"`},
		{Purge{URLs: []string{"http://example.com/%zz"}}, `urls[0]: "http://example.com/%zz" is not a URL`},
		{Purge{URLs: []string{"kept"}, All: true}, `urls[0]: "kept"`},
	}
	for _, tt := range tests {
		_, err := tt.purge.Run(t.Context(), h.cache)
		if !errors.Is(err, ErrInvalidPurge) || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("Purge%+v.Run = %v; want an ErrInvalidPurge containing %q", tt.purge, err, tt.want)
		}
	}
	w := do(t, h, o.handler(), "GET", "http://example.com/kept")
	if o.calls.Load() != 1 || w.Code != nethttp.StatusOK {
		t.Errorf("after the invalid purges: %d upstream calls; want 1 (still cached)", o.calls.Load())
	}
}
