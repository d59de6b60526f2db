package sqlite

import (
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bentocache/bento/modules/drivers/database"
)

// TestAdapter_OwnDBsClosed: the pools the adapter opens from the path are
// opened on first use, not by New, and closed by Disconnect.
func TestAdapter_OwnDBsClosed(t *testing.T) {
	for _, path := range []string{"", filepath.Join(t.TempDir(), "bento.db")} {
		a := New(Options{Path: path})
		if a.w != nil || a.r != nil {
			t.Fatal("New opened a database; want it opened on first use")
		}
		if err := a.CreateTableIfNotExists(t.Context()); err != nil {
			t.Fatal(err)
		}
		if _, _, err := a.Get(t.Context(), "k"); err != nil {
			t.Fatal(err)
		}
		w, r := a.w, a.r
		if (path == "") != (w == r) {
			t.Errorf("path %q: one pool for reads and writes = %t; want %t (only in memory)", path, w == r, path == "")
		}
		if err := a.Disconnect(); err != nil {
			t.Fatalf("Disconnect() = %v", err)
		}
		for name, db := range map[string]interface{ Ping() error }{"writes": w, "reads": r} {
			if err := db.Ping(); err == nil || !strings.Contains(err.Error(), "database is closed") {
				t.Errorf("path %q: Ping on the pool of %s after Disconnect = %v; want sql: database is closed", path, name, err)
			}
		}
		if _, _, _, err := a.conn(); !errors.Is(err, database.ErrDisconnected) {
			t.Errorf("conn() after Disconnect = %v; want database.ErrDisconnected", err)
		}
	}
}

func TestSuccessor(t *testing.T) {
	tests := []struct {
		prefix  string
		want    string
		bounded bool
	}{
		{"", "", false},
		{"a", "b", true},
		{"a:", "a;", true},
		{"a\xff", "b", true},
		{"a\xff\xff", "b", true},
		{"\xff", "", false},
		{"\xff\xff", "", false},
		{"\xfe\xff", "\xff", true},
		{"a\x00", "a\x01", true},
	}
	for _, tt := range tests {
		got, ok := successor(tt.prefix)
		if string(got) != tt.want || ok != tt.bounded {
			t.Errorf("successor(%q) = %q, %t; want %q, %t", tt.prefix, got, ok, tt.want, tt.bounded)
		}
	}
}
