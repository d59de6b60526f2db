// Package clock is bento's coarse clock. Reading the precise time costs tens
// of nanoseconds, as much as a whole L1 hit; a Clock is read with one atomic
// load while a goroutine refreshes it once per resolution.
//
// Unlike otter's CoarseClock, whose goroutine wakes once per resolution for as
// long as the clock lives, a Clock parks its goroutine after a while without
// readers (an idle process then costs nothing). While parked, readers read the
// precise time themselves, and two reads within [wakeWindow] wake it: a busy
// cache wakes it at once, while a lone periodic reader (otter's once-a-second
// clean-up of an idle cache) does not keep it awake. Under testing/synctest
// this also keeps long fake sleeps from stepping through millions of ticks.
package clock

import (
	"sync"
	"sync/atomic"
	"time"
)

// Clock is a coarse unix-millisecond clock; see the package doc. It is safe for
// concurrent use.
type Clock struct {
	resolution time.Duration
	awake      int // ticks to stay awake after a wake-up

	now        atomic.Int64 // unix ms; 0 while parked
	lastParked atomic.Int64 // unix ms of the last read while parked
	wake       chan struct{}
	stop       chan struct{}
	done       chan struct{}
	once       sync.Once
}

// wakeWindow is how close two reads of a parked clock must be to wake it.
const wakeWindow = 10 // milliseconds

// New returns a Clock refreshed every resolution. Each wake-up keeps it
// running for awakeFor, then it parks until readers wake it again. Stop
// releases its goroutine.
func New(resolution, awakeFor time.Duration) *Clock {
	c := &Clock{
		resolution: resolution,
		awake:      max(int(awakeFor/resolution), 1),
		wake:       make(chan struct{}, 1),
		stop:       make(chan struct{}),
		done:       make(chan struct{}),
	}
	go c.run()
	return c
}

// NowMilli returns the time in unix milliseconds, lagging the precise time by
// up to the resolution (more when the goroutine cannot run in time).
func (c *Clock) NowMilli() int64 {
	if now := c.now.Load(); now != 0 {
		return now
	}
	now := time.Now().UnixMilli()
	if now-c.lastParked.Swap(now) <= wakeWindow {
		select {
		case c.wake <- struct{}{}:
		default:
		}
	}
	return now
}

// NowNano is NowMilli in nanoseconds, for otter's Clock interface.
func (c *Clock) NowNano() int64 { return c.NowMilli() * int64(time.Millisecond) }

// Tick returns a channel of ticks every d, as otter's Clock interface wants
// for its periodic clean-up.
func (c *Clock) Tick(d time.Duration) <-chan time.Time { return time.Tick(d) }

// Stop ends the goroutine and waits for it; the clock then reads the precise
// time on every call. Calling Stop twice is fine.
func (c *Clock) Stop() {
	c.once.Do(func() { close(c.stop) })
	<-c.done
	c.now.Store(0)
}

func (c *Clock) run() {
	defer close(c.done)
	for {
		select {
		case <-c.stop:
			return
		case <-c.wake:
		}
		if !c.tick() {
			return
		}
	}
}

// tick refreshes the time for the awake period, then parks; it reports false
// when the clock was stopped.
func (c *Clock) tick() bool {
	c.now.Store(time.Now().UnixMilli())
	t := time.NewTicker(c.resolution)
	defer t.Stop()
	for range c.awake {
		select {
		case <-c.stop:
			return false
		case <-t.C:
			c.now.Store(time.Now().UnixMilli())
		}
	}
	c.now.Store(0)
	return true
}
