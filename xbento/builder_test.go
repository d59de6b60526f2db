package xbento

import (
	"context"
	"errors"
	"io"
	"log"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

// newModule makes a directory holding a go.mod, as a local replacement must.
func newModule(t *testing.T, modPath string) string {
	t.Helper()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "go.mod"), []byte("module "+modPath+"\n\ngo 1.26\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

func discard() *log.Logger { return log.New(io.Discard, "", 0) }

func TestStepError(t *testing.T) {
	cause := errors.New("go build: exit status 1")
	var err error = &StepError{Step: StepBuild, Err: cause}
	if got, want := err.Error(), "step build: go build: exit status 1"; got != want {
		t.Errorf("Error() = %q; want %q", got, want)
	}
	if !errors.Is(err, cause) {
		t.Error("errors.Is(err, cause) = false; want true: StepError unwraps to its cause")
	}
	if se, ok := errors.AsType[*StepError](err); !ok || se.Step != StepBuild {
		t.Errorf("errors.AsType[*StepError](err) = %v, %t; want step %q", se, ok, StepBuild)
	}
}

func TestIsLocalPath(t *testing.T) {
	tests := []struct {
		path string
		want bool
	}{
		{"./driver", true},
		{"../driver", true},
		{".", true},
		{"..", true},
		{"/src/driver", true},
		{"github.com/fork/driver@v1.2.0", false},
		{"driver", false},
		{".driver", false},
	}
	for _, tt := range tests {
		if got := IsLocalPath(tt.path); got != tt.want {
			t.Errorf("IsLocalPath(%q) = %t; want %t", tt.path, got, tt.want)
		}
	}
}

func TestBuilder_Prepare(t *testing.T) {
	bentoDir := newModule(t, BentoModule)
	driverDir := newModule(t, "example.com/driver")
	multiDir := newModule(t, "example.com/multi")

	b := Builder{
		Replacements: []Replace{
			{Old: BentoModule, New: bentoDir},
			{Old: "example.com/multi", New: "github.com/someone/multi@v1.0.0"},
			{Old: "example.com/multi", New: multiDir}, // a later one wins
		},
		Modules: []Dependency{
			{PackagePath: "example.com/driver", Version: "v1.0.0", Replacement: driverDir},
			{PackagePath: "example.com/multi/bento/driver"}, // a package in a subdirectory of a replaced module
			{PackagePath: "example.com/multi/bento/bus/"},
			{PackagePath: "github.com/published/driver", Version: "v1.2.0"},
			{PackagePath: "github.com/published/driver"}, // imported once
			{PackagePath: BentoModule + "/modules/standard"},
		},
		BuildFlags: "-tags 'a b'",
	}
	p, err := b.prepare("bento", discard())
	if err != nil {
		t.Fatalf("prepare: %v", err)
	}
	if !filepath.IsAbs(p.output) || filepath.Base(p.output) != "bento" {
		t.Errorf("output = %q; want an absolute path to bento", p.output)
	}
	wantReplacements := []Replace{
		{Old: BentoModule, New: bentoDir},
		{Old: "example.com/multi", New: multiDir},
		{Old: "example.com/driver", New: driverDir},
	}
	if !reflect.DeepEqual(p.replacements, wantReplacements) {
		t.Errorf("replacements = %v; want %v", p.replacements, wantReplacements)
	}
	wantRequires := []string{
		BentoModule + "@" + zeroVersion,
		"example.com/driver@" + zeroVersion,
		"example.com/multi@" + zeroVersion,
	}
	if !reflect.DeepEqual(p.requires, wantRequires) {
		t.Errorf("requires = %v; want %v (the replaced modules, which go get skips)", p.requires, wantRequires)
	}
	// bento is replaced: no version to get or to pin.
	if p.bentoVersion != "" {
		t.Errorf("bentoVersion = %q; want none: bento is replaced", p.bentoVersion)
	}
	wantGets := []string{"github.com/published/driver@v1.2.0", "github.com/published/driver"}
	if !reflect.DeepEqual(p.gets, wantGets) {
		t.Errorf("gets = %v; want %v", p.gets, wantGets)
	}
	if want := []string{"-tags", "a b"}; !reflect.DeepEqual(p.buildFlags, want) {
		t.Errorf("buildFlags = %q; want %q", p.buildFlags, want)
	}
	main := string(p.main)
	for _, imp := range []string{"example.com/driver", "example.com/multi/bento/driver", "example.com/multi/bento/bus", "github.com/published/driver"} {
		if n := strings.Count(main, `_ "`+imp+`"`); n != 1 {
			t.Errorf("main.go imports %s %d times; want once:\n%s", imp, n, main)
		}
	}
	if n := strings.Count(main, `"`+BentoModule+`/modules/standard"`); n != 1 {
		t.Errorf("main.go imports bento's standard modules %d times; want once", n)
	}
}

func TestBuilder_PrepareVersions(t *testing.T) {
	bentoDir := newModule(t, BentoModule)
	tests := []struct {
		name         string
		b            Builder
		wantBento    string
		wantRequires []string
		wantGets     []string
	}{
		{
			name:      "PinsBento",
			b:         Builder{BentoVersion: "v1.4.0", Modules: []Dependency{{PackagePath: "github.com/you/driver", Version: "v0.3.0"}}},
			wantBento: "v1.4.0",
			wantGets:  []string{"github.com/you/driver@v0.3.0"},
		},
		{
			name:         "VersionedReplacement",
			b:            Builder{Replacements: []Replace{{Old: BentoModule + "@v1.4.0", New: bentoDir}}},
			wantRequires: []string{BentoModule + "@v1.4.0"},
		},
		{
			name:         "ModuleReplacedByModule",
			b:            Builder{BentoVersion: "v1.4.0", Modules: []Dependency{{PackagePath: "github.com/you/driver", Replacement: "github.com/fork/driver@v0.3.1"}}},
			wantBento:    "v1.4.0",
			wantRequires: []string{"github.com/you/driver@" + zeroVersion},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := tt.b.prepare("bento", discard())
			if err != nil {
				t.Fatalf("prepare: %v", err)
			}
			if p.bentoVersion != tt.wantBento || !reflect.DeepEqual(p.requires, tt.wantRequires) || !reflect.DeepEqual(p.gets, tt.wantGets) {
				t.Errorf("prepare gave bento %q, requires %v, gets %v; want %q, %v, %v",
					p.bentoVersion, p.requires, p.gets, tt.wantBento, tt.wantRequires, tt.wantGets)
			}
		})
	}
}

// TestBuilder_BuildRejects checks the errors found before anything is
// written: each is a StepError of step prepare, and no temporary folder is
// left behind.
func TestBuilder_BuildRejects(t *testing.T) {
	notModule := t.TempDir()
	tests := []struct {
		name   string
		b      Builder
		output string
		want   string
	}{
		{name: "NoOutput", b: Builder{BentoVersion: "v1.0.0"}, want: "no output file"},
		{
			// The test binary is built inside bento's module: version (devel).
			name: "DevelBento",
			want: "--replace " + BentoModule + "=PATH",
		},
		{
			name: "ReplacementNotAModule",
			b:    Builder{BentoVersion: "v1.0.0", Modules: []Dependency{{PackagePath: "example.com/driver", Replacement: notModule}}},
			want: "replacement of example.com/driver: " + notModule + " is not a Go module",
		},
		{
			name: "ReplacementWithoutVersion",
			b:    Builder{BentoVersion: "v1.0.0", Replacements: []Replace{{Old: "example.com/driver", New: "github.com/fork/driver"}}},
			want: "neither a directory",
		},
		{
			name: "BadPackagePath",
			b:    Builder{BentoVersion: "v1.0.0", Modules: []Dependency{{PackagePath: "example.com/driver@v1"}}},
			want: "not a package path",
		},
		{name: "BadBuildFlags", b: Builder{BentoVersion: "v1.0.0", BuildFlags: "-ldflags '-X a=b"}, want: "unclosed '"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tmp := t.TempDir()
			t.Setenv("TMPDIR", tmp)
			tt.b.Log = io.Discard
			output := "bento"
			if tt.name == "NoOutput" {
				output = ""
			}
			err := tt.b.Build(t.Context(), output)
			se, ok := errors.AsType[*StepError](err)
			if !ok || se.Step != StepPrepare || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Build() = %v; want a StepError of step prepare that says %q", err, tt.want)
			}
			if !strings.HasPrefix(err.Error(), "step prepare: ") {
				t.Errorf("Build() = %q; want it to start with %q", err, "step prepare: ")
			}
			if left, _ := os.ReadDir(tmp); len(left) > 0 {
				t.Errorf("Build() left %v in the temporary directory; want nothing created before the checks pass", left)
			}
		})
	}
}

func TestSplitFlags(t *testing.T) {
	tests := []struct {
		in   string
		want []string
	}{
		{"", nil},
		{"  -v  -x ", []string{"-v", "-x"}},
		{`-ldflags '-X main.v=1 -s' -tags "a b"`, []string{"-ldflags", "-X main.v=1 -s", "-tags", "a b"}},
		{`-ldflags='-X a=b'`, []string{"-ldflags=-X a=b"}},
		{`-tags ''`, []string{"-tags", ""}},
	}
	for _, tt := range tests {
		got, err := splitFlags(tt.in)
		if err != nil || !reflect.DeepEqual(got, tt.want) {
			t.Errorf("splitFlags(%q) = %q, %v; want %q, <nil>", tt.in, got, err, tt.want)
		}
	}
	if _, err := splitFlags(`-tags "a`); err == nil {
		t.Errorf(`splitFlags("-tags \"a") = _, <nil>; want an error: the quote is not closed`)
	}
}

func TestCommandLine(t *testing.T) {
	got := commandLine([]string{"CGO_ENABLED=0", "go", "build", "-ldflags", "-w -s", "it's"})
	want := `CGO_ENABLED=0 go build -ldflags '-w -s' 'it'\''s'`
	if got != want {
		t.Errorf("commandLine = %s; want %s", got, want)
	}
}

func TestGoEnv(t *testing.T) {
	tests := []struct {
		name    string
		environ []string
		want    string // GOFLAGS
	}{
		{"NoGOFLAGS", []string{"HOME=/h"}, "GOFLAGS=-mod=mod"},
		{"KeepsUserFlags", []string{"GOFLAGS=-buildvcs=false"}, "GOFLAGS=-buildvcs=false -mod=mod"},
		{"UserSetsMod", []string{"GOFLAGS=-mod=readonly"}, "GOFLAGS=-mod=readonly"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env := goEnv(append(tt.environ, "GOWORK=/src/go.work"))
			var goflags, gowork []string
			for _, kv := range env {
				if strings.HasPrefix(kv, "GOFLAGS=") {
					goflags = append(goflags, kv)
				}
				if strings.HasPrefix(kv, "GOWORK=") {
					gowork = append(gowork, kv)
				}
			}
			if !reflect.DeepEqual(goflags, []string{tt.want}) || !reflect.DeepEqual(gowork, []string{"GOWORK=off"}) {
				t.Errorf("goEnv(%q) has %q and %q; want [%s] and [GOWORK=off]", tt.environ, goflags, gowork, tt.want)
			}
		})
	}
}

// TestBuilder_BuildStops checks a build cut short by its timeout and by its
// context: the error names the step and says why, and the temporary folder
// is removed.
func TestBuilder_BuildStops(t *testing.T) {
	bentoDir := newModule(t, BentoModule)
	cancelled, cancel := context.WithCancel(t.Context())
	cancel()
	tests := []struct {
		name    string
		ctx     context.Context
		timeout time.Duration
		want    string
		wantErr error
	}{
		{"Timeout", t.Context(), time.Nanosecond, "step mod-init: go mod init bento: timed out after 1ns", context.DeadlineExceeded},
		{"Cancelled", cancelled, 0, "step mod-init: go mod init bento: context canceled", context.Canceled},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tmp := t.TempDir()
			t.Setenv("TMPDIR", tmp)
			b := Builder{
				Replacements: []Replace{{Old: BentoModule, New: bentoDir}},
				TimeoutGet:   tt.timeout,
				Log:          io.Discard,
			}
			err := b.Build(tt.ctx, filepath.Join(t.TempDir(), "bento"))
			if err == nil || !strings.HasPrefix(err.Error(), tt.want) || !errors.Is(err, tt.wantErr) {
				t.Errorf("Build() = %v; want an error that starts %q and wraps %v", err, tt.want, tt.wantErr)
			}
			if left, _ := os.ReadDir(tmp); len(left) > 0 {
				t.Errorf("Build() left %v in the temporary directory; want the folder removed", left)
			}
		})
	}
}
