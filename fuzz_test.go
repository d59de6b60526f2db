package bento

import (
	"reflect"
	"testing"
)

// FuzzDecodeEntryJSON decodes arbitrary bytes as an L2 entry with the
// default serializer, as a read of a shared L2 does: it must return an
// entry or an error, never panic, and an entry it returns must encode again
// and decode to the same metadata. The seed corpus, in
// testdata/fuzz/FuzzDecodeEntryJSON, holds sound entries and hostile ones.
func FuzzDecodeEntryJSON(f *testing.F) {
	f.Add([]byte(`{"value":{"name":"Ada"},"logicalExpiration":8640000000000000,"createdAt":1,"tags":["t"]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		s := JSON()
		meta, merr := decodeEntry[rawValue](s, data)
		e, err := decodeEntry[any](s, data)
		if err != nil {
			return
		}
		if merr != nil {
			t.Fatalf("decodeEntry[any](%q) succeeded but decodeEntry[rawValue] = %v; want every entry readable without its value's type", data, merr)
		}
		if err := encodeEntry(s, e); err != nil {
			t.Fatalf("encodeEntry(decodeEntry(%q)) = %v; want a decoded entry to encode", data, err)
		}
		again, err := decodeEntry[any](s, e.raw)
		if err != nil {
			t.Fatalf("decodeEntry(encodeEntry(decodeEntry(%q))) = %v", data, err)
		}
		if again.expiresAt != e.expiresAt || again.createdAt != e.createdAt || !reflect.DeepEqual(again.tags, e.tags) ||
			meta.expiresAt != e.expiresAt {
			t.Fatalf("entry %q changed metadata on a round trip: %+v, then %+v", data, e, again)
		}
	})
}
