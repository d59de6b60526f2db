package testenv

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// RedisProcess is a redis-server that a test started with [RedisServer].
type RedisProcess struct {
	// Addr is the server's "127.0.0.1:port".
	Addr string
	// PID is the redis-server process id, for tests that signal it (stop
	// and continue it to simulate a hung server).
	PID int
}

// RedisServer starts a redis-server of the test's own on a free loopback
// port, with no persistence, for tests that must not share the server of
// [Redis]: a driver that owns the whole database, a server that hangs. It is
// killed, and its directory removed, when t ends. Without redis-server
// installed, t is skipped, or fails with BENTO_REQUIRE_SERVICES=1.
func RedisServer(t testing.TB) RedisProcess {
	t.Helper()
	if err := redisInstalled(); err != nil {
		missing(t, err)
	}
	p, err := startRedis(nil)
	if err != nil {
		t.Fatalf("testenv: starting redis-server: %v", err)
	}
	t.Cleanup(p.stop)
	return RedisProcess{Addr: p.addr, PID: p.pid}
}

// RedisCluster returns the addresses of the three masters of a Redis Cluster
// (no replicas, every slot assigned, cluster_state:ok). The cluster is
// started by the first test of the test binary that asks for it, from
// redis-server processes on free loopback ports, and shared by every later
// test; its processes are killed, and their directories removed, when the
// test binary exits (they watch a pipe from it, so they go even if it
// crashes). Tests on it must use keys and channels of their own ([Prefix]).
// Without redis-server or redis-cli installed, t is skipped, or fails with
// BENTO_REQUIRE_SERVICES=1.
func RedisCluster(t testing.TB) []string {
	t.Helper()
	if err := redisInstalled(); err != nil {
		missing(t, err)
	}
	sharedCluster.once.Do(func() {
		sharedCluster.procs, sharedCluster.err = startCluster()
		for _, p := range sharedCluster.procs {
			sharedCluster.addrs = append(sharedCluster.addrs, p.addr)
		}
	})
	if sharedCluster.err != nil {
		t.Fatalf("testenv: starting a Redis Cluster: %v", sharedCluster.err)
	}
	return append([]string(nil), sharedCluster.addrs...)
}

// sharedCluster is the cluster of RedisCluster, one per test binary.
var sharedCluster struct {
	once sync.Once
	// procs keeps the servers' stdin pipes reachable: the finalizer of a
	// lost *os.File would close one, and its server would go.
	procs []*redisProc
	addrs []string
	err   error
}

const (
	// clusterNodes is the number of masters of RedisCluster.
	clusterNodes = 3
	// clusterBusOffset is what Redis adds to a node's port for its cluster
	// bus port.
	clusterBusOffset = 10000
	// startTimeout bounds the wait for a server to answer, and for a
	// cluster to become ok.
	startTimeout = 30 * time.Second
	// startPoll is how often a start-up wait looks again.
	startPoll = 20 * time.Millisecond
)

// redisWrapper runs redis-server as a child of a shell that reads its
// standard input, a pipe from the test binary: when the pipe closes, because
// the test stopped the server or because the test binary exited, however it
// exited, the shell kills the server and removes its directory.
const redisWrapper = `redis-server "$@" &
pid=$!
read line
kill -KILL "$pid" 2>/dev/null
wait "$pid" 2>/dev/null
rm -rf "$BENTO_REDIS_DIR"
`

// redisInstalled reports what is missing to start servers.
func redisInstalled() error {
	for _, name := range []string{"redis-server", "redis-cli", "sh"} {
		if _, err := exec.LookPath(name); err != nil {
			return fmt.Errorf("%s is not installed: %w", name, err)
		}
	}
	return nil
}

// missing skips t, or fails it when servers are required.
func missing(t testing.TB, err error) {
	t.Helper()
	if Required() {
		t.Fatalf("testenv: %v, and %s=1", err, RequireVar)
	}
	t.Skipf("testenv: %v; install Redis 7 to run this test, or set %s=1 to fail instead", err, RequireVar)
}

// redisProc is a running redis-server and the shell that watches it.
type redisProc struct {
	addr  string
	pid   int
	dir   string
	cmd   *exec.Cmd
	stdin io.WriteCloser
}

// startRedis starts a redis-server on a free port with extra(port) as
// additional arguments, and waits until it answers PING. It tries other
// ports when the one it chose was taken meanwhile.
func startRedis(extra func(port int, dir string) []string) (*redisProc, error) {
	return startServer(func(port int, dir string) ([]string, error) {
		args := []string{
			"--port", strconv.Itoa(port), "--bind", "127.0.0.1",
			"--save", "", "--appendonly", "no", "--daemonize", "no",
			"--dir", dir, "--logfile", filepath.Join(dir, "redis.log"),
		}
		if extra != nil {
			args = append(args, extra(port, dir)...)
		}
		return args, nil
	})
}

// startServer starts redis-server with the arguments that args returns
// for a free port and a fresh directory (its log must go to redis.log in
// that directory), and waits until it answers PING. It tries other ports
// when the one it chose was taken meanwhile.
func startServer(args func(port int, dir string) ([]string, error)) (*redisProc, error) {
	var lastErr error
	for range 5 {
		p, err := tryStartServer(args)
		if err == nil {
			return p, nil
		}
		lastErr = err
	}
	return nil, lastErr
}

func tryStartServer(build func(port int, dir string) ([]string, error)) (*redisProc, error) {
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "bento-redis-")
	if err != nil {
		return nil, err
	}
	ps := strconv.Itoa(port)
	args, err := build(port, dir)
	if err != nil {
		_ = os.RemoveAll(dir)
		return nil, err
	}
	cmd := exec.Command("sh", append([]string{"-c", redisWrapper, "sh"}, args...)...)
	cmd.Env = append(os.Environ(), "BENTO_REDIS_DIR="+dir)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		_ = os.RemoveAll(dir)
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		_ = os.RemoveAll(dir)
		return nil, err
	}
	p := &redisProc{addr: net.JoinHostPort("127.0.0.1", ps), dir: dir, cmd: cmd, stdin: stdin}
	var (
		pingErr error
		log     []byte
	)
	ready := poll(func() bool {
		var reply string
		reply, pingErr = redisDo(p.addr, "PING")
		if pingErr == nil && reply == "PONG" {
			return true
		}
		// A server that could not listen (the port was taken since
		// freePort) has exited: give up at once, to retry elsewhere.
		log, _ = os.ReadFile(filepath.Join(dir, "redis.log"))
		return bytes.Contains(log, []byte("aborting"))
	})
	if !ready || pingErr != nil {
		p.stop()
		return nil, fmt.Errorf("redis-server on %s did not answer PING (last: %v); its log:\n%s", p.addr, pingErr, tail(log))
	}
	info, err := redisDo(p.addr, "INFO", "server")
	if err != nil {
		p.stop()
		return nil, fmt.Errorf("INFO server on %s: %w", p.addr, err)
	}
	p.pid, _ = strconv.Atoi(infoField(info, "process_id"))
	return p, nil
}

// stop kills the server and waits until its shell has removed its
// directory. Calling it twice is fine.
func (p *redisProc) stop() {
	if p.stdin == nil {
		return
	}
	_ = p.stdin.Close()
	p.stdin = nil
	_ = p.cmd.Wait()
}

// startCluster starts clusterNodes servers in cluster mode, joins them with
// redis-cli --cluster create and waits until every node reports the cluster
// ok. On failure it stops what it started.
func startCluster() (procs []*redisProc, err error) {
	var addrs []string
	defer func() {
		if err != nil {
			for _, p := range procs {
				p.stop()
			}
		}
	}()
	for range clusterNodes {
		p, err := startRedis(func(port int, dir string) []string {
			return []string{
				"--cluster-enabled", "yes",
				"--cluster-config-file", filepath.Join(dir, "nodes-"+strconv.Itoa(port)+".conf"),
				"--cluster-node-timeout", "5000",
			}
		})
		if err != nil {
			return nil, err
		}
		procs = append(procs, p)
		addrs = append(addrs, p.addr)
	}
	ctx, cancel := context.WithTimeout(context.Background(), startTimeout)
	defer cancel()
	args := append([]string{"--cluster", "create"}, addrs...)
	args = append(args, "--cluster-replicas", "0", "--cluster-yes")
	if out, err := exec.CommandContext(ctx, "redis-cli", args...).CombinedOutput(); err != nil {
		return nil, fmt.Errorf("redis-cli %s: %w\n%s", strings.Join(args, " "), err, tail(out))
	}
	for _, a := range addrs {
		var (
			info    string
			infoErr error
		)
		if !poll(func() bool {
			info, infoErr = redisDo(a, "CLUSTER", "INFO")
			return infoErr == nil && infoField(info, "cluster_state") == "ok" &&
				infoField(info, "cluster_known_nodes") == strconv.Itoa(clusterNodes) &&
				infoField(info, "cluster_slots_ok") == "16384"
		}) {
			return nil, fmt.Errorf("CLUSTER INFO on %s is not ok after %v (last error: %v):\n%s", a, startTimeout, infoErr, info)
		}
	}
	return procs, nil
}

// poll calls cond every startPoll until it returns true or startTimeout
// has passed, and reports whether it returned true.
func poll(cond func() bool) bool {
	deadline := time.Now().Add(startTimeout)
	tick := time.NewTicker(startPoll)
	defer tick.Stop()
	for !cond() {
		if time.Now().After(deadline) {
			return cond()
		}
		<-tick.C
	}
	return true
}

// freePort returns a loopback port that is free, and whose cluster bus port
// (port+10000) is free too.
func freePort() (int, error) {
	for range 100 {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return 0, err
		}
		port := l.Addr().(*net.TCPAddr).Port
		if port+clusterBusOffset > 65535 {
			_ = l.Close()
			continue
		}
		bus, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port+clusterBusOffset)))
		_ = l.Close()
		if err != nil {
			continue
		}
		_ = bus.Close()
		return port, nil
	}
	return 0, errors.New("no free loopback port p with p+10000 free")
}

// redisDo sends one command to addr on a connection of its own and returns
// the reply: a status, an integer or a bulk string, as a string. It keeps
// testenv free of a Redis client library.
func redisDo(addr string, args ...string) (string, error) {
	conn, err := net.DialTimeout("tcp", addr, dialTimeout)
	if err != nil {
		return "", err
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(5 * time.Second))
	var b strings.Builder
	fmt.Fprintf(&b, "*%d\r\n", len(args))
	for _, a := range args {
		fmt.Fprintf(&b, "$%d\r\n%s\r\n", len(a), a)
	}
	if _, err := io.WriteString(conn, b.String()); err != nil {
		return "", err
	}
	r := bufio.NewReader(conn)
	line, err := r.ReadString('\n')
	if err != nil {
		return "", err
	}
	line = strings.TrimSuffix(line, "\r\n")
	if line == "" {
		return "", errors.New("empty reply")
	}
	switch line[0] {
	case '+', ':':
		return line[1:], nil
	case '-':
		return "", errors.New(line[1:])
	case '$':
		n, err := strconv.Atoi(line[1:])
		if err != nil || n < 0 {
			return "", err
		}
		buf := make([]byte, n+2)
		if _, err := io.ReadFull(r, buf); err != nil {
			return "", err
		}
		return string(buf[:n]), nil
	}
	return "", fmt.Errorf("unexpected reply %q", line)
}

// infoField returns the value of field in the reply of INFO or CLUSTER
// INFO ("field:value" lines).
func infoField(info, field string) string {
	for line := range strings.Lines(info) {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), field+":"); ok {
			return v
		}
	}
	return ""
}

// tail returns the end of a log, for an error message.
func tail(b []byte) string {
	const n = 4 << 10
	if len(b) > n {
		b = b[len(b)-n:]
	}
	return string(b)
}
