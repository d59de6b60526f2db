package redisconn

import (
	"strconv"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"

	"github.com/bentocache/bento/internal/cfblock"
)

// Fields points at the connection fields of a module's config struct, so
// that the driver and the bus, whose JSON fields are their own (they are
// their documentation), share one reading of them.
type Fields struct {
	Addrs                 *[]string
	Cluster               *bool
	Username, Password    *string
	DB                    *int
	DialTimeout           *caddy.Duration
	TLS                   *bool
	TLSServerName         *string
	TLSInsecureSkipVerify *bool
	// Sentinel, if not nil, makes the "sentinel" block an option.
	Sentinel **Sentinel
}

// Config returns the values of the fields.
func (f Fields) Config() Config {
	var s *Sentinel
	if f.Sentinel != nil {
		s = *f.Sentinel
	}
	return Config{
		Sentinel:              s,
		Addrs:                 *f.Addrs,
		Cluster:               *f.Cluster,
		Username:              *f.Username,
		Password:              *f.Password,
		DB:                    *f.DB,
		DialTimeout:           time.Duration(*f.DialTimeout),
		TLS:                   *f.TLS,
		TLSServerName:         *f.TLSServerName,
		TLSInsecureSkipVerify: *f.TLSInsecureSkipVerify,
	}
}

// UnmarshalCaddyfile reads a module's tokens into the fields: the module
// name, then addresses as arguments (the short form "redis <addr...>"),
// then an optional block of connection options:
//
//	redis [<addr...>] {
//		addrs                    <addr...>
//		cluster
//		username                 <username>
//		password                 <password>
//		db                       <n>
//		dial_timeout             <duration>
//		tls
//		tls_server_name          <name>
//		tls_insecure_skip_verify
//		sentinel [<master_name> [<addr...>]] {
//			master_name <name>
//			addrs       <addr...>
//			username    <username>
//			password    <password>
//		}
//	}
//
// Addresses given as arguments and with addrs add up, and so do the
// sentinel's. sentinel is an option only when f.Sentinel is set. An option of the
// block that is not one of these goes to more, with d on its name; more
// reports whether it knew the option. what names the module in errors
// ("redis driver").
func (f Fields) UnmarshalCaddyfile(d *caddyfile.Dispenser, what string, more func(d *caddyfile.Dispenser) (bool, error)) error {
	d.Next() // the module name
	*f.Addrs = append(*f.Addrs, d.RemainingArgs()...)
	for d.NextBlock(0) {
		name := d.Val()
		switch name {
		case "addrs":
			args := d.RemainingArgs()
			if len(args) == 0 {
				return d.Errf("addrs needs at least one address")
			}
			*f.Addrs = append(*f.Addrs, args...)
		case "cluster":
			if err := flag(d, f.Cluster); err != nil {
				return err
			}
		case "username":
			if err := OneArg(d, f.Username); err != nil {
				return err
			}
		case "password":
			if err := OneArg(d, f.Password); err != nil {
				return err
			}
		case "db":
			var v string
			if err := OneArg(d, &v); err != nil {
				return err
			}
			n, err := strconv.Atoi(v)
			if err != nil {
				return d.Errf("db: %q is not a whole number", v)
			}
			*f.DB = n
		case "dial_timeout":
			var v string
			if err := OneArg(d, &v); err != nil {
				return err
			}
			dur, err := caddy.ParseDuration(v)
			if err != nil {
				return d.Errf("dial_timeout: invalid duration %q: %v", v, err)
			}
			*f.DialTimeout = caddy.Duration(dur)
		case "tls":
			if err := flag(d, f.TLS); err != nil {
				return err
			}
		case "tls_server_name":
			if err := OneArg(d, f.TLSServerName); err != nil {
				return err
			}
		case "tls_insecure_skip_verify":
			if err := flag(d, f.TLSInsecureSkipVerify); err != nil {
				return err
			}
		case "sentinel":
			if f.Sentinel == nil {
				return d.Errf("unknown %s option %q", what, name)
			}
			if err := f.sentinel(d); err != nil {
				return err
			}
		default:
			known := false
			if more != nil {
				var err error
				if known, err = more(d); err != nil {
					return err
				}
			}
			if !known {
				return d.Errf("unknown %s option %q", what, name)
			}
		}
	}
	return nil
}

// sentinel reads a sentinel option and its block.
func (f Fields) sentinel(d *caddyfile.Dispenser) error {
	s := *f.Sentinel
	if s == nil {
		s = new(Sentinel)
	}
	args := d.RemainingArgs()
	if len(args) > 0 {
		s.MasterName = args[0]
		s.Addrs = append(s.Addrs, args[1:]...)
	}
	for nesting := d.Nesting(); d.NextBlock(nesting); {
		switch opt := d.Val(); opt {
		case "master_name":
			if err := OneArg(d, &s.MasterName); err != nil {
				return err
			}
		case "addrs":
			more := d.RemainingArgs()
			if len(more) == 0 {
				return d.Errf("sentinel addrs needs at least one address")
			}
			s.Addrs = append(s.Addrs, more...)
		case "username":
			if err := OneArg(d, &s.Username); err != nil {
				return err
			}
		case "password":
			if err := OneArg(d, &s.Password); err != nil {
				return err
			}
		default:
			return d.Errf("unknown sentinel option %q", opt)
		}
	}
	*f.Sentinel = s
	return nil
}

// OneArg reads the one value of the option d is on into dst.
func OneArg(d *caddyfile.Dispenser, dst *string) error { return cfblock.OneArg(d, dst) }

// flag sets an option that takes no value.
func flag(d *caddyfile.Dispenser, dst *bool) error { return cfblock.Flag(d, dst) }
