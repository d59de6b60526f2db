package integration_test

import (
	"context"
	"maps"
	"slices"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bentocache/bento"
)

// TestMany_OnRealBackends: GetOrSetMany, GetMany and SetMany on a real L2
// and bus. Two instances: A computes the keys missing everywhere in one
// factory call and writes them in one batch; B then reads them all from L2
// without a factory call; a SetMany on B reaches A's L1 copies over the bus.
func TestMany_OnRealBackends(t *testing.T) {
	t.Parallel()
	for _, r := range rigs(t) {
		t.Run(r.name, func(t *testing.T) {
			ctx := t.Context()
			opts := []bento.Option{bento.TTL(time.Hour), bento.RetryQueue(0, 20*time.Millisecond)}
			a := r.instance(t, "a", "", "", unwrapped, opts...)
			b := r.instance(t, "b", "", "", unwrapped, opts...)
			if err := a.m.Namespace("many").Clear(ctx); err != nil {
				t.Fatal(err)
			}
			keys := make([]string, 50)
			for i := range keys {
				keys[i] = "k" + strconv.Itoa(i)
			}
			var calls atomic.Int32
			factory := func(_ context.Context, missing []string) (map[string]string, error) {
				calls.Add(1)
				out := make(map[string]string, len(missing))
				for _, k := range missing {
					out[k] = "v" + k
				}
				return out, nil
			}
			got, err := bento.GetOrSetMany(ctx, a.m.Namespace("many"), keys, factory)
			if err != nil || len(got) != len(keys) || calls.Load() != 1 {
				t.Fatalf("a: GetOrSetMany of 50 cold keys = %d values, %v after %d factory calls; want 50 from one call", len(got), err, calls.Load())
			}
			fromB, err := bento.GetOrSetMany(ctx, b.m.Namespace("many"), keys, factory)
			if err != nil || !maps.Equal(fromB, got) || calls.Load() != 1 {
				t.Errorf("b: GetOrSetMany of the keys a wrote = %d values, %v after %d factory calls; want a's 50 from L2, no call", len(fromB), err, calls.Load())
			}
			update := map[string]any{}
			for _, k := range keys[:10] {
				update[k] = "new"
			}
			if err := b.m.Namespace("many").SetMany(ctx, update); err != nil {
				t.Fatal(err)
			}
			if !poll(t, 10*time.Second, func() bool {
				m, err := bento.GetMany[string](ctx, a.m.Namespace("many"), slices.Collect(maps.Keys(update)))
				return err == nil && len(m) == 10 && !slices.ContainsFunc(slices.Collect(maps.Values(m)), func(v string) bool { return v != "new" })
			}) {
				t.Errorf("a never read b's SetMany: its L1 copies were not dropped by the bus")
			}
		})
	}
}

// TestEagerRefresh_OnRealBackends: a hit past the threshold on A refreshes
// in the background and writes L2, where B, which never ran the factory,
// reads the refreshed value.
func TestEagerRefresh_OnRealBackends(t *testing.T) {
	t.Parallel()
	for _, r := range rigs(t) {
		t.Run(r.name, func(t *testing.T) {
			ctx := t.Context()
			opts := []bento.Option{bento.TTL(4 * time.Second), bento.EagerRefresh(0.25), bento.RetryQueue(0, 20*time.Millisecond)}
			a := r.instance(t, "a", "", "", unwrapped, opts...)
			b := r.instance(t, "b", "", "", unwrapped, opts...)
			c := a.m.Namespace("eager")
			if err := c.Clear(ctx); err != nil {
				t.Fatal(err)
			}
			var runs atomic.Int32
			factory := func(context.Context, *bento.FactoryContext[string]) (string, error) {
				return "v" + strconv.Itoa(int(runs.Add(1))), nil
			}
			if v, err := bento.GetOrSet(ctx, c, "k", factory); v != "v1" || err != nil {
				t.Fatalf("first GetOrSet = %q, %v", v, err)
			}
			time.Sleep(1100 * time.Millisecond) // past a quarter of the TTL: the entry is due
			if v, _ := bento.GetOrSet(ctx, c, "k", factory); v != "v1" {
				t.Errorf("GetOrSet past the threshold = %q; want the current value, \"v1\", at once", v)
			}
			if !poll(t, 10*time.Second, func() bool {
				v, _, err := bento.Get[string](ctx, b.m.Namespace("eager"), "k")
				return err == nil && v == "v2"
			}) {
				t.Errorf("b never read the refreshed value; factory runs = %d", runs.Load())
			}
		})
	}
}
