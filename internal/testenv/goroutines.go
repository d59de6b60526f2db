package testenv

import (
	"maps"
	"regexp"
	"runtime"
	"slices"
	"strings"
	"time"
)

// Goroutines is a snapshot of the goroutines running: how many run each
// stack of calls, with the goroutine IDs, states, argument values and
// source lines left out, so that two snapshots can be compared (a
// goroutine parked at another line of the same function is the same).
type Goroutines map[string]int

// SnapshotGoroutines returns the goroutines running now, except the
// caller and those whose stack names a function that contains one of
// without (such as "caddy/v2.replaceLocalAdminServer").
func SnapshotGoroutines(without ...string) Goroutines {
	buf := make([]byte, 1<<20)
	for {
		n := runtime.Stack(buf, true)
		if n < len(buf) {
			buf = buf[:n]
			break
		}
		buf = make([]byte, 2*len(buf))
	}
	g := make(Goroutines)
	for i, st := range strings.Split(string(buf), "\n\n") {
		if i == 0 {
			continue // the caller
		}
		st = normalize(st)
		if !slices.ContainsFunc(without, func(w string) bool { return strings.Contains(st, w) }) {
			g[st]++
		}
	}
	return g
}

var (
	header = regexp.MustCompile(`^goroutine \d+ \[[^\]]*\]:\n`)
	args   = regexp.MustCompile(`\([^()\n]*\)$`)
	parent = regexp.MustCompile(` in goroutine \d+$`)
)

// normalize keeps of one goroutine's stack the functions it runs, in order.
func normalize(st string) string {
	var calls []string
	for line := range strings.SplitSeq(header.ReplaceAllString(strings.TrimSpace(st)+"\n", ""), "\n") {
		if line == "" || strings.HasPrefix(line, "\t") {
			continue // a source line
		}
		calls = append(calls, parent.ReplaceAllString(args.ReplaceAllString(line, ""), ""))
	}
	return strings.Join(calls, "\n")
}

// Len returns the number of goroutines in g.
func (g Goroutines) Len() int {
	n := 0
	for _, c := range g {
		n += c
	}
	return n
}

// Since returns the stacks that run on more goroutines in g than in
// before, one entry per extra goroutine, sorted.
func (g Goroutines) Since(before Goroutines) []string {
	var extra []string
	for _, st := range slices.Sorted(maps.Keys(g)) {
		for range g[st] - before[st] {
			extra = append(extra, st)
		}
	}
	return extra
}

// GoroutinesBack polls, until timeout, for the goroutines running (as
// [SnapshotGoroutines] with without counts them) to be no more than
// before: a goroutine that has returned from its last call may take a
// moment to exit, more so on a loaded machine. It returns nil once they
// are, else the stacks of the goroutines that outlived the wait and were
// not running in before.
func GoroutinesBack(before Goroutines, timeout time.Duration, without ...string) []string {
	deadline := time.Now().Add(timeout)
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for {
		now := SnapshotGoroutines(without...)
		if now.Len() <= before.Len() {
			return nil
		}
		if time.Now().After(deadline) {
			return now.Since(before)
		}
		<-tick.C
	}
}
