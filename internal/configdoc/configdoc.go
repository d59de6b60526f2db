// Package configdoc generates docs/configuration.md, the configuration
// reference, from bento's source: the JSON fields of the config types and of
// every module struct, with their doc comments, and the Caddyfile syntax that
// each module's UnmarshalCaddyfile documents. A test compares the file with a
// fresh rendering, so the reference cannot drift from the code.
package configdoc

import (
	"bytes"
	"fmt"
	"go/ast"
	"go/doc"
	"go/parser"
	"go/printer"
	"go/token"
	"io/fs"
	"path/filepath"
	"reflect"
	"regexp"
	"sort"
	"strings"
)

// Packages are the directories, relative to the repository root, whose
// modules the reference documents.
var Packages = []string{
	"modules/drivers/memory",
	"modules/drivers/redis",
	"modules/drivers/file",
	"modules/drivers/database",
	"modules/drivers/natskv",
	"modules/drivers/dynamodb",
	"modules/adapters/postgres",
	"modules/adapters/mysql",
	"modules/adapters/sqlite",
	"modules/buses/memory",
	"modules/buses/redis",
	"modules/buses/nats",
	"modules/lockers/redis",
	"modules/lockers/postgres",
	"modules/buses/postgres",
	"modules/serializers/json",
	"modules/serializers/msgpack",
	"modules/http",
}

// module is one documented module.
type module struct {
	id, typeName, doc, caddyfile string
	fields                       []field
}

type field struct{ name, typ, doc string }

var idPattern = regexp.MustCompile(`ID:\s*"([a-z0-9_.]+)"`)

// Render returns the reference for the repository at root.
func Render(root string) ([]byte, error) {
	var b bytes.Buffer
	b.WriteString(header)
	rootPkg, err := load(root)
	if err != nil {
		return nil, err
	}
	for _, name := range []string{"App", "ManagerConfig", "StoreConfig", "OptionsConfig"} {
		t := typeDoc(rootPkg, name)
		if t == nil {
			return nil, fmt.Errorf("configdoc: type bento.%s not found", name)
		}
		fmt.Fprintf(&b, "\n## %s\n\n%s\n", name, paragraph(t.Doc))
		writeFields(&b, structFields(t))
	}
	var mods []module
	for _, dir := range Packages {
		pkg, err := load(filepath.Join(root, dir))
		if err != nil {
			return nil, err
		}
		mods = append(mods, modules(pkg)...)
	}
	sort.Slice(mods, func(i, j int) bool { return mods[i].id < mods[j].id })
	b.WriteString("\n# Modules\n")
	for _, m := range mods {
		fmt.Fprintf(&b, "\n## %s\n\n%s\n", m.id, paragraph(m.doc))
		if len(m.fields) > 0 {
			b.WriteString("\nJSON:\n\n")
			writeFields(&b, m.fields)
		} else {
			b.WriteString("\nNo options.\n")
		}
		if m.caddyfile != "" {
			fmt.Fprintf(&b, "\nCaddyfile:\n\n```caddyfile\n%s\n```\n", m.caddyfile)
		}
	}
	return b.Bytes(), nil
}

const header = `# Configuration reference

Generated from the source by internal/configdoc (regenerate with
` + "`go test ./internal/configdoc -update`" + `); a test fails when it is stale.
For how the pieces fit together, see [getting started](getting-started.md) and
[embedding in Caddy](caddy.md). Durations are strings such as "30m", "1h30m" or
"2d". A bare number counts nanoseconds (Caddy's convention), so ` + "`{\"ttl\": 600}`" + ` would
be 600ns: bento rejects any duration other than 0 that is under 1ms, and the error
shows the string form to write instead ("600s"). A negative store option is
rejected too. Sizes are a number of bytes or a string such as "64MiB".

# The bento app and LoadJSON
`

func load(dir string) (*doc.Package, error) {
	fset := token.NewFileSet()
	pkgs, err := parser.ParseDir(fset, dir, func(fi fs.FileInfo) bool {
		return !strings.HasSuffix(fi.Name(), "_test.go")
	}, parser.ParseComments)
	if err != nil {
		return nil, fmt.Errorf("configdoc: parsing %s: %w", dir, err)
	}
	for _, p := range pkgs {
		return doc.New(p, dir, doc.AllMethods|doc.PreserveAST), nil
	}
	return nil, fmt.Errorf("configdoc: no Go package in %s", dir)
}

func typeDoc(pkg *doc.Package, name string) *doc.Type {
	for _, t := range pkg.Types {
		if t.Name == name {
			return t
		}
	}
	return nil
}

// modules finds the types of pkg that have a CaddyModule method.
func modules(pkg *doc.Package) []module {
	var out []module
	for _, t := range pkg.Types {
		var m module
		for _, f := range t.Methods {
			switch f.Name {
			case "CaddyModule":
				if match := idPattern.FindStringSubmatch(source(f.Decl)); match != nil {
					m.id = match[1]
				}
			case "UnmarshalCaddyfile":
				m.caddyfile = syntaxBlock(f.Doc)
			}
		}
		if m.id == "" {
			continue
		}
		m.typeName, m.doc, m.fields = t.Name, t.Doc, structFields(t)
		out = append(out, m)
	}
	return out
}

// structFields lists the exported, JSON-tagged fields of t, embedded
// structs' fields inline.
func structFields(t *doc.Type) []field {
	var out []field
	for _, spec := range t.Decl.Specs {
		ts, ok := spec.(*ast.TypeSpec)
		if !ok {
			continue
		}
		st, ok := ts.Type.(*ast.StructType)
		if !ok {
			continue
		}
		for _, f := range st.Fields.List {
			if f.Tag == nil || len(f.Names) == 0 {
				continue
			}
			tag := reflect.StructTag(strings.Trim(f.Tag.Value, "`"))
			name, _, _ := strings.Cut(tag.Get("json"), ",")
			if name == "" || name == "-" || !f.Names[0].IsExported() {
				continue
			}
			out = append(out, field{name: name, typ: jsonType(source(f.Type)), doc: oneLine(f.Doc.Text())})
		}
	}
	return out
}

func writeFields(b *bytes.Buffer, fields []field) {
	if len(fields) == 0 {
		return
	}
	b.WriteString("| field | type | meaning |\n|---|---|---|\n")
	for _, f := range fields {
		fmt.Fprintf(b, "| `%s` | %s | %s |\n", f.name, f.typ, strings.ReplaceAll(f.doc, "|", `\|`))
	}
}

// jsonType names a Go field type as the JSON a person writes.
func jsonType(goType string) string {
	t := strings.TrimPrefix(goType, "*")
	switch {
	case strings.HasSuffix(t, "Duration"):
		return "duration"
	case strings.HasSuffix(t, "Size"):
		return "size"
	case t == "json.RawMessage":
		return "module"
	case strings.HasPrefix(t, "map[string]json.RawMessage"):
		return "object"
	case strings.HasPrefix(t, "[]"):
		return "array of " + jsonType(t[2:])
	case strings.HasPrefix(t, "int") || strings.HasPrefix(t, "uint") || strings.HasPrefix(t, "float"):
		return "number"
	case t == "bool":
		return "boolean"
	case t == "string":
		return "string"
	}
	return "object"
}

// syntaxBlock returns the tab-indented block of a doc comment: the
// Caddyfile syntax, by STYLE's convention.
func syntaxBlock(text string) string {
	var lines []string
	for _, l := range strings.Split(text, "\n") {
		if strings.HasPrefix(l, "\t") {
			lines = append(lines, l[1:])
		} else if len(lines) > 0 && strings.TrimSpace(l) != "" {
			break
		}
	}
	return strings.TrimRight(strings.Join(lines, "\n"), "\n")
}

func paragraph(text string) string {
	return strings.TrimSpace(text)
}

func oneLine(text string) string { return strings.Join(strings.Fields(text), " ") }

func source(n ast.Node) string {
	var b bytes.Buffer
	if err := printer.Fprint(&b, token.NewFileSet(), n); err != nil {
		return ""
	}
	return b.String()
}
