package msgpack

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/bentocache/bento/internal/serialtest"
)

// nested is depth one-element arrays around a nil.
func nested(depth int) []byte {
	return append(bytes.Repeat([]byte{0x91}, depth), 0xc0)
}

// mapChain is a 58-byte chain of maps, each claiming four billion entries
// and holding one: a key and the next map. Without a check against the
// bytes that remain, each level preallocates a map of a million entries.
func mapChain() []byte {
	var b []byte
	for range 8 {
		b = append(b, 0xdf, 0xff, 0xff, 0xff, 0xff, 0xa1, 'k')
	}
	return append(b, 0xc0, 0xc0)
}

// hostile are the inputs of the decoding bombs, each a few bytes that claim
// much more, and malformed values.
var hostile = []struct {
	name string
	data []byte
	says string
}{
	{"Array32Of4G", []byte{0xdd, 0xff, 0xff, 0xff, 0xff}, "container of 4294967295 elements where 0 bytes remain"},
	{"Array16", []byte{0xdc, 0xff, 0xff, 0xc0}, "container of 65535 elements where 1 bytes remain"},
	{"Map32Of4G", []byte{0xdf, 0xff, 0xff, 0xff, 0xff, 0xc0, 0xc0}, "container of 8589934590 elements where 2 bytes remain"},
	{"MapChain", mapChain(), "container of 8589934590 elements"},
	{"Str32Of4G", []byte{0xdb, 0xff, 0xff, 0xff, 0xff, 'a'}, "value of 4294967295 bytes where 1 remain"},
	{"Bin32", []byte{0xc6, 0x7f, 0xff, 0xff, 0xff}, "value of 2147483647 bytes"},
	{"Ext32", []byte{0xc9, 0x7f, 0xff, 0xff, 0xff, 0x01}, "value of 2147483647 bytes"},
	{"NestedPastDepth", nested(maxDepth + 1), "nested more than 10000 deep"},
	{"Nested16MiB", nested(16 << 20), "nested more than 10000 deep"},
	{"Empty", nil, "data ends at byte 0"},
	{"TruncatedFloat64", []byte{0xcb, 0, 0}, "8-byte header where 2 bytes remain"},
	{"TruncatedLength", []byte{0xdb, 0xff}, "4-byte length where 1 bytes remain"},
	{"TruncatedArray", []byte{0x92, 0x91, 0x01}, "data ends at byte 3"},
	{"Trailing", []byte{0x01, 0x02}, "1 bytes after the value"},
	{"NeverUsed", []byte{0x91, 0xc1}, "byte 1: format byte 0xc1 is not MessagePack"},
}

func TestCheckValue_Hostile(t *testing.T) {
	for _, tt := range hostile {
		t.Run(tt.name, func(t *testing.T) {
			err := checkValue(tt.data)
			if err == nil || !strings.Contains(err.Error(), tt.says) {
				t.Errorf("checkValue(% x) = %v; want an error saying %q", abridged(tt.data), err, tt.says)
			}
		})
	}
}

func TestCheckValue_Sound(t *testing.T) {
	values := []any{
		nil, true, 1, -1, 1 << 40, -1 << 40, 3.5, float32(1.5), "", "héllo", strings.Repeat("x", 70_000),
		[]byte("bin"), bytes.Repeat([]byte{1}, 300), []any{}, []any{1, "a", []any{nil}},
		make([]int, 70_000), map[string]any{}, map[string]any{"a": map[string]any{"b": []any{1}}},
		map[int]string{1: "a", 2: "b"}, time.Unix(1700000000, 5).UTC(),
	}
	for _, v := range values {
		data, err := Serializer{}.Marshal(v)
		if err != nil {
			t.Fatalf("Marshal(%T) = %v", v, err)
		}
		if err := checkValue(data); err != nil {
			t.Errorf("checkValue(Marshal(%T)) = %v; want nil", v, err)
		}
	}
	if err := checkValue(nested(maxDepth)); err != nil {
		t.Errorf("checkValue(%d nested arrays) = %v; want nil (the limit is inclusive)", maxDepth, err)
	}
}

// abridged shows at most 16 bytes of data.
func abridged(data []byte) []byte {
	if len(data) > 16 {
		return data[:16]
	}
	return data
}

// envelopeAround is an entry envelope whose value is the bytes v.
func envelopeAround(v []byte) []byte {
	b := append([]byte{0x83, 0xa5}, "value"...)
	b = append(b, v...)
	b = append(b, 0xb1)
	b = append(b, "logicalExpiration"...)
	b = append(b, 0xcf, 0, 0, 0, 0, 0, 0, 0, 1)
	b = append(b, 0xa9)
	b = append(b, "createdAt"...)
	return append(b, 0xcf, 0, 0, 0, 0, 0, 0, 0, 1)
}

// TestSerializer_DecodingBombs puts each bomb in L2, bare and as the value
// of an envelope, and reads it as any, as a slice and as a map: each read is
// a miss with an error event, the entry is deleted, and the read allocates
// little.
func TestSerializer_DecodingBombs(t *testing.T) {
	bombs := map[string][]byte{
		"Array32Of4G": {0xdd, 0xff, 0xff, 0xff, 0xff},
		"Map32Of4G":   {0xdf, 0xff, 0xff, 0xff, 0xff, 0xc0, 0xc0},
		"MapChain":    mapChain(),
		"Str32Of4G":   {0xdb, 0xff, 0xff, 0xff, 0xff, 'a'},
		"Nested16MiB": nested(16 << 20),
	}
	inputs := make(map[string][]byte)
	for name, bomb := range bombs {
		inputs[name+"/Bare"] = bomb
		inputs[name+"/InEnvelope"] = envelopeAround(bomb)
	}
	serialtest.HostileL2(t, Serializer{}, inputs, func(int) uint64 { return 64 << 20 })
}

// envelope mirrors the root's entry envelope, which is unexported.
type envelope struct {
	Value             any      `json:"value"`
	LogicalExpiration int64    `json:"logicalExpiration"`
	CreatedAt         int64    `json:"createdAt"`
	Tags              []string `json:"tags,omitempty"`
}

// FuzzUnmarshal decodes arbitrary bytes as an entry, as a read of a shared
// L2 does, into the envelope, into any and into a typed slice: it must
// decode or fail, never panic, and what decodes into any must encode and
// decode again. The seed corpus, in testdata/fuzz/FuzzUnmarshal, holds
// sound entries and the decoding bombs.
func FuzzUnmarshal(f *testing.F) {
	for _, v := range []any{envelope{Value: map[string]any{"a": []any{1, "b"}}, LogicalExpiration: 1, CreatedAt: 1, Tags: []string{"t"}}, []int{1, 2}} {
		data, err := Serializer{}.Marshal(v)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Add(envelopeAround([]byte{0xdd, 0xff, 0xff, 0xff, 0xff}))
	f.Fuzz(func(t *testing.T, data []byte) {
		var env envelope
		_ = Serializer{}.Unmarshal(data, &env)
		var ints []int
		_ = Serializer{}.Unmarshal(data, &ints)
		var v any
		if err := (Serializer{}).Unmarshal(data, &v); err != nil {
			return
		}
		again, err := Serializer{}.Marshal(v)
		if err != nil {
			t.Fatalf("Marshal(Unmarshal(% x)) = %v; want what decodes to encode", abridged(data), err)
		}
		var w any
		if err := (Serializer{}).Unmarshal(again, &w); err != nil {
			t.Fatalf("Unmarshal(Marshal(Unmarshal(% x))) = %v; want a round trip", abridged(data), err)
		}
	})
}
