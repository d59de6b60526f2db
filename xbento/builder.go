package xbento

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"os"
	"path/filepath"
	"runtime/debug"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/bentocache/bento/internal/maintmpl"
)

// BentoModule is the module path of bento.
const BentoModule = "github.com/bentocache/bento"

// DefaultTimeoutGet is how long a go get, go mod or go mod tidy command may
// take when [Builder.TimeoutGet] is zero.
const DefaultTimeoutGet = 5 * time.Minute

// zeroVersion is the version that a replaced module is required at when no
// version is given: the go command does the same.
const zeroVersion = "v0.0.0-00010101000000-000000000000"

// Builder describes a custom bento binary: Caddy, bento and its standard
// modules, and the extra Go packages in Modules. Its zero value builds a
// stock bento at [DefaultBentoVersion]. A Builder can be read from JSON.
type Builder struct {
	Compile
	// BentoVersion is the version of bento to build, anything go get takes:
	// "v1.2.0", a commit, "latest". Default: [DefaultBentoVersion], the
	// version of bento this package was built from. Ignored when
	// Replacements replace bento.
	BentoVersion string `json:"bento_version,omitempty"`
	// Modules are the packages to compile in: each one registers its
	// modules in init, and the generated main.go blank-imports it.
	Modules []Dependency `json:"modules,omitempty"`
	// Replacements are go.mod replace directives, the way to build a module
	// or bento from a local directory. A relative directory is relative to
	// the current directory of the process.
	Replacements []Replace `json:"replacements,omitempty"`
	// TimeoutGet bounds each go mod, go get and go mod tidy command. Zero
	// means [DefaultTimeoutGet]; negative means no limit.
	TimeoutGet time.Duration `json:"timeout_get,omitempty"`
	// TimeoutBuild bounds go build. Zero or negative means no limit.
	TimeoutBuild time.Duration `json:"timeout_build,omitempty"`
	// RaceDetector builds with -race, which turns cgo on.
	RaceDetector bool `json:"race_detector,omitempty"`
	// SkipCleanup leaves the temporary folder in place, for inspection.
	SkipCleanup bool `json:"skip_cleanup,omitempty"`
	// SkipBuild prepares the temporary folder but does not run go build.
	SkipBuild bool `json:"skip_build,omitempty"`
	// Debug keeps the symbols and turns optimisations off (-gcflags
	// "all=-N -l") for a debugger. Default: -trimpath -ldflags "-w -s".
	Debug bool `json:"debug,omitempty"`
	// BuildFlags are extra flags for go get and go build, separated by
	// spaces; quote a flag value that holds spaces ('-ldflags=-X a=b').
	BuildFlags string `json:"build_flags,omitempty"`
	// ModFlags are extra flags for go mod init, edit and tidy.
	ModFlags string `json:"mod_flags,omitempty"`
	// GoCommand is the go command to run. Default: "go", from PATH.
	GoCommand string `json:"go_command,omitempty"`
	// Log receives the [INFO] progress lines and the output of the go
	// commands. Default: os.Stderr.
	Log io.Writer `json:"-"`
}

// Compile is the target platform of a build. Empty fields keep what the
// environment of the process says (GOOS, GOARCH, GOARM).
type Compile struct {
	OS   string `json:"os,omitempty"`
	Arch string `json:"arch,omitempty"`
	ARM  string `json:"arm,omitempty"`
	// Cgo builds with CGO_ENABLED=1; otherwise CGO_ENABLED=0 and the
	// binary is static.
	Cgo bool `json:"cgo,omitempty"`
}

// Dependency is a package to compile in.
type Dependency struct {
	// PackagePath is the import path of the package, such as
	// "github.com/you/driver" or "github.com/you/repo/bento/driver".
	PackagePath string `json:"package_path"`
	// Version is what go get takes: "v1.2.0", a commit, "latest". Default:
	// the latest version. Ignored when the package's module is replaced.
	Version string `json:"version,omitempty"`
	// Replacement replaces the module whose path is PackagePath: a local
	// directory ("../driver"), or another module at a version
	// ("github.com/fork/driver@v1.2.1"). For a package in a subdirectory of
	// its module, replace the module in Builder.Replacements instead.
	Replacement string `json:"replacement,omitempty"`
}

// Replace is a go.mod replace directive.
type Replace struct {
	// Old is a module path, optionally at a version ("example.com/m" or
	// "example.com/m@v1.2.0"): without one, every version is replaced.
	Old string `json:"old"`
	// New is a local directory holding a go.mod (an absolute path, or one
	// that starts with ./ or ../), or a module at a version.
	New string `json:"new"`
}

// IsLocalPath reports whether the target of a replacement is a directory
// rather than a module, by the go command's rule: it is absolute, or starts
// with ./ or ../.
func IsLocalPath(p string) bool {
	if filepath.IsAbs(p) || p == "." || p == ".." {
		return true
	}
	for _, prefix := range []string{"./", "../", `.\`, `..\`} {
		if strings.HasPrefix(p, prefix) {
			return true
		}
	}
	return false
}

// DefaultBentoVersion returns the version of the bento module in the build
// information of the running program: what xbento builds when given no
// version. It is "(devel)" for a program built inside a bento checkout or
// against a local replacement of bento, and "" when unknown.
func DefaultBentoVersion() string {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return ""
	}
	if bi.Main.Path == BentoModule {
		return bi.Main.Version
	}
	for _, dep := range bi.Deps {
		if dep.Path == BentoModule {
			if dep.Replace != nil && dep.Replace.Version == "" {
				return "(devel)"
			}
			return dep.Version
		}
	}
	return ""
}

// Build builds the binary that b describes and writes it to outputFile, a
// path relative to the current directory or absolute. It works in a
// temporary folder: main.go rendered from the template of cmd/bento, then
// go mod init, go mod edit for the replacements, go get for bento and for
// every module that is not replaced (a replaced module is never fetched),
// go mod tidy and go build. It reports its progress to b.Log, and removes
// the folder when it is done, failed or not, unless b.SkipCleanup is set.
//
// A failure is a [*StepError]. Cancelling ctx interrupts the running go
// command (with an interrupt signal where there is one), and the error
// wraps the context's.
func (b Builder) Build(ctx context.Context, outputFile string) (err error) {
	if b.Log == nil {
		b.Log = os.Stderr
	}
	// The logger and both outputs of a go command write to Log at once.
	b.Log = &lockedWriter{w: b.Log}
	logger := log.New(b.Log, "", log.LstdFlags)
	plan, err := b.prepare(outputFile, logger)
	if err != nil {
		return &StepError{Step: StepPrepare, Err: err}
	}
	env, err := newEnvironment(b, plan, logger)
	if err != nil {
		return &StepError{Step: StepWriteMain, Err: err}
	}
	defer func() {
		if cerr := env.close(); cerr != nil {
			if err == nil {
				err = &StepError{Step: StepCleanup, Err: cerr}
			} else {
				logger.Printf("[ERROR] Cleaning up: %v", cerr)
			}
		}
	}()
	if err := env.setUp(ctx); err != nil {
		return err
	}
	if b.SkipBuild {
		logger.Printf("[INFO] Skipping build as requested")
		return nil
	}
	return env.build(ctx)
}

// plan is a Builder checked and resolved by prepare.
type plan struct {
	output       string    // absolute
	main         []byte    // the source of main.go
	replacements []Replace // New resolved to an absolute path when local
	// requires are the replaced modules to require, at the version that
	// their replacement names or zeroVersion: go get skips them.
	requires []string
	// bentoVersion is "" when bento is replaced.
	bentoVersion string
	// gets are the go get arguments of the modules that are not replaced.
	gets []string
	// buildFlags and modFlags are the Builder's, split.
	buildFlags, modFlags []string
}

// prepare checks b and resolves what Build needs before it touches the
// disk: nothing is created when it fails.
func (b Builder) prepare(outputFile string, logger *log.Logger) (*plan, error) {
	if outputFile == "" {
		return nil, errors.New("no output file")
	}
	p := new(plan)
	var err error
	if p.output, err = filepath.Abs(outputFile); err != nil {
		return nil, fmt.Errorf("output file: %w", err)
	}
	if p.buildFlags, err = splitFlags(b.BuildFlags); err != nil {
		return nil, fmt.Errorf("build flags: %w", err)
	}
	if p.modFlags, err = splitFlags(b.ModFlags); err != nil {
		return nil, fmt.Errorf("mod flags: %w", err)
	}

	// Replacements: the Builder's, then the modules'; a later one for the
	// same Old wins, as in a go.mod.
	all := slices.Clone(b.Replacements)
	for _, m := range b.Modules {
		if m.Replacement != "" {
			all = append(all, Replace{Old: m.PackagePath, New: m.Replacement})
		}
	}
	index := make(map[string]int) // Old → position in p.replacements
	for _, r := range all {
		if r.Old == "" || r.New == "" {
			return nil, fmt.Errorf("replacement %q => %q: both sides are required", r.Old, r.New)
		}
		if IsLocalPath(r.New) {
			abs, err := filepath.Abs(r.New)
			if err != nil {
				return nil, fmt.Errorf("replacement of %s: %w", r.Old, err)
			}
			if abs != filepath.Clean(r.New) {
				logger.Printf("[INFO] Resolved relative replacement %s to %s", r.New, abs)
			}
			if _, err := os.Stat(filepath.Join(abs, "go.mod")); err != nil {
				return nil, fmt.Errorf("replacement of %s: %s is not a Go module (no go.mod)", r.Old, r.New)
			}
			r.New = abs
		} else if !strings.Contains(r.New, "@") {
			return nil, fmt.Errorf("replacement of %s: %q is neither a directory (./…, ../… or an absolute path) nor a module@version", r.Old, r.New)
		}
		if i, ok := index[r.Old]; ok {
			p.replacements[i] = r
			continue
		}
		index[r.Old] = len(p.replacements)
		p.replacements = append(p.replacements, r)
	}

	required := make(map[string]bool)
	require := func(r Replace) {
		mod, version, ok := strings.Cut(r.Old, "@")
		if !ok {
			version = zeroVersion
		}
		if !required[mod] {
			required[mod] = true
			p.requires = append(p.requires, mod+"@"+version)
		}
	}

	if r, ok := p.replacedModule(BentoModule); ok {
		require(r)
	} else {
		p.bentoVersion = b.BentoVersion
		if p.bentoVersion == "" {
			p.bentoVersion = DefaultBentoVersion()
		}
		if p.bentoVersion == "" || p.bentoVersion == "(devel)" || strings.HasSuffix(p.bentoVersion, "+dirty") {
			return nil, fmt.Errorf("no bento version to build: this program was built from a bento checkout (version %q); "+
				"give a version (--bento-version), or a checkout to build from: --replace %s=PATH (or XBENTO_BENTO_PATH=PATH)",
				p.bentoVersion, BentoModule)
		}
	}

	var imports []string
	for _, m := range b.Modules {
		pkg := strings.TrimSuffix(m.PackagePath, "/")
		if pkg == "" || strings.ContainsAny(pkg, "@= \t") {
			return nil, fmt.Errorf("module %q: not a package path", m.PackagePath)
		}
		if pkg != BentoModule && pkg != BentoModule+"/modules/standard" && !slices.Contains(imports, pkg) {
			imports = append(imports, pkg)
		}
		if r, ok := p.replacedModule(pkg); ok {
			if m.Version != "" {
				logger.Printf("[INFO] %s is replaced by %s: version %s ignored", pkg, r.New, m.Version)
			}
			require(r)
			continue
		}
		arg := pkg
		if m.Version != "" {
			arg += "@" + m.Version
		}
		p.gets = append(p.gets, arg)
	}
	if p.main, err = maintmpl.Render(maintmpl.Data{Modules: imports}); err != nil {
		return nil, err
	}
	return p, nil
}

// replacedModule returns the replacement of the module that holds package
// pkg: the one whose module path is pkg or, the longest, a parent of it.
func (p *plan) replacedModule(pkg string) (Replace, bool) {
	var best Replace
	bestLen := -1
	for _, r := range p.replacements {
		mod, _, _ := strings.Cut(r.Old, "@")
		if (pkg == mod || strings.HasPrefix(pkg, mod+"/")) && len(mod) > bestLen {
			best, bestLen = r, len(mod)
		}
	}
	return best, bestLen >= 0
}

// lockedWriter serialises the writes to w.
type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (lw *lockedWriter) Write(p []byte) (int, error) {
	lw.mu.Lock()
	defer lw.mu.Unlock()
	return lw.w.Write(p)
}
