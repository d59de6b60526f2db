// Package configtest loads bento's JSON configs in tests: one that must
// load, closed when the test ends, and one that must fail with an error
// that says given things.
package configtest

import (
	"strings"
	"testing"

	"github.com/bentocache/bento"
)

// Load returns the manager that cfg configures, closed when t ends; it
// fails t when cfg does not load.
func Load(t *testing.T, cfg string) *bento.Bento {
	t.Helper()
	b, err := bento.LoadJSON(t.Context(), []byte(cfg))
	if err != nil {
		t.Fatalf("LoadJSON = %v; want <nil>", err)
	}
	t.Cleanup(func() { _ = b.Close() })
	return b
}

// LoadFails checks that cfg does not load, with an error that contains
// each of wantErr.
func LoadFails(t *testing.T, cfg string, wantErr ...string) {
	t.Helper()
	b, err := bento.LoadJSON(t.Context(), []byte(cfg))
	if err == nil {
		_ = b.Close()
		t.Fatalf("LoadJSON(%s) = <nil>; want an error", cfg)
	}
	for _, want := range wantErr {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("LoadJSON(%s) = %v; want an error containing %q", cfg, err, want)
		}
	}
}
