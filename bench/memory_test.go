package bench

import (
	"context"
	"math"
	"math/rand/v2"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/maypok86/otter/v2"

	"github.com/bentocache/bento"
	"github.com/bentocache/bento/modules/drivers/memory"
)

// memoryPeer is one way to hold the entries of BenchmarkMemoryPerEntry.
type memoryPeer struct {
	name string
	// open builds an empty cache and returns how to store entry i under key,
	// the cache itself (kept alive until it is measured), and how to release
	// it.
	open func(b *testing.B) (set func(key string, i int), cache any, release func())
}

// memoryPeers are bento as users fill it, the memory driver alone (what
// bento's own bookkeeping adds is the difference with bento), and otter alone
// (what the driver adds on top of the cache it is built on).
var memoryPeers = []memoryPeer{
	{name: "bento", open: func(b *testing.B) (func(string, int), any, func()) {
		m, err := bento.New(bento.Config{Stores: map[string]*bento.Store{
			"main": bento.NewStore().UseL1(memory.New(memory.Options{})),
		}})
		if err != nil {
			b.Fatalf("bento.New = %v", err)
		}
		c, ctx := m.Default(), context.Background()
		set := func(key string, i int) {
			if err := c.Set(ctx, key, NewUser(i)); err != nil {
				b.Fatalf("Set(%q) = %v", key, err)
			}
		}
		return set, m, func() { _ = m.Close() }
	}},
	{name: "bento-driver", open: func(*testing.B) (func(string, int), any, func()) {
		dr := memory.New(memory.Options{})
		set := func(key string, i int) { dr.Set(key, NewUser(i), bento.DefaultTTL) }
		return set, dr, func() { _ = dr.Disconnect() }
	}},
	{name: "otter", open: func(*testing.B) (func(string, int), any, func()) {
		c := otter.Must(&otter.Options[string, User]{})
		set := func(key string, i int) { c.Set(key, NewUser(i)) }
		return set, c, func() { c.StopAllGoroutines() }
	}},
}

// BenchmarkMemoryPerEntry measures the live heap that each entry of an
// in-process cache costs: one op fills an empty cache with n small entries
// (keys "k:<i>", a User each), and B/entry is the growth of the live heap
// (after a full GC) divided by n. The key strings are built during the fill,
// so each peer is charged for the keys it keeps; the User values point to
// constant strings, so only the struct itself is counted. Use -benchtime=1x
// for a single fill.
func BenchmarkMemoryPerEntry(b *testing.B) {
	n := 1_000_000
	if testing.Short() {
		n = 100_000
	}
	for _, p := range memoryPeers {
		b.Run("peer="+p.name, func(b *testing.B) {
			var sum float64
			ops := 0
			for b.Loop() {
				b.StopTimer()
				set, cache, release := p.open(b)
				before := memoryLiveHeap()
				b.StartTimer()
				for i := range n {
					set("k:"+strconv.Itoa(i), i)
				}
				b.StopTimer()
				after := memoryLiveHeap()
				runtime.KeepAlive(cache)
				release()
				sum += float64(int64(after)-int64(before)) / float64(n)
				ops++
				b.StartTimer()
			}
			b.ReportMetric(sum/float64(ops), "B/entry")
		})
	}
}

// memoryLiveHeap returns the bytes of live heap objects: a full GC first, so
// that garbage does not count.
func memoryLiveHeap() uint64 {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}

// maxSizePrefix is the store prefix of the MaxSize loads, under which their
// entries sit in the memory driver.
const maxSizePrefix = "bench"

// maxSizeLoad is a write-heavy load on a bento store whose only layer is a
// memory L1 bounded by MaxSize: writers goroutines each Set writes values,
// of sizes spread log-uniformly over [minValue, maxValue] bytes, under keys
// drawn uniformly from a key space many times larger than fits.
type maxSizeLoad struct {
	maxSize            int64
	keys               int
	writers, writes    int
	minValue, maxValue int
	// heap: also measure the live heap the cache holds, which costs two
	// full GCs.
	heap bool
}

// maxSizeResult is what the L1 holds after a maxSizeLoad, in bytes as
// MaxSize counts them (the sum of the encoded sizes of the entries).
type maxSizeResult struct {
	// unsettled is what the L1 held as the last writer returned, before
	// otter's maintenance had necessarily applied every pending eviction.
	unsettled int64
	// held is what it holds once maintenance has caught up.
	held int64
	// heap is the live heap the cache added, when measured.
	heap int64
}

// maxSizeSettleTimeout bounds the wait for otter's maintenance to apply the
// evictions left pending by the load. Maintenance needs no time to pass, only
// to be scheduled, so this fires only when evictions never happen, and then
// the result is reported as it stands.
const maxSizeSettleTimeout = 30 * time.Second

func (l maxSizeLoad) run(tb testing.TB) maxSizeResult {
	tb.Helper()
	keys := make([]string, l.keys)
	for i := range keys {
		keys[i] = "k:" + strconv.Itoa(i)
	}
	var res maxSizeResult
	var before uint64
	if l.heap {
		before = memoryLiveHeap()
	}
	dr := memory.New(memory.Options{MaxSize: l.maxSize})
	m, err := bento.New(bento.Config{Stores: map[string]*bento.Store{
		"main": bento.NewStore(bento.Prefix(maxSizePrefix), bento.TTL(time.Hour)).UseL1(dr),
	}})
	if err != nil {
		tb.Fatalf("bento.New = %v", err)
	}
	defer func() {
		if err := m.Close(); err != nil {
			tb.Errorf("Close = %v", err)
		}
	}()
	c, ctx := m.Default(), context.Background()

	var wg sync.WaitGroup
	errs := make(chan error, l.writers)
	for w := range l.writers {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(w), 0x5eed))
			lo, hi := math.Log(float64(l.minValue)), math.Log(float64(l.maxValue))
			for range l.writes {
				size := int(math.Exp(lo + rng.Float64()*(hi-lo)))
				// A string of its own per write, as a real value would be, so
				// that the heap measured is the cache's, not shared backing.
				v := strings.Repeat("x", size)
				if err := c.Set(ctx, keys[rng.IntN(len(keys))], v); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		tb.Fatalf("Set = %v", err)
	}

	// The bento store's L1 is the driver's namespace of the store's prefix:
	// reading it there sees exactly the entries the store holds.
	view := dr.Namespace(maxSizePrefix)
	res.unsettled = maxSizeHeld(tb, view, keys)
	// Otter evicts in maintenance passes that run after writes, on their own
	// goroutine: the last ones may still be pending. Neither the driver nor
	// bento exposes otter's CleanUp, but every read of a cache whose
	// maintenance is due schedules it, and maxSizeHeld reads every key: read
	// until the bound holds.
	res.held = res.unsettled
	for deadline := time.Now().Add(maxSizeSettleTimeout); res.held > l.maxSize && time.Now().Before(deadline); {
		runtime.Gosched()
		res.held = maxSizeHeld(tb, view, keys)
	}
	if l.heap {
		res.heap = int64(memoryLiveHeap()) - int64(before)
		runtime.KeepAlive(m)
		runtime.KeepAlive(keys)
	}
	return res
}

// maxSizeHeld returns the sum of the weights of the entries that view holds
// under keys, computed as the memory driver weighs them: the Size of the
// encoded entry bento hands it, one byte at least.
func maxSizeHeld(tb testing.TB, view bento.L1Driver, keys []string) int64 {
	tb.Helper()
	var held int64
	for _, k := range keys {
		v, ok := view.Get(k)
		if !ok {
			continue
		}
		s, ok := v.(interface{ Size() int })
		if !ok {
			tb.Fatalf("the L1 holds a %T under %q, with no Size method: bento must hand a MaxSize driver values it can weigh", v, k)
		}
		held += int64(max(s.Size(), 1))
	}
	return held
}

// BenchmarkMaxSize runs a write-heavy load on a memory L1 bounded at 8 MiB
// and reports, as ratios to MaxSize:
//   - size-ratio: the weight the cache holds once otter's maintenance has
//     caught up, the worst of all ops (above 1 is a bound not honoured);
//   - unsettled-ratio: the weight it held as the writers returned, before
//     that, the worst of all ops (how far the bound is briefly exceeded);
//   - heap-ratio: the live heap the cache adds, the worst of all ops: what
//     MaxSize costs in memory, since it counts encoded entries only.
//
// One op is one load on a fresh cache.
func BenchmarkMaxSize(b *testing.B) {
	l := maxSizeLoad{
		maxSize:  8 << 20,
		keys:     20_000, // about 12 times what fits: values average 5 KiB
		writers:  16,
		writes:   4_000,
		minValue: 64,
		maxValue: 32 << 10,
		heap:     true,
	}
	if testing.Short() {
		l.writes = 1_000
	}
	var held, unsettled, heap float64
	for b.Loop() {
		r := l.run(b)
		bound := float64(l.maxSize)
		held = math.Max(held, float64(r.held)/bound)
		unsettled = math.Max(unsettled, float64(r.unsettled)/bound)
		heap = math.Max(heap, float64(r.heap)/bound)
	}
	b.ReportMetric(held, "size-ratio")
	b.ReportMetric(unsettled, "unsettled-ratio")
	b.ReportMetric(heap, "heap-ratio")
}

// TestMaxSizeHonoured checks that a memory L1 bounded by MaxSize holds at
// most 5% more than MaxSize once a write-heavy load from many goroutines,
// over far more keys than fit, has returned and the evictions it left
// pending have run. It depends on no timing: the load is a fixed number of
// writes, and the wait for maintenance ends as soon as the bound holds.
func TestMaxSizeHonoured(t *testing.T) {
	l := maxSizeLoad{
		maxSize:  1 << 20,
		keys:     10_000, // about 14 times what fits: values average 1.5 KiB
		writers:  8,
		writes:   1_000,
		minValue: 32,
		maxValue: 8 << 10,
	}
	r := l.run(t)
	ratio := float64(r.held) / float64(l.maxSize)
	t.Logf("held %d bytes of MaxSize %d (%.3fx); %.3fx as the writers returned",
		r.held, l.maxSize, ratio, float64(r.unsettled)/float64(l.maxSize))
	if ratio > 1.05 {
		t.Errorf("after the load the L1 holds %d bytes, %.3fx its MaxSize of %d; want at most 1.05x", r.held, ratio, l.maxSize)
	}
	// An L1 that evicted far more than it must would pass the bound while
	// being useless: once full, it stays within one entry of full.
	if ratio < 0.5 {
		t.Errorf("after the load the L1 holds %d bytes, %.3fx its MaxSize of %d; want at least 0.5x: it evicts more than the bound requires", r.held, ratio, l.maxSize)
	}
}
