package drivertest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bentocache/bento"
)

// Locker runs the compliance suite of a [bento.Locker] on the lockers open
// returns: two lockers from two calls must share one lock service, as two
// instances of an application do. Give their locks a short lease (at most a
// few seconds): the suite waits for leases to run out.
//
// It checks mutual exclusion (one locker, two lockers, 32 concurrent
// callers), that a lock expires after its lease, that Refresh keeps it past
// the lease, that only the owner's Release counts, and that Acquire honours
// its context.
func Locker(t *testing.T, open func(t *testing.T) bento.Locker) {
	t.Helper()
	for _, c := range []struct {
		name string
		run  func(t *testing.T, a, b bento.Locker)
	}{
		{"MutualExclusion", lockerExclusion},
		{"Concurrent", lockerConcurrent},
		{"Expiry", lockerExpiry},
		{"Refresh", lockerRefresh},
		{"OwnerOnlyRelease", lockerOwnerOnly},
		{"Release", lockerRelease},
		{"ContextCancelled", lockerContext},
	} {
		t.Run(c.name, func(t *testing.T) {
			a, b := open(t), open(t)
			t.Cleanup(func() { _ = a.Disconnect(); _ = b.Disconnect() })
			c.run(t, a, b)
		})
	}
}

// lockName returns a name no other test uses.
func lockName() string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return "drivertest:lock:" + hex.EncodeToString(b[:])
}

func mustAcquire(t *testing.T, l bento.Locker, name, why string) bento.Lock {
	t.Helper()
	lock, err := l.Acquire(context.Background(), name)
	if err != nil || lock == nil {
		t.Fatalf("Acquire(%q) = %v, %v; want the lock (%s)", name, lock, err, why)
	}
	return lock
}

func mustBeHeld(t *testing.T, l bento.Locker, name, why string) {
	t.Helper()
	lock, err := l.Acquire(context.Background(), name)
	if err != nil || lock != nil {
		t.Fatalf("Acquire(%q) = %v, %v; want nil, nil: another owner holds it (%s)", name, lock, err, why)
	}
}

// acquiredWithin polls Acquire until it gets the lock or d passes.
func acquiredWithin(t *testing.T, l bento.Locker, name string, d time.Duration) bento.Lock {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		lock, err := l.Acquire(context.Background(), name)
		if err != nil {
			t.Fatalf("Acquire(%q) = %v", name, err)
		}
		if lock != nil || time.Now().After(deadline) {
			return lock
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func lockerExclusion(t *testing.T, a, b bento.Locker) {
	name := lockName()
	mustAcquire(t, a, name, "nobody holds it")
	mustBeHeld(t, a, name, "the same locker took it")
	mustBeHeld(t, b, name, "another locker took it")
	mustAcquire(t, b, lockName(), "another name is another lock")
}

func lockerConcurrent(t *testing.T, a, b bento.Locker) {
	name := lockName()
	var got atomic.Int32
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range 32 {
		l := a
		if i%2 == 1 {
			l = b
		}
		wg.Go(func() {
			<-start
			lock, err := l.Acquire(context.Background(), name)
			if err != nil {
				t.Errorf("Acquire: %v", err)
			}
			if lock != nil {
				got.Add(1)
			}
		})
	}
	close(start)
	wg.Wait()
	if n := got.Load(); n != 1 {
		t.Errorf("32 concurrent Acquires of one lock got it %d times; want once", n)
	}
}

func lockerExpiry(t *testing.T, a, b bento.Locker) {
	name := lockName()
	lock := mustAcquire(t, a, name, "nobody holds it")
	if lock.Lease() <= 0 {
		t.Fatalf("Lease() = %v; want a positive lease", lock.Lease())
	}
	if acquiredWithin(t, b, name, 3*lock.Lease()+time.Second) == nil {
		t.Errorf("a lock nobody refreshed was still held %v after it was taken; want it gone after its lease %v", 3*lock.Lease()+time.Second, lock.Lease())
	}
}

func lockerRefresh(t *testing.T, a, b bento.Locker) {
	name := lockName()
	lock := mustAcquire(t, a, name, "nobody holds it")
	end := time.Now().Add(2 * lock.Lease())
	for time.Now().Before(end) {
		if err := lock.Refresh(context.Background()); err != nil {
			t.Fatalf("Refresh = %v; want <nil>", err)
		}
		mustBeHeld(t, b, name, "refreshed within its lease")
		time.Sleep(lock.Lease() / 4)
	}
}

func lockerOwnerOnly(t *testing.T, a, b bento.Locker) {
	name := lockName()
	old := mustAcquire(t, a, name, "nobody holds it")
	if acquiredWithin(t, b, name, 3*old.Lease()+time.Second) == nil {
		t.Fatal("the lock never expired")
	}
	if err := old.Release(context.Background()); err != nil {
		t.Errorf("Release by the former owner = %v; want <nil>, doing nothing", err)
	}
	mustBeHeld(t, a, name, "the former owner's Release must leave the new owner's lock alone")
	if err := old.Refresh(context.Background()); err == nil {
		t.Error("Refresh by the former owner = <nil>; want an error: the lock was lost")
	}
}

func lockerRelease(t *testing.T, a, b bento.Locker) {
	name := lockName()
	lock := mustAcquire(t, a, name, "nobody holds it")
	if err := lock.Release(context.Background()); err != nil {
		t.Fatalf("Release = %v", err)
	}
	mustAcquire(t, b, name, "its owner released it")
}

func lockerContext(t *testing.T, a, _ bento.Locker) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if lock, err := a.Acquire(ctx, lockName()); err == nil {
		t.Errorf("Acquire with a cancelled context = %v, <nil>; want an error", lock)
	}
}
