package database

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"

	"github.com/bentocache/bento"
)

// DefaultTableName is the table a [Driver] uses when [Options.TableName] is
// empty, BentoCache's default.
const DefaultTableName = "bentocache"

// ErrDisconnected is wrapped by the errors of an adapter's calls after its
// Disconnect: an adapter does not reopen what it released.
var ErrDisconnected = errors.New("adapter disconnected")

// tableNamePattern is what a table name must match: a SQL identifier that
// needs no quoting in PostgreSQL, MySQL and SQLite, at most 63 bytes
// (PostgreSQL's limit; MySQL's is 64).
var tableNamePattern = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]{0,62}$`)

// ValidateTableName reports whether name is a table name that the driver
// and the bento adapters accept: a letter or "_", then letters, digits or
// "_", 63 bytes at most. Nothing else can reach the SQL text, so no table
// name can inject SQL. Adapters call it too, as a second line of defence.
func ValidateTableName(name string) error {
	if !tableNamePattern.MatchString(name) {
		return fmt.Errorf("invalid table name %q: want a letter or _, then letters, digits or _, 63 bytes at most", name)
	}
	return nil
}

// EscapeLike returns prefix with the LIKE wildcards "%" and "_" and the
// escape character escape itself preceded by escape, so that
// EscapeLike(prefix, '\\')+"%" used with ESCAPE '\' matches exactly the
// strings that start with prefix. It works byte by byte: escape must be an
// ASCII byte, and prefix may hold any bytes.
func EscapeLike(prefix string, escape byte) string {
	var b strings.Builder
	b.Grow(len(prefix) + 8)
	for i := 0; i < len(prefix); i++ {
		switch c := prefix[i]; c {
		case '%', '_', escape:
			b.WriteByte(escape)
			b.WriteByte(c)
		default:
			b.WriteByte(c)
		}
	}
	return b.String()
}

// BatchAdapter is an optional [bento.DatabaseAdapter] capability, found by
// type assertion: reading and writing many rows in one round trip. Without
// it, the driver's [Driver.GetMany] and [Driver.SetMany] call the adapter
// once per key.
type BatchAdapter interface {
	// GetMany returns the rows stored under keys, expired or not, in any
	// order; a missing key has no row. A key listed twice may come back once.
	GetMany(ctx context.Context, keys []string) ([]bento.Row, error)
	// SetMany inserts or replaces every row, as Set does; of two rows with
	// one key, the later wins.
	SetMany(ctx context.Context, rows []bento.Row) error
}

// PullAdapter is an optional [bento.DatabaseAdapter] capability: an atomic
// read-and-delete. Without it, [Driver.Pull] reads the row and then deletes
// it, and reports it found only if its own delete removed it, so that of two
// concurrent Pulls of one key at most one finds it.
type PullAdapter interface {
	// Pull deletes the row stored under key and returns it, expired or not.
	Pull(ctx context.Context, key string) (row bento.Row, found bool, err error)
}

// ExpiredDeleter is an optional [bento.DatabaseAdapter] capability: the
// conditional delete behind the driver's lazy removal of an expired row on
// read. Without it the driver calls Delete, and a fresh row written by
// another instance between the read and the delete can be lost (a later
// miss, never a wrong value).
type ExpiredDeleter interface {
	// DeleteExpired removes the row stored under key only if its ExpiresAt
	// is set and not after now, and reports whether it did.
	DeleteExpired(ctx context.Context, key string, now time.Time) (deleted bool, err error)
}
