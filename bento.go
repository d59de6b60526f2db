// Package bento is a multi-tier cache: one API (GetOrSet, Get, Set, Delete,
// Expire, tags, namespaces) over stores that stack an in-process L1, a shared
// L2 and a bus that keeps every instance's L1 coherent.
//
// A [Bento] manager holds named stores. Each store is built with [NewStore]
// from drivers that implement the contracts of driver.go ([L1Driver],
// [L2Driver], [Bus], [Serializer]); the built-in ones live under modules/.
// Reads go L1, then L2, then the factory, with grace periods
// (stale-while-revalidate), soft and hard timeouts and stampede protection.
//
//	b, err := bento.New(bento.Config{
//		Stores: map[string]*bento.Store{
//			"main": bento.NewStore(bento.TTL(time.Hour)).UseL1(memory.New(memory.Options{})),
//		},
//	})
//	users := b.Namespace("users")
//	u, err := bento.GetOrSet(ctx, users, "42", loadUser)
package bento

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"github.com/bentocache/bento/internal/clock"
)

// Config configures a manager built by [New].
type Config struct {
	// Stores maps each store's name to its definition. At least one is needed.
	Stores map[string]*Store
	// Default names the store that [Bento.Default] and [Bento.Namespace] use.
	// It may be empty when there is exactly one store.
	Default string
	// Options are the manager-wide defaults; a store's own options and then a
	// call's override them.
	Options []Option
	// Logger receives bento's logs, one child logger per store. Nil: no logs.
	Logger *zap.Logger

	// statsFor, set by the Caddy app, gives each store the totals it
	// carries over from the previous config.
	statsFor func(store string) *storeStats
}

// Bento is the manager: it owns the stores, their drivers and their
// background work. It is safe for concurrent use.
type Bento struct {
	stores map[string]*store
	def    *store
	events listeners
	logger *zap.Logger
	clock  *clock.Clock

	statsFor func(store string) *storeStats
	tracer   atomic.Pointer[Tracer] // nil: no tracing (see SetTracer)

	started []*store // in start order, for abort
	closers []func() // run last by Close (LoadJSON's module context)

	ctx    context.Context // ends at Close: background work stops
	cancel context.CancelFunc
	wg     sync.WaitGroup
	bgMu   sync.RWMutex // orders goBackground's wg.Add before Close's wg.Wait
	closed atomic.Bool
}

// New builds a manager from cfg. It validates every store's options and
// drivers (calling Validate where a driver has it) and subscribes the stores
// that have a bus. An error names the store and the layer at fault.
func New(cfg Config) (*Bento, error) {
	if len(cfg.Stores) == 0 {
		return nil, errors.New("bento: config has no stores")
	}
	logger := cfg.Logger
	if logger == nil {
		logger = zap.NewNop()
	}
	base := defaultOptions()
	if o := base.with(cfg.Options); o.err != nil {
		return nil, fmt.Errorf("bento: manager options: %w", o.err)
	} else if o.channelSet {
		return nil, errors.New("bento: manager options: option BusChannel applies to one store: at manager scope every store would share one channel")
	} else {
		base = *o
	}

	ctx, cancel := context.WithCancel(context.Background())
	b := &Bento{
		stores: make(map[string]*store, len(cfg.Stores)),
		logger: logger,
		clock:  clock.New(time.Millisecond, time.Second),

		statsFor: cfg.statsFor,
		ctx:      ctx,
		cancel:   cancel,
	}
	names := slices.Sorted(maps.Keys(cfg.Stores))
	for _, name := range names {
		st, err := newStore(b, name, cfg.Stores[name], &base)
		if err != nil {
			b.abort()
			return nil, err
		}
		b.stores[name] = st
		b.started = append(b.started, st)
	}
	switch {
	case cfg.Default != "":
		b.def = b.stores[cfg.Default]
		if b.def == nil {
			b.abort()
			return nil, fmt.Errorf("bento: default store %q is not among the stores %q", cfg.Default, names)
		}
	case len(names) == 1:
		b.def = b.stores[names[0]]
	default:
		b.abort()
		return nil, fmt.Errorf("bento: config has %d stores %q and names no default", len(names), names)
	}
	for _, name := range names {
		if err := b.stores[name].start(); err != nil {
			b.abort()
			return nil, err
		}
	}
	return b, nil
}

// abort undoes a New that failed half-way, without closing the drivers the
// user may still want to use: it unsubscribes the buses it subscribed and
// releases the *Store values so that a corrected config can use them again.
func (b *Bento) abort() {
	b.cancel()
	b.wg.Wait()
	for _, st := range b.started {
		if st.bus != nil && st.bus.subscribed {
			ctx, cancel := context.WithTimeout(context.Background(), closeTimeout)
			_ = st.bus.bus.Unsubscribe(ctx, st.bus.channel)
			cancel()
		}
		st.def.claimed.Store(false)
	}
	b.clock.Stop()
}

// Default returns the root of the default store.
func (b *Bento) Default() *Cache { return b.def.root }

// Namespace returns the namespace name of the default store; see
// [Cache.Namespace].
func (b *Bento) Namespace(name string) *Cache { return b.def.root.Namespace(name) }

// Use returns the root of the store called name. An unknown name is an error
// wrapping [ErrUnknownStore].
func (b *Bento) Use(name string) (*Cache, error) {
	st := b.stores[name]
	if st == nil {
		return nil, fmt.Errorf("%w %q (stores: %q)", ErrUnknownStore, name, b.Stores())
	}
	return st.root, nil
}

// Stores returns the names of the stores, sorted.
func (b *Bento) Stores() []string {
	return slices.Sorted(maps.Keys(b.stores))
}

// On registers f to receive every [Event] of every store, and returns a
// function that unregisters it.
func (b *Bento) On(f func(Event)) (off func()) { return b.events.add(f) }

// Close stops background work (refreshes, bus retries), waits for it, and
// disconnects every store's drivers. Drivers close only what they opened, never
// a client the user handed to them. Calling Close twice is fine.
func (b *Bento) Close() error {
	b.bgMu.Lock()
	if !b.closed.CompareAndSwap(false, true) {
		b.bgMu.Unlock()
		return nil
	}
	b.bgMu.Unlock()
	b.cancel()
	b.wg.Wait()
	var errs []error
	for _, name := range b.Stores() {
		if err := b.stores[name].close(); err != nil {
			errs = append(errs, err)
		}
	}
	b.clock.Stop()
	for _, f := range b.closers {
		f()
	}
	return errors.Join(errs...)
}

// now is the manager's time in unix milliseconds, read from a coarse clock so
// that hot paths do not pay for the precise time.
func (b *Bento) now() int64 { return b.clock.NowMilli() }

// goBackground runs f on a goroutine that Close waits for. After Close it
// runs nothing and reports false.
func (b *Bento) goBackground(f func()) bool {
	b.bgMu.RLock()
	defer b.bgMu.RUnlock()
	if b.closed.Load() {
		return false
	}
	b.wg.Add(1)
	go func() {
		defer b.wg.Done()
		f()
	}()
	return true
}

// detach returns a context that keeps ctx's values but not its cancellation,
// and ends when the manager closes: for work that outlives its caller.
func (b *Bento) detach(ctx context.Context) (context.Context, context.CancelFunc) {
	dctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	stop := context.AfterFunc(b.ctx, cancel)
	return dctx, func() {
		stop()
		cancel()
	}
}
