package bento_test

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/bentocache/bento"
	"github.com/bentocache/bento/internal/mapstore"
)

// slowL2 counts L2 Gets and makes each one take a while, so that callers
// overlap; with a gate, the first Get also waits for the gate to open after
// reading, holding what it read.
type slowL2 struct {
	bento.L2Driver
	s *slowState
}

type slowState struct {
	gets atomic.Int64
	gate chan struct{} // nil: no gate
	held atomic.Bool   // the first Get has taken the gate
}

func (g slowL2) Get(ctx context.Context, key string) ([]byte, bool, error) {
	g.s.gets.Add(1)
	v, ok, err := g.L2Driver.Get(ctx, key)
	if g.s.gate != nil && g.s.held.CompareAndSwap(false, true) {
		<-g.s.gate
	}
	time.Sleep(time.Millisecond) // a round trip: later callers arrive meanwhile
	return v, ok, err
}

func (g slowL2) Namespace(ns string) bento.L2Driver {
	return slowL2{L2Driver: g.L2Driver.Namespace(ns), s: g.s}
}

// TestGetOrSet_StampedeReadsL2Once pins that N callers on a key that L1
// misses share one L2 read: a stampede costs one round trip before the
// factory, not one per caller.
func TestGetOrSet_StampedeReadsL2Once(t *testing.T) {
	const callers = 1000
	synctest.Test(t, func(t *testing.T) {
		l2 := slowL2{L2Driver: mapstore.NewL2(mapstore.L2Options{}), s: &slowState{}}
		b := newBento(t, bento.NewStore().UseL1(newL1()).UseL2(l2))
		defer b.Close()
		c := b.Default()
		var runs atomic.Int32
		factory := func(ctx context.Context, fc *bento.FactoryContext[int]) (int, error) {
			runs.Add(1)
			time.Sleep(10 * time.Millisecond)
			return 42, nil
		}
		var wg sync.WaitGroup
		var bad atomic.Int32
		for range callers {
			wg.Go(func() {
				if v, err := bento.GetOrSet(t.Context(), c, "hot", factory); err != nil || v != 42 {
					bad.Add(1)
				}
			})
		}
		wg.Wait()
		if n := l2.s.gets.Load(); n != 1 {
			t.Errorf("%d callers made %d L2 Gets; want 1", callers, n)
		}
		if n := runs.Load(); n != 1 {
			t.Errorf("factory ran %d times; want 1", n)
		}
		if n := bad.Load(); n != 0 {
			t.Errorf("%d callers did not get 42", n)
		}
	})
}

// TestGet_SharedReadNeverCrossesAWrite pins read-your-writes: a caller that
// reads after its own Set never shares an L2 read that began before it.
func TestGet_SharedReadNeverCrossesAWrite(t *testing.T) {
	for _, write := range []struct {
		name string
		do   func(ctx context.Context, c *bento.Cache) error
		want string
		ok   bool
	}{
		{"Set", func(ctx context.Context, c *bento.Cache) error { return c.Set(ctx, "k", "new") }, "new", true},
		{"Delete", func(ctx context.Context, c *bento.Cache) error { _, err := c.Delete(ctx, "k"); return err }, "", false},
		{"Clear", func(ctx context.Context, c *bento.Cache) error { return c.Clear(ctx) }, "", false},
	} {
		t.Run(write.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				l2 := slowL2{L2Driver: mapstore.NewL2(mapstore.L2Options{}), s: &slowState{gate: make(chan struct{})}}
				b := newBento(t, bento.NewStore().UseL2(l2)) // L2 only: every Get reads L2
				defer b.Close()
				c := b.Default()
				ctx := t.Context()
				if err := c.Set(ctx, "k", "old"); err != nil {
					t.Fatal(err)
				}
				early := make(chan string)
				go func() {
					v, _, _ := bento.Get[string](ctx, c, "k") // reads "old", then waits at the gate
					early <- v
				}()
				synctest.Wait()
				if err := write.do(ctx, c); err != nil {
					t.Fatal(err)
				}
				v, ok, err := bento.Get[string](ctx, c, "k")
				if err != nil || v != write.want || ok != write.ok {
					t.Errorf("Get after %s = %q, %v, %v; want %q, %v, <nil>", write.name, v, ok, err, write.want, write.ok)
				}
				close(l2.s.gate)
				if v := <-early; v != "old" {
					t.Errorf("the read begun before the write = %q; want \"old\"", v)
				}
			})
		})
	}
}
