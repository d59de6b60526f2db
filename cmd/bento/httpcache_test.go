package main

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bentocache/bento/internal/testenv"
)

// twoInstancesConfig is a Caddyfile of one of two bento instances that
// share a Redis L2 and bus: admin address, Redis address (twice), key
// prefix, store name (twice), site port, upstream.
const twoInstancesConfig = `{
	admin %[1]s
	bento {
		store %[4]s {
			l1 memory
			l2 redis %[2]s {
				prefix %[3]s
			}
			bus redis %[2]s
		}
	}
}

http://:%[5]s {
	bento_cache {
		store %[4]s
	}
	reverse_proxy %[6]s
}
`

// TestBinary_HTTPCacheTwoInstances: two bento processes with bento_cache
// on one Redis L2 and bus. A response cached through A is served by B from
// the L2 without reaching the upstream, and a purge by tag through B's
// admin API, or a purge of its URL, removes it from A's L1 as soon as the
// bus delivers it.
func TestBinary_HTTPCacheTwoInstances(t *testing.T) {
	redis := testenv.Redis(t)
	var calls atomic.Int32
	upstream := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		w.Header().Set("Cache-Control", "max-age=600")
		w.Header().Set("Surrogate-Key", "docs")
		_, _ = io.WriteString(w, "from the upstream")
	}))
	t.Cleanup(upstream.Close)

	id := time.Now().UnixNano()
	prefix, store := fmt.Sprintf("bento-test-http-%d", id), fmt.Sprintf("web%d", id)
	type instance struct{ admin, site string }
	start := func(name string) instance {
		in := instance{admin: freeAddr(t), site: freeAddr(t)}
		dir := t.TempDir()
		_, port, _ := strings.Cut(in.site, ":")
		cfg := fmt.Sprintf(twoInstancesConfig, in.admin, redis, prefix, store, port, upstream.Listener.Addr())
		path := filepath.Join(dir, "Caddyfile")
		if err := os.WriteFile(path, []byte(cfg), 0o644); err != nil {
			t.Fatal(err)
		}
		runBento(t, path, dir, "http://"+in.admin+"/bento/stores")
		return in
	}
	a, b := start("A"), start("B")

	// get fetches /page through an instance and returns its Cache-Status.
	// Both instances serve one site, as behind a load balancer: the host
	// is part of the cache key.
	get := func(in instance) string {
		t.Helper()
		req, _ := http.NewRequest("GET", "http://"+in.site+"/page", nil)
		req.Host = "www.example.com"
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if string(body) != "from the upstream" {
			t.Fatalf("GET /page = %d %q; want the upstream's body", resp.StatusCode, body)
		}
		return resp.Header.Get("Cache-Status")
	}
	hit := func(cacheStatus string) bool { return strings.Contains(cacheStatus, "; hit") }

	if cs := get(a); hit(cs) {
		t.Fatalf("first GET through A: Cache-Status %q; want a miss", cs)
	}
	if cs := get(a); !hit(cs) {
		t.Fatalf("second GET through A: Cache-Status %q; want a hit", cs)
	}
	if cs := get(b); !hit(cs) || calls.Load() != 1 {
		t.Fatalf("GET through B after A stored it: Cache-Status %q, %d upstream calls; want a hit from the L2 and 1 call", cs, calls.Load())
	}

	// purge posts body to B's purge route, then waits until A misses:
	// A's L1 copy goes when the bus message arrives (or, for a tag, when A
	// rereads the tag's record), and A then fetches the page again, once.
	purge := func(body string, wantCalls int32) {
		t.Helper()
		req, _ := http.NewRequest("POST", "http://"+b.admin+"/bento/stores/"+store+"/purge", strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		raw, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("purge %s through B = %d %s; want 200", body, resp.StatusCode, raw)
		}
		deadline := time.Now().Add(10 * time.Second)
		for hit(get(a)) {
			if time.Now().After(deadline) {
				t.Fatalf("A still answers /page from its L1 10s after the purge %s through B", body)
			}
			time.Sleep(10 * time.Millisecond) // polling for the bus message
		}
		if got := calls.Load(); got != wantCalls {
			t.Errorf("upstream calls after the purge %s and A's miss: %d; want %d", body, got, wantCalls)
		}
		if cs := get(b); !hit(cs) || calls.Load() != wantCalls {
			t.Errorf("GET through B after A stored /page again: Cache-Status %q, %d upstream calls; want a hit and %d", cs, calls.Load(), wantCalls)
		}
	}
	purge(`{"tags": ["docs"]}`, 2)
	// Without the bus, A would keep a URL's response in L1 for its 600s.
	purge(`{"urls": ["http://www.example.com/page"]}`, 3)
}
