package doccheck

import (
	"strings"
	"testing"
)

func TestExtract(t *testing.T) {
	page := "# T\n\n<!-- not compiled -->\n```go\na := 1…\n```\n\n- a list item:\n\n  ```go\n  x := 1\n  ```\n\n<!-- quoted from a/b.go -->\n\n```go\nfunc f() {}\n```\n"
	got, err := Extract("p.md", []byte(page))
	if err != nil {
		t.Fatal(err)
	}
	want := []Snippet{
		{Page: "p.md", Line: 4, Code: "a := 1…\n", Mark: "not compiled"},
		{Page: "p.md", Line: 10, Code: "x := 1\n"},
		{Page: "p.md", Line: 16, Code: "func f() {}\n", Mark: "quoted from a/b.go"},
	}
	if len(got) != len(want) {
		t.Fatalf("Extract found %d snippets: %+v; want %d", len(got), got, len(want))
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("snippet %d = %+v; want %+v", i, got[i], want[i])
		}
	}
}

func TestFragment(t *testing.T) {
	tests := []struct {
		name, code string
		want       []string // substrings of the generated file
	}{
		{"Statements", "u, err := f()\n", []string{"func fn() {", "u, err := f(); _ = u; _ = err"}},
		{"ReturnsError", "if err != nil {\n\treturn err\n}\n", []string{"func fn() error {", "return nil"}},
		{"FuncLiteral", "func(ctx context.Context) error {\n\treturn nil\n}\n", []string{"_ = func(ctx context.Context)", `import context "context" // doccheck`}},
		{"Declarations", "type T struct{ d time.Duration }\n", []string{"type T struct", `import time "time" // doccheck`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src, _, err := fragment("p", "fn", tt.code)
			if err != nil {
				t.Fatalf("fragment(%q) = %v", tt.code, err)
			}
			for _, w := range tt.want {
				if !strings.Contains(string(src), w) {
					t.Errorf("fragment(%q) =\n%s\nwant it to contain %q", tt.code, src, w)
				}
			}
		})
	}
}
