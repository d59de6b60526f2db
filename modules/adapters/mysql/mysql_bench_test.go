package mysql_test

import (
	"fmt"
	"testing"

	"github.com/bentocache/bento"
	"github.com/bentocache/bento/internal/testenv"
	"github.com/bentocache/bento/modules/adapters/mysql"
	"github.com/bentocache/bento/modules/drivers/database"
)

// BenchmarkGetMany compares reading 100 keys with one GetMany (one
// statement) and with 100 Gets (100 round trips), through the driver.
func BenchmarkGetMany(b *testing.B) {
	db := newDB(b, testenv.MySQL(b))
	table := testenv.Prefix(b)
	dropTable(b, db, table)
	dr := database.New(database.Options{Adapter: mysql.New(mysql.Options{DB: db}), TableName: table})
	b.Cleanup(func() { _ = dr.Disconnect() })
	b.Run("adapter=mysql", func(b *testing.B) { benchGetMany(b, dr, 100) })
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
