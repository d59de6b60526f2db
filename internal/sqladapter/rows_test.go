package sqladapter

import (
	"bytes"
	"testing"
	"time"

	"github.com/bentocache/bento"
)

func TestByHash(t *testing.T) {
	rows := []bento.Row{{Key: "a", Value: []byte("1")}, {Key: "b"}, {Key: "a", Value: []byte("2")}, {Key: "c"}}
	hs := ByHash(rows)
	if len(hs) != 3 {
		t.Fatalf("ByHash of 4 rows on 3 keys = %d rows; want 3", len(hs))
	}
	for i, x := range hs {
		if !bytes.Equal(x.Hash, Hash(x.Row.Key)) {
			t.Errorf("row %q has hash %x; want %x", x.Row.Key, x.Hash, Hash(x.Row.Key))
		}
		if i > 0 && bytes.Compare(hs[i-1].Hash, x.Hash) >= 0 {
			t.Errorf("rows not in increasing hash order at %d", i)
		}
		if x.Row.Key == "a" && string(x.Row.Value) != "2" {
			t.Errorf("key a kept value %q; want the later row's, 2", x.Row.Value)
		}
	}
}

func TestToRow(t *testing.T) {
	at := time.UnixMilli(1_700_000_000_123)
	if r := ToRow("k", nil, UnixMilli(time.Time{})); r.Value == nil || len(r.Value) != 0 || !r.ExpiresAt.IsZero() {
		t.Errorf("ToRow of a NULL expiry and a nil value = %+v; want an empty value, no expiry", r)
	}
	if r := ToRow("k", []byte("v"), UnixMilli(at)); !r.ExpiresAt.Equal(at) || string(r.Value) != "v" {
		t.Errorf("ToRow = %+v; want v, expiring at %v", r, at)
	}
	if got := UnixMilli(time.Time{}); got.Valid {
		t.Errorf("UnixMilli(zero) = %+v; want NULL", got)
	}
}
