// Package cfblock holds the Caddyfile parsing that several bento modules
// share.
package cfblock

import "github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"

// NoOptions parses the block of a module that takes no options: its name
// alone, with no argument and no block. what names the module in errors.
func NoOptions(d *caddyfile.Dispenser, what string) error {
	d.Next() // the module name
	if d.NextArg() {
		return d.Errf("%s takes no arguments, got %q", what, d.Val())
	}
	if d.NextBlock(0) {
		return d.Errf("%s takes no options, got %q", what, d.Val())
	}
	return nil
}

// OneArg reads the one value of the option d is on into dst.
func OneArg(d *caddyfile.Dispenser, dst *string) error {
	name := d.Val()
	args := d.RemainingArgs()
	if len(args) != 1 {
		return d.Errf("%s takes one value, got %d", name, len(args))
	}
	*dst = args[0]
	return nil
}

// Flag sets an option that takes no value.
func Flag(d *caddyfile.Dispenser, dst *bool) error {
	name := d.Val()
	if args := d.RemainingArgs(); len(args) > 0 {
		return d.Errf("%s takes no value, got %q", name, args[0])
	}
	*dst = true
	return nil
}
