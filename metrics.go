package bento

import (
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/bentocache/bento/internal/percpu"
	dto "github.com/prometheus/client_model/go"
)

// A store counts what it does where it happens (see storeStats), once: the
// Prometheus collector, the admin API's counters and the OpenTelemetry
// instruments all read these numbers.

// striped is a counter for the hot path: an increment touches the stripe
// of the processor it runs on (see internal/percpu), so that cores counting
// at once do not fight over one cache line; a read sums the stripes.
type striped struct{ c *percpu.Counter }

func newStriped() striped { return striped{percpu.New()} }

func (s striped) add() { s.c.Inc() }

func (s striped) load() uint64 { return s.c.Load() }

// Factory outcomes, the result label of bento_factory_calls_total.
const (
	factoryOK = iota
	factoryError
	factorySoftTimeout
	factoryHardTimeout
	factorySkipped
	factoryResults
)

var factoryResultNames = [factoryResults]string{"ok", "error", "soft_timeout", "hard_timeout", "skipped"}

// factoryBuckets are the bounds of bento_factory_duration_seconds, from a
// fast cache fill to a slow query.
var factoryBuckets = []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30}

// storeStats are the running totals of one store.
type storeStats struct {
	hits          [2][2]striped // [l2][graced]
	misses        striped
	writes        atomic.Uint64
	deletes       atomic.Uint64
	expires       atomic.Uint64
	clears        atomic.Uint64
	errors        atomic.Uint64 // error events
	factory       [factoryResults]atomic.Uint64
	factoryTime   prometheus.Histogram
	l2Errors      [len(l2Ops)]atomic.Uint64
	busOut, busIn [2]atomic.Uint64 // [0] delivered, [1] failed (out) or malformed (in)
}

// l2Ops are the operations of bento_l2_errors_total's op label.
var l2Ops = [...]string{"get", "get_many", "set", "set_many", "delete", "delete_many", "expire", "clear", "pull", "prune", "other"}

func newStoreStats() *storeStats {
	s := &storeStats{misses: newStriped(), factoryTime: prometheus.NewHistogram(prometheus.HistogramOpts{
		Name: "bento_factory_duration_seconds", Buckets: factoryBuckets,
	})}
	for i := range s.hits {
		for j := range s.hits[i] {
			s.hits[i][j] = newStriped()
		}
	}
	return s
}

// count adds the event e to the totals (hits are counted by hit).
func (s *storeStats) count(e *Event) {
	switch e.Kind {
	case EventMiss:
		s.misses.add()
	case EventWritten:
		s.writes.Add(1)
	case EventDeleted:
		s.deletes.Add(1)
	case EventExpired:
		s.expires.Add(1)
	case EventCleared:
		s.clears.Add(1)
	case EventBusPublished:
		s.busOut[0].Add(1)
	case EventBusReceived:
		s.busIn[0].Add(1)
	case EventError:
		s.errors.Add(1)
	}
}

// hit counts a read that found a value (Cache.hit calls it: hits are not
// counted by count).
func (s *storeStats) hit(layer Layer, graced bool) {
	l2, g := 0, 0
	if layer == LayerL2 {
		l2 = 1
	}
	if graced {
		g = 1
	}
	s.hits[l2][g].add()
}

// l2Failed counts a failed L2 operation.
func (s *storeStats) l2Failed(op string) {
	for i, o := range l2Ops {
		if o == op {
			s.l2Errors[i].Add(1)
			return
		}
	}
	s.l2Errors[len(l2Ops)-1].Add(1)
}

// factoryRan counts a factory run that took d and ended with result.
func (s *storeStats) factoryRan(result int, d time.Duration) {
	s.factory[result].Add(1)
	s.factoryTime.Observe(d.Seconds())
}

// L1Stats is an optional [L1Driver] capability: what the L1 holds, for the
// bento_l1_* metrics. The memory driver has it.
type L1Stats interface {
	// L1Stats returns the entries held, their size in bytes as the driver
	// weighs them (0 when it does not), and the entries evicted so far.
	L1Stats() (entries, sizeBytes, evictions uint64)
}

// metric descriptions: no key and no namespace is ever a label.
var (
	descHits         = desc("bento_hits_total", "Reads that found a value, by layer and whether it was served stale (graced).", "layer", "graced")
	descMisses       = desc("bento_misses_total", "Reads that found no usable value.")
	descWrites       = desc("bento_writes_total", "Values written (Set, a factory's value, a batch's entries).")
	descDeletes      = desc("bento_deletes_total", "Keys deleted (Delete, DeleteMany, Pull).")
	descExpires      = desc("bento_expires_total", "Keys made stale by Expire.")
	descClears       = desc("bento_clears_total", "Namespaces cleared.")
	descFactoryCalls = desc("bento_factory_calls_total", "Factory runs by result (ok, error, skipped), and callers that stopped waiting for one (soft_timeout, hard_timeout).", "result")
	descL2Errors     = desc("bento_l2_errors_total", "L2 operations that failed, by operation.", "op")
	descBreaker      = desc("bento_l2_circuit_open", "1 while the L2 circuit breaker is open (L2 skipped), else 0.")
	descBus          = desc("bento_bus_messages_total", "Bus messages sent (direction out) and applied (in), by result.", "direction", "result")
	descBusQueue     = desc("bento_bus_queue_length", "Bus messages waiting in the outbox.")
	descL1Entries    = desc("bento_l1_entries", "Entries the L1 holds.")
	descL1Size       = desc("bento_l1_size_bytes", "Bytes the L1 holds, as its driver weighs entries.")
	descL1Evictions  = desc("bento_l1_evictions_total", "Entries the L1 evicted to stay within its bounds.")
	descFactoryTime  = desc("bento_factory_duration_seconds", "How long factory runs took.")
)

func desc(name, help string, labels ...string) *prometheus.Desc {
	return prometheus.NewDesc(name, help, append([]string{"store"}, labels...), nil)
}

// collector is the [prometheus.Collector] of a manager.
type collector struct{ b *Bento }

// Collector returns a [prometheus.Collector] of the manager's metrics, one
// set per store (the store label), to register on a Go program's registry:
//
//	prometheus.MustRegister(b.Collector())
//
// The Caddy app registers it on Caddy's own registry, so the metrics show at
// the admin endpoint's /metrics. See docs/observability.md for each metric.
func (b *Bento) Collector() prometheus.Collector { return collector{b} }

func (collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descHits, descMisses, descWrites, descDeletes, descExpires, descClears,
		descFactoryCalls, descL2Errors, descBreaker, descBus, descBusQueue, descL1Entries, descL1Size, descL1Evictions, descFactoryTime} {
		ch <- d
	}
}

func (c collector) Collect(ch chan<- prometheus.Metric) {
	for _, name := range c.b.Stores() {
		s, _ := c.b.Stats(name) // the numbers of Stats, so that every reader sees the same
		counter := func(d *prometheus.Desc, v uint64, labels ...string) {
			ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), append([]string{name}, labels...)...)
		}
		gauge := func(d *prometheus.Desc, v float64, labels ...string) {
			ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, append([]string{name}, labels...)...)
		}
		for l2, layer := range []string{"l1", "l2"} {
			for graced, g := range []string{"false", "true"} {
				counter(descHits, s.Hits[l2][graced], layer, g)
			}
		}
		counter(descMisses, s.Misses)
		counter(descWrites, s.Writes)
		counter(descDeletes, s.Deletes)
		counter(descExpires, s.Expires)
		counter(descClears, s.Clears)
		for _, r := range factoryResultNames {
			counter(descFactoryCalls, s.FactoryCalls[r], r)
		}
		if s.HasL2 {
			for _, op := range l2Ops {
				counter(descL2Errors, s.L2Errors[op], op)
			}
			open := 0.0
			if s.L2CircuitOpen {
				open = 1
			}
			gauge(descBreaker, open)
		}
		if s.HasBus {
			counter(descBus, s.BusOutOK, "out", "ok")
			counter(descBus, s.BusOutError, "out", "error")
			counter(descBus, s.BusInOK, "in", "ok")
			counter(descBus, s.BusInMalformed, "in", "malformed")
			gauge(descBusQueue, float64(s.BusQueueLength))
		}
		if s.HasL1Stats {
			gauge(descL1Entries, float64(s.L1Entries))
			gauge(descL1Size, float64(s.L1SizeBytes))
			counter(descL1Evictions, s.L1Evicted)
		}
		ch <- relabel(c.b.stores[name].stats.factoryTime, descFactoryTime, name)
	}
}

// relabel returns the histogram h as a constant metric of d with the store
// label.
func relabel(h prometheus.Histogram, d *prometheus.Desc, store string) prometheus.Metric {
	var m dto.Metric
	_ = h.Write(&m)
	buckets := make(map[float64]uint64, len(m.Histogram.Bucket))
	for _, b := range m.Histogram.Bucket {
		buckets[b.GetUpperBound()] = b.GetCumulativeCount()
	}
	return prometheus.MustNewConstHistogram(d, m.Histogram.GetSampleCount(), m.Histogram.GetSampleSum(), buckets, store)
}
