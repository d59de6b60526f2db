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
	"bytes"
	"context"
	"crypto/sha256"
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
	"github.com/bentocache/bento/internal/lease"
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

	mu     sync.Mutex // guards the fields below
	q      *queries   // for the current table
	db     *sql.DB
	owned  bool         // Disconnect closes db only when the adapter opened it
	lease  *lease.Lease // set when db is shared through dbs
	closed bool

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

// hashedRow is a row and the hash of its key.
type hashedRow struct {
	h []byte
	r bento.Row
}

// queries holds the SQL of one table, built once by SetTableName.
type queries struct {
	table string
	// invalid is the table name's problem, if any: every call fails with it.
	invalid error
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

// sharedDB is a DB in dbs.
type sharedDB struct{ *sql.DB }

// Destruct closes the DB when its last adapter lets go of it.
func (db sharedDB) Destruct() error { return db.Close() }

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
	a.o, a.q = o, buildQueries(database.DefaultTableName)
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
	db, l, err := lease.Acquire(dbs, a.DSN, func() (sharedDB, error) {
		db, err := openDB(a.DSN)
		return sharedDB{db}, err
	})
	if err != nil {
		return fmt.Errorf("mysql: opening the database: %w", err)
	}
	a.mu.Lock()
	a.db, a.lease = db.DB, l
	a.mu.Unlock()
	return nil
}

// Validate reports options that cannot work: neither or both of DB and DSN,
// or a DSN that does not parse; for the module, a missing or invalid dsn. It
// does no I/O.
func (a *Adapter) Validate() error {
	switch {
	case a.o.DB == nil && a.o.DSN == "" && a.module:
		return errors.New("mysql: dsn is required")
	case a.o.DB == nil && a.o.DSN == "":
		return errors.New("mysql: set db or dsn")
	case a.o.DB != nil && a.o.DSN != "":
		return errors.New("mysql: set db or dsn, not both")
	case a.o.DSN != "":
		if _, err := gomysql.ParseDSN(a.o.DSN); err != nil {
			return fmt.Errorf("mysql: dsn: %w", err)
		}
	}
	return nil
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
	d.Next() // the module name
	if d.NextArg() {
		a.DSN = d.Val()
		if d.NextArg() {
			return d.ArgErr()
		}
	}
	for d.NextBlock(0) {
		switch d.Val() {
		case "dsn":
			if a.DSN != "" {
				return d.Err("dsn is already set")
			}
			if !d.Args(&a.DSN) || d.NextArg() {
				return d.ArgErr()
			}
		default:
			return d.Errf("unknown mysql adapter option %q", d.Val())
		}
	}
	return nil
}

// SetTableName sets the table used by every other method. A name that is not
// a plain SQL identifier (see [database.ValidateTableName]) makes every later
// call fail.
func (a *Adapter) SetTableName(name string) {
	q := buildQueries(name)
	a.mu.Lock()
	a.q = q
	a.mu.Unlock()
}

// CreateTableIfNotExists creates the table and its indexes, in one
// statement, if the table is missing. It is idempotent and safe to call
// concurrently: the server serialises creations of one table.
func (a *Adapter) CreateTableIfNotExists(ctx context.Context) error {
	db, q, err := a.conn()
	if err != nil {
		return q.createFailed(err)
	}
	if _, err := db.ExecContext(ctx, q.createTable); err != nil {
		return q.createFailed(err)
	}
	return nil
}

// Get returns the row stored under key, expired or not.
func (a *Adapter) Get(ctx context.Context, key string) (bento.Row, bool, error) {
	db, q, err := a.conn()
	if err != nil {
		return bento.Row{}, false, q.fail("get", err)
	}
	var (
		v   []byte
		exp sql.NullInt64
	)
	st, err := a.stmt(ctx, db, q.get)
	if err != nil {
		return bento.Row{}, false, q.fail("get", err)
	}
	err = st.QueryRowContext(ctx, hash(key), []byte(key)).Scan(&v, &exp)
	if errors.Is(err, sql.ErrNoRows) {
		return bento.Row{}, false, nil
	}
	if err != nil {
		return bento.Row{}, false, q.fail("get", err)
	}
	return toRow(key, v, exp), true, nil
}

// Set inserts or replaces the row for row.Key.
func (a *Adapter) Set(ctx context.Context, r bento.Row) error {
	db, q, err := a.conn()
	if err != nil {
		return q.fail("set", err)
	}
	st, err := a.stmt(ctx, db, q.set)
	if err != nil {
		return q.fail("set", err)
	}
	if _, err := st.ExecContext(ctx, hash(r.Key), []byte(r.Key), nonNil(r.Value), unixMilli(r.ExpiresAt)); err != nil {
		return q.fail("set", err)
	}
	return nil
}

// Delete removes the row for key and reports whether it existed.
func (a *Adapter) Delete(ctx context.Context, key string) (bool, error) {
	db, q, err := a.conn()
	if err != nil {
		return false, q.fail("delete", err)
	}
	st, err := a.stmt(ctx, db, q.del)
	if err != nil {
		return false, q.fail("delete", err)
	}
	res, err := st.ExecContext(ctx, hash(key), []byte(key))
	if err != nil {
		return false, q.fail("delete", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return false, q.fail("delete", err)
	}
	return n > 0, nil
}

// DeleteMany removes the rows for keys, in one statement per 500 keys, and
// reports how many existed. An empty list does no I/O.
func (a *Adapter) DeleteMany(ctx context.Context, keys []string) (int64, error) {
	if len(keys) == 0 {
		return 0, nil
	}
	db, q, err := a.conn()
	if err != nil {
		return 0, q.fail("delete many", err)
	}
	var total int64
	for chunk := range slices.Chunk(unique(keys), maxBatch) {
		sqlText, args := q.inKeys("DELETE FROM "+q.t+" WHERE ", chunk, true)
		res, err := db.ExecContext(ctx, sqlText, args...)
		if err != nil {
			return total, q.fail("delete many", err)
		}
		n, err := res.RowsAffected()
		if err != nil {
			return total, q.fail("delete many", err)
		}
		total += n
	}
	return total, nil
}

// Clear removes every row whose key starts with prefix, matched literally
// (LIKE with its wildcards escaped, byte-wise); an empty prefix removes every
// row.
func (a *Adapter) Clear(ctx context.Context, prefix string) error {
	db, q, err := a.conn()
	if err != nil {
		return q.fail("clear", err)
	}
	if prefix == "" {
		_, err = db.ExecContext(ctx, q.clearAll)
	} else {
		_, err = db.ExecContext(ctx, q.clearPrefix, []byte(database.EscapeLike(prefix, likeEscape)+"%"))
	}
	if err != nil {
		return q.fail("clear", err)
	}
	return nil
}

// PruneExpiredEntries removes every row whose expires_at is not after the
// adapter's clock (the clock that computed the expiry times, not the
// server's).
func (a *Adapter) PruneExpiredEntries(ctx context.Context) error {
	db, q, err := a.conn()
	if err != nil {
		return q.fail("prune", err)
	}
	if _, err := db.ExecContext(ctx, q.prune, time.Now().UnixMilli()); err != nil {
		return q.fail("prune", err)
	}
	return nil
}

// Disconnect closes the DB if the adapter opened it (never [Options.DB]),
// or, for the module, lets go of its share of the DB of its DSN, which
// closes when no adapter holds it any more. Every later call fails with
// [database.ErrDisconnected]. Calling it twice is fine.
func (a *Adapter) Disconnect() error {
	a.mu.Lock()
	db, owned, l, table := a.db, a.owned, a.lease, a.q.table
	a.closed = true
	a.db, a.owned, a.lease = nil, false, nil
	a.mu.Unlock()
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
	db, q, err := a.conn()
	if err != nil {
		return nil, q.fail("get many", err)
	}
	out := make([]bento.Row, 0, len(keys))
	for chunk := range slices.Chunk(unique(keys), maxBatch) {
		sqlText, args := q.inKeys("SELECT `key`, `value`, `expires_at` FROM "+q.t+" WHERE ", chunk, false)
		if out, err = queryRows(ctx, db, out, sqlText, args); err != nil {
			return nil, q.fail("get many", err)
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
	db, q, err := a.conn()
	if err != nil {
		return q.fail("set many", err)
	}
	rows = lastPerKey(rows)
	hs := make([]hashedRow, len(rows))
	for i, r := range rows {
		hs[i] = hashedRow{hash(r.Key), r}
	}
	slices.SortFunc(hs, func(x, y hashedRow) int { return bytes.Compare(x.h, y.h) })
	for len(hs) > 0 {
		n, size := 0, 0
		for n < len(hs) && n < maxBatch && (n == 0 || size < maxBatchBytes) {
			size += len(hs[n].r.Key) + len(hs[n].r.Value)
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
			args = append(args, x.h, []byte(x.r.Key), nonNil(x.r.Value), unixMilli(x.r.ExpiresAt))
		}
		b.WriteString(upsertTail)
		if _, err := db.ExecContext(ctx, b.String(), args...); err != nil {
			return q.fail("set many", err)
		}
		hs = hs[n:]
	}
	return nil
}

// Pull deletes the row stored under key and returns it, expired or not, in
// one transaction (SELECT … FOR UPDATE, then DELETE): of two concurrent
// Pulls, one finds the row.
func (a *Adapter) Pull(ctx context.Context, key string) (row bento.Row, found bool, err error) {
	db, q, err := a.conn()
	if err != nil {
		return bento.Row{}, false, q.fail("pull", err)
	}
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return bento.Row{}, false, q.fail("pull", err)
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
	h := hash(key)
	err = tx.QueryRowContext(ctx, q.pullSelect, h, []byte(key)).Scan(&v, &exp)
	if errors.Is(err, sql.ErrNoRows) {
		return bento.Row{}, false, q.failIf("pull", tx.Commit())
	}
	if err != nil {
		return bento.Row{}, false, q.fail("pull", err)
	}
	if _, err = tx.ExecContext(ctx, q.del, h, []byte(key)); err != nil {
		return bento.Row{}, false, q.fail("pull", err)
	}
	if err = tx.Commit(); err != nil {
		return bento.Row{}, false, q.fail("pull", err)
	}
	return toRow(key, v, exp), true, nil
}

// DeleteExpired removes the row stored under key only if it expired at or
// before now.
func (a *Adapter) DeleteExpired(ctx context.Context, key string, now time.Time) (bool, error) {
	db, q, err := a.conn()
	if err != nil {
		return false, q.fail("delete expired", err)
	}
	st, err := a.stmt(ctx, db, q.delExpired)
	if err != nil {
		return false, q.fail("delete expired", err)
	}
	res, err := st.ExecContext(ctx, hash(key), []byte(key), now.UnixMilli())
	if err != nil {
		return false, q.fail("delete expired", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return false, q.fail("delete expired", err)
	}
	return n > 0, nil
}

// conn returns the DB, opening it from the DSN on first use, and the queries
// of the current table. q is never nil, so callers can wrap err with it.
func (a *Adapter) conn() (*sql.DB, *queries, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	q := a.q
	switch {
	case q.invalid != nil:
		return nil, q, q.invalid
	case a.closed:
		return nil, q, database.ErrDisconnected
	case a.db != nil:
		return a.db, q, nil
	case a.o.DB != nil:
		a.db = a.o.DB
		return a.db, q, nil
	case a.o.DSN == "":
		return nil, q, errors.New("no db and no dsn")
	}
	db, err := openDB(a.o.DSN)
	if err != nil {
		return nil, q, err
	}
	a.db, a.owned = db, true
	return db, q, nil
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
	q := &queries{table: table}
	if err := database.ValidateTableName(table); err != nil {
		q.invalid = err
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
		args = append(args, hash(k))
	}
	if withKeys {
		b.WriteString(" AND `key` IN (" + marks + ")")
		for _, k := range keys {
			args = append(args, []byte(k))
		}
	}
	return b.String(), args
}

// queryRows appends to out the rows of key, value and expires_at that
// sqlText returns.
func queryRows(ctx context.Context, db *sql.DB, out []bento.Row, sqlText string, args []any) ([]bento.Row, error) {
	rows, err := db.QueryContext(ctx, sqlText, args...)
	if err != nil {
		return out, err
	}
	defer rows.Close()
	for rows.Next() {
		var (
			k, v []byte
			exp  sql.NullInt64
		)
		if err := rows.Scan(&k, &v, &exp); err != nil {
			return out, err
		}
		out = append(out, toRow(string(k), v, exp))
	}
	return out, rows.Err()
}

// createFailed wraps an error of CreateTableIfNotExists.
func (q *queries) createFailed(err error) error {
	return fmt.Errorf("mysql: create table %q: %w", q.table, err)
}

// fail wraps err with the operation and the table.
func (q *queries) fail(op string, err error) error {
	return fmt.Errorf("mysql: %s in table %q: %w", op, q.table, err)
}

// failIf is fail, or nil for a nil err.
func (q *queries) failIf(op string, err error) error {
	if err == nil {
		return nil
	}
	return q.fail(op, err)
}

// hash returns the SHA-256 of key: the primary key of its row.
func hash(key string) []byte {
	h := sha256.Sum256([]byte(key))
	return h[:]
}

// nonNil returns v, or an empty slice for nil: a nil []byte is sent as NULL.
func nonNil(v []byte) []byte {
	if v == nil {
		return []byte{}
	}
	return v
}

// unixMilli returns the expires_at of a row: NULL for the zero time.
func unixMilli(t time.Time) sql.NullInt64 {
	return sql.NullInt64{Int64: t.UnixMilli(), Valid: !t.IsZero()}
}

// toRow returns the Row read back from a value and an expires_at.
func toRow(key string, v []byte, exp sql.NullInt64) bento.Row {
	r := bento.Row{Key: key, Value: nonNil(v)}
	if exp.Valid {
		r.ExpiresAt = time.UnixMilli(exp.Int64)
	}
	return r
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

// lastPerKey returns rows without the earlier rows of a repeated key.
func lastPerKey(rows []bento.Row) []bento.Row {
	last := make(map[string]int, len(rows))
	for i, r := range rows {
		last[r.Key] = i
	}
	if len(last) == len(rows) {
		return rows
	}
	out := make([]bento.Row, 0, len(last))
	for i, r := range rows {
		if last[r.Key] == i {
			out = append(out, r)
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
