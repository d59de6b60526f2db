package main

import (
	"os"
	"testing"

	"github.com/bentocache/bento/internal/maintmpl"
)

// TestMainMatchesTemplate keeps main.go equal to what xbento generates with
// no extra module.
func TestMainMatchesTemplate(t *testing.T) {
	want, err := maintmpl.Render(maintmpl.Data{})
	if err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile("main.go")
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != string(want) {
		t.Errorf("cmd/bento/main.go differs from the template of internal/maintmpl; regenerate it:\n%s", want)
	}
}
