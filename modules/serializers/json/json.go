// Package json is bento's JSON serializer as a module (bento.serializers.json):
// the default encoding of entries for L2, on encoding/json.
package json

import (
	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"

	"github.com/bentocache/bento"
	"github.com/bentocache/bento/internal/cfblock"
)

func init() { caddy.RegisterModule(Serializer{}) }

// Serializer encodes entries as JSON, in BentoCache's envelope. Module ID:
// bento.serializers.json. It is what a store uses when it names no
// serializer.
type Serializer struct{}

// CaddyModule returns the Caddy module information.
func (Serializer) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{ID: "bento.serializers.json", New: func() caddy.Module { return new(Serializer) }}
}

// Marshal encodes v as JSON.
func (Serializer) Marshal(v any) ([]byte, error) { return bento.JSON().Marshal(v) }

// Unmarshal decodes JSON data into v.
func (Serializer) Unmarshal(data []byte, v any) error { return bento.JSON().Unmarshal(data, v) }

// UnmarshalCaddyfile reads the serializer's line, which takes no options:
//
//	serializer json
func (*Serializer) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	return cfblock.NoOptions(d, "the json serializer")
}

// Interface guards
var (
	_ bento.Serializer      = Serializer{}
	_ caddyfile.Unmarshaler = (*Serializer)(nil)
)
