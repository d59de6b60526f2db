// Package percpu is a counter for hot paths that many cores run at once: an
// increment goes to the stripe of the processor (P) it runs on, so that it
// never moves a cache line between cores; a read sums the stripes.
//
// It pins the goroutine to its P for the one atomic add, as sync.Pool does
// internally, through the runtime's procPin and procUnpin (linknamed; the
// runtime keeps them for this use).
package percpu

import (
	"runtime"
	"sync/atomic"
	_ "unsafe" // for go:linkname
)

//go:linkname procPin runtime.procPin
func procPin() int

//go:linkname procUnpin runtime.procUnpin
func procUnpin()

// stripe is one P's share, alone on its cache line.
type stripe struct {
	n atomic.Uint64
	_ [56]byte
}

// Counter is a striped counter. Its zero value is not usable: see New.
type Counter struct {
	stripes []stripe
	mask    int
}

// New returns a counter with a stripe for each of GOMAXPROCS's processors
// (rounded up to a power of two; a P beyond them shares a stripe).
func New() *Counter {
	n := 1
	for n < runtime.GOMAXPROCS(0) {
		n <<= 1
	}
	return &Counter{stripes: make([]stripe, n), mask: n - 1}
}

// Inc adds one.
func (c *Counter) Inc() {
	p := procPin()
	c.stripes[p&c.mask].n.Add(1)
	procUnpin()
}

// Load returns the sum of the stripes.
func (c *Counter) Load() uint64 {
	var n uint64
	for i := range c.stripes {
		n += c.stripes[i].n.Load()
	}
	return n
}
