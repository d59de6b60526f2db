// Package msgpack is bento's MessagePack serializer (module
// bento.serializers.msgpack), on github.com/vmihailenco/msgpack/v5: smaller
// entries and faster decoding than JSON, at the price of bytes a person
// cannot read. Struct fields are named by their msgpack tag, else their json
// tag, else their Go name, so a type encodes with the same names as in JSON.
package msgpack

import (
	"bytes"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	vmsgpack "github.com/vmihailenco/msgpack/v5"

	"github.com/bentocache/bento"
	"github.com/bentocache/bento/internal/cfblock"
)

func init() { caddy.RegisterModule(Serializer{}) }

// Serializer encodes entries as MessagePack. Module ID:
// bento.serializers.msgpack. The envelope has the same four fields as
// BentoCache's (value, logicalExpiration, createdAt, tags).
type Serializer struct{}

// CaddyModule returns the Caddy module information.
func (Serializer) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{ID: "bento.serializers.msgpack", New: func() caddy.Module { return new(Serializer) }}
}

// Marshal encodes v as MessagePack.
func (Serializer) Marshal(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := vmsgpack.NewEncoder(&buf)
	enc.SetCustomStructTag("json")
	enc.UseCompactInts(true)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// Unmarshal decodes MessagePack data into v. Data must be one value, whose
// containers claim no more elements than data holds and nest at most 10,000
// deep: bytes read from a shared L2 may come from anyone, and a header that
// claims four billion elements is refused before anything is allocated.
func (Serializer) Unmarshal(data []byte, v any) error {
	if err := checkValue(data); err != nil {
		return err
	}
	dec := vmsgpack.NewDecoder(bytes.NewReader(data))
	dec.SetCustomStructTag("json")
	return dec.Decode(v)
}

// UnmarshalCaddyfile reads the serializer's line, which takes no options:
//
//	serializer msgpack
func (*Serializer) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	return cfblock.NoOptions(d, "the msgpack serializer")
}

// Interface guards
var (
	_ bento.Serializer      = Serializer{}
	_ caddyfile.Unmarshaler = (*Serializer)(nil)
)
