package postgres

import (
	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
)

// UnmarshalCaddyfile sets the bus up from a Caddyfile block. The DSN is
// required, given either as the one argument or in the block:
//
//	postgres [<dsn>] {
//		dsn                 <dsn>
//		connect_timeout     <duration>
//		reconnect_delay     <duration>
//		max_reconnect_delay <duration>
//		ping_interval       <duration>
//	}
//
// A key=value DSN holds spaces, so quote it: dsn "host=db user=app".
func (b *Bus) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	d.Next() // the module name
	if d.NextArg() {
		b.DSN = d.Val()
		if d.NextArg() {
			return d.ArgErr()
		}
	}
	durations := map[string]*caddy.Duration{
		"connect_timeout":     &b.ConnectTimeout,
		"reconnect_delay":     &b.ReconnectDelay,
		"max_reconnect_delay": &b.MaxReconnectDelay,
		"ping_interval":       &b.PingInterval,
	}
	for d.NextBlock(0) {
		name := d.Val()
		if name == "dsn" {
			if b.DSN != "" {
				return d.Err("dsn is given twice: as the argument of postgres and in its block")
			}
			if !d.AllArgs(&b.DSN) {
				return d.ArgErr()
			}
			continue
		}
		field, ok := durations[name]
		if !ok {
			return d.Errf("unknown postgres bus option %q", name)
		}
		var v string
		if !d.AllArgs(&v) {
			return d.ArgErr()
		}
		dur, err := caddy.ParseDuration(v)
		if err != nil {
			return d.Errf("%s: %w", name, err)
		}
		if dur < 0 {
			return d.Errf("%s must not be negative, got %s", name, v)
		}
		*field = caddy.Duration(dur)
	}
	if b.DSN == "" {
		return d.Err("the postgres bus needs a dsn: postgres <dsn>, or dsn <dsn> in its block")
	}
	return nil
}
