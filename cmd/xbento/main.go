// Command xbento builds bento binaries that include third-party modules:
// drivers, adapters, buses and serializers of your own, or any Caddy plugin.
//
//	xbento build --with github.com/you/driver
//	xbento build --with github.com/you/driver=../driver --output ./bento
//	xbento run -- list-modules   # inside the module of a driver
//
// See docs/xbento.md for every flag and XBENTO_* variable; the builder
// itself is the package github.com/bentocache/bento/xbento.
package main

import "github.com/bentocache/bento/cmd/xbento/internal/cli"

func main() { cli.Main() }
