package sqlite_test

import (
	"path/filepath"
	"testing"

	"github.com/bentocache/bento/modules/adapters/sqlite"
	"github.com/bentocache/bento/modules/drivers/database"
	"github.com/bentocache/bento/modules/drivers/database/databasetest"
)

// BenchmarkGetMany compares reading 100 keys with one GetMany (one
// statement) and with 100 Gets, through the driver, on a database file and
// in memory.
func BenchmarkGetMany(b *testing.B) {
	for _, where := range []string{"file", "memory"} {
		path := ""
		if where == "file" {
			path = filepath.Join(b.TempDir(), "bento.db")
		}
		dr := database.New(database.Options{Adapter: sqlite.New(sqlite.Options{Path: path})})
		b.Cleanup(func() { _ = dr.Disconnect() })
		b.Run("adapter=sqlite-"+where, func(b *testing.B) { databasetest.BenchGetMany(b, dr, 100) })
	}
}
