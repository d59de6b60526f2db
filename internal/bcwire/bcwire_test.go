package bcwire

import (
	"bytes"
	"encoding/hex"
	"errors"
	"reflect"
	"strings"
	"testing"
)

// nodeID is the bus id of the Node process that wrote the golden messages.
const nodeID = "qo1wsp573mourqm438ywwmz0"

// golden holds messages published by BentoCache 1.6.1's Redis bus driver on
// a real Redis, captured from the channel, with what they mean.
var golden = []struct {
	name string
	hex  string
	want Message
}{
	{"set", "716f317773703537336d6f7572716d3433387977776d7a3001000000056263766563000000026b31",
		Message{BusID: nodeID, Type: TypeSet, Namespace: "bcvec", Keys: []string{"k1"}}},
	{"delete_namespace_utf8", "716f317773703537336d6f7572716d3433387977776d7a30030000000b62637665633a757365727300000002c3bc",
		Message{BusID: nodeID, Type: TypeDelete, Namespace: "bcvec:users", Keys: []string{"ü"}}},
	{"delete_many", "716f317773703537336d6f7572716d3433387977776d7a30030000000562637665630000000161000000026263",
		Message{BusID: nodeID, Type: TypeDelete, Namespace: "bcvec", Keys: []string{"a", "bc"}}},
	{"expire", "716f317773703537336d6f7572716d3433387977776d7a30040000000562637665630000000165",
		Message{BusID: nodeID, Type: TypeExpire, Namespace: "bcvec", Keys: []string{"e"}}},
	{"clear", "716f317773703537336d6f7572716d3433387977776d7a30020000000b62637665633a7573657273",
		Message{BusID: nodeID, Type: TypeClear, Namespace: "bcvec:users"}},
}

func TestDecode_Golden(t *testing.T) {
	for _, g := range golden {
		t.Run(g.name, func(t *testing.T) {
			b, err := hex.DecodeString(g.hex)
			if err != nil {
				t.Fatal(err)
			}
			got, err := Decode(b)
			if err != nil {
				t.Fatalf("Decode: %v", err)
			}
			if !reflect.DeepEqual(got, g.want) {
				t.Fatalf("Decode = %#v, want %#v", got, g.want)
			}
		})
	}
}

func TestAppendBinary_Golden(t *testing.T) {
	for _, g := range golden {
		t.Run(g.name, func(t *testing.T) {
			b, err := g.want.AppendBinary(nil)
			if err != nil {
				t.Fatalf("AppendBinary: %v", err)
			}
			if got := hex.EncodeToString(b); got != g.hex {
				t.Fatalf("AppendBinary = %s, want %s (as BentoCache writes it)", got, g.hex)
			}
		})
	}
}

func TestAppendBinary_Errors(t *testing.T) {
	for _, tc := range []struct {
		name string
		m    Message
		want string
	}{
		{"short_id", Message{BusID: "abc", Type: TypeSet}, "bus id"},
		{"long_id", Message{BusID: nodeID + "x", Type: TypeSet}, "bus id"},
		{"zero_type", Message{BusID: nodeID}, "invalid message type 0"},
		{"type_5", Message{BusID: nodeID, Type: 5}, "invalid message type 5"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			prefix := []byte("keep")
			b, err := tc.m.AppendBinary(prefix)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("AppendBinary error = %v, want one containing %q", err, tc.want)
			}
			if !bytes.Equal(b, prefix) {
				t.Fatalf("AppendBinary returned %q on error, want the input %q", b, prefix)
			}
		})
	}
}

func TestDecode_Malformed(t *testing.T) {
	valid, _ := hex.DecodeString(golden[2].hex)
	for _, tc := range []struct {
		name string
		b    []byte
		want string
	}{
		{"empty", nil, "shorter than"},
		{"header_cut", valid[:IDLen+4], "shorter than"},
		{"bad_type", append(append([]byte(nodeID), 9), 0, 0, 0, 0), "unknown type 9"},
		{"namespace_past_end", append(append([]byte(nodeID), 1), 0, 0, 0, 9, 'a'), "namespace: length 9"},
		{"key_length_cut", valid[:len(valid)-2], "key 1: length 2 past the end (0 bytes left)"},
		{"key_header_cut", append(bytes.Clone(valid), 0, 0), "key 2: 2 bytes left"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Decode(tc.b)
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("Decode error = %v, want ErrMalformed", err)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Decode error = %q, want it to contain %q", err, tc.want)
			}
		})
	}
}

func TestDecode_CopiesInput(t *testing.T) {
	b, _ := hex.DecodeString(golden[0].hex)
	m, err := Decode(b)
	if err != nil {
		t.Fatal(err)
	}
	for i := range b {
		b[i] = 'X'
	}
	if m.BusID != nodeID || m.Keys[0] != "k1" || m.Namespace != "bcvec" {
		t.Fatalf("message changed with its input buffer: %#v", m)
	}
}

func TestChannel(t *testing.T) {
	if got := Channel("users"); got != "bentocache.notifications:users" {
		t.Errorf("Channel(users) = %q", got)
	}
	if got := Channel(""); got != "bentocache.notifications" {
		t.Errorf("Channel(\"\") = %q", got)
	}
}

func TestNewBusID(t *testing.T) {
	seen := map[string]bool{}
	for range 1000 {
		id := NewBusID()
		if len(id) != IDLen {
			t.Fatalf("NewBusID() = %q, %d bytes, want %d", id, len(id), IDLen)
		}
		if id[0] < 'a' || id[0] > 'z' {
			t.Fatalf("NewBusID() = %q does not start with a lowercase letter", id)
		}
		for _, c := range id {
			if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9') {
				t.Fatalf("NewBusID() = %q has %q outside [a-z0-9]", id, c)
			}
		}
		if seen[id] {
			t.Fatalf("NewBusID() repeated %q", id)
		}
		seen[id] = true
		if _, err := (Message{BusID: id, Type: TypeClear}).AppendBinary(nil); err != nil {
			t.Fatalf("a fresh id does not encode: %v", err)
		}
	}
}

func TestType_String(t *testing.T) {
	for ty, want := range map[Type]string{TypeSet: "set", TypeClear: "clear", TypeDelete: "delete", TypeExpire: "expire", 0: "Type(0)", 7: "Type(7)"} {
		if got := ty.String(); got != want {
			t.Errorf("Type(%d).String() = %q, want %q", uint8(ty), got, want)
		}
	}
}

// FuzzDecode checks that Decode never panics and that whatever it accepts
// encodes back to the same bytes.
func FuzzDecode(f *testing.F) {
	for _, g := range golden {
		b, _ := hex.DecodeString(g.hex)
		f.Add(b)
	}
	f.Add([]byte(nodeID + "\x02\x00\x00\x00\x00"))
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := Decode(b)
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("Decode error %v does not wrap ErrMalformed", err)
			}
			return
		}
		out, err := m.AppendBinary(nil)
		if err != nil {
			t.Fatalf("AppendBinary of a decoded message: %v", err)
		}
		if !bytes.Equal(out, b) {
			t.Fatalf("round trip changed the bytes:\n in  %x\n out %x", b, out)
		}
	})
}
