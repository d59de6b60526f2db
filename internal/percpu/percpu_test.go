package percpu

import (
	"sync"
	"testing"
)

// TestCounter: concurrent increments all count.
func TestCounter(t *testing.T) {
	c := New()
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 10_000 {
				c.Inc()
			}
		})
	}
	wg.Wait()
	if n := c.Load(); n != 80_000 {
		t.Errorf("Load after 8 x 10,000 increments = %d; want 80000", n)
	}
}

func BenchmarkInc(b *testing.B) {
	c := New()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			c.Inc()
		}
	})
}
