package bento

import (
	"errors"
	"fmt"
)

// Sentinel errors, testable with [errors.Is].
var (
	// ErrSoftTimeout is the cause reported to [OnFactoryError] when a factory
	// that outlived its soft timeout (its caller already got the stale value)
	// then failed in the background.
	ErrSoftTimeout = errors.New("bento: soft timeout")
	// ErrHardTimeout is returned when a factory outlives its [HardTimeout]. The
	// factory still finishes and its value is stored.
	ErrHardTimeout = errors.New("bento: hard timeout")
	// ErrLockTimeout is returned when a caller waited [LockTimeout] for another
	// caller's factory on the same key.
	ErrLockTimeout = errors.New("bento: lock timeout")
	// ErrInvalidKey is wrapped by the error of a call with an empty key or a key
	// in bento's reserved space.
	ErrInvalidKey = errors.New("bento: invalid key")
	// ErrUnknownStore is wrapped by [Bento.Use] for a store name that is not
	// configured.
	ErrUnknownStore = errors.New("bento: unknown store")
	// ErrClosed is returned by calls on a manager after [Bento.Close].
	ErrClosed = errors.New("bento: closed")
	// ErrInvalidOption is wrapped by the error of a call, store or manager
	// given an invalid option (a negative duration, an empty tag, a store
	// option on one call).
	ErrInvalidOption = errors.New("bento: invalid option")
	// ErrInvalidTag is wrapped by the error of DeleteByTag or ExpireByTag
	// called with no tag or an empty one.
	ErrInvalidTag = errors.New("bento: invalid tag")
	// ErrUnencodable is wrapped by the error of a write whose value the
	// store's serializer cannot encode.
	ErrUnencodable = errors.New("bento: value cannot be encoded")
)

// optionError is an invalid option: its message says which and why, and it
// matches [ErrInvalidOption].
type optionError struct{ msg string }

func (e *optionError) Error() string        { return e.msg }
func (e *optionError) Is(target error) bool { return target == ErrInvalidOption }

func invalidOption(format string, args ...any) error {
	return &optionError{msg: fmt.Sprintf(format, args...)}
}

// FactoryError reports a failed (or panicking) factory. It wraps the cause.
type FactoryError struct {
	Store      string // the store's name
	Key        string // the key, within its namespace
	Namespace  string // the namespace path, "" for the root
	Background bool   // whether the factory ran in a background refresh
	Cause      error
}

func (e *FactoryError) Error() string {
	where := "factory"
	if e.Background {
		where = "background factory"
	}
	return fmt.Sprintf("bento: store %q: key %q: %s: %v", e.Store, qualified(e.Namespace, e.Key), where, e.Cause)
}

// Unwrap returns the cause.
func (e *FactoryError) Unwrap() error { return e.Cause }

// PanicError is the [FactoryError.Cause] of a factory that panicked.
type PanicError struct {
	Value any    // what the factory panicked with
	Stack []byte // the goroutine's stack at the panic
}

func (e *PanicError) Error() string { return fmt.Sprintf("panic: %v", e.Value) }

// L2Error reports a failed L2 operation that was not suppressed (see
// [SuppressL2Errors]). It wraps the driver's error.
type L2Error struct {
	Store     string // the store's name
	Op        string // the driver method: "get", "set", "delete", "delete_many", "clear", "prune"
	Namespace string // the namespace path, "" for the root
	Key       string // the key within Namespace, "" for operations on many keys
	Err       error
}

func (e *L2Error) Error() string {
	if e.Key == "" {
		if e.Namespace == "" {
			return fmt.Sprintf("bento: store %q: l2 %s: %v", e.Store, e.Op, e.Err)
		}
		return fmt.Sprintf("bento: store %q: namespace %q: l2 %s: %v", e.Store, e.Namespace, e.Op, e.Err)
	}
	return fmt.Sprintf("bento: store %q: l2 %s %q: %v", e.Store, e.Op, qualified(e.Namespace, e.Key), e.Err)
}

// Unwrap returns the driver's error.
func (e *L2Error) Unwrap() error { return e.Err }

func qualified(namespace, key string) string {
	if namespace == "" {
		return key
	}
	return namespace + ":" + key
}
