package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// These tests build real binaries: bento with the example third-party
// driver, once, shared by every test that runs it. go test -short skips
// them. They use the Go build cache of the machine, and build with the flags
// of a plain go build (cgo as go env says, no -trimpath) so that the
// packages compiled for cmd/bento, by its tests or by hand, serve them too:
// only the first build on a machine is slow.

// repoRoot and driverDir are relative to this package, as the command line
// would take them from here.
var (
	repoRoot  = filepath.Join("..", "..", "..", "..")
	driverDir = filepath.Join(repoRoot, "examples", "thirdparty-driver")
)

var shared struct {
	once sync.Once
	dir  string // removed by TestMain
	bin  string
	log  string // xbento's stderr
	err  error
}

func TestMain(m *testing.M) {
	code := m.Run()
	if shared.dir != "" {
		os.RemoveAll(shared.dir)
	}
	os.Exit(code)
}

// driverBinary returns the bento binary built with the example driver, and
// the log of its build.
func driverBinary(t *testing.T) (bin, buildLog string) {
	t.Helper()
	if testing.Short() {
		t.Skip("builds a bento binary; skipped with -short")
	}
	shared.once.Do(func() {
		shared.dir, shared.err = os.MkdirTemp("", "xbento-test-")
		if shared.err != nil {
			return
		}
		shared.bin = filepath.Join(shared.dir, "bento")
		var stdout, stderr bytes.Buffer
		code := Run(context.Background(), []string{"build",
			"--output", shared.bin,
			"--with", "example.com/bento-ttlmap=" + driverDir,
			"--replace", "github.com/bentocache/bento=" + repoRoot,
		}, &stdout, &stderr, plainBuild())
		shared.log = stderr.String()
		if code != 0 {
			shared.err = fmt.Errorf("xbento build exited with status %d:\n%s", code, shared.log)
		}
	})
	if shared.err != nil {
		t.Fatal(shared.err)
	}
	return shared.bin, shared.log
}

// plainBuild is the environment of a build whose compiled packages are
// those of a plain go build.
func plainBuild() func(string) string {
	cgo, _ := exec.Command("go", "env", "CGO_ENABLED").Output()
	return env(map[string]string{
		"CGO_ENABLED":           strings.TrimSpace(string(cgo)),
		"XBENTO_GO_BUILD_FLAGS": "-trimpath=false",
	})
}

// tempFolder returns the temporary folder that a build log names.
func tempFolder(t *testing.T, buildLog string) string {
	t.Helper()
	m := regexp.MustCompile(`\[INFO\] Temporary folder: (\S+)`).FindStringSubmatch(buildLog)
	if m == nil {
		t.Fatalf("the build log names no temporary folder:\n%s", buildLog)
	}
	return m[1]
}

func TestBuild_ThirdPartyDriver(t *testing.T) {
	bin, buildLog := driverBinary(t)

	t.Run("Log", func(t *testing.T) {
		for _, want := range []string{
			"[INFO] Writing main module: ",
			`_ "example.com/bento-ttlmap"`,
			"[INFO] exec (timeout=5m0s): go mod init bento",
			"[INFO] Skipping go get example.com/bento-ttlmap: it is replaced",
			"[INFO] exec (timeout=none): CGO_ENABLED=",
			" go build -o " + bin,
			"[INFO] Build complete: " + bin,
			"[INFO] Cleaning up temporary folder: ",
		} {
			if !strings.Contains(buildLog, want) {
				t.Errorf("the build log lacks %q:\n%s", want, buildLog)
			}
		}
		// The driver's module is on no proxy: it must never be fetched.
		if strings.Contains(buildLog, "go get -v example.com/bento-ttlmap") {
			t.Errorf("xbento ran go get on the replaced module example.com/bento-ttlmap:\n%s", buildLog)
		}
		if _, err := os.Stat(tempFolder(t, buildLog)); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("the temporary folder is still there after the build (stat: %v)", err)
		}
	})

	t.Run("ListModules", func(t *testing.T) {
		out, err := exec.Command(bin, "list-modules").CombinedOutput()
		if err != nil {
			t.Fatalf("bento list-modules: %v\n%s", err, out)
		}
		listed := strings.Fields(string(out))
		for _, id := range []string{"bento.drivers.ttlmap", "bento.drivers.memory", "admin.api.bento"} {
			if !slices.Contains(listed, id) {
				t.Errorf("bento list-modules lacks %s:\n%s", id, out)
			}
		}
	})

	t.Run("Validate", func(t *testing.T) {
		for _, args := range [][]string{
			{"validate", "--config", filepath.Join(driverDir, "config.json")},
			{"validate", "--config", filepath.Join(driverDir, "Caddyfile"), "--adapter", "caddyfile"},
		} {
			if out, err := exec.Command(bin, args...).CombinedOutput(); err != nil {
				t.Errorf("bento %s: %v\n%s", strings.Join(args, " "), err, out)
			}
		}
	})

	t.Run("Serve", func(t *testing.T) {
		testServe(t, bin)
	})
}

// testServe runs bin with a store whose only layer is the ttlmap driver, and
// sets and reads a key through the admin API.
func testServe(t *testing.T, bin string) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	admin := l.Addr().String()
	l.Close()
	dir := t.TempDir()
	cfg := fmt.Sprintf(`{
		"admin": {"listen": %q},
		"apps": {"bento": {"stores": {"main": {"l2": {"driver": "ttlmap", "backend": "test"}}}}}
	}`, admin)
	cfgPath := filepath.Join(dir, "config.json")
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "run", "--config", cfgPath)
	cmd.Env = append(os.Environ(), "XDG_DATA_HOME="+dir, "XDG_CONFIG_HOME="+dir)
	var logs bytes.Buffer
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})

	base := "http://" + admin + "/bento/stores"
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := http.Get(base)
		if err == nil {
			resp.Body.Close()
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the admin API did not answer within 30s: %v\n%s", err, logs.String())
		}
		time.Sleep(50 * time.Millisecond) // polling for a process to start listening
	}
	do := func(method, path, body string) []byte {
		req, err := http.NewRequest(method, base+path, strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatalf("%s %s: %v", method, path, err)
		}
		defer resp.Body.Close()
		raw, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("%s %s = %d %s\n%s", method, path, resp.StatusCode, raw, logs.String())
		}
		return raw
	}

	var stores []struct{ Layers map[string]string }
	if err := json.Unmarshal(do("GET", "", ""), &stores); err != nil || len(stores) != 1 || stores[0].Layers["l2"] != "bento.drivers.ttlmap" {
		t.Fatalf("GET /bento/stores = %+v, %v; want one store whose l2 is bento.drivers.ttlmap", stores, err)
	}
	do("PUT", "/main/keys/42", `{"value": {"name": "Ada"}, "ttl": "10m"}`)
	var got struct {
		Found bool
		Value struct{ Name string }
	}
	if err := json.Unmarshal(do("GET", "/main/keys/42", ""), &got); err != nil || !got.Found || got.Value.Name != "Ada" {
		t.Errorf("GET /bento/stores/main/keys/42 after PUT = %+v, %v; want found, name Ada", got, err)
	}
}

// TestBuild_UnknownModule runs the xbento command on a module that exists
// nowhere: the error names it and xbento exits with status 1. GOPROXY=off
// keeps the test off the network.
func TestBuild_UnknownModule(t *testing.T) {
	if testing.Short() {
		t.Skip("runs go commands; skipped with -short")
	}
	dir := t.TempDir()
	xbento := filepath.Join(dir, "xbento")
	if out, err := exec.Command("go", "build", "-o", xbento, filepath.Join("..", "..")).CombinedOutput(); err != nil { // cmd/xbento
		t.Fatalf("go build xbento: %v\n%s", err, out)
	}
	const missing = "example.com/bento-no-such-driver"
	cmd := exec.Command(xbento, "build", "--output", filepath.Join(dir, "bento"),
		"--with", missing, "--replace", "github.com/bentocache/bento="+repoRoot)
	cmd.Env = append(os.Environ(), "GOPROXY=off", "TMPDIR="+dir)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	err := cmd.Run()
	exit, ok := errors.AsType[*exec.ExitError](err)
	if !ok || exit.ExitCode() != 1 {
		t.Fatalf("xbento build --with %s = %v; want exit status 1\n%s", missing, err, stderr.String())
	}
	lines := strings.Split(strings.TrimSpace(stderr.String()), "\n")
	last := lines[len(lines)-1]
	if !strings.Contains(last, "[ERROR] step get-modules: go get -v "+missing) {
		t.Errorf("last line = %q; want the error of step get-modules naming %s\n%s", last, missing, stderr.String())
	}
	if _, err := os.Stat(tempFolder(t, stderr.String())); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the temporary folder is still there after the failure (stat: %v)", err)
	}
}

// TestBuild_CompileError builds with a module that does not compile: the
// compiler's message is shown, the status is 1, and the temporary folder is
// removed.
func TestBuild_CompileError(t *testing.T) {
	driverBinary(t) // shares its compiled packages: only the broken one is new
	mod := t.TempDir()
	files := map[string]string{
		"go.mod":    "module example.com/broken\n\ngo 1.26\n",
		"broken.go": "package broken\n\nfunc init() { this is not Go }\n",
	}
	for name, src := range files {
		if err := os.WriteFile(filepath.Join(mod, name), []byte(src), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	var stdout, stderr bytes.Buffer
	code := Run(t.Context(), []string{"build",
		"--output", filepath.Join(t.TempDir(), "bento"),
		"--with", "example.com/broken=" + mod,
		"--replace", "github.com/bentocache/bento=" + repoRoot,
	}, &stdout, &stderr, plainBuild())
	log := stderr.String()
	if code != 1 {
		t.Fatalf("xbento build with a module that does not compile = %d; want 1\n%s", code, log)
	}
	if !strings.Contains(log, "broken.go:3") || !strings.Contains(log, "syntax error") {
		t.Errorf("the log lacks the compiler's message (broken.go:3: syntax error):\n%s", log)
	}
	if !strings.Contains(log, "[ERROR] step build: ") {
		t.Errorf("the log lacks the error of step build:\n%s", log)
	}
	if _, err := os.Stat(tempFolder(t, log)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the temporary folder is still there after the failure (stat: %v)", err)
	}
}

// TestBuild_WithHonoursOwnReplace: xbento build --with MODULE=DIR takes
// the replace of bento from DIR's go.mod, as xbento run does: with no
// --replace of bento, an xbento built from a checkout (which has no bento
// version to fetch) still builds the driver, against the driver's checkout.
func TestBuild_WithHonoursOwnReplace(t *testing.T) {
	if testing.Short() {
		t.Skip("runs go mod tidy in a temporary module; skipped with -short")
	}
	var stdout, stderr bytes.Buffer
	vars := map[string]string{"XBENTO_SKIP_BUILD": "1"}
	code := Run(t.Context(), []string{"build", "--output", filepath.Join(t.TempDir(), "bento"),
		"--with", "example.com/bento-ttlmap=" + driverDir}, &stdout, &stderr, env(vars))
	if code != 0 {
		t.Fatalf("xbento build --with example.com/bento-ttlmap=%s (no --replace) = %d; want 0, bento taken from the driver's go.mod:\n%s",
			driverDir, code, stderr.String())
	}
	root, _ := filepath.Abs(repoRoot)
	if want := "replaces github.com/bentocache/bento with " + root; !strings.Contains(stderr.String(), want) {
		t.Errorf("xbento build log does not say %q:\n%s", want, stderr.String())
	}
}

// TestRun_ThirdPartyDriver runs xbento run in the example driver's module:
// the binary has the driver, and it is removed afterwards.
func TestRun_ThirdPartyDriver(t *testing.T) {
	driverBinary(t) // shares its compiled packages
	t.Chdir(driverDir)
	var stdout, stderr bytes.Buffer
	code := Run(t.Context(), []string{"run", "--", "list-modules"}, &stdout, &stderr, plainBuild())
	if code != 0 {
		t.Fatalf("xbento run -- list-modules = %d; want 0\n%s", code, stderr.String())
	}
	if !slices.Contains(strings.Fields(stdout.String()), "bento.drivers.ttlmap") {
		t.Errorf("bento list-modules under xbento run lacks bento.drivers.ttlmap:\n%s", stdout.String())
	}
	m := regexp.MustCompile(`\[INFO\] Removing temporary binary: (\S+)`).FindStringSubmatch(stderr.String())
	if m == nil {
		t.Fatalf("xbento run did not say it removed the binary:\n%s", stderr.String())
	}
	if _, err := os.Stat(m[1]); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the temporary binary %s is still there (stat: %v)", m[1], err)
	}
}
