package bento

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"github.com/bentocache/bento/internal/keys"
)

// lockPoll is how often a caller waiting for another instance's factory
// looks at L2 when no bus message woke it first.
const lockPoll = 50 * time.Millisecond

// lockPrefix starts the name of a key's cluster-wide lock, within the
// reserved space of its namespace.
const lockPrefix = reservedPrefix + ":lock:"

// heldLock is a cluster-wide lock this instance owns, refreshed until
// released.
type heldLock struct {
	lock Lock
	lost atomic.Bool // a refresh failed: another instance may hold it now
	stop chan struct{}
	done sync.WaitGroup
}

// release stops the refreshes and gives the lock back.
func (h *heldLock) release() {
	close(h.stop)
	h.done.Wait()
	ctx, cancel := context.WithTimeout(context.Background(), closeTimeout)
	defer cancel()
	_ = h.lock.Release(ctx)
}

// lockOrWait takes the cluster-wide lock of key before its factory runs. It
// returns the lock when this instance now holds it, or the entry another
// instance's factory wrote to L2 while this caller waited for it: woken by
// the bus (a message for the namespace) or, at the latest, every lockPoll,
// it looks at L2, and it takes the lock itself when the holder let it go or
// lost it (its lease ran out). A waiter gives up after LockTimeout with
// ErrLockTimeout. A locker that fails is reported (an error event, a warning)
// and the factory runs here: protection falls back to this instance alone,
// never to an error for the caller.
func lockOrWait[T any](ctx context.Context, c *Cache, key string, o *options) (*heldLock, *entry, error) {
	name := keys.Join(c.st.opts.prefix, keys.Join(c.path, lockPrefix+key))
	var deadline <-chan time.Time
	if o.lockTimeout > 0 {
		t := time.NewTimer(o.lockTimeout)
		defer t.Stop()
		deadline = t.C
	}
	poll := time.NewTicker(lockPoll)
	defer poll.Stop()
	// written returns the fresh entry of key in L2, which a holder on
	// another instance wrote, if there is one.
	written := func() (*entry, error) {
		e, state, err := fromL2[T](ctx, c, o, key, c.st.b.now())
		if err != nil || state != stateFresh {
			return nil, err
		}
		return e, nil
	}
	for {
		changed := c.changes()
		lock, err := c.st.locker.Acquire(ctx, name)
		switch {
		case err != nil && ctx.Err() != nil:
			return nil, nil, fmt.Errorf("bento: store %q: key %q: waiting for the cluster-wide lock: %w", c.st.name, qualified(c.path, key), ctx.Err())
		case err != nil:
			err = fmt.Errorf("bento: store %q: key %q: locker: %w", c.st.name, qualified(c.path, key), err)
			c.st.logger.Warn("locker failed; the factory runs without the cluster-wide lock", zap.String("namespace", c.path), zap.String("key", key), zap.Error(err))
			c.emit(Event{Kind: EventError, Key: key, Err: err})
			return nil, nil, nil
		case lock != nil:
			held := hold(c, lock)
			// The last holder may have written the value and let go of the
			// lock between this caller's last look at L2 and this Acquire:
			// look again before running the factory a second time.
			// An error here only means the factory runs, as it would have.
			if e, _ := written(); e != nil {
				held.release()
				return nil, e, nil
			}
			return held, nil, nil
		}
		select {
		case <-changed:
		case <-poll.C:
		case <-deadline:
			return nil, nil, fmt.Errorf("%w: store %q: key %q: waited %s for another instance's factory", ErrLockTimeout, c.st.name, qualified(c.path, key), o.lockTimeout)
		case <-ctx.Done():
			return nil, nil, fmt.Errorf("bento: store %q: key %q: waiting for another instance's factory: %w", c.st.name, qualified(c.path, key), ctx.Err())
		}
		if e, err := written(); e != nil {
			return nil, e, nil
		} else if err != nil && !errors.Is(err, context.Canceled) {
			return nil, nil, err
		}
	}
}

// hold refreshes lock every third of its lease until released.
func hold(c *Cache, lock Lock) *heldLock {
	h := &heldLock{lock: lock, stop: make(chan struct{})}
	every := max(lock.Lease()/3, time.Millisecond)
	h.done.Add(1)
	go func() {
		defer h.done.Done()
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			select {
			case <-h.stop:
				return
			case <-t.C:
				ctx, cancel := context.WithTimeout(context.Background(), every)
				if err := lock.Refresh(ctx); err != nil {
					h.lost.Store(true)
					c.st.logger.Warn("cluster-wide lock lost while the factory runs", zap.String("namespace", c.path), zap.Error(err))
				}
				cancel()
			}
		}
	}()
	return h
}

// changes returns a channel that is closed at the next bus message for this
// namespace: what wakes the callers waiting for another instance's factory.
func (c *Cache) changes() <-chan struct{} {
	c.changedMu.Lock()
	defer c.changedMu.Unlock()
	if c.changed == nil {
		c.changed = make(chan struct{})
	}
	return c.changed
}

// changedNow wakes the callers waiting on changes.
func (c *Cache) changedNow() {
	c.changedMu.Lock()
	defer c.changedMu.Unlock()
	if c.changed != nil {
		close(c.changed)
		c.changed = nil
	}
}
