package main

import (
	"fmt"
	"math"
	"slices"
	"strings"
)

// busSection shows how long an invalidation takes to reach another
// instance over each bus. One row per metric and one column per bus,
// since the benchmark reports many timings (quantiles of the whole trip
// and of its steps) and few buses.
func (r *report) busSection() {
	r.para("## Bus propagation")
	r.p("`Benchmark%s`: the time from a write on one instance until another instance reads the new value, in milliseconds. Target: p99 under %g ms over Redis. Prefixed rows are the same quantiles of the trip's steps, as the benchmark's doc comment defines them.", busBase, busP99MaxMs)
	r.p("")
	bs := r.res.family(busBase)
	if len(bs) == 0 {
		r.para("*Not measured.*")
		return
	}
	names := make([]string, len(bs))
	for i, b := range bs {
		r.used[b] = true
		names[i] = b.param("bus")
		if names[i] == "" {
			names[i] = subName(b)
		}
	}
	// The whole trip's quantiles first, the rest as reported.
	units := []string{"p50-ns", "p99-ns", "p999-ns"}
	units = append(units, extraUnits(bs, append(units, "B/op", "allocs/op")...)...)
	units = append(units, "B/op", "allocs/op")

	var t table
	t.head(append(append([]string{"metric"}, names...), "target")...)
	t.rightFrom(1)
	for _, u := range units {
		row := []string{busMetric(u)}
		present := false
		for _, b := range bs {
			v, ok := b.median(u)
			present = present || ok
			switch {
			case !ok:
				row = append(row, "–")
			case isNs(u):
				row = append(row, sig3(v/1e6))
			default:
				row = append(row, fmtNum(v))
			}
		}
		if !present {
			continue
		}
		target := ""
		if u == "p99-ns" {
			target = fmt.Sprintf("< %g ms over Redis", busP99MaxMs)
			if c := r.busCheck(); c.state != notMeasured {
				target += " " + c.mark()
			}
		}
		t.row(append(row, target)...)
	}

	c := barChart{
		Title:    "Bus propagation latency",
		XLabel:   "bus",
		YLabel:   "ms",
		Better:   "lower is better",
		Ref:      busP99MaxMs,
		RefLabel: fmt.Sprintf("target: p99 < %g ms over Redis", busP99MaxMs),
	}
	for _, u := range units[:3] {
		for _, b := range bs {
			if _, ok := b.values[u]; ok {
				c.Series = append(c.Series, busMetric(u))
				break
			}
		}
	}
	for i, b := range bs {
		var vals []float64
		for _, u := range units[:3] {
			if v, ok := b.median(u); ok {
				vals = append(vals, v/1e6)
			} else if slices.Contains(c.Series, busMetric(u)) {
				vals = append(vals, math.NaN())
			}
		}
		c.Groups = append(c.Groups, names[i])
		c.Values = append(c.Values, vals)
	}
	if len(c.Series) > 0 {
		r.addChart("bus", c)
	}
	t.write(&r.b)
}

// isNs reports whether unit is a time in nanoseconds.
func isNs(unit string) bool {
	return unit == "ns/op" || strings.HasSuffix(unit, "-ns")
}

// busMetric names a bus benchmark's unit as its row: "p999-ns" is
// "p99.9 (ms)", "ns/op" is "time/op (ms)".
func busMetric(unit string) string {
	if unit == "ns/op" {
		return "time/op (ms)"
	}
	if !strings.HasSuffix(unit, "-ns") {
		return unit
	}
	name := strings.TrimSuffix(unit, "-ns")
	if strings.HasSuffix(name, "p999") {
		name = strings.TrimSuffix(name, "p999") + "p99.9"
	}
	return name + " (ms)"
}
