package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil/promlint"

	"github.com/bentocache/bento/internal/testenv"
)

// bin is the bento binary built once for the tests of this file.
var bin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "bento-bin-")
	if err != nil {
		panic(err)
	}
	bin = filepath.Join(dir, "bento")
	build := exec.Command("go", "build", "-o", bin, ".")
	build.Stderr = os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "building bento:", err)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// bentoCmd runs the binary in the repository root, so that example paths
// resolve, and returns its combined output.
func bentoCmd(t *testing.T, env []string, args ...string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Dir = filepath.Join("..", "..")
	cmd.Env = append(os.Environ(), env...)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// moduleIDs are every module bento ships (DESIGN.md's table).
var moduleIDs = []string{
	"bento",
	"admin.api.bento",
	"bento.drivers.memory", "bento.drivers.redis", "bento.drivers.file", "bento.drivers.database",
	"bento.drivers.natskv", "bento.drivers.dynamodb",
	"bento.adapters.postgres", "bento.adapters.mysql", "bento.adapters.sqlite",
	"bento.buses.memory", "bento.buses.redis", "bento.buses.postgres", "bento.buses.nats",
	"bento.lockers.redis", "bento.lockers.postgres",
	"bento.serializers.json", "bento.serializers.msgpack",
}

func TestBinary_ListModules(t *testing.T) {
	out, err := bentoCmd(t, nil, "list-modules")
	if err != nil {
		t.Fatalf("bento list-modules: %v\n%s", err, out)
	}
	listed := make(map[string]bool)
	for _, line := range strings.Fields(out) {
		listed[line] = true
	}
	for _, id := range moduleIDs {
		if !listed[id] {
			t.Errorf("bento list-modules lacks %s", id)
		}
	}
	if !listed["http.handlers.reverse_proxy"] {
		t.Error("bento list-modules lacks Caddy's standard modules (http.handlers.reverse_proxy)")
	}
}

// TestBinary_Version: bento version names bento's version and Caddy's,
// each labelled.
func TestBinary_Version(t *testing.T) {
	out, err := bentoCmd(t, nil, "version")
	if err != nil || !versionLine.MatchString(out) {
		t.Errorf("bento version = %q, %v; want \"bento <version>; caddy <version>\"", out, err)
	}
}

var versionLine = regexp.MustCompile(`^bento \S.*; caddy v2\.\d+\.\d+`)

// TestBinary_Help: bento help shows examples that run bento, before the
// examples Caddy hard-codes with its own name.
func TestBinary_Help(t *testing.T) {
	for _, args := range [][]string{{"help"}, {"--help"}, {}} {
		out, _ := bentoCmd(t, nil, args...)
		i, j := strings.Index(out, "$ bento run --config"), strings.Index(out, "$ caddy run")
		if i < 0 || (j >= 0 && j < i) {
			t.Errorf("bento %s printed no \"$ bento run --config\" example before Caddy's (\"$ caddy run\"):\n%s", strings.Join(args, " "), out)
		}
	}
}

// TestBinary_FmtLeavesExamples: every Caddyfile of the repository is as
// bento fmt (Caddy's formatter) writes it, so that running one prints no
// "Caddyfile input is not formatted" warning.
func TestBinary_FmtLeavesExamples(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("..", "..", "examples", "*", "*Caddyfile"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no example Caddyfile found (%v)", err)
	}
	for _, f := range files {
		want, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		got, err := bentoCmd(t, nil, "fmt", strings.TrimPrefix(filepath.ToSlash(f), "../../"))
		if err != nil {
			t.Errorf("bento fmt %s: %v\n%s", f, err, got)
			continue
		}
		if got != string(want) {
			t.Errorf("bento fmt %s changes it; run bento fmt --overwrite on it. Formatted:\n%s", f, got)
		}
	}
}

func TestBinary_ValidateExamples(t *testing.T) {
	env := []string{
		testenv.RedisVar + "=127.0.0.1:6379",
		testenv.PostgresVar + "=postgres://postgres@127.0.0.1:5432/test?sslmode=disable",
		testenv.NATSVar + "=" + testenv.NATSDefault,
	}
	for _, cfg := range []string{
		"examples/nats/Caddyfile", "examples/nats/config.json",
		"examples/embedded/Caddyfile", "examples/embedded/config.json",
		"examples/redis-postgres/Caddyfile", "examples/redis-postgres/config.json",
	} {
		args := []string{"validate", "--config", cfg}
		if strings.HasSuffix(cfg, "Caddyfile") {
			args = append(args, "--adapter", "caddyfile")
		}
		if out, err := bentoCmd(t, env, args...); err != nil {
			t.Errorf("bento validate --config %s: %v\n%s", cfg, err, out)
		}
	}
}

// invalidExamples maps each file of examples/invalid to what bento
// validate must say about it.
var invalidExamples = map[string][]string{
	"unknown-module.json":      {`apps.bento.stores.main.l2: unknown module "bento.drivers.cassandra"`, "xbento build --with"},
	"wrong-layer.json":         {`apps.bento.stores.main.l1: module "bento.drivers.database" is not an L1 driver`},
	"bad-duration.json":        {`provision bento: config: apps.bento.stores.main.ttl: invalid duration "ten minutes"`},
	"bad-size.json":            {"bento.drivers.memory", `invalid size "big"`},
	"unknown-field.json":       {`unknown field "max_itemz"; did you mean "max_items"? known fields: max_entry_size, max_items, max_size, prefix`},
	"missing-option.json":      {`apps.bento.stores.main.l2: module "bento.drivers.file": file: directory is required`},
	"bad-duration.Caddyfile":   {"bad-duration.Caddyfile:5", "ttl", `"soon"`},
	"unknown-module.Caddyfile": {"unknown-module.Caddyfile:4", `"bento.drivers.cassandra"`, "xbento build --with"},
}

func TestBinary_ValidateRejects(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("..", "..", "examples", "invalid", "*.*"))
	if err != nil {
		t.Fatal(err)
	}
	seen := 0
	for _, f := range files {
		name := filepath.Base(f)
		if name == "README.md" {
			continue
		}
		says, ok := invalidExamples[name]
		if !ok {
			t.Errorf("examples/invalid/%s has no expected message in invalidExamples", name)
			continue
		}
		seen++
		args := []string{"validate", "--config", "examples/invalid/" + name}
		if strings.HasSuffix(name, "Caddyfile") {
			args = append(args, "--adapter", "caddyfile")
		}
		out, err := bentoCmd(t, nil, args...)
		if err == nil {
			t.Errorf("bento validate accepted examples/invalid/%s", name)
			continue
		}
		out = strings.ReplaceAll(out, `\"`, `"`) // Caddy logs the error inside JSON
		for _, s := range says {
			if !strings.Contains(out, s) {
				t.Errorf("bento validate on %s says:\n%s\nwant it to say %q", name, out, s)
			}
		}
	}
	if seen != len(invalidExamples) {
		t.Errorf("checked %d invalid examples; invalidExamples lists %d", seen, len(invalidExamples))
	}
}

// TestBinary_RunEmbedded runs the embedded example as the README does and
// replays the README's curl session over HTTP.
func TestBinary_RunEmbedded(t *testing.T) {
	admin := freeAddr(t)
	src, err := os.ReadFile(filepath.Join("..", "..", "examples", "embedded", "config.json"))
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	cfg := strings.Replace(string(src), "localhost:2019", admin, 1)
	cfg = strings.Replace(cfg, "bento-cache.db", filepath.Join(dir, "cache.db"), 1)
	cfgPath := filepath.Join(dir, "config.json")
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	base := "http://" + admin + "/bento/stores"
	runBento(t, cfgPath, dir, base)
	do := func(method, path, body string) map[string]any {
		req, _ := http.NewRequest(method, base+path, strings.NewReader(body))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatalf("%s %s: %v", method, path, err)
		}
		defer resp.Body.Close()
		raw, _ := io.ReadAll(resp.Body)
		var out map[string]any
		_ = json.Unmarshal(raw, &out)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("%s %s = %d %s", method, path, resp.StatusCode, raw)
		}
		return out
	}
	do("PUT", "/main/keys/42?namespace=users", `{"value": {"name": "Ada"}, "ttl": "10m"}`)
	got := do("GET", "/main/keys/42?namespace=users", "")
	if got["found"] != true || got["value"].(map[string]any)["name"] != "Ada" {
		t.Errorf("GET after PUT = %v; want found, name Ada", got)
	}
	if got := do("DELETE", "/main/keys/42?namespace=users", ""); got["deleted"] != true {
		t.Errorf("DELETE = %v; want deleted true", got)
	}
}

// freeAddr returns a loopback address nothing listens on.
func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// lockedBuffer is a buffer a process writes while the test reads it.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// runBento starts "bento run --config cfgPath" until the test ends and waits
// for ready (an admin URL) to answer; it returns the process's output.
func runBento(t *testing.T, cfgPath, dir, ready string) *lockedBuffer {
	t.Helper()
	cmd := exec.Command(bin, "run", "--config", cfgPath)
	cmd.Env = append(os.Environ(), "XDG_DATA_HOME="+dir, "XDG_CONFIG_HOME="+dir)
	logs := new(lockedBuffer)
	cmd.Stdout, cmd.Stderr = logs, logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := http.Get(ready)
		if err == nil {
			resp.Body.Close()
			return logs
		}
		if time.Now().After(deadline) {
			t.Fatalf("the admin API did not answer within 30s: %v\n%s", err, logs.String())
		}
		time.Sleep(50 * time.Millisecond) // polling for a process to start listening
	}
}

// TestBinary_Metrics: a store's metrics show at the admin endpoint's
// /metrics beside Caddy's, lint-clean, with the counts of what was done
// through the admin API, and they go on across config reloads.
func TestBinary_Metrics(t *testing.T) {
	admin := freeAddr(t)
	dir := t.TempDir()
	cfg := `{"admin": {"listen": "` + admin + `"}, "apps": {"bento": {"stores": {"main": {"l1": {"driver": "memory"}}}}}}`
	cfgPath := filepath.Join(dir, "config.json")
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	base := "http://" + admin
	logs := runBento(t, cfgPath, dir, base+"/bento/stores")
	call := func(method, path, body string, header ...string) []byte {
		t.Helper()
		req, _ := http.NewRequest(method, base+path, strings.NewReader(body))
		// Every /load replaces Caddy's admin server and shuts the old one
		// down, closing its idle connections; a kept-alive connection reused
		// after a reload reads EOF. One connection per request avoids that.
		req.Close = true
		for i := 0; i+1 < len(header); i += 2 {
			req.Header.Set(header[i], header[i+1])
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatalf("%s %s: %v", method, path, err)
		}
		defer resp.Body.Close()
		raw, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("%s %s = %d %s", method, path, resp.StatusCode, raw)
		}
		return raw
	}
	call("PUT", "/bento/stores/main/keys/k", `{"value": "v"}`)
	for range 3 {
		call("GET", "/bento/stores/main/keys/k", "")
	}
	wants := []string{
		`bento_hits_total{graced="false",layer="l1",store="main"} 3`,
		`bento_writes_total{store="main"} 1`,
		`caddy_`, // Caddy's own metrics beside bento's
	}
	scrape := func(when string) {
		t.Helper()
		page := call("GET", "/metrics", "")
		for _, want := range wants {
			if !bytes.Contains(page, []byte(want)) {
				t.Errorf("/metrics %s lacks %s", when, want)
			}
		}
		problems, err := promlint.New(bytes.NewReader(page)).Lint()
		if err != nil {
			t.Fatalf("linting /metrics: %v", err)
		}
		for _, p := range problems {
			if strings.HasPrefix(p.Metric, "bento_") {
				t.Errorf("promlint: %s: %s", p.Metric, p.Text)
			}
		}
	}
	scrape("after a PUT and three GETs")
	for range 2 {
		call("POST", "/load", cfg, "Content-Type", "application/json", "Cache-Control", "must-revalidate")
	}
	scrape("after two config reloads")
	if strings.Contains(logs.String(), "duplicate") {
		t.Errorf("the log mentions a duplicate registration:\n%s", logs.String())
	}
}
