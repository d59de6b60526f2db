// Package serialtest checks that a serializer reads hostile bytes from a
// shared L2 safely: as a corrupt entry (a miss, an error event, the entry
// deleted), with allocations bounded by the input, whatever its headers
// claim.
package serialtest

import (
	"context"
	"runtime"
	"strings"
	"testing"

	"github.com/bentocache/bento"
	"github.com/bentocache/bento/internal/mapstore"
)

// reads are the typed reads of an entry: a value of unknown type, a typed
// slice and a map, the shapes that preallocate from a length header.
var reads = map[string]func(ctx context.Context, c *bento.Cache) (bool, error){
	"Any": func(ctx context.Context, c *bento.Cache) (bool, error) {
		_, found, err := bento.Get[any](ctx, c, "k")
		return found, err
	},
	"Slice": func(ctx context.Context, c *bento.Cache) (bool, error) {
		_, found, err := bento.Get[[]int](ctx, c, "k")
		return found, err
	},
	"Map": func(ctx context.Context, c *bento.Cache) (bool, error) {
		_, found, err := bento.Get[map[string]any](ctx, c, "k")
		return found, err
	},
}

// HostileL2 puts each input in the L2 of a store on s (nil: the store's
// default serializer) and reads it with each of the reads, in a subtest
// named <input>/<read>: each read must be a miss with one error event that
// says the entry is undecodable, must delete the entry, and must allocate at
// most maxAlloc(len(input)) bytes.
func HostileL2(t *testing.T, s bento.Serializer, inputs map[string][]byte, maxAlloc func(n int) uint64) {
	t.Helper()
	for name, data := range inputs {
		for rname, read := range reads {
			t.Run(name+"/"+rname, func(t *testing.T) {
				l2 := mapstore.NewL2(mapstore.L2Options{})
				st := bento.NewStore().UseL2(l2)
				if s != nil {
					st.UseSerializer(s)
				}
				b, err := bento.New(bento.Config{Stores: map[string]*bento.Store{"main": st}})
				if err != nil {
					t.Fatal(err)
				}
				defer b.Close()
				var events []bento.Event
				b.On(func(e bento.Event) {
					if e.Kind == bento.EventError {
						events = append(events, e)
					}
				})
				ctx := t.Context()
				if err := l2.Set(ctx, "bento:k", data, 0); err != nil {
					t.Fatal(err)
				}
				var before, after runtime.MemStats
				runtime.ReadMemStats(&before)
				found, err := read(ctx, b.Default())
				runtime.ReadMemStats(&after)
				if found || err != nil {
					t.Errorf("Get(ctx, %q) of %d hostile bytes = found %t, %v; want a miss", "k", len(data), found, err)
				}
				if len(events) != 1 || !strings.Contains(events[0].Err.Error(), "undecodable l2 entry") {
					t.Errorf("error events = %v; want one saying the entry is undecodable", events)
				}
				if _, ok, _ := l2.Get(ctx, "bento:k"); ok {
					t.Error("the hostile entry is still in L2; want a corrupt entry deleted")
				}
				if n, limit := after.TotalAlloc-before.TotalAlloc, maxAlloc(len(data)); n > limit {
					t.Errorf("Get of %d hostile bytes allocated %d bytes; want at most %d", len(data), n, limit)
				}
			})
		}
	}
}
