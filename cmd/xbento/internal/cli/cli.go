// Package cli is the command line of xbento: it turns the arguments and the
// XBENTO_* environment into an [xbento.Builder], cancels the build on
// SIGINT, and runs it.
package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"

	"github.com/bentocache/bento/xbento"
)

// Exit statuses.
const (
	exitOK    = 0
	exitError = 1 // a step failed
	exitUsage = 2 // the command line is wrong
)

const usage = `xbento builds bento binaries that include third-party modules.

Usage:
	xbento build [--output FILE] [--with MODULE[@VERSION][=REPLACEMENT]]...
	             [--replace MODULE[@VERSION]=REPLACEMENT]... [--bento-version VERSION]
	xbento run   [--with …] [--replace …] [--bento-version VERSION] [-- ARGS]
	xbento version

build compiles Caddy, bento's standard modules and every --with package into
FILE (default ./bento). run, inside the Go module of a bento module, builds a
temporary binary that includes the package of the current directory, runs it
with ARGS (default: run) and removes it.

A bento built from a checkout has no version to fetch: give
--replace github.com/bentocache/bento=PATH, or set XBENTO_BENTO_PATH=PATH.
Environment: BENTO_VERSION, XBENTO_BENTO_PATH, XBENTO_RACE_DETECTOR,
XBENTO_SKIP_BUILD, XBENTO_SKIP_CLEANUP, XBENTO_DEBUG, XBENTO_GO_BUILD_FLAGS,
XBENTO_GO_MOD_FLAGS, XBENTO_WHICH_GO, GOOS, GOARCH, GOARM, CGO_ENABLED.
See docs/xbento.md.
`

// Main runs xbento on the process's arguments and environment and exits
// with its status. The first SIGINT cancels the build.
func Main() {
	ctx, cancel := context.WithCancel(context.Background())
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, os.Interrupt)
	go func() {
		select {
		case <-sig:
			log.Printf("[INFO] SIGINT: cancelling")
			cancel()
		case <-ctx.Done():
		}
	}()
	code := Run(ctx, os.Args[1:], os.Stdout, os.Stderr, os.Getenv)
	cancel()
	os.Exit(code)
}

// Run runs xbento with args (the program name excluded) and returns the
// exit status: 0, 1 when a step failed ("[ERROR] step <name>: <cause>" on
// stderr), 2 for a command line it cannot parse, and for run the status of
// the binary it ran. Progress goes to stderr, the output of the binary to
// stdout. getenv reads the environment.
func Run(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) string) int {
	logger := log.New(stderr, "", log.LstdFlags)
	cmd, err := parse(args, getenv)
	if errors.Is(err, flag.ErrHelp) {
		fmt.Fprint(stdout, usage)
		return exitOK
	}
	if err != nil {
		fmt.Fprintf(stderr, "xbento: %v\nRun xbento help for the usage.\n", err)
		return exitUsage
	}
	switch cmd.name {
	case "version":
		fmt.Fprintln(stdout, "xbento "+version())
		return exitOK
	case "build":
		cmd.builder.Log = stderr
		err = build(ctx, cmd, stdout, logger)
	case "run":
		cmd.builder.Log = stderr
		var code int
		code, err = run(ctx, cmd, stdout, stderr, logger)
		if err == nil {
			return code
		}
	}
	if err != nil {
		logger.Printf("[ERROR] %v", err)
		return exitError
	}
	return exitOK
}

// command is a parsed command line.
type command struct {
	name    string // build, run or version
	output  string // build
	builder xbento.Builder
	args    []string // run: the binary's arguments
}

// parse reads the command line and the environment.
func parse(args []string, getenv func(string) string) (*command, error) {
	if len(args) == 0 {
		return nil, errors.New("no command")
	}
	cmd := &command{name: args[0]}
	switch cmd.name {
	case "help", "-h", "-help", "--help":
		return nil, flag.ErrHelp
	case "version":
		if len(args) > 1 {
			return nil, fmt.Errorf("version takes no arguments, got %q", args[1:])
		}
		return cmd, nil
	case "build", "run":
	default:
		return nil, fmt.Errorf("unknown command %q (want build, run or version)", cmd.name)
	}

	b := &cmd.builder
	if err := fromEnv(b, getenv); err != nil {
		return nil, err
	}
	fs := flag.NewFlagSet("xbento "+cmd.name, flag.ContinueOnError)
	fs.SetOutput(io.Discard) // parse reports the error itself
	fs.Var(withFlag{b}, "with", "")
	fs.Var(replaceFlag{b}, "replace", "")
	fs.StringVar(&b.BentoVersion, "bento-version", b.BentoVersion, "")
	if cmd.name == "build" {
		fs.StringVar(&cmd.output, "output", "", "")
	}
	if err := fs.Parse(args[1:]); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil, err
		}
		if cmd.name == "run" {
			return nil, fmt.Errorf("%w (the arguments of the bento binary go after --)", err)
		}
		return nil, err
	}
	switch cmd.name {
	case "build":
		if fs.NArg() > 0 {
			return nil, fmt.Errorf("build: unexpected argument %q", fs.Arg(0))
		}
		if cmd.output == "" {
			cmd.output = defaultOutput(b.OS)
		}
	case "run":
		cmd.args = fs.Args()
		if len(cmd.args) == 0 {
			cmd.args = []string{"run"}
		}
	}
	// XBENTO_BENTO_PATH, unless the command line replaces bento itself.
	if dir := getenv("XBENTO_BENTO_PATH"); dir != "" && !replaces(b.Replacements, xbento.BentoModule) {
		abs, err := filepath.Abs(dir)
		if err != nil {
			return nil, fmt.Errorf("XBENTO_BENTO_PATH: %w", err)
		}
		b.Replacements = append([]xbento.Replace{{Old: xbento.BentoModule, New: abs}}, b.Replacements...)
	}
	return cmd, nil
}

// fromEnv sets what the environment says on b.
func fromEnv(b *xbento.Builder, getenv func(string) string) error {
	// first returns the first of the variables that is set.
	first := func(names ...string) string {
		for _, n := range names {
			if v := getenv(n); v != "" {
				return v
			}
		}
		return ""
	}
	for _, v := range []struct {
		name string
		dst  *bool
	}{
		{"XBENTO_RACE_DETECTOR", &b.RaceDetector},
		{"XBENTO_SKIP_BUILD", &b.SkipBuild},
		{"XBENTO_SKIP_CLEANUP", &b.SkipCleanup},
		{"XBENTO_DEBUG", &b.Debug},
	} {
		if s := getenv(v.name); s != "" {
			on, err := strconv.ParseBool(s)
			if err != nil {
				return fmt.Errorf("%s=%q: want 1 or 0", v.name, s)
			}
			*v.dst = on
		}
	}
	b.BentoVersion = getenv("BENTO_VERSION")
	b.BuildFlags = first("XBENTO_GO_BUILD_FLAGS", "XBENTO_BUILD_FLAGS")
	b.ModFlags = getenv("XBENTO_GO_MOD_FLAGS")
	b.GoCommand = first("XBENTO_WHICH_GO", "XBENTO_GO")
	b.OS, b.Arch, b.ARM = getenv("GOOS"), getenv("GOARCH"), getenv("GOARM")
	b.Cgo = getenv("CGO_ENABLED") == "1"
	return nil
}

// withFlag is --with MODULE[@VERSION][=REPLACEMENT], repeatable.
type withFlag struct{ b *xbento.Builder }

func (f withFlag) String() string { return "" }

func (f withFlag) Set(s string) error {
	dep, err := parseWith(s)
	if err != nil {
		return err
	}
	f.b.Modules = append(f.b.Modules, dep)
	return nil
}

// parseWith parses MODULE[@VERSION][=REPLACEMENT]; a relative replacement
// becomes absolute, from the current directory.
func parseWith(s string) (xbento.Dependency, error) {
	left, repl, hasRepl := strings.Cut(s, "=")
	mod, ver, hasVer := strings.Cut(left, "@")
	mod = strings.TrimSuffix(mod, "/") // pasted from a URL
	switch {
	case mod == "":
		return xbento.Dependency{}, fmt.Errorf("--with %q: no module path", s)
	case hasVer && ver == "":
		return xbento.Dependency{}, fmt.Errorf("--with %q: no version after @", s)
	case hasRepl && repl == "":
		return xbento.Dependency{}, fmt.Errorf("--with %q: no replacement after =", s)
	}
	repl, err := absolute(repl)
	if err != nil {
		return xbento.Dependency{}, fmt.Errorf("--with %q: %w", s, err)
	}
	return xbento.Dependency{PackagePath: mod, Version: ver, Replacement: repl}, nil
}

// replaceFlag is --replace MODULE[@VERSION]=REPLACEMENT, repeatable.
type replaceFlag struct{ b *xbento.Builder }

func (f replaceFlag) String() string { return "" }

func (f replaceFlag) Set(s string) error {
	r, err := parseReplace(s)
	if err != nil {
		return err
	}
	f.b.Replacements = append(f.b.Replacements, r)
	return nil
}

// parseReplace parses MODULE[@VERSION]=REPLACEMENT; a relative replacement
// becomes absolute, from the current directory.
func parseReplace(s string) (xbento.Replace, error) {
	old, repl, _ := strings.Cut(s, "=")
	old = strings.TrimSuffix(old, "/")
	if old == "" || repl == "" || strings.HasSuffix(old, "@") {
		return xbento.Replace{}, fmt.Errorf("--replace %q: want MODULE[@VERSION]=REPLACEMENT", s)
	}
	repl, err := absolute(repl)
	if err != nil {
		return xbento.Replace{}, fmt.Errorf("--replace %q: %w", s, err)
	}
	return xbento.Replace{Old: old, New: repl}, nil
}

// absolute makes a local replacement absolute, so that it still means the
// same directory from the temporary folder of the build.
func absolute(repl string) (string, error) {
	if repl == "" || !xbento.IsLocalPath(repl) {
		return repl, nil
	}
	return filepath.Abs(repl)
}

// replaces reports whether rs replace module mod.
func replaces(rs []xbento.Replace, mod string) bool {
	for _, r := range rs {
		if old, _, _ := strings.Cut(r.Old, "@"); old == mod {
			return true
		}
	}
	return false
}

// defaultOutput is ./bento, or bento.exe for Windows.
func defaultOutput(goos string) string {
	if goos == "" {
		goos = runtime.GOOS
	}
	if goos == "windows" {
		return "bento.exe"
	}
	return "." + string(filepath.Separator) + "bento"
}

// build runs xbento build, then the binary's version command when it runs
// on this machine, to show that it works. A module given with a local
// directory (--with MODULE=DIR) brings the replace directives of its own
// go.mod, as xbento run does for the current module: a driver developed
// against a bento checkout builds against that checkout. The command line's
// replacements still win.
func build(ctx context.Context, cmd *command, stdout io.Writer, logger *log.Logger) error {
	b := cmd.builder
	var own []xbento.Replace
	for _, m := range b.Modules {
		if m.Replacement == "" || !filepath.IsAbs(m.Replacement) {
			continue // not a local directory (parseWith makes those absolute)
		}
		mod, err := currentModule(ctx, b.GoCommand, m.Replacement)
		if err != nil {
			return &xbento.StepError{Step: xbento.StepPrepare, Err: fmt.Errorf("--with %s=%s: %w", m.PackagePath, m.Replacement, err)}
		}
		for _, r := range mod.Replace {
			logger.Printf("[INFO] %s's go.mod replaces %s with %s", m.PackagePath, r.Old, r.New)
		}
		own = append(own, mod.Replace...)
	}
	b.Replacements = append(own, b.Replacements...)
	if err := b.Build(ctx, cmd.output); err != nil {
		return err
	}
	if b.SkipBuild || !native(b.Compile) {
		return nil
	}
	abs, err := filepath.Abs(cmd.output)
	if err != nil {
		return err
	}
	logger.Printf("[INFO] %s version", cmd.output)
	v := exec.CommandContext(ctx, abs, "version")
	v.Stdout, v.Stderr = stdout, b.Log
	if err := v.Run(); err != nil {
		return &xbento.StepError{Step: xbento.StepBuild, Err: fmt.Errorf("%s version: %w", cmd.output, err)}
	}
	return nil
}

// native reports whether a binary built for c runs on this machine.
func native(c xbento.Compile) bool {
	return (c.OS == "" || c.OS == runtime.GOOS) && (c.Arch == "" || c.Arch == runtime.GOARCH)
}

// version is the version of the bento module that xbento was built from.
func version() string {
	v := xbento.DefaultBentoVersion()
	if v == "" {
		return "unknown"
	}
	if bi, ok := debug.ReadBuildInfo(); ok {
		v += " " + bi.GoVersion
	}
	return v
}
