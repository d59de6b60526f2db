package bento_test

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/bentocache/bento"
	"github.com/bentocache/bento/internal/mapstore"
	"github.com/bentocache/bento/modules/drivers/memory"
)

// fakeLocker answers every Acquire with err, or as held by another owner.
type fakeLocker struct{ err error }

func (f fakeLocker) Acquire(context.Context, string) (bento.Lock, error) { return nil, f.err }
func (fakeLocker) Disconnect() error                                     { return nil }

func lockedStore(l bento.Locker) *bento.Store {
	return bento.NewStore().UseL1(memory.New(memory.Options{})).UseL2(mapstore.NewL2(mapstore.L2Options{})).UseLocker(l)
}

// TestLocker_FailingDegradesToLocal: a locker that fails is an error event,
// never the caller's error; the instance's own stampede protection still
// runs the factory once.
func TestLocker_FailingDegradesToLocal(t *testing.T) {
	b := newBento(t, lockedStore(fakeLocker{err: errors.New("connection refused")}))
	rec := record(b)
	var runs atomic.Int32
	factory := func(context.Context, *bento.FactoryContext[string]) (string, error) {
		runs.Add(1)
		time.Sleep(10 * time.Millisecond) // let the callers pile up
		return "v", nil
	}
	var wg sync.WaitGroup
	for range 20 {
		wg.Go(func() {
			if v, err := bento.GetOrSet(t.Context(), b.Default(), "k", factory); err != nil || v != "v" {
				t.Errorf("GetOrSet with a failing locker = %q, %v; want \"v\", <nil>", v, err)
			}
		})
	}
	wg.Wait()
	if n := runs.Load(); n != 1 {
		t.Errorf("factory runs = %d; want 1 (per-instance protection)", n)
	}
	if n := rec.count(bento.EventError, nil); n != 1 {
		t.Errorf("error events for the failing locker = %d; want 1", n)
	}
}

// TestLocker_WaitBoundedByLockTimeout: while another instance holds the lock
// and writes nothing, a caller waits LockTimeout and gets ErrLockTimeout.
func TestLocker_WaitBoundedByLockTimeout(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := newBento(t, lockedStore(fakeLocker{}))
		defer b.Close()
		_, err := bento.GetOrSet(t.Context(), b.Default(), "k", constant("v", new(atomic.Int32)), bento.LockTimeout(time.Second))
		if !errors.Is(err, bento.ErrLockTimeout) {
			t.Errorf("GetOrSet while another instance holds the lock = %v; want ErrLockTimeout", err)
		}
	})
}

// TestLocker_NeedsL2: a locker without an L2 is a configuration error.
func TestLocker_NeedsL2(t *testing.T) {
	_, err := bento.New(bento.Config{Stores: map[string]*bento.Store{
		"main": bento.NewStore().UseL1(memory.New(memory.Options{})).UseLocker(fakeLocker{}),
	}})
	if err == nil {
		t.Fatal("New with a locker and no L2 succeeded; want an error")
	}
}

// finishedLocker is a cluster-wide lock whose last holder, on another
// instance, wrote its value and let go just before this instance's Acquire:
// before granting the lock, Acquire runs wrote, which writes that value.
type finishedLocker struct {
	wrote    func()
	released atomic.Int32
}

func (f *finishedLocker) Acquire(context.Context, string) (bento.Lock, error) {
	f.wrote()
	return finishedLock{f}, nil
}
func (*finishedLocker) Disconnect() error { return nil }

type finishedLock struct{ f *finishedLocker }

func (finishedLock) Lease() time.Duration          { return time.Minute }
func (finishedLock) Refresh(context.Context) error { return nil }
func (l finishedLock) Release(context.Context) error {
	l.f.released.Add(1)
	return nil
}

// TestLocker_LooksAtL2AfterAcquiring: a caller that gets the lock after
// the last holder wrote the value and let go — between its own look at L2
// and its Acquire — serves that value instead of running its factory again,
// and lets go of the lock.
func TestLocker_LooksAtL2AfterAcquiring(t *testing.T) {
	l2 := mapstore.NewL2(mapstore.L2Options{})
	other := newBento(t, bento.NewStore().UseL2(l2)) // the last holder's instance
	locker := &finishedLocker{wrote: func() {
		if err := other.Default().Set(context.Background(), "k", "theirs"); err != nil {
			t.Error(err)
		}
	}}
	b := newBento(t, bento.NewStore().UseL1(memory.New(memory.Options{})).UseL2(l2).UseLocker(locker))
	var runs atomic.Int32
	v, err := bento.GetOrSet(t.Context(), b.Default(), "k", func(context.Context, *bento.FactoryContext[string]) (string, error) {
		runs.Add(1)
		return "mine", nil
	})
	if err != nil || v != "theirs" || runs.Load() != 0 {
		t.Errorf("GetOrSet after the last holder wrote and let go = %q, %v with %d factory runs; want %q, <nil> with none", v, err, runs.Load(), "theirs")
	}
	if n := locker.released.Load(); n != 1 {
		t.Errorf("the lock was released %d times; want once", n)
	}
}
