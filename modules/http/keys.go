package http

import (
	"crypto/rand"
	"encoding/hex"
	nethttp "net/http"
	"slices"
	"strings"
)

// Keys. The primary key of a response is its target URI; a response without
// Vary is stored under "r|" + URI. A response with Vary is stored under a
// secondary key that adds the values of the request headers Vary names and
// a generation, and "v|" + URI holds the index of those names (see
// varyIndex). Invalidating a URI deletes both primary keys: the variants of
// the old generation are then unreachable, and age out.

// targetURI is the full target URI of r (RFC 9110 §7.1): scheme, host,
// path and query.
func targetURI(r *nethttp.Request) string {
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	return scheme + "://" + strings.ToLower(r.Host) + r.URL.RequestURI()
}

func responseKey(uri string) string { return "r|" + uri }
func indexKey(uri string) string    { return "v|" + uri }

// varyIndex lists the request headers that select a URI's variant.
type varyIndex struct {
	Names []string `json:"names"` // canonical, sorted, without duplicates
	Gen   string   `json:"gen"`   // changes when the index is recreated
}

// variantKey is the key of the variant of uri that r selects under idx.
func variantKey(uri string, idx *varyIndex, r *nethttp.Request) string {
	if idx == nil {
		return responseKey(uri)
	}
	var b strings.Builder
	b.WriteString("r|")
	b.WriteString(idx.Gen)
	b.WriteString("|")
	b.WriteString(uri)
	for _, name := range idx.Names {
		b.WriteString("\x1f")
		b.WriteString(name)
		b.WriteString("=")
		b.WriteString(varyValue(r.Header, name))
	}
	return b.String()
}

// varyValue normalises the values of one request header for matching:
// the lines joined by commas, blanks around the commas removed.
func varyValue(h nethttp.Header, name string) string {
	var parts []string
	for _, v := range h.Values(name) {
		for _, p := range strings.Split(v, ",") {
			parts = append(parts, strings.TrimSpace(p))
		}
	}
	return strings.Join(parts, ",")
}

// varyNames returns the header names a response's Vary lists, canonical,
// sorted and without duplicates ("*" kept as it is).
func varyNames(h nethttp.Header) []string {
	var names []string
	for _, v := range h.Values("Vary") {
		for _, p := range strings.Split(v, ",") {
			if p = strings.TrimSpace(p); p != "" {
				names = append(names, nethttp.CanonicalHeaderKey(p))
			}
		}
	}
	slices.Sort(names)
	return slices.Compact(names)
}

// selecting returns the request headers that select a variant of a
// response with header hdr: those its Vary names and the handler's
// key_headers, canonical, sorted and without duplicates.
func (h *Handler) selecting(hdr nethttp.Header) []string {
	names := varyNames(hdr)
	if len(h.keyHeaders) == 0 {
		return names
	}
	names = append(names, h.keyHeaders...)
	slices.Sort(names)
	return slices.Compact(names)
}

// varyMatches reports whether r selects the same variant as the request
// that stored values were recorded from.
func varyMatches(names []string, stored map[string]string, r *nethttp.Request) bool {
	for _, name := range names {
		if varyValue(r.Header, name) != stored[name] {
			return false
		}
	}
	return true
}

func newGeneration() string {
	var b [6]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}
