package database

import (
	"errors"
	"strings"
	"testing"

	"github.com/bentocache/bento"
)

// TestUnknownAdapter: the error for an adapter that is not compiled in
// shows how to add it, by package for bento's own adapters.
func TestUnknownAdapter(t *testing.T) {
	tests := []struct {
		name string
		says []string
	}{
		{"postgres", []string{`"bento.adapters.postgres"`, `import _ "github.com/bentocache/bento/modules/adapters/postgres"`,
			"xbento build --with github.com/bentocache/bento/modules/adapters/postgres"}},
		{"sqlite", []string{"xbento build --with github.com/bentocache/bento/modules/adapters/sqlite"}},
		{"cassandra", []string{`"bento.adapters.cassandra"`, "xbento build --with <the Go module that registers it>"}},
	}
	for _, tt := range tests {
		err := unknownAdapter(tt.name)
		if !errors.Is(err, bento.ErrUnknownModule) {
			t.Errorf("unknownAdapter(%q) = %v; want an error wrapping bento.ErrUnknownModule", tt.name, err)
		}
		for _, s := range tt.says {
			if !strings.Contains(err.Error(), s) {
				t.Errorf("unknownAdapter(%q) = %q; want it to say %q", tt.name, err, s)
			}
		}
	}
}
