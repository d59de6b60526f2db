package wire

import (
	"bytes"
	"errors"
	"math"
	"reflect"
	"runtime"
	"strings"
	"testing"
)

// messages are valid messages: the round-trip table and the fuzz seeds.
var messages = []struct {
	name string
	msg  Message
}{
	{"Set", Message{Sender: "node-1", Kind: KindSet, Keys: []string{"k"}, Time: 1_700_000_000_000}},
	{"DeleteMany", Message{Sender: "n", Kind: KindDelete, Namespace: "users", Keys: []string{"1", "2", "3"}, Time: 1}},
	{"Expire", Message{Sender: "n", Kind: KindExpire, Namespace: "users:posts", Keys: []string{"a:b:c"}, Time: 42}},
	{"ClearRoot", Message{Sender: "n", Kind: KindClear}},
	{"ClearNamespace", Message{Sender: "n", Kind: KindClear, Namespace: "users", Time: 1}},
	{"EmptyStrings", Message{Kind: KindDelete, Keys: []string{"", "", ""}}},
	{"NegativeTime", Message{Sender: "n", Kind: KindSet, Keys: []string{"k"}, Time: -1}},
	{"MaxTime", Message{Sender: "n", Kind: KindSet, Keys: []string{"k"}, Time: math.MaxInt64}},
	{"MinTime", Message{Sender: "n", Kind: KindSet, Keys: []string{"k"}, Time: math.MinInt64}},
	{"Binary", Message{Sender: "\x00\xff", Kind: KindSet, Namespace: "ns\x00", Keys: []string{"\xff\xfe", "é"}, Time: 7}},
	{"LongKey", Message{Sender: "n", Kind: KindSet, Keys: []string{strings.Repeat("x", 300)}, Time: 7}},
	{"ManyKeys", Message{Sender: "n", Kind: KindDelete, Keys: strings.Split(strings.Repeat("k,", 199)+"k", ","), Time: 7}},
}

func encode(t testing.TB, m Message) []byte {
	t.Helper()
	b, err := m.AppendBinary(nil)
	if err != nil {
		t.Fatalf("AppendBinary(%+v) = %v; want no error", m, err)
	}
	return b
}

func TestMessage_RoundTrip(t *testing.T) {
	for _, tt := range messages {
		t.Run(tt.name, func(t *testing.T) {
			b := encode(t, tt.msg)
			got, err := Decode(b)
			if err != nil {
				t.Fatalf("Decode(%x) = %v; want no error", b, err)
			}
			if !reflect.DeepEqual(got, tt.msg) {
				t.Errorf("Decode(AppendBinary(m)) = %+v; want %+v", got, tt.msg)
			}
		})
	}
}

func TestMessage_AppendBinaryAppends(t *testing.T) {
	m := Message{Sender: "n", Kind: KindSet, Keys: []string{"k"}, Time: 1}
	prefix := []byte("head")
	b, err := m.AppendBinary(bytes.Clone(prefix))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.HasPrefix(b, prefix) {
		t.Fatalf("AppendBinary(%q) = %q; want it to keep the prefix", prefix, b)
	}
	mb, err := m.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(b[len(prefix):], mb) {
		t.Errorf("AppendBinary appended %x; MarshalBinary = %x; want the same bytes", b[len(prefix):], mb)
	}
}

func TestMessage_Layout(t *testing.T) {
	m := Message{Sender: "ab", Kind: KindDelete, Namespace: "u", Keys: []string{"k1", ""}, Time: -2}
	want := []byte{
		1,           // version
		2,           // kind: delete
		3,           // time -2, zigzag
		2, 'a', 'b', // sender
		1, 'u', // namespace
		2,           // key count
		2, 'k', '1', // key 1
		0, // key 2
	}
	if got := encode(t, m); !bytes.Equal(got, want) {
		t.Errorf("AppendBinary(%+v) = %v; want %v", m, got, want)
	}
}

func TestMessage_AppendBinaryInvalidKind(t *testing.T) {
	for _, k := range []Kind{0, KindClear + 1, 255} {
		m := Message{Sender: "n", Kind: k}
		b, err := m.AppendBinary([]byte("x"))
		if err == nil {
			t.Errorf("AppendBinary with kind %d = %x, nil; want an error", k, b)
		}
		if string(b) != "x" {
			t.Errorf("AppendBinary with kind %d changed dst to %q; want it untouched", k, b)
		}
	}
}

func TestDecode_Errors(t *testing.T) {
	valid := encode(t, Message{Sender: "n", Kind: KindDelete, Namespace: "ns", Keys: []string{"k1", "k2"}, Time: 300})
	tests := []struct {
		name string
		data []byte
		want error
		msg  string // a substring of the error message
	}{
		{"Empty", nil, ErrMalformed, "empty"},
		{"UnknownVersion", []byte{2, 1, 0, 0, 0, 0}, ErrVersion, "version 2"},
		{"VersionZero", []byte{0}, ErrVersion, "version 0"},
		{"TruncatedBeforeKind", []byte{1}, ErrMalformed, "kind"},
		{"KindZero", []byte{1, 0, 0, 0, 0, 0}, ErrMalformed, "unknown kind 0"},
		{"KindTooLarge", []byte{1, 5, 0, 0, 0, 0}, ErrMalformed, "unknown kind 5"},
		{"TruncatedTime", []byte{1, 1, 0x80}, ErrMalformed, "time"},
		{"MissingTime", []byte{1, 1}, ErrMalformed, "time"},
		{"TimeOverflow", []byte{1, 1, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01}, ErrMalformed, "overflows"},
		{"MissingSender", []byte{1, 1, 0}, ErrMalformed, "sender length"},
		{"SenderPastEnd", []byte{1, 1, 0, 5, 'a'}, ErrMalformed, "sender: length 5"},
		{"HugeSender", []byte{1, 1, 0, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f}, ErrMalformed, "sender"},
		{"MissingNamespace", []byte{1, 1, 0, 0}, ErrMalformed, "namespace length"},
		{"NamespacePastEnd", []byte{1, 1, 0, 0, 2, 'u'}, ErrMalformed, "namespace: length 2"},
		{"MissingKeyCount", []byte{1, 1, 0, 0, 0}, ErrMalformed, "key count"},
		{"HugeKeyCount", []byte{1, 1, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f}, ErrMalformed, "key count"},
		{"KeyCountPastEnd", []byte{1, 1, 0, 0, 0, 3, 0, 0}, ErrMalformed, "key count 3"},
		{"KeyPastEnd", []byte{1, 1, 0, 0, 0, 2, 0, 4, 'a'}, ErrMalformed, "key 2: length 4"},
		{"TruncatedKeyLength", []byte{1, 1, 0, 0, 0, 1, 0x80}, ErrMalformed, "key 1 length"},
		{"Truncated", valid[:len(valid)-1], ErrMalformed, "key 2"},
		{"Trailing", append(bytes.Clone(valid), 0), ErrMalformed, "trailing"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := Decode(tt.data)
			if !errors.Is(err, tt.want) {
				t.Fatalf("Decode(%x) = %+v, %v; want an error wrapping %q", tt.data, m, err, tt.want)
			}
			if !strings.HasPrefix(err.Error(), "wire: ") || !strings.Contains(err.Error(), tt.msg) {
				t.Errorf("Decode(%x) error = %q; want it to start with \"wire: \" and mention %q", tt.data, err, tt.msg)
			}
			if !reflect.DeepEqual(m, Message{}) {
				t.Errorf("Decode(%x) = %+v with an error; want the zero Message", tt.data, m)
			}
		})
	}
}

// TestDecode_EveryPrefix checks that no strict prefix of a valid message
// decodes: a truncated message is always an error.
func TestDecode_EveryPrefix(t *testing.T) {
	for _, tt := range messages {
		b := encode(t, tt.msg)
		for i := range len(b) {
			if m, err := Decode(b[:i]); err == nil {
				t.Errorf("%s: Decode(first %d of %d bytes) = %+v, nil; want an error", tt.name, i, len(b), m)
			}
		}
	}
}

func TestDecode_AllocationsBounded(t *testing.T) {
	// The most keys per byte a message can claim: empty keys, one byte each.
	data := []byte{1, 2, 0, 0, 0, 0xe8, 0x07} // 1000 keys
	data = append(data, make([]byte, 1000)...)
	m, err := Decode(data)
	if err != nil || len(m.Keys) != 1000 {
		t.Fatalf("Decode(1000 empty keys) = %d keys, %v; want 1000, nil", len(m.Keys), err)
	}
	// Huge counts and lengths with nothing behind them must fail before
	// allocating anything in proportion to what they claim.
	for _, huge := range [][]byte{
		{1, 2, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 0x0f},    // 2^32-1 keys
		{1, 2, 0, 0xff, 0xff, 0xff, 0xff, 0x0f},          // a 4 GiB sender
		{1, 2, 0, 0, 0, 1, 0xff, 0xff, 0xff, 0xff, 0x0f}, // a 4 GiB key
	} {
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		for range 10 {
			if _, err := Decode(huge); err == nil {
				t.Fatalf("Decode(%x) = nil error; want one", huge)
			}
		}
		runtime.ReadMemStats(&after)
		if n := after.TotalAlloc - before.TotalAlloc; n > 10<<10 {
			t.Errorf("10 × Decode(%x) allocated %d bytes; want a few hundred (the errors)", huge, n)
		}
	}
}

func TestKind_String(t *testing.T) {
	tests := []struct {
		k    Kind
		want string
	}{
		{KindSet, "set"},
		{KindDelete, "delete"},
		{KindExpire, "expire"},
		{KindClear, "clear"},
		{0, "Kind(0)"},
		{9, "Kind(9)"},
	}
	for _, tt := range tests {
		if got := tt.k.String(); got != tt.want {
			t.Errorf("Kind(%d).String() = %q; want %q", uint8(tt.k), got, tt.want)
		}
	}
}

func FuzzDecode(f *testing.F) {
	for _, tt := range messages {
		f.Add(encode(f, tt.msg))
	}
	f.Add([]byte{})
	f.Add([]byte{1})
	f.Add([]byte{1, 4, 0, 0, 0, 0})
	f.Add([]byte{2, 1, 0, 0, 0, 0})
	f.Add([]byte{1, 1, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 0x0f})
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := Decode(data)
		if err != nil {
			if !errors.Is(err, ErrMalformed) && !errors.Is(err, ErrVersion) {
				t.Fatalf("Decode(%x) error %q wraps neither ErrMalformed nor ErrVersion", data, err)
			}
			return
		}
		b, err := m.AppendBinary(nil)
		if err != nil {
			t.Fatalf("AppendBinary(Decode(%x)) = %v; want no error", data, err)
		}
		if len(b) > len(data) {
			t.Fatalf("re-encoding %x gave %d bytes; want at most %d (varints may shrink, never grow)", data, len(b), len(data))
		}
		m2, err := Decode(b)
		if err != nil {
			t.Fatalf("Decode(AppendBinary(Decode(%x))) = %v; want no error", data, err)
		}
		if !reflect.DeepEqual(m, m2) {
			t.Fatalf("Decode(%x) = %+v; after re-encoding = %+v; want the same message", data, m, m2)
		}
	})
}
