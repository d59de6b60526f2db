package mysql_test

import (
	"testing"

	"github.com/bentocache/bento/internal/testenv"
	"github.com/bentocache/bento/modules/adapters/mysql"
	"github.com/bentocache/bento/modules/drivers/database"
	"github.com/bentocache/bento/modules/drivers/database/databasetest"
)

// BenchmarkGetMany compares reading 100 keys with one GetMany (one
// statement) and with 100 Gets (100 round trips), through the driver.
func BenchmarkGetMany(b *testing.B) {
	db := newDB(b, testenv.MySQL(b))
	table := testenv.Prefix(b)
	dropTable(b, db, table)
	dr := database.New(database.Options{Adapter: mysql.New(mysql.Options{DB: db}), TableName: table})
	b.Cleanup(func() { _ = dr.Disconnect() })
	b.Run("adapter=mysql", func(b *testing.B) { databasetest.BenchGetMany(b, dr, 100) })
}
