package http

import (
	"strconv"

	"github.com/dustin/go-humanize"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/caddyconfig/httpcaddyfile"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
)

func init() {
	httpcaddyfile.RegisterHandlerDirective("bento_cache", parseCaddyfile)
	httpcaddyfile.RegisterDirectiveOrder("bento_cache", httpcaddyfile.Before, "reverse_proxy")
}

func parseCaddyfile(h httpcaddyfile.Helper) (caddyhttp.MiddlewareHandler, error) {
	m := new(Handler)
	err := m.UnmarshalCaddyfile(h.Dispenser)
	return m, err
}

// UnmarshalCaddyfile sets up the handler from Caddyfile tokens. Syntax:
//
//	bento_cache [<store>] {
//		store <name>
//		namespace <name>
//		default_ttl <duration>
//		max_ttl <duration>
//		heuristic_max <duration>
//		stale_while_revalidate <duration>
//		stale_if_error <duration>
//		keep <duration>
//		max_body_size <size>
//		surrogate_key_header <header>
//		cache_status_name <name>
//		hit_for_pass <duration>
//		key_headers <header...>
//	}
func (h *Handler) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	d.Next() // the directive
	if d.NextArg() {
		h.Store = d.Val()
	}
	if d.NextArg() {
		return d.ArgErr()
	}
	for d.NextBlock(0) {
		name := d.Val()
		if name == "key_headers" {
			h.KeyHeaders = append(h.KeyHeaders, d.RemainingArgs()...)
			if len(h.KeyHeaders) == 0 {
				return d.Errf("bento_cache: key_headers needs at least one header name")
			}
			continue
		}
		var arg string
		if !d.Args(&arg) {
			return d.Errf("bento_cache: %s needs a value", name)
		}
		if d.NextArg() {
			return d.Errf("bento_cache: %s takes one value, got more", name)
		}
		dur := func(dst *caddy.Duration) error {
			v, err := caddy.ParseDuration(arg)
			if err != nil {
				return d.Errf("bento_cache: %s: invalid duration %q: %v", name, arg, err)
			}
			if v < 0 {
				return d.Errf("bento_cache: %s: must not be negative, got %q", name, arg)
			}
			*dst = caddy.Duration(v)
			return nil
		}
		var err error
		switch name {
		case "store":
			h.Store = arg
		case "namespace":
			h.Namespace = arg
		case "default_ttl":
			err = dur(&h.DefaultTTL)
		case "max_ttl":
			err = dur(&h.MaxTTL)
		case "heuristic_max":
			err = dur(&h.HeuristicMax)
		case "stale_while_revalidate":
			err = dur(&h.StaleWhileRevalidate)
		case "stale_if_error":
			err = dur(&h.StaleIfError)
		case "keep":
			err = dur(&h.Keep)
		case "hit_for_pass":
			err = dur(&h.HitForPass)
		case "max_body_size":
			n, perr := humanize.ParseBytes(arg)
			if perr != nil || n > 1<<40 {
				return d.Errf("bento_cache: max_body_size: want a size such as 8MiB, got %s", strconv.Quote(arg))
			}
			h.MaxBodySize = int64(n)
		case "surrogate_key_header":
			h.SurrogateKeyHeader = arg
		case "cache_status_name":
			h.CacheStatusName = arg
		default:
			return d.Errf("bento_cache: unknown setting %q", name)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// Interface guard
var _ caddyfile.Unmarshaler = (*Handler)(nil)
