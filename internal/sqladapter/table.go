package sqladapter

import (
	"fmt"

	"github.com/bentocache/bento/modules/drivers/database"
)

// Table is the table of an adapter's calls: it wraps their errors with the
// adapter's name and the table name, and holds the name's problem, if any.
// An adapter's queries embed it.
type Table struct {
	adapter, name string
	err           error
}

// NewTable returns the table name of adapter ("postgres", as its errors
// start), checked with [database.ValidateTableName]: if the name is not a
// plain identifier, [Table.Err] reports it, and every call fails with it.
func NewTable(adapter, name string) Table {
	return Table{adapter: adapter, name: name, err: database.ValidateTableName(name)}
}

// Name returns the table name, as given.
func (t Table) Name() string { return t.name }

// Err returns the table name's problem, or nil.
func (t Table) Err() error { return t.err }

// Fail wraps err with the operation and the table:
// "postgres: get in table \"bentocache\": …".
func (t Table) Fail(op string, err error) error {
	return fmt.Errorf("%s: %s in table %q: %w", t.adapter, op, t.name, err)
}

// FailIf is [Table.Fail], or nil for a nil err.
func (t Table) FailIf(op string, err error) error {
	if err == nil {
		return nil
	}
	return t.Fail(op, err)
}

// CreateFailed wraps an error of CreateTableIfNotExists:
// "postgres: create table \"bentocache\": …".
func (t Table) CreateFailed(err error) error {
	return fmt.Errorf("%s: create table %q: %w", t.adapter, t.name, err)
}
