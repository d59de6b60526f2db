package integration_test

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bentocache/bento"
	"github.com/bentocache/bento/internal/tcpproxy"
	"github.com/bentocache/bento/internal/testenv"
	redisbus "github.com/bentocache/bento/modules/buses/redis"
	"github.com/bentocache/bento/modules/drivers/memory"
	"github.com/bentocache/bento/modules/drivers/redis"
	redislocker "github.com/bentocache/bento/modules/lockers/redis"
)

// lockerInstance starts a manager whose store has a memory L1, Redis L2 and
// bus on addr, and a Redis locker on lockAddr with a short lease.
func lockerInstance(t *testing.T, addr, lockAddr, prefix string) *bento.Bento {
	t.Helper()
	st := bento.NewStore(bento.Prefix(prefix), bento.BusChannel(prefix), bento.TTL(time.Hour)).
		UseL1(memory.New(memory.Options{})).
		UseL2(redis.New(redis.Options{Addrs: []string{addr}})).
		UseBus(redisbus.New(redisbus.Options{Addrs: []string{addr}})).
		UseLocker(redislocker.New(redislocker.Options{Addrs: []string{lockAddr}, Lease: 500 * time.Millisecond}))
	b, err := bento.New(bento.Config{Stores: map[string]*bento.Store{"main": st}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = b.Close() })
	return b
}

func lockerCleanup(t *testing.T, addr, prefix string) {
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		dr := redis.New(redis.Options{Addrs: []string{addr}, Prefix: prefix})
		defer func() { _ = dr.Disconnect() }()
		_ = dr.Clear(ctx)
	})
}

// TestLocker_OneFactoryAcrossInstances: three instances x 200 concurrent
// callers of one cold key make exactly one factory call between them; every
// caller gets its value.
func TestLocker_OneFactoryAcrossInstances(t *testing.T) {
	t.Parallel()
	addr := testenv.Redis(t)
	prefix := testenv.Prefix(t)
	lockerCleanup(t, addr, prefix)
	var instances []*bento.Bento
	for range 3 {
		instances = append(instances, lockerInstance(t, addr, addr, prefix))
	}
	var runs atomic.Int32
	factory := func(context.Context, *bento.FactoryContext[string]) (string, error) {
		runs.Add(1)
		time.Sleep(100 * time.Millisecond) // the work: the other callers arrive meanwhile
		return "v", nil
	}
	var wg sync.WaitGroup
	var bad atomic.Int32
	for _, b := range instances {
		for range 200 {
			wg.Go(func() {
				if v, err := bento.GetOrSet(t.Context(), b.Default(), "cold", factory); err != nil || v != "v" {
					bad.Add(1)
				}
			})
		}
	}
	wg.Wait()
	if n := runs.Load(); n != 1 {
		t.Errorf("600 callers on three instances ran the factory %d times; want once", n)
	}
	if n := bad.Load(); n != 0 {
		t.Errorf("%d callers did not get \"v\"", n)
	}
}

// TestLocker_TakeoverAfterLease: the holder's instance loses its locker
// connection mid-factory; once its lease has run out, a caller on another
// instance takes the lock, runs its own factory and gets its value — and the
// old holder's late value is not written over it.
func TestLocker_TakeoverAfterLease(t *testing.T) {
	t.Parallel()
	addr := testenv.Redis(t)
	prefix := testenv.Prefix(t)
	lockerCleanup(t, addr, prefix)
	proxy := tcpproxy.Start(t, addr)
	a := lockerInstance(t, addr, proxy.Addr(), prefix)
	b := lockerInstance(t, addr, addr, prefix)
	ctx := t.Context()

	holding := make(chan struct{})
	release := make(chan struct{})
	aDone := make(chan string, 1)
	go func() {
		v, _ := bento.GetOrSet(ctx, a.Default(), "k", func(context.Context, *bento.FactoryContext[string]) (string, error) {
			close(holding)
			<-release
			return "fromA", nil
		})
		aDone <- v
	}()
	<-holding // a holds the lock and runs its factory
	proxy.Cut()
	var bRuns atomic.Int32
	v, err := bento.GetOrSet(ctx, b.Default(), "k", func(context.Context, *bento.FactoryContext[string]) (string, error) {
		bRuns.Add(1)
		return "fromB", nil
	})
	if err != nil || v != "fromB" || bRuns.Load() != 1 {
		t.Fatalf("b's GetOrSet while a's lock lapses = %q, %v after %d factory runs; want \"fromB\" from its own factory", v, err, bRuns.Load())
	}
	close(release)
	if v := <-aDone; v != "fromA" {
		t.Errorf("a's GetOrSet = %q; want its factory's value", v)
	}
	if got, _, err := bento.Get[string](ctx, b.Default(), "k"); got != "fromB" || err != nil {
		t.Errorf("Get on b after a's late factory = %q, %v; want \"fromB\", not overwritten", got, err)
	}
}
