package bento

import "sync/atomic"

// breaker is the per-store L2 circuit breaker: after a failure L2 is skipped
// for a while, then one trial call decides (half-open).
type breaker struct {
	span       int64        // milliseconds; 0: off
	openUntil  atomic.Int64 // unix ms; 0: closed
	trial      atomic.Bool  // a half-open trial is under way
	recovering atomic.Bool  // L2 answered; failed changes are being replayed first
}

// allow reports whether an L2 call may go ahead at now.
func (b *breaker) allow(now int64) bool {
	if b.span == 0 {
		return true
	}
	if b.recovering.Load() {
		return false
	}
	until := b.openUntil.Load()
	if until == 0 {
		return true
	}
	if now < until {
		return false
	}
	return b.trial.CompareAndSwap(false, true)
}

func (b *breaker) success() {
	if b.span == 0 {
		return
	}
	b.openUntil.Store(0)
	b.trial.Store(false)
}

// release ends a half-open trial that decided nothing (its caller gave up),
// so that the next call may try.
func (b *breaker) release() { b.trial.Store(false) }

func (b *breaker) failure(now int64) {
	if b.span == 0 {
		return
	}
	b.openUntil.Store(now + b.span)
	b.trial.Store(false)
}
