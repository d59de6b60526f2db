package file

import (
	"bytes"
	"strconv"
	"testing"
)

// benchKeys is the number of keys the benchmarks cycle through.
const benchKeys = 1 << 10

// benchDriver returns a driver on a fresh directory and the keys of the
// benchmark, each holding a 1 KiB value.
func benchDriver(b *testing.B, o Options) (*Driver, []string, []byte) {
	b.Helper()
	o.Directory = b.TempDir()
	o.Prefix = "bento"
	dr := New(o)
	b.Cleanup(func() { dr.Disconnect() })
	users := dr.Namespace("users").(*Driver)
	value := bytes.Repeat([]byte("x"), 1<<10)
	keys := make([]string, benchKeys)
	for i := range keys {
		keys[i] = "user:" + strconv.Itoa(100_000+i)
		if err := users.Set(b.Context(), keys[i], value, 0); err != nil {
			b.Fatal(err)
		}
	}
	return users, keys, value
}

// BenchmarkGet reads 1 KiB values of keys "bento:users:user:<n>", all
// present.
func BenchmarkGet(b *testing.B) {
	b.Run("size=1KiB", func(b *testing.B) {
		dr, keys, _ := benchDriver(b, Options{})
		ctx := b.Context()
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			if _, found, err := dr.Get(ctx, keys[i%benchKeys]); !found || err != nil {
				b.Fatalf("Get(ctx, %q) = _, %t, %v; want a value", keys[i%benchKeys], found, err)
			}
			i++
		}
	})
	b.Run("size=1KiB/parallel=true", func(b *testing.B) {
		dr, keys, _ := benchDriver(b, Options{})
		ctx := b.Context()
		b.ReportAllocs()
		b.ResetTimer() // the set-up's writes
		b.RunParallel(func(pb *testing.PB) {
			i := 0
			for pb.Next() {
				if _, found, err := dr.Get(ctx, keys[i%benchKeys]); !found || err != nil {
					b.Errorf("Get(ctx, %q) = _, %t, %v; want a value", keys[i%benchKeys], found, err)
					return
				}
				i++
			}
		})
	})
}

// BenchmarkSet overwrites 1 KiB values of keys "bento:users:user:<n>", with
// and without Options.Sync.
func BenchmarkSet(b *testing.B) {
	for _, sync := range []bool{false, true} {
		name := "size=1KiB/sync=" + strconv.FormatBool(sync)
		b.Run(name, func(b *testing.B) {
			dr, keys, value := benchDriver(b, Options{Sync: sync})
			ctx := b.Context()
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				if err := dr.Set(ctx, keys[i%benchKeys], value, 0); err != nil {
					b.Fatalf("Set(ctx, %q, …) = %v", keys[i%benchKeys], err)
				}
				i++
			}
		})
		b.Run(name+"/parallel=true", func(b *testing.B) {
			dr, keys, value := benchDriver(b, Options{Sync: sync})
			ctx := b.Context()
			b.ReportAllocs()
			b.ResetTimer() // the set-up's writes
			b.RunParallel(func(pb *testing.PB) {
				i := 0
				for pb.Next() {
					if err := dr.Set(ctx, keys[i%benchKeys], value, 0); err != nil {
						b.Errorf("Set(ctx, %q, …) = %v", keys[i%benchKeys], err)
						return
					}
					i++
				}
			})
		})
	}
}
