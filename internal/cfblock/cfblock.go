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
