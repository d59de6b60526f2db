// Package otelbento instruments a bento manager with OpenTelemetry: a span
// for each read that goes past L1, with a child per step (the L2 read, the
// cluster-wide lock wait, the factory, the L2 write), and the manager's
// totals as OpenTelemetry instruments, the numbers of the Prometheus
// collector.
//
// Only a program that imports this package links OpenTelemetry; bento
// itself imports none of it. An L1 hit starts no span and allocates nothing.
// Keys are not recorded unless [WithKeys] asks for them.
//
//	stop, err := otelbento.Instrument(b) // the global providers
//	if err != nil { … }
//	defer stop()
package otelbento

import (
	"context"
	"errors"
	"time"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/trace"

	"github.com/bentocache/bento"
)

// ScopeName is the instrumentation scope of the tracer and the meter.
const ScopeName = "github.com/bentocache/bento/modules/otel"

// The attribute keys of the spans and the instruments.
const (
	AttrStore     = attribute.Key("bento.store")     // the store's name
	AttrNamespace = attribute.Key("bento.namespace") // the namespace's path, "" for the store's root
	AttrLayer     = attribute.Key("bento.layer")     // l1, l2 or none: where the value came from
	AttrHit       = attribute.Key("bento.hit")       // a layer had the value
	AttrGraced    = attribute.Key("bento.graced")    // the value was stale, served under grace
	AttrHits      = attribute.Key("bento.hits")      // a batch: keys a layer served
	AttrMisses    = attribute.Key("bento.misses")    // a batch: keys no layer served
	AttrKey       = attribute.Key("bento.key")       // the key, with WithKeys only
	AttrKeys      = attribute.Key("bento.keys")      // a batch's keys, with WithKeys only
)

// An Option configures [Instrument].
type Option func(*config)

type config struct {
	tp      trace.TracerProvider
	mp      metric.MeterProvider
	keys    bool
	tracing bool
	metrics bool
}

// WithTracerProvider makes the spans come from tp. Default: the global
// provider (otel.GetTracerProvider), as it is when Instrument runs.
func WithTracerProvider(tp trace.TracerProvider) Option { return func(c *config) { c.tp = tp } }

// WithMeterProvider makes the instruments come from mp. Default: the global
// provider (otel.GetMeterProvider), as it is when Instrument runs.
func WithMeterProvider(mp metric.MeterProvider) Option { return func(c *config) { c.mp = mp } }

// WithKeys records the key (bento.key) or the keys of a batch (bento.keys)
// on every span.
//
// WARNING: keys may carry personal data (an e-mail, a session), and a batch's
// keys make big spans. Default: no key is recorded.
func WithKeys() Option { return func(c *config) { c.keys = true } }

// WithoutTracing instruments the metrics only.
func WithoutTracing() Option { return func(c *config) { c.tracing = false } }

// WithoutMetrics instruments the traces only.
func WithoutMetrics() Option { return func(c *config) { c.metrics = false } }

// Instrument sets a tracer on b (see [bento.Bento.SetTracer]) and registers
// its instruments on the meter provider. stop removes both; call it before
// instrumenting b again, and not after b is closed.
func Instrument(b *bento.Bento, opts ...Option) (stop func() error, err error) {
	c := config{tracing: true, metrics: true}
	for _, o := range opts {
		o(&c)
	}
	if c.tp == nil {
		c.tp = otel.GetTracerProvider()
	}
	if c.mp == nil {
		c.mp = otel.GetMeterProvider()
	}
	meter := c.mp.Meter(ScopeName)
	var reg metric.Registration
	var duration metric.Float64Histogram
	if c.metrics {
		if reg, err = registerMetrics(b, meter); err != nil {
			return nil, err
		}
		if c.tracing {
			duration, err = meter.Float64Histogram("bento.factory.duration", metric.WithUnit("s"),
				metric.WithDescription("How long factory runs took (measured by the factory span)."),
				metric.WithExplicitBucketBoundaries(factoryBuckets...))
			if err != nil {
				return nil, errors.Join(err, reg.Unregister())
			}
		}
	}
	if c.tracing {
		b.SetTracer(&tracer{tr: c.tp.Tracer(ScopeName), keys: c.keys, duration: duration})
	}
	return func() error {
		if c.tracing {
			b.SetTracer(nil)
		}
		if reg != nil {
			return reg.Unregister()
		}
		return nil
	}, nil
}

// factoryBuckets are the bounds of bento_factory_duration_seconds.
var factoryBuckets = []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30}

// tracer is the bento.Tracer of this package.
type tracer struct {
	tr       trace.Tracer
	keys     bool
	duration metric.Float64Histogram // nil without metrics
}

// spanNames are the span names, by bento.Op.
var spanNames = func() []string {
	names := make([]string, bento.OpL2Write+1)
	for op := range names {
		names[op] = "bento." + bento.Op(op).String()
	}
	return names
}()

func (t *tracer) Start(ctx context.Context, op bento.Op, info bento.SpanInfo) (context.Context, bento.Span) {
	name := "bento.unknown"
	if int(op) < len(spanNames) {
		name = spanNames[op]
	}
	attrs := make([]attribute.KeyValue, 0, 3)
	attrs = append(attrs, AttrStore.String(info.Store), AttrNamespace.String(info.Namespace))
	if t.keys {
		if info.Keys != nil {
			attrs = append(attrs, AttrKeys.StringSlice(info.Keys))
		} else {
			attrs = append(attrs, AttrKey.String(info.Key))
		}
	}
	ctx, s := t.tr.Start(ctx, name, trace.WithSpanKind(trace.SpanKindInternal), trace.WithAttributes(attrs...))
	sp := &span{s: s}
	if op == bento.OpFactory && t.duration != nil {
		sp.duration, sp.store, sp.started = t.duration, info.Store, time.Now()
	}
	return ctx, sp
}

// span is a bento.Span over an OpenTelemetry span.
type span struct {
	s trace.Span
	// A factory span also records its run in the duration histogram.
	duration metric.Float64Histogram
	store    string
	started  time.Time
}

func (sp *span) Found(layer bento.Layer, graced bool) {
	sp.s.SetAttributes(AttrLayer.String(layer.String()), AttrHit.Bool(layer != bento.LayerNone), AttrGraced.Bool(graced))
}

func (sp *span) FoundMany(hits, misses int) {
	sp.s.SetAttributes(AttrHits.Int(hits), AttrMisses.Int(misses))
}

func (sp *span) End(err error) {
	if sp.duration != nil {
		sp.duration.Record(context.Background(), time.Since(sp.started).Seconds(), metric.WithAttributes(AttrStore.String(sp.store)))
	}
	if err != nil {
		sp.s.RecordError(err)
		sp.s.SetStatus(codes.Error, err.Error())
	}
	sp.s.End()
}

// Interface guards
var (
	_ bento.Tracer = (*tracer)(nil)
	_ bento.Span   = (*span)(nil)
)
