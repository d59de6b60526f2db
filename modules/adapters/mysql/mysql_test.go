package mysql_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	gomysql "github.com/go-sql-driver/mysql"

	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"

	"github.com/bentocache/bento"
	"github.com/bentocache/bento/drivertest"
	"github.com/bentocache/bento/internal/sqladapter/sqladaptertest"
	"github.com/bentocache/bento/internal/tcpproxy"
	"github.com/bentocache/bento/internal/testenv"
	"github.com/bentocache/bento/modules/adapters/mysql"
	"github.com/bentocache/bento/modules/drivers/database"
	"github.com/bentocache/bento/modules/drivers/database/databasetest"
)

// newDB returns a DB of the test server, closed when t ends: the kind a
// user hands to the adapter, and how tests clean up.
func newDB(t testing.TB, dsn string) *sql.DB {
	t.Helper()
	db, err := sql.Open("mysql", dsn)
	if err != nil {
		t.Fatalf("sql.Open(mysql, %q) = %v", dsn, err)
	}
	t.Cleanup(func() { _ = db.Close() })
	return db
}

// dropTable drops table when t ends, whether or not an adapter is still
// connected.
func dropTable(t testing.TB, db *sql.DB, table string) {
	t.Helper()
	sqladaptertest.DropTable(t, table, dropper(db))
}

// dropper drops tables through db.
func dropper(db *sql.DB) func(ctx context.Context, table string) error {
	return func(ctx context.Context, table string) error {
		_, err := db.ExecContext(ctx, "DROP TABLE IF EXISTS `"+table+"`")
		return err
	}
}

// open returns an adapter on the user's db, on table, released and dropped
// when t ends.
func open(t *testing.T, db *sql.DB, table string) *mysql.Adapter {
	t.Helper()
	return sqladaptertest.OnTable(t, mysql.New(mysql.Options{DB: db}), table, dropper(db))
}

// TestAdapter_Compliance runs drivertest.Adapter with every adapter on the
// user's DB, each on a table of its own.
func TestAdapter_Compliance(t *testing.T) {
	db := newDB(t, testenv.MySQL(t))
	drivertest.Adapter(t, func(t *testing.T) bento.DatabaseAdapter {
		return open(t, db, testenv.Prefix(t))
	}, drivertest.Options{ExpiresAtPrecision: time.Millisecond})
}

// TestAdapter_Capabilities runs databasetest.Adapter: batches, Pull,
// DeleteExpired, long and binary keys, literal clears, table name
// injection, concurrent creation.
func TestAdapter_Capabilities(t *testing.T) {
	db := newDB(t, testenv.MySQL(t))
	databasetest.Adapter(t, func(t *testing.T, table string) bento.DatabaseAdapter {
		return open(t, db, table)
	}, databasetest.Options{Name: "mysql", ExpiresAtPrecision: time.Millisecond})
}

// TestDriver_Compliance runs drivertest.L2 on the database driver over
// adapters that open their own DBs from the DSN, all on one table.
func TestDriver_Compliance(t *testing.T) {
	dsn := testenv.MySQL(t)
	table := testenv.Prefix(t)
	dropTable(t, newDB(t, dsn), table)
	sqladaptertest.DriverCompliance(t, table, func() bento.DatabaseAdapter { return mysql.New(mysql.Options{DSN: dsn}) })
}

func TestAdapter_Validate(t *testing.T) {
	tests := []struct {
		name    string
		o       mysql.Options
		wantErr string
	}{
		{"DSN", mysql.Options{DSN: "root@tcp(127.0.0.1:3306)/test"}, ""},
		{"DB", mysql.Options{DB: &sql.DB{}}, ""},
		{"Neither", mysql.Options{}, "mysql: set db or dsn"},
		{"Both", mysql.Options{DB: &sql.DB{}, DSN: "root@tcp(127.0.0.1:3306)/test"}, "not both"},
		{"BadDSN", mysql.Options{DSN: "root@tcp(127.0.0.1:3306)"}, "mysql: dsn:"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := mysql.New(tt.o).Validate(); !sqladaptertest.ErrMatches(err, tt.wantErr) {
				t.Errorf("Validate() = %v; want an error containing %q (none if empty)", err, tt.wantErr)
			}
		})
	}
}

// TestDriver_ValidateRejectsInjection: a table name that carries SQL is
// rejected before any I/O, by the driver and by the adapter.
func TestDriver_ValidateRejectsInjection(t *testing.T) {
	sqladaptertest.RejectsInjection(t, func() bento.DatabaseAdapter { return mysql.New(mysql.Options{DSN: "root@tcp(127.0.0.1:3306)/test"}) },
		"bento`; DROP TABLE users; --", "bento; DROP TABLE users", "test.bento", "`bento`")
}

// TestAdapter_UserDBNotClosed: Disconnect never closes the DB it was given;
// later calls fail with database.ErrDisconnected.
func TestAdapter_UserDBNotClosed(t *testing.T) {
	db := newDB(t, testenv.MySQL(t))
	a := open(t, db, testenv.Prefix(t))
	if err := a.CreateTableIfNotExists(t.Context()); err != nil {
		t.Fatal(err)
	}
	if err := a.Disconnect(); err != nil {
		t.Fatalf("Disconnect() = %v", err)
	}
	if err := db.PingContext(t.Context()); err != nil {
		t.Errorf("db.Ping(ctx) after the adapter's Disconnect = %v; want <nil>: the adapter never closes the user's DB", err)
	}
	if _, _, err := a.Get(t.Context(), "k"); !errors.Is(err, database.ErrDisconnected) || !strings.HasPrefix(err.Error(), "mysql: ") {
		t.Errorf("Get after Disconnect = %v; want a mysql: error wrapping database.ErrDisconnected", err)
	}
}

// TestAdapter_Fault cuts the connections between the adapter's own DB and
// the server, then restores them.
func TestAdapter_Fault(t *testing.T) {
	dsn := testenv.MySQL(t)
	cfg, err := gomysql.ParseDSN(dsn)
	if err != nil {
		t.Fatalf("ParseDSN(%q) = %v", dsn, err)
	}
	proxy := tcpproxy.Start(t, cfg.Addr)
	cfg.Addr = proxy.Addr()
	cfg.Timeout = 5 * time.Second
	a := mysql.New(mysql.Options{DSN: cfg.FormatDSN()})
	table := testenv.Prefix(t)
	a.SetTableName(table)
	dropTable(t, newDB(t, dsn), table)
	t.Cleanup(func() { _ = a.Disconnect() })
	databasetest.Fault(t, a, "mysql", proxy.Cut, proxy.Restore)

	dr := database.New(database.Options{Adapter: a, TableName: table})
	proxy.Cut()
	_, _, err = dr.Get(t.Context(), "k")
	proxy.Restore()
	if err == nil || !strings.HasPrefix(err.Error(), "database: get") || !strings.Contains(err.Error(), "mysql: ") {
		t.Errorf("driver Get with the server gone = %v; want a database: error wrapping the mysql: one", err)
	}
}

func TestAdapter_UnmarshalCaddyfile(t *testing.T) {
	sqladaptertest.Caddyfile(t, "mysql", "dsn", "app@tcp(db:3306)/app?timeout=5s", func(d *caddyfile.Dispenser) (string, error) {
		var a mysql.Adapter
		err := a.UnmarshalCaddyfile(d)
		return a.DSN, err
	})
}

// TestAdapter_Provision: the module validates its dsn by its JSON name,
// and Provision does no network I/O (the server here does not exist).
func TestAdapter_Provision(t *testing.T) {
	sqladaptertest.Provision(t, func(dsn string) *mysql.Adapter { return &mysql.Adapter{DSN: dsn} },
		sqladaptertest.ProvisionCase{Value: "app@tcp(127.0.0.1:1)/app?timeout=30s"},
		sqladaptertest.ProvisionCase{Value: "", WantErr: "mysql: dsn is required"},
		sqladaptertest.ProvisionCase{Value: "nonsense", WantErr: "mysql: dsn: "},
	)
}

// TestModule_LoadJSON builds a store on bento.drivers.database over
// bento.adapters.mysql from JSON; the rows land in the configured table.
func TestModule_LoadJSON(t *testing.T) {
	dsn := testenv.MySQL(t)
	table := testenv.Prefix(t)
	admin := newDB(t, dsn)
	dropTable(t, admin, table)
	b := sqladaptertest.LoadJSON(t, fmt.Sprintf(`{"driver": "database", "table_name": %q, "prefix": "app", "adapter": {"adapter": "mysql", "dsn": %q}}`, table, dsn))
	sqladaptertest.RoundTrip(t, b.Default(), "42", "Ada")
	ctx := t.Context()
	var n int
	if err := admin.QueryRowContext(ctx, "SELECT count(*) FROM `"+table+"` WHERE `key` LIKE 'app:%'").Scan(&n); err != nil || n != 1 {
		t.Errorf("rows under app: in table %q = %d, %v; want 1", table, n, err)
	}
}
