package drivertest

import (
	"fmt"
	"math"
	"testing"
	"time"
)

// extremeTTLs are lifetimes past what most backends can store: a hundred
// thousand days (a UnixNano past the year 2262), the largest Duration in
// hours, and the largest Duration. A driver stores each as forever, or as a
// lifetime at least as long as it can hold — never as an error or an entry
// that is gone at once.
var extremeTTLs = []time.Duration{100_000 * 24 * time.Hour, 2_562_047 * time.Hour, math.MaxInt64}

// l2SetExtremeTTL: an entry set with an extreme lifetime is there.
func l2SetExtremeTTL(t *testing.T, e *l2Env) {
	c := e.driver(t, "")
	for i, ttl := range extremeTTLs {
		key := fmt.Sprintf("extreme%d", i)
		c.setS(key, "v", ttl)
		c.getS(key, "v", fmt.Sprintf("after Set with a ttl of %v", ttl))
		c.has(key, true, fmt.Sprintf("after Set with a ttl of %v", ttl))
	}
}

// l1SetExtremeTTL: an entry set with an extreme lifetime is there, with a
// remaining lifetime that is positive or "forever".
func l1SetExtremeTTL(t *testing.T, e *l1Env) {
	c := e.driver(t, "")
	for i, ttl := range extremeTTLs {
		key := fmt.Sprintf("extreme%d", i)
		c.set(key, "v", ttl)
		c.get(key, "v", fmt.Sprintf("after Set with a ttl of %v", ttl))
		if left, found := c.d.RemainingTTL(key); !found || left < 0 {
			t.Errorf("RemainingTTL(%q) after Set with a ttl of %v = %v, %t; want a positive lifetime or 0 (forever)", key, ttl, left, found)
		}
	}
}
