package sqlite

import (
	"database/sql"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2"

	"github.com/bentocache/bento"
	"github.com/bentocache/bento/internal/sqladapter"
	"github.com/bentocache/bento/internal/sqladapter/sqladaptertest"
	"github.com/bentocache/bento/modules/drivers/database"
)

// TestAdapter_OwnDBsClosed: the pools the adapter opens from the path are
// opened on first use, not by New, and closed by Disconnect.
func TestAdapter_OwnDBsClosed(t *testing.T) {
	for _, path := range []string{"", filepath.Join(t.TempDir(), "bento.db")} {
		a := New(Options{Path: path})
		if f := a.conns.Held(); f.w != nil || f.r != nil {
			t.Fatal("New opened a database; want it opened on first use")
		}
		if err := a.CreateTableIfNotExists(t.Context()); err != nil {
			t.Fatal(err)
		}
		if _, _, err := a.Get(t.Context(), "k"); err != nil {
			t.Fatal(err)
		}
		f := a.conns.Held()
		w, r := f.w, f.r
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

// loadJSON returns a manager of one store whose L2 is the database driver
// on the sqlite adapter module with path, closed when t ends.
func loadJSON(t *testing.T, path string) *bento.Bento {
	t.Helper()
	cfg := fmt.Appendf(nil, `{"stores": {"s": {"l2": {"driver": "database", "adapter": {"adapter": "sqlite", "path": %q}}}}}`, path)
	b, err := bento.LoadJSON(t.Context(), cfg)
	if err != nil {
		t.Fatalf("LoadJSON = %v", err)
	}
	t.Cleanup(func() { _ = b.Close() })
	return b
}

// shared returns the pools shared under path, if any, and their number of
// references.
func shared(path string) (sharedFile, int) {
	var f sharedFile
	files.Range(func(key, value any) bool {
		if key == path {
			f = value.(sqladapter.Shared[sharedFile]).C
		}
		return true
	})
	n, _ := files.References(path)
	return f, n
}

// TestModule_SharesFile: two managers loaded on one path, as a config
// reload makes them, share one pair of pools, which outlives the first
// manager and closes when the last one closes.
func TestModule_SharesFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "c.db")
	ctx := t.Context()
	old := loadJSON(t, path)
	f, n := shared(path)
	if n != 1 || f.w == nil || f.w.Stats().OpenConnections > 1 {
		t.Fatalf("after LoadJSON the pools of %q have %d references, %v; want 1, with at most one connection: Provision does no I/O, the store's one ping at start uses the pool", path, n, f)
	}
	if err := old.Default().Set(ctx, "k", "v"); err != nil {
		t.Fatal(err)
	}
	next := loadJSON(t, path)
	if v, found, err := bento.Get[string](ctx, next.Default(), "k"); err != nil || !found || v != "v" {
		t.Errorf("Get through the second manager = %q, %t, %v; want \"v\", true, <nil>", v, found, err)
	}
	if g, n := shared(path); n != 2 || g != f {
		t.Errorf("after two managers the pools of %q have %d references (the same pools: %t); want 2 on the same pools", path, n, g == f)
	}
	if err := old.Close(); err != nil {
		t.Fatal(err)
	}
	if err := next.Default().Set(ctx, "k2", "v"); err != nil {
		t.Errorf("Set through the second manager after the first closed = %v; want <nil>: it still holds the pools", err)
	}
	if err := next.Close(); err != nil {
		t.Fatal(err)
	}
	if _, n := shared(path); n != 0 {
		t.Errorf("after both managers closed the pools of %q have %d references; want none", path, n)
	}
	for name, db := range map[string]*sql.DB{"writes": f.w, "reads": f.r} {
		if err := db.PingContext(ctx); err == nil || !strings.Contains(err.Error(), "database is closed") {
			t.Errorf("Ping on the pool of %s after both managers closed = %v; want \"sql: database is closed\"", name, err)
		}
	}
}

// TestModule_InMemoryNotShared: an in-memory database is private to its
// adapter: two managers on ":memory:" do not see each other's entries, and
// nothing is pooled.
func TestModule_InMemoryNotShared(t *testing.T) {
	for _, tt := range []struct{ name, path string }{{"Memory", ":memory:"}, {"Default", ""}} {
		t.Run(tt.name, func(t *testing.T) {
			ctx, path := t.Context(), tt.path
			a, b := loadJSON(t, path), loadJSON(t, path)
			if err := a.Default().Set(ctx, "k", "v"); err != nil {
				t.Fatal(err)
			}
			if v, found, err := bento.Get[string](ctx, b.Default(), "k"); err != nil || found {
				t.Errorf("Get through another manager on %q = %q, %t, %v; want a miss: in-memory databases are not shared", path, v, found, err)
			}
			if _, n := shared(path); n != 0 {
				t.Errorf("%d references to pools under %q; want none", n, path)
			}
		})
	}
}

// TestModule_CaddyReloadKeepsPools: a Caddy config reload keeps the pools
// of a database file: the store uses the same pools before and after the
// reload, and stopping Caddy closes them.
func TestModule_CaddyReloadKeepsPools(t *testing.T) {
	path := filepath.Join(t.TempDir(), "c.db")
	load := sqladaptertest.CaddyLoader(t, fmt.Sprintf(`{"driver": "database", "prune_interval": "1h", "adapter": {"adapter": "sqlite", "path": %q}}`, path))

	c := load()
	if err := c.Set(t.Context(), "k", "v"); err != nil {
		t.Fatal(err)
	}
	before, _ := shared(path)
	c = load() // a reload: the new config is provisioned before the old one stops
	if v, found, err := bento.Get[string](t.Context(), c, "k"); err != nil || !found || v != "v" {
		t.Errorf("Get after the reload = %q, %t, %v; want \"v\", true, <nil>", v, found, err)
	}
	if after, n := shared(path); after != before || n != 1 {
		t.Errorf("after the reload the pools of %q have %d references (the same pools: %t); want 1, on the same pools", path, n, after == before)
	}
	if err := caddy.Stop(); err != nil {
		t.Fatal(err)
	}
	if _, n := shared(path); n != 0 {
		t.Errorf("after Caddy stopped the pools of %q have %d references; want none", path, n)
	}
	if err := before.w.PingContext(t.Context()); err == nil || !strings.Contains(err.Error(), "database is closed") {
		t.Errorf("Ping on the writer pool after Caddy stopped = %v; want \"sql: database is closed\"", err)
	}
}
