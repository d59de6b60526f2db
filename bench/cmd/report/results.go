package main

import (
	"io"
	"math"
	"os"
	"sort"
	"strconv"
	"strings"

	"golang.org/x/perf/benchfmt"
	"golang.org/x/perf/benchmath"
)

// A bench is every run of one benchmark: all its samples, per unit.
type bench struct {
	// name is the full name without the GOMAXPROCS suffix, and
	// without "Benchmark" as the format has it: "L1Hit/peer=bento/gpc=1".
	name string
	// base is the top-level benchmark, e.g. "L1Hit".
	base string
	// procs is the GOMAXPROCS suffix without its dash ("" when the
	// name had none, as with GOMAXPROCS=1 or the Node output).
	procs string
	// params are the sub-benchmark parts in order: "peer=bento" gives
	// {"peer", "bento"}, a part without "=" gives {"", part}.
	params [][2]string
	// units lists the units in the order they first appeared, so that
	// extra metrics come out in the order the benchmark reports them.
	units  []string
	values map[string][]float64
}

// param returns the value of the sub-benchmark key k, or "".
func (b *bench) param(k string) string {
	for _, p := range b.params {
		if p[0] == k {
			return p[1]
		}
	}
	return ""
}

// stat summarises the samples of one unit.
type stat struct {
	n      int
	median float64
	// spread is how far the fastest or slowest run lies from the
	// median, as a fraction of it. benchmath's 95% confidence interval
	// of the median needs at least six runs and is infinite below, so
	// with the usual five it would say nothing.
	spread float64
}

// stat returns the summary of unit, and false if the benchmark did not
// report it or did not run (b is nil).
func (b *bench) stat(unit string) (stat, bool) {
	if b == nil { // a benchmark not run
		return stat{}, false
	}
	vs := b.values[unit]
	if len(vs) == 0 {
		return stat{}, false
	}
	s := benchmath.NewSample(append([]float64(nil), vs...), &benchmath.DefaultThresholds)
	med := benchmath.AssumeNothing.Summary(s, 0.95).Center
	lo, hi := s.Values[0], s.Values[len(s.Values)-1]
	spread := 0.0
	if med != 0 {
		spread = math.Max(hi/med-1, 1-lo/med)
	}
	return stat{n: len(vs), median: med, spread: spread}, true
}

// median returns the median of unit, and false if it was not reported.
func (b *bench) median(unit string) (float64, bool) {
	s, ok := b.stat(unit)
	return s.median, ok
}

// results is everything read from the input files.
type results struct {
	benches []*bench          // in the order first seen
	byKey   map[string]*bench // full name with GOMAXPROCS suffix
	// config holds the distinct values of each file configuration key
	// ("goos", "node", "bentocache", ...), in the order seen.
	config     map[string][]string
	configKeys []string
	// problems are input lines that could not be read, reported on the
	// page rather than dropped silently.
	problems []string
}

// readFiles reads Go benchmark output from every path.
func readFiles(paths []string) (*results, error) {
	r := &results{byKey: map[string]*bench{}, config: map[string][]string{}}
	for _, p := range paths {
		f, err := os.Open(p)
		if err != nil {
			return nil, err
		}
		err = r.read(f, p)
		f.Close()
		if err != nil {
			return nil, err
		}
	}
	return r, nil
}

// read adds the benchmark output in rd, named name in messages.
func (r *results) read(rd io.Reader, name string) error {
	br := benchfmt.NewReader(rd, name)
	for br.Scan() {
		switch rec := br.Result().(type) {
		case *benchfmt.SyntaxError:
			r.problems = append(r.problems, rec.Error())
		case *benchfmt.Result:
			r.add(rec)
		}
	}
	return br.Err()
}

func (r *results) add(res *benchfmt.Result) {
	for _, c := range res.Config {
		if c.File {
			r.addConfig(c.Key, string(c.Value))
		}
	}
	full := res.Name.String()
	b := r.byKey[full]
	if b == nil {
		b = newBench(res.Name)
		r.byKey[full] = b
		r.benches = append(r.benches, b)
	}
	for _, v := range res.Values {
		// Keep the units as the benchmark wrote them: the reader
		// rescales "ns/op" to "sec/op" and "p99-ns" to "p99-sec",
		// but the page speaks in the benchmark's own units.
		unit, val := v.Unit, v.Value
		if v.OrigUnit != "" {
			unit, val = v.OrigUnit, v.OrigValue
		}
		if _, seen := b.values[unit]; !seen {
			b.units = append(b.units, unit)
		}
		b.values[unit] = append(b.values[unit], val)
	}
}

func (r *results) addConfig(key, value string) {
	vs, seen := r.config[key]
	if !seen {
		r.configKeys = append(r.configKeys, key)
	}
	for _, v := range vs {
		if v == value {
			return
		}
	}
	r.config[key] = append(vs, value)
}

func newBench(n benchfmt.Name) *bench {
	base, parts := n.Parts()
	b := &bench{base: string(base), values: map[string][]float64{}}
	name := string(base)
	for _, p := range parts {
		s := string(p)
		if strings.HasPrefix(s, "-") {
			b.procs = s[1:]
			continue
		}
		name += s
		s = strings.TrimPrefix(s, "/")
		if k, v, ok := strings.Cut(s, "="); ok {
			b.params = append(b.params, [2]string{k, v})
		} else {
			b.params = append(b.params, [2]string{"", s})
		}
	}
	b.name = name
	return b
}

// family returns the benchmarks under the top-level benchmark base.
func (r *results) family(base string) []*bench {
	var out []*bench
	for _, b := range r.benches {
		if b.base == base {
			out = append(out, b)
		}
	}
	return out
}

// configValue returns the values of a file configuration key joined
// with ", ", or "".
func (r *results) configValue(key string) string {
	return strings.Join(r.config[key], ", ")
}

// procs returns the distinct GOMAXPROCS values of the Go benchmarks,
// sorted.
func (r *results) procs() []string {
	seen := map[string]bool{}
	var out []string
	for _, b := range r.benches {
		if b.base == jsBase || seen[b.procs] {
			continue
		}
		seen[b.procs] = true
		out = append(out, b.procs)
	}
	sort.Slice(out, func(i, j int) bool { return atoiOr(out[i], 1) < atoiOr(out[j], 1) })
	return out
}

// runs returns the largest number of samples of any benchmark, which
// is the -count the run was made with.
func (r *results) runs() int {
	n := 0
	for _, b := range r.benches {
		for _, vs := range b.values {
			n = max(n, len(vs))
		}
	}
	return n
}

// atoiOr parses s as an integer, or returns def.
func atoiOr(s string, def int) int {
	n, err := strconv.Atoi(s)
	if err != nil {
		return def
	}
	return n
}
