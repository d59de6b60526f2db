package bento_test

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/bentocache/bento"
	"github.com/bentocache/bento/internal/mapstore"
	"github.com/bentocache/bento/modules/drivers/memory"
)

// layers names the store shapes that most behaviours must hold for.
var layers = []struct {
	name  string
	store func() *bento.Store
}{
	{"L1", func() *bento.Store { return bento.NewStore().UseL1(memory.New(memory.Options{})) }},
	{"L2", func() *bento.Store { return bento.NewStore().UseL2(mapstore.NewL2(mapstore.L2Options{})) }},
	{"L1L2", func() *bento.Store {
		return bento.NewStore().UseL1(memory.New(memory.Options{})).UseL2(mapstore.NewL2(mapstore.L2Options{}))
	}},
}

// newBento builds a one-store manager (store "main") with manager options
// opts, closed when the test ends. Inside a synctest bubble, close it before
// the bubble's function returns (defer b.Close()).
func newBento(t *testing.T, st *bento.Store, opts ...bento.Option) *bento.Bento {
	t.Helper()
	b, err := bento.New(bento.Config{Stores: map[string]*bento.Store{"main": st}, Options: opts})
	if err != nil {
		t.Fatalf("bento.New: %v", err)
	}
	t.Cleanup(func() { _ = b.Close() })
	return b
}

// recorder collects events.
type recorder struct {
	mu     sync.Mutex
	events []bento.Event
}

func record(b *bento.Bento) *recorder {
	r := &recorder{}
	b.On(func(e bento.Event) {
		r.mu.Lock()
		r.events = append(r.events, e)
		r.mu.Unlock()
	})
	return r
}

func (r *recorder) count(kind bento.EventKind, pred func(bento.Event) bool) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for _, e := range r.events {
		if e.Kind == kind && (pred == nil || pred(e)) {
			n++
		}
	}
	return n
}

func (r *recorder) reset() {
	r.mu.Lock()
	r.events = nil
	r.mu.Unlock()
}

// constant returns a factory of v that counts its runs.
func constant[T any](v T, runs *atomic.Int32) bento.Factory[T] {
	return func(context.Context, *bento.FactoryContext[T]) (T, error) {
		runs.Add(1)
		return v, nil
	}
}

func newL1() bento.L1Driver { return memory.New(memory.Options{}) }

func newL1WithMaxItems(n int) bento.L1Driver { return memory.New(memory.Options{MaxItems: n}) }
