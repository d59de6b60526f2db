package otelbento_test

import (
	"context"
	"errors"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/bentocache/bento"
	"github.com/bentocache/bento/internal/mapstore"
	"github.com/bentocache/bento/modules/drivers/memory"
	otelbento "github.com/bentocache/bento/modules/otel"
)

// setup builds a one-store manager (store "main", L1 and L2, and a locker
// when locked) instrumented with in-memory exporters.
func setup(t *testing.T, locked bool, opts ...otelbento.Option) (*bento.Bento, *tracetest.SpanRecorder, *sdkmetric.ManualReader) {
	t.Helper()
	st := bento.NewStore().UseL1(memory.New(memory.Options{MaxItems: 100})).UseL2(mapstore.NewL2(mapstore.L2Options{}))
	if locked {
		st = st.UseLocker(freeLocker{})
	}
	return instrument(t, newBento(t, st), opts...)
}

func newBento(t *testing.T, st *bento.Store) *bento.Bento {
	t.Helper()
	b, err := bento.New(bento.Config{Stores: map[string]*bento.Store{"main": st}})
	if err != nil {
		t.Fatalf("bento.New: %v", err)
	}
	t.Cleanup(func() { _ = b.Close() })
	return b
}

// instrument instruments b with in-memory exporters.
func instrument(t *testing.T, b *bento.Bento, opts ...otelbento.Option) (*bento.Bento, *tracetest.SpanRecorder, *sdkmetric.ManualReader) {
	t.Helper()
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	reader := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	stop, err := otelbento.Instrument(b, append([]otelbento.Option{otelbento.WithTracerProvider(tp), otelbento.WithMeterProvider(mp)}, opts...)...)
	if err != nil {
		t.Fatalf("Instrument: %v", err)
	}
	t.Cleanup(func() {
		if err := stop(); err != nil {
			t.Errorf("stop: %v", err)
		}
	})
	return b, rec, reader
}

// freeLocker is a bento.Locker whose locks are always free.
type freeLocker struct{}

func (freeLocker) Acquire(context.Context, string) (bento.Lock, error) { return freeLock{}, nil }
func (freeLocker) Disconnect() error                                   { return nil }

type freeLock struct{}

func (freeLock) Lease() time.Duration          { return time.Minute }
func (freeLock) Refresh(context.Context) error { return nil }
func (freeLock) Release(context.Context) error { return nil }

type point struct{ X, Y int }

func pointFactory(context.Context, *bento.FactoryContext[point]) (point, error) {
	return point{1, 2}, nil
}

func names(spans []sdktrace.ReadOnlySpan) []string {
	var out []string
	for _, s := range spans {
		out = append(out, s.Name())
	}
	slices.Sort(out)
	return out
}

func attrs(s sdktrace.ReadOnlySpan) map[attribute.Key]attribute.Value {
	m := make(map[attribute.Key]attribute.Value)
	for _, kv := range s.Attributes() {
		m[kv.Key] = kv.Value
	}
	return m
}

func byName(t *testing.T, spans []sdktrace.ReadOnlySpan, name string) sdktrace.ReadOnlySpan {
	t.Helper()
	for _, s := range spans {
		if s.Name() == name {
			return s
		}
	}
	t.Fatalf("no span %q among %q", name, names(spans))
	return nil
}

func TestTracing_L1HitNoSpanNoAlloc(t *testing.T) {
	b, rec, _ := setup(t, false)
	c := b.Namespace("users")
	ctx := t.Context()
	if _, err := bento.GetOrSet(ctx, c, "user:42", pointFactory); err != nil {
		t.Fatal(err)
	}
	before := len(rec.Ended())
	allocs := testing.AllocsPerRun(1000, func() {
		if _, err := bento.GetOrSet(ctx, c, "user:42", pointFactory); err != nil {
			t.Fatal(err)
		}
		if _, _, err := bento.Get[point](ctx, c, "user:42"); err != nil {
			t.Fatal(err)
		}
	})
	if allocs != 0 {
		t.Errorf("an L1 hit with a tracer set allocates %v times per GetOrSet+Get; want 0", allocs)
	}
	if n := len(rec.Ended()) - before; n != 0 {
		t.Errorf("L1 hits made %d spans; want none: %q", n, names(rec.Ended()[before:]))
	}
}

func TestTracing_MissRunsFactory(t *testing.T) {
	b, rec, _ := setup(t, true)
	c := b.Namespace("users")
	if _, err := bento.GetOrSet(t.Context(), c, "user:42", pointFactory); err != nil {
		t.Fatal(err)
	}
	spans := rec.Ended()
	// Two L2 reads: the miss, and the look at L2 once the cluster-wide lock
	// is taken, in case its last holder wrote the value meanwhile.
	want := []string{"bento.factory", "bento.get_or_set", "bento.l2_read", "bento.l2_read", "bento.l2_write", "bento.lock_wait"}
	if got := names(spans); !slices.Equal(got, want) {
		t.Fatalf("spans = %q; want %q", got, want)
	}
	parent := byName(t, spans, "bento.get_or_set")
	for _, name := range want {
		s := byName(t, spans, name)
		if s == parent {
			continue
		}
		if s.Parent().SpanID() != parent.SpanContext().SpanID() {
			t.Errorf("span %s has parent %s; want bento.get_or_set's %s", name, s.Parent().SpanID(), parent.SpanContext().SpanID())
		}
		if a := attrs(s); a["bento.store"].AsString() != "main" || a["bento.namespace"].AsString() != "users" {
			t.Errorf("span %s attributes = %v; want bento.store main, bento.namespace users", name, s.Attributes())
		}
	}
	a := attrs(parent)
	for k, want := range map[attribute.Key]string{"bento.store": "main", "bento.namespace": "users", "bento.layer": "none", "bento.hit": "false", "bento.graced": "false"} {
		if got := a[k].Emit(); got != want {
			t.Errorf("bento.get_or_set %s = %q; want %q", k, got, want)
		}
	}
	if got := attrs(byName(t, spans, "bento.l2_read"))["bento.hit"].Emit(); got != "false" {
		t.Errorf("bento.l2_read bento.hit = %q; want false", got)
	}
}

func TestTracing_L2Hit(t *testing.T) {
	// Two instances over one L2: the first writes, the second reads past its L1.
	l2 := mapstore.NewL2(mapstore.L2Options{})
	writer := newBento(t, bento.NewStore().UseL1(memory.New(memory.Options{})).UseL2(l2))
	if err := writer.Namespace("users").Set(t.Context(), "user:42", point{1, 2}); err != nil {
		t.Fatal(err)
	}
	b, rec, _ := instrument(t, newBento(t, bento.NewStore().UseL1(memory.New(memory.Options{})).UseL2(l2.WithPrefix(""))))
	c := b.Namespace("users")
	if _, found, err := bento.Get[point](t.Context(), c, "user:42"); !found || err != nil {
		t.Fatalf("Get = _, %v, %v; want the writer's value", found, err)
	}
	spans := rec.Ended()
	if got, want := names(spans), []string{"bento.get", "bento.l2_read"}; !slices.Equal(got, want) {
		t.Fatalf("spans of a Get that hits L2 = %q; want %q", got, want)
	}
	for _, name := range []string{"bento.get", "bento.l2_read"} {
		if a := attrs(byName(t, spans, name)); a["bento.hit"].Emit() != "true" || a["bento.layer"].Emit() != "l2" {
			t.Errorf("%s attributes = %v; want bento.hit true, bento.layer l2", name, byName(t, spans, name).Attributes())
		}
	}

	rec.Reset()
	_, _, _ = bento.Get[point](t.Context(), c, "absent")
	spans = rec.Ended()
	if a := attrs(byName(t, spans, "bento.get")); a["bento.hit"].Emit() != "false" || a["bento.layer"].Emit() != "none" {
		t.Errorf("bento.get of a missing key: attributes = %v; want bento.hit false, bento.layer none", byName(t, spans, "bento.get").Attributes())
	}
}

func TestTracing_FactoryError(t *testing.T) {
	b, rec, _ := setup(t, false)
	c := b.Namespace("users")
	boom := errors.New("database down")
	_, err := bento.GetOrSet(t.Context(), c, "user:42", func(context.Context, *bento.FactoryContext[point]) (point, error) {
		return point{}, boom
	})
	if !errors.Is(err, boom) {
		t.Fatalf("GetOrSet = %v; want the factory's error", err)
	}
	spans := rec.Ended()
	for _, name := range []string{"bento.factory", "bento.get_or_set"} {
		s := byName(t, spans, name)
		if s.Status().Code != codes.Error || !strings.Contains(s.Status().Description, "database down") {
			t.Errorf("span %s status = %v; want Error with the factory's message", name, s.Status())
		}
		if !slices.ContainsFunc(s.Events(), func(e sdktrace.Event) bool { return e.Name == "exception" }) {
			t.Errorf("span %s has no exception event (RecordError)", name)
		}
	}
}

func TestTracing_Keys(t *testing.T) {
	for _, tt := range []struct {
		name string
		opts []otelbento.Option
		want bool
	}{
		{"Default", nil, false},
		{"WithKeys", []otelbento.Option{otelbento.WithKeys()}, true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			b, rec, _ := setup(t, false, tt.opts...)
			c := b.Namespace("users")
			if _, err := bento.GetOrSet(t.Context(), c, "user:42", pointFactory); err != nil {
				t.Fatal(err)
			}
			if _, err := bento.GetOrSetMany(t.Context(), c, []string{"a", "b"}, func(_ context.Context, keys []string) (map[string]point, error) {
				return map[string]point{"a": {}, "b": {}}, nil
			}); err != nil {
				t.Fatal(err)
			}
			spans := rec.Ended()
			if len(spans) == 0 {
				t.Fatal("no spans")
			}
			for _, s := range spans {
				a := attrs(s)
				_, key := a["bento.key"]
				_, keys := a["bento.keys"]
				if key || keys {
					if !tt.want {
						t.Errorf("span %s records keys (%v) without WithKeys", s.Name(), s.Attributes())
					}
					continue
				}
				if tt.want {
					t.Errorf("span %s records no key with WithKeys: %v", s.Name(), s.Attributes())
				}
			}
			if tt.want {
				if got := attrs(byName(t, spans, "bento.get_or_set"))["bento.key"].AsString(); got != "user:42" {
					t.Errorf("bento.get_or_set bento.key = %q; want user:42", got)
				}
				if got := attrs(byName(t, spans, "bento.get_or_set_many"))["bento.keys"].AsStringSlice(); !slices.Equal(got, []string{"a", "b"}) {
					t.Errorf("bento.get_or_set_many bento.keys = %q; want [a b]", got)
				}
			}
		})
	}
}

func TestTracing_GetMany(t *testing.T) {
	b, rec, _ := setup(t, false)
	c := b.Namespace("users")
	if err := c.Set(t.Context(), "a", point{}); err != nil {
		t.Fatal(err)
	}
	rec.Reset()
	if _, err := bento.GetMany[point](t.Context(), c, []string{"a"}); err != nil {
		t.Fatal(err)
	}
	if n := len(rec.Ended()); n != 0 {
		t.Errorf("a GetMany of L1 hits made %d spans; want none", n)
	}
	if _, err := bento.GetMany[point](t.Context(), c, []string{"a", "b"}); err != nil {
		t.Fatal(err)
	}
	spans := rec.Ended()
	if got, want := names(spans), []string{"bento.get_many", "bento.l2_read"}; !slices.Equal(got, want) {
		t.Fatalf("spans = %q; want %q", got, want)
	}
	a := attrs(byName(t, spans, "bento.get_many"))
	if a["bento.hits"].AsInt64() != 1 || a["bento.misses"].AsInt64() != 1 {
		t.Errorf("bento.get_many attributes = %v; want bento.hits 1, bento.misses 1", byName(t, spans, "bento.get_many").Attributes())
	}
}

// TestMetrics: the instruments report what the Prometheus collector does.
func TestMetrics(t *testing.T) {
	b, _, reader := setup(t, false)
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

	var rm metricdata.ResourceMetrics
	if err := reader.Collect(ctx, &rm); err != nil {
		t.Fatal(err)
	}
	otelPoints := make(map[string]float64) // "name{k=v,…}" → value, as the Prometheus series are named
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			name := "bento_" + strings.NewReplacer(".", "_").Replace(strings.TrimPrefix(m.Name, "bento."))
			switch d := m.Data.(type) {
			case metricdata.Sum[int64]:
				for _, p := range d.DataPoints {
					otelPoints[series(name+"_total", p.Attributes)] = float64(p.Value)
				}
			case metricdata.Gauge[int64]:
				for _, p := range d.DataPoints {
					otelPoints[series(name, p.Attributes)] = float64(p.Value)
				}
			case metricdata.Histogram[float64]:
				for _, p := range d.DataPoints {
					otelPoints[series(name+"_seconds_count", p.Attributes)] = float64(p.Count)
				}
			}
		}
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(b.Collector())
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	promPoints := make(map[string]float64)
	for _, f := range families {
		for _, m := range f.Metric {
			var labels []string
			for _, l := range m.Label {
				labels = append(labels, l.GetName()+"="+l.GetValue())
			}
			slices.Sort(labels)
			key := f.GetName() + "{" + strings.Join(labels, ",") + "}"
			switch f.GetType() {
			case dto.MetricType_COUNTER:
				promPoints[key] = m.Counter.GetValue()
			case dto.MetricType_GAUGE:
				promPoints[key] = m.Gauge.GetValue()
			case dto.MetricType_HISTOGRAM:
				promPoints[strings.Replace(key, "{", "_count{", 1)] = float64(m.Histogram.GetSampleCount())
			}
		}
	}
	for k, v := range promPoints {
		if k == "bento_l1_size_bytes{store=main}" { // bento.l1.size (unit By): the exporter adds _bytes
			k = "bento_l1_size{store=main}"
		}
		got, ok := otelPoints[k]
		if !ok {
			t.Errorf("Prometheus series %s = %v has no OpenTelemetry data point", k, v)
			continue
		}
		if got != v {
			t.Errorf("OpenTelemetry %s = %v; Prometheus has %v", k, got, v)
		}
	}
	if len(otelPoints) != len(promPoints) {
		t.Errorf("OpenTelemetry has %d data points, Prometheus %d series:\notel: %v\nprom: %v", len(otelPoints), len(promPoints), otelPoints, promPoints)
	}
	if got := otelPoints["bento_hits_total{graced=false,layer=l1,store=main}"]; got != 3 {
		t.Errorf("bento.hits{l1, not graced} = %v; want 3", got)
	}
}

// series names a data point as the Prometheus test does: name{k=v,…}, the
// bento.* attribute keys as their Prometheus labels.
func series(name string, set attribute.Set) string {
	var labels []string
	for _, kv := range set.ToSlice() {
		labels = append(labels, strings.TrimPrefix(string(kv.Key), "bento.")+"="+kv.Value.Emit())
	}
	slices.Sort(labels)
	return name + "{" + strings.Join(labels, ",") + "}"
}

// TestRootLinksNoOpenTelemetry: a program that uses bento without this
// package links none of OpenTelemetry.
func TestRootLinksNoOpenTelemetry(t *testing.T) {
	if testing.Short() {
		t.Skip("runs go list")
	}
	out, err := exec.CommandContext(t.Context(), "go", "list", "-deps", "github.com/bentocache/bento").CombinedOutput()
	if err != nil {
		t.Fatalf("go list -deps github.com/bentocache/bento: %v\n%s", err, out)
	}
	for dep := range strings.Lines(string(out)) {
		if strings.HasPrefix(dep, "go.opentelemetry.io/") {
			t.Errorf("package bento depends on %s; want no OpenTelemetry package", strings.TrimSpace(dep))
		}
	}
}

func TestTracing_Graced(t *testing.T) {
	b, rec, _ := setup(t, false)
	c := b.Namespace("users")
	ctx := t.Context()
	if err := c.Set(ctx, "user:42", point{1, 2}, bento.Grace(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if err := c.Expire(ctx, "user:42", bento.Grace(time.Hour)); err != nil {
		t.Fatal(err)
	}
	rec.Reset()
	refreshed := make(chan struct{})
	v, err := bento.GetOrSet(ctx, c, "user:42", func(context.Context, *bento.FactoryContext[point]) (point, error) {
		defer close(refreshed)
		return point{3, 4}, nil
	}, bento.Grace(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if v != (point{1, 2}) {
		t.Errorf("GetOrSet of a stale value under grace = %v; want the stale %v", v, point{1, 2})
	}
	<-refreshed // the background refresh ran
	if a := attrs(byName(t, rec.Ended(), "bento.l2_read")); a["bento.graced"].Emit() != "true" {
		t.Errorf("bento.l2_read of a stale entry: bento.graced = %q; want true", a["bento.graced"].Emit())
	}
	a := attrs(byName(t, rec.Ended(), "bento.get_or_set"))
	// L2's stale value comes before L1's.
	for k, want := range map[attribute.Key]string{"bento.layer": "l2", "bento.hit": "true", "bento.graced": "true"} {
		if got := a[k].Emit(); got != want {
			t.Errorf("bento.get_or_set of a stale value under grace: %s = %q; want %q", k, got, want)
		}
	}
}
