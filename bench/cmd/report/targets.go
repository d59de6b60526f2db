package main

import (
	"fmt"
	"math"
	"sort"
	"strings"
)

// A check is one line of the targets summary.
type check struct {
	state checkState
	what  string
	got   string
}

type checkState int

const (
	notMeasured checkState = iota
	passed
	failed
)

func (c check) mark() string {
	switch c.state {
	case passed:
		return "✓"
	case failed:
		return "✗"
	}
	return "–"
}

func verdict(ok bool) checkState {
	if ok {
		return passed
	}
	return failed
}

// checks evaluates every target. A target whose input is missing says
// "not measured" rather than vanishing, so a partial run is visible.
func (r *report) checks() []check {
	var cs []check
	for _, gpc := range r.gpcs(l1HitBase) {
		cs = append(cs, r.ratioCheck(
			fmt.Sprintf("L1 hit (bento `GetOrSet`) within %gx of otter's `GetIfPresent`, gpc=%s", l1VsOtterMax, gpc),
			l1HitBase, "otter", gpc, l1VsOtterMax))
	}
	for _, gpc := range r.gpcs(l1HitBase) {
		cs = append(cs, r.allocCheck(gpc))
	}
	cs = append(cs, r.fasterCheck())
	for _, gpc := range r.gpcs(tieredBase) {
		cs = append(cs, r.ratioCheck(
			fmt.Sprintf("TieredGet within %gx of goredis, gpc=%s", tieredVsRedis, gpc),
			tieredBase, "goredis", gpc, tieredVsRedis))
	}
	cs = append(cs, r.busCheck())
	for _, w := range jsWorkloads {
		cs = append(cs, r.jsCheck(w.name, w.target))
	}
	cs = append(cs, r.maxSizeCheck())
	return cs
}

// gpcs lists the gpc values a per-gpc target is checked at: the two the
// benchmarks promise, and any other they ran.
func (r *report) gpcs(base string) []string {
	seen := map[string]bool{"1": true, "2": true}
	out := []string{"1", "2"}
	for _, b := range r.res.family(base) {
		if g := b.param("gpc"); g != "" && !seen[g] {
			seen[g] = true
			out = append(out, g)
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return atoiOr(out[i], 1<<30) < atoiOr(out[j], 1<<30) })
	return out
}

// find returns the first result of base for peer at gpc, or nil.
func (r *report) find(base, peer, gpc string) *bench {
	for _, b := range r.res.family(base) {
		if b.param("peer") == peer && b.param("gpc") == gpc {
			return b
		}
	}
	return nil
}

// ratioCheck checks bento's ns/op ÷ other's ns/op ≤ most.
func (r *report) ratioCheck(what, base, other, gpc string, most float64) check {
	c := check{what: what}
	bento, okB := r.find(base, "bento", gpc).nsPerOp()
	them, okT := r.find(base, other, gpc).nsPerOp()
	switch {
	case !okB && !okT:
		c.got = "not measured"
	case !okB:
		c.got = "not measured: no bento result"
	case !okT || them <= 0:
		c.got = "not measured: no " + other + " result"
	default:
		ratio := bento / them
		c.state = verdict(ratio <= most)
		c.got = fmt.Sprintf("%s (bento %s ns/op, %s %s ns/op)", fmtRatio(ratio), fmtNum(bento), other, fmtNum(them))
	}
	return c
}

// allocCheck checks that an L1 hit allocates nothing.
func (r *report) allocCheck(gpc string) check {
	c := check{what: "L1 hit allocates nothing, gpc=" + gpc}
	b := r.find(l1HitBase, "bento", gpc)
	allocs, ok := b.median("allocs/op")
	switch {
	case b == nil:
		c.got = "not measured"
	case !ok:
		c.got = "not measured: run with -benchmem"
	default:
		c.state = verdict(allocs == 0)
		c.got = fmtNum(allocs) + " allocs/op"
		if bytes, ok := b.median("B/op"); ok && bytes > 0 {
			c.got += ", " + fmtNum(bytes) + " B/op"
		}
	}
	return c
}

// fasterCheck checks bento against every competitor (not the limits)
// in every peer workload and gpc, and names each miss.
func (r *report) fasterCheck() check {
	c := check{what: "bento faster than every Go peer (limits aside), in every workload and gpc"}
	var misses, noBento []string
	n := 0
	closest, closestAt := math.Inf(1), ""
	for _, base := range r.peerBases() {
		groups, peers := r.peerGroups(base)
		for _, g := range groups {
			at := base + " " + g.label()
			bento, ok := g.byPeer["bento"].nsPerOp()
			if !ok || bento <= 0 {
				noBento = append(noBento, at)
				continue
			}
			for _, p := range peers {
				ns, ok := g.byPeer[p].nsPerOp()
				if p == "bento" || limits[p] || !ok {
					continue
				}
				n++
				ratio := ns / bento
				if ratio < 1 {
					misses = append(misses, fmt.Sprintf("%s: %s at %s", at, p, fmtRatio(ratio)))
				}
				if ratio < closest {
					closest, closestAt = ratio, fmt.Sprintf("%s against %s at %s", at, p, fmtRatio(ratio))
				}
			}
		}
	}
	switch {
	case n == 0:
		c.got = "not measured"
	case len(misses) > 0:
		c.state = failed
		c.got = fmt.Sprintf("slower in %d of %d: %s", len(misses), n, strings.Join(misses, "; "))
	default:
		c.state = passed
		c.got = fmt.Sprintf("faster in all %d comparisons; closest: %s", n, closestAt)
	}
	if len(noBento) > 0 && n > 0 {
		c.got += "; not measured for bento: " + strings.Join(noBento, ", ")
	}
	return c
}

// peerBases lists the peer workloads in page order: the promised ones,
// then any other benchmark whose sub-benchmarks all name a peer, so
// that a new workload needs no change here.
func (r *report) peerBases() []string {
	var out []string
	seen := map[string]bool{}
	for _, w := range peerWorkloads {
		out = append(out, w.base)
		seen[w.base] = true
	}
	for _, b := range r.res.benches {
		if seen[b.base] || special(b.base) {
			continue
		}
		seen[b.base] = true
		if allHavePeer(r.res.family(b.base)) {
			out = append(out, b.base)
		}
	}
	return out
}

func (r *report) busCheck() check {
	c := check{what: fmt.Sprintf("Bus propagation p99 under %g ms over Redis", busP99MaxMs)}
	for _, b := range r.res.family(busBase) {
		if b.param("bus") != "redis" {
			continue
		}
		p99, ok := b.median("p99-ns")
		if !ok {
			break
		}
		c.state = verdict(p99/1e6 < busP99MaxMs)
		c.got = fmt.Sprintf("p99 %s ms", sig3(p99/1e6))
		if p50, ok := b.median("p50-ns"); ok {
			c.got += fmt.Sprintf(" (p50 %s ms)", sig3(p50/1e6))
		}
		return c
	}
	c.got = "not measured"
	return c
}

func (r *report) jsCheck(workload string, least float64) check {
	c := check{what: fmt.Sprintf("bento at least %gx BentoCache (Node) on `%s`", least, workload)}
	var goB, jsB *bench
	for _, b := range r.res.family(goJSBase) {
		if b.param("workload") == workload && goB == nil {
			goB = b
		}
	}
	for _, b := range r.res.family(jsBase) {
		if b.param("workload") == workload && jsB == nil {
			jsB = b
		}
	}
	goNs, okG := goB.nsPerOp()
	jsNs, okJ := jsB.nsPerOp()
	switch {
	case !okG && !okJ:
		c.got = "not measured"
	case !okG || goNs <= 0:
		c.got = "not measured: no bento result"
	case !okJ:
		c.got = "not measured: no BentoCache result"
	default:
		speedup := jsNs / goNs
		c.state = verdict(speedup >= least)
		c.got = fmt.Sprintf("%s (bento %s ns/op, BentoCache %s ns/op)", fmtRatio(speedup), fmtNum(goNs), fmtNum(jsNs))
	}
	return c
}

func (r *report) maxSizeCheck() check {
	c := check{what: fmt.Sprintf("MaxSize keeps the cache within %gx its bound", sizeRatioMax)}
	var over []string
	worst, n := 0.0, 0
	for _, b := range r.res.family(maxSizeBase) {
		v, ok := b.median("size-ratio")
		if !ok {
			continue
		}
		n++
		worst = math.Max(worst, v)
		if v > sizeRatioMax {
			over = append(over, fmt.Sprintf("`%s` %s", r.displayName(b), sig3(v)))
		}
	}
	switch {
	case n == 0:
		c.got = "not measured"
	case len(over) > 0:
		c.state = failed
		c.got = "over in " + strings.Join(over, ", ")
	default:
		c.state = passed
		c.got = "size-ratio at most " + sig3(worst)
	}
	return c
}
