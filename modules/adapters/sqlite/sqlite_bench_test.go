package sqlite_test

import (
	"fmt"
	"path/filepath"
	"testing"

	"github.com/bentocache/bento"
	"github.com/bentocache/bento/modules/adapters/sqlite"
	"github.com/bentocache/bento/modules/drivers/database"
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
		b.Run("adapter=sqlite-"+where, func(b *testing.B) { benchGetMany(b, dr, 100) })
	}
}

// benchGetMany runs the batch=true and batch=false sub-benchmarks of n keys
// on dr.
func benchGetMany(b *testing.B, dr *database.Driver, n int) {
	ctx := b.Context()
	keys := make([]string, n)
	entries := make([]bento.KeyValue, n)
	for i := range keys {
		keys[i] = fmt.Sprintf("bench:%d", i)
		entries[i] = bento.KeyValue{Key: keys[i], Value: make([]byte, 256)}
	}
	if err := dr.SetMany(ctx, entries, 0); err != nil {
		b.Fatal(err)
	}
	b.Run(fmt.Sprintf("n=%d", n), func(b *testing.B) {
		b.Run("batch=true", func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := dr.GetMany(ctx, keys); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run("batch=false", func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				for _, k := range keys {
					if _, _, err := dr.Get(ctx, k); err != nil {
						b.Fatal(err)
					}
				}
			}
		})
	})
}
