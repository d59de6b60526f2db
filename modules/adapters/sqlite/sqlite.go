// Package sqlite is bento's SQLite adapter for the database L2 driver
// (module bento.adapters.sqlite), on database/sql and [modernc.org/sqlite]:
// pure Go, no server, no cgo. It is the embedded default.
//
// The adapter keeps one row per key in a table of this layout (the table
// name is set by the driver, "bentocache" by default):
//
//	CREATE TABLE IF NOT EXISTS "bentocache" (
//		"key"        BLOB NOT NULL PRIMARY KEY, -- the full key, any bytes, any length
//		"value"      BLOB NOT NULL,
//		"expires_at" INTEGER                    -- unix milliseconds; NULL: never
//	);
//	CREATE INDEX IF NOT EXISTS "bentocache_expires_at_idx" ON "bentocache" ("expires_at");
//
// Keys are BLOBs, compared byte by byte: case-sensitive, NUL and invalid
// UTF-8 included. SQLite puts no limit on the size of an index entry, so
// keys of any length are stored as they are. expires_at is an INTEGER of
// unix milliseconds.
//
// SQLite lets one connection write at a time, and a writer that finds the
// database locked fails with SQLITE_BUSY. On a database it opens (from
// [Options.Path]), the adapter therefore writes through a pool of a single
// connection, so that its own writes queue in Go instead of failing, and
// reads through a separate pool: with the file in WAL mode, readers never
// wait for the writer nor the writer for them. Every connection waits up to
// 10s for a lock held by another process or adapter (busy_timeout), and
// every write is a single statement, never an explicit transaction: SQLite
// makes a statement wait for the lock, where a transaction that read before
// it wrote could fail at once. An in-memory database lives in one
// connection, so it gets one pool of one connection for reads and writes.
//
//	l2 := database.New(database.Options{
//		Adapter: sqlite.New(sqlite.Options{Path: "/var/cache/app/bento.db"}),
//	})
package sqlite

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"runtime"
	"slices"
	"strings"
	"time"

	gosqlite "modernc.org/sqlite"
	sqlitelib "modernc.org/sqlite/lib"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"

	"github.com/bentocache/bento"
	"github.com/bentocache/bento/internal/sqladapter"
	"github.com/bentocache/bento/modules/drivers/database"
)

func init() { caddy.RegisterModule(new(Adapter)) }

// files shares the pools that adapter modules open on a database file,
// keyed by the path as written: the adapters of several stores on one file
// write through one connection (so their writes queue instead of failing
// with SQLITE_BUSY), and a config reload keeps the pools. In-memory
// databases are never shared.
var files = caddy.NewUsagePool()

// Adapter is a [bento.DatabaseAdapter] on a SQLite database, with the
// [database.BatchAdapter], [database.PullAdapter] and
// [database.ExpiredDeleter] capabilities. Module ID: bento.adapters.sqlite,
// loaded by the "adapter" field of bento.drivers.database. It is safe for
// concurrent use.
type Adapter struct {
	// The database file, created if missing and put in WAL mode, e.g.
	// "/var/cache/bento/cache.db", or a "file:" URI
	// ("file:cache.db?mode=rwc"); a plain path must not contain "?".
	// Adapters with the same path (as written) share one pair of connection
	// pools, which a config reload keeps. ":memory:" is an in-memory
	// database private to the adapter, never shared, and lost when the
	// adapter is cleaned up, a config reload included. Default: ":memory:".
	Path string `json:"path,omitempty"`

	o Options

	// conns holds the pools of writes and reads (closed by Disconnect only
	// when the adapter opened them) and the queries of the current table.
	conns sqladapter.Conns[sharedFile, *queries]
}

// Options configures an [Adapter]; see [New]. The zero value is valid: a
// private in-memory database.
type Options struct {
	// DB is a database you own, opened with modernc.org/sqlite (driver name
	// "sqlite"): the adapter uses it for reads and writes and never closes
	// it. Give its connections a busy_timeout
	// ("file:bento.db?_pragma=busy_timeout(10000)") and switch the file to
	// WAL once (PRAGMA journal_mode=WAL), or give it one connection
	// (DB.SetMaxOpenConns(1), which ":memory:" needs anyway), or concurrent
	// writes may fail with SQLITE_BUSY.
	DB *sql.DB
	// Path is the database the adapter opens on first use and closes in
	// Disconnect, when DB is nil: a file path ("/var/cache/app/bento.db",
	// created if missing, put in WAL mode), ":memory:", or a "file:" URI
	// ("file:bento.db?mode=rwc"). A plain path must not contain "?"; use a
	// URI for that. Default: ":memory:", a database private to the adapter
	// and lost on Disconnect.
	//
	// NOTE: "file::memory:?cache=shared" works, but SQLite's shared cache
	// locks whole tables and reports conflicts at once (SQLITE_LOCKED, which
	// busy_timeout does not cover): prefer ":memory:" or a file.
	Path string
}

// queries holds the SQL of one table, built once by SetTableName.
type queries struct {
	// Table names the table and holds its name's problem, if any: every
	// call fails with it.
	sqladapter.Table
	// t is the quoted table name.
	t string

	createTable, createIndex, get, set, del, delExpired, pull string
	clearFrom, clearRange, clearAll, prune                    string
	// insert and upsert go around the VALUES of a multi-row upsert.
	insert, upsert string
}

// maxBatch is the number of keys of one batch statement, far below SQLite's
// limit on parameters (32766 since 3.32).
const maxBatch = 500

// The DSN parameters of the pools the adapter opens: see the package doc.
const (
	busyTimeout  = "_pragma=busy_timeout(10000)"
	writerParams = busyTimeout
	fileParams   = "&_pragma=journal_mode(WAL)&_pragma=synchronous(NORMAL)"
	readerParams = busyTimeout + "&_pragma=query_only(1)"
)

// openRetry is how long a connection that found the database locked while
// it was being set up waits before it tries again.
const openRetry = 10 * time.Millisecond

// sharedFile is the pool of writes w and the pool of reads r of an
// adapter, which are the same pool for an in-memory database and for
// Options.DB; in files, the pair of pools of a file.
type sharedFile struct{ w, r *sql.DB }

// close closes the pools of f, once each.
func (f sharedFile) close() error {
	if f.r == f.w {
		return f.w.Close()
	}
	return errors.Join(f.r.Close(), f.w.Close())
}

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
	return caddy.ModuleInfo{ID: "bento.adapters.sqlite", New: func() caddy.Module { return new(Adapter) }}
}

// Provision sets the adapter up from its JSON fields, as [New] does with a
// Path. For a database file it takes the pools of that path from the
// adapters' shared pools, opening them if no adapter holds them; an
// in-memory database is opened, privately, on first use. It does no I/O:
// database/sql opens the file on demand. An invalid path is reported by
// [Adapter.Validate].
func (a *Adapter) Provision(caddy.Context) error {
	a.setup(Options{Path: a.Path})
	if a.Validate() != nil || a.Path == "" || inMemory(a.Path) {
		return nil
	}
	err := a.conns.Lease(files, a.Path, func() (sharedFile, error) {
		w, r := openFile(a.Path)
		return sharedFile{w: w, r: r}, nil
	}, sharedFile.close)
	if err != nil {
		return fmt.Errorf("sqlite: opening the database: %w", err)
	}
	return nil
}

// Validate reports options that cannot work: both DB and Path, or a plain
// path with a "?". It does no I/O.
func (a *Adapter) Validate() error {
	switch {
	case a.o.DB != nil && a.o.Path != "":
		return errors.New("sqlite: set db or path, not both")
	case !strings.HasPrefix(a.o.Path, "file:") && strings.Contains(a.o.Path, "?"):
		return fmt.Errorf("sqlite: path %q contains \"?\": use a file: URI", a.o.Path)
	}
	return nil
}

// Cleanup lets go of the adapter's share of its pools (an in-memory
// database is closed, and lost); it is [Adapter.Disconnect], and safe after
// a failed Provision and more than once.
func (a *Adapter) Cleanup() error { return a.Disconnect() }

// UnmarshalCaddyfile sets the adapter up from a Caddyfile block, in the
// "adapter" line of a database driver. The path may be given on that line
// instead of in the block:
//
//	sqlite [<path>] {
//		path <path>
//	}
func (a *Adapter) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	return sqladapter.UnmarshalCaddyfile(d, "sqlite", "path", &a.Path)
}

// SetTableName sets the table used by every other method. A name that is not
// a plain SQL identifier (see [database.ValidateTableName]) makes every later
// call fail.
func (a *Adapter) SetTableName(name string) {
	a.conns.SetQueries(buildQueries(name))
}

// CreateTableIfNotExists creates the table and its index if they are
// missing. It is idempotent and safe to call concurrently. Each of its two
// statements is its own transaction, which SQLite makes wait for the write
// lock (an explicit deferred transaction could fail at once instead).
func (a *Adapter) CreateTableIfNotExists(ctx context.Context) error {
	w, _, q, err := a.conn()
	if err != nil {
		return q.CreateFailed(err)
	}
	if _, err := w.ExecContext(ctx, q.createTable); err != nil {
		return q.CreateFailed(err)
	}
	if _, err := w.ExecContext(ctx, q.createIndex); err != nil {
		return q.CreateFailed(err)
	}
	return nil
}

// Get returns the row stored under key, expired or not.
func (a *Adapter) Get(ctx context.Context, key string) (bento.Row, bool, error) {
	_, r, q, err := a.conn()
	if err != nil {
		return bento.Row{}, false, q.Fail("get", err)
	}
	var (
		v   []byte
		exp sql.NullInt64
	)
	err = r.QueryRowContext(ctx, q.get, []byte(key)).Scan(&v, &exp)
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
	w, _, q, err := a.conn()
	if err != nil {
		return q.Fail("set", err)
	}
	if _, err := w.ExecContext(ctx, q.set, []byte(r.Key), sqladapter.NonNil(r.Value), sqladapter.UnixMilli(r.ExpiresAt)); err != nil {
		return q.Fail("set", err)
	}
	return nil
}

// Delete removes the row for key and reports whether it existed.
func (a *Adapter) Delete(ctx context.Context, key string) (bool, error) {
	w, _, q, err := a.conn()
	if err != nil {
		return false, q.Fail("delete", err)
	}
	n, err := sqladapter.Affected(w.ExecContext(ctx, q.del, []byte(key)))
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
	w, _, q, err := a.conn()
	if err != nil {
		return 0, q.Fail("delete many", err)
	}
	var total int64
	for chunk := range slices.Chunk(keys, maxBatch) {
		sqlText, args := inKeys(`DELETE FROM `+q.t+` WHERE "key" IN (`, chunk)
		n, err := sqladapter.Affected(w.ExecContext(ctx, sqlText, args...))
		if err != nil {
			return total, q.Fail("delete many", err)
		}
		total += n
	}
	return total, nil
}

// Clear removes every row whose key starts with prefix; an empty prefix
// removes every row. It matches no pattern: it deletes the range of keys
// from prefix (included) to the first key past all those that start with
// prefix (excluded), compared byte by byte, which the primary key's index
// serves.
func (a *Adapter) Clear(ctx context.Context, prefix string) error {
	w, _, q, err := a.conn()
	if err != nil {
		return q.Fail("clear", err)
	}
	switch end, bounded := successor(prefix); {
	case prefix == "":
		_, err = w.ExecContext(ctx, q.clearAll)
	case bounded:
		_, err = w.ExecContext(ctx, q.clearRange, []byte(prefix), end)
	default:
		_, err = w.ExecContext(ctx, q.clearFrom, []byte(prefix))
	}
	if err != nil {
		return q.Fail("clear", err)
	}
	return nil
}

// PruneExpiredEntries removes every row whose expires_at is not after the
// adapter's clock.
func (a *Adapter) PruneExpiredEntries(ctx context.Context) error {
	w, _, q, err := a.conn()
	if err != nil {
		return q.Fail("prune", err)
	}
	if _, err := w.ExecContext(ctx, q.prune, time.Now().UnixMilli()); err != nil {
		return q.Fail("prune", err)
	}
	return nil
}

// Disconnect closes the database if the adapter opened it (never
// [Options.DB]; an in-memory database is then gone), or, for the module on
// a file, lets go of its share of the pools of that file, which close when
// no adapter holds them any more. Every later call fails with
// [database.ErrDisconnected]. Calling it twice is fine.
func (a *Adapter) Disconnect() error {
	f, owned, l, q := a.conns.Close()
	table := q.Name()
	if l != nil {
		if err := l.Release(); err != nil {
			return fmt.Errorf("sqlite: closing the database of table %q: %w", table, err)
		}
	}
	if !owned {
		return nil
	}
	if err := f.close(); err != nil {
		return fmt.Errorf("sqlite: closing the database of table %q: %w", table, err)
	}
	return nil
}

// GetMany returns the rows stored under keys, expired or not, in one
// statement per 500 keys.
func (a *Adapter) GetMany(ctx context.Context, keys []string) ([]bento.Row, error) {
	if len(keys) == 0 {
		return nil, nil
	}
	_, r, q, err := a.conn()
	if err != nil {
		return nil, q.Fail("get many", err)
	}
	out := make([]bento.Row, 0, len(keys))
	for chunk := range slices.Chunk(keys, maxBatch) {
		sqlText, args := inKeys(`SELECT "key", "value", "expires_at" FROM `+q.t+` WHERE "key" IN (`, chunk)
		if out, err = sqladapter.QueryRows(ctx, r, out, sqlText, args); err != nil {
			return nil, q.Fail("get many", err)
		}
	}
	return out, nil
}

// SetMany inserts or replaces every row, with one multi-row upsert per 500
// rows; of two rows with one key, the later wins. Each statement is atomic;
// if one fails, the earlier ones stay applied. No explicit transaction: on a
// DB whose transactions begin deferred, one could fail with SQLITE_BUSY at
// once, where a single statement waits for the lock.
func (a *Adapter) SetMany(ctx context.Context, rows []bento.Row) error {
	if len(rows) == 0 {
		return nil
	}
	w, _, q, err := a.conn()
	if err != nil {
		return q.Fail("set many", err)
	}
	for chunk := range slices.Chunk(rows, maxBatch) {
		args := make([]any, 0, 3*len(chunk))
		for _, r := range chunk {
			args = append(args, []byte(r.Key), sqladapter.NonNil(r.Value), sqladapter.UnixMilli(r.ExpiresAt))
		}
		sqlText := q.insert + strings.Repeat(", (?, ?, ?)", len(chunk))[2:] + q.upsert
		if _, err := w.ExecContext(ctx, sqlText, args...); err != nil {
			return q.Fail("set many", err)
		}
	}
	return nil
}

// Pull deletes the row stored under key and returns it, expired or not, in
// one statement (DELETE … RETURNING).
func (a *Adapter) Pull(ctx context.Context, key string) (bento.Row, bool, error) {
	w, _, q, err := a.conn()
	if err != nil {
		return bento.Row{}, false, q.Fail("pull", err)
	}
	var (
		v   []byte
		exp sql.NullInt64
	)
	err = w.QueryRowContext(ctx, q.pull, []byte(key)).Scan(&v, &exp)
	if errors.Is(err, sql.ErrNoRows) {
		return bento.Row{}, false, nil
	}
	if err != nil {
		return bento.Row{}, false, q.Fail("pull", err)
	}
	return sqladapter.ToRow(key, v, exp), true, nil
}

// DeleteExpired removes the row stored under key only if it expired at or
// before now.
func (a *Adapter) DeleteExpired(ctx context.Context, key string, now time.Time) (bool, error) {
	w, _, q, err := a.conn()
	if err != nil {
		return false, q.Fail("delete expired", err)
	}
	n, err := sqladapter.Affected(w.ExecContext(ctx, q.delExpired, []byte(key), now.UnixMilli()))
	if err != nil {
		return false, q.Fail("delete expired", err)
	}
	return n > 0, nil
}

// conn returns the pools of writes and reads, opening them from the path on
// first use, and the queries of the current table. q is never nil, so
// callers can wrap err with it.
func (a *Adapter) conn() (w, r *sql.DB, q *queries, err error) {
	f, q, err := a.conns.Get()
	return f.w, f.r, q, err
}

// open returns the pools of the first call: the user's DB for both, or
// pools it opens from the path (owned, closed by Disconnect).
func (a *Adapter) open() (f sharedFile, owned bool, err error) {
	if a.o.DB != nil {
		return sharedFile{w: a.o.DB, r: a.o.DB}, false, nil
	}
	// sql.OpenDB does not connect: connections are made on demand.
	path := a.o.Path
	if path == "" {
		path = ":memory:"
	}
	if inMemory(path) {
		w := openPool(path, writerParams, 1)
		return sharedFile{w: w, r: w}, true, nil
	}
	w, r := openFile(path)
	return sharedFile{w: w, r: r}, true, nil
}

// openFile returns the pools of writes and reads of the database file at
// path. It does no I/O.
func openFile(path string) (w, r *sql.DB) {
	w = openPool(path, writerParams+fileParams, 1)
	r = openPool(path, readerParams, max(4, runtime.GOMAXPROCS(0)))
	return w, r
}

// openPool returns a pool of at most conns connections on path with the
// DSN parameters params. Its connections are never closed for being idle or
// old: an in-memory database would be lost with its connection.
func openPool(path, params string, conns int) *sql.DB {
	sep := "?"
	if strings.HasPrefix(path, "file:") && strings.Contains(path, "?") {
		sep = "&"
	}
	db := sql.OpenDB(connector{dsn: path + sep + params})
	db.SetMaxOpenConns(conns)
	db.SetMaxIdleConns(conns)
	db.SetConnMaxIdleTime(0)
	db.SetConnMaxLifetime(0)
	return db
}

// connector opens connections to one DSN. Switching a database to WAL
// fails with SQLITE_BUSY, without waiting for busy_timeout, when another
// connection opens the new file at the same moment: connector tries again
// until the context of the call that needs the connection ends.
type connector struct{ dsn string }

// Connect opens a connection, retrying while the database is locked.
func (c connector) Connect(ctx context.Context) (driver.Conn, error) {
	for {
		conn, err := c.Driver().Open(c.dsn)
		var se *gosqlite.Error
		if err == nil || !errors.As(err, &se) || se.Code()&0xff != sqlitelib.SQLITE_BUSY {
			return conn, err
		}
		select {
		case <-ctx.Done():
			return nil, err
		case <-time.After(openRetry):
		}
	}
}

// Driver returns modernc.org/sqlite's driver.
func (connector) Driver() driver.Driver { return &gosqlite.Driver{} }

// inMemory reports whether path names an in-memory database.
func inMemory(path string) bool {
	return path == ":memory:" || strings.HasPrefix(path, "file::memory:") || strings.Contains(path, "mode=memory")
}

// buildQueries returns the SQL of table, or queries whose every call fails
// if the name is not a plain identifier.
func buildQueries(table string) *queries {
	q := &queries{Table: sqladapter.NewTable("sqlite", table)}
	if q.Err() != nil {
		return q
	}
	t := `"` + table + `"`
	q.t = t
	q.createTable = `CREATE TABLE IF NOT EXISTS ` + t + ` ("key" BLOB NOT NULL PRIMARY KEY, "value" BLOB NOT NULL, "expires_at" INTEGER)`
	q.createIndex = `CREATE INDEX IF NOT EXISTS "` + table + `_expires_at_idx" ON ` + t + ` ("expires_at")`
	q.get = `SELECT "value", "expires_at" FROM ` + t + ` WHERE "key" = ?`
	q.insert = `INSERT INTO ` + t + ` ("key", "value", "expires_at") VALUES `
	q.upsert = ` ON CONFLICT ("key") DO UPDATE SET "value" = excluded."value", "expires_at" = excluded."expires_at"`
	q.set = q.insert + `(?, ?, ?)` + q.upsert
	q.del = `DELETE FROM ` + t + ` WHERE "key" = ?`
	q.delExpired = q.del + ` AND "expires_at" <= ?`
	q.pull = q.del + ` RETURNING "value", "expires_at"`
	q.clearFrom = `DELETE FROM ` + t + ` WHERE "key" >= ?`
	q.clearRange = q.clearFrom + ` AND "key" < ?`
	q.clearAll = `DELETE FROM ` + t
	q.prune = `DELETE FROM ` + t + ` WHERE "expires_at" <= ?`
	return q
}

// successor returns the smallest byte string greater than every string that
// starts with prefix, and false if there is none (prefix is empty or all
// 0xFF bytes): prefix with its last byte below 0xFF incremented and what
// follows it dropped.
func successor(prefix string) ([]byte, bool) {
	b := []byte(prefix)
	for i := len(b) - 1; i >= 0; i-- {
		if b[i] < 0xFF {
			b[i]++
			return b[:i+1], true
		}
	}
	return nil, false
}

// inKeys returns head followed by a placeholder per key and ")", and the
// keys as arguments.
func inKeys(head string, keys []string) (string, []any) {
	args := make([]any, len(keys))
	for i, k := range keys {
		args[i] = []byte(k)
	}
	return head + strings.Repeat(", ?", len(keys))[2:] + ")", args
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
