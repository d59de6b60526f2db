package sqladapter

import (
	"fmt"

	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
)

// Source is where an adapter on a server gets its connections: a client
// its user owns, or a DSN it opens itself.
type Source struct {
	// Adapter is the adapter's name, as its errors start: "postgres".
	Adapter string
	// Client is the name of the option of the user's client: "pool", "db".
	Client string
	// HasClient reports whether the user gave a client.
	HasClient bool
	// DSN is the connection string, if any.
	DSN string
	// Module is set for the Caddy module, whose only option is the dsn.
	Module bool
}

// Validate reports a Source that cannot work: neither or both of a client
// and a DSN, or a DSN that parse rejects; for the module, a missing dsn. It
// does no network I/O, if parse does none.
func (s Source) Validate(parse func(dsn string) error) error {
	switch {
	case !s.HasClient && s.DSN == "" && s.Module:
		return fmt.Errorf("%s: dsn is required", s.Adapter)
	case !s.HasClient && s.DSN == "":
		return fmt.Errorf("%s: set %s or dsn", s.Adapter, s.Client)
	case s.HasClient && s.DSN != "":
		return fmt.Errorf("%s: set %s or dsn, not both", s.Adapter, s.Client)
	case s.DSN != "":
		if err := parse(s.DSN); err != nil {
			return fmt.Errorf("%s: dsn: %w", s.Adapter, err)
		}
	}
	return nil
}

// UnmarshalCaddyfile reads the Caddyfile block of an adapter whose one
// option, named option, may be given on the adapter's line instead, into
// *value:
//
//	<adapter> [<value>] {
//		<option> <value>
//	}
func UnmarshalCaddyfile(d *caddyfile.Dispenser, adapter, option string, value *string) error {
	d.Next() // the module name
	if d.NextArg() {
		*value = d.Val()
		if d.NextArg() {
			return d.ArgErr()
		}
	}
	for d.NextBlock(0) {
		switch d.Val() {
		case option:
			if *value != "" {
				return d.Err(option + " is already set")
			}
			if !d.Args(value) || d.NextArg() {
				return d.ArgErr()
			}
		default:
			return d.Errf("unknown %s adapter option %q", adapter, d.Val())
		}
	}
	return nil
}
