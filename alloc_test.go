package bento_test

import (
	"testing"

	"github.com/bentocache/bento"
)

// TestGetOrSet_L1HitAllocatesNothing pins the hot path: an L1 hit of a value
// type allocates nothing (no key building, no boxing, no event when nobody
// listens).
func TestGetOrSet_L1HitAllocatesNothing(t *testing.T) {
	b := newBento(t, layers[2].store())
	c := b.Namespace("users")
	ctx := t.Context()
	if _, err := bento.GetOrSet(ctx, c, "user:42", pointFactory); err != nil {
		t.Fatal(err)
	}
	allocs := testing.AllocsPerRun(1000, func() {
		if _, err := bento.GetOrSet(ctx, c, "user:42", pointFactory); err != nil {
			t.Fatal(err)
		}
	})
	if allocs != 0 {
		t.Errorf("GetOrSet L1 hit of a struct allocates %v times per call; want 0", allocs)
	}
}
