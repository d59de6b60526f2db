package http

import (
	"errors"
	"fmt"
	nethttp "net/http"
	"slices"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"

	"github.com/bentocache/bento"
)

func init() { caddy.RegisterModule(Handler{}) }

// Handler is an RFC 9111 shared HTTP cache in front of the handlers that
// follow it (typically reverse_proxy), on a store of the bento app. Module
// ID: http.handlers.bento_cache.
type Handler struct {
	// The bento store that keeps the responses, by name. Default: the
	// app's default store.
	Store string `json:"store,omitempty"`

	// The namespace of the store the responses live in, so that a store
	// can also hold other values. Default: "http".
	Namespace string `json:"namespace,omitempty"`

	// Freshness given to a storable response (status below 400) that states
	// none and has no Last-Modified to base a heuristic on. RFC 9111 lets a
	// cache do so only when configured to. Default: 0 (such responses are
	// not stored).
	DefaultTTL caddy.Duration `json:"default_ttl,omitempty"`

	// The longest freshness lifetime the cache gives any response, whatever
	// the upstream asks. Default: 0 (no cap).
	MaxTTL caddy.Duration `json:"max_ttl,omitempty"`

	// Cap on the heuristic freshness of a response with Last-Modified and no
	// explicit lifetime (10% of the time since Last-Modified). Default: 24h.
	HeuristicMax caddy.Duration `json:"heuristic_max,omitempty"`

	// How long a stale response may be answered at once while one request
	// revalidates it, for responses without a stale-while-revalidate
	// directive. Default: 0 (only when the response says so).
	StaleWhileRevalidate caddy.Duration `json:"stale_while_revalidate,omitempty"`

	// How long a stale response may be answered when the upstream fails
	// (an error, or a 500, 502, 503 or 504), for responses without a
	// stale-if-error directive. Default: 0 (only when the response says so).
	StaleIfError caddy.Duration `json:"stale_if_error,omitempty"`

	// How long a stale response with a validator (ETag or Last-Modified)
	// is kept so that it can be revalidated with a conditional request.
	// Default: 1h.
	Keep caddy.Duration `json:"keep,omitempty"`

	// The largest body stored, in bytes; a larger response passes through
	// without being buffered whole. Default: 8 MiB.
	MaxBodySize int64 `json:"max_body_size,omitempty"`

	// The response header whose space-separated values become the entry's
	// bento tags, for purge by tag. Default: Surrogate-Key. Cache-Tag
	// (comma-separated) is also read when this is Cache-Tag.
	SurrogateKeyHeader string `json:"surrogate_key_header,omitempty"`

	// The cache's name in the Cache-Status header (RFC 9211), and its
	// device token in Surrogate-Capability and Surrogate-Control. Default:
	// "bento".
	CacheStatusName string `json:"cache_status_name,omitempty"`

	// How long the cache remembers that a URI's response was not storable,
	// so that concurrent requests for it go to the upstream together instead
	// of queueing behind each other. Default: 30s.
	HitForPass caddy.Duration `json:"hit_for_pass,omitempty"`

	// Request headers that select the stored response as if every
	// response's Vary named them: a response is stored and found once per
	// combination of their values, for example per tenant ("X-Tenant") or
	// per device class. The URI stays the primary key, so a purge by URL
	// and an unsafe request's invalidation remove every such variant. To
	// drop parts of the URI from the key (tracking parameters, say), rewrite
	// it before bento_cache with Caddy's uri directive. Default: none.
	KeyHeaders []string `json:"key_headers,omitempty"`

	// keyHeaders are KeyHeaders, canonical, sorted, without duplicates.
	keyHeaders []string

	cache  *bento.Cache
	policy policy
	logger *zap.Logger
	now    func() time.Time

	bg *background
}

// background tracks the revalidations running behind stale answers.
type background struct {
	refreshing sync.Map // key → struct{}: revalidations under way
	wg         sync.WaitGroup
}

// DefaultNamespace is the namespace of its store a handler keeps its
// responses in when the config names none.
const DefaultNamespace = "http"

// Defaults of the settings.
const (
	defaultHeuristicMax = 24 * time.Hour
	defaultKeep         = time.Hour
	defaultMaxBody      = 8 << 20
	defaultStatusName   = "bento"
	defaultHitForPass   = 30 * time.Second
	defaultSurrogateKey = "Surrogate-Key"
)

// CaddyModule returns the Caddy module information.
func (Handler) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{ID: "http.handlers.bento_cache", New: func() caddy.Module { return new(Handler) }}
}

// Provision finds the store in the bento app and fills in the defaults.
func (h *Handler) Provision(ctx caddy.Context) error {
	if err := h.setup(ctx.Logger()); err != nil {
		return err
	}
	v, err := ctx.AppIfConfigured("bento")
	if errors.Is(err, caddy.ErrNotConfigured) {
		return fmt.Errorf("http.handlers.bento_cache: store %q: the config has no bento app; add one (Caddyfile: a bento global option with a store)", h.Store)
	}
	if err != nil {
		return fmt.Errorf("http.handlers.bento_cache: loading the bento app: %w", err)
	}
	app := v.(*bento.App)
	var root *bento.Cache
	if h.Store == "" {
		root = app.Manager().Default()
	} else if root, err = app.Use(h.Store); err != nil {
		return fmt.Errorf("http.handlers.bento_cache: store: %w", err)
	}
	h.cache = root.Namespace(h.Namespace)
	return nil
}

// setup fills in the defaults and checks the settings.
func (h *Handler) setup(logger *zap.Logger) error {
	h.logger = logger
	h.now = time.Now
	h.bg = new(background)
	if h.Namespace == "" {
		h.Namespace = DefaultNamespace
	}
	if h.HeuristicMax == 0 {
		h.HeuristicMax = caddy.Duration(defaultHeuristicMax)
	}
	if h.Keep == 0 {
		h.Keep = caddy.Duration(defaultKeep)
	}
	if h.MaxBodySize == 0 {
		h.MaxBodySize = defaultMaxBody
	}
	if h.SurrogateKeyHeader == "" {
		h.SurrogateKeyHeader = defaultSurrogateKey
	}
	if h.CacheStatusName == "" {
		h.CacheStatusName = defaultStatusName
	}
	if h.HitForPass == 0 {
		h.HitForPass = caddy.Duration(defaultHitForPass)
	}
	if err := h.Validate(); err != nil {
		return err
	}
	h.keyHeaders = h.keyHeaders[:0]
	for _, name := range h.KeyHeaders {
		h.keyHeaders = append(h.keyHeaders, nethttp.CanonicalHeaderKey(name))
	}
	slices.Sort(h.keyHeaders)
	h.keyHeaders = slices.Compact(h.keyHeaders)
	h.policy = policy{defaultTTL: time.Duration(h.DefaultTTL), maxTTL: time.Duration(h.MaxTTL), heuristicMax: time.Duration(h.HeuristicMax)}
	return nil
}

// Validate checks the settings.
func (h *Handler) Validate() error {
	for name, d := range map[string]caddy.Duration{
		"default_ttl": h.DefaultTTL, "max_ttl": h.MaxTTL, "heuristic_max": h.HeuristicMax,
		"stale_while_revalidate": h.StaleWhileRevalidate, "stale_if_error": h.StaleIfError,
		"keep": h.Keep, "hit_for_pass": h.HitForPass,
	} {
		if d < 0 {
			return fmt.Errorf("http.handlers.bento_cache: %s: must not be negative, got %s", name, time.Duration(d))
		}
	}
	if h.MaxBodySize < 0 {
		return fmt.Errorf("http.handlers.bento_cache: max_body_size: must not be negative, got %d", h.MaxBodySize)
	}
	if h.SurrogateKeyHeader != "" && !validToken(h.SurrogateKeyHeader) {
		return fmt.Errorf("http.handlers.bento_cache: surrogate_key_header: %q is not a header name", h.SurrogateKeyHeader)
	}
	for i, name := range h.KeyHeaders {
		if !validToken(name) {
			return fmt.Errorf("http.handlers.bento_cache: key_headers[%d]: %q is not a header name", i, name)
		}
	}
	if h.CacheStatusName != "" && !validToken(h.CacheStatusName) {
		return fmt.Errorf("http.handlers.bento_cache: cache_status_name: %q is not a token (RFC 9211 wants one, such as \"bento\")", h.CacheStatusName)
	}
	return nil
}

// validToken reports whether s is an RFC 9110 token.
func validToken(s string) bool {
	if s == "" {
		return false
	}
	for _, c := range s {
		if c <= ' ' || c >= 0x7f || c == '"' || c == ',' || c == ';' || c == '=' || c == '(' || c == ')' || c == '/' ||
			c == ':' || c == '<' || c == '>' || c == '?' || c == '@' || c == '[' || c == ']' || c == '\\' || c == '{' || c == '}' {
			return false
		}
	}
	return true
}

// Cleanup waits for the background revalidations to finish.
func (h *Handler) Cleanup() error {
	if h.bg != nil {
		h.bg.wg.Wait()
	}
	return nil
}

// Interface guards
var (
	_ caddy.Provisioner           = (*Handler)(nil)
	_ caddy.Validator             = (*Handler)(nil)
	_ caddy.CleanerUpper          = (*Handler)(nil)
	_ caddyhttp.MiddlewareHandler = (*Handler)(nil)
)
