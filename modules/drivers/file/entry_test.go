package file

import (
	"bytes"
	"strings"
	"testing"
	"time"
)

func TestEntry_RoundTrip(t *testing.T) {
	tests := []struct {
		name    string
		key     string
		value   []byte
		expires int64
	}{
		{"Plain", "app:k", []byte("v"), 0},
		{"EmptyValue", "app:k", []byte{}, 1},
		{"NilValue", "k", nil, 0},
		{"EmptyKey", "", []byte("v"), 1<<62 + 3},
		{"Large", strings.Repeat("k", 10<<10), bytes.Repeat([]byte{0, 1, 0xff}, 100_000), 42},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := encodeEntry(tt.key, tt.value, tt.expires)
			h, key, value, ok := decodeEntry(b)
			if !ok || string(key) != tt.key || !bytes.Equal(value, tt.value) || h.expires != tt.expires {
				t.Fatalf("decodeEntry(encodeEntry(%q, <%d bytes>, %d)) = {expires %d}, <%d-byte key>, <%d bytes>, %t; want the same entry, true",
					tt.key[:min(len(tt.key), 16)], len(tt.value), tt.expires, h.expires, len(key), len(value), ok)
			}
			if value == nil {
				t.Errorf("decodeEntry(…) value = nil; want a non-nil slice: an empty value is a value")
			}
			h2, key2, ok, err := readHeader(bytes.NewReader(b), int64(len(b)))
			if err != nil || !ok || h2 != h || string(key2) != tt.key {
				t.Errorf("readHeader(…) = %+v, <%d-byte key>, %t, %v; want %+v, the key, true, <nil>", h2, len(key2), ok, err, h)
			}
		})
	}
}

func TestDecodeEntry_Corrupt(t *testing.T) {
	good := encodeEntry("app:users:k", []byte("a value"), 1234)
	for n := range len(good) {
		if _, _, _, ok := decodeEntry(good[:n]); ok {
			t.Errorf("decodeEntry(the first %d of %d bytes) ok; want a corrupt entry", n, len(good))
		}
		if _, _, ok, err := readHeader(bytes.NewReader(good[:n]), int64(n)); ok || err != nil {
			t.Errorf("readHeader(the first %d of %d bytes) = %t, %v; want false, <nil>", n, len(good), ok, err)
		}
	}
	if _, _, _, ok := decodeEntry(append(good[:len(good):len(good)], 'x')); ok {
		t.Error("decodeEntry(an entry and one more byte) ok; want a corrupt entry")
	}
	for i := range good {
		for _, bit := range []byte{0x01, 0x80} {
			b := bytes.Clone(good)
			b[i] ^= bit
			if _, _, _, ok := decodeEntry(b); ok {
				t.Errorf("decodeEntry(entry with bit %#x of byte %d flipped) ok; want a corrupt entry", bit, i)
			}
		}
	}
}

func TestExpiresAt(t *testing.T) {
	now := time.Unix(1000, 0)
	tests := []struct {
		ttl  time.Duration
		want int64
	}{
		{0, 0},
		{-time.Second, 0},
		{time.Nanosecond, 1_000_001},
		{time.Millisecond, 1_000_001},
		{time.Millisecond + 1, 1_000_002},
		{150 * time.Millisecond, 1_000_150},
		{time.Hour, 1_000_000 + 3_600_000},
	}
	for _, tt := range tests {
		if got := expiresAt(now, tt.ttl); got != tt.want {
			t.Errorf("expiresAt(%v, %v) = %d; want %d", now, tt.ttl, got, tt.want)
		}
	}
	h := header{expires: 1_000_150}
	if !h.live(1_000_149) || h.live(1_000_150) {
		t.Errorf("header{expires: 1000150}.live(1000149), .live(1000150) = %t, %t; want true, false", h.live(1_000_149), h.live(1_000_150))
	}
}

// FuzzDecodeEntry checks that any bytes decode without a panic, and that
// what decodes encodes back to the same bytes.
func FuzzDecodeEntry(f *testing.F) {
	f.Add(encodeEntry("app:k", []byte("v"), 0))
	f.Add(encodeEntry("", nil, 5))
	f.Add([]byte("bnto\x01garbage"))
	f.Fuzz(func(t *testing.T, b []byte) {
		h, key, value, ok := decodeEntry(b)
		if !ok {
			return
		}
		if again := encodeEntry(string(key), value, h.expires); !bytes.Equal(again, b) {
			t.Errorf("encodeEntry(decodeEntry(%q)) = %q; want the input", b, again)
		}
	})
}
