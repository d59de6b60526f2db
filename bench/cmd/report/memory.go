package main

import (
	"fmt"
	"math"
)

// memorySection shows the memory an entry costs and how closely the
// cache keeps to its size bound.
func (r *report) memorySection() {
	r.para("## Memory")
	per, maxs := r.res.family(memBase), r.res.family(maxSizeBase)
	if len(per) == 0 && len(maxs) == 0 {
		r.para("*Not measured.*")
		return
	}
	r.para("`Benchmark%s`: bytes of heap per cached entry (**vs bento** is the peer's ÷ bento's: above 1, bento is smaller).", memBase)
	if len(per) == 0 {
		r.para("*Not measured.*")
	} else {
		var bento *bench
		for _, b := range per {
			if b.param("peer") == "bento" && bento == nil {
				bento = b
			}
		}
		bentoB, hasBento := bento.median("B/entry")
		extras := extraUnits(per, "B/entry", "ns/op", "B/op", "allocs/op")
		var t table
		t.head(append([]string{"peer", "B/entry", "vs bento"}, extras...)...)
		t.rightFrom(1)
		c := barChart{Title: "Memory per entry", XLabel: "peer", YLabel: "bytes per entry", Better: "lower is better", Series: []string{"B/entry"}, Strong: "bento"}
		for _, b := range sortByPeer(per) {
			r.used[b] = true
			name := b.param("peer")
			if name == "" {
				name = subName(b)
			}
			ratio := "–"
			if v, ok := b.median("B/entry"); ok && hasBento && bentoB > 0 {
				ratio = fmtRatio(v / bentoB)
			}
			row := []string{peerLabel(name), fmtUnit(b, "B/entry"), ratio}
			for _, u := range extras {
				row = append(row, fmtUnit(b, u))
			}
			t.row(row...)
			v, ok := b.median("B/entry")
			if !ok {
				v = math.NaN()
			}
			c.Groups = append(c.Groups, chartPeer(name))
			c.Values = append(c.Values, []float64{v})
		}
		r.addChart("memory", c)
		t.write(&r.b)
	}

	r.para("`Benchmark%s`: the cache's size once full ÷ its configured bound. Target: ≤ %g.", maxSizeBase, sizeRatioMax)
	if len(maxs) == 0 {
		r.para("*Not measured.*")
		return
	}
	extras := extraUnits(maxs, "size-ratio", "ns/op", "B/op", "allocs/op")
	var t table
	t.head(append([]string{"benchmark", "size-ratio", "target"}, extras...)...)
	t.rightFrom(1)
	for _, b := range maxs {
		r.used[b] = true
		target := fmt.Sprintf("≤ %g", sizeRatioMax)
		if v, ok := b.median("size-ratio"); ok {
			target += " " + passMark(v <= sizeRatioMax)
		} else {
			target += ": not measured"
		}
		row := []string{"`" + r.displayName(b) + "`", fmtUnit(b, "size-ratio"), target}
		for _, u := range extras {
			row = append(row, fmtUnit(b, u))
		}
		t.row(row...)
	}
	t.write(&r.b)
}
