package admin_test

import (
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2"
	_ "github.com/caddyserver/caddy/v2/modules/caddyhttp"

	_ "github.com/bentocache/bento/modules/http"
)

// purgeConfig serves /tagged/* with Surrogate-Key "docs" and everything
// else untagged, each cacheable for an hour, through bento_cache on the
// store main.
const purgeConfig = `{
	"admin": {"listen": %q, "config": {"persist": false}},
	"apps": {
		"bento": {"stores": {"main": {"l1": {"driver": "memory"}, "bus": {"bus": "memory"}}}},
		"http": {"servers": {"s": {"listen": [%q], "routes": [
			{"handle": [{"handler": "bento_cache", "store": "main"}]},
			{"match": [{"path": ["/tagged/*"]}], "handle": [{"handler": "static_response", "status_code": 200, "body": "tagged",
				"headers": {"Cache-Control": ["max-age=3600"], "Surrogate-Key": ["docs"]}}], "terminal": true},
			{"handle": [{"handler": "static_response", "status_code": 200, "body": "plain", "headers": {"Cache-Control": ["max-age=3600"]}}]}
		]}}}
	}
}`

// TestAPI_Purge: the purge route removes bento_cache's responses by URL,
// by tag and all at once, in the handler's default namespace; an empty
// purge or a relative URL is a 400 that says why.
func TestAPI_Purge(t *testing.T) {
	admin, srv := freeAddr(t), freeAddr(t)
	if err := caddy.Load([]byte(fmt.Sprintf(purgeConfig, admin, srv)), true); err != nil {
		t.Fatalf("caddy.Load = %v", err)
	}
	t.Cleanup(func() { _ = caddy.Stop() })
	site := "http://" + srv
	// cacheStatus GETs path and returns its Cache-Status.
	cacheStatus := func(path string) string {
		t.Helper()
		resp, err := http.Get(site + path)
		if err != nil {
			t.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp.Header.Get("Cache-Status")
	}
	paths := []string{"/a", "/b", "/tagged/c"}
	warm := func() {
		t.Helper()
		for _, p := range paths {
			cacheStatus(p)
			if cs := cacheStatus(p); !strings.Contains(cs, "; hit") {
				t.Fatalf("second GET %s: Cache-Status %q; want a hit", p, cs)
			}
		}
	}
	// wantHits checks which paths are hits now; each GET stores again.
	wantHits := func(after string, hits ...bool) {
		t.Helper()
		for i, p := range paths {
			if cs := cacheStatus(p); strings.Contains(cs, "; hit") != hits[i] {
				t.Errorf("after %s: GET %s Cache-Status %q; want hit %v", after, p, cs, hits[i])
			}
		}
	}
	purge := "http://" + admin + "/bento/stores/main/purge"

	warm()
	if status, out := call(t, "POST", purge, fmt.Sprintf(`{"urls": [%q]}`, site+"/a")); status != http.StatusOK || out["deleted"] != true {
		t.Fatalf("purge of /a = %d %v; want 200, deleted", status, out)
	}
	wantHits("a purge of /a", false, true, true)

	warm()
	if status, out := call(t, "POST", purge, `{"tags": ["docs"]}`); status != http.StatusOK {
		t.Fatalf("purge of tag docs = %d %v; want 200", status, out)
	}
	wantHits("a purge of the tag docs", true, true, false)

	warm()
	if status, out := call(t, "POST", purge, `{"all": true}`); status != http.StatusOK {
		t.Fatalf("purge of all = %d %v; want 200", status, out)
	}
	wantHits("a purge of all", false, false, false)

	warm()
	if status, _ := call(t, "POST", purge+"?namespace=other", `{"all": true}`); status != http.StatusOK {
		t.Fatalf("purge of all in another namespace = %d; want 200", status)
	}
	wantHits("a purge of another namespace", true, true, true)

	for body, says := range map[string]string{
		`{}`:                    "purge: invalid purge: it names nothing",
		`{"urls": ["/a"]}`:      `urls[0]: "/a" is not an absolute http or https URL`,
		`{"url": "http://x/a"}`: `unknown field "url"`,
	} {
		status, out := call(t, "POST", purge, body)
		if msg, _ := out["error"].(string); status != http.StatusBadRequest || !strings.Contains(msg, says) {
			t.Errorf("purge %s = %d %v; want 400 saying %q", body, status, out, says)
		}
	}
	wantHits("the rejected purges", true, true, true)
}
