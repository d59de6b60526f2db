// Package doccheck keeps the Go snippets of the documentation compiling. It
// extracts the ```go blocks of markdown pages and turns them into a Go
// module: a whole file (one that starts with "package") is kept as it is; a
// block of declarations goes into a package of its page; a block of
// statements becomes the body of a function there. Names a snippet uses
// without declaring them (ctx, users, User, loadUser, …) come from a
// prelude, and the imports a fragment leaves out are added from its
// package names. The test of this package vets that module in one go.
//
// A block may be marked by an HTML comment on the line before its fence:
//
//	<!-- not compiled -->                         pseudo-code, a signature listing
//	<!-- quoted from examples/x/file.go -->       an excerpt, checked to appear in the file
package doccheck

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
)

// Snippet is one ```go block of a page.
type Snippet struct {
	Page string // the page's path, relative to the repository root
	Line int    // the line of the opening fence, from 1
	Code string // the block's text, its fence's indentation removed
	// Mark is the marker on the line before the fence: "" (compile it),
	// "not compiled", or "quoted from <path>".
	Mark string
}

// Where names the snippet as page:line.
func (s Snippet) Where() string { return fmt.Sprintf("%s:%d", s.Page, s.Line) }

// QuotedFrom returns the path of the file a quoted snippet is an excerpt of.
func (s Snippet) QuotedFrom() (string, bool) {
	return strings.CutPrefix(s.Mark, "quoted from ")
}

var markRE = regexp.MustCompile(`^<!--\s*(not compiled|quoted from \S+)\s*-->$`)

// Extract returns the ```go blocks of the markdown in data, from page.
func Extract(page string, data []byte) ([]Snippet, error) {
	var (
		out    []Snippet
		cur    *Snippet
		indent string
		body   strings.Builder
		mark   string // the last marker seen, until a non-blank line
	)
	sc := bufio.NewScanner(bytes.NewReader(data))
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		trimmed := strings.TrimSpace(line)
		if cur != nil {
			if trimmed == "```" {
				cur.Code = body.String()
				out = append(out, *cur)
				cur = nil
				continue
			}
			body.WriteString(strings.TrimPrefix(line, indent))
			body.WriteByte('\n')
			continue
		}
		switch {
		case trimmed == "```go":
			indent = line[:len(line)-len(strings.TrimLeft(line, " \t"))]
			cur = &Snippet{Page: page, Line: n, Mark: mark}
			body.Reset()
			mark = ""
		case markRE.MatchString(trimmed):
			mark = markRE.FindStringSubmatch(trimmed)[1]
		case trimmed != "":
			mark = ""
		}
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	if cur != nil {
		return nil, fmt.Errorf("%s:%d: a ```go block is not closed", page, cur.Line)
	}
	return out, nil
}

// CheckQuote reports whether s's code appears, whole lines in order, in the
// file it is quoted from, read under root.
func CheckQuote(root string, s Snippet) error {
	path, ok := s.QuotedFrom()
	if !ok {
		return fmt.Errorf("%s: not a quoted snippet", s.Where())
	}
	data, err := os.ReadFile(filepath.Join(root, filepath.FromSlash(path)))
	if err != nil {
		return fmt.Errorf("%s: quoted from %s: %w", s.Where(), path, err)
	}
	if !strings.Contains("\n"+string(data), "\n"+s.Code) {
		return fmt.Errorf("%s: the snippet is not an excerpt of %s any more: copy it again from the file", s.Where(), path)
	}
	return nil
}

// imports are the packages a fragment may use without importing them, by
// the name it uses.
var imports = map[string]string{
	"bento":      "github.com/bentocache/bento",
	"caddy":      "github.com/caddyserver/caddy/v2",
	"caddyfile":  "github.com/caddyserver/caddy/v2/caddyconfig/caddyfile",
	"context":    "context",
	"database":   "github.com/bentocache/bento/modules/drivers/database",
	"drivertest": "github.com/bentocache/bento/drivertest",
	"errors":     "errors",
	"fmt":        "fmt",
	"json":       "encoding/json",
	"log":        "log",
	"membus":     "github.com/bentocache/bento/modules/buses/memory",
	"memory":     "github.com/bentocache/bento/modules/drivers/memory",
	"pgxpool":    "github.com/jackc/pgx/v5/pgxpool",
	"rand":       "crypto/rand",
	"redis":      "github.com/bentocache/bento/modules/drivers/redis",
	"redisbus":   "github.com/bentocache/bento/modules/buses/redis",
	"sql":        "database/sql",
	"strings":    "strings",
	"sync":       "sync",
	"testing":    "testing",
	"time":       "time",
	"xbento":     "github.com/bentocache/bento/xbento",
	"zap":        "go.uber.org/zap",
}

// prelude declares, at package level, the names that snippets use as given.
// An entry is left out of a page whose own declarations define its name.
var prelude = []struct{ name, code string }{
	{"ctx", "var ctx = context.Background()"},
	{"b", "var b *bento.Bento"},
	{"users", "var users *bento.Cache"},
	{"c", "var c *bento.Cache"},
	{"stores", "var stores map[string]*bento.Store"},
	{"l1", "var l1 bento.L1Driver"},
	{"sharedL2", "var sharedL2 bento.L2Driver"},
	{"myL2", "var myL2 bento.L2Driver"},
	{"myBus", "var myBus bento.Bus"},
	{"pool", "var pool *pgxpool.Pool"},
	{"db", "var db *sql.DB"},
	{"User", "type User struct {\n\tID   int\n\tName string\n}"},
	{"fetchUser", "func fetchUser(ctx context.Context, id int) (User, error) { return User{ID: id}, nil }"},
	{"loadUser", "func loadUser(ctx context.Context, fc *bento.FactoryContext[User]) (User, error) { return User{}, nil }"},
	{"load", "var load bento.Factory[User] = loadUser"},
	{"Member", "type Member struct {\n\tID   int\n\tTeam string\n}"},
	{"ada", "var ada Member"},
	{"alan", "var alan Member"},
	{"fetchMember", "func fetchMember(ctx context.Context, id int) (Member, error) { return Member{ID: id}, nil }"},
	{"Token", "type Token struct {\n\tExpiresIn time.Duration\n\tTenant    string\n}"},
	{"fetchToken", "func fetchToken(ctx context.Context) (Token, error) { return Token{}, nil }"},
	{"Prices", "type Prices struct{}"},
	{"fetchPrices", "func fetchPrices(ctx context.Context) (Prices, error) { return Prices{}, nil }"},
}

// Module is the Go source of a module that holds the compiled snippets.
type Module struct {
	// Files maps a slash-separated path within the module to its content.
	Files map[string][]byte
	// Origin maps each file generated from a snippet to the snippet.
	Origin map[string]Snippet
}

// Build turns the snippets to compile (no Mark) into a module: one package
// per page under pages/, whole files in a directory of their own. goMod is
// the content of the module's go.mod. A snippet that parses neither as
// declarations nor as statements is an error; Build reports them all.
func Build(snippets []Snippet, goMod []byte) (*Module, error) {
	m := &Module{Files: map[string][]byte{"go.mod": goMod}, Origin: map[string]Snippet{}}
	type page struct {
		dir      string
		declared map[string]bool
		files    []string
	}
	pages := map[string]*page{}
	var errs []error
	for i, s := range snippets {
		if s.Mark != "" {
			continue
		}
		pkg := packageName(s.Page)
		p := pages[s.Page]
		if p == nil {
			p = &page{dir: "pages/" + pkg, declared: map[string]bool{}}
			pages[s.Page] = p
		}
		if strings.HasPrefix(strings.TrimSpace(stripComments(s.Code)), "package ") {
			name := fmt.Sprintf("whole/%s_%d/snippet.go", pkg, i)
			if strings.Contains(firstPackageLine(s.Code), "_test") {
				name = fmt.Sprintf("whole/%s_%d/snippet_test.go", pkg, i)
			}
			m.Files[name] = []byte(s.Code)
			m.Origin[name] = s
			continue
		}
		src, declared, err := fragment(pkg, fmt.Sprintf("snippet%d", i), s.Code)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", s.Where(), err))
			continue
		}
		for _, d := range declared {
			p.declared[d] = true
		}
		name := fmt.Sprintf("%s/snippet%d.go", p.dir, i)
		m.Files[name] = src
		m.Origin[name] = s
		p.files = append(p.files, name)
	}
	for _, p := range pages {
		if len(p.files) == 0 {
			continue
		}
		pkg := filepath.Base(p.dir)
		for _, e := range prelude {
			if p.declared[e.name] {
				continue
			}
			src, _, err := fragment(pkg, "", e.code)
			if err != nil {
				return nil, fmt.Errorf("prelude %s: %w", e.name, err)
			}
			m.Files[fmt.Sprintf("%s/prelude_%s.go", p.dir, e.name)] = src
		}
		// Imports were added for every package name a fragment leaves
		// unresolved; a name the page declares itself is not a package.
		for _, f := range p.files {
			m.Files[f] = dropImports(m.Files[f], p.declared)
		}
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return m, nil
}

// Write writes the module's files under dir.
func (m *Module) Write(dir string) error {
	for name, data := range m.Files {
		path := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(path, data, 0o644); err != nil {
			return err
		}
	}
	return nil
}

// Explain maps the positions in a go command's output (file.go:12:3) back to
// the snippets the files came from, so that a failure names the page.
func (m *Module) Explain(out string) string {
	var b strings.Builder
	for line := range strings.Lines(out) {
		b.WriteString(line)
		for name, s := range m.Origin {
			if strings.Contains(line, filepath.FromSlash(name)+":") {
				fmt.Fprintf(&b, "\t(from the snippet at %s)\n", s.Where())
				break
			}
		}
	}
	return b.String()
}

// fragment returns the source of a file of package pkg that holds code: its
// leading imports as they are, its declarations at package level, or its
// statements in a function called fn. Imports of package names it uses
// without importing them are added. It returns the package-level names the
// code declares.
func fragment(pkg, fn, code string) (src []byte, declared []string, err error) {
	own, rest := splitImports(code)
	fset := token.NewFileSet()
	head := "package " + pkg + "\n\n" + own + "\n"
	var body string
	if f, perr := parser.ParseFile(fset, "", head+rest, parser.ParseComments); perr == nil {
		body = rest
		for _, d := range f.Decls {
			declared = append(declared, declNames(d)...)
		}
	} else {
		if fn == "" {
			return nil, nil, perr
		}
		body, err = wrapStatements(fn, rest)
		if err != nil {
			return nil, nil, fmt.Errorf("neither declarations (%v) nor statements (%w)", perr, err)
		}
	}
	full := head + body
	f, err := parser.ParseFile(token.NewFileSet(), "", full, parser.ParseComments)
	if err != nil {
		return nil, nil, err
	}
	var add []string
	have := map[string]bool{}
	for _, im := range f.Imports {
		have[importName(im)] = true
	}
	for _, id := range f.Unresolved {
		if path, ok := imports[id.Name]; ok && !have[id.Name] {
			have[id.Name] = true
			add = append(add, fmt.Sprintf("import %s %q // doccheck", id.Name, path))
		}
	}
	sort.Strings(add)
	if len(add) > 0 {
		full = head + strings.Join(add, "\n") + "\n\n" + body
	}
	return []byte(full), declared, nil
}

// dropImports removes the imports added by fragment for names in declared.
func dropImports(src []byte, declared map[string]bool) []byte {
	var b bytes.Buffer
	for line := range strings.Lines(string(src)) {
		if strings.HasSuffix(strings.TrimSpace(line), "// doccheck") {
			if f := strings.Fields(line); len(f) > 1 && declared[f[1]] {
				continue
			}
		}
		b.WriteString(line)
	}
	return b.Bytes()
}

// wrapStatements makes a function of the statements in code. The variables
// its top-level statements declare are marked used, so that a snippet may
// end on a declaration; a single expression that is not a call is assigned
// to _. The function returns an error if one of its returns has a value.
func wrapStatements(fn, code string) (string, error) {
	const open = "package p\n\nfunc _() {\n"
	fset := token.NewFileSet()
	f, err := parser.ParseFile(fset, "", open+code+"\n}\n", 0)
	if err != nil {
		return "", err
	}
	stmts := f.Decls[0].(*ast.FuncDecl).Body.List
	if len(stmts) == 1 {
		if es, ok := stmts[0].(*ast.ExprStmt); ok {
			if _, call := es.X.(*ast.CallExpr); !call {
				code = "_ = " + code
				return wrapStatements(fn, code)
			}
		}
	}
	type insert struct {
		at   int
		text string
	}
	var ins []insert
	returnsError := false
	for _, st := range stmts {
		var names []string
		switch st := st.(type) {
		case *ast.AssignStmt:
			if st.Tok == token.DEFINE {
				for _, e := range st.Lhs {
					if id, ok := e.(*ast.Ident); ok && id.Name != "_" {
						names = append(names, id.Name)
					}
				}
			}
		case *ast.DeclStmt:
			if gd, ok := st.Decl.(*ast.GenDecl); ok && gd.Tok == token.VAR {
				for _, sp := range gd.Specs {
					for _, id := range sp.(*ast.ValueSpec).Names {
						if id.Name != "_" {
							names = append(names, id.Name)
						}
					}
				}
			}
		}
		ast.Inspect(st, func(n ast.Node) bool {
			switch n := n.(type) {
			case *ast.FuncLit:
				return false // its returns are its own
			case *ast.ReturnStmt:
				if len(n.Results) > 0 {
					returnsError = true
				}
			}
			return true
		})
		if len(names) > 0 {
			var t strings.Builder
			for _, n := range names {
				t.WriteString("; _ = " + n)
			}
			ins = append(ins, insert{at: fset.Position(st.End()).Offset - len(open), text: t.String()})
		}
	}
	slices.SortFunc(ins, func(a, b insert) int { return b.at - a.at })
	for _, in := range ins {
		code = code[:in.at] + in.text + code[in.at:]
	}
	sig := "()"
	if returnsError {
		sig = "() error"
		if _, ok := stmts[len(stmts)-1].(*ast.ReturnStmt); !ok {
			code += "\nreturn nil\n"
		}
	}
	return "func " + fn + sig + " {\n" + code + "\n}\n", nil
}

// splitImports splits the import declarations at the start of code from the
// rest.
func splitImports(code string) (imports, rest string) {
	lines := strings.SplitAfter(code, "\n")
	i := 0
	for i < len(lines) {
		t := strings.TrimSpace(lines[i])
		switch {
		case t == "":
			i++
		case t == "import (":
			j := i
			for j < len(lines) && strings.TrimSpace(lines[j]) != ")" {
				j++
			}
			i = j + 1
		case strings.HasPrefix(t, "import "):
			i++
		default:
			return strings.Join(lines[:i], ""), strings.Join(lines[i:], "")
		}
	}
	return code, ""
}

func declNames(d ast.Decl) []string {
	switch d := d.(type) {
	case *ast.FuncDecl:
		if d.Recv == nil {
			return []string{d.Name.Name}
		}
	case *ast.GenDecl:
		var names []string
		for _, sp := range d.Specs {
			switch sp := sp.(type) {
			case *ast.TypeSpec:
				names = append(names, sp.Name.Name)
			case *ast.ValueSpec:
				for _, id := range sp.Names {
					names = append(names, id.Name)
				}
			}
		}
		return names
	}
	return nil
}

func importName(im *ast.ImportSpec) string {
	if im.Name != nil {
		return im.Name.Name
	}
	p := strings.Trim(im.Path.Value, `"`)
	return p[strings.LastIndex(p, "/")+1:]
}

// packageName makes a package name of a page's path: docs/drivers/redis.md
// is drivers_redis.
func packageName(page string) string {
	p := strings.TrimSuffix(filepath.ToSlash(page), ".md")
	p = strings.TrimPrefix(p, "docs/")
	p = strings.ToLower(regexp.MustCompile(`[^A-Za-z0-9]+`).ReplaceAllString(p, "_"))
	return "page_" + p
}

func firstPackageLine(code string) string {
	for line := range strings.Lines(code) {
		if strings.HasPrefix(line, "package ") {
			return line
		}
	}
	return ""
}

// stripComments drops the line comments before a file's package clause.
func stripComments(code string) string {
	var b strings.Builder
	for line := range strings.Lines(code) {
		if !strings.HasPrefix(strings.TrimSpace(line), "//") {
			b.WriteString(line)
		}
	}
	return b.String()
}
