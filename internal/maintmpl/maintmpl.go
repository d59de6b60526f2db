// Package maintmpl renders the main package of a bento binary: cmd/bento's
// main.go is its output with no extra module, and xbento writes it with the
// modules passed to --with, so the two cannot drift apart.
package maintmpl

import (
	"bytes"
	"fmt"
	"go/format"
	"text/template"
)

// Data is what a main package is made of.
type Data struct {
	// Modules are the import paths of extra module packages, blank-imported
	// after bento's standard modules.
	Modules []string
}

var tmpl = template.Must(template.New("main").Parse(`// Command bento is Caddy with bento's modules: the cache, its stores and
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
{{- if .Modules}}

	// modules added with xbento build --with
{{- range .Modules}}
	_ "{{.}}"
{{- end}}
{{- end}}
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
`))

// Render returns the gofmt'd source of the main package for d.
func Render(d Data) ([]byte, error) {
	var buf bytes.Buffer
	if err := tmpl.Execute(&buf, d); err != nil {
		return nil, fmt.Errorf("maintmpl: %w", err)
	}
	src, err := format.Source(buf.Bytes())
	if err != nil {
		return nil, fmt.Errorf("maintmpl: formatting: %w", err)
	}
	return src, nil
}
