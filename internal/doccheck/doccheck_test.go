package doccheck

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// root is the repository's root, from this package's directory.
const root = "../.."

// pages returns the README and every page under docs/.
func pages(t *testing.T) []string {
	t.Helper()
	out := []string{"README.md"}
	err := filepath.WalkDir(filepath.Join(root, "docs"), func(path string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() && strings.HasSuffix(path, ".md") {
			rel, _ := filepath.Rel(root, path)
			out = append(out, filepath.ToSlash(rel))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func snippets(t *testing.T) []Snippet {
	t.Helper()
	var all []Snippet
	for _, p := range pages(t) {
		data, err := os.ReadFile(filepath.Join(root, p))
		if err != nil {
			t.Fatal(err)
		}
		s, err := Extract(p, data)
		if err != nil {
			t.Fatal(err)
		}
		all = append(all, s...)
	}
	if len(all) == 0 {
		t.Fatal("no ```go block in README.md or docs/: is root wrong?")
	}
	return all
}

// TestDocs_Quoted checks that every snippet marked "quoted from FILE" is
// still an excerpt of FILE, which its own tests compile.
func TestDocs_Quoted(t *testing.T) {
	for _, s := range snippets(t) {
		if _, ok := s.QuotedFrom(); ok {
			if err := CheckQuote(root, s); err != nil {
				t.Error(err)
			}
		}
	}
}

// TestDocs_NotCompiledIsShort keeps the list of snippets that escape the
// compiler short: a snippet that can compile should.
func TestDocs_NotCompiledIsShort(t *testing.T) {
	var skipped []string
	for _, s := range snippets(t) {
		if s.Mark == "not compiled" {
			skipped = append(skipped, s.Where())
		}
	}
	if len(skipped) > 4 {
		t.Errorf("%d snippets are marked <!-- not compiled -->: %s; want at most 4: make them compile, or quote a file", len(skipped), strings.Join(skipped, ", "))
	}
}

// TestDocs_Compile vets every snippet of README.md and docs/ that is not
// marked, in one module that uses this repository through a replace.
func TestDocs_Compile(t *testing.T) {
	gobin, err := exec.LookPath("go")
	if err != nil {
		t.Skipf("the go toolchain is not on PATH (%v): the documentation's snippets are not compiled", err)
	}
	abs, err := filepath.Abs(root)
	if err != nil {
		t.Fatal(err)
	}
	goMod, err := os.ReadFile(filepath.Join(root, "go.mod"))
	if err != nil {
		t.Fatal(err)
	}
	all := snippets(t)
	m, err := Build(all, moduleFile(t, goMod, abs))
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("vetting %d of the %d snippets (the others are quoted or not compiled)", len(m.Origin), len(all))
	dir := t.TempDir()
	if err := m.Write(dir); err != nil {
		t.Fatal(err)
	}
	sum, err := os.ReadFile(filepath.Join(root, "go.sum"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "go.sum"), sum, 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.CommandContext(t.Context(), gobin, "vet", "./...")
	cmd.Dir = dir
	// Offline: every module the snippets need is one this repository needs.
	cmd.Env = append(os.Environ(), "GOFLAGS=-mod=mod", "GOPROXY=off", "GOWORK=off", "GOTOOLCHAIN=local")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go vet of the documentation's snippets: %v\n%s", err, m.Explain(string(out)))
	}
}

// moduleFile returns the go.mod of the snippets' module: bento from the
// checkout at abs, the example driver example.com/bento-ttlmap from its
// directory, and bento's own requirements, so that the versions are the ones
// this repository is tested with.
func moduleFile(t *testing.T, goMod []byte, abs string) []byte {
	t.Helper()
	goLine := regexp.MustCompile(`(?m)^go \S+$`).Find(goMod)
	reqs := regexp.MustCompile(`(?ms)^require \(.*?^\)`).FindAll(goMod, -1)
	if goLine == nil || len(reqs) == 0 {
		t.Fatalf("go.mod has no go line or no require block")
	}
	var b bytes.Buffer
	fmt.Fprintf(&b, "module example.com/doccheck\n\n%s\n\n", goLine)
	fmt.Fprintf(&b, "require (\n\tgithub.com/bentocache/bento v0.0.0\n\texample.com/bento-ttlmap v0.0.0\n)\n\n")
	fmt.Fprintf(&b, "replace github.com/bentocache/bento => %q\n\n", filepath.ToSlash(abs))
	fmt.Fprintf(&b, "replace example.com/bento-ttlmap => %q\n\n", filepath.ToSlash(filepath.Join(abs, "examples", "thirdparty-driver")))
	b.Write(bytes.Join(reqs, []byte("\n\n")))
	b.WriteString("\n")
	return b.Bytes()
}
