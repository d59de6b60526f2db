package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/bentocache/bento/xbento"
)

// run runs xbento run: it builds a temporary binary with the package of the
// current directory, runs it with cmd.args and removes it. It returns the
// binary's exit status.
func run(ctx context.Context, cmd *command, stdout, stderr io.Writer, logger *log.Logger) (int, error) {
	b := cmd.builder
	cwd, err := os.Getwd()
	if err != nil {
		return 0, &xbento.StepError{Step: xbento.StepPrepare, Err: err}
	}
	mod, err := currentModule(ctx, b.GoCommand, cwd)
	if err != nil {
		return 0, &xbento.StepError{Step: xbento.StepPrepare, Err: err}
	}
	pkg, err := importPath(mod.Path, mod.Dir, cwd)
	if err != nil {
		return 0, &xbento.StepError{Step: xbento.StepPrepare, Err: err}
	}
	logger.Printf("[INFO] Building with %s from %s", pkg, mod.Dir)
	// The module itself, then its own replace directives, then the command
	// line's: a later replacement of a module wins.
	b.Replacements = append(append([]xbento.Replace{{Old: mod.Path, New: mod.Dir}}, mod.Replace...), b.Replacements...)
	b.Modules = append([]xbento.Dependency{{PackagePath: pkg}}, b.Modules...)

	dir, err := os.MkdirTemp("", "xbento-run-")
	if err != nil {
		return 0, &xbento.StepError{Step: xbento.StepPrepare, Err: err}
	}
	bin := filepath.Join(dir, defaultOutput(""))
	defer func() {
		if b.SkipCleanup {
			logger.Printf("[INFO] Skipping cleanup as requested; leaving binary: %s", bin)
			return
		}
		logger.Printf("[INFO] Removing temporary binary: %s", bin)
		if err := os.RemoveAll(dir); err != nil {
			logger.Printf("[ERROR] Removing %s: %v", dir, err)
		}
	}()
	if err := b.Build(ctx, bin); err != nil {
		return 0, err
	}
	if b.SkipBuild {
		logger.Printf("[INFO] Nothing to run: the build was skipped as requested")
		return 0, nil
	}

	logger.Printf("[INFO] Running %s", commandString(append([]string{bin}, cmd.args...)))
	c := exec.Command(bin, cmd.args...)
	c.Stdin, c.Stdout, c.Stderr = os.Stdin, stdout, stderr
	if err := c.Start(); err != nil {
		return 0, &xbento.StepError{Step: xbento.StepRun, Err: err}
	}
	// When ctx ends (a SIGINT to xbento), ask the binary to shut down
	// gracefully with a SIGTERM, and wait for it before cleaning up. A
	// Ctrl-C in a terminal reaches the binary too: bento shuts down once,
	// where a second SIGINT would make it force quit.
	exited := make(chan struct{})
	go func() {
		select {
		case <-ctx.Done():
			if c.Process.Signal(syscall.SIGTERM) != nil {
				_ = c.Process.Kill() // Windows has no SIGTERM
			}
		case <-exited:
		}
	}()
	err = c.Wait()
	close(exited)
	if exit, ok := errors.AsType[*exec.ExitError](err); ok {
		logger.Printf("[INFO] bento exited with status %d", exit.ExitCode())
		return exit.ExitCode(), nil
	}
	if err != nil {
		return 0, &xbento.StepError{Step: xbento.StepRun, Err: err}
	}
	return 0, nil
}

// module is the module of the current directory.
type module struct {
	Path    string
	Dir     string
	Replace []xbento.Replace
}

// currentModule reads the go.mod of the module that holds dir.
func currentModule(ctx context.Context, goCmd, dir string) (*module, error) {
	if goCmd == "" {
		goCmd = "go"
	}
	out, err := goOutput(ctx, goCmd, dir, "env", "GOMOD")
	if err != nil {
		return nil, err
	}
	gomod := string(bytes.TrimSpace(out))
	if gomod == "" || gomod == os.DevNull {
		return nil, fmt.Errorf("xbento run works inside the Go module of a bento module: no go.mod in %s or above", dir)
	}
	out, err = goOutput(ctx, goCmd, dir, "mod", "edit", "-json", gomod)
	if err != nil {
		return nil, err
	}
	var f struct {
		Module  struct{ Path string }
		Replace []struct {
			Old, New struct{ Path, Version string }
		}
	}
	if err := json.Unmarshal(out, &f); err != nil {
		return nil, fmt.Errorf("reading %s: %w", gomod, err)
	}
	m := &module{Path: f.Module.Path, Dir: filepath.Dir(gomod)}
	for _, r := range f.Replace {
		old, repl := r.Old.Path, r.New.Path
		if r.Old.Version != "" {
			old += "@" + r.Old.Version
		}
		switch {
		case r.New.Version != "":
			repl += "@" + r.New.Version
		case !filepath.IsAbs(repl):
			repl = filepath.Join(m.Dir, repl) // relative to the go.mod
		}
		m.Replace = append(m.Replace, xbento.Replace{Old: old, New: repl})
	}
	return m, nil
}

// importPath is the import path of the package in dir, in the module modPath
// rooted at modDir.
func importPath(modPath, modDir, dir string) (string, error) {
	rel, err := filepath.Rel(modDir, dir)
	if err != nil {
		return "", err
	}
	return path.Join(modPath, filepath.ToSlash(rel)), nil
}

// goOutput runs the go command in dir and returns its standard output.
func goOutput(ctx context.Context, goCmd, dir string, args ...string) ([]byte, error) {
	c := exec.CommandContext(ctx, goCmd, args...)
	c.Dir = dir
	var stderr bytes.Buffer
	c.Stderr = &stderr
	out, err := c.Output()
	if err != nil {
		return nil, fmt.Errorf("%s: %w: %s", commandString(c.Args), err, bytes.TrimSpace(stderr.Bytes()))
	}
	return out, nil
}

// commandString renders a command line for the log.
func commandString(args []string) string {
	return strings.Join(args, " ")
}
