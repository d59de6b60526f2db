package bench

import (
	"context"
	"math"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/bentocache/bento"
	"github.com/bentocache/bento/internal/testenv"
	pgadapter "github.com/bentocache/bento/modules/adapters/postgres"
	pgbus "github.com/bentocache/bento/modules/buses/postgres"
	redisbus "github.com/bentocache/bento/modules/buses/redis"
	"github.com/bentocache/bento/modules/drivers/database"
	"github.com/bentocache/bento/modules/drivers/memory"
	"github.com/bentocache/bento/modules/drivers/redis"
)

// propagationKey is the one key the propagation benchmark rewrites: every op
// starts with the previous op's value in B's L1, so the bus is what makes B
// see the next one.
const propagationKey = "user:42"

// propagationDeadline bounds how long one op waits for B to see A's write.
// It only ever fires on a lost or never-applied message, which fails the
// benchmark: it is a coherence failure, not a slow sample.
const propagationDeadline = 5 * time.Second

// BenchmarkBusPropagation measures how long a write on one instance takes to
// become visible to another instance's L1 through the bus: two managers, A
// and B, share one L2 and one bus channel, as two processes of one service
// would. Each op Sets a new value on A and stops the clock when B's Get
// returns it. B holds the previous value, fresh, in its L1 when the op
// starts, and its entries live for an hour, so nothing but the bus message
// can make B look at L2 again.
//
// B's bus_received event (emitted on B's bus goroutine once the message is
// applied) wakes the op, which then reads on B: no sleep and no spinning
// poller competing with the bus goroutines and the servers for the CPUs.
//
// Reported: p50-ns, p99-ns and p999-ns of the whole latency (from the start
// of A's Set to the return of B's Get with the new value), and the stages
// that make it up, each from the start of the op:
//   - written-*: A's Set had written L2 (its written event, which comes
//     between the L2 write and the publication);
//   - set-*: A's Set returned (its L2 write, then its PUBLISH or NOTIFY);
//   - applied-*: B's bus handler had applied the message;
//   - and the full latency, whose remainder after applied is the wake-up of
//     the reader plus B's read of the new value from L2.
//
// Ten writes run before the measured ones, so that the samples are of warm
// connections; the first of them is reported as cold-ns.
func BenchmarkBusPropagation(b *testing.B) {
	b.Run("bus=redis", func(b *testing.B) {
		a, bb := redisPropagationPair(b)
		runPropagation(b, a, bb)
	})
	b.Run("bus=postgres", func(b *testing.B) {
		a, bb := postgresPropagationPair(b)
		runPropagation(b, a, bb)
	})
}

// redisPropagationPair builds instances A and B on a Redis L2 and a Redis
// bus, each with its own clients as separate processes would have, on a
// prefix and channel of their own. Their keys are removed when b ends.
func redisPropagationPair(b *testing.B) (a, bb *bento.Bento) {
	addrs := []string{testenv.Redis(b)}
	prefix := testenv.Prefix(b)
	// Registered first, so it runs after both managers have closed.
	b.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		dr := redis.New(redis.Options{Addrs: addrs, Prefix: prefix})
		defer func() { _ = dr.Disconnect() }()
		if err := dr.Clear(ctx); err != nil {
			b.Errorf("removing the keys under %q: %v", prefix, err)
		}
	})
	store := func() *bento.Store {
		return bento.NewStore(bento.TTL(time.Hour), bento.Prefix(prefix), bento.BusChannel(prefix)).
			UseL1(memory.New(memory.Options{})).
			UseL2(redis.New(redis.Options{Addrs: addrs})).
			UseBus(redisbus.New(redisbus.Options{Addrs: addrs}))
	}
	return propagationManager(b, "a", store()), propagationManager(b, "b", store())
}

// postgresPropagationPair builds instances A and B on a PostgreSQL table (L2,
// through the database driver and the postgres adapter) and the PostgreSQL
// bus, each opening its own connections. The table is dropped when b ends.
func postgresPropagationPair(b *testing.B) (a, bb *bento.Bento) {
	dsn := testenv.Postgres(b)
	name := testenv.Prefix(b)
	// Registered first, so it runs after both managers have closed.
	b.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		conn, err := pgx.Connect(ctx, dsn)
		if err != nil {
			b.Errorf("connecting to drop table %q: %v", name, err)
			return
		}
		defer func() { _ = conn.Close(ctx) }()
		if _, err := conn.Exec(ctx, "DROP TABLE IF EXISTS "+pgx.Identifier{name}.Sanitize()); err != nil {
			b.Errorf("dropping table %q: %v", name, err)
		}
	})
	store := func() *bento.Store {
		return bento.NewStore(bento.TTL(time.Hour), bento.BusChannel(name)).
			UseL1(memory.New(memory.Options{})).
			UseL2(database.New(database.Options{
				Adapter:   pgadapter.New(pgadapter.Options{DSN: dsn}),
				TableName: name,
			})).
			UseBus(pgbus.New(pgbus.Options{DSN: dsn}))
	}
	return propagationManager(b, "a", store()), propagationManager(b, "b", store())
}

// propagationManager starts a manager with store as its only store, closed
// when b ends.
func propagationManager(b *testing.B, name string, store *bento.Store) *bento.Bento {
	m, err := bento.New(bento.Config{Stores: map[string]*bento.Store{"main": store}})
	if err != nil {
		b.Fatalf("instance %s: bento.New = %v", name, err)
	}
	b.Cleanup(func() {
		if err := m.Close(); err != nil {
			b.Errorf("instance %s: Close = %v", name, err)
		}
	})
	return m
}

// propagationProbe listens to B's events: it wakes the op when B has applied
// the bus message for the key, and remembers the layer of B's last hit on it,
// so that the op can tell an L1 hit from a read of L2.
type propagationProbe struct {
	applied chan time.Time
	layer   atomic.Uint32 // bento.Layer of the last hit on propagationKey
}

// listen is B's event listener. It runs on the goroutine that did the work
// (B's bus handler for bus_received), so it only stamps the time and hands it
// over without blocking.
func (p *propagationProbe) listen(e bento.Event) {
	switch e.Kind {
	case bento.EventBusReceived:
		if slices.Contains(e.Keys, propagationKey) {
			select {
			case p.applied <- time.Now():
			default: // the op has not taken the previous one: it fails on its own
			}
		}
	case bento.EventHit:
		if e.Key == propagationKey {
			p.layer.Store(uint32(e.Layer))
		}
	}
}

// propagationWarmup is how many writes run before the measured ones. The
// first write of an instance opens connections (the postgres bus dials its
// publishing connection on its first NOTIFY); that cold start is reported
// apart, as cold-ns, rather than as a steady-state sample.
const propagationWarmup = 10

// runPropagation measures writes on a and reads on bb, which share an L2 and
// a bus channel, and reports the quantiles.
func runPropagation(b *testing.B, a, bb *bento.Bento) {
	r := &propagationRun{ctx: b.Context(), a: a.Default(), b: bb.Default(), base: time.Now(),
		probe: &propagationProbe{applied: make(chan time.Time, 1)}, timer: time.NewTimer(propagationDeadline)}
	defer r.timer.Stop()
	defer bb.On(r.probe.listen)()
	defer a.On(r.listenA)()

	// B reads the first value twice: from L2 into its L1, then from its L1.
	if err := r.a.Set(r.ctx, propagationKey, NewUser(r.version), bento.SkipBusNotify()); err != nil {
		b.Fatalf("A: Set = %v", err)
	}
	for range 2 {
		if _, _, err := bento.Get[User](r.ctx, r.b, propagationKey); err != nil {
			b.Fatalf("B: Get = %v", err)
		}
	}
	cold := r.write(b).total
	for range propagationWarmup - 1 {
		r.write(b)
	}

	var total, written, set, applied []time.Duration
	for b.Loop() {
		t := r.write(b)
		total, written = append(total, t.total), append(written, t.written)
		set, applied = append(set, t.set), append(applied, t.applied)
	}
	// After the loop: b.Loop's first call drops the metrics reported before.
	b.ReportMetric(float64(cold), "cold-ns")
	reportPropagationQuantiles(b, "", total)
	reportPropagationQuantiles(b, "written-", written)
	reportPropagationQuantiles(b, "set-", set)
	reportPropagationQuantiles(b, "applied-", applied)
}

// propagationRun is the state of one sub-benchmark: instance A's and B's
// caches, B's probe, and the version of the value B holds.
type propagationRun struct {
	ctx   context.Context
	a, b  *bento.Cache
	probe *propagationProbe
	// base is the origin of writtenAt, a monotonic reading.
	base time.Time
	// writtenAt is when A last emitted its written event for the key, since
	// base.
	writtenAt atomic.Int64
	timer     *time.Timer // the deadline of the write in progress; stopped between writes
	version   int
}

// listenA is A's event listener: it stamps A's written event for the key.
// bento emits it on the goroutine of the Set, between the L2 write and the
// publication.
func (r *propagationRun) listenA(e bento.Event) {
	if e.Kind == bento.EventWritten && e.Key == propagationKey {
		r.writtenAt.Store(int64(time.Since(r.base)))
	}
}

// propagationTimes are the stages of one op, each from the start of A's Set.
type propagationTimes struct {
	written time.Duration // A had written L2
	set     time.Duration // A's Set returned
	applied time.Duration // B had applied the bus message
	total   time.Duration // B's Get returned the new value
}

// write runs one op: a new value Set on A, until B's Get returns it.
func (r *propagationRun) write(b *testing.B) propagationTimes {
	// B must serve the previous value from its L1, fresh: otherwise the
	// read below would not depend on the bus.
	u, found, err := bento.Get[User](r.ctx, r.b, propagationKey)
	if err != nil || !found || u.ID != int64(r.version) || bento.Layer(r.probe.layer.Load()) != bento.LayerL1 {
		b.Fatalf("B: Get before the write = %+v, %t, %v from %s; want ID %d from l1",
			u, found, err, bento.Layer(r.probe.layer.Load()), r.version)
	}
	r.version++

	start := time.Now()
	if err := r.a.Set(r.ctx, propagationKey, NewUser(r.version)); err != nil {
		b.Fatalf("A: Set = %v", err)
	}
	setDone := time.Now()

	r.timer.Reset(propagationDeadline)
	var appliedAt time.Time
	select {
	case appliedAt = <-r.probe.applied:
	case <-r.timer.C:
		b.Fatalf("B did not apply the bus message of write %d within %v", r.version, propagationDeadline)
	}
	// Since Go 1.23 a stopped or reset timer delivers no stale tick: no drain.
	r.timer.Stop()
	// Once the message is applied, B's very next Get must return the new
	// value, read from L2: that is the coherence bento promises.
	u, found, err = bento.Get[User](r.ctx, r.b, propagationKey)
	seen := time.Now()
	if err != nil || !found || u.ID != int64(r.version) {
		b.Fatalf("B: Get after the bus message = %+v, %t, %v; want ID %d", u, found, err, r.version)
	}
	if l := bento.Layer(r.probe.layer.Load()); l != bento.LayerL2 {
		b.Fatalf("B: Get after the bus message hit %s; want l2", l)
	}
	return propagationTimes{
		written: time.Duration(r.writtenAt.Load()) - start.Sub(r.base),
		set:     setDone.Sub(start),
		applied: appliedAt.Sub(start),
		total:   seen.Sub(start),
	}
}

// reportPropagationQuantiles reports the p50 and p99 of ds as
// <prefix>p50-ns and <prefix>p99-ns, and the p99.9 as <prefix>p999-ns once
// there are enough samples for it to differ from the maximum of a handful.
func reportPropagationQuantiles(b *testing.B, prefix string, ds []time.Duration) {
	if len(ds) == 0 {
		return
	}
	slices.Sort(ds)
	b.ReportMetric(float64(propagationQuantile(ds, 0.50)), prefix+"p50-ns")
	b.ReportMetric(float64(propagationQuantile(ds, 0.99)), prefix+"p99-ns")
	if len(ds) >= 1000 {
		b.ReportMetric(float64(propagationQuantile(ds, 0.999)), prefix+"p999-ns")
	}
}

// propagationQuantile returns the q-quantile of sorted by the nearest-rank
// method: the smallest sample that at least q of the samples do not exceed.
func propagationQuantile(sorted []time.Duration, q float64) time.Duration {
	i := int(math.Ceil(q*float64(len(sorted)))) - 1
	return sorted[min(max(i, 0), len(sorted)-1)]
}
