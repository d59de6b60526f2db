// Package bench measures bento side by side with the caches a Go user would
// pick instead, on the same workloads, in one run. It is a module of its own
// so that the peers never enter bento's dependencies. See docs/benchmarks.md
// for the results and bench/run for how they are made.
package bench
