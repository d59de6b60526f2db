package ttlmap_test

import (
	"crypto/rand"
	"reflect"
	"testing"

	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"

	"github.com/bentocache/bento"
	"github.com/bentocache/bento/drivertest"

	ttlmap "example.com/bento-ttlmap"
)

// TestDriver_Compliance runs bento's L2 compliance suite. The drivers of one
// run share a backend, each on a fresh random prefix, as drivers on one
// server would.
func TestDriver_Compliance(t *testing.T) {
	backend := ttlmap.NewBackend()
	drivertest.L2(t, func(t *testing.T) bento.L2Driver {
		dr := ttlmap.New(ttlmap.Options{Backend: backend, Prefix: "test-" + rand.Text()})
		t.Cleanup(func() { _ = dr.Disconnect() })
		return dr
	}, drivertest.Options{})
}

func TestDriver_Validate(t *testing.T) {
	if err := ttlmap.New(ttlmap.Options{}).Validate(); err == nil {
		t.Error("New(Options{}).Validate() = <nil>; want an error: there is no backend")
	}
	if err := ttlmap.New(ttlmap.Options{Backend: ttlmap.NewBackend()}).Validate(); err != nil {
		t.Errorf("New(Options{Backend: NewBackend()}).Validate() = %v; want <nil>", err)
	}
}

// TestDriver_Config loads the driver by its module ID, as the bento binary
// does, and checks that two stores naming one backend share it.
func TestDriver_Config(t *testing.T) {
	ctx := t.Context()
	b, err := bento.LoadJSON(ctx, []byte(`{
		"default": "a",
		"stores": {
			"a": {"l2": {"driver": "ttlmap", "backend": "config-test", "prefix": "p"}},
			"b": {"l2": {"driver": "ttlmap", "backend": "config-test", "prefix": "p"}}
		}
	}`))
	if err != nil {
		t.Fatalf("LoadJSON: %v", err)
	}
	t.Cleanup(func() { _ = b.Close() })
	a, err := b.Use("a")
	if err != nil {
		t.Fatal(err)
	}
	if err := a.Set(ctx, "42", "Ada"); err != nil {
		t.Fatalf(`store a: Set(ctx, "42", "Ada") = %v; want <nil>`, err)
	}
	other, err := b.Use("b")
	if err != nil {
		t.Fatal(err)
	}
	got, found, err := bento.Get[string](ctx, other, "42")
	if got != "Ada" || !found || err != nil {
		t.Errorf(`store b: Get(ctx, "42") = %q, %t, %v; want "Ada", true, <nil>: the stores share backend "config-test"`, got, found, err)
	}
}

// TestDriver_ReleasedOnce checks the lease of a config-loaded driver: its
// manager's Close calls both Disconnect and Cleanup, and the driver gives its
// share of the backend back once, so another manager's share survives; the
// last share given back empties the backend.
func TestDriver_ReleasedOnce(t *testing.T) {
	ctx := t.Context()
	config := []byte(`{"stores": {"main": {"l2": {"driver": "ttlmap", "backend": "released-once"}}}}`)
	load := func() *bento.Bento {
		t.Helper()
		b, err := bento.LoadJSON(ctx, config)
		if err != nil {
			t.Fatalf("LoadJSON: %v", err)
		}
		return b
	}
	first, second := load(), load()
	if err := second.Default().Set(ctx, "42", "Ada"); err != nil {
		t.Fatalf(`Set(ctx, "42", "Ada") = %v; want <nil>`, err)
	}
	if err := first.Close(); err != nil {
		t.Fatalf("first manager: Close() = %v; want <nil>", err)
	}
	got, found, err := bento.Get[string](ctx, second.Default(), "42")
	if got != "Ada" || !found || err != nil {
		t.Errorf(`after the first manager closed, the second's Get(ctx, "42") = %q, %t, %v; want "Ada", true, <nil>: one driver gave back more than its share of the backend`, got, found, err)
	}
	if err := second.Close(); err != nil {
		t.Fatalf("second manager: Close() = %v; want <nil>", err)
	}
	third := load()
	t.Cleanup(func() { _ = third.Close() })
	if _, found, _ := bento.Get[string](ctx, third.Default(), "42"); found {
		t.Error(`a manager loaded after every other let go found "42"; want a new, empty backend: the last share given back destructs it`)
	}
}

func TestUnmarshalCaddyfile(t *testing.T) {
	tests := []struct {
		name    string
		input   string
		want    ttlmap.Driver
		wantErr bool
	}{
		{name: "Bare", input: "ttlmap", want: ttlmap.Driver{}},
		{name: "ShortForm", input: "ttlmap shared", want: ttlmap.Driver{Backend: "shared"}},
		{
			name:  "Block",
			input: "ttlmap {\n backend shared\n prefix app\n}",
			want:  ttlmap.Driver{Backend: "shared", Prefix: "app"},
		},
		{name: "TwoArgs", input: "ttlmap a b", wantErr: true},
		{name: "UnknownOption", input: "ttlmap {\n max_items 3\n}", wantErr: true},
		{name: "MissingValue", input: "ttlmap {\n prefix\n}", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got ttlmap.Driver
			err := got.UnmarshalCaddyfile(caddyfile.NewTestDispenser(tt.input))
			if tt.wantErr {
				if err == nil {
					t.Errorf("UnmarshalCaddyfile(%q) = <nil>; want an error", tt.input)
				}
				return
			}
			if err != nil {
				t.Fatalf("UnmarshalCaddyfile(%q) = %v; want <nil>", tt.input, err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("UnmarshalCaddyfile(%q) gave %+v; want %+v", tt.input, got, tt.want)
			}
		})
	}
}
