// Command bento is Caddy with bento's modules: the cache, its stores and
// its admin API on a server configured by a Caddyfile or JSON.
//
// To build a bento with more modules (a driver of your own, another Caddy
// plugin), use xbento:
//
//	xbento build --with github.com/you/driver
package main

import (
	"github.com/caddyserver/caddy/v2"
	caddycmd "github.com/caddyserver/caddy/v2/cmd"

	_ "github.com/caddyserver/caddy/v2/modules/standard"

	"github.com/bentocache/bento"
	_ "github.com/bentocache/bento/modules/standard"
)

// long is the text that "bento help" prints first. Caddy's command line
// prints its own examples after it, with "caddy" for the binary's name, and
// offers no way to change them: this text gives bento's.
const long = "bento is Caddy with a multi-tier cache: stores that stack an in-process L1,\n" +
	"a shared L2 and a bus, configured under the bento app.\n" +
	"\n" +
	"Run it with a config:\n" +
	"\n" +
	"\t$ bento run --config Caddyfile\n" +
	"\t$ bento validate --config Caddyfile\n" +
	"\t$ bento adapt --config Caddyfile --pretty\n" +
	"\t$ bento reload --config Caddyfile\n" +
	"\t$ bento stop\n" +
	"\n" +
	"The examples below, and the help of some commands, come from Caddy and\n" +
	"name the binary \"caddy\": run them as \"bento\"."

func main() {
	caddy.CustomBinaryName = "bento"
	caddy.CustomVersion = bento.Version() + "; caddy" // Caddy adds its version
	caddy.CustomLongDescription = long
	caddycmd.Main()
}
