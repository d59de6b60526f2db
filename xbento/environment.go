package xbento

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"time"
)

// environment is the temporary folder of a build and the way to run go
// commands in it.
type environment struct {
	b      Builder
	p      *plan
	dir    string
	logger *log.Logger
}

// newEnvironment creates the temporary folder and writes main.go in it.
func newEnvironment(b Builder, p *plan, logger *log.Logger) (*environment, error) {
	dir, err := os.MkdirTemp("", "xbento-")
	if err != nil {
		return nil, err
	}
	logger.Printf("[INFO] Temporary folder: %s", dir)
	env := &environment{b: b, p: p, dir: dir, logger: logger}
	mainPath := filepath.Join(dir, "main.go")
	logger.Printf("[INFO] Writing main module: %s\n%s", mainPath, p.main)
	if err := os.WriteFile(mainPath, p.main, 0o644); err != nil {
		return nil, errors.Join(err, env.close())
	}
	return env, nil
}

// close removes the temporary folder, unless the Builder says to keep it.
func (env *environment) close() error {
	if env.b.SkipCleanup {
		env.logger.Printf("[INFO] Skipping cleanup as requested; leaving folder intact: %s", env.dir)
		return nil
	}
	env.logger.Printf("[INFO] Cleaning up temporary folder: %s", env.dir)
	return os.RemoveAll(env.dir)
}

// setUp makes the temporary folder a module that requires what the build
// needs, at the versions asked for.
func (env *environment) setUp(ctx context.Context) error {
	if err := env.goMod(ctx, "init", "bento"); err != nil {
		return &StepError{Step: StepModInit, Err: err}
	}

	if len(env.p.replacements)+len(env.p.requires) > 0 {
		var args []string
		for _, r := range env.p.replacements {
			env.logger.Printf("[INFO] Replace %s => %s", r.Old, r.New)
			args = append(args, "-replace", r.Old+"="+r.New)
		}
		for _, r := range env.p.requires {
			args = append(args, "-require", r)
		}
		if err := env.goMod(ctx, "edit", args...); err != nil {
			return &StepError{Step: StepReplace, Err: err}
		}
	}

	var pin []string // keeps a module from upgrading bento
	if env.p.bentoVersion == "" {
		env.logger.Printf("[INFO] Skipping go get %s: it is replaced", BentoModule)
	} else {
		pin = []string{BentoModule + "@" + env.p.bentoVersion}
		if err := env.goGet(ctx, pin...); err != nil {
			return &StepError{Step: StepGetBento, Err: fmt.Errorf("%w (is bento %s published? to build from a checkout, replace %s)",
				err, env.p.bentoVersion, BentoModule)}
		}
	}
	for _, r := range env.p.requires {
		if mod, _, _ := strings.Cut(r, "@"); mod != BentoModule {
			env.logger.Printf("[INFO] Skipping go get %s: it is replaced", mod)
		}
	}
	for _, get := range env.p.gets {
		if err := env.goGet(ctx, append([]string{get}, pin...)...); err != nil {
			return &StepError{Step: StepGetModules, Err: err}
		}
	}
	if err := env.goMod(ctx, "tidy"); err != nil {
		return &StepError{Step: StepTidy, Err: err}
	}
	return nil
}

// build runs go build.
func (env *environment) build(ctx context.Context) error {
	b := env.b
	var vars []string
	if b.OS != "" {
		vars = append(vars, "GOOS="+b.OS)
	}
	if b.Arch != "" {
		vars = append(vars, "GOARCH="+b.Arch)
	}
	if b.ARM != "" {
		vars = append(vars, "GOARM="+b.ARM)
	}
	if b.RaceDetector && !b.Cgo {
		env.logger.Printf("[WARNING] Enabling cgo because it is required by the race detector")
		b.Cgo = true
	}
	if b.Cgo {
		vars = append(vars, "CGO_ENABLED=1")
	} else {
		vars = append(vars, "CGO_ENABLED=0")
	}

	args := []string{"build", "-o", env.p.output}
	if b.Debug {
		args = append(args, "-gcflags", "all=-N -l")
	} else {
		args = append(args, "-trimpath", "-ldflags", "-w -s")
	}
	if b.RaceDetector {
		args = append(args, "-race")
	}
	args = append(args, env.p.buildFlags...)

	env.logger.Printf("[INFO] Building bento")
	if err := env.run(ctx, b.TimeoutBuild, vars, args...); err != nil {
		return &StepError{Step: StepBuild, Err: err}
	}
	env.logger.Printf("[INFO] Build complete: %s", env.p.output)
	return nil
}

// goMod runs go mod <sub> with the Builder's mod flags.
func (env *environment) goMod(ctx context.Context, sub string, args ...string) error {
	full := append([]string{"mod", sub}, env.p.modFlags...)
	return env.run(ctx, env.timeoutGet(), nil, append(full, args...)...)
}

// goGet runs go get -v with the Builder's build flags.
func (env *environment) goGet(ctx context.Context, args ...string) error {
	full := append([]string{"get", "-v"}, env.p.buildFlags...)
	return env.run(ctx, env.timeoutGet(), nil, append(full, args...)...)
}

func (env *environment) timeoutGet() time.Duration {
	if env.b.TimeoutGet == 0 {
		return DefaultTimeoutGet
	}
	return env.b.TimeoutGet
}

// run runs the go command with args in the temporary folder, with vars
// added to the environment, within timeout (none if <= 0). Its output goes
// to the log. The error names the command and ends with the last line the
// command wrote to stderr.
func (env *environment) run(ctx context.Context, timeout time.Duration, vars []string, args ...string) error {
	goCmd := env.b.GoCommand
	if goCmd == "" {
		goCmd = "go"
	}
	parent, limit := ctx, "none"
	if timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, timeout)
		defer cancel()
		limit = timeout.String()
	}
	line := commandLine(append(append(vars, goCmd), args...))
	env.logger.Printf("[INFO] exec (timeout=%s): %s", limit, line)

	cmd := exec.CommandContext(ctx, goCmd, args...)
	cmd.Dir = env.dir
	cmd.Env = append(goEnv(os.Environ()), vars...)
	var tail tailWriter
	cmd.Stdout = env.b.Log
	cmd.Stderr = io.MultiWriter(env.b.Log, &tail)
	cmd.Cancel = func() error {
		if runtime.GOOS == "windows" {
			return cmd.Process.Kill()
		}
		return cmd.Process.Signal(os.Interrupt)
	}
	cmd.WaitDelay = 10 * time.Second
	err := cmd.Run()
	switch {
	case err == nil:
		return nil
	case parent.Err() != nil: // cancelled from above: a SIGINT
		return fmt.Errorf("%s: %w", line, parent.Err())
	case ctx.Err() != nil:
		return fmt.Errorf("%s: timed out after %s: %w", line, timeout, ctx.Err())
	}
	if last := tail.last(); last != "" {
		return fmt.Errorf("%s: %w: %s", line, err, last)
	}
	return fmt.Errorf("%s: %w", line, err)
}

// goEnv is environ with what every go command of a build needs: no
// workspace (the temporary module stands alone), and -mod=mod so that go.mod
// may be updated, unless the user's GOFLAGS already set -mod.
func goEnv(environ []string) []string {
	out := make([]string, 0, len(environ)+2)
	goflags := ""
	for _, kv := range environ {
		switch {
		case strings.HasPrefix(kv, "GOFLAGS="):
			goflags = strings.TrimPrefix(kv, "GOFLAGS=")
		case strings.HasPrefix(kv, "GOWORK="):
		default:
			out = append(out, kv)
		}
	}
	if !strings.Contains(goflags, "-mod=") {
		goflags = strings.TrimSpace(goflags + " -mod=mod")
	}
	return append(out, "GOWORK=off", "GOFLAGS="+goflags)
}

// commandLine renders args as a shell would need them, quoting those with
// spaces or quotes.
func commandLine(args []string) string {
	var b strings.Builder
	for i, a := range args {
		if i > 0 {
			b.WriteByte(' ')
		}
		if a == "" || strings.ContainsAny(a, " \t\"'\\") {
			a = "'" + strings.ReplaceAll(a, "'", `'\''`) + "'"
		}
		b.WriteString(a)
	}
	return b.String()
}

// splitFlags splits s at spaces, keeping together what is inside single or
// double quotes, and drops the quotes: -ldflags='-X a=b' -tags x gives
// "-ldflags=-X a=b", "-tags", "x".
func splitFlags(s string) ([]string, error) {
	var (
		out   []string
		cur   strings.Builder
		quote rune
		in    bool // cur holds a word, possibly empty ('')
	)
	for _, r := range s {
		switch {
		case quote != 0 && r == quote:
			quote = 0
		case quote != 0:
			cur.WriteRune(r)
		case r == '\'' || r == '"':
			quote, in = r, true
		case r == ' ' || r == '\t' || r == '\n':
			if in {
				out = append(out, cur.String())
				cur.Reset()
				in = false
			}
		default:
			cur.WriteRune(r)
			in = true
		}
	}
	if quote != 0 {
		return nil, fmt.Errorf("unclosed %c in %q", quote, s)
	}
	if in {
		out = append(out, cur.String())
	}
	return out, nil
}

// tailWriter keeps the end of what is written to it.
type tailWriter struct{ buf []byte }

const tailSize = 4096

func (w *tailWriter) Write(p []byte) (int, error) {
	w.buf = append(w.buf, p...)
	if len(w.buf) > tailSize {
		w.buf = w.buf[len(w.buf)-tailSize:]
	}
	return len(p), nil
}

// last returns the last non-empty line written.
func (w *tailWriter) last() string {
	lines := bytes.Split(bytes.TrimSpace(w.buf), []byte("\n"))
	return string(bytes.TrimSpace(lines[len(lines)-1]))
}
