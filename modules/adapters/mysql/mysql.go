// Package mysql is bento's MySQL and MariaDB adapter for the database L2
// driver (module bento.adapters.mysql), on database/sql and
// [github.com/go-sql-driver/mysql].
//
// The adapter keeps one row per key in an InnoDB table of this layout (the
// table name is set by the driver, "bentocache" by default):
//
//	CREATE TABLE IF NOT EXISTS `bentocache` (
//		`key_hash`   BINARY(32) NOT NULL,  -- SHA-256 of key
//		`key`        LONGBLOB NOT NULL,    -- the full key, any bytes, any length
//		`value`      LONGBLOB NOT NULL,
//		`expires_at` BIGINT NULL,          -- unix milliseconds; NULL: never
//		PRIMARY KEY (`key_hash`),
//		KEY `key_prefix` (`key`(255)),
//		KEY `expires_at` (`expires_at`)
//	) ENGINE=InnoDB
//
// Keys and values are binary: comparisons, LIKE included, are byte-wise and
// case-sensitive whatever the server's collation, and no key is folded,
// padded or truncated. Rows are found by the SHA-256 of the key because
// InnoDB limits an index entry to 3072 bytes (767 on old row formats): keys
// of any length work, and every lookup also compares the stored key, so a
// hash collision is a miss, never another key's row. The prefix index on the
// key serves Clear. expires_at is a BIGINT of unix milliseconds: exact,
// free of the session time zone that DATETIME depends on, the same on MySQL
// and MariaDB.
//
//	l2 := database.New(database.Options{
//		Adapter: mysql.New(mysql.Options{DB: db}),
//	})
package mysql

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	gomysql "github.com/go-sql-driver/mysql"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"

	"github.com/bentocache/bento"
	"github.com/bentocache/bento/internal/sqladapter"
	"github.com/bentocache/bento/modules/drivers/database"
)

func init() { caddy.RegisterModule(new(Adapter)) }

// dbs shares the *sql.DB that adapter modules open, keyed by the DSN: the
// adapters of several stores with one DSN use one pool of connections, and
// a config reload keeps it.
var dbs = caddy.NewUsagePool()

// Adapter is a [bento.DatabaseAdapter] on a MySQL or MariaDB database, with
// the [database.BatchAdapter], [database.PullAdapter] and
// [database.ExpiredDeleter] capabilities. Module ID: bento.adapters.mysql,
// loaded by the "adapter" field of bento.drivers.database. It is safe for
// concurrent use.
type Adapter struct {
	// The MySQL or MariaDB server to use, as a go-sql-driver/mysql data
	// source name: "user:password@tcp(host:3306)/db", with parameters such
	// as "?timeout=5s&tls=true" after it. Adapters with the same dsn share
	// one pool of connections, which a config reload keeps. Required.
	DSN string `json:"dsn,omitempty"`

	o Options
	// module is set by Provision: Validate then names the JSON field.
	module bool

	// conns holds the DB (closed by Disconnect only when the adapter opened
	// it) and the queries of the current table.
	conns sqladapter.Conns[*sql.DB, *queries]

	// stmts are the statements of single-key calls, prepared once on db:
	// without them go-sql-driver/mysql prepares, executes and closes a
	// statement per call, three round trips instead of one.
	stmtMu      sync.Mutex
	stmts       map[string]*sql.Stmt
	stmtsClosed bool
}

// Options configures an [Adapter]; see [New]. Set DB or DSN.
type Options struct {
	// DB is a database you own, opened with the "mysql" driver: the adapter
	// uses it and never closes it.
	DB *sql.DB
	// DSN is a go-sql-driver/mysql data source name
	// ("user:password@tcp(host:3306)/db"), used when DB is nil: the adapter
	// opens a DB on first use and closes it in Disconnect.
	DSN string
}

// queries holds the SQL of one table, built once by SetTableName.
type queries struct {
	// Table names the table and holds its name's problem, if any: every
	// call fails with it.
	sqladapter.Table
	// t is the quoted table name.
	t string

	createTable, get, set, del, delExpired, pullSelect string
	clearPrefix, clearAll, prune                       string
}

// Batch statements take at most maxBatch keys, and a multi-row insert at
// most maxBatchBytes of keys and values, so that a statement stays far below
// the placeholder limit (65535) and max_allowed_packet (default 16 MiB on
// MariaDB and 64 MiB on MySQL 8).
const (
	maxBatch      = 500
	maxBatchBytes = 4 << 20
)

// New returns an Adapter configured by o, on the table "bentocache" until
// SetTableName. It does no I/O and never fails: invalid options are reported
// by [Adapter.Validate] and by every call.
func New(o Options) *Adapter {
	a := new(Adapter)
	a.setup(o)
	return a
}

// setup configures a from o: the one way in that New and Provision share.
func (a *Adapter) setup(o Options) {
	a.o = o
	a.conns.Init(buildQueries(database.DefaultTableName), a.open)
}

// CaddyModule returns the Caddy module information.
func (*Adapter) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{ID: "bento.adapters.mysql", New: func() caddy.Module { return new(Adapter) }}
}

// Provision sets the adapter up from its JSON fields, as [New] does with a
// DSN, and takes the DB of that DSN from the adapters' shared DBs, opening
// it if no adapter holds it. It does no network I/O: database/sql connects
// on demand. An empty or invalid dsn is reported by [Adapter.Validate].
func (a *Adapter) Provision(caddy.Context) error {
	a.setup(Options{DSN: a.DSN})
	a.module = true
	if a.Validate() != nil {
		return nil
	}
	err := a.conns.Lease(dbs, a.DSN, func() (*sql.DB, error) { return openDB(a.DSN) }, (*sql.DB).Close)
	if err != nil {
		return fmt.Errorf("mysql: opening the database: %w", err)
	}
	return nil
}

// Validate reports options that cannot work: neither or both of DB and DSN,
// or a DSN that does not parse; for the module, a missing or invalid dsn. It
// does no I/O.
func (a *Adapter) Validate() error {
	s := sqladapter.Source{Adapter: "mysql", Client: "db", HasClient: a.o.DB != nil, DSN: a.o.DSN, Module: a.module}
	return s.Validate(func(dsn string) error {
		_, err := gomysql.ParseDSN(dsn)
		return err
	})
}

// Cleanup lets go of the adapter's share of its DB; it is
// [Adapter.Disconnect], and safe after a failed Provision and more than once.
func (a *Adapter) Cleanup() error { return a.Disconnect() }

// UnmarshalCaddyfile sets the adapter up from a Caddyfile block, in the
// "adapter" line of a database driver. The DSN may be given on that line
// instead of in the block:
//
//	mysql [<dsn>] {
//		dsn <dsn>
//	}
func (a *Adapter) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	return sqladapter.UnmarshalCaddyfile(d, "mysql", "dsn", &a.DSN)
}

// SetTableName sets the table used by every other method. A name that is not
// a plain SQL identifier (see [database.ValidateTableName]) makes every later
// call fail.
func (a *Adapter) SetTableName(name string) {
	a.conns.SetQueries(buildQueries(name))
}

// CreateTableIfNotExists creates the table and its indexes, in one
// statement, if the table is missing. It is idempotent and safe to call
// concurrently: the server serialises creations of one table.
func (a *Adapter) CreateTableIfNotExists(ctx context.Context) error {
	db, q, err := a.conns.Get()
	if err != nil {
		return q.CreateFailed(err)
	}
	if _, err := db.ExecContext(ctx, q.createTable); err != nil {
		return q.CreateFailed(err)
	}
	return nil
}

// Get returns the row stored under key, expired or not.
func (a *Adapter) Get(ctx context.Context, key string) (bento.Row, bool, error) {
	db, q, err := a.conns.Get()
	if err != nil {
		return bento.Row{}, false, q.Fail("get", err)
	}
	var (
		v   []byte
		exp sql.NullInt64
	)
	st, err := a.stmt(ctx, db, q.get)
	if err != nil {
		return bento.Row{}, false, q.Fail("get", err)
	}
	err = st.QueryRowContext(ctx, sqladapter.Hash(key), []byte(key)).Scan(&v, &exp)
	if errors.Is(err, sql.ErrNoRows) {
		return bento.Row{}, false, nil
	}
	if err != nil {
		return bento.Row{}, false, q.Fail("get", err)
	}
	return sqladapter.ToRow(key, v, exp), true, nil
}

// Set inserts or replaces the row for row.Key.
func (a *Adapter) Set(ctx context.Context, r bento.Row) error {
	db, q, err := a.conns.Get()
	if err != nil {
		return q.Fail("set", err)
	}
	st, err := a.stmt(ctx, db, q.set)
	if err != nil {
		return q.Fail("set", err)
	}
	if _, err := st.ExecContext(ctx, sqladapter.Hash(r.Key), []byte(r.Key), sqladapter.NonNil(r.Value), sqladapter.UnixMilli(r.ExpiresAt)); err != nil {
		return q.Fail("set", err)
	}
	return nil
}

// Delete removes the row for key and reports whether it existed.
func (a *Adapter) Delete(ctx context.Context, key string) (bool, error) {
	db, q, err := a.conns.Get()
	if err != nil {
		return false, q.Fail("delete", err)
	}
	st, err := a.stmt(ctx, db, q.del)
	if err != nil {
		return false, q.Fail("delete", err)
	}
	n, err := sqladapter.Affected(st.ExecContext(ctx, sqladapter.Hash(key), []byte(key)))
	if err != nil {
		return false, q.Fail("delete", err)
	}
	return n > 0, nil
}

// DeleteMany removes the rows for keys, in one statement per 500 keys, and
// reports how many existed. An empty list does no I/O.
func (a *Adapter) DeleteMany(ctx context.Context, keys []string) (int64, error) {
	if len(keys) == 0 {
		return 0, nil
	}
	db, q, err := a.conns.Get()
	if err != nil {
		return 0, q.Fail("delete many", err)
	}
	var total int64
	for chunk := range slices.Chunk(unique(keys), maxBatch) {
		sqlText, args := q.inKeys("DELETE FROM "+q.t+" WHERE ", chunk, true)
		n, err := sqladapter.Affected(db.ExecContext(ctx, sqlText, args...))
		if err != nil {
			return total, q.Fail("delete many", err)
		}
		total += n
	}
	return total, nil
}

// Clear removes every row whose key starts with prefix, matched literally
// (LIKE with its wildcards escaped, byte-wise); an empty prefix removes every
// row.
func (a *Adapter) Clear(ctx context.Context, prefix string) error {
	db, q, err := a.conns.Get()
	if err != nil {
		return q.Fail("clear", err)
	}
	if prefix == "" {
		_, err = db.ExecContext(ctx, q.clearAll)
	} else {
		_, err = db.ExecContext(ctx, q.clearPrefix, []byte(database.EscapeLike(prefix, likeEscape)+"%"))
	}
	if err != nil {
		return q.Fail("clear", err)
	}
	return nil
}

// PruneExpiredEntries removes every row whose expires_at is not after the
// adapter's clock (the clock that computed the expiry times, not the
// server's).
func (a *Adapter) PruneExpiredEntries(ctx context.Context) error {
	db, q, err := a.conns.Get()
	if err != nil {
		return q.Fail("prune", err)
	}
	if _, err := db.ExecContext(ctx, q.prune, time.Now().UnixMilli()); err != nil {
		return q.Fail("prune", err)
	}
	return nil
}

// Disconnect closes the DB if the adapter opened it (never [Options.DB]),
// or, for the module, lets go of its share of the DB of its DSN, which
// closes when no adapter holds it any more. Every later call fails with
// [database.ErrDisconnected]. Calling it twice is fine.
func (a *Adapter) Disconnect() error {
	db, owned, l, q := a.conns.Close()
	table := q.Name()
	a.stmtMu.Lock()
	stmts := a.stmts
	a.stmts, a.stmtsClosed = nil, true
	a.stmtMu.Unlock()
	for _, st := range stmts {
		_ = st.Close() // releases the server's statements, on a shared or the user's DB too
	}
	if owned {
		if err := db.Close(); err != nil {
			return fmt.Errorf("mysql: closing the connections of table %q: %w", table, err)
		}
	}
	if l != nil {
		if err := l.Release(); err != nil {
			return fmt.Errorf("mysql: releasing the connections of table %q: %w", table, err)
		}
	}
	return nil
}

// GetMany returns the rows stored under keys, expired or not, in one
// statement per 500 keys.
func (a *Adapter) GetMany(ctx context.Context, keys []string) ([]bento.Row, error) {
	if len(keys) == 0 {
		return nil, nil
	}
	db, q, err := a.conns.Get()
	if err != nil {
		return nil, q.Fail("get many", err)
	}
	out := make([]bento.Row, 0, len(keys))
	for chunk := range slices.Chunk(unique(keys), maxBatch) {
		sqlText, args := q.inKeys("SELECT `key`, `value`, `expires_at` FROM "+q.t+" WHERE ", chunk, false)
		if out, err = sqladapter.QueryRows(ctx, db, out, sqlText, args); err != nil {
			return nil, q.Fail("get many", err)
		}
	}
	return out, nil
}

// SetMany inserts or replaces every row; of two rows with one key, the later
// wins. It sends one multi-row statement per 500 rows or 4 MiB, in the order
// of the primary key, so that concurrent batches lock rows in the same order
// and cannot deadlock each other. It is not atomic: if a statement fails,
// the earlier ones stay applied.
func (a *Adapter) SetMany(ctx context.Context, rows []bento.Row) error {
	if len(rows) == 0 {
		return nil
	}
	db, q, err := a.conns.Get()
	if err != nil {
		return q.Fail("set many", err)
	}
	hs := sqladapter.ByHash(rows)
	for len(hs) > 0 {
		n, size := 0, 0
		for n < len(hs) && n < maxBatch && (n == 0 || size < maxBatchBytes) {
			size += len(hs[n].Row.Key) + len(hs[n].Row.Value)
			n++
		}
		var b strings.Builder
		b.WriteString("INSERT INTO " + q.t + " (`key_hash`, `key`, `value`, `expires_at`) VALUES ")
		args := make([]any, 0, 4*n)
		for i, x := range hs[:n] {
			if i > 0 {
				b.WriteString(", ")
			}
			b.WriteString("(?, ?, ?, ?)")
			args = append(args, x.Hash, []byte(x.Row.Key), sqladapter.NonNil(x.Row.Value), sqladapter.UnixMilli(x.Row.ExpiresAt))
		}
		b.WriteString(upsertTail)
		if _, err := db.ExecContext(ctx, b.String(), args...); err != nil {
			return q.Fail("set many", err)
		}
		hs = hs[n:]
	}
	return nil
}

// Pull deletes the row stored under key and returns it, expired or not, in
// one transaction (SELECT … FOR UPDATE, then DELETE): of two concurrent
// Pulls, one finds the row.
func (a *Adapter) Pull(ctx context.Context, key string) (row bento.Row, found bool, err error) {
	db, q, err := a.conns.Get()
	if err != nil {
		return bento.Row{}, false, q.Fail("pull", err)
	}
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return bento.Row{}, false, q.Fail("pull", err)
	}
	defer func() {
		if err != nil {
			_ = tx.Rollback()
		}
	}()
	var (
		v   []byte
		exp sql.NullInt64
	)
	h := sqladapter.Hash(key)
	err = tx.QueryRowContext(ctx, q.pullSelect, h, []byte(key)).Scan(&v, &exp)
	if errors.Is(err, sql.ErrNoRows) {
		return bento.Row{}, false, q.FailIf("pull", tx.Commit())
	}
	if err != nil {
		return bento.Row{}, false, q.Fail("pull", err)
	}
	if _, err = tx.ExecContext(ctx, q.del, h, []byte(key)); err != nil {
		return bento.Row{}, false, q.Fail("pull", err)
	}
	if err = tx.Commit(); err != nil {
		return bento.Row{}, false, q.Fail("pull", err)
	}
	return sqladapter.ToRow(key, v, exp), true, nil
}

// DeleteExpired removes the row stored under key only if it expired at or
// before now.
func (a *Adapter) DeleteExpired(ctx context.Context, key string, now time.Time) (bool, error) {
	db, q, err := a.conns.Get()
	if err != nil {
		return false, q.Fail("delete expired", err)
	}
	st, err := a.stmt(ctx, db, q.delExpired)
	if err != nil {
		return false, q.Fail("delete expired", err)
	}
	n, err := sqladapter.Affected(st.ExecContext(ctx, sqladapter.Hash(key), []byte(key), now.UnixMilli()))
	if err != nil {
		return false, q.Fail("delete expired", err)
	}
	return n > 0, nil
}

// open returns the DB of the first call: the user's, or one it opens from
// the DSN (owned, closed by Disconnect).
func (a *Adapter) open() (db *sql.DB, owned bool, err error) {
	switch {
	case a.o.DB != nil:
		return a.o.DB, false, nil
	case a.o.DSN == "":
		return nil, false, errors.New("no db and no dsn")
	}
	db, err = openDB(a.o.DSN)
	if err != nil {
		return nil, false, err
	}
	return db, true, nil
}

// openDB returns a DB on dsn. It does not connect.
func openDB(dsn string) (*sql.DB, error) {
	cfg, err := gomysql.ParseDSN(dsn)
	if err != nil {
		return nil, fmt.Errorf("dsn: %w", err)
	}
	c, err := gomysql.NewConnector(cfg)
	if err != nil {
		return nil, fmt.Errorf("dsn: %w", err)
	}
	// OpenDB does not connect: connections are made on demand. Recycling
	// them before the server's wait_timeout spares a failed first query.
	db := sql.OpenDB(c)
	db.SetConnMaxLifetime(3 * time.Minute)
	return db, nil
}

// stmt returns the prepared statement of query on db, preparing it on first
// use. Statements are never prepared again: database/sql prepares them on
// each connection that runs them, new connections after a reconnect
// included.
func (a *Adapter) stmt(ctx context.Context, db *sql.DB, query string) (*sql.Stmt, error) {
	a.stmtMu.Lock()
	st := a.stmts[query]
	a.stmtMu.Unlock()
	if st != nil {
		return st, nil
	}
	st, err := db.PrepareContext(ctx, query)
	if err != nil {
		return nil, err
	}
	a.stmtMu.Lock()
	defer a.stmtMu.Unlock()
	switch old := a.stmts[query]; {
	case a.stmtsClosed:
		_ = st.Close()
		return nil, database.ErrDisconnected
	case old != nil:
		_ = st.Close()
		return old, nil
	}
	if a.stmts == nil {
		a.stmts = make(map[string]*sql.Stmt)
	}
	a.stmts[query] = st
	return st, nil
}

// likeEscape is the LIKE escape character of Clear. Not "\": the meaning of
// a backslash in a string literal depends on NO_BACKSLASH_ESCAPES.
const likeEscape = '!'

// upsertTail turns an INSERT into an upsert. VALUES() is deprecated in
// MySQL 8.0.20 in favour of row aliases, which MariaDB lacks: it works on
// both.
const upsertTail = " ON DUPLICATE KEY UPDATE `key` = VALUES(`key`), `value` = VALUES(`value`), `expires_at` = VALUES(`expires_at`)"

// buildQueries returns the SQL of table, or queries whose every call fails
// if the name is not a plain identifier.
func buildQueries(table string) *queries {
	q := &queries{Table: sqladapter.NewTable("mysql", table)}
	if q.Err() != nil {
		return q
	}
	t := "`" + table + "`"
	q.t = t
	q.createTable = "CREATE TABLE IF NOT EXISTS " + t + " (" +
		"`key_hash` BINARY(32) NOT NULL, " +
		"`key` LONGBLOB NOT NULL, " +
		"`value` LONGBLOB NOT NULL, " +
		"`expires_at` BIGINT NULL, " +
		"PRIMARY KEY (`key_hash`), " +
		"KEY `key_prefix` (`key`(255)), " +
		"KEY `expires_at` (`expires_at`)" +
		") ENGINE=InnoDB"
	where := " WHERE `key_hash` = ? AND `key` = ?"
	q.get = "SELECT `value`, `expires_at` FROM " + t + where
	q.pullSelect = q.get + " FOR UPDATE"
	q.set = "INSERT INTO " + t + " (`key_hash`, `key`, `value`, `expires_at`) VALUES (?, ?, ?, ?)" + upsertTail
	q.del = "DELETE FROM " + t + where
	q.delExpired = q.del + " AND `expires_at` <= ?"
	q.clearPrefix = "DELETE FROM " + t + " WHERE `key` LIKE ? ESCAPE '" + string(likeEscape) + "'"
	q.clearAll = "DELETE FROM " + t
	q.prune = "DELETE FROM " + t + " WHERE `expires_at` <= ?"
	return q
}

// inKeys returns head followed by a condition on the hashes of keys (and on
// the keys themselves when withKeys), and its arguments.
func (q *queries) inKeys(head string, keys []string, withKeys bool) (string, []any) {
	marks := strings.Repeat(", ?", len(keys))[2:]
	var b strings.Builder
	b.WriteString(head + "`key_hash` IN (" + marks + ")")
	args := make([]any, 0, 2*len(keys))
	for _, k := range keys {
		args = append(args, sqladapter.Hash(k))
	}
	if withKeys {
		b.WriteString(" AND `key` IN (" + marks + ")")
		for _, k := range keys {
			args = append(args, []byte(k))
		}
	}
	return b.String(), args
}

// unique returns keys without repeats, in their first order.
func unique(keys []string) []string {
	seen := make(map[string]struct{}, len(keys))
	out := make([]string, 0, len(keys))
	for _, k := range keys {
		if _, ok := seen[k]; !ok {
			seen[k] = struct{}{}
			out = append(out, k)
		}
	}
	return out
}

// Interface guards
var (
	_ bento.DatabaseAdapter   = (*Adapter)(nil)
	_ bento.Validator         = (*Adapter)(nil)
	_ database.BatchAdapter   = (*Adapter)(nil)
	_ database.PullAdapter    = (*Adapter)(nil)
	_ database.ExpiredDeleter = (*Adapter)(nil)

	_ caddy.Provisioner     = (*Adapter)(nil)
	_ caddy.Validator       = (*Adapter)(nil)
	_ caddy.CleanerUpper    = (*Adapter)(nil)
	_ caddyfile.Unmarshaler = (*Adapter)(nil)
)
