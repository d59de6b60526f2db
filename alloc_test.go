package bento_test

import (
	"testing"
	"time"

	"github.com/bentocache/bento"
)

// TestL1HitAllocatesNothing pins the hot path: an L1 hit of a value type
// allocates nothing (no key building, no boxing, no event when nobody
// listens), with or without per-call options, through GetOrSet and Get.
func TestL1HitAllocatesNothing(t *testing.T) {
	b := newBento(t, layers[2].store())
	c := b.Namespace("users")
	ctx := t.Context()
	if _, err := bento.GetOrSet(ctx, c, "user:42", pointFactory); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		read func() error
	}{
		{"GetOrSet", func() error {
			_, err := bento.GetOrSet(ctx, c, "user:42", pointFactory)
			return err
		}},
		{"GetOrSet/options", func() error {
			_, err := bento.GetOrSet(ctx, c, "user:42", pointFactory, bento.TTL(time.Minute), bento.Grace(time.Hour), bento.Timeout(time.Second))
			return err
		}},
		{"GetOrSet/eager+jitter", func() error {
			_, err := bento.GetOrSet(ctx, c, "user:42", pointFactory, bento.EagerRefresh(0.9), bento.Jitter(time.Minute))
			return err
		}},
		{"Get", func() error {
			_, _, err := bento.Get[point](ctx, c, "user:42")
			return err
		}},
		{"Get/options", func() error {
			_, _, err := bento.Get[point](ctx, c, "user:42", bento.Grace(time.Hour))
			return err
		}},
	} {
		allocs := testing.AllocsPerRun(1000, func() {
			if err := tc.read(); err != nil {
				t.Fatal(err)
			}
		})
		if allocs != 0 {
			t.Errorf("%s: an L1 hit of a struct allocates %v times per call; want 0", tc.name, allocs)
		}
	}
}
