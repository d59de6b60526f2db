package main

import "fmt"

// jsSection compares bento with BentoCache on BentoCache's workloads.
func (r *report) jsSection() {
	r.para("## bento against BentoCache on Node")
	r.p("BentoCache's own workloads, one operation at a time: `Benchmark%s` in Go, `Benchmark%s` on Node. **speedup** is BentoCache's ns/op ÷ bento's.", goJSBase, jsBase)
	r.p("")
	gos, jss := r.res.family(goJSBase), r.res.family(jsBase)
	if len(gos) == 0 && len(jss) == 0 {
		r.para("*Not measured.*")
		return
	}
	byWorkload := func(bs []*bench) (map[string][]*bench, []string) {
		m := map[string][]*bench{}
		var order []string
		for _, b := range bs {
			r.used[b] = true
			w := b.param("workload")
			if w == "" {
				w = subName(b)
			}
			if m[w] == nil {
				order = append(order, w)
			}
			m[w] = append(m[w], b)
		}
		return m, order
	}
	goBy, goOrder := byWorkload(gos)
	jsBy, jsOrder := byWorkload(jss)
	var names []string
	seen := map[string]bool{}
	for _, w := range jsWorkloads {
		if goBy[w.name] != nil || jsBy[w.name] != nil {
			names = append(names, w.name)
			seen[w.name] = true
		}
	}
	for _, w := range append(goOrder, jsOrder...) {
		if !seen[w] {
			names = append(names, w)
			seen[w] = true
		}
	}

	var t table
	t.head("workload", "bento ns/op", "bento ops/s", "BentoCache ns/op", "BentoCache ops/s", "speedup", "target")
	t.rightFrom(1)
	c := barChart{
		Title:  "bento (Go) and BentoCache (Node): throughput per workload",
		XLabel: "workload",
		YLabel: "ops/s",
		Better: "higher is better",
		Series: []string{"bento (Go)", "BentoCache (Node)"},
	}
	for _, w := range names {
		js := first(jsBy[w])
		goBs := goBy[w]
		if len(goBs) == 0 {
			goBs = []*bench{nil}
		}
		for _, gb := range goBs {
			label := w
			if r.multi && gb != nil && gb.procs != "" {
				label += " (GOMAXPROCS " + gb.procs + ")"
			}
			speedup, target := "–", "–"
			goNs, okG := gb.nsPerOp()
			jsNs, okJ := js.nsPerOp()
			if okG && okJ && goNs > 0 {
				speedup = fmtRatio(jsNs / goNs)
			}
			if want := jsTarget(w); want > 0 {
				target = fmt.Sprintf("≥ %gx", want)
				if okG && okJ && goNs > 0 {
					target += " " + passMark(jsNs/goNs >= want)
				}
			}
			t.row("`"+label+"`", fmtStat(gb, "ns/op"), fmtOps(gb), fmtStat(js, "ns/op"), fmtOps(js), speedup, target)
			c.Groups = append(c.Groups, label)
			c.Values = append(c.Values, []float64{opsPerSec(gb), opsPerSec(js)})
		}
	}
	r.addChart("bentocache-node", c)
	t.write(&r.b)
}

func jsTarget(workload string) float64 {
	for _, w := range jsWorkloads {
		if w.name == workload {
			return w.target
		}
	}
	return 0
}
