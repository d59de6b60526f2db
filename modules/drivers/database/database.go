// Package database is bento's L2 driver over a SQL database (module
// bento.drivers.database). The SQL itself is the job of a
// [bento.DatabaseAdapter]: bento ships adapters for PostgreSQL (pgx), MySQL
// and MariaDB (go-sql-driver/mysql) and SQLite (modernc.org/sqlite) under
// modules/adapters, as the modules bento.adapters.postgres, .mysql and
// .sqlite, which the driver's "adapter" field loads.
//
// A [Driver] keeps one row per key in one table, keys laid out as
// "prefix:namespace:key" like in every bento driver. The table is created on
// first use, not by [New]. An expired row is a miss: the read that finds it
// deletes it, and [Driver.Prune], or a background pass every
// [Options.PruneInterval], deletes the ones nobody reads. The adapter's
// optional [BatchAdapter], [PullAdapter] and [ExpiredDeleter] capabilities
// make batch reads and writes, Pull and lazy deletes cheaper or atomic.
//
//	l2 := database.New(database.Options{
//		Adapter:       postgres.New(postgres.Options{Pool: pool}),
//		Prefix:        "app",
//		PruneInterval: time.Minute,
//	})
//	if err := l2.Validate(); err != nil {
//		return err
//	}
//	defer l2.Disconnect()
package database

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"

	"github.com/bentocache/bento"
	"github.com/bentocache/bento/internal/keys"
)

func init() { caddy.RegisterModule(Driver{}) }

// Driver is a [bento.L2Driver] that stores entries as rows of a SQL table
// through a [bento.DatabaseAdapter]. Module ID: bento.drivers.database; it
// serves the L2 layer only, and loads its adapter as a sub-module of the
// namespace bento.adapters.
//
// A Driver returned by [New] and the views returned by [Driver.Namespace]
// share the adapter, the table and the lifecycle: Disconnect on any of them
// disconnects all. A Driver is safe for concurrent use.
type Driver struct {
	// The database adapter that runs the SQL, named by "adapter" (module
	// bento.adapters.<adapter>) with its own options, e.g. {"adapter":
	// "postgres", "dsn": "postgres://app@db:5432/app"} or {"adapter":
	// "sqlite", "path": "/var/cache/bento/cache.db"}. Required.
	AdapterRaw json.RawMessage `json:"adapter,omitempty" caddy:"namespace=bento.adapters inline_key=adapter"`
	// Adapter is the adapter that Provision loaded from AdapterRaw.
	Adapter bento.DatabaseAdapter `json:"-"`
	// The table that holds the entries: a letter or _, then letters, digits
	// or _, 63 bytes at most. Default: "bentocache".
	TableName string `json:"table_name,omitempty"`
	// Put before every key, as "prefix:namespace:key". Default: none (the
	// store's own prefix still applies).
	Prefix string `json:"prefix,omitempty"`
	// How often the expired rows of the whole table are deleted in the
	// background, e.g. "10m". Default: never; a read still deletes the
	// expired rows it finds.
	PruneInterval caddy.Duration `json:"prune_interval,omitempty"`
	// Never create the table: you create it, with the layout of your
	// adapter. Default: false, the table (and its indexes) is created on
	// first use if it is missing.
	SkipCreateTable bool `json:"skip_create_table,omitempty"`

	s *store
	// prefix is "prefix:namespace…" as built by keys.Join; "" for none.
	prefix string
}

// Options configures a [Driver]; see [New]. Only Adapter is required.
type Options struct {
	// Adapter runs the SQL: postgres.New, mysql.New, sqlite.New or your own
	// [bento.DatabaseAdapter]. The driver sets its table name, and
	// [Driver.Disconnect] disconnects it (the adapter closes only what it
	// opened). Use one adapter per driver. Required.
	Adapter bento.DatabaseAdapter
	// TableName is the table that holds the entries. It must be a plain SQL
	// identifier (a letter or _, then letters, digits or _, 63 bytes at
	// most), checked by [Driver.Validate]. Default: "bentocache".
	TableName string
	// Prefix is put before every key, as "prefix:namespace:key". Default:
	// none, and then [Driver.Clear] on the root removes every row of the
	// table.
	Prefix string
	// PruneInterval is how often a background goroutine deletes the expired
	// rows of the whole table. It starts on the driver's first successful
	// use and stops on [Driver.Disconnect]. Zero means no background
	// pruning ([Driver.Prune] still works, and reads delete the expired rows
	// they find); negative values are reported by [Driver.Validate].
	PruneInterval time.Duration
	// SkipCreateTable, when true, leaves the table to you: the driver never
	// calls CreateTableIfNotExists. BentoCache's autoCreateTable: false.
	// Default: false, the table is created on first use if it is missing.
	SkipCreateTable bool
	// Logger receives the errors of background pruning and of lazy deletes,
	// which no caller can be handed. Default: none.
	Logger *zap.Logger
}

// store is the state shared by a Driver and its namespace views.
type store struct {
	adapter bento.DatabaseAdapter
	batch   BatchAdapter   // nil when the adapter lacks it
	puller  PullAdapter    // nil when the adapter lacks it
	expirer ExpiredDeleter // nil when the adapter lacks it
	table   string
	o       Options
	logger  *zap.Logger
	// problems are what Validate reports, unprefixed; calls fail with them.
	problems []error

	// sem serialises table creation; a waiter honours its own ctx.
	sem     chan struct{}
	created atomic.Bool // the table exists (or SkipCreateTable)

	// ctx is the driver's own context, for background pruning; cancel
	// ends it on Disconnect.
	ctx    context.Context
	cancel context.CancelFunc
	mu     sync.Mutex // guards closed and wg.Add
	closed bool
	wg     sync.WaitGroup
}

// New returns a Driver configured by o. It does no I/O and never fails:
// invalid options are reported by [Driver.Validate] and by every call. It
// sets the adapter's table name; the table is created on first use.
func New(o Options) *Driver {
	return &Driver{s: newStore(o), prefix: o.Prefix}
}

// newStore builds the state that o describes: the one way in that New and
// Provision share.
func newStore(o Options) *store {
	s := &store{
		adapter: o.Adapter,
		table:   o.TableName,
		o:       o,
		logger:  o.Logger,
		sem:     make(chan struct{}, 1),
	}
	if s.table == "" {
		s.table = DefaultTableName
	}
	if s.logger == nil {
		s.logger = zap.NewNop()
	}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	if o.Adapter == nil {
		s.problems = append(s.problems, errors.New("adapter is required"))
	}
	if err := ValidateTableName(s.table); err != nil {
		s.problems = append(s.problems, fmt.Errorf("table_name: %w", err))
	}
	if o.PruneInterval < 0 {
		s.problems = append(s.problems, fmt.Errorf("prune_interval must not be negative, got %v", o.PruneInterval))
	}
	if len(s.problems) == 0 {
		o.Adapter.SetTableName(s.table)
		s.batch, _ = o.Adapter.(BatchAdapter)
		s.puller, _ = o.Adapter.(PullAdapter)
		s.expirer, _ = o.Adapter.(ExpiredDeleter)
	}
	return s
}

// CaddyModule returns the Caddy module information.
func (Driver) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{ID: "bento.drivers.database", New: func() caddy.Module { return new(Driver) }}
}

// Provision loads the adapter module named in the "adapter" field, then
// builds the driver from its JSON fields as [New] does. Neither the driver
// nor the bento adapters do network I/O here: the adapters open their
// connections lazily (and share them across config reloads), and the table
// is created on first use. Inside a Caddy server, failed background prunes
// and lazy deletes are logged to the module's logger.
func (dr *Driver) Provision(ctx caddy.Context) error {
	if err := checkAdapterRaw(dr.AdapterRaw); err != nil {
		return err
	}
	v, err := ctx.LoadModule(dr, "AdapterRaw")
	if err != nil {
		return fmt.Errorf("database: adapter: %w", err)
	}
	a, ok := v.(bento.DatabaseAdapter)
	if !ok {
		return fmt.Errorf("database: adapter: module %q is not a bento.DatabaseAdapter", caddy.GetModuleID(v))
	}
	dr.Adapter = a
	o := Options{
		Adapter:         a,
		TableName:       dr.TableName,
		Prefix:          dr.Prefix,
		PruneInterval:   time.Duration(dr.PruneInterval),
		SkipCreateTable: dr.SkipCreateTable,
	}
	o.Logger = bento.ModuleLogger(ctx)
	dr.s, dr.prefix = newStore(o), o.Prefix
	return nil
}

// Validate reports options that cannot work: a missing adapter, a table name
// that is not a plain SQL identifier (so that no table name can inject SQL),
// a negative prune interval. It reports every problem found, joined, and
// does no I/O. An adapter that implements [bento.Validator] is validated too.
func (dr *Driver) Validate() error {
	errs := make([]error, 0, len(dr.s.problems)+1)
	for _, p := range dr.s.problems {
		errs = append(errs, fmt.Errorf("database: %w", p))
	}
	if v, ok := dr.s.adapter.(bento.Validator); ok {
		if err := v.Validate(); err != nil {
			errs = append(errs, fmt.Errorf("database: adapter: %w", err))
		}
	}
	return errors.Join(errs...)
}

// Cleanup stops background pruning and disconnects the adapter, as
// [Driver.Disconnect] does; it is safe after a failed Provision and more
// than once.
func (dr *Driver) Cleanup() error {
	if dr.s == nil {
		return nil
	}
	return dr.Disconnect()
}

// Namespace returns a view of the same table whose keys are under
// "<prefix>:<namespace>" (just "<namespace>" on an unprefixed driver). Views
// nest and share the driver's adapter and lifecycle.
func (dr *Driver) Namespace(namespace string) bento.L2Driver {
	return &Driver{s: dr.s, prefix: keys.Join(dr.prefix, namespace)}
}

// Get returns the bytes stored under key, if they have not expired. A row
// found expired is deleted (lazily) and reported missing.
func (dr *Driver) Get(ctx context.Context, key string) (value []byte, found bool, err error) {
	full := dr.key(key)
	if err := dr.s.ready(ctx); err != nil {
		return nil, false, opError("get", full, err)
	}
	row, found, err := dr.s.adapter.Get(ctx, full)
	if err != nil {
		return nil, false, opError("get", full, err)
	}
	if !found || dr.s.dropIfExpired(ctx, row, time.Now()) {
		return nil, false, nil
	}
	return nonNil(row.Value), true, nil
}

// Pull returns the bytes stored under key and deletes them. With a
// [PullAdapter] it is atomic; otherwise, of two concurrent Pulls of one key,
// at most one finds it.
func (dr *Driver) Pull(ctx context.Context, key string) (value []byte, found bool, err error) {
	full := dr.key(key)
	if err := dr.s.ready(ctx); err != nil {
		return nil, false, opError("pull", full, err)
	}
	var row bento.Row
	if dr.s.puller != nil {
		row, found, err = dr.s.puller.Pull(ctx, full)
		if err != nil {
			return nil, false, opError("pull", full, err)
		}
	} else {
		row, found, err = dr.s.adapter.Get(ctx, full)
		if err != nil {
			return nil, false, opError("pull", full, err)
		}
		if found {
			found, err = dr.s.adapter.Delete(ctx, full)
			if err != nil {
				return nil, false, opError("pull", full, err)
			}
		}
	}
	if !found || expired(row, time.Now()) {
		return nil, false, nil
	}
	return nonNil(row.Value), true, nil
}

// Set stores value under key, replacing any row it had. A ttl <= 0 means no
// expiry.
func (dr *Driver) Set(ctx context.Context, key string, value []byte, ttl time.Duration) error {
	full := dr.key(key)
	if err := dr.s.ready(ctx); err != nil {
		return opError("set", full, err)
	}
	if err := dr.s.adapter.Set(ctx, newRow(full, value, expiresAt(ttl))); err != nil {
		return opError("set", full, err)
	}
	return nil
}

// Ping tells whether the database answers: it creates the table if it is
// missing and reads one row. A store calls it once when it starts.
func (dr *Driver) Ping(ctx context.Context) error {
	full := dr.key("__bento:ping")
	if err := dr.s.ready(ctx); err != nil {
		return opError("ping", full, err)
	}
	if _, _, err := dr.s.adapter.Get(ctx, full); err != nil {
		return opError("ping", full, err)
	}
	return nil
}

// Has reports whether key holds a value that has not expired. Like Get, it
// deletes a row that it finds expired.
func (dr *Driver) Has(ctx context.Context, key string) (bool, error) {
	full := dr.key(key)
	if err := dr.s.ready(ctx); err != nil {
		return false, opError("has", full, err)
	}
	row, found, err := dr.s.adapter.Get(ctx, full)
	if err != nil {
		return false, opError("has", full, err)
	}
	return found && !dr.s.dropIfExpired(ctx, row, time.Now()), nil
}

// Clear removes every row under this driver's prefix and namespace:
// "app:users:*" for Namespace("users") of a driver with prefix "app", never
// "app:usersX:*". On a driver with an empty prefix it removes every row of
// the table. The adapter matches the prefix literally.
func (dr *Driver) Clear(ctx context.Context) error {
	prefix := keys.ClearPrefix(dr.prefix)
	if err := dr.s.ready(ctx); err != nil {
		return fmt.Errorf("database: clear %s: %w", quoteKey(prefix), err)
	}
	if err := dr.s.adapter.Clear(ctx, prefix); err != nil {
		return fmt.Errorf("database: clear %s: %w", quoteKey(prefix), err)
	}
	return nil
}

// Delete removes key and reports whether a row existed for it.
//
// NOTE: an expired row that no read or prune has removed yet still counts
// as existing.
func (dr *Driver) Delete(ctx context.Context, key string) (deleted bool, err error) {
	full := dr.key(key)
	if err := dr.s.ready(ctx); err != nil {
		return false, opError("delete", full, err)
	}
	deleted, err = dr.s.adapter.Delete(ctx, full)
	if err != nil {
		return false, opError("delete", full, err)
	}
	return deleted, nil
}

// DeleteMany removes keys, in one adapter call, and reports whether a row
// existed for any of them (expired rows not yet removed count, as for
// [Driver.Delete]). An empty list is fine and does no I/O.
func (dr *Driver) DeleteMany(ctx context.Context, keys []string) (deletedAny bool, err error) {
	if len(keys) == 0 {
		return false, nil
	}
	if err := dr.s.ready(ctx); err != nil {
		return false, fmt.Errorf("database: delete %d keys: %w", len(keys), err)
	}
	n, err := dr.s.adapter.DeleteMany(ctx, dr.keys(keys))
	if err != nil {
		return false, fmt.Errorf("database: delete %d keys: %w", len(keys), err)
	}
	return n > 0, nil
}

// Disconnect stops background pruning, waits for it to exit, and
// disconnects the adapter, which closes only what it opened (never a pool or
// DB the user handed to it). It acts once for the driver and all its views;
// calling it again does nothing and returns nil.
func (dr *Driver) Disconnect() error {
	s := dr.s
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	s.mu.Unlock()
	s.cancel()
	s.wg.Wait()
	if s.adapter == nil {
		return nil
	}
	if err := s.adapter.Disconnect(); err != nil {
		return fmt.Errorf("database: disconnecting adapter: %w", err)
	}
	return nil
}

// GetMany returns the bytes stored under each key, in order, nil where
// missing or expired. With a [BatchAdapter] it is one adapter call (plus a
// delete per expired row found); otherwise one Get per key.
func (dr *Driver) GetMany(ctx context.Context, keys []string) (values [][]byte, err error) {
	values = make([][]byte, len(keys))
	if len(keys) == 0 {
		return values, nil
	}
	if dr.s.batch == nil {
		for i, k := range keys {
			if values[i], _, err = dr.Get(ctx, k); err != nil {
				return nil, err
			}
		}
		return values, nil
	}
	if err := dr.s.ready(ctx); err != nil {
		return nil, fmt.Errorf("database: get %d keys: %w", len(keys), err)
	}
	full := dr.keys(keys)
	rows, err := dr.s.batch.GetMany(ctx, full)
	if err != nil {
		return nil, fmt.Errorf("database: get %d keys: %w", len(keys), err)
	}
	byKey := make(map[string][]byte, len(rows))
	now := time.Now()
	for _, r := range rows {
		if _, seen := byKey[r.Key]; seen {
			continue
		}
		if dr.s.dropIfExpired(ctx, r, now) {
			byKey[r.Key] = nil
			continue
		}
		byKey[r.Key] = nonNil(r.Value)
	}
	for i, k := range full {
		values[i] = byKey[k]
	}
	return values, nil
}

// SetMany stores every entry with the same ttl (<= 0: no expiry). With a
// [BatchAdapter] it is one adapter call; otherwise one Set per entry.
func (dr *Driver) SetMany(ctx context.Context, entries []bento.KeyValue, ttl time.Duration) error {
	if len(entries) == 0 {
		return nil
	}
	if dr.s.batch == nil {
		for _, kv := range entries {
			if err := dr.Set(ctx, kv.Key, kv.Value, ttl); err != nil {
				return err
			}
		}
		return nil
	}
	if err := dr.s.ready(ctx); err != nil {
		return fmt.Errorf("database: set %d keys: %w", len(entries), err)
	}
	exp := expiresAt(ttl)
	rows := make([]bento.Row, len(entries))
	for i, kv := range entries {
		rows[i] = newRow(dr.key(kv.Key), kv.Value, exp)
	}
	if err := dr.s.batch.SetMany(ctx, rows); err != nil {
		return fmt.Errorf("database: set %d keys: %w", len(entries), err)
	}
	return nil
}

// Prune deletes every expired row of the table, under every prefix and
// namespace, now.
func (dr *Driver) Prune(ctx context.Context) error {
	if err := dr.s.ready(ctx); err != nil {
		return fmt.Errorf("database: prune: %w", err)
	}
	if err := dr.s.adapter.PruneExpiredEntries(ctx); err != nil {
		return fmt.Errorf("database: prune: %w", err)
	}
	return nil
}

// key returns the full key of key.
func (dr *Driver) key(key string) string {
	return keys.Join(dr.prefix, key)
}

// keys returns the full keys of ks.
func (dr *Driver) keys(ks []string) []string {
	full := make([]string, len(ks))
	for i, k := range ks {
		full[i] = dr.key(k)
	}
	return full
}

// ready makes sure the table exists, creating it on the first call (and
// again after a failed one: a failure is not remembered) unless
// SkipCreateTable. Concurrent first callers wait for one creation, each for
// as long as its ctx allows. The first success starts background pruning.
func (s *store) ready(ctx context.Context) error {
	if len(s.problems) > 0 {
		return fmt.Errorf("invalid options: %w", errors.Join(s.problems...))
	}
	if s.created.Load() {
		return nil
	}
	select {
	case s.sem <- struct{}{}:
	case <-ctx.Done():
		return fmt.Errorf("creating table %q: %w", s.table, ctx.Err())
	}
	defer func() { <-s.sem }()
	if s.created.Load() {
		return nil
	}
	if !s.o.SkipCreateTable {
		if err := s.adapter.CreateTableIfNotExists(ctx); err != nil {
			return fmt.Errorf("creating table %q: %w", s.table, err)
		}
	}
	s.created.Store(true)
	s.startPruning()
	return nil
}

// startPruning starts the background pruning goroutine, unless pruning is
// off or the driver is disconnected. It runs at most once: ready calls it on
// the one transition of created to true.
func (s *store) startPruning() {
	if s.o.PruneInterval <= 0 {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return
	}
	s.wg.Add(1)
	go s.pruneLoop()
}

// pruneLoop prunes the table every PruneInterval until Disconnect. It uses
// the driver's own context, never a caller's.
func (s *store) pruneLoop() {
	defer s.wg.Done()
	tick := time.NewTicker(s.o.PruneInterval)
	defer tick.Stop()
	for {
		select {
		case <-s.ctx.Done():
			return
		case <-tick.C:
		}
		if err := s.adapter.PruneExpiredEntries(s.ctx); err != nil && s.ctx.Err() == nil {
			s.logger.Error("database: background prune failed", zap.String("table", s.table), zap.Error(err))
		}
	}
}

// dropIfExpired reports whether row has expired at now and, if so, deletes
// it: conditionally with an [ExpiredDeleter], so that a fresh row written
// meanwhile survives. A failed delete is logged: the row is a miss either
// way, and a later read or prune removes it.
func (s *store) dropIfExpired(ctx context.Context, row bento.Row, now time.Time) bool {
	if !expired(row, now) {
		return false
	}
	var err error
	if s.expirer != nil {
		_, err = s.expirer.DeleteExpired(ctx, row.Key, now)
	} else {
		_, err = s.adapter.Delete(ctx, row.Key)
	}
	if err != nil {
		s.logger.Warn("database: deleting an expired row failed", zap.String("table", s.table), zap.String("key", row.Key), zap.Error(err))
	}
	return true
}

// expired reports whether row has expired at now.
func expired(row bento.Row, now time.Time) bool {
	return !row.ExpiresAt.IsZero() && !now.Before(row.ExpiresAt)
}

// expiresAt returns the expiry of an entry set now for ttl; zero (never)
// for ttl <= 0.
func expiresAt(ttl time.Duration) time.Time {
	if ttl <= 0 {
		return time.Time{}
	}
	return time.Now().Add(ttl).Round(0)
}

// newRow returns the row of key; a nil value is stored as an empty one.
func newRow(key string, value []byte, exp time.Time) bento.Row {
	return bento.Row{Key: key, Value: nonNil(value), ExpiresAt: exp}
}

// nonNil returns b, or an empty non-nil slice for nil: a stored value is
// never nil, even when empty.
func nonNil(b []byte) []byte {
	if b == nil {
		return []byte{}
	}
	return b
}

// maxQuoted is the length past which quoteKey abridges a key.
const maxQuoted = 64

// quoteKey formats a key for an error message: quoted, and abridged when
// long, so that a 10 KiB key does not make a 10 KiB message.
func quoteKey(key string) string {
	if len(key) > maxQuoted {
		return fmt.Sprintf("%q…(%d bytes)", key[:maxQuoted], len(key))
	}
	return fmt.Sprintf("%q", key)
}

// opError wraps err with the operation and the full key.
func opError(op, key string, err error) error {
	return fmt.Errorf("database: %s %s: %w", op, quoteKey(key), err)
}

// adapterExample is the "adapter" field that errors show.
const adapterExample = `"adapter": {"adapter": "sqlite", "path": "/var/cache/bento/cache.db"}`

// checkAdapterRaw reports what keeps the "adapter" field from naming an
// adapter module that is compiled in, before caddy loads it (whose own
// errors would print the whole object, a DSN's password included).
func checkAdapterRaw(raw json.RawMessage) error {
	if len(raw) == 0 || string(raw) == "null" {
		return fmt.Errorf("database: adapter is required, e.g. %s (postgres and mysql take a \"dsn\")", adapterExample)
	}
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(raw, &fields); err != nil {
		return fmt.Errorf("database: adapter: want an object such as {\"adapter\": \"sqlite\", …}: %w", err)
	}
	var name string
	if err := json.Unmarshal(fields["adapter"], &name); err != nil || name == "" {
		return fmt.Errorf("database: adapter: missing \"adapter\", the name of a bento.adapters module, e.g. %s", adapterExample)
	}
	return adapterModule(name)
}

// adapterModule reports an adapter module that is not compiled in, with
// the xbento line that would add it.
func adapterModule(name string) error {
	if _, err := caddy.GetModule("bento.adapters." + name); err == nil {
		return nil
	}
	return unknownAdapter(name)
}

// unknownAdapter is the error for the adapter name that is not compiled
// in.
func unknownAdapter(name string) error {
	return fmt.Errorf("database: adapter: %w", bento.UnknownModuleError("bento.adapters."+name))
}

// Interface guards
var (
	_ bento.L2Driver      = (*Driver)(nil)
	_ bento.L2BatchDriver = (*Driver)(nil)
	_ bento.Pinger        = (*Driver)(nil)
	_ bento.Pruner        = (*Driver)(nil)
	_ bento.Validator     = (*Driver)(nil)

	_ caddy.Provisioner     = (*Driver)(nil)
	_ caddy.Validator       = (*Driver)(nil)
	_ caddy.CleanerUpper    = (*Driver)(nil)
	_ caddyfile.Unmarshaler = (*Driver)(nil)
)
