package mysql

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/bentocache/bento"
	"github.com/bentocache/bento/internal/sqladapter"
	"github.com/bentocache/bento/internal/testenv"
	"github.com/bentocache/bento/modules/drivers/database"
)

// TestAdapter_OwnDBClosed: the DB the adapter opens from the DSN is opened
// on first use, not by New, and closed by Disconnect with its connections.
func TestAdapter_OwnDBClosed(t *testing.T) {
	a := New(Options{DSN: testenv.MySQL(t)})
	a.SetTableName(testenv.Prefix(t))
	if a.conns.Held() != nil {
		t.Fatal("New opened a DB; want it opened on first use")
	}
	if _, err := a.Delete(t.Context(), "k"); err == nil || !strings.Contains(err.Error(), "doesn't exist") {
		t.Fatalf("Delete on a missing table = %v; want the server's error", err)
	}
	db := a.conns.Held()
	if db == nil || db.Stats().OpenConnections == 0 {
		t.Fatal("no open connection after the first call")
	}
	if err := a.Disconnect(); err != nil {
		t.Fatalf("Disconnect() = %v", err)
	}
	if err := db.PingContext(t.Context()); err == nil || !strings.Contains(err.Error(), "database is closed") {
		t.Errorf("Ping on the adapter's DB after Disconnect = %v; want sql: database is closed", err)
	}
	if n := db.Stats().OpenConnections; n != 0 {
		t.Errorf("%d open connections after Disconnect; want 0", n)
	}
	if _, _, err := a.conns.Get(); !errors.Is(err, database.ErrDisconnected) {
		t.Errorf("conns.Get() after Disconnect = %v; want database.ErrDisconnected: a disconnected adapter does not reopen", err)
	}
}

// TestModule_SharesDB: two managers loaded from one DSN, as a config reload
// makes them, share one *sql.DB, which outlives the first manager and
// closes, with its connections, when the last one closes.
func TestModule_SharesDB(t *testing.T) {
	base := testenv.MySQL(t)
	sep := "?"
	if strings.Contains(base, "?") {
		sep = "&"
	}
	// A connection attribute of its own makes the DSN, the key of the
	// shared DB, this test's own.
	dsn := base + sep + "connectionAttributes=bento_test:" + testenv.Prefix(t)
	table := testenv.Prefix(t)
	admin, err := sql.Open("mysql", base)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if _, err := admin.ExecContext(context.Background(), "DROP TABLE IF EXISTS `"+table+"`"); err != nil {
			t.Errorf("dropping table %q: %v", table, err)
		}
		_ = admin.Close()
	})
	cfg := fmt.Appendf(nil, `{"stores": {"s": {"l2": {"driver": "database", "table_name": %q, "adapter": {"adapter": "mysql", "dsn": %q}}}}}`, table, dsn)
	load := func() *bento.Bento {
		b, err := bento.LoadJSON(t.Context(), cfg)
		if err != nil {
			t.Fatalf("LoadJSON = %v", err)
		}
		t.Cleanup(func() { _ = b.Close() })
		return b
	}
	roundTrip := func(b *bento.Bento, key string) {
		t.Helper()
		if err := b.Default().Set(t.Context(), key, "v"); err != nil {
			t.Fatalf("Set(%q) = %v", key, err)
		}
		if v, found, err := bento.Get[string](t.Context(), b.Default(), key); err != nil || !found || v != "v" {
			t.Fatalf("Get(%q) = %q, %t, %v; want \"v\", true, <nil>", key, v, found, err)
		}
	}
	shared := func() *sql.DB {
		t.Helper()
		var db *sql.DB
		dbs.Range(func(key, value any) bool {
			if key == dsn {
				db = value.(sqladapter.Shared[*sql.DB]).C
			}
			return true
		})
		return db
	}
	refs := func() int {
		n, _ := dbs.References(dsn)
		return n
	}

	old := load()
	db := shared()
	if db == nil || db.Stats().OpenConnections > 1 {
		t.Fatalf("after LoadJSON the shared DB is %v; want one, with at most one connection: Provision does no network I/O, the store's one ping at start uses the pool", db)
	}
	roundTrip(old, "a")
	next := load()
	roundTrip(next, "b")
	if n := refs(); n != 2 || shared() != db {
		t.Errorf("after two managers, the DB of the DSN has %d references (same DB: %t); want 2 on the same DB", n, shared() == db)
	}
	if err := old.Close(); err != nil {
		t.Fatal(err)
	}
	roundTrip(next, "c")
	if n := refs(); n != 1 {
		t.Errorf("after the first manager closed, the DB of the DSN has %d references; want 1", n)
	}
	if err := next.Close(); err != nil {
		t.Fatal(err)
	}
	if _, ok := dbs.References(dsn); ok || shared() != nil {
		t.Error("after both managers closed, the DB of the DSN is still shared; want it gone")
	}
	if err := db.PingContext(t.Context()); err == nil || !strings.Contains(err.Error(), "database is closed") {
		t.Errorf("Ping on the shared DB after both managers closed = %v; want \"sql: database is closed\"", err)
	}
	if n := db.Stats().OpenConnections; n != 0 {
		t.Errorf("%d connections open after both managers closed; want 0", n)
	}
}
