package bench

import (
	"context"
	"fmt"
	"math/rand"
	"runtime"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// The workloads run every peer through the same code (the Peer interface of
// peers.go), on the same keys and values, each sub-benchmark named
// peer=<name>/gpc=<goroutines per core> for the report generator. Each run of
// a sub-benchmark builds its peers afresh on keys of its own, fills them
// before the timer, checks every value read (a wrong value or an error fails
// the benchmark, so a broken peer cannot look fast) and deletes its keys from
// Redis when it ends.

// workloadGPCs are the goroutines per core of the parallel workloads: one,
// and two, to see how each peer behaves when goroutines outnumber cores
// (some of them then wait on Redis while others run).
var workloadGPCs = []int{1, 2}

// productionCallers are the concurrent callers of a busy service, which the
// network workloads (TieredGet, GetOrSetMiss, Set) also run with, as the gpc
// that gives them at the run's GOMAXPROCS: gpc=32 and gpc=128 on 2 cores.
// There the peers' Redis clients decide: a pooled connection per command,
// or commands pipelined over shared connections. BenchmarkStampede runs
// stampedeCallers on one key already.
var productionCallers = []int{64, 256}

// networkGPCs returns workloadGPCs and the gpcs of productionCallers.
func networkGPCs() []int {
	gpcs := slices.Clone(workloadGPCs)
	procs := runtime.GOMAXPROCS(0)
	for _, n := range productionCallers {
		gpcs = append(gpcs, max(1, (n+procs-1)/procs))
	}
	slices.Sort(gpcs)
	return slices.Compact(gpcs)
}

const (
	// hitKeys is the key set of BenchmarkL1Hit, cycled; a power of two so
	// that cycling is a mask.
	hitKeys = 1 << 12
	// setKeys is the key set of BenchmarkSet, cycled.
	setKeys = 1 << 12
	// stampedeCallers is the number of concurrent callers on one missing key
	// in a round of BenchmarkStampede.
	stampedeCallers = 1000
	// stampedeFactory is how long the factory of BenchmarkStampede takes: a
	// fast query.
	stampedeFactory = time.Millisecond
	// zipfKeys is the key space of BenchmarkZipf.
	zipfKeys = 100_000
	// zipfL1 bounds the L1 in BenchmarkZipf, a tenth of the key space, so
	// that the hit ratio depends on what each peer keeps.
	zipfL1 = 10_000
	// zipfS is the Zipf exponent: just above 1 (math/rand's least), a few hot
	// keys and a long tail.
	zipfS = 1.01
	// zipfWrites is one write in that many operations of BenchmarkZipf.
	zipfWrites = 10
	// zipfWarmup is how many reads warm the caches of BenchmarkZipf before
	// the timer: as many as there are keys, which brings the L1 near its
	// steady hit ratio. Without it the ratio would depend on b.N, and so on
	// each peer's speed: a slow peer would be measured colder.
	zipfWarmup = zipfKeys
)

// runPeers runs body as peer=<name>/gpc=<gpc> for every peer and gpc.
func runPeers(b *testing.B, peers []string, gpcs []int, body func(b *testing.B, name string, gpc int)) {
	for _, name := range peers {
		b.Run("peer="+name, func(b *testing.B) {
			for _, gpc := range gpcs {
				b.Run("gpc="+strconv.Itoa(gpc), func(b *testing.B) {
					b.ReportAllocs()
					body(b, name, gpc)
				})
			}
		})
	}
}

// BenchmarkL1Hit measures a read of a key in the L1: each peer's read-through
// call (otter: GetIfPresent alone, the limit of an L1 on otter) on hitKeys
// keys, cycled, that the L1 holds. bento runs on its memory L1 alone (a hit
// never touches its L2 either way); gocache, go-redis/cache and sturdyc keep
// their Redis tier, which their hit path does not touch.
func BenchmarkL1Hit(b *testing.B) {
	peers := []string{PeerBento, PeerOtter, PeerGocache, PeerGoRedisCache, PeerSturdyc}
	runPeers(b, peers, workloadGPCs, func(b *testing.B, name string, gpc int) {
		e := newWorkloadEnv(b, name != PeerBento && name != PeerOtter)
		var loads atomic.Int64
		p := e.peer(name, Config{Load: countingLoad(&loads)})
		keys := e.keys(hitKeys)
		want := make([]User, hitKeys)
		for i := range want {
			want[i] = NewUser(i)
		}
		e.fill(p, keys)
		loaded := loads.Load()
		past, _ := p.PastL1()
		ctx := b.Context()
		var (
			errs workloadErrors
			gid  atomic.Int64
		)
		b.SetParallelism(gpc)
		b.ResetTimer()
		b.RunParallel(func(pb *testing.PB) {
			// Each goroutine starts elsewhere in the keys, so that they do
			// not read the same key in step.
			i := int(gid.Add(1)) * 1031
			for pb.Next() {
				k := i & (hitKeys - 1)
				u, err := p.GetOrSet(ctx, keys[k])
				if err != nil || u != want[k] {
					errs.set(checkUser(keys[k], u, want[k], err))
					return
				}
				i++
			}
		})
		b.StopTimer()
		if err := errs.get(); err != nil {
			b.Fatal(err)
		}
		if n := loads.Load() - loaded; n != 0 {
			b.Fatalf("the factory ran %d times on keys the L1 held", n)
		}
		if n, ok := p.PastL1(); ok && n != past {
			b.Fatalf("%d reads went past the L1 on keys it held", n-past)
		}
	})
}

// BenchmarkTieredGet measures a read that misses the L1 and hits Redis. A
// writer instance of the peer fills b.N keys before the timer; a reader
// instance, its L1 empty, reads each key once, so every timed read goes to
// Redis and decodes the peer's own format (goredis: a bare GET and msgpack
// decoding of the User, the limit of any Redis tier). The reader's factory
// fails, so a read that Redis did not answer fails the benchmark.
func BenchmarkTieredGet(b *testing.B) {
	peers := []string{PeerBento, PeerGoRedis, PeerGocache, PeerGoRedisCache, PeerSturdyc}
	runPeers(b, peers, networkGPCs(), func(b *testing.B, name string, gpc int) {
		e := newWorkloadEnv(b, true)
		keys := e.keys(b.N)
		var loads atomic.Int64
		w := e.peer(name, Config{Load: countingLoad(&loads)})
		e.fill(w, keys)
		if err := w.Close(); err != nil {
			b.Fatal(err)
		}
		r := e.peer(name, Config{Load: failingLoad})
		past, _ := r.PastL1()
		err := parallelOps(b, gpc, readKey(b.Context(), r, keys))
		b.StopTimer()
		if err != nil {
			b.Fatal(err)
		}
		if n, ok := r.PastL1(); ok && n-past != int64(b.N) {
			b.Fatalf("%d of %d reads went to Redis: the reader's L1 was not empty", n-past, b.N)
		}
	})
}

// BenchmarkGetOrSetMiss measures the read-through call on a key that no layer
// holds, with a factory that returns at once: the lookups, then the write of
// the value to the L1 and Redis. Every op is a new key. gocache and sturdyc
// write Redis from goroutines of their own after the call returns; the timer
// runs until those writes are done (Settle), since they are the op's work.
func BenchmarkGetOrSetMiss(b *testing.B) {
	peers := []string{PeerBento, PeerGocache, PeerGoRedisCache, PeerSturdyc}
	runPeers(b, peers, networkGPCs(), func(b *testing.B, name string, gpc int) {
		e := newWorkloadEnv(b, true)
		keys := e.keys(b.N)
		var loads atomic.Int64
		p := e.peer(name, Config{Load: countingLoad(&loads)})
		err := parallelOps(b, gpc, readKey(b.Context(), p, keys))
		if err := p.Settle(); err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		if err != nil {
			b.Fatal(err)
		}
		if n := loads.Load(); n != int64(b.N) {
			b.Fatalf("the factory ran %d times for %d new keys", n, b.N)
		}
		e.verify(name, keys)
	})
}

// BenchmarkSet measures a write to the L1 and Redis, on setKeys keys cycled
// (goredis: msgpack encoding and a bare SET, the limit of any Redis tier).
// sturdyc is left out: its Set writes memory only, and it has no call that
// writes its distributed storage, so what would be measured is this
// package's code, not sturdyc's. After the timer, a new instance reads the
// keys back from Redis.
func BenchmarkSet(b *testing.B) {
	peers := []string{PeerBento, PeerGoRedis, PeerGocache, PeerGoRedisCache}
	runPeers(b, peers, networkGPCs(), func(b *testing.B, name string, gpc int) {
		e := newWorkloadEnv(b, true)
		keys := e.keys(setKeys)
		p := e.peer(name, Config{Load: failingLoad})
		ctx := b.Context()
		err := parallelOps(b, gpc, func(i int) error {
			k := i & (setKeys - 1)
			if err := p.Set(ctx, keys[k], NewUser(k)); err != nil {
				return fmt.Errorf("key %s: %w", keys[k], err)
			}
			return nil
		})
		if err := p.Settle(); err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		if err != nil {
			b.Fatal(err)
		}
		e.verify(name, keys[:min(b.N, setKeys)])
	})
}

// BenchmarkStampede measures stampede protection: an op is one round of
// stampedeCallers concurrent callers of GetOrSet on one missing key, whose
// factory takes stampedeFactory and counts its runs. ns/op is the round's
// time, from the callers' release to the last answer (and to the value in
// Redis, for the peers that write it in the background); factory-runs/op is
// how many times the factory ran per round, 1 for a perfect peer. The
// concurrency is the callers, not the cores, so there is one gpc, 1.
func BenchmarkStampede(b *testing.B) {
	peers := []string{PeerBento, PeerGocache, PeerGoRedisCache, PeerSturdyc}
	runPeers(b, peers, []int{1}, func(b *testing.B, name string, _ int) {
		e := newWorkloadEnv(b, true)
		keys := e.keys(b.N)
		var runs atomic.Int64
		p := e.peer(name, Config{Load: func(_ context.Context, key string) (User, error) {
			time.Sleep(stampedeFactory) // the factory's work: a query
			runs.Add(1)
			i, err := keyIndex(key)
			return NewUser(i), err
		}})
		callers := newStampedeCallers(b, p, stampedeCallers)
		b.ResetTimer()
		for i := range b.N {
			if err := callers.round(keys[i], NewUser(i)); err != nil {
				b.Fatal(err)
			}
		}
		if err := p.Settle(); err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		b.ReportMetric(float64(runs.Load())/float64(b.N), "factory-runs/op")
		e.verify(name, keys)
	})
}

// stampedeCallerPool is the callers of BenchmarkStampede: goroutines started
// once per run, so that a round does not pay for starting a thousand of them.
type stampedeCallerPool struct {
	p    Peer
	ctx  context.Context
	n    int
	work chan *stampedeRound
}

// stampedeRound is one key that every caller asks for at once.
type stampedeRound struct {
	key  string
	want User
	gate chan struct{} // closed to release the callers together
	done sync.WaitGroup
	errs workloadErrors
}

// newStampedeCallers starts n callers of p, which stop when the run ends.
func newStampedeCallers(b *testing.B, p Peer, n int) *stampedeCallerPool {
	c := &stampedeCallerPool{p: p, ctx: b.Context(), n: n, work: make(chan *stampedeRound)}
	var wg sync.WaitGroup
	for range n {
		wg.Go(c.call)
	}
	b.Cleanup(func() {
		close(c.work)
		wg.Wait()
	})
	return c
}

// call is one caller: a call per round, once the round's gate opens.
func (c *stampedeCallerPool) call() {
	for r := range c.work {
		<-r.gate
		u, err := c.p.GetOrSet(c.ctx, r.key)
		if err := checkUser(r.key, u, r.want, err); err != nil {
			r.errs.set(err)
		}
		r.done.Done()
	}
}

// round hands key to every caller, releases them together and waits for
// all of them. The channel is unbuffered and a caller that took the round
// waits on its gate, so each caller takes exactly one call of the round.
func (c *stampedeCallerPool) round(key string, want User) error {
	r := &stampedeRound{key: key, want: want, gate: make(chan struct{})}
	r.done.Add(c.n)
	for range c.n {
		c.work <- r
	}
	close(r.gate)
	r.done.Wait()
	return r.errs.get()
}

// BenchmarkZipf measures a mixed load: zipfWrites-1 reads through GetOrSet
// for one Set, on keys drawn from a Zipf distribution (s = zipfS) over
// zipfKeys keys, with the L1 bounded to zipfL1 entries over Redis (otter:
// in memory alone, bounded the same, its loader returning the value: the
// limit of an L1 on otter). sturdyc's writes are its Set, to memory, and a
// record that this package writes to Redis for it, since sturdyc has no call
// that does. Each run has keys of its own and warms them with
// zipfWarmup reads before the timer; the goroutines draw the same sequences
// in every run. The timer runs until background writes are in (Settle).
//
// hit-% is the share of reads that the L1 answered: the reads that went
// neither to Redis nor to the factory. bento counts them from its own events
// (a miss, or a hit on L2); gocache, go-redis/cache and sturdyc by the
// lookups that reached their Redis tier, which they only make when their L1
// missed; otter by its loader's runs. A caller that waited on another's
// lookup of the same missing key counts as answered by the L1 for the
// peers counted at Redis or at the loader, and does not for bento: rare on
// a warm cache, it favours the others slightly.
func BenchmarkZipf(b *testing.B) {
	peers := []string{PeerBento, PeerGocache, PeerGoRedisCache, PeerSturdyc, PeerOtter}
	runPeers(b, peers, workloadGPCs, func(b *testing.B, name string, gpc int) {
		e := newWorkloadEnv(b, name != PeerOtter)
		keys := e.keys(zipfKeys)
		var loads atomic.Int64
		p := e.peer(name, Config{L1Entries: zipfL1, Load: countingLoad(&loads), CountL1: true})
		zipfWarm(b, p, keys)
		past, ok := p.PastL1()
		if !ok {
			b.Fatalf("%s cannot count its L1 hits", name)
		}
		ctx := b.Context()
		var (
			errs  workloadErrors
			seed  atomic.Int64
			reads atomic.Int64
		)
		b.SetParallelism(gpc)
		b.ResetTimer()
		b.RunParallel(func(pb *testing.PB) {
			r := rand.New(rand.NewSource(seed.Add(1)))
			z := rand.NewZipf(r, zipfS, 1, zipfKeys-1)
			var n int64
			defer func() { reads.Add(n) }()
			for pb.Next() {
				k := int(z.Uint64())
				if r.Intn(zipfWrites) == 0 {
					if err := p.Set(ctx, keys[k], NewUser(k)); err != nil {
						errs.set(fmt.Errorf("key %s: %w", keys[k], err))
						return
					}
					continue
				}
				n++
				u, err := p.GetOrSet(ctx, keys[k])
				if err != nil || u != NewUser(k) {
					errs.set(checkUser(keys[k], u, NewUser(k), err))
					return
				}
			}
		})
		if err := p.Settle(); err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		if err := errs.get(); err != nil {
			b.Fatal(err)
		}
		n, _ := p.PastL1()
		if r := reads.Load(); r > 0 {
			b.ReportMetric(100*float64(r-(n-past))/float64(r), "hit-%")
		}
	})
}

// zipfWarm reads zipfWarmup Zipf-drawn keys through p, from workloadFillers
// goroutines whose seeds differ from those of the timed loop, then settles p.
func zipfWarm(b *testing.B, p Peer, keys []string) {
	b.Helper()
	var (
		wg   sync.WaitGroup
		errs workloadErrors
	)
	for g := range workloadFillers {
		wg.Go(func() {
			r := rand.New(rand.NewSource(-1 - int64(g)))
			z := rand.NewZipf(r, zipfS, 1, zipfKeys-1)
			for range zipfWarmup / workloadFillers {
				k := int(z.Uint64())
				u, err := p.GetOrSet(b.Context(), keys[k])
				if err := checkUser(keys[k], u, NewUser(k), err); err != nil {
					errs.set(fmt.Errorf("warming: %w", err))
					return
				}
			}
		})
	}
	wg.Wait()
	if err := errs.get(); err != nil {
		b.Fatal(err)
	}
	if err := p.Settle(); err != nil {
		b.Fatalf("warming: %v", err)
	}
}
