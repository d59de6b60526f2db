package databasetest

import (
	"fmt"
	"testing"

	"github.com/bentocache/bento"
	"github.com/bentocache/bento/modules/drivers/database"
)

// BenchGetMany compares reading n keys of 256-byte values through dr with
// one GetMany (batch=true) and with n Gets (batch=false), as the
// sub-benchmarks n=<n>/batch=true and n=<n>/batch=false of b. It writes the
// keys first, with one SetMany.
//
//	b.Run("adapter=postgres", func(b *testing.B) { databasetest.BenchGetMany(b, dr, 100) })
func BenchGetMany(b *testing.B, dr *database.Driver, n int) {
	b.Helper()
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
