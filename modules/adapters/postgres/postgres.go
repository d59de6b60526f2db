// Package postgres is bento's PostgreSQL adapter for the database L2 driver
// (module bento.adapters.postgres), on [github.com/jackc/pgx/v5/pgxpool].
//
// The adapter keeps one row per key in a table of this layout (the table
// name is set by the driver, "bentocache" by default):
//
//	CREATE TABLE IF NOT EXISTS "bentocache" (
//		key_hash   bytea PRIMARY KEY, -- SHA-256 of key
//		key        bytea NOT NULL,    -- the full key, any bytes, any length
//		value      bytea NOT NULL,
//		expires_at timestamptz        -- NULL: never
//	);
//	CREATE INDEX IF NOT EXISTS "bentocache_expires_at_idx" ON "bentocache" (expires_at);
//
// Keys are bytea, not text, because PostgreSQL's text rejects NUL and
// invalid UTF-8, and a cache key may hold any bytes. Rows are found by the
// SHA-256 of the key, not the key itself, because a btree index entry is
// limited to about 2.7 KB: keys of any length work, and every lookup also
// compares the stored key, so a hash collision is a miss, never another
// key's row. expires_at is a timestamptz, to the microsecond.
//
//	l2 := database.New(database.Options{
//		Adapter: postgres.New(postgres.Options{Pool: pool}),
//	})
package postgres

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"

	"github.com/bentocache/bento"
	"github.com/bentocache/bento/internal/sqladapter"
	"github.com/bentocache/bento/modules/drivers/database"
)

func init() { caddy.RegisterModule(new(Adapter)) }

// pools shares the pools that adapter modules open, keyed by the DSN: the
// adapters of several stores with one DSN use one pool, and a config reload
// keeps its connections.
var pools = caddy.NewUsagePool()

// closePool closes p, for the adapters' shared pools.
func closePool(p *pgxpool.Pool) error {
	p.Close()
	return nil
}

// Adapter is a [bento.DatabaseAdapter] on a PostgreSQL pool, with the
// [database.BatchAdapter], [database.PullAdapter] and
// [database.ExpiredDeleter] capabilities. Module ID:
// bento.adapters.postgres, loaded by the "adapter" field of
// bento.drivers.database. It is safe for concurrent use.
type Adapter struct {
	// The PostgreSQL server to use: a URL
	// ("postgres://user:password@host:5432/db?sslmode=disable") or
	// key=value pairs ("host=db dbname=app user=app"). TLS, timeouts, the
	// pool size (pool_max_conns), search_path and application_name go here
	// too. Adapters with the same dsn share one pool of connections, which a
	// config reload keeps. Required.
	DSN string `json:"dsn,omitempty"`

	o Options
	// module is set by Provision: Validate then names the JSON field.
	module bool

	// conns holds the pool (closed by Disconnect only when the adapter
	// opened it) and the queries of the current table.
	conns sqladapter.Conns[*pgxpool.Pool, *queries]
}

// Options configures an [Adapter]; see [New]. Set Pool or DSN.
type Options struct {
	// Pool is a pool you own: the adapter uses it and never closes it.
	Pool *pgxpool.Pool
	// DSN is a connection string ("postgres://user@host:5432/db" or
	// "host=… dbname=…"), used when Pool is nil: the adapter opens a pool on
	// first use and closes it in Disconnect.
	DSN string
}

// queries holds the SQL of one table, built once by SetTableName.
type queries struct {
	// Table names the table and holds its name's problem, if any: every
	// call fails with it.
	sqladapter.Table
	// lockID is the advisory lock that serialises concurrent creations.
	lockID int64

	createTable, createIndex                       string
	get, set, del, delMany, delExpired, pull       string
	clearPrefix, clearAll, prune, getMany, setMany string
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
	return caddy.ModuleInfo{ID: "bento.adapters.postgres", New: func() caddy.Module { return new(Adapter) }}
}

// Provision sets the adapter up from its JSON fields, as [New] does with a
// DSN, and takes the pool of that DSN from the adapters' shared pools,
// opening it if no adapter holds it. It does no network I/O: pgxpool
// connects on demand. An empty or invalid dsn is reported by
// [Adapter.Validate].
func (a *Adapter) Provision(caddy.Context) error {
	a.setup(Options{DSN: a.DSN})
	a.module = true
	if a.Validate() != nil {
		return nil
	}
	err := a.conns.Lease(pools, a.DSN, func() (*pgxpool.Pool, error) {
		// New does not connect: connections are made on demand.
		return pgxpool.New(context.Background(), a.DSN)
	}, closePool)
	if err != nil {
		return fmt.Errorf("postgres: opening pool: %w", err)
	}
	return nil
}

// Validate reports options that cannot work: neither or both of Pool and
// DSN, or a DSN that does not parse; for the module, a missing or invalid
// dsn. It does no network I/O.
func (a *Adapter) Validate() error {
	s := sqladapter.Source{Adapter: "postgres", Client: "pool", HasClient: a.o.Pool != nil, DSN: a.o.DSN, Module: a.module}
	return s.Validate(func(dsn string) error {
		_, err := pgxpool.ParseConfig(dsn)
		return err
	})
}

// Cleanup lets go of the adapter's share of its pool; it is
// [Adapter.Disconnect], and safe after a failed Provision and more than once.
func (a *Adapter) Cleanup() error { return a.Disconnect() }

// UnmarshalCaddyfile sets the adapter up from a Caddyfile block, in the
// "adapter" line of a database driver. The DSN may be given on that line
// instead of in the block:
//
//	postgres [<dsn>] {
//		dsn <dsn>
//	}
func (a *Adapter) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	return sqladapter.UnmarshalCaddyfile(d, "postgres", "dsn", &a.DSN)
}

// SetTableName sets the table used by every other method. A name that is not
// a plain SQL identifier (see [database.ValidateTableName]) makes every later
// call fail.
func (a *Adapter) SetTableName(name string) {
	a.conns.SetQueries(buildQueries(name))
}

// CreateTableIfNotExists creates the table and its index if they are
// missing. It is idempotent and safe to call concurrently, from several
// processes too: a transaction-scoped advisory lock serialises creations of
// one table name.
func (a *Adapter) CreateTableIfNotExists(ctx context.Context) error {
	p, q, err := a.conns.Get()
	if err != nil {
		return q.CreateFailed(err)
	}
	err = pgx.BeginFunc(ctx, p, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, "SELECT pg_advisory_xact_lock($1)", q.lockID); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, q.createTable); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, q.createIndex)
		return err
	})
	if err != nil {
		return q.CreateFailed(err)
	}
	return nil
}

// Get returns the row stored under key, expired or not.
func (a *Adapter) Get(ctx context.Context, key string) (bento.Row, bool, error) {
	p, q, err := a.conns.Get()
	if err != nil {
		return bento.Row{}, false, q.Fail("get", err)
	}
	var (
		value []byte
		exp   pgtype.Timestamptz
	)
	err = p.QueryRow(ctx, q.get, sqladapter.Hash(key), []byte(key)).Scan(&value, &exp)
	if errors.Is(err, pgx.ErrNoRows) {
		return bento.Row{}, false, nil
	}
	if err != nil {
		return bento.Row{}, false, q.Fail("get", err)
	}
	return toRow(key, value, exp), true, nil
}

// Set inserts or replaces the row for row.Key.
func (a *Adapter) Set(ctx context.Context, r bento.Row) error {
	p, q, err := a.conns.Get()
	if err != nil {
		return q.Fail("set", err)
	}
	if _, err := p.Exec(ctx, q.set, sqladapter.Hash(r.Key), []byte(r.Key), sqladapter.NonNil(r.Value), timestamptz(r.ExpiresAt)); err != nil {
		return q.Fail("set", err)
	}
	return nil
}

// Delete removes the row for key and reports whether it existed.
func (a *Adapter) Delete(ctx context.Context, key string) (bool, error) {
	p, q, err := a.conns.Get()
	if err != nil {
		return false, q.Fail("delete", err)
	}
	tag, err := p.Exec(ctx, q.del, sqladapter.Hash(key), []byte(key))
	if err != nil {
		return false, q.Fail("delete", err)
	}
	return tag.RowsAffected() > 0, nil
}

// DeleteMany removes the rows for keys, in one statement, and reports how
// many existed. An empty list does no I/O.
func (a *Adapter) DeleteMany(ctx context.Context, keys []string) (int64, error) {
	if len(keys) == 0 {
		return 0, nil
	}
	p, q, err := a.conns.Get()
	if err != nil {
		return 0, q.Fail("delete many", err)
	}
	hashes, raw := hashes(keys)
	tag, err := p.Exec(ctx, q.delMany, hashes, raw)
	if err != nil {
		return 0, q.Fail("delete many", err)
	}
	return tag.RowsAffected(), nil
}

// Clear removes every row whose key starts with prefix, matched literally
// (LIKE with its wildcards escaped); an empty prefix removes every row.
//
// NOTE: keys are not indexed (rows are found by hash), so Clear scans the
// table.
func (a *Adapter) Clear(ctx context.Context, prefix string) error {
	p, q, err := a.conns.Get()
	if err != nil {
		return q.Fail("clear", err)
	}
	if prefix == "" {
		_, err = p.Exec(ctx, q.clearAll)
	} else {
		_, err = p.Exec(ctx, q.clearPrefix, []byte(database.EscapeLike(prefix, likeEscape)+"%"))
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
	p, q, err := a.conns.Get()
	if err != nil {
		return q.Fail("prune", err)
	}
	if _, err := p.Exec(ctx, q.prune, time.Now()); err != nil {
		return q.Fail("prune", err)
	}
	return nil
}

// Disconnect closes the pool if the adapter opened it (never [Options.Pool]),
// or, for the module, lets go of its share of the pool of its DSN, which
// closes when no adapter holds it any more. Every later call fails with
// [database.ErrDisconnected]. Calling it twice is fine.
func (a *Adapter) Disconnect() error {
	p, owned, l, _ := a.conns.Close()
	if owned {
		p.Close()
	}
	if l != nil {
		if err := l.Release(); err != nil {
			return fmt.Errorf("postgres: releasing the pool: %w", err)
		}
	}
	return nil
}

// GetMany returns the rows stored under keys, expired or not, in one
// statement.
func (a *Adapter) GetMany(ctx context.Context, keys []string) ([]bento.Row, error) {
	if len(keys) == 0 {
		return nil, nil
	}
	p, q, err := a.conns.Get()
	if err != nil {
		return nil, q.Fail("get many", err)
	}
	hashes, _ := hashes(keys)
	rows, err := p.Query(ctx, q.getMany, hashes)
	if err != nil {
		return nil, q.Fail("get many", err)
	}
	var (
		out        = make([]bento.Row, 0, len(keys))
		key, value []byte
		exp        pgtype.Timestamptz
	)
	_, err = pgx.ForEachRow(rows, []any{&key, &value, &exp}, func() error {
		out = append(out, toRow(string(key), value, exp))
		return nil
	})
	if err != nil {
		return nil, q.Fail("get many", err)
	}
	return out, nil
}

// SetMany inserts or replaces every row in one statement; of two rows with
// one key, the later wins. Rows are written in the order of the primary
// key, so that concurrent batches cannot deadlock each other.
func (a *Adapter) SetMany(ctx context.Context, rows []bento.Row) error {
	if len(rows) == 0 {
		return nil
	}
	p, q, err := a.conns.Get()
	if err != nil {
		return q.Fail("set many", err)
	}
	// In primary key order, so that concurrent batches lock rows in the
	// same order and cannot deadlock each other.
	hashed := sqladapter.ByHash(rows)
	var (
		hs   = make([][]byte, len(hashed))
		ks   = make([][]byte, len(hashed))
		vs   = make([][]byte, len(hashed))
		exps = make([]pgtype.Timestamptz, len(hashed))
	)
	for i, x := range hashed {
		hs[i], ks[i], vs[i], exps[i] = x.Hash, []byte(x.Row.Key), sqladapter.NonNil(x.Row.Value), timestamptz(x.Row.ExpiresAt)
	}
	if _, err := p.Exec(ctx, q.setMany, hs, ks, vs, exps); err != nil {
		return q.Fail("set many", err)
	}
	return nil
}

// Pull deletes the row stored under key and returns it, expired or not, in
// one statement (DELETE … RETURNING).
func (a *Adapter) Pull(ctx context.Context, key string) (bento.Row, bool, error) {
	p, q, err := a.conns.Get()
	if err != nil {
		return bento.Row{}, false, q.Fail("pull", err)
	}
	var (
		value []byte
		exp   pgtype.Timestamptz
	)
	err = p.QueryRow(ctx, q.pull, sqladapter.Hash(key), []byte(key)).Scan(&value, &exp)
	if errors.Is(err, pgx.ErrNoRows) {
		return bento.Row{}, false, nil
	}
	if err != nil {
		return bento.Row{}, false, q.Fail("pull", err)
	}
	return toRow(key, value, exp), true, nil
}

// DeleteExpired removes the row stored under key only if it expired at or
// before now.
func (a *Adapter) DeleteExpired(ctx context.Context, key string, now time.Time) (bool, error) {
	p, q, err := a.conns.Get()
	if err != nil {
		return false, q.Fail("delete expired", err)
	}
	tag, err := p.Exec(ctx, q.delExpired, sqladapter.Hash(key), []byte(key), now)
	if err != nil {
		return false, q.Fail("delete expired", err)
	}
	return tag.RowsAffected() > 0, nil
}

// open returns the pool of the first call: the user's, or one it opens
// from the DSN (owned, closed by Disconnect).
func (a *Adapter) open() (p *pgxpool.Pool, owned bool, err error) {
	switch {
	case a.o.Pool != nil:
		return a.o.Pool, false, nil
	case a.o.DSN == "":
		return nil, false, errors.New("no pool and no dsn")
	}
	cfg, err := pgxpool.ParseConfig(a.o.DSN)
	if err != nil {
		return nil, false, fmt.Errorf("dsn: %w", err)
	}
	// NewWithConfig does not connect: connections are made on demand.
	p, err = pgxpool.NewWithConfig(context.Background(), cfg)
	if err != nil {
		return nil, false, fmt.Errorf("opening pool: %w", err)
	}
	return p, true, nil
}

// likeEscape is the LIKE escape character of Clear. Not "\": in a bytea
// literal the backslash is itself an escape, and its meaning depends on
// standard_conforming_strings.
const likeEscape = '!'

// buildQueries returns the SQL of table, or queries whose every call fails
// if the name is not a plain identifier.
func buildQueries(table string) *queries {
	q := &queries{Table: sqladapter.NewTable("postgres", table)}
	if q.Err() != nil {
		return q
	}
	t := pgx.Identifier{table}.Sanitize()
	h := fnv.New64a()
	h.Write([]byte("bento.adapters.postgres:" + table))
	q.lockID = int64(h.Sum64())
	q.createTable = `CREATE TABLE IF NOT EXISTS ` + t + ` (
	key_hash bytea PRIMARY KEY,
	key bytea NOT NULL,
	value bytea NOT NULL,
	expires_at timestamptz
)`
	q.createIndex = `CREATE INDEX IF NOT EXISTS ` + pgx.Identifier{indexName(table)}.Sanitize() + ` ON ` + t + ` (expires_at)`
	q.get = `SELECT value, expires_at FROM ` + t + ` WHERE key_hash = $1 AND key = $2`
	q.set = `INSERT INTO ` + t + ` (key_hash, key, value, expires_at) VALUES ($1, $2, $3, $4)
ON CONFLICT (key_hash) DO UPDATE SET key = EXCLUDED.key, value = EXCLUDED.value, expires_at = EXCLUDED.expires_at`
	q.del = `DELETE FROM ` + t + ` WHERE key_hash = $1 AND key = $2`
	q.delMany = `DELETE FROM ` + t + ` WHERE key_hash = ANY($1) AND key = ANY($2)`
	q.delExpired = `DELETE FROM ` + t + ` WHERE key_hash = $1 AND key = $2 AND expires_at <= $3`
	q.pull = `DELETE FROM ` + t + ` WHERE key_hash = $1 AND key = $2 RETURNING value, expires_at`
	q.clearPrefix = `DELETE FROM ` + t + ` WHERE key LIKE $1::bytea ESCAPE '` + string(likeEscape) + `'::bytea`
	q.clearAll = `DELETE FROM ` + t
	q.prune = `DELETE FROM ` + t + ` WHERE expires_at <= $1`
	q.getMany = `SELECT key, value, expires_at FROM ` + t + ` WHERE key_hash = ANY($1)`
	q.setMany = `INSERT INTO ` + t + ` (key_hash, key, value, expires_at)
SELECT * FROM unnest($1::bytea[], $2::bytea[], $3::bytea[], $4::timestamptz[])
ON CONFLICT (key_hash) DO UPDATE SET key = EXCLUDED.key, value = EXCLUDED.value, expires_at = EXCLUDED.expires_at`
	return q
}

// indexName returns the name of table's expires_at index: table +
// "_expires_at_idx", or, when that would pass PostgreSQL's 63-byte limit (and
// be truncated into another table's index name), a shortened table name and
// a hash of the full one.
func indexName(table string) string {
	const suffix = "_expires_at_idx"
	if len(table)+len(suffix) <= 63 {
		return table + suffix
	}
	h := fnv.New32a()
	h.Write([]byte(table))
	tag := fmt.Sprintf("_%08x", h.Sum32())
	return table[:63-len(suffix)-len(tag)] + tag + suffix
}

// hashes returns the hashes and the bytes of keys.
func hashes(keys []string) (hs, raw [][]byte) {
	hs, raw = make([][]byte, len(keys)), make([][]byte, len(keys))
	for i, k := range keys {
		hs[i], raw[i] = sqladapter.Hash(k), []byte(k)
	}
	return hs, raw
}

// timestamptz returns the expires_at of a row: NULL for the zero time.
func timestamptz(t time.Time) pgtype.Timestamptz {
	return pgtype.Timestamptz{Time: t, Valid: !t.IsZero()}
}

// toRow returns the Row read back from a value and an expires_at.
func toRow(key string, v []byte, exp pgtype.Timestamptz) bento.Row {
	r := bento.Row{Key: key, Value: sqladapter.NonNil(v)}
	if exp.Valid {
		r.ExpiresAt = exp.Time
	}
	return r
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
