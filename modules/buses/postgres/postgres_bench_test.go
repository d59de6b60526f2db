package postgres

import (
	"slices"
	"testing"
	"time"

	"github.com/bentocache/bento/internal/testenv"
)

// BenchmarkRoundTrip measures the latency from Publish to the handler's
// call for a small message (the size of a one-key invalidation), one
// message at a time, with the publisher and the subscriber on separate
// buses. Besides ns/op it reports the median and the 99th percentile.
func BenchmarkRoundTrip(b *testing.B) {
	dsn := testenv.Postgres(b)
	for _, publisher := range []string{"own", "pool"} {
		b.Run("publisher="+publisher, func(b *testing.B) {
			o := Options{DSN: dsn}
			if publisher == "pool" {
				o.Pool = newConnPool(b, dsn, 2)
			}
			pub, sub := newBus(b, o), newBus(b, Options{DSN: dsn})
			ch := testenv.Prefix(b)
			got := make(chan struct{}, 1)
			if err := sub.Subscribe(b.Context(), ch, func([]byte) { got <- struct{}{} }); err != nil {
				b.Fatalf("Subscribe(ctx, %q, handler) = %v", ch, err)
			}
			payload := []byte("\x01\x01\x10a1b2c3d4e5f60718\x00\x05users\x00\x01\x00\x0cuser:1234567\x00\x00\x01\x93\x2a\x4b\x5c\x6d")
			latencies := make([]time.Duration, 0, 1024)
			b.ReportAllocs()
			for b.Loop() {
				start := time.Now()
				if err := pub.Publish(b.Context(), ch, payload); err != nil {
					b.Fatalf("Publish(ctx, %q, …) = %v", ch, err)
				}
				select {
				case <-got:
				case <-time.After(waitTimeout):
					b.Fatalf("no delivery within %v", waitTimeout)
				}
				latencies = append(latencies, time.Since(start))
			}
			slices.Sort(latencies)
			b.ReportMetric(float64(percentile(latencies, 50).Nanoseconds()), "p50-ns")
			b.ReportMetric(float64(percentile(latencies, 99).Nanoseconds()), "p99-ns")
		})
	}
}

// percentile returns the p-th percentile of sorted durations.
func percentile(sorted []time.Duration, p int) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	return sorted[min(len(sorted)-1, len(sorted)*p/100)]
}
