package admin_test

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"

	"github.com/bentocache/bento"
	"github.com/bentocache/bento/internal/testenv"
	_ "github.com/bentocache/bento/modules/admin"
	_ "github.com/bentocache/bento/modules/buses/memory"
	_ "github.com/bentocache/bento/modules/drivers/memory"
	_ "github.com/bentocache/bento/modules/serializers/msgpack"
)

func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// run starts Caddy with the bento app under apps.bento and the admin API on
// a loopback port; it stops Caddy when the test ends.
func run(t *testing.T, admin, app string) {
	t.Helper()
	cfg := fmt.Sprintf(`{"admin": {"listen": %q, "config": {"persist": false}}, "apps": {"bento": %s}}`, admin, app)
	if err := caddy.Load([]byte(cfg), true); err != nil {
		t.Fatalf("caddy.Load = %v", err)
	}
	t.Cleanup(func() { _ = caddy.Stop() })
}

func call(t *testing.T, method, url, body string) (int, map[string]any) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var out any
	if err := json.Unmarshal(raw, &out); err != nil {
		t.Fatalf("%s %s: body %q is not JSON: %v", method, url, raw, err)
	}
	m, _ := out.(map[string]any)
	if m == nil {
		m = map[string]any{"list": out}
	}
	return resp.StatusCode, m
}

const app = `{
	"default": "main",
	"stores": {
		"main": {"ttl": "1h", "l1": {"driver": "memory", "max_items": 1000}, "bus": {"bus": "memory"}},
		"other": {"l1": {"driver": "memory"}}
	}
}`

func TestAPI(t *testing.T) {
	admin := freeAddr(t)
	run(t, admin, app)
	base := "http://" + admin + "/bento/stores"

	status, out := call(t, "PUT", base+"/main/keys/42?namespace=users", `{"value": {"name": "Ada"}, "ttl": "10m", "tags": ["team:7"]}`)
	if status != http.StatusOK {
		t.Fatalf("PUT key = %d %v; want 200", status, out)
	}
	status, out = call(t, "GET", base+"/main/keys/42?namespace=users", "")
	if status != http.StatusOK || out["found"] != true || out["value"].(map[string]any)["name"] != "Ada" {
		t.Fatalf("GET key = %d %v; want found with name Ada", status, out)
	}

	// The same value through the Go API of the running app.
	a, err := caddy.ActiveContext().AppIfConfigured("bento")
	if err != nil {
		t.Fatal(err)
	}
	c, _ := a.(*bento.App).Use("main")
	v, found, err := bento.Get[map[string]any](t.Context(), c.Namespace("users"), "42")
	if err != nil || !found || v["name"] != "Ada" {
		t.Errorf("Go Get of a key set through the admin API = %v, %v, %v; want name Ada", v, found, err)
	}

	status, out = call(t, "GET", base, "")
	list, _ := out["list"].([]any)
	if status != http.StatusOK || len(list) != 2 {
		t.Fatalf("GET stores = %d %v; want the two stores", status, out)
	}
	main := list[0].(map[string]any)
	layers := main["layers"].(map[string]any)
	counters := main["counters"].(map[string]any)
	if main["name"] != "main" || main["default"] != true || layers["l1"] != "bento.drivers.memory" || layers["bus"] != "bento.buses.memory" ||
		layers["serializer"] != "bento.serializers.json" {
		t.Errorf("store main = %v; want default, l1 bento.drivers.memory, bus bento.buses.memory, serializer bento.serializers.json (the default)", main)
	}
	if counters["writes"] != float64(1) || counters["l1_hits"].(float64) < 1 {
		t.Errorf("counters of main = %v; want 1 write and at least 1 l1 hit", counters)
	}

	status, _ = call(t, "POST", base+"/main/tags/delete?namespace=users", `{"tags": ["team:7"]}`)
	if status != http.StatusOK {
		t.Errorf("POST tags/delete = %d; want 200", status)
	}
	if _, out = call(t, "GET", base+"/main/keys/42?namespace=users", ""); out["found"] != false {
		t.Errorf("GET after tags/delete = %v; want not found", out)
	}
	_, _ = call(t, "PUT", base+"/main/keys/k", `{"value": 1}`)
	if status, out = call(t, "DELETE", base+"/main/keys/k", ""); status != http.StatusOK || out["deleted"] != true {
		t.Errorf("DELETE key = %d %v; want deleted true", status, out)
	}
	_, _ = call(t, "PUT", base+"/main/keys/k?namespace=a", `{"value": 1}`)
	if status, _ = call(t, "POST", base+"/main/clear?namespace=a", ""); status != http.StatusOK {
		t.Errorf("POST clear = %d; want 200", status)
	}
	if _, out = call(t, "GET", base+"/main/keys/k?namespace=a", ""); out["found"] != false {
		t.Errorf("GET after clear = %v; want not found", out)
	}

	errorsWanted := []struct {
		method, path, body string
		status             int
		says               string
	}{
		{"GET", "/nope/keys/k", "", http.StatusNotFound, `unknown store "nope"`},
		{"PUT", "/main/keys/k", `{"value": 1, "ttl": "-1m"}`, http.StatusBadRequest, "TTL must not be negative"},
		{"PUT", "/main/keys/k", `{"valu": 1}`, http.StatusBadRequest, `unknown field "valu"`},
		{"POST", "/main/tags/delete", `{"tags": []}`, http.StatusBadRequest, "no tag given"},
		{"POST", "/main/tags/explode", `{"tags": ["t"]}`, http.StatusNotFound, "unknown tag action"},
		{"PATCH", "/main/nope", `{}`, http.StatusNotFound, "no bento admin route"},
	}
	for _, e := range errorsWanted {
		status, out := call(t, e.method, base+e.path, e.body)
		msg, _ := out["error"].(string)
		if status != e.status || !strings.Contains(msg, e.says) {
			t.Errorf("%s %s = %d %v; want %d with an error saying %q", e.method, e.path, status, out, e.status, e.says)
		}
	}
}

// TestAPI_Hostile sends the requests of a hostile or careless client: each
// gets a 4xx that says what was wrong, and the store is untouched.
func TestAPI_Hostile(t *testing.T) {
	admin := freeAddr(t)
	run(t, admin, app)
	base := "http://" + admin + "/bento/stores"
	huge := `{"value": "` + strings.Repeat("x", 8<<20) + `"}`
	tests := []struct {
		name, method, path, body string
		status                   int
		says                     string
	}{
		{"TrailingGarbage", "PUT", "/main/keys/k", `{"value": 1} garbage`, http.StatusBadRequest, "data after the JSON value: invalid character 'g'"},
		{"TwoValues", "PUT", "/main/keys/k", `{"value": 1}{"value": 2}`, http.StatusBadRequest, "data after the JSON value: more than one JSON value"},
		{"TrailingTags", "POST", "/main/tags/delete", `{"tags": ["t"]} []`, http.StatusBadRequest, "data after the JSON value"},
		{"TooLarge", "PUT", "/main/keys/k", huge, http.StatusRequestEntityTooLarge, "larger than the limit of 8388608 bytes (8 MiB)"},
		{"WrongMethodOnKey", "PATCH", "/main/keys/k", `{}`, http.StatusMethodNotAllowed, "method PATCH not allowed on /bento/stores/main/keys/k: use GET or PUT or DELETE"},
		{"WrongMethodOnClear", "GET", "/main/clear", "", http.StatusMethodNotAllowed, "use POST"},
		{"LongPath", "GET", "/" + strings.Repeat("p", 10_000), "", http.StatusNotFound, "… (10014 bytes)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, out := call(t, tt.method, base+tt.path, tt.body)
			msg, _ := out["error"].(string)
			if status != tt.status || !strings.Contains(msg, tt.says) {
				t.Errorf("%s %s = %d %.200v; want %d with an error saying %q", tt.method, tt.name, status, out, tt.status, tt.says)
			}
		})
	}
	if _, out := call(t, "GET", base+"/main/keys/k", ""); out["found"] != false {
		t.Errorf("GET after the rejected writes = %v; want not found", out)
	}
	allow := map[string]string{"/main/keys/k": "GET, PUT, DELETE", "/main/clear": "POST", "": "GET"}
	for path, want := range allow {
		req, _ := http.NewRequestWithContext(t.Context(), "PATCH", base+path, nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if got := resp.Header.Get("Allow"); resp.StatusCode != http.StatusMethodNotAllowed || got != want {
			t.Errorf("PATCH %s = %d, Allow %q; want 405, Allow %q", path, resp.StatusCode, got, want)
		}
	}
}

// TestAPI_Unshowable: a value that JSON cannot show (NaN, an infinity,
// stored by a Go writer on a msgpack store) answers 422, not 500.
func TestAPI_Unshowable(t *testing.T) {
	admin := freeAddr(t)
	run(t, admin, `{"stores": {"main": {"l1": {"driver": "memory"}, "serializer": {"serializer": "msgpack"}}}}`)
	a, err := caddy.ActiveContext().AppIfConfigured("bento")
	if err != nil {
		t.Fatal(err)
	}
	c, _ := a.(*bento.App).Use("main")
	for key, v := range map[string]any{"nan": math.NaN(), "inf": math.Inf(1), "neginf": []any{math.Inf(-1)}} {
		if err := c.Set(t.Context(), key, v); err != nil {
			t.Fatalf("Set(%q, %v) = %v", key, v, err)
		}
		status, out := call(t, "GET", "http://"+admin+"/bento/stores/main/keys/"+key, "")
		msg, _ := out["error"].(string)
		if status != http.StatusUnprocessableEntity || !strings.Contains(msg, "cannot be shown as JSON") {
			t.Errorf("GET %s = %d %v; want 422 saying the value cannot be shown as JSON", key, status, out)
		}
	}
}

// TestAPI_ReadOnly: with admin_read_only, the GET routes answer and every
// write is refused with 403.
func TestAPI_ReadOnly(t *testing.T) {
	admin := freeAddr(t)
	run(t, admin, strings.Replace(app, `"default": "main",`, `"default": "main", "admin_read_only": true,`, 1))
	a, err := caddy.ActiveContext().AppIfConfigured("bento")
	if err != nil {
		t.Fatal(err)
	}
	c, _ := a.(*bento.App).Use("main")
	if err := c.Set(t.Context(), "k", "v"); err != nil {
		t.Fatal(err)
	}
	base := "http://" + admin + "/bento/stores"
	if status, out := call(t, "GET", base+"/main/keys/k", ""); status != http.StatusOK || out["value"] != "v" {
		t.Errorf("GET key = %d %v; want 200 with the value", status, out)
	}
	if status, _ := call(t, "GET", base, ""); status != http.StatusOK {
		t.Errorf("GET stores = %d; want 200", status)
	}
	writes := []struct{ method, path, body string }{
		{"PUT", "/main/keys/k", `{"value": "w"}`},
		{"DELETE", "/main/keys/k", ""},
		{"POST", "/main/clear", ""},
		{"POST", "/main/tags/delete", `{"tags": ["t"]}`},
		{"POST", "/main/tags/expire", `{"tags": ["t"]}`},
	}
	for _, w := range writes {
		status, out := call(t, w.method, base+w.path, w.body)
		msg, _ := out["error"].(string)
		if status != http.StatusForbidden || !strings.Contains(msg, "read-only") {
			t.Errorf("%s %s = %d %v; want 403 saying the API is read-only", w.method, w.path, status, out)
		}
	}
	if v, found, _ := bento.Get[string](t.Context(), c, "k"); !found || v != "v" {
		t.Errorf("Get after refused writes = %q, %t; want \"v\" untouched", v, found)
	}
}

// TestReloads: 20 reloads keep the L1 contents and leak no goroutine.
//
// The count leaves out Caddy's admin servers, which a reload replaces:
// Caddy stops the old one in the background (up to 10s), and under CPU
// load its replaceLocalAdminServer can start the Serve goroutine of one
// reload after the next reload has replaced the server, so that the newer
// server also serves the older listener until it is itself stopped. Neither
// is bento's. The goroutines of a stopped config may still be exiting when
// a reload returns, so the count is polled with a deadline; a goroutine
// still there past it is named by its stack.
func TestReloads(t *testing.T) {
	admin := freeAddr(t)
	run(t, admin, app)
	base := "http://" + admin + "/bento/stores"
	if status, _ := call(t, "PUT", base+"/main/keys/kept", `{"value": "v"}`); status != http.StatusOK {
		t.Fatal("PUT failed")
	}
	http.DefaultClient.CloseIdleConnections() // count bento's goroutines, not the test's connections
	var before testenv.Goroutines
	for i := range 20 {
		ttl := fmt.Sprintf(`"%dm"`, 60+i) // a changed store option: a real reload
		cfg := strings.Replace(app, `"1h"`, ttl, 1)
		full := fmt.Sprintf(`{"admin": {"listen": %q, "config": {"persist": false}}, "apps": {"bento": %s}}`, admin, cfg)
		if err := caddy.Load([]byte(full), false); err != nil {
			t.Fatalf("reload %d: %v", i, err)
		}
		if i == 2 {
			before = settled()
		}
	}
	if left := testenv.GoroutinesBack(before, 10*time.Second, caddyAdminServer); left != nil {
		t.Errorf("%d goroutines more after 17 reloads than the %d before them; want no leak. Not running before:\n\n%s",
			len(left), before.Len(), strings.Join(left, "\n\n"))
	}
	if _, out := call(t, "GET", base+"/main/keys/kept", ""); out["found"] != true || out["value"] != "v" {
		t.Errorf("GET after 20 reloads = %v; want the L1 value kept", out)
	}
}

// caddyAdminServer is in the stack of the goroutines that serve Caddy's
// admin endpoint.
const caddyAdminServer = "caddy/v2.replaceLocalAdminServer"

// settled returns the goroutines running, other than Caddy's admin
// servers, once those of the last reload have had time to exit: the
// fewest seen over a short window, since a reload starts its goroutines
// before it returns, and the count only goes down after.
func settled() testenv.Goroutines {
	least := testenv.SnapshotGoroutines(caddyAdminServer)
	for deadline := time.Now().Add(time.Second); time.Now().Before(deadline); {
		runtime.Gosched()
		if g := testenv.SnapshotGoroutines(caddyAdminServer); g.Len() < least.Len() {
			least = g
		}
	}
	return least
}
