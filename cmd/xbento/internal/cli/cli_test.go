package cli

import (
	"bytes"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/bentocache/bento/xbento"
)

// env is a getenv over a map: the tests never read the real XBENTO_*.
func env(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

func TestParseWith(t *testing.T) {
	cwd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		in   string
		want xbento.Dependency
	}{
		{"github.com/you/driver", xbento.Dependency{PackagePath: "github.com/you/driver"}},
		{"github.com/you/driver/", xbento.Dependency{PackagePath: "github.com/you/driver"}},
		{"github.com/you/driver@v1.2.0", xbento.Dependency{PackagePath: "github.com/you/driver", Version: "v1.2.0"}},
		{"github.com/you/driver@master", xbento.Dependency{PackagePath: "github.com/you/driver", Version: "master"}},
		{
			"github.com/you/driver=../driver",
			xbento.Dependency{PackagePath: "github.com/you/driver", Replacement: filepath.Join(filepath.Dir(cwd), "driver")},
		},
		{
			"github.com/you/driver@v1.2.0=./driver",
			xbento.Dependency{PackagePath: "github.com/you/driver", Version: "v1.2.0", Replacement: filepath.Join(cwd, "driver")},
		},
		{"github.com/you/driver=/src/driver", xbento.Dependency{PackagePath: "github.com/you/driver", Replacement: "/src/driver"}},
		{
			"github.com/you/driver=github.com/fork/driver@v1.2.1",
			xbento.Dependency{PackagePath: "github.com/you/driver", Replacement: "github.com/fork/driver@v1.2.1"},
		},
	}
	for _, tt := range tests {
		got, err := parseWith(tt.in)
		if err != nil || got != tt.want {
			t.Errorf("parseWith(%q) = %+v, %v; want %+v, <nil>", tt.in, got, err, tt.want)
		}
	}
	for _, bad := range []string{"", "@v1", "github.com/you/driver@", "github.com/you/driver=", "=../x"} {
		if got, err := parseWith(bad); err == nil {
			t.Errorf("parseWith(%q) = %+v, <nil>; want an error", bad, got)
		}
	}
}

func TestParseReplace(t *testing.T) {
	cwd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		in   string
		want xbento.Replace
	}{
		{"github.com/bentocache/bento=../bento", xbento.Replace{Old: xbento.BentoModule, New: filepath.Join(filepath.Dir(cwd), "bento")}},
		{"github.com/bentocache/bento=.", xbento.Replace{Old: xbento.BentoModule, New: cwd}},
		{"golang.org/x/net@v0.1.0=golang.org/x/net@v0.2.0", xbento.Replace{Old: "golang.org/x/net@v0.1.0", New: "golang.org/x/net@v0.2.0"}},
	}
	for _, tt := range tests {
		got, err := parseReplace(tt.in)
		if err != nil || got != tt.want {
			t.Errorf("parseReplace(%q) = %+v, %v; want %+v, <nil>", tt.in, got, err, tt.want)
		}
	}
	for _, bad := range []string{"", "github.com/bentocache/bento", "=../bento", "github.com/bentocache/bento=", "x@=../x"} {
		if got, err := parseReplace(bad); err == nil {
			t.Errorf("parseReplace(%q) = %+v, <nil>; want an error", bad, got)
		}
	}
}

// TestParse_RelativeReplacement resolves relative replacements from the
// current directory, since the build runs in another one.
func TestParse_RelativeReplacement(t *testing.T) {
	dir := t.TempDir()
	t.Chdir(dir)
	cwd, err := os.Getwd() // dir with its symlinks resolved, as filepath.Abs sees it
	if err != nil {
		t.Fatal(err)
	}
	cmd, err := parse([]string{"build", "--with", "example.com/driver=./driver", "--replace", "github.com/bentocache/bento=../bento"},
		env(map[string]string{"XBENTO_BENTO_PATH": "../other"}))
	if err != nil {
		t.Fatal(err)
	}
	wantDep := []xbento.Dependency{{PackagePath: "example.com/driver", Replacement: filepath.Join(cwd, "driver")}}
	if !reflect.DeepEqual(cmd.builder.Modules, wantDep) {
		t.Errorf("Modules = %+v; want %+v", cmd.builder.Modules, wantDep)
	}
	// --replace of bento wins over XBENTO_BENTO_PATH.
	wantRepl := []xbento.Replace{{Old: xbento.BentoModule, New: filepath.Join(filepath.Dir(cwd), "bento")}}
	if !reflect.DeepEqual(cmd.builder.Replacements, wantRepl) {
		t.Errorf("Replacements = %+v; want %+v", cmd.builder.Replacements, wantRepl)
	}

	cmd, err = parse([]string{"build"}, env(map[string]string{"XBENTO_BENTO_PATH": "../other"}))
	if err != nil {
		t.Fatal(err)
	}
	wantRepl = []xbento.Replace{{Old: xbento.BentoModule, New: filepath.Join(filepath.Dir(cwd), "other")}}
	if !reflect.DeepEqual(cmd.builder.Replacements, wantRepl) {
		t.Errorf("with XBENTO_BENTO_PATH=../other, Replacements = %+v; want %+v", cmd.builder.Replacements, wantRepl)
	}
}

func TestParse_Build(t *testing.T) {
	cmd, err := parse([]string{"build",
		"--output", "out/bento",
		"--with", "github.com/a/driver@v1.0.0",
		"--with=github.com/b/bus",
		"-bento-version", "v1.3.0",
	}, env(nil))
	if err != nil {
		t.Fatal(err)
	}
	b := cmd.builder
	want := []xbento.Dependency{{PackagePath: "github.com/a/driver", Version: "v1.0.0"}, {PackagePath: "github.com/b/bus"}}
	if cmd.name != "build" || cmd.output != "out/bento" || b.BentoVersion != "v1.3.0" || !reflect.DeepEqual(b.Modules, want) {
		t.Errorf("parse gave %s, output %q, bento %q, modules %+v; want build, out/bento, v1.3.0, %+v",
			cmd.name, cmd.output, b.BentoVersion, b.Modules, want)
	}

	cmd, err = parse([]string{"build"}, env(map[string]string{"GOOS": "windows"}))
	if err != nil || cmd.output != "bento.exe" {
		t.Errorf("parse(build) with GOOS=windows gave output %q, %v; want bento.exe", cmd.output, err)
	}
}

func TestParse_Env(t *testing.T) {
	cmd, err := parse([]string{"build"}, env(map[string]string{
		"BENTO_VERSION":         "v1.1.0",
		"XBENTO_RACE_DETECTOR":  "1",
		"XBENTO_SKIP_BUILD":     "true",
		"XBENTO_SKIP_CLEANUP":   "1",
		"XBENTO_DEBUG":          "0",
		"XBENTO_GO_BUILD_FLAGS": "-tags=a",
		"XBENTO_GO_MOD_FLAGS":   "-modcacherw",
		"XBENTO_WHICH_GO":       "go1.26.0",
		"GOOS":                  "linux",
		"GOARCH":                "arm",
		"GOARM":                 "7",
		"CGO_ENABLED":           "1",
	}))
	if err != nil {
		t.Fatal(err)
	}
	want := xbento.Builder{
		Compile:      xbento.Compile{OS: "linux", Arch: "arm", ARM: "7", Cgo: true},
		BentoVersion: "v1.1.0",
		RaceDetector: true,
		SkipBuild:    true,
		SkipCleanup:  true,
		BuildFlags:   "-tags=a",
		ModFlags:     "-modcacherw",
		GoCommand:    "go1.26.0",
	}
	if !reflect.DeepEqual(cmd.builder, want) {
		t.Errorf("builder = %+v;\nwant      %+v", cmd.builder, want)
	}

	// The short names, and the flag over BENTO_VERSION.
	cmd, err = parse([]string{"build", "--bento-version", "v2.0.0"}, env(map[string]string{
		"BENTO_VERSION":      "v1.1.0",
		"XBENTO_BUILD_FLAGS": "-tags=b",
		"XBENTO_GO":          "/opt/go/bin/go",
	}))
	if err != nil {
		t.Fatal(err)
	}
	if b := cmd.builder; b.BentoVersion != "v2.0.0" || b.BuildFlags != "-tags=b" || b.GoCommand != "/opt/go/bin/go" {
		t.Errorf("builder = %+v; want bento v2.0.0, build flags -tags=b, go /opt/go/bin/go", b)
	}

	if _, err := parse([]string{"build"}, env(map[string]string{"XBENTO_SKIP_CLEANUP": "yes"})); err == nil ||
		!strings.Contains(err.Error(), "XBENTO_SKIP_CLEANUP") {
		t.Errorf(`parse with XBENTO_SKIP_CLEANUP=yes = %v; want an error naming the variable`, err)
	}
}

func TestParse_Run(t *testing.T) {
	tests := []struct {
		args []string
		want []string
	}{
		{[]string{"run"}, []string{"run"}},
		{[]string{"run", "--", "list-modules"}, []string{"list-modules"}},
		{[]string{"run", "--with", "example.com/x", "--", "run", "--config", "Caddyfile"}, []string{"run", "--config", "Caddyfile"}},
		{[]string{"run", "--", "--help"}, []string{"--help"}},
	}
	for _, tt := range tests {
		cmd, err := parse(tt.args, env(nil))
		if err != nil || !reflect.DeepEqual(cmd.args, tt.want) {
			t.Errorf("parse(%q) gave the binary %q, %v; want %q", tt.args, cmd.args, err, tt.want)
		}
	}
}

func TestParse_Usage(t *testing.T) {
	tests := []struct {
		args []string
		want string
	}{
		{nil, "no command"},
		{[]string{"frobnicate"}, `unknown command "frobnicate"`},
		{[]string{"build", "v1.2.0"}, `unexpected argument "v1.2.0"`},
		{[]string{"build", "--with"}, "flag needs an argument"},
		{[]string{"build", "--with", "=x"}, "no module path"},
		{[]string{"build", "--frob"}, "flag provided but not defined"},
		{[]string{"run", "--config", "Caddyfile"}, "go after --"},
		{[]string{"version", "x"}, "takes no arguments"},
	}
	for _, tt := range tests {
		_, err := parse(tt.args, env(nil))
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("parse(%q) = %v; want an error that says %q", tt.args, err, tt.want)
		}
	}
}

func TestRun_ExitStatus(t *testing.T) {
	tests := []struct {
		name       string
		args       []string
		wantCode   int
		wantStdout string
		wantStderr string
	}{
		{"Help", []string{"help"}, 0, "Usage:", ""},
		{"Version", []string{"version"}, 0, "xbento ", ""},
		{"Usage", []string{"build", "--frob"}, 2, "", "xbento: flag provided but not defined: -frob"},
		// The test binary is built inside bento's module: no version to get.
		{"StepError", []string{"build"}, 1, "", "[ERROR] step prepare: no bento version"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			code := Run(t.Context(), tt.args, &stdout, &stderr, env(nil))
			if code != tt.wantCode || !strings.Contains(stdout.String(), tt.wantStdout) || !strings.Contains(stderr.String(), tt.wantStderr) {
				t.Errorf("Run(%q) = %d, stdout %q, stderr %q; want %d, stdout with %q, stderr with %q",
					tt.args, code, stdout.String(), stderr.String(), tt.wantCode, tt.wantStdout, tt.wantStderr)
			}
		})
	}
}

func TestImportPath(t *testing.T) {
	root := filepath.FromSlash("/src/driver")
	tests := []struct{ dir, want string }{
		{root, "example.com/driver"},
		{filepath.Join(root, "bento", "l2"), "example.com/driver/bento/l2"},
	}
	for _, tt := range tests {
		if got, err := importPath("example.com/driver", root, tt.dir); err != nil || got != tt.want {
			t.Errorf("importPath(example.com/driver, %s, %s) = %q, %v; want %q", root, tt.dir, got, err, tt.want)
		}
	}
}

// TestCurrentModule reads the example driver's go.mod, as xbento run does
// there: its path, and its replacement of bento made absolute.
func TestCurrentModule(t *testing.T) {
	root, err := filepath.Abs(filepath.Join("..", "..", "..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(root, "examples", "thirdparty-driver")
	m, err := currentModule(t.Context(), "", dir)
	if err != nil {
		t.Fatal(err)
	}
	want := &module{
		Path:    "example.com/bento-ttlmap",
		Dir:     dir,
		Replace: []xbento.Replace{{Old: xbento.BentoModule, New: root}},
	}
	if !reflect.DeepEqual(m, want) {
		t.Errorf("currentModule(%s) = %+v; want %+v", dir, m, want)
	}

	if _, err := currentModule(t.Context(), "", t.TempDir()); err == nil || !strings.Contains(err.Error(), "no go.mod") {
		t.Errorf("currentModule outside a module = %v; want an error that says there is no go.mod", err)
	}
}
