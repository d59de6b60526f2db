package configdoc

import (
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite docs/configuration.md")

// TestReferenceUpToDate fails when docs/configuration.md is not what the
// source says.
func TestReferenceUpToDate(t *testing.T) {
	root := filepath.Join("..", "..")
	got, err := Render(root)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(root, "docs", "configuration.md")
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v; create it with: go test ./internal/configdoc -update", err)
	}
	if string(got) != string(want) {
		t.Errorf("docs/configuration.md is stale; regenerate it with: go test ./internal/configdoc -update")
	}
}

func TestRender_Memory(t *testing.T) {
	got, err := Render(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"## bento.drivers.memory", "| `max_items` | number |", "| `max_size` | size |", "max_items      <n>", "| `ttl` | duration |", "## bento.serializers.msgpack"} {
		if !strings.Contains(string(got), want) {
			t.Errorf("reference lacks %q", want)
		}
	}
}
