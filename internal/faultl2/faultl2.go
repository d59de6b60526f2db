// Package faultl2 wraps a [bento.L2Driver] so that tests can make it fail on
// demand, as a backend that went down would, and count the calls that reached
// it.
//
//	l2 := faultl2.Wrap(mapstore.NewL2(mapstore.L2Options{}))
//	l2.Fail(errors.New("connection refused")) // every call fails from now on
//	l2.Heal()                                  // and works again
package faultl2

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/bentocache/bento"
)

// ErrInjected is the fault used by [Driver.Fail] when it is given a nil error.
var ErrInjected = errors.New("faultl2: injected fault")

// Driver is a [bento.L2Driver] that forwards to an inner driver until told to
// fail. It also implements [bento.L2BatchDriver] and [bento.Pruner],
// whether or not the inner driver does (see [Driver.GetMany], [Driver.SetMany]
// and [Driver.Prune]). Its namespace views share the fault state and the call
// count. It is safe for concurrent use.
type Driver struct {
	inner bento.L2Driver
	st    *state
}

// state is shared by a Driver and its namespace views.
type state struct {
	mu    sync.RWMutex
	err   error // nil: healthy
	calls atomic.Int64
	hold  *readHold // the next Get to hold; nil: none
}

// readHold is a Get that waits, after reading, for the test to let it go.
type readHold struct {
	held chan struct{} // closed when a Get waits
	gate chan struct{} // closed by release
}

// Wrap returns a healthy Driver in front of inner.
func Wrap(inner bento.L2Driver) *Driver {
	return &Driver{inner: inner, st: new(state)}
}

// Fail makes every call from now on, on dr and its namespace views, return an
// error wrapping err without reaching the inner driver. A nil err means
// [ErrInjected]. Namespace and Disconnect are not affected.
func (dr *Driver) Fail(err error) {
	if err == nil {
		err = ErrInjected
	}
	dr.st.mu.Lock()
	dr.st.err = err
	dr.st.mu.Unlock()
}

// Heal ends a [Driver.Fail]: calls reach the inner driver again.
func (dr *Driver) Heal() {
	dr.st.mu.Lock()
	dr.st.err = nil
	dr.st.mu.Unlock()
}

// Calls returns the number of calls attempted on dr and its namespace views,
// failed ones included: every method but Namespace and Disconnect counts.
func (dr *Driver) Calls() int64 {
	return dr.st.calls.Load()
}

// HoldNextRead makes the next Get, on dr or one of its namespace views, read
// from the inner driver and then wait, holding what it read, until release
// is called or the Get's context ends: an L2 round trip caught in flight,
// for tests of what may happen meanwhile. held is closed once that Get
// waits. Calling release twice is fine.
func (dr *Driver) HoldNextRead() (held <-chan struct{}, release func()) {
	h := &readHold{held: make(chan struct{}), gate: make(chan struct{})}
	dr.st.mu.Lock()
	dr.st.hold = h
	dr.st.mu.Unlock()
	var once sync.Once
	return h.held, func() { once.Do(func() { close(h.gate) }) }
}

// Namespace returns a view of the inner driver's namespace that shares dr's
// fault state and call count.
func (dr *Driver) Namespace(namespace string) bento.L2Driver {
	return &Driver{inner: dr.inner.Namespace(namespace), st: dr.st}
}

// Get forwards to the inner driver, or fails.
func (dr *Driver) Get(ctx context.Context, key string) ([]byte, bool, error) {
	if err := dr.enter(); err != nil {
		return nil, false, fmt.Errorf("faultl2: get %q: %w", key, err)
	}
	v, found, err := dr.inner.Get(ctx, key)
	dr.st.mu.Lock()
	h := dr.st.hold
	dr.st.hold = nil
	dr.st.mu.Unlock()
	if h != nil {
		close(h.held)
		select {
		case <-h.gate:
		case <-ctx.Done():
			return nil, false, ctx.Err()
		}
	}
	return v, found, err
}

// Pull forwards to the inner driver, or fails.
func (dr *Driver) Pull(ctx context.Context, key string) ([]byte, bool, error) {
	if err := dr.enter(); err != nil {
		return nil, false, fmt.Errorf("faultl2: pull %q: %w", key, err)
	}
	return dr.inner.Pull(ctx, key)
}

// Set forwards to the inner driver, or fails.
func (dr *Driver) Set(ctx context.Context, key string, value []byte, ttl time.Duration) error {
	if err := dr.enter(); err != nil {
		return fmt.Errorf("faultl2: set %q: %w", key, err)
	}
	return dr.inner.Set(ctx, key, value, ttl)
}

// Has forwards to the inner driver, or fails.
func (dr *Driver) Has(ctx context.Context, key string) (bool, error) {
	if err := dr.enter(); err != nil {
		return false, fmt.Errorf("faultl2: has %q: %w", key, err)
	}
	return dr.inner.Has(ctx, key)
}

// Clear forwards to the inner driver, or fails.
func (dr *Driver) Clear(ctx context.Context) error {
	if err := dr.enter(); err != nil {
		return fmt.Errorf("faultl2: clear: %w", err)
	}
	return dr.inner.Clear(ctx)
}

// Delete forwards to the inner driver, or fails.
func (dr *Driver) Delete(ctx context.Context, key string) (bool, error) {
	if err := dr.enter(); err != nil {
		return false, fmt.Errorf("faultl2: delete %q: %w", key, err)
	}
	return dr.inner.Delete(ctx, key)
}

// DeleteMany forwards to the inner driver, or fails.
func (dr *Driver) DeleteMany(ctx context.Context, keys []string) (bool, error) {
	if err := dr.enter(); err != nil {
		return false, fmt.Errorf("faultl2: delete %d keys: %w", len(keys), err)
	}
	return dr.inner.DeleteMany(ctx, keys)
}

// Disconnect forwards to the inner driver, even while failing: it releases
// local resources and is not counted.
func (dr *Driver) Disconnect() error {
	return dr.inner.Disconnect()
}

// GetMany forwards to the inner driver, or fails. When the inner driver is
// not a [bento.L2BatchDriver], it calls Get once per key (one counted call in
// all).
func (dr *Driver) GetMany(ctx context.Context, keys []string) ([][]byte, error) {
	if err := dr.enter(); err != nil {
		return nil, fmt.Errorf("faultl2: get %d keys: %w", len(keys), err)
	}
	if b, ok := dr.inner.(bento.L2BatchDriver); ok {
		return b.GetMany(ctx, keys)
	}
	values := make([][]byte, len(keys))
	for i, k := range keys {
		v, found, err := dr.inner.Get(ctx, k)
		if err != nil {
			return nil, err
		}
		if found && v == nil {
			v = []byte{}
		}
		values[i] = v
	}
	return values, nil
}

// SetMany forwards to the inner driver, or fails. When the inner driver is
// not a [bento.L2BatchDriver], it calls Set once per entry (one counted call
// in all).
func (dr *Driver) SetMany(ctx context.Context, entries []bento.KeyValue, ttl time.Duration) error {
	if err := dr.enter(); err != nil {
		return fmt.Errorf("faultl2: set %d keys: %w", len(entries), err)
	}
	if b, ok := dr.inner.(bento.L2BatchDriver); ok {
		return b.SetMany(ctx, entries, ttl)
	}
	for _, kv := range entries {
		if err := dr.inner.Set(ctx, kv.Key, kv.Value, ttl); err != nil {
			return err
		}
	}
	return nil
}

// Prune forwards to the inner driver, or fails. When the inner driver is not
// a [bento.Pruner] (its backend expires entries by itself), it does nothing.
func (dr *Driver) Prune(ctx context.Context) error {
	if err := dr.enter(); err != nil {
		return fmt.Errorf("faultl2: prune: %w", err)
	}
	if p, ok := dr.inner.(bento.Pruner); ok {
		return p.Prune(ctx)
	}
	return nil
}

// enter counts a call and returns the injected fault, if any.
func (dr *Driver) enter() error {
	dr.st.calls.Add(1)
	dr.st.mu.RLock()
	defer dr.st.mu.RUnlock()
	return dr.st.err
}

// Interface guards
var (
	_ bento.L2Driver      = (*Driver)(nil)
	_ bento.L2BatchDriver = (*Driver)(nil)
	_ bento.Pruner        = (*Driver)(nil)
)
