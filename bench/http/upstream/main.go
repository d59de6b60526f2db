// Command upstream is the slow origin of bench/http/run: it answers GET
// /<n> (n bytes, with an optional k suffix for KiB) with a body of n
// bytes after a fixed delay, cacheable for an hour, and GET /stats with
// the number of body requests it has answered, so that the benchmark can
// check that cache hits never reached it.
//
// Usage:
//
//	upstream -addr 127.0.0.1:9090 -delay 2ms
package main

import (
	"bytes"
	"flag"
	"fmt"
	"log"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:9090", "the address to listen on")
	delay := flag.Duration("delay", 2*time.Millisecond, "how long each response takes")
	flag.Parse()

	var served atomic.Int64
	var bodies sync.Map // path → []byte
	mux := http.NewServeMux()
	mux.HandleFunc("GET /stats", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "%d\n", served.Load())
	})
	mux.HandleFunc("GET /{size}", func(w http.ResponseWriter, r *http.Request) {
		n, err := parseSize(r.PathValue("size"))
		if err != nil {
			http.Error(w, err.Error(), http.StatusNotFound)
			return
		}
		body, ok := bodies.Load(n)
		if !ok {
			body, _ = bodies.LoadOrStore(n, bytes.Repeat([]byte{'x'}, n))
		}
		time.Sleep(*delay)
		served.Add(1)
		h := w.Header()
		h.Set("Cache-Control", "max-age=3600")
		h.Set("Content-Type", "text/plain; charset=utf-8")
		h.Set("Content-Length", strconv.Itoa(n))
		_, _ = w.Write(body.([]byte))
	})
	log.Printf("upstream: listening on %s, %s per response", *addr, *delay)
	log.Fatal(http.ListenAndServe(*addr, mux))
}

// parseSize reads "1024" or "1k" as a body size in bytes, at most 1 MiB.
func parseSize(s string) (int, error) {
	mult := 1
	if t, ok := strings.CutSuffix(s, "k"); ok {
		s, mult = t, 1024
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 0 || n*mult > 1<<20 {
		return 0, fmt.Errorf("upstream: %q is not a body size (bytes, or KiB with a k suffix, at most 1 MiB)", s)
	}
	return n * mult, nil
}
