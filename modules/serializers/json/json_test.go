package json_test

import (
	"bytes"
	"context"
	"runtime"
	"strings"
	"testing"

	"github.com/bentocache/bento"
	"github.com/bentocache/bento/internal/mapstore"
	"github.com/bentocache/bento/modules/serializers/json"
)

// TestSerializer_HostileL2 reads hostile JSON from L2, with this module and
// with a store's default serializer (the same encoding/json underneath):
// encoding/json has no length headers to trust and limits nesting to 10,000,
// so each read is a miss with an error event, deletes the entry, and
// allocates in proportion to the input.
func TestSerializer_HostileL2(t *testing.T) {
	deep := strings.Repeat("[", 16<<20) + strings.Repeat("]", 16<<20)
	inputs := map[string]string{
		"Nested16MiB":           deep,
		"Nested16MiBInEnvelope": `{"value":` + deep + `,"logicalExpiration":1,"createdAt":1}`,
		"Truncated":             `{"value":[1,2,`,
		"Trailing":              `{"value":1,"logicalExpiration":1,"createdAt":1} garbage`,
		"NotAnEntry":            `[1,2,3]`,
	}
	serializers := map[string]bento.Serializer{"Module": json.Serializer{}, "Default": nil}
	for name, input := range inputs {
		for sname, s := range serializers {
			t.Run(name+"/"+sname, func(t *testing.T) {
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
				reads := []func(context.Context, *bento.Cache) (bool, error){
					func(ctx context.Context, c *bento.Cache) (bool, error) {
						_, found, err := bento.Get[any](ctx, c, "k")
						return found, err
					},
					func(ctx context.Context, c *bento.Cache) (bool, error) {
						_, found, err := bento.Get[[]any](ctx, c, "k")
						return found, err
					},
				}
				for _, read := range reads {
					if err := l2.Set(ctx, "bento:k", []byte(input), 0); err != nil {
						t.Fatal(err)
					}
					var before, after runtime.MemStats
					runtime.ReadMemStats(&before)
					found, err := read(ctx, b.Default())
					runtime.ReadMemStats(&after)
					if found || err != nil {
						t.Errorf("Get(ctx, %q) of %d hostile bytes = found %t, %v; want a miss", "k", len(input), found, err)
					}
					if n := after.TotalAlloc - before.TotalAlloc; n > 8*uint64(len(input))+1<<20 {
						t.Errorf("Get of %d hostile bytes allocated %d bytes; want a few times the input at most", len(input), n)
					}
					if _, ok, _ := l2.Get(ctx, "bento:k"); ok {
						t.Error("the hostile entry is still in L2; want a corrupt entry deleted")
					}
				}
				if len(events) != len(reads) || !strings.Contains(events[0].Err.Error(), "undecodable l2 entry") {
					t.Errorf("error events = %v; want one per read saying the entry is undecodable", events)
				}
			})
		}
	}
}

// TestSerializer_Depth: encoding/json refuses input nested past 10,000
// levels without walking the stack down.
func TestSerializer_Depth(t *testing.T) {
	deep := bytes.Repeat([]byte("["), 10_001)
	var v any
	err := json.Serializer{}.Unmarshal(deep, &v)
	if err == nil || !strings.Contains(err.Error(), "exceeded max depth") {
		t.Errorf("Unmarshal(10001 nested arrays) = %v; want an error about the max depth", err)
	}
}
