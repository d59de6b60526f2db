package memory

import (
	"math"
	"strconv"
	"testing"
	"time"

	"github.com/maypok86/otter/v2"

	"github.com/bentocache/bento"
	"github.com/bentocache/bento/internal/keys"
)

// benchKeys is the number of keys of the Get benchmarks, all present.
const benchKeys = 1 << 12

// BenchmarkGet compares Driver.Get with a bare otter GetIfPresent on the same
// key set, otter configured as the driver configures it (per-entry expiry, no
// bound) and given the full keys ("bento:users:user:123456") built in advance,
// as its own caller would. The driver's budget on bento's L1-hit path is 2.5x
// otter's time, with no allocation.
func BenchmarkGet(b *testing.B) {
	for _, bb := range []struct {
		name  string
		setup func(prefix string, keys []string) (get func(i int) (any, bool), stop func())
	}{
		{"impl=otter", setupOtter},
		{"impl=driver", setupDriver},
	} {
		for _, prefix := range []string{"", "bento:users"} {
			keys := make([]string, benchKeys)
			for i := range keys {
				keys[i] = "user:" + strconv.Itoa(100_000+i)
			}
			name := bb.name + "/prefix=" + prefix
			if prefix == "" {
				name = bb.name + "/prefix=none"
			}
			b.Run(name, func(b *testing.B) {
				get, stop := bb.setup(prefix, keys)
				defer stop()
				b.ReportAllocs()
				i := 0
				for b.Loop() {
					if _, ok := get(i & (benchKeys - 1)); !ok {
						b.Fatalf("Get(%q) = _, false; want true", keys[i&(benchKeys-1)])
					}
					i++
				}
			})
			b.Run(name+"/parallel=true", func(b *testing.B) {
				get, stop := bb.setup(prefix, keys)
				defer stop()
				b.ReportAllocs()
				b.RunParallel(func(pb *testing.PB) {
					i := 0
					for pb.Next() {
						if _, ok := get(i & (benchKeys - 1)); !ok {
							b.Errorf("Get(%q) = _, false; want true", keys[i&(benchKeys-1)])
							return
						}
						i++
					}
				})
			})
		}
	}
}

// setupOtter fills a bare otter cache with the full keys of keys under prefix
// and returns a GetIfPresent of the i-th one.
func setupOtter(prefix string, ks []string) (get func(i int) (any, bool), stop func()) {
	c := otter.Must(&otter.Options[string, entry]{
		ExpiryCalculator: otter.ExpiryWritingFunc(func(otter.Entry[string, entry]) time.Duration {
			return math.MaxInt64
		}),
	})
	full := make([]string, len(ks))
	for i, k := range ks {
		full[i] = keys.Join(prefix, k)
		c.Set(full[i], entry{value: i})
	}
	return func(i int) (any, bool) {
		e, ok := c.GetIfPresent(full[i])
		return e.value, ok
	}, func() { c.StopAllGoroutines() }
}

// setupDriver fills a driver with keys under prefix (a namespace of a
// prefixed root, as bento uses it) and returns a Get of the i-th one.
func setupDriver(prefix string, ks []string) (get func(i int) (any, bool), stop func()) {
	root := New(Options{})
	var dr bento.L1Driver = root
	if prefix != "" {
		root = New(Options{Prefix: "bento"})
		dr = root.Namespace("users") // prefix "bento:users"
	}
	for i, k := range ks {
		dr.Set(k, i, 0)
	}
	return func(i int) (any, bool) {
		return dr.Get(ks[i])
	}, func() { _ = root.Disconnect() }
}
