package main

import (
	"math"
	"sort"
	"strings"
)

// peerSections writes one table and chart per peer workload.
func (r *report) peerSections() {
	r.para("## Workloads against the Go peers")
	what := map[string]string{}
	for _, w := range peerWorkloads {
		what[w.base] = w.what
	}
	for _, base := range r.peerBases() {
		r.peerSection(base, what[base])
	}
}

func special(base string) bool {
	switch base {
	case jsBase, goJSBase, busBase, memBase, maxSizeBase:
		return true
	}
	return false
}

func allHavePeer(bs []*bench) bool {
	for _, b := range bs {
		if b.param("peer") == "" {
			return false
		}
	}
	return len(bs) > 0
}

// A peerGroup is the rows compared with each other: the same gpc, the
// same other parameters, the same GOMAXPROCS.
type peerGroup struct {
	gpc, variant, procs string
	byPeer              map[string]*bench
}

func (g *peerGroup) label() string {
	s := "gpc=" + g.gpc
	if g.variant != "" {
		s += " " + g.variant
	}
	if g.procs != "" {
		s += " GOMAXPROCS=" + g.procs
	}
	return s
}

// peerGroups splits a workload's benchmarks into groups and lists the
// peers in row order.
func (r *report) peerGroups(base string) ([]*peerGroup, []string) {
	var groups []*peerGroup
	index := map[string]*peerGroup{}
	seen := map[string]bool{}
	var peers []string
	for _, b := range r.res.family(base) {
		peer := b.param("peer")
		if peer == "" {
			continue // left for the generic table
		}
		var variant []string
		for _, p := range b.params {
			if p[0] != "peer" && p[0] != "gpc" {
				variant = append(variant, strings.TrimPrefix(p[0]+"="+p[1], "="))
			}
		}
		g := &peerGroup{gpc: b.param("gpc"), variant: strings.Join(variant, " ")}
		if r.multi {
			g.procs = b.procs
		}
		key := g.label()
		if index[key] == nil {
			g.byPeer = map[string]*bench{}
			index[key] = g
			groups = append(groups, g)
		}
		if index[key].byPeer[peer] == nil {
			index[key].byPeer[peer] = b
		}
		r.used[b] = true
		if !seen[peer] {
			seen[peer] = true
			peers = append(peers, peer)
		}
	}
	sort.SliceStable(groups, func(i, j int) bool {
		a, b := groups[i], groups[j]
		if a.variant != b.variant {
			return a.variant < b.variant
		}
		if a.gpc != b.gpc {
			return atoiOr(a.gpc, 1<<30) < atoiOr(b.gpc, 1<<30)
		}
		return atoiOr(a.procs, 1) < atoiOr(b.procs, 1)
	})
	return groups, orderPeers(peers)
}

// orderPeers puts bento first, then the known peers in their order,
// then unknown ones alphabetically before the limits.
func orderPeers(peers []string) []string {
	rank := func(p string) int {
		for i, q := range peerOrder {
			if p == q {
				if limits[p] {
					return 100 + i
				}
				return i
			}
		}
		return 50
	}
	out := append([]string(nil), peers...)
	sort.SliceStable(out, func(i, j int) bool {
		ri, rj := rank(out[i]), rank(out[j])
		if ri != rj {
			return ri < rj
		}
		return out[i] < out[j]
	})
	return out
}

func peerLabel(p string) string {
	if limits[p] {
		return p + " *(limit)*"
	}
	if p == "bento" {
		return "**bento**"
	}
	return p
}

// chartPeer is a peer's name on a chart, where Markdown is not.
func chartPeer(p string) string {
	if limits[p] {
		return p + " (limit)"
	}
	return p
}

func (r *report) peerSection(base, what string) {
	r.para("### %s", base)
	if what != "" {
		r.para("`Benchmark%s`: %s", base, what)
	}
	groups, peers := r.peerGroups(base)
	if len(groups) == 0 {
		r.para("*Not measured.*")
		return
	}
	var members []*bench
	for _, b := range r.res.family(base) {
		if b.param("peer") != "" {
			members = append(members, b)
		}
	}
	extras := extraUnits(members, "ns/op", "B/op", "allocs/op")
	showVariant, showProcs := false, false
	for _, g := range groups {
		showVariant = showVariant || g.variant != ""
		showProcs = showProcs || g.procs != ""
	}

	var t table
	head := []string{"peer", "gpc"}
	if showVariant {
		head = append(head, "variant")
	}
	if showProcs {
		head = append(head, "GOMAXPROCS")
	}
	head = append(head, "ns/op", "allocs/op", "B/op", "ops/s", "vs bento")
	t.head(append(head, extras...)...)
	t.rightFrom(len(head) - 5)
	for _, g := range groups {
		bento, hasBento := g.byPeer["bento"].nsPerOp()
		for _, p := range peers {
			b := g.byPeer[p]
			if b == nil {
				continue
			}
			row := []string{peerLabel(p), g.gpc}
			if showVariant {
				row = append(row, g.variant)
			}
			if showProcs {
				row = append(row, g.procs)
			}
			ratio := "–"
			if ns, ok := b.nsPerOp(); ok && hasBento && bento > 0 {
				ratio = fmtRatio(ns / bento)
			}
			row = append(row, fmtStat(b, "ns/op"), fmtUnit(b, "allocs/op"), fmtUnit(b, "B/op"), fmtOps(b), ratio)
			for _, u := range extras {
				row = append(row, fmtUnit(b, u))
			}
			t.row(row...)
		}
	}

	// The chart: peers along x, one bar per group (gpc).
	c := barChart{
		Title:  base + ": throughput per peer",
		XLabel: "peer",
		YLabel: "ops/s",
		Better: "higher is better",
		Strong: "bento",
	}
	for _, g := range groups {
		c.Series = append(c.Series, g.label())
	}
	for _, p := range peers {
		c.Groups = append(c.Groups, chartPeer(p))
		vals := make([]float64, len(groups))
		for i, g := range groups {
			vals[i] = math.NaN()
			if ns, ok := g.byPeer[p].nsPerOp(); ok && ns > 0 {
				vals[i] = 1e9 / ns
			}
		}
		c.Values = append(c.Values, vals)
	}
	r.addChart(strings.ToLower(base), c)
	t.write(&r.b)
}

// addChart records a chart and links it from the page.
func (r *report) addChart(name string, c barChart) {
	switch r.opts.Log {
	case "on":
		c.Log = true
	case "off":
		c.Log = false
	default:
		c.Log = wantLog(c.Values)
	}
	file := name + ".svg"
	r.charts = append(r.charts, chart{File: file, Chart: c})
	href := file
	if r.opts.PlotsLink != "" {
		href = strings.TrimSuffix(r.opts.PlotsLink, "/") + "/" + file
	}
	r.para("![%s](%s)", c.Title, href)
}
