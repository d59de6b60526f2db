package sqlite_test

import (
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"

	"github.com/bentocache/bento"
	"github.com/bentocache/bento/drivertest"
	"github.com/bentocache/bento/internal/sqladapter/sqladaptertest"
	"github.com/bentocache/bento/internal/testenv"
	"github.com/bentocache/bento/modules/adapters/sqlite"
	"github.com/bentocache/bento/modules/drivers/database"
	"github.com/bentocache/bento/modules/drivers/database/databasetest"
)

// open returns an adapter on the database file path, on table, released
// when t ends. Tables need not be dropped: the file lives in t.TempDir.
func open(t *testing.T, path, table string) *sqlite.Adapter {
	t.Helper()
	return sqladaptertest.OnTable(t, sqlite.New(sqlite.Options{Path: path}), table, nil)
}

// TestAdapter_Compliance runs drivertest.Adapter with every adapter on one
// database file (so adapters of parallel subtests write to it at once),
// each on a table of its own.
func TestAdapter_Compliance(t *testing.T) {
	path := filepath.Join(t.TempDir(), "bento.db")
	drivertest.Adapter(t, func(t *testing.T) bento.DatabaseAdapter {
		return open(t, path, testenv.Prefix(t))
	}, drivertest.Options{ExpiresAtPrecision: time.Millisecond})
}

// TestAdapter_ComplianceMemory runs drivertest.Adapter on the default, a
// private in-memory database per adapter.
func TestAdapter_ComplianceMemory(t *testing.T) {
	drivertest.Adapter(t, func(t *testing.T) bento.DatabaseAdapter {
		return sqladaptertest.OnTable(t, sqlite.New(sqlite.Options{}), testenv.Prefix(t), nil)
	}, drivertest.Options{ExpiresAtPrecision: time.Millisecond})
}

// TestAdapter_Capabilities runs databasetest.Adapter: batches, Pull,
// DeleteExpired, long and binary keys, literal clears, table name
// injection, concurrent creation.
func TestAdapter_Capabilities(t *testing.T) {
	path := filepath.Join(t.TempDir(), "bento.db")
	databasetest.Adapter(t, func(t *testing.T, table string) bento.DatabaseAdapter {
		return open(t, path, table)
	}, databasetest.Options{Name: "sqlite", ExpiresAtPrecision: time.Millisecond})
}

// TestAdapter_CapabilitiesUserDB runs databasetest.Adapter on a DB the user
// opened as the Options.DB doc asks: a busy_timeout on every connection, and
// WAL mode, set once.
func TestAdapter_CapabilitiesUserDB(t *testing.T) {
	db := userDB(t, "file:"+filepath.Join(t.TempDir(), "bento.db")+"?_pragma=busy_timeout(10000)")
	if _, err := db.ExecContext(t.Context(), "PRAGMA journal_mode=WAL"); err != nil {
		t.Fatal(err)
	}
	databasetest.Adapter(t, func(t *testing.T, table string) bento.DatabaseAdapter {
		a := sqlite.New(sqlite.Options{DB: db})
		a.SetTableName(table)
		t.Cleanup(func() { _ = a.Disconnect() })
		return a
	}, databasetest.Options{Name: "sqlite", ExpiresAtPrecision: time.Millisecond})
}

// TestDriver_Compliance runs drivertest.L2 on the database driver over
// adapters on one database file and one table.
func TestDriver_Compliance(t *testing.T) {
	path := filepath.Join(t.TempDir(), "bento.db")
	sqladaptertest.DriverCompliance(t, "", func() bento.DatabaseAdapter { return sqlite.New(sqlite.Options{Path: path}) })
}

func TestAdapter_Validate(t *testing.T) {
	tests := []struct {
		name    string
		o       sqlite.Options
		wantErr string
	}{
		{"Zero", sqlite.Options{}, ""},
		{"Path", sqlite.Options{Path: "/tmp/bento.db"}, ""},
		{"Memory", sqlite.Options{Path: ":memory:"}, ""},
		{"URI", sqlite.Options{Path: "file:bento.db?mode=rwc"}, ""},
		{"DB", sqlite.Options{DB: &sql.DB{}}, ""},
		{"Both", sqlite.Options{DB: &sql.DB{}, Path: "x.db"}, "not both"},
		{"QuestionMark", sqlite.Options{Path: "x.db?mode=ro"}, "file: URI"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := sqlite.New(tt.o).Validate(); !sqladaptertest.ErrMatches(err, tt.wantErr) {
				t.Errorf("Validate() = %v; want an error containing %q (none if empty)", err, tt.wantErr)
			}
		})
	}
}

// TestDriver_ValidateRejectsInjection: a table name that carries SQL is
// rejected before any I/O, by the driver and by the adapter.
func TestDriver_ValidateRejectsInjection(t *testing.T) {
	sqladaptertest.RejectsInjection(t, func() bento.DatabaseAdapter { return sqlite.New(sqlite.Options{}) },
		`bento"; DROP TABLE users; --`, "bento; DROP TABLE users", "main.bento", "[bento]")
}

// TestAdapter_ConcurrentWriters: many goroutines on two adapters (two
// processes' worth of pools) write one file at once; none may see
// SQLITE_BUSY.
func TestAdapter_ConcurrentWriters(t *testing.T) {
	path := filepath.Join(t.TempDir(), "bento.db")
	table := testenv.Prefix(t)
	adapters := []*sqlite.Adapter{open(t, path, table), open(t, path, table)}
	ctx := t.Context()
	for _, a := range adapters {
		if err := a.CreateTableIfNotExists(ctx); err != nil {
			t.Fatal(err)
		}
	}
	var wg sync.WaitGroup
	for g := range 8 {
		a := adapters[g%2]
		wg.Go(func() {
			for i := range 40 {
				k := fmt.Sprintf("g%d-%d", g, i%7)
				if err := a.Set(ctx, bento.Row{Key: k, Value: []byte(k)}); err != nil {
					t.Errorf("goroutine %d: Set(ctx, %q) = %v; want <nil>", g, k, err)
					return
				}
				if _, _, err := a.Get(ctx, k); err != nil {
					t.Errorf("goroutine %d: Get(ctx, %q) = %v; want <nil>", g, k, err)
					return
				}
				if i%5 == 0 {
					if err := a.SetMany(ctx, []bento.Row{{Key: k + "a"}, {Key: k + "b"}}); err != nil {
						t.Errorf("goroutine %d: SetMany = %v; want <nil>", g, err)
						return
					}
				}
				if i%9 == 0 {
					if err := a.Clear(ctx, fmt.Sprintf("g%d-", g)); err != nil {
						t.Errorf("goroutine %d: Clear = %v; want <nil>", g, err)
						return
					}
				}
			}
		})
	}
	wg.Wait()
}

// TestAdapter_MemoryIsPrivate: two adapters on the default path each have
// a database of their own, which Disconnect discards.
func TestAdapter_MemoryIsPrivate(t *testing.T) {
	ctx := t.Context()
	a, b := sqlite.New(sqlite.Options{}), sqlite.New(sqlite.Options{})
	t.Cleanup(func() { _, _ = a.Disconnect(), b.Disconnect() })
	for _, x := range []*sqlite.Adapter{a, b} {
		if err := x.CreateTableIfNotExists(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if err := a.Set(ctx, bento.Row{Key: "k", Value: []byte("v")}); err != nil {
		t.Fatal(err)
	}
	if _, found, err := b.Get(ctx, "k"); err != nil || found {
		t.Errorf("b.Get(ctx, k) = _, %t, %v after a.Set; want false, <nil>: in-memory databases are private", found, err)
	}
	if r, found, err := a.Get(ctx, "k"); err != nil || !found || string(r.Value) != "v" {
		t.Errorf("a.Get(ctx, k) = %+v, %t, %v; want v, true, <nil>", r, found, err)
	}
}

// TestAdapter_UserDBNotClosed: Disconnect never closes the DB it was given;
// later calls fail with database.ErrDisconnected.
func TestAdapter_UserDBNotClosed(t *testing.T) {
	db := userDB(t, ":memory:")
	db.SetMaxOpenConns(1)
	a := sqlite.New(sqlite.Options{DB: db})
	if err := a.CreateTableIfNotExists(t.Context()); err != nil {
		t.Fatal(err)
	}
	if err := a.Disconnect(); err != nil {
		t.Fatalf("Disconnect() = %v", err)
	}
	var n int
	if err := db.QueryRowContext(t.Context(), `SELECT count(*) FROM "bentocache"`).Scan(&n); err != nil {
		t.Errorf("querying the user's DB after the adapter's Disconnect = %v; want <nil>: the adapter never closes the user's DB", err)
	}
	if _, _, err := a.Get(t.Context(), "k"); !errors.Is(err, database.ErrDisconnected) || !strings.HasPrefix(err.Error(), "sqlite: ") {
		t.Errorf("Get after Disconnect = %v; want a sqlite: error wrapping database.ErrDisconnected", err)
	}
}

// TestDriver_PersistsAcrossDrivers: a file database keeps entries across
// driver lifetimes, as an L2 shared by restarts must.
func TestDriver_PersistsAcrossDrivers(t *testing.T) {
	path := filepath.Join(t.TempDir(), "bento.db")
	ctx := t.Context()
	newDriver := func() *database.Driver {
		return database.New(database.Options{Adapter: sqlite.New(sqlite.Options{Path: path}), Prefix: "app"})
	}
	first := newDriver()
	if err := first.Set(ctx, "k", []byte("v"), time.Hour); err != nil {
		t.Fatal(err)
	}
	if err := first.Disconnect(); err != nil {
		t.Fatal(err)
	}
	second := newDriver()
	t.Cleanup(func() { _ = second.Disconnect() })
	if v, found, err := second.Get(ctx, "k"); err != nil || !found || string(v) != "v" {
		t.Errorf("Get(ctx, k) on a new driver = %q, %t, %v; want v, true, <nil>", v, found, err)
	}
}

// userDB opens a DB as a user would, closed when t ends.
func userDB(t *testing.T, dsn string) *sql.DB {
	t.Helper()
	db, err := sql.Open("sqlite", dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	return db
}

func TestAdapter_UnmarshalCaddyfile(t *testing.T) {
	read := func(d *caddyfile.Dispenser) (string, error) {
		var a sqlite.Adapter
		err := a.UnmarshalCaddyfile(d)
		return a.Path, err
	}
	sqladaptertest.Caddyfile(t, "sqlite", "path", "/var/cache/bento/cache.db", read)
	for _, path := range []string{":memory:", "file:cache.db?mode=rwc"} {
		if got, err := read(caddyfile.NewTestDispenser("sqlite " + path)); err != nil || got != path {
			t.Errorf("UnmarshalCaddyfile(%q) = %v, path %q; want <nil>, %q", "sqlite "+path, err, got, path)
		}
	}
}

// TestAdapter_Provision: the module validates its path, and Provision does
// no I/O: the file is created by the first call.
func TestAdapter_Provision(t *testing.T) {
	file := filepath.Join(t.TempDir(), "c.db")
	sqladaptertest.Provision(t, func(path string) *sqlite.Adapter { return &sqlite.Adapter{Path: path} },
		sqladaptertest.ProvisionCase{Value: file},
		sqladaptertest.ProvisionCase{Value: ""},
		sqladaptertest.ProvisionCase{Value: ":memory:"},
		sqladaptertest.ProvisionCase{Value: "c.db?mode=ro", WantErr: `sqlite: path "c.db?mode=ro" contains "?"`},
	)
	if _, err := os.Stat(file); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Stat(%q) after Provision and Cleanup = %v; want fs.ErrNotExist: Provision does no I/O", file, err)
	}
}

// TestModule_LoadJSON builds a store on bento.drivers.database over
// bento.adapters.sqlite from JSON, on a file and in memory.
func TestModule_LoadJSON(t *testing.T) {
	for _, tt := range []struct{ name, path string }{
		{"File", filepath.Join(t.TempDir(), "c.db")},
		{"Memory", ":memory:"},
		{"Default", ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			b := sqladaptertest.LoadJSON(t, fmt.Sprintf(`{"driver": "database", "table_name": "cache", "adapter": {"adapter": "sqlite", "path": %q}}`, tt.path))
			sqladaptertest.RoundTrip(t, b.Default(), "42", "Ada")
		})
	}
}
