package maintmpl

import (
	"strings"
	"testing"
)

func TestRender_Modules(t *testing.T) {
	src, err := Render(Data{Modules: []string{"example.com/driver", "example.com/other/sub"}})
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`_ "example.com/driver"`, `_ "example.com/other/sub"`, `_ "github.com/bentocache/bento/modules/standard"`, "caddycmd.Main()"} {
		if !strings.Contains(string(src), want) {
			t.Errorf("rendered main lacks %s:\n%s", want, src)
		}
	}
}
