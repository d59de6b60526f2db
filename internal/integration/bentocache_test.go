package integration_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/bentocache/bento"
	"github.com/bentocache/bento/internal/testenv"
	redisbus "github.com/bentocache/bento/modules/buses/redis"
	"github.com/bentocache/bento/modules/drivers/memory"
	"github.com/bentocache/bento/modules/drivers/redis"
)

// The helpers of this file are named for BentoCache (bc…), or for the sides
// of a mixed fleet, so that they never meet those of the package's other
// files.

// bcPeerDir is the BentoCache peer: peer.mjs and the lock file that pins
// bentocache and ioredis.
const bcPeerDir = "testdata/bentocache"

// bcStore is the store both sides run, as a fleet shares it: the name is
// part of BentoCache's bus channel.
const bcStore = "shared"

// freshnessSlack is how far the freshness a reader sees may be from the one
// the writer asked for: the writer's clock is read between the test's two
// reads of it, but bento's is coarse and may lag on a loaded machine. It is
// far below what a wrong TTL would show (the default, an hour, against the
// ten minutes written).
const freshnessSlack = 5 * time.Second

// TestBentoCache runs BentoCache 1.6.1, the Node.js library (the peer of
// testdata/bentocache, driven over stdin and stdout), and a bento manager on
// one Redis server, each with its own memory L1, Redis L2 and Redis bus on
// the store "shared", as a fleet of Node and Go services would. Every check
// runs in both directions: one side writes, the other must see it.
//
// Compat is the fleet with [bento.BentoCacheCompat] on the Go side: values
// cross through L2 with their freshness and namespaces, and each side's
// invalidations reach the other's L1 within the bounded wait. WithoutCompat
// is the control: without the switch, plain L2 reads still work but no
// invalidation crosses, and each side goes on serving its L1 copies for the
// whole wait. It shows that the Compat checks can fail, and that what makes
// them pass is the bus, not L1 expiry or a read that goes past L1.
func TestBentoCache(t *testing.T) {
	t.Parallel()
	addr := testenv.Redis(t)
	node := bcNode(t)
	t.Run("Compat", func(t *testing.T) {
		t.Parallel()
		goSide, nodeSide := newBCFleet(t, addr, node, bento.BentoCacheCompat())
		for _, c := range bcChecks() {
			t.Run(c.name, func(t *testing.T) {
				for _, d := range bcDirections(goSide, nodeSide) {
					t.Run(d.name, func(t *testing.T) {
						c.run(t, d.writer, d.reader, strings.ToLower(c.name+"_"+d.name))
					})
				}
			})
		}
	})
	t.Run("WithoutCompat", func(t *testing.T) {
		t.Parallel()
		goSide, nodeSide := newBCFleet(t, addr, node)
		bcControl(t, goSide, nodeSide)
	})
}

// bcCheck is one behaviour a mixed fleet must share, run with writer and
// reader on either side. ns is a namespace of the check's own.
type bcCheck struct {
	name string
	run  func(t *testing.T, writer, reader side, ns string)
}

// bcDirection is who writes and who must see it.
type bcDirection struct {
	name           string
	writer, reader side
}

func bcDirections(goSide, nodeSide side) []bcDirection {
	return []bcDirection{{"GoToNode", goSide, nodeSide}, {"NodeToGo", nodeSide, goSide}}
}

// bcChecks are the checks of the Compat fleet. Those after L2Read need the
// bus: the reader holds the entries in its L1, fresh for an hour, so only a
// message can change what it reads.
func bcChecks() []bcCheck {
	return []bcCheck{
		{"L2Read", func(t *testing.T, writer, reader side, ns string) {
			// A value of the root and one of a namespace, with a TTL that
			// is not the default, read from L2 by the other side.
			const ttl = 10 * time.Minute
			before := time.Now()
			writer.set(t, "", ns, "root", ttl, false)
			writer.set(t, ns, "k", "in ns", ttl, false)
			after := time.Now()
			for _, w := range []want{
				{key: ns, value: "root", found: true, layer: bento.LayerL2},
				{ns: ns, key: "k", value: "in ns", found: true, layer: bento.LayerL2},
			} {
				r := reader.read(t, w.ns, w.key)
				if !w.met(r) {
					t.Errorf("%s: Get(ctx, %s) = %s after %s wrote it; want %s", reader, w.where(), r, writer, w)
					continue
				}
				lo, hi := before.Add(ttl-freshnessSlack), after.Add(ttl+freshnessSlack)
				if r.staleAt.Before(lo) || r.staleAt.After(hi) {
					t.Errorf("%s: Get(ctx, %s) is fresh until %s; want %v after the write (between %s and %s): the entry keeps the writer's TTL",
						reader, w.where(), r.staleAt.Format(time.RFC3339Nano), ttl, lo.Format(time.RFC3339Nano), hi.Format(time.RFC3339Nano))
				}
			}
			// Both write BentoCache's key layout, "prefix:namespace:key".
			for _, key := range []string{ns, ns + ":k"} {
				if !bcL2Has(t, writer.prefix()+":"+key) {
					t.Errorf("Redis has no key %q after %s wrote %q; want the layout prefix:namespace:key", writer.prefix()+":"+key, writer, key)
				}
			}
		}},
		{"Delete", func(t *testing.T, writer, reader side, ns string) {
			bcSeed(t, writer, reader, seed{ns: ns, key: "k", value: "v1"}, seed{ns: ns, key: "other", value: "v2"})
			writer.delete(t, ns, "k")
			expect(t, []side{reader}, bcAfter(writer, "Delete", ns, "k"), missing(ns, "k"), inL1(ns, "other", "v2"))
		}},
		{"Set", func(t *testing.T, writer, reader side, ns string) {
			bcSeed(t, writer, reader, seed{ns: ns, key: "k", value: "v1"}, seed{ns: ns, key: "other", value: "v2"})
			writer.set(t, ns, "k", "v2", 0, false)
			expect(t, []side{reader}, bcAfter(writer, `Set("v2")`, ns, "k"), fresh(ns, "k", "v2"), inL1(ns, "other", "v2"))
		}},
		{"Expire", func(t *testing.T, writer, reader side, ns string) {
			bcSeed(t, writer, reader, seed{ns: ns, key: "k", value: "v1"}, seed{ns: ns, key: "other", value: "v2"})
			writer.expire(t, ns, "k")
			expect(t, []side{reader}, bcAfter(writer, "Expire", ns, "k"), stale(ns, "k", "v1"), inL1(ns, "other", "v2"))
		}},
		{"GraceRefresh", func(t *testing.T, writer, reader side, ns string) {
			// The writer expires the key; the reader's GetOrSet then
			// serves the stale value at once and refreshes it in the
			// background, and the refreshed value reaches both sides.
			bcSeed(t, writer, reader, seed{ns: ns, key: "k", value: "v1"})
			writer.expire(t, ns, "k")
			var r reading
			if !poll(t, waitTimeout, func() bool { r = reader.read(t, ns, "k"); return r.graced }) {
				t.Fatalf("%s: Get(ctx, %s) = %s %v after %s; want \"v1\", stale", reader, where(ns, "k"), r, waitTimeout, bcAfter(writer, "Expire", ns, "k"))
			}
			if r := reader.getOrSet(t, ns, "k", "v2"); !r.found || r.value != "v1" || !r.graced {
				t.Fatalf("%s: GetOrSet(ctx, %s, factory of \"v2\") = %s on a stale entry; want \"v1\", stale, refreshed in the background", reader, where(ns, "k"), r)
			}
			expect(t, []side{reader, writer}, fmt.Sprintf("%s's background refresh of %s", reader, where(ns, "k")), fresh(ns, "k", "v2"))
		}},
		{"ClearNamespace", func(t *testing.T, writer, reader side, ns string) {
			bcSeed(t, writer, reader,
				seed{ns: ns, key: "k", value: "ns"}, seed{ns: ns + ":posts", key: "k", value: "child"},
				seed{ns: ns + "X", key: "k", value: "sibling"}, seed{key: ns, value: "root"})
			writer.clear(t, ns)
			expect(t, []side{reader}, fmt.Sprintf("%s: Namespace(%q).Clear(ctx)", writer, ns),
				missing(ns, "k"), missing(ns+":posts", "k"), inL1(ns+"X", "k", "sibling"), inL1("", ns, "root"))
		}},
		{"ClearRoot", func(t *testing.T, writer, reader side, ns string) {
			bcSeed(t, writer, reader, seed{key: ns, value: "root"}, seed{ns: ns, key: "k", value: "ns"})
			writer.clear(t, "")
			expect(t, []side{reader}, fmt.Sprintf("%s: Default().Clear(ctx)", writer), missing("", ns), missing(ns, "k"))
		}},
		{"DeleteByTag", func(t *testing.T, writer, reader side, ns string) {
			// A tag invalidation crosses as BentoCache's tag record, a soft
			// one: the reader's tagged copy turns stale (served under
			// grace), its untagged one stays.
			// A tagged entry only in L2 (the reader never read it) is read
			// as stale from there.
			bcSeed(t, writer, reader, seed{ns: ns, key: "t", value: "v1", tags: []string{"team"}}, seed{ns: ns, key: "u", value: "v2"})
			writer.setTagged(t, ns, "l2only", "v3", []string{"team"})
			writer.deleteByTag(t, ns, "team")
			expect(t, []side{reader}, fmt.Sprintf("%s: DeleteByTag(ctx, %q) in namespace %q", writer, "team", ns),
				stale(ns, "t", "v1"), stale(ns, "l2only", "v3"), inL1(ns, "u", "v2"))
		}},
	}
}

// bcControl is the WithoutCompat test: both sides hold entries in their L1;
// each side deletes, sets, expires, clears and invalidates by tag some of
// them; for the whole
// bounded wait, the other side must go on reading its L1 copies. The writes
// are those of the Compat checks, which therefore fail without the switch.
func bcControl(t *testing.T, goSide, nodeSide side) {
	type held struct {
		reader side
		want   want
		after  string
	}
	writes := []struct {
		call string
		do   func(t *testing.T, writer side, ns string)
	}{
		{"Delete", func(t *testing.T, w side, ns string) { w.delete(t, ns, "k") }},
		{`Set("v2")`, func(t *testing.T, w side, ns string) { w.set(t, ns, "k", "v2", 0, false) }},
		{"Expire", func(t *testing.T, w side, ns string) { w.expire(t, ns, "k") }},
		{"Clear", func(t *testing.T, w side, ns string) { w.clear(t, ns) }},
		{"DeleteByTag", func(t *testing.T, w side, ns string) { w.deleteByTag(t, ns, "team") }},
	}
	var holds []held
	for _, d := range bcDirections(goSide, nodeSide) {
		for _, w := range writes {
			ns := strings.ToLower(d.name + "_" + strings.TrimSuffix(w.call, `("v2")`))
			bcSeed(t, d.writer, d.reader, seed{ns: ns, key: "k", value: "v1", tags: []string{"team"}})
			w.do(t, d.writer, ns)
			holds = append(holds, held{d.reader, inL1(ns, "k", "v1"), bcAfter(d.writer, w.call, ns, "k")})
		}
	}
	var broken []string
	poll(t, waitTimeout, func() bool {
		for _, h := range holds {
			if r := h.reader.read(t, h.want.ns, h.want.key); !h.want.met(r) {
				broken = append(broken, fmt.Sprintf("%s: Get(ctx, %s) = %s after %s; want %s",
					h.reader, h.want.where(), r, h.after, h.want))
			}
		}
		return len(broken) > 0
	})
	if len(broken) > 0 {
		t.Errorf("without BentoCacheCompat on the Go side, within %v:\n\t%s\nno invalidation can cross without the switch: the Compat checks would pass for another reason",
			waitTimeout, strings.Join(broken, "\n\t"))
	}
}

// inL1 is a want of a value still served fresh from the reader's L1.
func inL1(ns, key, value string) want {
	return want{ns: ns, key: key, value: value, found: true, layer: bento.LayerL1}
}

// bcAfter says what writer did to key, for a message.
func bcAfter(writer side, call, ns, key string) string {
	return fmt.Sprintf("%s: %s of %s", writer, call, where(ns, key))
}

// bcSeed writes seeds on writer without telling the bus, then has both
// sides read them twice: the second read must find each in the side's L1,
// fresh. No message is sent, so neither copy can change behind the test's
// back.
func bcSeed(t *testing.T, writer, reader side, seeds ...seed) {
	t.Helper()
	for _, s := range seeds {
		if len(s.tags) > 0 {
			writer.setTagged(t, s.ns, s.key, s.value, s.tags)
		} else {
			writer.set(t, s.ns, s.key, s.value, 0, true)
		}
	}
	for _, sd := range []side{writer, reader} {
		for _, s := range seeds {
			sd.read(t, s.ns, s.key)
			if r := sd.read(t, s.ns, s.key); !inL1(s.ns, s.key, s.value).met(r) {
				t.Fatalf("seeding: %s: Get(ctx, %s) = %s; want %q from l1, fresh: both sides must hold the entry in their L1",
					sd, where(s.ns, s.key), r, s.value)
			}
		}
	}
}

// bcL2Has reports whether Redis holds key, read with bento's Redis driver
// without a prefix.
func bcL2Has(t *testing.T, key string) bool {
	t.Helper()
	dr := redis.New(redis.Options{Addrs: []string{testenv.Redis(t)}})
	defer func() { _ = dr.Disconnect() }()
	ok, err := dr.Has(t.Context(), key)
	if err != nil {
		t.Fatalf("Has(ctx, %q) on Redis = %v; want no error", key, err)
	}
	return ok
}

// side is one half of a mixed fleet: the Go manager or the Node process.
// Its methods fail t when the call fails; ttl 0 is the store's default.
type side interface {
	String() string
	prefix() string
	set(t *testing.T, ns, key, value string, ttl time.Duration, skipBus bool)
	// setTagged sets key with tags, without telling the bus.
	setTagged(t *testing.T, ns, key, value string, tags []string)
	deleteByTag(t *testing.T, ns string, tags ...string)
	read(t *testing.T, ns, key string) reading
	getOrSet(t *testing.T, ns, key, value string) reading
	delete(t *testing.T, ns, key string)
	expire(t *testing.T, ns, key string)
	clear(t *testing.T, ns string)
}

// newBCFleet starts both sides on a fresh prefix of the Redis at addr, the
// Go side with the extra store options opts: the Go manager, then the Node
// process running node. Both stop, and the prefix's keys are removed, when t
// ends.
func newBCFleet(t *testing.T, addr, node string, opts ...bento.Option) (side, side) {
	t.Helper()
	rt := newRedisTest(t, []string{addr})
	n := newStoreNode(t, "go", bcStore, func(logger *zap.Logger) *bento.Store {
		return bento.NewStore(append([]bento.Option{
			bento.Prefix(rt.prefix),
			bento.TTL(time.Hour),
			bento.Grace(time.Hour),
		}, opts...)...).
			UseL1(memory.New(memory.Options{})).
			UseL2(redis.New(redis.Options{Addrs: rt.addrs})).
			UseBus(redisbus.New(redisbus.Options{Addrs: rt.addrs, Logger: logger.Named("bus")}))
	})
	return &goSide{n: n, pfx: rt.prefix}, startBCPeer(t, node, addr, rt.prefix)
}

// goSide is the Go manager of a fleet.
type goSide struct {
	n   *node
	pfx string
}

func (g *goSide) String() string { return "go" }
func (g *goSide) prefix() string { return g.pfx }

func (g *goSide) set(t *testing.T, ns, key, value string, ttl time.Duration, skipBus bool) {
	t.Helper()
	var opts []bento.Option
	if ttl > 0 {
		opts = append(opts, bento.TTL(ttl))
	}
	if skipBus {
		opts = append(opts, bento.SkipBusNotify())
	}
	if err := g.n.cache(ns).Set(t.Context(), key, value, opts...); err != nil {
		t.Fatalf("go: Set(ctx, %s, %q) = %v; want <nil>", where(ns, key), value, err)
	}
}

func (g *goSide) setTagged(t *testing.T, ns, key, value string, tags []string) {
	t.Helper()
	if err := g.n.cache(ns).Set(t.Context(), key, value, bento.Tags(tags...), bento.SkipBusNotify()); err != nil {
		t.Fatalf("go: Set(ctx, %s, %q, Tags(%q)) = %v; want <nil>", where(ns, key), value, tags, err)
	}
}

func (g *goSide) deleteByTag(t *testing.T, ns string, tags ...string) {
	t.Helper()
	if err := g.n.cache(ns).DeleteByTag(t.Context(), tags...); err != nil {
		t.Fatalf("go: DeleteByTag(ctx, %q) in namespace %q = %v; want <nil>", tags, ns, err)
	}
}

func (g *goSide) read(t *testing.T, ns, key string) reading {
	t.Helper()
	e, found, err := bento.GetEntry[string](t.Context(), g.n.cache(ns), key)
	if err != nil {
		t.Fatalf("go: GetEntry(ctx, %s) = %v; want no error", where(ns, key), err)
	}
	return reading{value: e.Value, found: found, layer: e.Layer, graced: e.Stale, staleAt: e.StaleAt}
}

// getOrSet reports where GetOrSet found the value from the manager's last
// hit event for the key, as node.read does.
func (g *goSide) getOrSet(t *testing.T, ns, key, value string) reading {
	t.Helper()
	got, err := bento.GetOrSet(t.Context(), g.n.cache(ns), key, func(context.Context, *bento.FactoryContext[string]) (string, error) {
		return value, nil
	})
	if err != nil {
		t.Fatalf("go: GetOrSet(ctx, %s) = %v; want no error", where(ns, key), err)
	}
	g.n.mu.Lock()
	e := g.n.last[ns+"\x00"+key]
	g.n.mu.Unlock()
	return reading{value: got, found: true, layer: e.Layer, graced: e.Graced}
}

func (g *goSide) delete(t *testing.T, ns, key string) {
	t.Helper()
	if err := deleted(g.n.cache(ns).Delete(t.Context(), key)); err != nil {
		t.Fatalf("go: Delete(ctx, %s) = %v; want <nil>", where(ns, key), err)
	}
}

func (g *goSide) expire(t *testing.T, ns, key string) {
	t.Helper()
	if err := g.n.cache(ns).Expire(t.Context(), key); err != nil {
		t.Fatalf("go: Expire(ctx, %s) = %v; want <nil>", where(ns, key), err)
	}
}

func (g *goSide) clear(t *testing.T, ns string) {
	t.Helper()
	if err := g.n.cache(ns).Clear(t.Context()); err != nil {
		t.Fatalf("go: Clear(ctx) of namespace %q = %v; want <nil>", ns, err)
	}
}

// bcNode returns the node binary that runs the peer, or skips t naming what
// is missing (node, or the packages of the peer's lock file) — or, with
// BENTO_REQUIRE_SERVICES=1, fails it, as testenv does for servers.
func bcNode(t *testing.T) string {
	t.Helper()
	missing := func(format string, args ...any) {
		t.Helper()
		msg := fmt.Sprintf(format, args...)
		if testenv.Required() {
			t.Fatalf("%s=1 and %s", testenv.RequireVar, msg)
		}
		t.Skipf("%s; %s=1 fails instead", msg, testenv.RequireVar)
	}
	node, err := exec.LookPath("node")
	if err != nil {
		missing("node (Node.js 20.6 or later) is not on PATH: %v", err)
	}
	if _, err := os.Stat(filepath.Join(bcPeerDir, "node_modules", "bentocache", "package.json")); err != nil {
		missing("BentoCache is not installed for the peer (run npm ci in internal/integration/%s): %v", bcPeerDir, err)
	}
	return node
}

// bcPeer is the Node process of a fleet: BentoCache on the store "shared",
// answering one JSON line per request (see peer.mjs).
type bcPeer struct {
	pfx    string
	cmd    *exec.Cmd
	stdin  io.WriteCloser
	lines  <-chan []byte // stdout, line by line; closed when it ends
	stderr string        // the file the process's stderr goes to
	nextID int           // requests are sent by one goroutine at a time
}

// bcRequest is one request to the peer; ttl is in milliseconds.
type bcRequest struct {
	ID      int      `json:"id"`
	Op      string   `json:"op"`
	NS      string   `json:"ns,omitempty"`
	Key     string   `json:"key,omitempty"`
	Value   string   `json:"value,omitempty"`
	TTL     int64    `json:"ttl,omitempty"`
	SkipBus bool     `json:"skipBus,omitempty"`
	Tags    []string `json:"tags,omitempty"`
}

// bcResponse is the peer's answer; staleAt and createdAt are epoch
// milliseconds, from the entry BentoCache holds in its L1 after a get.
type bcResponse struct {
	Ready     bool   `json:"ready"`
	ID        int    `json:"id"`
	OK        bool   `json:"ok"`
	Error     string `json:"error"`
	Value     string `json:"value"`
	Found     bool   `json:"found"`
	Layer     string `json:"layer"`
	Graced    bool   `json:"graced"`
	StaleAt   int64  `json:"staleAt"`
	CreatedAt int64  `json:"createdAt"`
}

// startBCPeer starts the peer with node on the Redis at addr and the prefix
// prefix, and waits until its bus has subscribed. When t ends, the process
// is asked to quit, killed if it has not within waitTimeout, and waited for.
func startBCPeer(t *testing.T, node, addr, prefix string) *bcPeer {
	t.Helper()
	p := &bcPeer{pfx: prefix, stderr: filepath.Join(t.TempDir(), "peer.stderr")}
	errFile, err := os.Create(p.stderr)
	if err != nil {
		t.Fatal(err)
	}
	defer errFile.Close() // the child has its own copy
	p.cmd = exec.Command(node, "peer.mjs")
	p.cmd.Dir = bcPeerDir
	p.cmd.Env = append(os.Environ(), testenv.RedisVar+"="+addr, "BENTO_PREFIX="+prefix)
	p.cmd.Stderr = errFile
	if p.stdin, err = p.cmd.StdinPipe(); err != nil {
		t.Fatal(err)
	}
	stdout, err := p.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("starting the BentoCache peer: %v", err)
	}
	lines := make(chan []byte)
	p.lines = lines
	go func() {
		defer close(lines)
		sc := bufio.NewScanner(stdout)
		sc.Buffer(nil, 1<<20)
		for sc.Scan() {
			lines <- append([]byte(nil), sc.Bytes()...)
		}
	}()
	t.Cleanup(func() { p.stop(t) })
	if r := p.receive(t, "start"); !r.Ready {
		t.Fatalf("node peer.mjs: first line is not {\"ready\": true}")
	}
	return p
}

// stop asks the peer to quit and waits for it, killing it if it takes
// longer than waitTimeout.
func (p *bcPeer) stop(t *testing.T) {
	_, _ = io.WriteString(p.stdin, `{"op":"quit"}`+"\n")
	_ = p.stdin.Close()
	timer := time.NewTimer(waitTimeout)
	defer timer.Stop()
	for ended := false; !ended; {
		select {
		case _, ok := <-p.lines:
			ended = !ok
		case <-timer.C:
			t.Errorf("node peer.mjs did not quit within %v; killing it", waitTimeout)
			_ = p.cmd.Process.Kill()
			for range p.lines {
			}
			ended = true
		}
	}
	if err := p.cmd.Wait(); err != nil && !t.Failed() {
		t.Errorf("node peer.mjs exited with %v; stderr:\n%s", err, p.stderrText())
	}
}

func (p *bcPeer) stderrText() string {
	b, _ := os.ReadFile(p.stderr)
	return string(b)
}

// receive reads the peer's next line, failing t if none comes within
// waitTimeout.
func (p *bcPeer) receive(t *testing.T, what string) bcResponse {
	t.Helper()
	timer := time.NewTimer(waitTimeout)
	defer timer.Stop()
	var r bcResponse
	select {
	case line, ok := <-p.lines:
		if !ok {
			t.Fatalf("node peer.mjs ended before answering %s; stderr:\n%s", what, p.stderrText())
		}
		if err := json.Unmarshal(line, &r); err != nil {
			t.Fatalf("node peer.mjs answered %s with %q: %v", what, line, err)
		}
	case <-timer.C:
		t.Fatalf("node peer.mjs did not answer %s within %v; stderr:\n%s", what, waitTimeout, p.stderrText())
	}
	return r
}

// do sends req and returns the answer, failing t when the call failed.
func (p *bcPeer) do(t *testing.T, req bcRequest) bcResponse {
	t.Helper()
	p.nextID++
	req.ID = p.nextID
	line, err := json.Marshal(req)
	if err != nil {
		t.Fatal(err)
	}
	what := fmt.Sprintf("%s of %s", req.Op, where(req.NS, req.Key))
	if _, err := p.stdin.Write(append(line, '\n')); err != nil {
		t.Fatalf("node peer.mjs: sending %s: %v", what, err)
	}
	r := p.receive(t, what)
	switch {
	case r.ID != req.ID:
		t.Fatalf("node peer.mjs answered request %d to request %d (%s)", r.ID, req.ID, what)
	case !r.OK:
		t.Fatalf("node: %s failed: %s", what, r.Error)
	}
	return r
}

func (p *bcPeer) String() string { return "node" }
func (p *bcPeer) prefix() string { return p.pfx }

func (p *bcPeer) set(t *testing.T, ns, key, value string, ttl time.Duration, skipBus bool) {
	t.Helper()
	p.do(t, bcRequest{Op: "set", NS: ns, Key: key, Value: value, TTL: ttl.Milliseconds(), SkipBus: skipBus})
}

func (p *bcPeer) setTagged(t *testing.T, ns, key, value string, tags []string) {
	t.Helper()
	p.do(t, bcRequest{Op: "set", NS: ns, Key: key, Value: value, Tags: tags, SkipBus: true})
}

func (p *bcPeer) deleteByTag(t *testing.T, ns string, tags ...string) {
	t.Helper()
	p.do(t, bcRequest{Op: "deleteByTag", NS: ns, Tags: tags})
}

func (p *bcPeer) read(t *testing.T, ns, key string) reading {
	t.Helper()
	r := p.do(t, bcRequest{Op: "get", NS: ns, Key: key})
	out := reading{value: r.Value, found: r.Found, layer: bcLayer(r.Layer), graced: r.Graced}
	if r.StaleAt != 0 {
		out.staleAt = time.UnixMilli(r.StaleAt)
	}
	return out
}

func (p *bcPeer) getOrSet(t *testing.T, ns, key, value string) reading {
	t.Helper()
	r := p.do(t, bcRequest{Op: "getOrSet", NS: ns, Key: key, Value: value})
	return reading{value: r.Value, found: true, layer: bcLayer(r.Layer), graced: r.Graced}
}

func (p *bcPeer) delete(t *testing.T, ns, key string) {
	t.Helper()
	p.do(t, bcRequest{Op: "delete", NS: ns, Key: key})
}

func (p *bcPeer) expire(t *testing.T, ns, key string) {
	t.Helper()
	p.do(t, bcRequest{Op: "expire", NS: ns, Key: key})
}

func (p *bcPeer) clear(t *testing.T, ns string) {
	t.Helper()
	p.do(t, bcRequest{Op: "clear", NS: ns})
}

// bcLayer maps BentoCache's tier names to bento's layers.
func bcLayer(tier string) bento.Layer {
	switch tier {
	case "l1":
		return bento.LayerL1
	case "l2":
		return bento.LayerL2
	}
	return bento.LayerNone
}
