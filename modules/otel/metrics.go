package otelbento

import (
	"context"
	"errors"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"

	"github.com/bentocache/bento"
)

// The instruments' names: those of the Prometheus metrics, dotted, without
// the _total suffix the exporter adds.
const (
	MetricHits         = "bento.hits"
	MetricMisses       = "bento.misses"
	MetricWrites       = "bento.writes"
	MetricDeletes      = "bento.deletes"
	MetricExpires      = "bento.expires"
	MetricClears       = "bento.clears"
	MetricFactoryCalls = "bento.factory.calls"
	MetricL2Errors     = "bento.l2.errors"
	MetricL2Circuit    = "bento.l2.circuit_open"
	MetricBusMessages  = "bento.bus.messages"
	MetricBusQueue     = "bento.bus.queue_length"
	MetricL1Entries    = "bento.l1.entries"
	MetricL1Size       = "bento.l1.size"
	MetricL1Evictions  = "bento.l1.evictions"
)

// registerMetrics creates the observable instruments of b and the callback
// that reads them from [bento.Bento.Stats].
func registerMetrics(b *bento.Bento, m metric.Meter) (metric.Registration, error) {
	var errs []error
	counter := func(name, desc string) metric.Int64ObservableCounter {
		c, err := m.Int64ObservableCounter(name, metric.WithDescription(desc), metric.WithUnit("{"+unitOf(name)+"}"))
		errs = append(errs, err)
		return c
	}
	gauge := func(name, desc, unit string) metric.Int64ObservableGauge {
		g, err := m.Int64ObservableGauge(name, metric.WithDescription(desc), metric.WithUnit(unit))
		errs = append(errs, err)
		return g
	}
	hits := counter(MetricHits, "Reads that found a value, by layer and whether it was served stale (graced).")
	misses := counter(MetricMisses, "Reads that found no usable value.")
	writes := counter(MetricWrites, "Values written (Set, a factory's value, a batch's entries).")
	deletes := counter(MetricDeletes, "Keys deleted (Delete, DeleteMany, Pull).")
	expires := counter(MetricExpires, "Keys made stale by Expire.")
	clears := counter(MetricClears, "Namespaces cleared.")
	factory := counter(MetricFactoryCalls, "Factory runs by result (ok, error, skipped), and callers that stopped waiting for one (soft_timeout, hard_timeout).")
	l2Errors := counter(MetricL2Errors, "L2 operations that failed, by operation.")
	circuit := gauge(MetricL2Circuit, "1 while the L2 circuit breaker is open (L2 skipped), else 0.", "1")
	bus := counter(MetricBusMessages, "Bus messages sent (direction out) and applied (in), by result.")
	queue := gauge(MetricBusQueue, "Bus messages waiting in the outbox.", "{message}")
	l1Entries := gauge(MetricL1Entries, "Entries the L1 holds.", "{entry}")
	l1Size := gauge(MetricL1Size, "Bytes the L1 holds, as its driver weighs entries.", "By")
	l1Evictions := counter(MetricL1Evictions, "Entries the L1 evicted to stay within its bounds.")
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	layers := [2]string{"l1", "l2"}
	return m.RegisterCallback(func(_ context.Context, o metric.Observer) error {
		for _, name := range b.Stores() {
			s, ok := b.Stats(name)
			if !ok {
				continue
			}
			store := AttrStore.String(name)
			count := func(c metric.Int64ObservableCounter, v uint64, attrs ...attribute.KeyValue) {
				o.ObserveInt64(c, int64(v), metric.WithAttributes(append(attrs, store)...))
			}
			for l := range s.Hits {
				for g := range s.Hits[l] {
					count(hits, s.Hits[l][g], AttrLayer.String(layers[l]), AttrGraced.Bool(g == 1))
				}
			}
			count(misses, s.Misses)
			count(writes, s.Writes)
			count(deletes, s.Deletes)
			count(expires, s.Expires)
			count(clears, s.Clears)
			for r, v := range s.FactoryCalls {
				count(factory, v, attribute.String("result", r))
			}
			if s.HasL2 {
				for op, v := range s.L2Errors {
					count(l2Errors, v, attribute.String("op", op))
				}
				open := int64(0)
				if s.L2CircuitOpen {
					open = 1
				}
				o.ObserveInt64(circuit, open, metric.WithAttributes(store))
			}
			if s.HasBus {
				count(bus, s.BusOutOK, attribute.String("direction", "out"), attribute.String("result", "ok"))
				count(bus, s.BusOutError, attribute.String("direction", "out"), attribute.String("result", "error"))
				count(bus, s.BusInOK, attribute.String("direction", "in"), attribute.String("result", "ok"))
				count(bus, s.BusInMalformed, attribute.String("direction", "in"), attribute.String("result", "malformed"))
				o.ObserveInt64(queue, int64(s.BusQueueLength), metric.WithAttributes(store))
			}
			if s.HasL1Stats {
				o.ObserveInt64(l1Entries, int64(s.L1Entries), metric.WithAttributes(store))
				o.ObserveInt64(l1Size, int64(s.L1SizeBytes), metric.WithAttributes(store))
				count(l1Evictions, s.L1Evicted)
			}
		}
		return nil
	}, hits, misses, writes, deletes, expires, clears, factory, l2Errors, circuit, bus, queue, l1Entries, l1Size, l1Evictions)
}

// unitOf is the annotation unit of a counter: what it counts.
func unitOf(name string) string {
	switch name {
	case MetricHits, MetricMisses:
		return "read"
	case MetricWrites, MetricDeletes, MetricExpires, MetricL1Evictions:
		return "key"
	case MetricClears:
		return "clear"
	case MetricFactoryCalls:
		return "call"
	case MetricL2Errors:
		return "error"
	case MetricBusMessages:
		return "message"
	}
	return "1"
}
