package main

import (
	"encoding/xml"
	"fmt"
	"math"
	"strconv"
	"strings"
)

// barChart is a grouped bar chart: along the x axis one cluster per
// group (a peer, a workload), in each cluster one bar per series (a
// gpc, a runtime).
type barChart struct {
	Title  string
	XLabel string
	YLabel string // the unit
	Better string // "higher is better" or "lower is better"
	Groups []string
	Series []string
	// Values[g][s] is the bar of series s in group g. NaN draws no bar
	// but an "n/a", so that a missing result is seen, not guessed.
	Values [][]float64
	// Log draws the y axis in decades, for when the bars span orders
	// of magnitude and the small ones would vanish on a linear axis.
	Log bool
	// RefLabel, when set, draws a dashed line at Ref: a target.
	Ref      float64
	RefLabel string
	// Strong is the group whose label is bold: bento's.
	Strong string
}

// Geometry, in SVG user units (pixels at 100%).
const (
	chartW      = 760
	chartH      = 380
	marginL     = 78
	marginR     = 18
	marginT     = 64
	marginB     = 58
	marginBRot  = 104 // when the group labels are slanted
	fontSize    = 12
	charW       = 6.8 // rough width of one character at fontSize
	maxBarWidth = 40
)

// palette holds colours that stay apart for common colour blindness
// and on both light and dark pages.
var palette = []string{"#4e79a7", "#f28e2b", "#59a14f", "#e15759", "#76b7b2", "#b07aa1", "#edc948"}

// svg renders the chart as a standalone SVG document.
func (c barChart) svg() []byte {
	var w strings.Builder
	plotW := float64(chartW - marginL - marginR)
	groupW := plotW / float64(max(1, len(c.Groups)))
	slant := false
	for _, g := range c.Groups {
		if float64(len(g))*charW > groupW-6 {
			slant = true
		}
	}
	bottom := marginB
	if slant {
		bottom = marginBRot
	}
	x0, x1 := float64(marginL), float64(chartW-marginR)
	y0, y1 := float64(marginT), float64(chartH-bottom)
	ax := c.axis(y0, y1)

	fmt.Fprintf(&w, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" font-family="sans-serif" font-size="%d" role="img" aria-label="%s">`+"\n",
		chartW, chartH, chartW, chartH, fontSize, esc(c.Title))
	fmt.Fprintf(&w, "<title>%s</title>\n", esc(c.Title))
	// An opaque background keeps the chart readable on dark pages.
	fmt.Fprintf(&w, `<rect width="%d" height="%d" fill="#ffffff"/>`+"\n", chartW, chartH)
	fmt.Fprintf(&w, `<text x="%d" y="22" font-size="15" font-weight="bold">%s</text>`+"\n", marginL, esc(c.Title))
	c.legend(&w, float64(marginL), 44)

	// Grid and y axis.
	for _, t := range ax.ticks {
		y := ax.y(t)
		fmt.Fprintf(&w, `<line x1="%s" y1="%s" x2="%s" y2="%s" stroke="#e0e0e0"/>`+"\n", f(x0), f(y), f(x1), f(y))
		fmt.Fprintf(&w, `<text x="%s" y="%s" text-anchor="end">%s</text>`+"\n", f(x0-6), f(y+4), esc(si(t)))
	}
	var notes []string
	if c.Log {
		notes = append(notes, "log scale")
	}
	if c.Better != "" {
		notes = append(notes, c.Better)
	}
	ylabel := c.YLabel
	if len(notes) > 0 {
		ylabel += " (" + strings.Join(notes, "; ") + ")"
	}
	cy := (y0 + y1) / 2
	fmt.Fprintf(&w, `<text x="16" y="%s" text-anchor="middle" transform="rotate(-90 16 %s)">%s</text>`+"\n", f(cy), f(cy), esc(ylabel))

	// Bars.
	barW := math.Min(maxBarWidth, groupW*0.8/float64(max(1, len(c.Series))))
	for g, name := range c.Groups {
		left := x0 + float64(g)*groupW + (groupW-barW*float64(len(c.Series)))/2
		for s := range c.Series {
			v := math.NaN()
			if g < len(c.Values) && s < len(c.Values[g]) {
				v = c.Values[g][s]
			}
			bx := left + float64(s)*barW
			mid := bx + barW/2
			if math.IsNaN(v) {
				fmt.Fprintf(&w, `<text x="%s" y="%s" text-anchor="middle" font-size="9" fill="#888888">n/a</text>`+"\n", f(mid), f(y1-4))
				continue
			}
			top := ax.y(v)
			fmt.Fprintf(&w, `<rect x="%s" y="%s" width="%s" height="%s" fill="%s"><title>%s, %s: %s</title></rect>`+"\n",
				f(bx+1), f(top), f(barW-2), f(math.Max(0, y1-top)), palette[s%len(palette)], esc(name), esc(c.Series[s]), esc(si(v)))
			if barW >= 16 {
				fmt.Fprintf(&w, `<text x="%s" y="%s" text-anchor="middle" font-size="9">%s</text>`+"\n", f(mid), f(top-3), esc(si(v)))
			}
		}
		weight := ""
		if name == c.Strong {
			weight = ` font-weight="bold"`
		}
		gx := x0 + float64(g)*groupW + groupW/2
		if slant {
			fmt.Fprintf(&w, `<text x="%s" y="%s" text-anchor="end" transform="rotate(-30 %s %s)"%s>%s</text>`+"\n", f(gx), f(y1+14), f(gx), f(y1+14), weight, esc(name))
		} else {
			fmt.Fprintf(&w, `<text x="%s" y="%s" text-anchor="middle"%s>%s</text>`+"\n", f(gx), f(y1+18), weight, esc(name))
		}
	}

	// Axes over the bars, then the target line over everything.
	fmt.Fprintf(&w, `<line x1="%s" y1="%s" x2="%s" y2="%s" stroke="#333333"/>`+"\n", f(x0), f(y0), f(x0), f(y1))
	fmt.Fprintf(&w, `<line x1="%s" y1="%s" x2="%s" y2="%s" stroke="#333333"/>`+"\n", f(x0), f(y1), f(x1), f(y1))
	if c.RefLabel != "" {
		y := ax.y(c.Ref)
		fmt.Fprintf(&w, `<line x1="%s" y1="%s" x2="%s" y2="%s" stroke="#d62728" stroke-dasharray="6 4"/>`+"\n", f(x0), f(y), f(x1), f(y))
		fmt.Fprintf(&w, `<text x="%s" y="%s" text-anchor="end" font-size="10" fill="#d62728">%s</text>`+"\n", f(x1), f(y-4), esc(c.RefLabel))
	}
	fmt.Fprintf(&w, `<text x="%s" y="%d" text-anchor="middle">%s</text>`+"\n", f((x0+x1)/2), chartH-8, esc(c.XLabel))
	w.WriteString("</svg>\n")
	return []byte(w.String())
}

// legend draws one coloured square and name per series, in a row.
func (c barChart) legend(w *strings.Builder, x, y float64) {
	for s, name := range c.Series {
		fmt.Fprintf(w, `<rect x="%s" y="%s" width="11" height="11" fill="%s"/>`, f(x), f(y-10), palette[s%len(palette)])
		fmt.Fprintf(w, `<text x="%s" y="%s">%s</text>`+"\n", f(x+15), f(y), esc(name))
		x += 15 + float64(len(name))*charW + 18
	}
}

// axis maps values to y coordinates and lists the ticks.
type axis struct {
	ticks []float64
	y     func(float64) float64
}

func (c barChart) axis(top, bottom float64) axis {
	lo, hi := math.Inf(1), 0.0
	consider := func(v float64) {
		if v > 0 && !math.IsInf(v, 0) {
			lo, hi = math.Min(lo, v), math.Max(hi, v)
		}
	}
	for _, vs := range c.Values {
		for _, v := range vs {
			consider(v)
		}
	}
	if c.RefLabel != "" {
		consider(c.Ref)
	}
	if hi == 0 { // nothing to draw: any axis will do
		lo, hi = 1, 1
	}
	if c.Log {
		e0, e1 := math.Floor(math.Log10(lo)), math.Ceil(math.Log10(hi))
		if e1 <= e0 {
			e1 = e0 + 1
		}
		step := math.Ceil((e1 - e0) / 8) // at most about eight decades labelled
		var ticks []float64
		for e := e0; e <= e1; e += step {
			ticks = append(ticks, math.Pow(10, e))
		}
		return axis{ticks, func(v float64) float64 {
			if v <= 0 {
				return bottom
			}
			return bottom - (math.Log10(v)-e0)/(e1-e0)*(bottom-top)
		}}
	}
	step := niceStep(hi / 5)
	end := math.Ceil(hi/step) * step
	var ticks []float64
	for i := 0.0; i*step <= end*(1+1e-9); i++ {
		ticks = append(ticks, i*step)
	}
	return axis{ticks, func(v float64) float64 {
		return bottom - math.Max(0, v)/end*(bottom-top)
	}}
}

// niceStep returns the smallest of 1, 2 or 5 times a power of ten that
// is at least x, so that ticks fall on round numbers.
func niceStep(x float64) float64 {
	p := math.Pow(10, math.Floor(math.Log10(x)))
	for _, m := range []float64{1, 2, 5, 10} {
		if m*p >= x*(1-1e-9) {
			return m * p
		}
	}
	return 10 * p
}

// wantLog reports whether values spread so wide that a linear axis
// would flatten the smaller bars.
func wantLog(values [][]float64) bool {
	lo, hi := math.Inf(1), 0.0
	for _, vs := range values {
		for _, v := range vs {
			if v > 0 {
				lo, hi = math.Min(lo, v), math.Max(hi, v)
			}
		}
	}
	return hi > 0 && hi/lo >= 30
}

// si formats v with three significant digits and an SI suffix: 81.2M.
func si(v float64) string {
	a := math.Abs(v)
	for _, u := range []struct {
		scale  float64
		suffix string
	}{{1e12, "T"}, {1e9, "G"}, {1e6, "M"}, {1e3, "k"}} {
		if a >= u.scale*(1-5e-4) { // 999.9k rounds to 1M, not 1000k
			return sig3(v/u.scale) + u.suffix
		}
	}
	return sig3(v)
}

// sig3 formats v with three significant digits, without an exponent
// and without trailing zeros.
func sig3(v float64) string {
	if v == 0 || math.IsNaN(v) || math.IsInf(v, 0) {
		return strconv.FormatFloat(v, 'f', -1, 64)
	}
	decimals := max(0, 2-int(math.Floor(math.Log10(math.Abs(v)))))
	s := strconv.FormatFloat(v, 'f', decimals, 64)
	if strings.Contains(s, ".") {
		s = strings.TrimRight(strings.TrimRight(s, "0"), ".")
	}
	return s
}

// f formats a coordinate: one decimal is finer than a pixel.
func f(v float64) string {
	return strconv.FormatFloat(v, 'f', 1, 64)
}

// esc escapes s for use in SVG text and attribute values.
func esc(s string) string {
	var b strings.Builder
	xml.EscapeText(&b, []byte(s)) // a strings.Builder never fails
	return b.String()
}
