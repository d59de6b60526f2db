package natsconn

import (
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"

	"github.com/bentocache/bento/internal/cfblock"
)

// Fields points at the connection fields of a module's config struct, so
// that the bus and the driver, whose JSON fields are their own (they are
// their documentation), share one reading of them.
type Fields struct {
	Servers                   *[]string
	Name                      *string
	Username, Password, Token *string
	CredsFile                 *string
	TLS                       *bool
	TLSServerName             *string
	TLSInsecureSkipVerify     *bool
	DialTimeout               *caddy.Duration
	ReconnectWait             *caddy.Duration
	PingInterval              *caddy.Duration
}

// Config returns the values of the fields.
func (f Fields) Config() Config {
	return Config{
		Servers:               *f.Servers,
		Name:                  *f.Name,
		Username:              *f.Username,
		Password:              *f.Password,
		Token:                 *f.Token,
		CredsFile:             *f.CredsFile,
		TLS:                   *f.TLS,
		TLSServerName:         *f.TLSServerName,
		TLSInsecureSkipVerify: *f.TLSInsecureSkipVerify,
		DialTimeout:           time.Duration(*f.DialTimeout),
		ReconnectWait:         time.Duration(*f.ReconnectWait),
		PingInterval:          time.Duration(*f.PingInterval),
	}
}

// UnmarshalCaddyfile reads a module's tokens into the fields: the module
// name, then server URLs as arguments (the short form "nats <url...>"),
// then an optional block of connection options:
//
//	nats [<url...>] {
//		servers                  <url...>
//		name                     <connection name>
//		username                 <username>
//		password                 <password>
//		token                    <token>
//		creds_file               <path>
//		tls
//		tls_server_name          <name>
//		tls_insecure_skip_verify
//		dial_timeout             <duration>
//		reconnect_wait           <duration>
//		ping_interval            <duration>
//	}
//
// URLs given as arguments and with servers add up. An option of the block
// that is not one of these goes to more, with d on its name; more reports
// whether it knew the option. what names the module in errors ("nats bus").
func (f Fields) UnmarshalCaddyfile(d *caddyfile.Dispenser, what string, more func(d *caddyfile.Dispenser) (bool, error)) error {
	d.Next() // the module name
	*f.Servers = append(*f.Servers, d.RemainingArgs()...)
	for d.NextBlock(0) {
		name := d.Val()
		var err error
		switch name {
		case "servers":
			args := d.RemainingArgs()
			if len(args) == 0 {
				return d.Errf("servers needs at least one URL")
			}
			*f.Servers = append(*f.Servers, args...)
		case "name":
			err = OneArg(d, f.Name)
		case "username":
			err = OneArg(d, f.Username)
		case "password":
			err = OneArg(d, f.Password)
		case "token":
			err = OneArg(d, f.Token)
		case "creds_file":
			err = OneArg(d, f.CredsFile)
		case "tls":
			err = Flag(d, f.TLS)
		case "tls_server_name":
			err = OneArg(d, f.TLSServerName)
		case "tls_insecure_skip_verify":
			err = Flag(d, f.TLSInsecureSkipVerify)
		case "dial_timeout":
			err = DurationArg(d, f.DialTimeout)
		case "reconnect_wait":
			err = DurationArg(d, f.ReconnectWait)
		case "ping_interval":
			err = DurationArg(d, f.PingInterval)
		default:
			known := false
			if more != nil {
				known, err = more(d)
			}
			if err == nil && !known {
				err = d.Errf("unknown %s option %q", what, name)
			}
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// OneArg reads the one value of the option d is on into dst.
func OneArg(d *caddyfile.Dispenser, dst *string) error { return cfblock.OneArg(d, dst) }

// DurationArg reads the one duration of the option d is on into dst.
func DurationArg(d *caddyfile.Dispenser, dst *caddy.Duration) error {
	name := d.Val()
	var v string
	if err := OneArg(d, &v); err != nil {
		return err
	}
	dur, err := caddy.ParseDuration(v)
	if err != nil {
		return d.Errf("%s: invalid duration %q: %v", name, v, err)
	}
	*dst = caddy.Duration(dur)
	return nil
}

// Flag sets an option that takes no value.
func Flag(d *caddyfile.Dispenser, dst *bool) error { return cfblock.Flag(d, dst) }
