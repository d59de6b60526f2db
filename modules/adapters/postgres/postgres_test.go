package postgres_test

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"

	"github.com/bentocache/bento"
	"github.com/bentocache/bento/drivertest"
	"github.com/bentocache/bento/internal/sqladapter/sqladaptertest"
	"github.com/bentocache/bento/internal/tcpproxy"
	"github.com/bentocache/bento/internal/testenv"
	"github.com/bentocache/bento/modules/adapters/postgres"
	"github.com/bentocache/bento/modules/drivers/database"
	"github.com/bentocache/bento/modules/drivers/database/databasetest"
)

// newPool returns a pool of the test server, closed when t ends: the kind a
// user hands to the adapter, and how tests clean up.
func newPool(t testing.TB, dsn string) *pgxpool.Pool {
	t.Helper()
	p, err := pgxpool.New(context.Background(), dsn)
	if err != nil {
		t.Fatalf("pgxpool.New(%q) = %v", dsn, err)
	}
	t.Cleanup(p.Close)
	return p
}

// dropTable drops table when t ends, whether or not an adapter is still
// connected.
func dropTable(t testing.TB, p *pgxpool.Pool, table string) {
	t.Helper()
	sqladaptertest.DropTable(t, table, dropper(p))
}

// dropper drops tables through p.
func dropper(p *pgxpool.Pool) func(ctx context.Context, table string) error {
	return func(ctx context.Context, table string) error {
		_, err := p.Exec(ctx, "DROP TABLE IF EXISTS "+pgx.Identifier{table}.Sanitize())
		return err
	}
}

// open returns an adapter on the user's pool p, on table, released and
// dropped when t ends.
func open(t *testing.T, p *pgxpool.Pool, table string) *postgres.Adapter {
	t.Helper()
	return sqladaptertest.OnTable(t, postgres.New(postgres.Options{Pool: p}), table, dropper(p))
}

// TestAdapter_Compliance runs drivertest.Adapter with every adapter on the
// user's pool, each on a table of its own.
func TestAdapter_Compliance(t *testing.T) {
	p := newPool(t, testenv.Postgres(t))
	drivertest.Adapter(t, func(t *testing.T) bento.DatabaseAdapter {
		return open(t, p, testenv.Prefix(t))
	}, drivertest.Options{ExpiresAtPrecision: time.Microsecond})
}

// TestAdapter_Capabilities runs databasetest.Adapter: batches, Pull,
// DeleteExpired, long and binary keys, literal clears, table name
// injection, concurrent creation.
func TestAdapter_Capabilities(t *testing.T) {
	p := newPool(t, testenv.Postgres(t))
	databasetest.Adapter(t, func(t *testing.T, table string) bento.DatabaseAdapter {
		return open(t, p, table)
	}, databasetest.Options{Name: "postgres", ExpiresAtPrecision: time.Microsecond})
}

// TestDriver_Compliance runs drivertest.L2 on the database driver over
// adapters that open their own pools from the DSN, all on one table.
func TestDriver_Compliance(t *testing.T) {
	dsn := testenv.Postgres(t)
	table := testenv.Prefix(t)
	dropTable(t, newPool(t, dsn), table)
	sqladaptertest.DriverCompliance(t, table, func() bento.DatabaseAdapter { return postgres.New(postgres.Options{DSN: dsn}) })
}

func TestAdapter_Validate(t *testing.T) {
	tests := []struct {
		name    string
		o       postgres.Options
		wantErr string
	}{
		{"DSN", postgres.Options{DSN: "postgres://u@localhost/db"}, ""},
		{"KeywordDSN", postgres.Options{DSN: "host=localhost dbname=db"}, ""},
		{"Pool", postgres.Options{Pool: &pgxpool.Pool{}}, ""},
		{"Neither", postgres.Options{}, "postgres: set pool or dsn"},
		{"Both", postgres.Options{Pool: &pgxpool.Pool{}, DSN: "postgres://localhost"}, "not both"},
		{"BadDSN", postgres.Options{DSN: "postgres://localhost:notaport"}, "postgres: dsn:"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := postgres.New(tt.o).Validate(); !sqladaptertest.ErrMatches(err, tt.wantErr) {
				t.Errorf("Validate() = %v; want an error containing %q (none if empty)", err, tt.wantErr)
			}
		})
	}
}

// TestDriver_ValidateRejectsInjection: a table name that carries SQL is
// rejected before any I/O, by the driver and by the adapter.
func TestDriver_ValidateRejectsInjection(t *testing.T) {
	sqladaptertest.RejectsInjection(t, func() bento.DatabaseAdapter { return postgres.New(postgres.Options{DSN: "postgres://localhost/x"}) },
		`bento"; DROP TABLE users; --`, "bento; DROP TABLE users", "public.bento", `"bento"`)
}

// TestAdapter_UserPoolNotClosed: Disconnect never closes the pool it was
// given; later calls fail with database.ErrDisconnected.
func TestAdapter_UserPoolNotClosed(t *testing.T) {
	p := newPool(t, testenv.Postgres(t))
	a := open(t, p, testenv.Prefix(t))
	if err := a.CreateTableIfNotExists(t.Context()); err != nil {
		t.Fatal(err)
	}
	if err := a.Disconnect(); err != nil {
		t.Fatalf("Disconnect() = %v", err)
	}
	if err := p.Ping(t.Context()); err != nil {
		t.Errorf("pool.Ping(ctx) after the adapter's Disconnect = %v; want <nil>: the adapter never closes the user's pool", err)
	}
	if _, _, err := a.Get(t.Context(), "k"); !errors.Is(err, database.ErrDisconnected) || !strings.HasPrefix(err.Error(), "postgres: ") {
		t.Errorf("Get after Disconnect = %v; want a postgres: error wrapping database.ErrDisconnected", err)
	}
}

// TestAdapter_OwnPoolClosed: the pool the adapter opens from the DSN is
// opened on first use and closed by Disconnect: its server sessions end.
func TestAdapter_OwnPoolClosed(t *testing.T) {
	dsn := testenv.Postgres(t)
	app := testenv.Prefix(t)
	admin := newPool(t, dsn)
	sessions := func() int {
		var n int
		if err := admin.QueryRow(t.Context(), "SELECT count(*) FROM pg_stat_activity WHERE application_name = $1", app).Scan(&n); err != nil {
			t.Fatalf("counting sessions: %v", err)
		}
		return n
	}
	a := postgres.New(postgres.Options{DSN: withParam(t, dsn, "application_name", app)})
	table := testenv.Prefix(t)
	a.SetTableName(table)
	dropTable(t, admin, table)
	if n := sessions(); n != 0 {
		t.Fatalf("%d sessions before the first call; want 0: New and SetTableName do no I/O", n)
	}
	if err := a.CreateTableIfNotExists(t.Context()); err != nil {
		t.Fatal(err)
	}
	if n := sessions(); n == 0 {
		t.Fatal("no session after the first call; want the adapter's pool connected")
	}
	if err := a.Disconnect(); err != nil {
		t.Fatalf("Disconnect() = %v", err)
	}
	eventually(t, 10*time.Second, func() bool { return sessions() == 0 }, "the sessions of the adapter's own pool end after Disconnect")
}

// TestAdapter_LongTableNames: two 63-byte table names that share their
// first 60 bytes each get their own expires_at index, though index names
// are limited to 63 bytes too.
func TestAdapter_LongTableNames(t *testing.T) {
	p := newPool(t, testenv.Postgres(t))
	base := testenv.Prefix(t) + "_" + strings.Repeat("x", 63)
	names := []string{base[:62] + "1", base[:62] + "2"}
	for _, name := range names {
		a := open(t, p, name)
		if err := a.CreateTableIfNotExists(t.Context()); err != nil {
			t.Fatalf("CreateTableIfNotExists on %q = %v", name, err)
		}
		var n int
		if err := p.QueryRow(t.Context(), "SELECT count(*) FROM pg_indexes WHERE tablename = $1 AND indexdef LIKE '%(expires_at)%'", name).Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n != 1 {
			t.Errorf("table %q has %d expires_at indexes; want 1", name, n)
		}
	}
}

// TestAdapter_Fault cuts the connections between the adapter's own pool and
// the server, then restores them.
func TestAdapter_Fault(t *testing.T) {
	dsn := testenv.Postgres(t)
	u, err := url.Parse(dsn)
	if err != nil || u.Host == "" {
		t.Skipf("%s is not a URL DSN (%q); the fault test rewrites its host", testenv.PostgresVar, dsn)
	}
	proxy := tcpproxy.Start(t, u.Host)
	u.Host = proxy.Addr()
	a := postgres.New(postgres.Options{DSN: withParam(t, u.String(), "connect_timeout", "5")})
	table := testenv.Prefix(t)
	a.SetTableName(table)
	dropTable(t, newPool(t, dsn), table)
	t.Cleanup(func() { _ = a.Disconnect() })
	databasetest.Fault(t, a, "postgres", proxy.Cut, proxy.Restore)

	// The driver's errors name the adapter too.
	dr := database.New(database.Options{Adapter: a, TableName: table})
	proxy.Cut()
	_, _, err = dr.Get(t.Context(), "k")
	proxy.Restore()
	if err == nil || !strings.HasPrefix(err.Error(), "database: get") || !strings.Contains(err.Error(), "postgres: ") {
		t.Errorf("driver Get with the server gone = %v; want a database: error wrapping the postgres: one", err)
	}
}

// withParam returns dsn with the query parameter name=value.
func withParam(t *testing.T, dsn, name, value string) string {
	t.Helper()
	u, err := url.Parse(dsn)
	if err != nil || u.Scheme == "" {
		t.Skipf("%s is not a URL DSN (%q)", testenv.PostgresVar, dsn)
	}
	q := u.Query()
	q.Set(name, value)
	u.RawQuery = q.Encode()
	return u.String()
}

// eventually polls cond until it holds or d passes.
func eventually(t *testing.T, d time.Duration, cond func() bool, what string) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("not true after %v: %s", d, what)
		}
		select {
		case <-t.Context().Done():
			t.Fatal(t.Context().Err())
		case <-time.After(20 * time.Millisecond):
		}
	}
}

func TestAdapter_UnmarshalCaddyfile(t *testing.T) {
	read := func(d *caddyfile.Dispenser) (string, error) {
		var a postgres.Adapter
		err := a.UnmarshalCaddyfile(d)
		return a.DSN, err
	}
	sqladaptertest.Caddyfile(t, "postgres", "dsn", "postgres://app@db:5432/app", read)
	if dsn, err := read(caddyfile.NewTestDispenser("postgres {\n\tdsn \"host=db dbname=app\"\n}")); err != nil || dsn != "host=db dbname=app" {
		t.Errorf("UnmarshalCaddyfile of a quoted key=value dsn = %v, dsn %q; want <nil>, %q", err, dsn, "host=db dbname=app")
	}
}

// TestAdapter_Provision: the module validates its dsn by its JSON name,
// and Provision does no network I/O (the server here does not exist).
func TestAdapter_Provision(t *testing.T) {
	sqladaptertest.Provision(t, func(dsn string) *postgres.Adapter { return &postgres.Adapter{DSN: dsn} },
		sqladaptertest.ProvisionCase{Value: "postgres://app@127.0.0.1:1/app?connect_timeout=30"},
		sqladaptertest.ProvisionCase{Value: "", WantErr: "postgres: dsn is required"},
		sqladaptertest.ProvisionCase{Value: "postgres://localhost:notaport", WantErr: "postgres: dsn: "},
	)
}

// loadJSON returns a manager of one store whose L2 is the database driver
// on the postgres adapter module with dsn and table, closed when t ends.
func loadJSON(t *testing.T, dsn, table string) *bento.Bento {
	t.Helper()
	return sqladaptertest.LoadJSON(t, fmt.Sprintf(`{"driver": "database", "table_name": %q, "adapter": {"adapter": "postgres", "dsn": %q}}`, table, dsn))
}

// TestModule_LoadJSON builds a store on bento.drivers.database over
// bento.adapters.postgres from JSON; the rows land in the configured table.
func TestModule_LoadJSON(t *testing.T) {
	dsn := testenv.Postgres(t)
	table := testenv.Prefix(t)
	admin := newPool(t, dsn)
	dropTable(t, admin, table)
	b := loadJSON(t, dsn, table)
	sqladaptertest.RoundTrip(t, b.Default(), "42", "Ada")
	var n int
	if err := admin.QueryRow(t.Context(), "SELECT count(*) FROM "+pgx.Identifier{table}.Sanitize()).Scan(&n); err != nil || n != 1 {
		t.Errorf("rows in table %q = %d, %v; want 1", table, n, err)
	}
}

// TestModule_SharesPool: two managers loaded from one DSN, as a config
// reload makes them, share one pool: with pool_max_conns=1 both work over a
// single server session. The pool outlives the first manager and closes
// with the last.
func TestModule_SharesPool(t *testing.T) {
	base := testenv.Postgres(t)
	app := testenv.Prefix(t) // also makes the DSN, the pool's key, this test's own
	dsn := withParam(t, withParam(t, base, "application_name", app), "pool_max_conns", "1")
	table := testenv.Prefix(t)
	admin := newPool(t, base)
	dropTable(t, admin, table)
	sessions := func() int {
		var n int
		if err := admin.QueryRow(t.Context(), "SELECT count(*) FROM pg_stat_activity WHERE application_name = $1", app).Scan(&n); err != nil {
			t.Fatalf("counting sessions: %v", err)
		}
		return n
	}

	old := loadJSON(t, dsn, table)
	if n := sessions(); n > 1 {
		t.Fatalf("%d sessions after LoadJSON; want at most 1: Provision does no network I/O, the store's one ping at start uses the pool", n)
	}
	sqladaptertest.RoundTrip(t, old.Default(), "a", "1")
	next := loadJSON(t, dsn, table)
	sqladaptertest.RoundTrip(t, next.Default(), "b", "2")
	if n := sessions(); n != 1 {
		t.Errorf("%d sessions after both managers wrote, with pool_max_conns=1; want 1: one shared pool", n)
	}

	if err := old.Close(); err != nil {
		t.Fatal(err)
	}
	sqladaptertest.RoundTrip(t, next.Default(), "c", "3") // the pool is still open
	if n := sessions(); n != 1 {
		t.Errorf("%d sessions after the first manager closed; want 1: the second still holds the pool", n)
	}
	if err := next.Close(); err != nil {
		t.Fatal(err)
	}
	eventually(t, 10*time.Second, func() bool { return sessions() == 0 }, "the pool's session ends once both managers are closed")
}

// TestModule_CaddyReloadKeepsSession: a Caddy config reload keeps the
// adapter's pool: with pool_max_conns=1, one server session serves the store
// before and after the reload, and stopping Caddy ends it.
func TestModule_CaddyReloadKeepsSession(t *testing.T) {
	base := testenv.Postgres(t)
	app := testenv.Prefix(t)
	dsn := withParam(t, withParam(t, base, "application_name", app), "pool_max_conns", "1")
	table := testenv.Prefix(t)
	admin := newPool(t, base)
	dropTable(t, admin, table)
	load := sqladaptertest.CaddyLoader(t, fmt.Sprintf(`{"driver": "database", "table_name": %q, "adapter": {"adapter": "postgres", "dsn": %q}}`, table, dsn))
	pids := func() []int32 {
		rows, err := admin.Query(t.Context(), "SELECT pid FROM pg_stat_activity WHERE application_name = $1", app)
		if err != nil {
			t.Fatalf("listing sessions: %v", err)
		}
		ps, err := pgx.CollectRows(rows, pgx.RowTo[int32])
		if err != nil {
			t.Fatalf("listing sessions: %v", err)
		}
		return ps
	}

	c := load()
	if err := c.Set(t.Context(), "k", "v"); err != nil {
		t.Fatal(err)
	}
	before := pids()
	if len(before) != 1 {
		t.Fatalf("sessions after the first write = %v; want one", before)
	}
	c = load() // a reload: the new config is provisioned before the old one stops
	if v, found, err := bento.Get[string](t.Context(), c, "k"); err != nil || !found || v != "v" {
		t.Errorf("Get after the reload = %q, %t, %v; want \"v\", true, <nil>", v, found, err)
	}
	if after := pids(); len(after) != 1 || after[0] != before[0] {
		t.Errorf("sessions after the reload = %v; want the same one as before, %v: the reload keeps the pool", after, before)
	}
	if err := caddy.Stop(); err != nil {
		t.Fatal(err)
	}
	eventually(t, 10*time.Second, func() bool { return len(pids()) == 0 }, "the pool's session ends when Caddy stops")
}
