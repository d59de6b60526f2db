package bento

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"runtime"
	"sync"
	"sync/atomic"
	"time"
	"weak"

	"go.uber.org/zap"
)

// ErrCircuitOpen is wrapped by the [*L2Error] of a call that skipped L2
// because the store's circuit breaker is open (see [L2CircuitBreaker]).
var ErrCircuitOpen = errors.New("bento: l2 circuit breaker open")

// Store describes one store: its options and the drivers of its layers. Build
// it with [NewStore] and hand it to [New] in [Config.Stores]. A Store belongs to
// the one manager it is given to, which disconnects its drivers on Close.
type Store struct {
	opts       []Option
	l1         L1Driver
	l2         L2Driver
	bus        Bus
	locker     Locker
	serializer Serializer
	claimed    atomic.Bool
}

// NewStore starts the description of a store with its options (they override
// the manager's and are overridden by a call's).
func NewStore(opts ...Option) *Store { return &Store{opts: opts} }

// UseL1 sets the in-process layer.
func (s *Store) UseL1(d L1Driver) *Store { s.l1 = d; return s }

// UseL2 sets the shared layer.
func (s *Store) UseL2(d L2Driver) *Store { s.l2 = d; return s }

// UseBus sets the bus that keeps the L1 of every instance coherent.
func (s *Store) UseBus(b Bus) *Store { s.bus = b; return s }

// UseLocker sets a cluster-wide lock, so that one factory runs per key
// across instances (see [Locker]). It needs an L2, where the holder's value
// reaches the others.
func (s *Store) UseLocker(l Locker) *Store { s.locker = l; return s }

// UseSerializer sets how entries are encoded for L2. Default: [JSON].
func (s *Store) UseSerializer(sz Serializer) *Store { s.serializer = sz; return s }

// store is a Store at work inside a manager.
type store struct {
	def        *Store // as handed to New
	name       string
	b          *Bento
	opts       options
	serializer Serializer
	logger     *zap.Logger

	l1Driver L1Driver // as handed over, for Disconnect
	l2Driver L2Driver
	l1       L1Driver // views under the prefix; nil when the layer is absent
	l2       L2Driver
	encodeL1 bool // the L1 weighs values by their encoded size
	bus      *busLink
	breaker  breaker
	recovery *recovery // failed L2 changes to replay; nil: off, or no L2
	locker   Locker    // nil: stampede protection per instance only
	stats    *storeStats

	// namespaces maps a path to its Cache, weakly: a namespace that no caller
	// holds and that keeps nothing it cannot read again is reclaimed by the
	// garbage collector, so that memory follows the namespaces in use, not
	// every name ever seen. pinned holds the ones that must stay (see pin).
	namespaces sync.Map // path → weak.Pointer[Cache]
	nsMu       sync.Mutex
	pinned     sync.Map // path → *Cache
	root       *Cache

	// lastInvalidation is the unix ms of the last tag invalidation made here;
	// entries created after it get a later createdAt even within the same ms.
	lastInvalidation atomic.Int64

	// clearMu is held by a clear for its whole length and shared by every
	// keep, so that nothing read before a clear is stored after it.
	clearMu sync.RWMutex
}

func newStore(b *Bento, name string, def *Store, base *options) (*store, error) {
	if name == "" {
		return nil, errors.New("bento: a store has an empty name")
	}
	if def == nil {
		return nil, fmt.Errorf("bento: store %q: nil *Store", name)
	}
	if !def.claimed.CompareAndSwap(false, true) {
		return nil, fmt.Errorf("bento: store %q: this *Store is already used by another manager or store", name)
	}
	ok := false
	defer func() {
		if !ok {
			def.claimed.Store(false)
		}
	}()
	if def.l1 == nil && def.l2 == nil {
		return nil, fmt.Errorf("bento: store %q: no layer: use UseL1, UseL2 or both", name)
	}
	o := base.with(def.opts)
	if o.err != nil {
		return nil, fmt.Errorf("bento: store %q: %w", name, o.err)
	}
	st := &store{
		def:        def,
		name:       name,
		b:          b,
		opts:       *o,
		serializer: def.serializer,
		logger:     b.logger.With(zap.String("store", name)),
		l1Driver:   def.l1,
		l2Driver:   def.l2,
	}
	st.opts.storeScoped = ""
	if b.statsFor != nil {
		st.stats = b.statsFor(name)
	} else {
		st.stats = newStoreStats()
	}
	if st.serializer == nil {
		st.serializer = JSON()
	}
	if !st.opts.suppressL2Set {
		st.opts.suppressL2, st.opts.suppressL2Set = def.l1 != nil, true
	}
	st.breaker.span = st.opts.breaker.Milliseconds()
	for _, layer := range []struct {
		name string
		v    any
	}{{"l1", def.l1}, {"l2", def.l2}, {"bus", def.bus}, {"locker", def.locker}, {"serializer", def.serializer}} {
		if v, ok := layer.v.(Validator); ok {
			if err := v.Validate(); err != nil {
				return nil, fmt.Errorf("bento: store %q: %s %T: %w", name, layer.name, layer.v, err)
			}
		}
	}
	if def.l1 != nil {
		st.l1 = def.l1
		if st.opts.prefix != "" {
			st.l1 = def.l1.Namespace(st.opts.prefix)
		}
		if w, ok := def.l1.(WeighedL1); ok {
			st.encodeL1 = w.WeighsValues()
		}
	}
	if def.l2 != nil {
		st.l2 = def.l2
		if st.opts.prefix != "" {
			st.l2 = def.l2.Namespace(st.opts.prefix)
		}
	}
	if def.bus != nil {
		st.bus = newBusLink(st, def.bus)
	}
	if def.locker != nil {
		if def.l2 == nil {
			return nil, fmt.Errorf("bento: store %q: a locker needs an L2, where the lock holder's value reaches the other instances", name)
		}
		st.locker = def.locker
	}
	if def.l2 != nil && st.opts.recoveryQueue > 0 {
		st.recovery = newRecovery(st.opts.recoveryQueue)
	}
	st.root = st.cache("")
	ok = true
	return st, nil
}

// start subscribes the bus, the only step of New that waits for I/O, and
// starts the store's background work: the replay of failed L2 changes and
// one look at whether L2 answers.
func (st *store) start() error {
	if st.recovery != nil {
		st.b.goBackground(st.recoveryLoop)
	}
	if p, ok := st.l2Driver.(Pinger); ok {
		st.b.goBackground(func() { st.ping(p) })
	}
	if st.bus == nil {
		return nil
	}
	return st.bus.start()
}

// pingTimeout bounds the look at L2 when a store starts.
const pingTimeout = 5 * time.Second

// ping looks once whether L2 answers. If it does not, one warning says so
// and the circuit breaker opens, so that the first calls skip L2 at once.
func (st *store) ping(p Pinger) {
	ctx, cancel := context.WithTimeout(st.b.ctx, pingTimeout)
	defer cancel()
	err := p.Ping(ctx)
	if err == nil || st.b.ctx.Err() != nil {
		return
	}
	st.logger.Warn("l2 does not answer; calls skip it while the circuit breaker is open",
		zap.Duration("l2_circuit_breaker", st.opts.breaker), zap.Error(err))
	st.breaker.failure(st.b.now())
}

func (st *store) close() error {
	var errs []error
	if st.bus != nil {
		if err := st.bus.close(); err != nil {
			errs = append(errs, fmt.Errorf("bento: store %q: bus: %w", st.name, err))
		}
	}
	if st.locker != nil {
		if err := st.locker.Disconnect(); err != nil {
			errs = append(errs, fmt.Errorf("bento: store %q: locker: %w", st.name, err))
		}
	}
	if st.l2Driver != nil {
		if err := st.l2Driver.Disconnect(); err != nil {
			errs = append(errs, fmt.Errorf("bento: store %q: l2: %w", st.name, err))
		}
	}
	if st.l1Driver != nil {
		if err := st.l1Driver.Disconnect(); err != nil {
			errs = append(errs, fmt.Errorf("bento: store %q: l1: %w", st.name, err))
		}
	}
	return errors.Join(errs...)
}

// cache returns the Cache of a namespace path, creating it on first use (also
// for namespaces this instance only hears of through the bus).
func (st *store) cache(path string) *Cache {
	if c := st.openNamespace(path); c != nil {
		return c
	}
	st.nsMu.Lock()
	defer st.nsMu.Unlock()
	if c := st.openNamespace(path); c != nil {
		return c
	}
	c := &Cache{st: st, path: path, l1: st.l1, l2: st.l2}
	if path != "" {
		if c.l1 != nil {
			c.l1 = c.l1.Namespace(path)
		}
		if c.l2 != nil {
			c.l2 = c.l2.Namespace(path)
		}
	}
	wp := weak.Make(c)
	st.namespaces.Store(path, wp)
	runtime.AddCleanup(c, st.forgetNamespace, namespaceRef{path, wp})
	return c
}

// namespaceRef names a reclaimed namespace for forgetNamespace.
type namespaceRef struct {
	path string
	wp   weak.Pointer[Cache]
}

// openNamespace returns the Cache of path if one is in use.
func (st *store) openNamespace(path string) *Cache {
	if v, ok := st.namespaces.Load(path); ok {
		return v.(weak.Pointer[Cache]).Value()
	}
	return nil
}

// forgetNamespace drops the entry of a reclaimed namespace, unless a new
// Cache took its place.
func (st *store) forgetNamespace(r namespaceRef) { st.namespaces.CompareAndDelete(r.path, r.wp) }

// pin keeps c alive for as long as the store: for state that exists nowhere
// else, such as the tag invalidations of a store without L2.
func (st *store) pin(c *Cache) { st.pinned.LoadOrStore(c.path, c) }

// under calls f for every namespace opened here that lies under path
// (itself included; every namespace for the root).
func (st *store) under(path string, f func(*Cache)) {
	st.namespaces.Range(func(k, v any) bool {
		if c := v.(weak.Pointer[Cache]).Value(); c != nil && under(k.(string), path) {
			f(c)
		}
		return true
	})
}

// suppressed reports whether L2 errors of a call with o are logged rather
// than returned.
func (o *options) suppressed() bool { return o.suppressL2Set && o.suppressL2 }

// l2Call runs one L2 operation through the circuit breaker. It returns
// ok == false when L2 was skipped or failed; err is non-nil only for a failure
// that is not suppressed, or for the end of ctx.
func (c *Cache) l2Call(ctx context.Context, o *options, op, key string, f func() error) (ok bool, err error) {
	st := c.st
	now := st.b.now()
	if !st.breaker.allow(now) {
		if o.suppressed() {
			return false, nil
		}
		return false, &L2Error{Store: st.name, Op: op, Namespace: c.path, Key: key, Err: ErrCircuitOpen}
	}
	err = f()
	if err == nil {
		st.l2Answered()
		return true, nil
	}
	if ctx.Err() != nil {
		st.breaker.release() // the caller gave up: says nothing about L2
		return false, fmt.Errorf("bento: store %q: l2 %s %q: %w", st.name, op, qualified(c.path, key), ctx.Err())
	}
	st.breaker.failure(now)
	st.stats.l2Failed(op)
	l2err := &L2Error{Store: st.name, Op: op, Namespace: c.path, Key: key, Err: err}
	if o.suppressed() {
		st.logger.Warn("l2 error suppressed", zap.String("op", op), zap.String("namespace", c.path),
			zap.String("key", key), zap.Error(err))
		if _, internal := isTagKey(key); !internal { // tag bookkeeping stays out of events
			c.emit(Event{Kind: EventError, Key: key, Layer: LayerL2, Err: l2err})
		}
		return false, nil
	}
	return false, l2err
}

// l2Get reads and decodes key from L2 as a T. A corrupt entry is a miss, an
// error event and a deletion. The guard was taken before the read: what was
// read may be stored (in L1) only through c.keep with it, and the caller
// releases it, found or not.
func l2Get[T any](ctx context.Context, c *Cache, o *options, key string) (*entry, guard, error) {
	var r *read
	var g guard
	ok, err := c.l2Call(ctx, o, "get", key, func() (err error) {
		g, r, err = c.sharedL2Get(ctx, key)
		return err
	})
	if !ok || !r.found {
		return nil, g, err
	}
	t := reflect.TypeFor[T]()
	if d := r.decoded.Load(); d != nil && d.t == t {
		return d.e, g, nil
	}
	e, mismatch, corrupt := decodeL2[T](c, key, r.raw)
	switch {
	case mismatch != nil:
		return nil, g, mismatch
	case corrupt != nil:
		if r.decoded.CompareAndSwap(nil, &decoding{t: t}) {
			c.corrupt(ctx, key, corrupt) // once, whoever shares the read
		}
		return nil, g, nil
	}
	r.decoded.CompareAndSwap(nil, &decoding{t: t, e: e})
	return e, g, nil
}

// decodeL2 decodes raw, the L2 bytes of key, as an entry whose value is a T.
// A sound entry whose value is not a T is mismatch, an [ErrTypeMismatch]:
// the caller's mistake, not a corrupt entry, which stays for the readers of
// the right type. Bytes that are no entry at all are corrupt: the caller
// reports them (see Cache.corrupt) and reads a miss.
func decodeL2[T any](c *Cache, key string, raw []byte) (e *entry, mismatch, corrupt error) {
	e, err := decodeEntry[T](c.st.serializer, raw)
	if err == nil {
		return e, nil, nil
	}
	if meta, merr := decodeEntry[rawValue](c.st.serializer, raw); merr == nil {
		var zero T
		return nil, fmt.Errorf("%w: store %q: key %q: the stored value %s does not decode as a %T: %w",
			ErrTypeMismatch, c.st.name, qualified(c.path, key), abbreviate(meta.value.(rawValue)), zero, err), nil
	}
	return nil, nil, err
}

// sharedL2Get reads key from L2, sharing the read with the callers of the
// same key that come while it is in flight, and returns the caller's guard
// (see flights.joinRead). Each caller waits as long as its own ctx allows; if
// the reader's ctx ends first, the others read again.
func (c *Cache) sharedL2Get(ctx context.Context, key string) (guard, *read, error) {
	for {
		g, r, leader := c.flights.joinRead(key)
		if leader {
			r.raw, r.found, r.err = c.l2.Get(ctx, key)
			r.retry = r.err != nil && ctx.Err() != nil
			c.flights.endRead(key, r)
			return g, r, r.err
		}
		select {
		case <-r.done:
		case <-ctx.Done():
			c.flights.release(&g)
			return guard{}, nil, ctx.Err()
		}
		if !r.retry {
			return g, r, r.err
		}
		c.flights.release(&g)
	}
}

// abbreviate shows at most 40 bytes of an encoded value in an error.
func abbreviate(b []byte) string {
	if len(b) > 40 {
		return string(b[:40]) + "…"
	}
	return string(b)
}

// corrupt handles an L2 entry that does not decode: it is reported, removed,
// and read as a miss.
func (c *Cache) corrupt(ctx context.Context, key string, err error) {
	err = fmt.Errorf("bento: store %q: key %q: undecodable l2 entry: %w", c.st.name, qualified(c.path, key), err)
	c.st.logger.Warn("corrupt l2 entry removed", zap.String("namespace", c.path), zap.String("key", key), zap.Error(err))
	c.emit(Event{Kind: EventError, Key: key, Layer: LayerL2, Err: err})
	_, _ = c.l2.Delete(ctx, key)
}

// emit sends e, stamped with the store and namespace, to the listeners.
func (c *Cache) emit(e Event) { c.st.emit(c.path, e) }

// emit sends e, stamped with the store and the namespace path, to the
// listeners.
func (st *store) emit(path string, e Event) {
	st.stats.count(&e)
	if st.b.events.active() {
		st.deliver(path, e)
	}
}

// deliver stamps e with the store and the namespace path and sends it to the
// listeners.
func (st *store) deliver(path string, e Event) {
	e.Store = st.name
	e.Namespace = path
	st.b.events.emit(e, st.logger)
}
