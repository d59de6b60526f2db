package postgres_test

import (
	"testing"

	"github.com/bentocache/bento/internal/testenv"
	"github.com/bentocache/bento/modules/adapters/postgres"
	"github.com/bentocache/bento/modules/drivers/database"
	"github.com/bentocache/bento/modules/drivers/database/databasetest"
)

// BenchmarkGetMany compares reading 100 keys with one GetMany (one
// statement) and with 100 Gets (100 round trips), through the driver.
func BenchmarkGetMany(b *testing.B) {
	p := newPool(b, testenv.Postgres(b))
	table := testenv.Prefix(b)
	dropTable(b, p, table)
	dr := database.New(database.Options{Adapter: postgres.New(postgres.Options{Pool: p}), TableName: table})
	b.Cleanup(func() { _ = dr.Disconnect() })
	b.Run("adapter=postgres", func(b *testing.B) { databasetest.BenchGetMany(b, dr, 100) })
}
