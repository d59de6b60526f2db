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

func main() {
	caddy.CustomBinaryName = "bento"
	caddy.CustomVersion = bento.Version() + "; caddy" // Caddy adds its version
	caddy.CustomLongDescription = "bento is Caddy with a multi-tier cache: stores that stack an in-process L1, " +
		"a shared L2 and a bus, configured under the bento app."
	caddycmd.Main()
}
