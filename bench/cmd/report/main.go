// Command report turns the output of bento's comparative benchmarks into
// docs/benchmarks.md and its charts.
//
// Usage, from bench/:
//
//	go run ./cmd/report -o ../docs/benchmarks.md -plots ../docs/benchmarks go.txt node.txt
//
// The inputs are Go benchmark output (the Node script writes the same
// format). Repeated runs of a benchmark are summarised by their median.
// bench/run runs the benchmarks and then this command.
package main

import (
	"bufio"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"time"

	"golang.org/x/mod/modfile"
)

// stringList is a repeatable string flag.
type stringList []string

func (l *stringList) String() string { return strings.Join(*l, "; ") }

func (l *stringList) Set(s string) error {
	*l = append(*l, s)
	return nil
}

func main() {
	out := flag.String("o", "docs/benchmarks.md", "the Markdown page to write")
	plots := flag.String("plots", "docs/benchmarks", "the directory for the SVG charts")
	gomod := flag.String("gomod", "go.mod", "the bench module's go.mod, for the peers' versions")
	logScale := flag.String("log", logScaleDefault, "log-scale y axes: auto (when bars span a wide range), on or off")
	var cmds stringList
	flag.Var(&cmds, "cmd", "a command that produced the inputs, listed on the page (repeatable)")
	flag.Usage = func() {
		fmt.Fprintf(flag.CommandLine.Output(), "usage: report [flags] benchmark-output...\n")
		flag.PrintDefaults()
	}
	flag.Parse()
	if err := run(*out, *plots, *gomod, *logScale, cmds, flag.Args()); err != nil {
		fmt.Fprintln(os.Stderr, "report:", err)
		os.Exit(1)
	}
}

func run(out, plots, gomod, logScale string, cmds, inputs []string) error {
	switch logScale {
	case "auto", "on", "off":
	default:
		return fmt.Errorf("-log is auto, on or off, not %q", logScale)
	}
	if len(inputs) == 0 {
		return errors.New("no benchmark output given")
	}
	res, err := readFiles(inputs)
	if err != nil {
		return err
	}
	if len(res.benches) == 0 {
		// Most likely the benchmarks failed to build or run: keep
		// the previous page rather than replace it with an empty one.
		return errors.New("no benchmark results in the inputs")
	}
	for _, p := range res.problems {
		fmt.Fprintln(os.Stderr, "report: skipped:", p)
	}

	e := machine()
	e.Commands = cmds
	e.Modules, err = peerModules(gomod)
	if err != nil {
		fmt.Fprintln(os.Stderr, "report: peer versions unknown:", err)
	}

	pageDir := filepath.Dir(out)
	o := options{Log: logScale, PlotsLink: relLink(pageDir, plots)}
	for _, in := range inputs {
		// Link only inputs kept beside the page: any other path is
		// this machine's business, not the reader's.
		if rel := relLink(pageDir, in); rel != "" && !strings.HasPrefix(rel, "../") {
			o.Raw = append(o.Raw, link{Text: filepath.Base(in), Href: rel})
		}
	}
	// The kept sections come from their own scripts, not from the
	// inputs: keep those the page has.
	if old, err := os.ReadFile(out); err == nil {
		o.Kept = keptSectionsOf(string(old))
	}
	page, charts := build(res, e, o)

	if err := os.MkdirAll(plots, 0o755); err != nil {
		return err
	}
	for _, c := range charts {
		if err := os.WriteFile(filepath.Join(plots, c.File), c.Chart.svg(), 0o644); err != nil {
			return err
		}
	}
	if err := os.MkdirAll(pageDir, 0o755); err != nil {
		return err
	}
	if err := os.WriteFile(out, page, 0o644); err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "report: wrote %s and %d charts in %s\n", out, len(charts), plots)
	return nil
}

// relLink returns target relative to dir, with forward slashes, as a
// Markdown link wants it; "" when there is no relative path.
func relLink(dir, target string) string {
	absDir, err1 := filepath.Abs(dir)
	absTarget, err2 := filepath.Abs(target)
	if err1 != nil || err2 != nil {
		return ""
	}
	rel, err := filepath.Rel(absDir, absTarget)
	if err != nil {
		return ""
	}
	return filepath.ToSlash(rel)
}

// machine describes the machine the report runs on, which bench/run
// makes the one the benchmarks ran on.
func machine() env {
	e := env{
		Now:       time.Now(),
		Cores:     runtime.NumCPU(),
		Arch:      runtime.GOOS + "/" + runtime.GOARCH,
		GoVersion: runtime.Version(),
	}
	e.CPU = firstField("/proc/cpuinfo", "model name", ":")
	if kb, err := strconv.ParseFloat(strings.TrimSuffix(firstField("/proc/meminfo", "MemTotal", ":"), " kB"), 64); err == nil {
		e.Memory = fmt.Sprintf("%.1f GiB", kb/(1<<20))
	}
	e.OS = strings.Trim(firstField("/etc/os-release", "PRETTY_NAME", "="), `"`)
	if ostype, err := os.ReadFile("/proc/sys/kernel/ostype"); err == nil {
		release, _ := os.ReadFile("/proc/sys/kernel/osrelease")
		e.Kernel = strings.TrimSpace(string(ostype)) + " " + strings.TrimSpace(string(release))
	} else if u, err := exec.Command("uname", "-sr").Output(); err == nil {
		e.Kernel = strings.TrimSpace(string(u))
	}
	return e
}

// firstField returns the value of the first "key<sep>value" line of
// file, trimmed, or "".
func firstField(file, key, sep string) string {
	f, err := os.Open(file)
	if err != nil {
		return ""
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	for s.Scan() {
		k, v, ok := strings.Cut(s.Text(), sep)
		if ok && strings.TrimSpace(k) == key {
			return strings.TrimSpace(v)
		}
	}
	return ""
}

// peerPaths maps each peer to the module path it is published under,
// without the major version suffix so that a new major still matches.
var peerPaths = []struct{ peer, path string }{
	{"bento", "github.com/bentocache/bento"},
	{"otter", "github.com/maypok86/otter"},
	{"goredis", "github.com/redis/go-redis"},
	{"gocache", "github.com/eko/gocache"},
	{"gorediscache", "github.com/go-redis/cache"},
	{"sturdyc", "github.com/viccon/sturdyc"},
}

// peerModules reads the peers' versions from the bench module's go.mod.
func peerModules(gomod string) ([]module, error) {
	data, err := os.ReadFile(gomod)
	if err != nil {
		return nil, err
	}
	f, err := modfile.Parse(gomod, data, nil)
	if err != nil {
		return nil, err
	}
	replaced := map[string]*modfile.Replace{}
	for _, r := range f.Replace {
		replaced[r.Old.Path] = r
	}
	var out []module
	for _, pp := range peerPaths {
		for _, req := range f.Require {
			p := req.Mod.Path
			if p != pp.path && !strings.HasPrefix(p, pp.path+"/") {
				continue
			}
			v := req.Mod.Version
			if r := replaced[p]; r != nil {
				if r.New.Version == "" { // a directory on disk
					v = localVersion(filepath.Join(filepath.Dir(gomod), r.New.Path))
				} else {
					v = r.New.Path + " " + r.New.Version
				}
			}
			out = append(out, module{Peer: pp.peer, Path: p, Version: v})
		}
	}
	return out, nil
}

// localVersion names the commit of the checkout at dir: bento is
// measured from this repository, not from a release.
func localVersion(dir string) string {
	v := "this repository"
	commit, err := exec.Command("git", "-C", dir, "rev-parse", "--short=12", "HEAD").Output()
	if err != nil {
		return v
	}
	v += ", commit " + strings.TrimSpace(string(commit))
	if st, err := exec.Command("git", "-C", dir, "status", "--porcelain", "--untracked-files=no").Output(); err == nil && len(strings.TrimSpace(string(st))) > 0 {
		v += " with uncommitted changes"
	}
	return v
}
