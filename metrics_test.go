package bento_test

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
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

// TestGrafanaDashboard: every metric that the dashboard's queries name is
// one the collector exports (a histogram by its _bucket, _sum and _count
// series), and the dashboard has a panel for each the issue lists.
func TestGrafanaDashboard(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join("examples", "grafana", "bento-dashboard.json"))
	if err != nil {
		t.Fatal(err)
	}
	var dash struct {
		Panels []struct {
			Title   string `json:"title"`
			Targets []struct {
				Expr string `json:"expr"`
			} `json:"targets"`
		} `json:"panels"`
	}
	if err := json.Unmarshal(raw, &dash); err != nil {
		t.Fatalf("the dashboard is not JSON: %v", err)
	}
	exported := map[string]bool{}
	descs := make(chan *prometheus.Desc, 64)
	b := newBento(t, layers[0].store())
	b.Collector().Describe(descs)
	close(descs)
	fqName := regexp.MustCompile(`fqName: "([a-z0-9_]+)"`)
	for d := range descs {
		if m := fqName.FindStringSubmatch(d.String()); m != nil {
			exported[m[1]] = true
		}
	}
	named := regexp.MustCompile(`\bbento_[a-z0-9_]+`)
	used := map[string]bool{}
	for _, p := range dash.Panels {
		for _, tg := range p.Targets {
			for _, m := range named.FindAllString(tg.Expr, -1) {
				base := m
				for _, suffix := range []string{"_bucket", "_sum", "_count"} {
					if s, ok := strings.CutSuffix(m, suffix); ok && exported[s] {
						base = s
					}
				}
				if !exported[base] {
					t.Errorf("panel %q queries %s, which bento does not export", p.Title, m)
				}
				used[base] = true
			}
		}
	}
	for name := range exported {
		if !used[name] {
			t.Errorf("no panel of the dashboard shows %s", name)
		}
	}
}
