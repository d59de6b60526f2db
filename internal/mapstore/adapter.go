package mapstore

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/bentocache/bento"
)

// DefaultTableName is the table an [Adapter] uses until
// [Adapter.SetTableName], BentoCache's default.
const DefaultTableName = "bentocache"

// Adapter is a [bento.DatabaseAdapter] whose tables are maps. Like a real
// database it keeps one table per name, and every method but SetTableName,
// CreateTableIfNotExists and Disconnect fails on a table that was not created.
// Rows are copied in and out. It is safe for concurrent use.
//
// Expiry times are kept as given, to the nanosecond, and compared with
// time.Now.
type Adapter struct {
	db *database

	mu    sync.Mutex // guards table
	table string
}

// database holds the tables shared by an Adapter and those made with
// [Adapter.WithTable].
type database struct {
	mu     sync.Mutex
	tables map[string]map[string]bento.Row
}

// NewAdapter returns an adapter on a database of its own with no tables, on
// [DefaultTableName].
func NewAdapter() *Adapter {
	return &Adapter{db: &database{tables: make(map[string]map[string]bento.Row)}, table: DefaultTableName}
}

// WithTable returns another adapter on the same tables, as a second
// connection to one database would be, on the table name. Tables it creates
// are visible to a and the other way round.
func (a *Adapter) WithTable(name string) *Adapter {
	return &Adapter{db: a.db, table: name}
}

// SetTableName sets the table used by every other method.
func (a *Adapter) SetTableName(name string) {
	a.mu.Lock()
	a.table = name
	a.mu.Unlock()
}

// CreateTableIfNotExists creates the current table if it is missing.
func (a *Adapter) CreateTableIfNotExists(ctx context.Context) error {
	a.db.mu.Lock()
	defer a.db.mu.Unlock()
	name := a.tableName()
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("mapstore: creating table %q: %w", name, err)
	}
	if a.db.tables[name] == nil {
		a.db.tables[name] = make(map[string]bento.Row)
	}
	return nil
}

// Get returns a copy of the row stored under key, expired or not.
func (a *Adapter) Get(ctx context.Context, key string) (bento.Row, bool, error) {
	a.db.mu.Lock()
	defer a.db.mu.Unlock()
	t, err := a.current(ctx)
	if err != nil {
		return bento.Row{}, false, fmt.Errorf("mapstore: get %q: %w", key, err)
	}
	r, ok := t[key]
	if !ok {
		return bento.Row{}, false, nil
	}
	return copyRow(r), true, nil
}

// Set inserts or replaces a copy of row under row.Key.
func (a *Adapter) Set(ctx context.Context, row bento.Row) error {
	a.db.mu.Lock()
	defer a.db.mu.Unlock()
	t, err := a.current(ctx)
	if err != nil {
		return fmt.Errorf("mapstore: set %q: %w", row.Key, err)
	}
	t[row.Key] = copyRow(row)
	return nil
}

// Delete removes the row for key and reports whether it existed.
func (a *Adapter) Delete(ctx context.Context, key string) (bool, error) {
	a.db.mu.Lock()
	defer a.db.mu.Unlock()
	t, err := a.current(ctx)
	if err != nil {
		return false, fmt.Errorf("mapstore: delete %q: %w", key, err)
	}
	_, ok := t[key]
	delete(t, key)
	return ok, nil
}

// DeleteMany removes the rows for keys and reports how many existed; a key
// listed twice counts once.
func (a *Adapter) DeleteMany(ctx context.Context, keys []string) (int64, error) {
	a.db.mu.Lock()
	defer a.db.mu.Unlock()
	t, err := a.current(ctx)
	if err != nil {
		return 0, fmt.Errorf("mapstore: delete %d keys: %w", len(keys), err)
	}
	var n int64
	for _, k := range keys {
		if _, ok := t[k]; ok {
			delete(t, k)
			n++
		}
	}
	return n, nil
}

// Clear removes every row whose key starts with prefix, matched literally
// (no wildcards); an empty prefix removes every row.
func (a *Adapter) Clear(ctx context.Context, prefix string) error {
	a.db.mu.Lock()
	defer a.db.mu.Unlock()
	t, err := a.current(ctx)
	if err != nil {
		return fmt.Errorf("mapstore: clear %q: %w", prefix, err)
	}
	for k := range t {
		if strings.HasPrefix(k, prefix) {
			delete(t, k)
		}
	}
	return nil
}

// PruneExpiredEntries removes every row whose non-zero ExpiresAt is not
// after time.Now.
func (a *Adapter) PruneExpiredEntries(ctx context.Context) error {
	a.db.mu.Lock()
	defer a.db.mu.Unlock()
	t, err := a.current(ctx)
	if err != nil {
		return fmt.Errorf("mapstore: prune: %w", err)
	}
	now := time.Now()
	for k, r := range t {
		if !r.ExpiresAt.IsZero() && !now.Before(r.ExpiresAt) {
			delete(t, k)
		}
	}
	return nil
}

// DropTable removes the current table and its rows, if it exists. It is not
// part of [bento.DatabaseAdapter]: tests call it to clean up.
func (a *Adapter) DropTable() {
	a.db.mu.Lock()
	defer a.db.mu.Unlock()
	delete(a.db.tables, a.tableName())
}

// Disconnect does nothing: the tables stay. Calling it twice is fine.
func (a *Adapter) Disconnect() error { return nil }

// current returns the current table, or ctx.Err(), or an error if the table
// was not created; callers wrap the error with what they were doing.
// a.db.mu must be held.
func (a *Adapter) current(ctx context.Context) (map[string]bento.Row, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	name := a.tableName()
	t := a.db.tables[name]
	if t == nil {
		return nil, fmt.Errorf("table %q does not exist (call CreateTableIfNotExists first)", name)
	}
	return t, nil
}

// tableName returns the current table name.
func (a *Adapter) tableName() string {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.table
}

func copyRow(r bento.Row) bento.Row {
	r.Value = clone(r.Value)
	return r
}

// Interface guards
var _ bento.DatabaseAdapter = (*Adapter)(nil)
