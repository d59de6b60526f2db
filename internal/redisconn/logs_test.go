package redisconn

import (
	"context"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/bentocache/bento/internal/testenv"
)

// pingDead pings a client that bento opens on addr, where nothing listens,
// so that go-redis logs its failed dials.
func pingDead(t *testing.T, addr string) {
	t.Helper()
	c := Options{Addrs: []string{addr}, DialTimeout: time.Second}.NewClient()
	defer c.Close()
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	if err := c.Ping(ctx).Err(); err == nil {
		t.Fatalf("Ping on %s, where nothing listens = <nil>; want a dial error", addr)
	}
}

// TestRouteLogs: once bento opens a client, go-redis's own lines go to the
// routed zap logger, named go-redis, and after release no longer do.
func TestRouteLogs(t *testing.T) {
	core, logs := observer.New(zap.WarnLevel)
	release := RouteLogs(zap.New(core))
	pingDead(t, testenv.ClosedAddr(t))
	if logs.FilterLoggerName("go-redis").FilterMessageSnippet("failed to dial").Len() == 0 {
		t.Errorf("after a failed dial the routed logger holds %v; want go-redis's \"failed to dial\" line", logs.All())
	}
	release()
	release() // twice is fine
	n := logs.Len()
	pingDead(t, testenv.ClosedAddr(t))
	if logs.Len() != n {
		t.Errorf("after release the logger got %v; want nothing more", logs.All()[n:])
	}
}

// TestRouteLogs_SilentWithoutLogger: with no logger routed (a manager
// whose Config.Logger is nil), go-redis prints nothing to stderr. go-redis's
// default logger writes to the stderr of the process it started in, so the
// check runs in a child process.
func TestRouteLogs_SilentWithoutLogger(t *testing.T) {
	if os.Getenv("BENTO_REDISCONN_CHILD") == "1" {
		pingDead(t, testenv.ClosedAddr(t))
		return
	}
	cmd := exec.CommandContext(t.Context(), os.Args[0], "-test.run=^TestRouteLogs_SilentWithoutLogger$", "-test.count=1")
	cmd.Env = append(os.Environ(), "BENTO_REDISCONN_CHILD=1")
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("child test: %v\n%s", err, stderr.String())
	}
	if strings.Contains(stderr.String(), "redis:") {
		t.Errorf("go-redis printed to stderr with no logger routed:\n%s", stderr.String())
	}
}
