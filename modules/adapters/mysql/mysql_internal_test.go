package mysql

import (
	"errors"
	"strings"
	"testing"

	"github.com/bentocache/bento/internal/testenv"
	"github.com/bentocache/bento/modules/drivers/database"
)

// TestAdapter_OwnDBClosed: the DB the adapter opens from the DSN is opened
// on first use, not by New, and closed by Disconnect with its connections.
func TestAdapter_OwnDBClosed(t *testing.T) {
	a := New(Options{DSN: testenv.MySQL(t)})
	a.SetTableName(testenv.Prefix(t))
	if a.db != nil {
		t.Fatal("New opened a DB; want it opened on first use")
	}
	if _, err := a.Delete(t.Context(), "k"); err == nil || !strings.Contains(err.Error(), "doesn't exist") {
		t.Fatalf("Delete on a missing table = %v; want the server's error", err)
	}
	db := a.db
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
	if _, _, err := a.conn(); !errors.Is(err, database.ErrDisconnected) {
		t.Errorf("conn() after Disconnect = %v; want database.ErrDisconnected: a disconnected adapter does not reopen", err)
	}
}
