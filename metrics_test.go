package bento_test

import (
	"context"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/bentocache/bento"
	"github.com/bentocache/bento/internal/mapstore"
	"github.com/bentocache/bento/modules/drivers/memory"
)

// TestCollector: what a store does shows in its metrics, by store, with no
// key or namespace in a label; the metrics pass promlint and register on a
// pedantic registry.
func TestCollector(t *testing.T) {
	b := newBento(t, bento.NewStore().UseL1(memory.New(memory.Options{MaxItems: 100})).UseL2(mapstore.NewL2(mapstore.L2Options{})))
	c := b.Namespace("users")
	ctx := t.Context()
	if err := c.Set(ctx, "k", "v"); err != nil {
		t.Fatal(err)
	}
	for range 3 {
		_, _, _ = bento.Get[string](ctx, c, "k")
	}
	_, _, _ = bento.Get[string](ctx, c, "missing")
	_, _ = bento.GetOrSet(ctx, c, "made", func(context.Context, *bento.FactoryContext[string]) (string, error) { return "v", nil })
	_, _ = c.Delete(ctx, "k")

	reg := prometheus.NewPedanticRegistry()
	if err := reg.Register(b.Collector()); err != nil {
		t.Fatalf("registering the collector on a pedantic registry: %v", err)
	}
	want := `
# HELP bento_hits_total Reads that found a value, by layer and whether it was served stale (graced).
# TYPE bento_hits_total counter
bento_hits_total{graced="false",layer="l1",store="main"} 3
bento_hits_total{graced="false",layer="l2",store="main"} 0
bento_hits_total{graced="true",layer="l1",store="main"} 0
bento_hits_total{graced="true",layer="l2",store="main"} 0
# HELP bento_misses_total Reads that found no usable value.
# TYPE bento_misses_total counter
bento_misses_total{store="main"} 2
# HELP bento_writes_total Values written (Set, a factory's value, a batch's entries).
# TYPE bento_writes_total counter
bento_writes_total{store="main"} 2
# HELP bento_deletes_total Keys deleted (Delete, DeleteMany, Pull).
# TYPE bento_deletes_total counter
bento_deletes_total{store="main"} 1
# HELP bento_l1_entries Entries the L1 holds.
# TYPE bento_l1_entries gauge
bento_l1_entries{store="main"} 1
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want),
		"bento_hits_total", "bento_misses_total", "bento_writes_total", "bento_deletes_total", "bento_l1_entries"); err != nil {
		t.Error(err)
	}
	if n := testutil.CollectAndCount(b.Collector(), "bento_factory_duration_seconds"); n != 1 {
		t.Errorf("bento_factory_duration_seconds series = %d; want 1", n)
	}
	problems, err := testutil.CollectAndLint(b.Collector())
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Errorf("promlint: %s: %s", p.Metric, p.Text)
	}
}
