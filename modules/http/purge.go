package http

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strings"

	"github.com/bentocache/bento"
)

// Purge names what to remove from the namespace a bento_cache handler
// keeps its responses in. Every part reaches every instance that shares
// the store's bus; an empty Purge is an error.
type Purge struct {
	// URLs are absolute http or https URLs; each one's stored responses go,
	// with all their variants. The scheme and host are matched without
	// regard to case, the path and query exactly.
	URLs []string `json:"urls,omitempty"`
	// Tags are surrogate keys (the upstream's Surrogate-Key or Cache-Tag
	// values); every response tagged with one of them goes.
	Tags []string `json:"tags,omitempty"`
	// All clears the whole namespace.
	All bool `json:"all,omitempty"`
}

// PurgeResult says what a purge did.
type PurgeResult struct {
	URLs    []string `json:"urls,omitempty"`
	Tags    []string `json:"tags,omitempty"`
	All     bool     `json:"all,omitempty"`
	Deleted bool     `json:"deleted"` // some URL had a stored response (All and Tags do not tell)
}

// ErrInvalidPurge is wrapped by the errors of [Purge.Run] for a purge that
// names nothing or a URL that is not absolute.
var ErrInvalidPurge = errors.New("invalid purge")

// Run purges from c, the handler's namespace of its store (by default
// the namespace "http").
func (p Purge) Run(ctx context.Context, c *bento.Cache) (PurgeResult, error) {
	res := PurgeResult{URLs: p.URLs, Tags: p.Tags, All: p.All}
	if !p.All && len(p.URLs) == 0 && len(p.Tags) == 0 {
		return res, fmt.Errorf("%w: it names nothing; give urls, tags or all", ErrInvalidPurge)
	}
	keys := make([]string, 0, 2*len(p.URLs))
	for i, raw := range p.URLs {
		uri, err := purgeURI(raw)
		if err != nil {
			return res, fmt.Errorf("%w: urls[%d]: %w", ErrInvalidPurge, i, err)
		}
		keys = append(keys, responseKey(uri), indexKey(uri))
	}
	if p.All {
		return res, c.Clear(ctx)
	}
	if len(keys) > 0 {
		deleted, err := c.DeleteMany(ctx, keys)
		if err != nil {
			return res, err
		}
		res.Deleted = deleted
	}
	if len(p.Tags) > 0 {
		if err := c.DeleteByTag(ctx, p.Tags...); err != nil {
			return res, err
		}
	}
	return res, nil
}

// purgeURI is the target URI (as targetURI writes it for a request) of
// an absolute URL.
func purgeURI(raw string) (string, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return "", fmt.Errorf("%q is not a URL: %w", raw, err)
	}
	scheme := strings.ToLower(u.Scheme)
	if (scheme != "http" && scheme != "https") || u.Host == "" {
		return "", fmt.Errorf("%q is not an absolute http or https URL (want one such as \"https://example.com/path?query\")", raw)
	}
	return scheme + "://" + strings.ToLower(u.Host) + u.RequestURI(), nil
}
