package main

import (
	"bytes"
	"fmt"
	"math"
	"strconv"
	"strings"
)

// Cell formatting. A dash marks a value not measured.

func fmtStat(b *bench, unit string) string {
	if b == nil {
		return "–"
	}
	s, ok := b.stat(unit)
	if !ok {
		return "–"
	}
	out := fmtNum(s.median)
	if s.n > 1 {
		out += fmt.Sprintf(" ±%.0f%%", 100*s.spread)
	}
	return out
}

func fmtUnit(b *bench, unit string) string {
	if b == nil {
		return "–"
	}
	v, ok := b.median(unit)
	if !ok {
		return "–"
	}
	return fmtNum(v)
}

func fmtOps(b *bench) string {
	v := opsPerSec(b)
	if math.IsNaN(v) {
		return "–"
	}
	return si(v)
}

// fmtNum formats a measurement: three significant digits below 1000,
// whole numbers with thousands separators above.
func fmtNum(v float64) string {
	if math.Abs(v) < 1000 {
		return sig3(v)
	}
	s := strconv.FormatFloat(math.Round(v), 'f', 0, 64)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var out []byte
	for i := range len(s) {
		if i > 0 && (len(s)-i)%3 == 0 {
			out = append(out, ',')
		}
		out = append(out, s[i])
	}
	if neg {
		return "-" + string(out)
	}
	return string(out)
}

func fmtRatio(v float64) string {
	switch {
	case v != 1 && math.Abs(v-1) < 0.005:
		// Two decimals would round a narrow miss to 1.00x.
		return fmt.Sprintf("%.3fx", v)
	case v >= 100:
		return fmt.Sprintf("%.0fx", v)
	case v >= 10:
		return fmt.Sprintf("%.1fx", v)
	}
	return fmt.Sprintf("%.2fx", v)
}

func passMark(ok bool) string {
	if ok {
		return "✓"
	}
	return "✗"
}

func orUnknown(s string) string {
	if s == "" {
		return "unknown"
	}
	return s
}

func orNotMeasured(s string) string {
	if s == "" {
		return "not measured"
	}
	return s
}

func nonEmpty(ss ...string) []string {
	var out []string
	for _, s := range ss {
		if s != "" {
			out = append(out, s)
		}
	}
	return out
}

// table is a Markdown table.
type table struct {
	cols  []string
	right []bool
	rows  [][]string
}

func (t *table) head(cols ...string) {
	t.cols = cols
	t.right = make([]bool, len(cols))
}

// rightFrom right-aligns the columns from i on: numbers.
func (t *table) rightFrom(i int) {
	for ; i < len(t.right); i++ {
		t.right[i] = true
	}
}

func (t *table) row(cells ...string) { t.rows = append(t.rows, cells) }

func (t *table) write(b *bytes.Buffer) {
	line := func(cells []string) {
		b.WriteString("|")
		for i := range t.cols {
			c := ""
			if i < len(cells) {
				c = strings.ReplaceAll(cells[i], "|", `\|`)
			}
			b.WriteString(" " + c + " |")
		}
		b.WriteString("\n")
	}
	line(t.cols)
	b.WriteString("|")
	for i := range t.cols {
		if t.right[i] {
			b.WriteString("---:|")
		} else {
			b.WriteString("---|")
		}
	}
	b.WriteString("\n")
	for _, r := range t.rows {
		line(r)
	}
	b.WriteString("\n")
}
