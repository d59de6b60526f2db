package main

import (
	"encoding/xml"
	"errors"
	"io"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// goOutput is a small run of the Go benchmarks: three runs of each, so
// that the median differs from the mean; sturdyc missing at gpc=2 of
// L1Hit and goredis missing from TieredGet, as a partial run would be.
const goOutput = `goos: linux
goarch: amd64
pkg: github.com/bentocache/bento/bench
cpu: Test CPU @ 3.00GHz
redis: 7.0.15
BenchmarkL1Hit/peer=bento/gpc=1-4         	100000000	        15.0 ns/op	       0 B/op	       0 allocs/op
BenchmarkL1Hit/peer=bento/gpc=1-4         	100000000	        14.0 ns/op	       0 B/op	       0 allocs/op
BenchmarkL1Hit/peer=bento/gpc=1-4         	100000000	        99.0 ns/op	       0 B/op	       0 allocs/op
BenchmarkL1Hit/peer=otter/gpc=1-4         	100000000	        10.0 ns/op	       0 B/op	       0 allocs/op
BenchmarkL1Hit/peer=sturdyc/gpc=1-4       	100000000	        45.0 ns/op	      16 B/op	       1 allocs/op
BenchmarkL1Hit/peer=bento/gpc=2-4         	100000000	         9.0 ns/op	       8 B/op	       1 allocs/op
BenchmarkL1Hit/peer=otter/gpc=2-4         	100000000	         3.0 ns/op	       0 B/op	       0 allocs/op
BenchmarkTieredGet/peer=bento/gpc=1-4     	   50000	     30000 ns/op	     300 B/op	       5 allocs/op
BenchmarkTieredGet/peer=gocache/gpc=1-4   	   50000	     36000 ns/op	     700 B/op	      12 allocs/op
BenchmarkSet/peer=bento/gpc=1-4           	   50000	     20000 ns/op	     200 B/op	       4 allocs/op
BenchmarkSet/peer=sturdyc/gpc=1-4         	   50000	     25000 ns/op	     200 B/op	       4 allocs/op
BenchmarkSet/peer=bento/gpc=2-4           	   50000	     10000 ns/op	     200 B/op	       4 allocs/op
BenchmarkSet/peer=sturdyc/gpc=2-4         	   50000	      8000 ns/op	     200 B/op	       4 allocs/op
BenchmarkSet/peer=goredis/gpc=2-4         	   50000	      5000 ns/op	     100 B/op	       2 allocs/op
BenchmarkStampede/peer=bento/gpc=1-4      	   10000	      2000 ns/op	     100 B/op	       2 allocs/op	     0.0010 factory-runs/op
BenchmarkStampede/peer=gocache/gpc=1-4    	   10000	     90000 ns/op	     900 B/op	      20 allocs/op	     1.000 factory-runs/op
BenchmarkZipf/peer=bento/gpc=1-4          	 1000000	        60.0 ns/op	       0 B/op	       0 allocs/op	        81.5 hit-%
BenchmarkZipf/peer=gocache/gpc=1-4        	 1000000	       300 ns/op	      32 B/op	       1 allocs/op	        79.0 hit-%
BenchmarkBentoCacheWorkloads/workload=l1_getorset-4    	 1000000	        50.0 ns/op	       0 B/op	       0 allocs/op
BenchmarkBentoCacheWorkloads/workload=tiered_get-4     	   50000	     20000 ns/op	     300 B/op	       5 allocs/op
BenchmarkBentoCacheWorkloads/workload=l2_getorset-4    	   50000	     25000 ns/op	     300 B/op	       5 allocs/op
BenchmarkMemoryPerEntry/peer=bento-4      	       1	       150.0 B/entry
BenchmarkMemoryPerEntry/peer=otter-4      	       1	       120.0 B/entry
BenchmarkMaxSize-4                        	       1	         1.10 size-ratio
BenchmarkEncode/codec=json-4              	 1000000	       800 ns/op	     128 B/op	       2 allocs/op
--- FAIL: BenchmarkSomething
PASS
ok  	github.com/bentocache/bento/bench	12.3s
`

// nodeOutput is what bench/node/bench.mjs prints: no l2_getorset.
const nodeOutput = `node: v20.20.2
bentocache: 1.6.1
pkg: bentocache-node
BenchmarkBentoCacheJS/workload=l1_getorset   	  100000	      2000 ns/op
BenchmarkBentoCacheJS/workload=tiered_get    	   10000	     40000 ns/op
`

var testEnv = env{
	Now:       time.Date(2025, 1, 2, 3, 4, 0, 0, time.UTC),
	CPU:       "Test CPU",
	Cores:     4,
	OS:        "Test OS 1",
	Kernel:    "Linux 6.1.0",
	Arch:      "linux/amd64",
	GoVersion: "go1.99",
	Modules:   []module{{"otter", "github.com/maypok86/otter/v2", "v2.4.0"}},
	Commands:  []string{"bench/run --quick"},
}

func parse(t *testing.T, inputs ...string) *results {
	t.Helper()
	r := &results{byKey: map[string]*bench{}, config: map[string][]string{}}
	for i, in := range inputs {
		if err := r.read(strings.NewReader(in), "input"+string(rune('0'+i))); err != nil {
			t.Fatal(err)
		}
	}
	return r
}

func buildPage(t *testing.T, inputs ...string) (string, []chart) {
	t.Helper()
	page, charts := build(parse(t, inputs...), testEnv, options{PlotsLink: "benchmarks", Log: "auto"})
	return string(page), charts
}

func wantLines(t *testing.T, page string, lines ...string) {
	t.Helper()
	for _, l := range lines {
		if !strings.Contains(page, l) {
			t.Errorf("page lacks %q", l)
		}
	}
	if t.Failed() {
		t.Logf("page:\n%s", page)
	}
}

func TestPageTargets(t *testing.T) {
	page, _ := buildPage(t, goOutput, nodeOutput)
	wantLines(t, page,
		// Median of 15, 14, 99 is 15: the outlier does not count.
		"| ✓ | L1 hit (bento `GetOrSet`) within 2x of otter's `GetIfPresent`, gpc=1 | 1.50x (bento 15 ns/op, otter 10 ns/op) |",
		"| ✗ | L1 hit (bento `GetOrSet`) within 2x of otter's `GetIfPresent`, gpc=2 | 3.00x (bento 9 ns/op, otter 3 ns/op) |",
		"| ✓ | L1 hit allocates nothing, gpc=1 | 0 allocs/op |",
		"| ✗ | L1 hit allocates nothing, gpc=2 | 1 allocs/op, 8 B/op |",
		// goredis is a limit: being slower than it is no miss.
		"| ✗ | bento faster than every Go peer (limits aside), in every workload and gpc | slower in 1 of 6: Set gpc=2: sturdyc at 0.80x |",
		"| – | TieredGet within 1.3x of goredis, gpc=1 | not measured: no goredis result |",
		"| – | TieredGet within 1.3x of goredis, gpc=2 | not measured |",
		"| – | Bus propagation p99 under 5 ms over Redis | not measured |",
		"| ✓ | bento at least 30x BentoCache (Node) on `l1_getorset` | 40.0x (bento 50 ns/op, BentoCache 2,000 ns/op) |",
		"| ✗ | bento at least 3x BentoCache (Node) on `tiered_get` | 2.00x (bento 20,000 ns/op, BentoCache 40,000 ns/op) |",
		"| – | bento at least 3x BentoCache (Node) on `l2_getorset` | not measured: no BentoCache result |",
		"| – | bento at least 3x BentoCache (Node) on `tiered_set` | not measured |",
		"| ✗ | MaxSize keeps the cache within 1.05x its bound | over in `MaxSize` 1.1 |",
	)
}

func TestPageTables(t *testing.T) {
	page, _ := buildPage(t, goOutput, nodeOutput)
	wantLines(t, page,
		"- **Date**: 2025-01-02 03:04 UTC",
		"- **Machine**: Test CPU, 4 logical CPUs",
		"- **CPU named in the benchmark output**: Test CPU @ 3.00GHz",
		"- **Go**: go1.99, GOMAXPROCS 4",
		"- **Node**: v20.20.2",
		"- **BentoCache (Node)**: 1.6.1",
		"- **redis**: 7.0.15",
		"- **Runs**: 3 of each benchmark",
		// Bento first, ratio and ops/s from the median, the spread of
		// the three runs, the limit marked.
		"| peer | gpc | ns/op | allocs/op | B/op | ops/s | vs bento |\n|---|---|---:|---:|---:|---:|---:|\n| **bento** | 1 | 15 ±560% | 0 | 0 | 66.7M | 1.00x |\n| sturdyc | 1 | 45 | 1 | 16 | 22.2M | 3.00x |\n| otter *(limit)* | 1 | 10 | 0 | 0 | 100M | 0.67x |\n| **bento** | 2 |",
		"| goredis *(limit)* | 2 | 5,000 | 2 | 100 | 200k | 0.50x |",
		"| peer | gpc | ns/op | allocs/op | B/op | ops/s | vs bento | factory-runs/op |",
		"| gocache | 1 | 90,000 | 20 | 900 | 11.1k | 45.0x | 1 |",
		"| **bento** | 1 | 60 | 0 | 0 | 16.7M | 1.00x | 81.5 |",
		"64 and 256 callers.\n\n*Not measured.*\n\n### Set",
		"![L1Hit: throughput per peer](benchmarks/l1hit.svg)",
		"| `l1_getorset` | 50 | 20M | 2,000 | 500k | 40.0x | ≥ 30x ✓ |",
		"| `l2_getorset` | 25,000 | 40k | – | – | – | ≥ 3x |",
		"| **bento** | 150 | 1.00x |",
		"| otter *(limit)* | 120 | 0.80x |",
		"| `MaxSize` | 1.1 | ≤ 1.05 ✗ |",
		// Nothing dropped: an unknown benchmark has a table of its own.
		"### Encode",
		"| `Encode/codec=json` | 800 | 2 | 128 | 1.25M |",
		"as the benchmark's doc comment defines them.\n\n*Not measured.*\n\n## Memory",
		"| otter | `github.com/maypok86/otter/v2` | v2.4.0 |",
		"```sh\nbench/run --quick\n```",
	)
	if strings.Contains(page, "GOMAXPROCS=") || strings.Contains(page, "-4`") {
		t.Error("a single GOMAXPROCS should not show in the rows")
	}
}

func TestPageWithoutNode(t *testing.T) {
	page, charts := buildPage(t, goOutput)
	wantLines(t, page,
		"- **Node**: not measured",
		"| – | bento at least 30x BentoCache (Node) on `l1_getorset` | not measured: no BentoCache result |",
		"| `tiered_get` | 20,000 | 50k | – | – | – | ≥ 3x |",
	)
	for _, c := range charts {
		wellFormed(t, c.File, c.Chart.svg())
	}
}

func TestPageBus(t *testing.T) {
	bus := `BenchmarkBusPropagation/bus=redis	1000	500000 ns/op	12000000 cold-ns	400000 p50-ns	3200000 p99-ns	4900000 p999-ns	1000000 written-p999-ns
BenchmarkBusPropagation/bus=postgres	1000	900000 ns/op	800000 p50-ns	7000000 p99-ns
`
	page, charts := buildPage(t, bus)
	wantLines(t, page,
		"| ✓ | Bus propagation p99 under 5 ms over Redis | p99 3.2 ms (p50 0.4 ms) |",
		"| metric | redis | postgres | target |",
		"| p50 (ms) | 0.4 | 0.8 |  |",
		"| p99 (ms) | 3.2 | 7 | < 5 ms over Redis ✓ |",
		"| p99.9 (ms) | 4.9 | – |  |",
		"| time/op (ms) | 0.5 | 0.9 |  |",
		"| cold (ms) | 12 | – |  |",
		"| written-p99.9 (ms) | 1 | – |  |",
		"![Bus propagation latency](benchmarks/bus.svg)",
		// Every promised target is still listed.
		"| – | L1 hit allocates nothing, gpc=1 | not measured |",
		"| – | bento faster than every Go peer (limits aside), in every workload and gpc | not measured |",
	)
	if len(charts) != 1 || charts[0].File != "bus.svg" {
		t.Fatalf("charts = %v, want bus.svg alone", charts)
	}
	wellFormed(t, "bus.svg", charts[0].Chart.svg())
}

func TestCharts(t *testing.T) {
	_, charts := buildPage(t, goOutput, nodeOutput)
	files := map[string]bool{}
	for _, c := range charts {
		files[c.File] = true
		wellFormed(t, c.File, c.Chart.svg())
	}
	for _, f := range []string{"l1hit.svg", "tieredget.svg", "set.svg", "stampede.svg", "zipf.svg", "bentocache-node.svg", "memory.svg"} {
		if !files[f] {
			t.Errorf("no chart %s among %v", f, files)
		}
	}
	for _, c := range charts {
		if c.File == "l1hit.svg" {
			svg := string(c.Chart.svg())
			for _, want := range []string{">gpc=1</text>", ">gpc=2</text>", ">otter (limit)</text>", ">ops/s (higher is better)</text>", ">n/a</text>"} {
				if !strings.Contains(svg, want) {
					t.Errorf("l1hit.svg lacks %q", want)
				}
			}
		}
		// Stampede's bars span 2,000 to 90,000 ns/op: a log axis.
		if c.File == "stampede.svg" && !c.Chart.Log {
			t.Error("stampede.svg should use a log axis")
		}
	}
}

func TestChartEdgeCases(t *testing.T) {
	for name, c := range map[string]barChart{
		"empty":   {Title: "nothing"},
		"all nan": {Title: "t", Groups: []string{"a"}, Series: []string{"s"}, Values: [][]float64{{math.NaN()}}},
		"escaped": {Title: `<&"'>`, Groups: []string{"a<b", "c&d"}, Series: []string{`"x"`}, Values: [][]float64{{1}, {2}}, Log: true},
		"log one": {Title: "t", Groups: []string{"a"}, Series: []string{"s"}, Values: [][]float64{{5}}, Log: true},
		"zeros":   {Title: "t", Groups: []string{"a", "b"}, Series: []string{"s"}, Values: [][]float64{{0}, {0}}, Log: true},
		"long labels": {Title: "t", Groups: []string{"a very long group label indeed", "another long one"},
			Series: []string{"s"}, Values: [][]float64{{1}, {3}}, Ref: 2, RefLabel: "target"},
	} {
		wellFormed(t, name, c.svg())
	}
}

// wellFormed decodes svg as XML to its end and checks its root.
func wellFormed(t *testing.T, name string, svg []byte) {
	t.Helper()
	d := xml.NewDecoder(strings.NewReader(string(svg)))
	root := ""
	for {
		tok, err := d.Token()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("%s is not well-formed XML: %v\n%s", name, err, svg)
		}
		if se, ok := tok.(xml.StartElement); ok && root == "" {
			root = se.Name.Space + " " + se.Name.Local
		}
	}
	if root != "http://www.w3.org/2000/svg svg" {
		t.Errorf("%s: root element %q, want an svg element", name, root)
	}
}

func TestRun(t *testing.T) {
	dir := t.TempDir()
	raw := filepath.Join(dir, "docs", "benchmarks")
	if err := os.MkdirAll(raw, 0o755); err != nil {
		t.Fatal(err)
	}
	goTxt, nodeTxt := filepath.Join(raw, "raw-go.txt"), filepath.Join(raw, "raw-node.txt")
	gomod := filepath.Join(dir, "go.mod")
	for path, data := range map[string]string{
		goTxt:   goOutput,
		nodeTxt: nodeOutput,
		gomod: `module example.com/bench

go 1.26

require (
	github.com/bentocache/bento v0.0.0
	github.com/maypok86/otter/v2 v2.4.0 // indirect
	github.com/viccon/sturdyc v1.1.5
	golang.org/x/perf v0.0.0-20260908200009-22c9c6c9d4da
)

replace github.com/bentocache/bento => ./no-such-dir
`,
	} {
		if err := os.WriteFile(path, []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	out := filepath.Join(dir, "docs", "benchmarks.md")
	if err := run(out, raw, gomod, "auto", []string{"bench/run"}, []string{goTxt, nodeTxt}); err != nil {
		t.Fatal(err)
	}
	page, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	wantLines(t, string(page),
		"![L1Hit: throughput per peer](benchmarks/l1hit.svg)",
		"[raw-go.txt](benchmarks/raw-go.txt), [raw-node.txt](benchmarks/raw-node.txt)",
		"| bento | `github.com/bentocache/bento` | this repository |",
		"| otter | `github.com/maypok86/otter/v2` | v2.4.0 |",
		"| sturdyc | `github.com/viccon/sturdyc` | v1.1.5 |",
	)
	if strings.Contains(string(page), "`golang.org/x/perf`") {
		t.Error("a tool module is listed as a peer")
	}
	if strings.Contains(string(page), dir) {
		t.Error("the page names a path of this machine")
	}
	svg, err := os.ReadFile(filepath.Join(raw, "l1hit.svg"))
	if err != nil {
		t.Fatal(err)
	}
	wellFormed(t, "l1hit.svg", svg)
}

// TestRunKeepsHTTPSection checks that a new page keeps the section
// bench/http/run wrote into the old one, and has a placeholder for it
// before its first run.
func TestRunKeepsSections(t *testing.T) {
	dir := t.TempDir()
	in := filepath.Join(dir, "go.txt")
	if err := os.WriteFile(in, []byte(goOutput), 0o644); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "page.md")
	gomod := filepath.Join(dir, "go.mod")
	if err := run(out, dir, gomod, "auto", nil, []string{in}); err != nil {
		t.Fatal(err)
	}
	page, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	http, cg := keptSections[0], keptSections[1]
	wantLines(t, string(page), http.begin()+"\n## HTTP cache (bento_cache)\n\n*Not measured: ", http.end()+"\n\n"+cg.begin(),
		cg.begin()+"\n## Instructions per operation (callgrind)\n\n*Not measured: ", cg.end()+"\n\n## Other benchmarks")

	sections := map[string]string{
		http.script: http.begin() + "\n## HTTP cache (bento_cache)\n\n| body | site |\n|---|---|\n| 1 KiB | respond |\n" + http.end(),
		cg.script:   cg.begin() + "\n## Instructions per operation (callgrind)\n\n| path | instructions/op |\n|---|---:|\n| L1Hit bento | 1045 |\n" + cg.end(),
	}
	old := string(page)
	for script, s := range keptSectionsOf(old) {
		old = strings.Replace(old, s, sections[script], 1)
	}
	if err := os.WriteFile(out, []byte(old), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := run(out, dir, gomod, "auto", nil, []string{in}); err != nil {
		t.Fatal(err)
	}
	page, err = os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	wantLines(t, string(page), "## Memory", sections[http.script]+"\n\n"+sections[cg.script]+"\n\n## Other benchmarks")
	if strings.Contains(string(page), "*Not measured:") {
		t.Error("the page has a placeholder beside a kept section")
	}
}

func TestRunRefusesEmptyInput(t *testing.T) {
	dir := t.TempDir()
	in := filepath.Join(dir, "go.txt")
	if err := os.WriteFile(in, []byte("FAIL\tgithub.com/bentocache/bento/bench [build failed]\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "page.md")
	if err := run(out, dir, filepath.Join(dir, "go.mod"), "auto", nil, []string{in}); err == nil {
		t.Fatal("run made a page out of no results")
	}
	if _, err := os.Stat(out); err == nil {
		t.Error("run wrote a page out of no results")
	}
}

func TestFormat(t *testing.T) {
	for _, c := range []struct {
		got, want string
	}{
		{si(0), "0"},
		{si(950), "950"},
		{si(999.9), "1k"},
		{si(1500), "1.5k"},
		{si(81_234_567), "81.2M"},
		{si(0.337), "0.337"},
		{fmtNum(14.26), "14.3"},
		{fmtNum(0), "0"},
		{fmtNum(1234567.4), "1,234,567"},
		{fmtNum(-1234), "-1,234"},
		{fmtRatio(0.998), "0.998x"},
		{fmtRatio(1), "1.00x"},
		{fmtRatio(2.5), "2.50x"},
		{fmtRatio(37.61), "37.6x"},
		{fmtRatio(151), "151x"},
	} {
		if c.got != c.want {
			t.Errorf("got %q, want %q", c.got, c.want)
		}
	}
}
