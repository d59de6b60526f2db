package testenv

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// SentinelMaster is the name under which the sentinel of [RedisSentinel]
// monitors its master.
const SentinelMaster = "bento"

// SentinelSetup is a master, a replica of it and a sentinel that monitors
// them, started by [RedisSentinel].
type SentinelSetup struct {
	// Sentinel is the sentinel's "127.0.0.1:port".
	Sentinel string
	// Master and Replica are the servers' addresses as started; after a
	// failover their roles are swapped.
	Master, Replica string
}

// RedisSentinel starts, for t alone, a redis-server master, a replica of
// it, and a redis-server in sentinel mode that monitors the master as
// [SentinelMaster] with a quorum of one, so that SENTINEL FAILOVER works at
// once. It returns once the sentinel knows the replica. Everything is
// killed, and its directories removed, when t ends. Without redis-server
// installed, t is skipped, or fails with BENTO_REQUIRE_SERVICES=1.
func RedisSentinel(t testing.TB) SentinelSetup {
	t.Helper()
	if err := redisInstalled(); err != nil {
		missing(t, err)
	}
	master, err := startRedis(nil)
	if err != nil {
		t.Fatalf("testenv: starting the master: %v", err)
	}
	t.Cleanup(master.stop)
	_, mport, _ := strings.Cut(master.addr, ":")
	replica, err := startRedis(func(int, string) []string { return []string{"--replicaof", "127.0.0.1", mport} })
	if err != nil {
		t.Fatalf("testenv: starting the replica: %v", err)
	}
	t.Cleanup(replica.stop)
	sentinel, err := startServer(func(port int, dir string) ([]string, error) {
		conf := filepath.Join(dir, "sentinel.conf")
		body := fmt.Sprintf("port %d\nbind 127.0.0.1\ndir %s\nlogfile %s\n", port, dir, filepath.Join(dir, "redis.log")) +
			fmt.Sprintf("sentinel monitor %s 127.0.0.1 %s 1\n", SentinelMaster, mport) +
			fmt.Sprintf("sentinel down-after-milliseconds %s 1000\n", SentinelMaster) +
			fmt.Sprintf("sentinel failover-timeout %s 10000\n", SentinelMaster)
		if err := os.WriteFile(conf, []byte(body), 0o600); err != nil {
			return nil, err
		}
		return []string{conf, "--sentinel"}, nil
	})
	if err != nil {
		t.Fatalf("testenv: starting the sentinel: %v", err)
	}
	t.Cleanup(sentinel.stop)
	var info string
	if !poll(func() bool {
		info, err = redisDo(sentinel.addr, "INFO", "sentinel")
		return err == nil && strings.Contains(info, "slaves=1")
	}) {
		t.Fatalf("testenv: the sentinel on %s did not see the replica on %s within %v: %v\n%s", sentinel.addr, replica.addr, startTimeout, err, info)
	}
	return SentinelSetup{Sentinel: sentinel.addr, Master: master.addr, Replica: replica.addr}
}

// SentinelMasterAddr returns the address that the sentinel at addr gives
// for [SentinelMaster] ("127.0.0.1:port"), from INFO sentinel.
func SentinelMasterAddr(addr string) (string, error) {
	info, err := redisDo(addr, "INFO", "sentinel")
	if err != nil {
		return "", err
	}
	for line := range strings.Lines(info) {
		if !strings.Contains(line, "name="+SentinelMaster+",") {
			continue
		}
		for f := range strings.SplitSeq(strings.TrimSpace(line), ",") {
			if a, ok := strings.CutPrefix(f, "address="); ok {
				return a, nil
			}
		}
	}
	return "", fmt.Errorf("INFO sentinel on %s names no master %q", addr, SentinelMaster)
}

// SentinelFailover asks the sentinel at addr to fail [SentinelMaster] over
// to its replica (SENTINEL FAILOVER).
func SentinelFailover(addr string) error {
	_, err := redisDo(addr, "SENTINEL", "FAILOVER", SentinelMaster)
	return err
}

// Role returns the role ("master" or "slave") that the server at addr
// reports in INFO replication.
func Role(addr string) (string, error) {
	info, err := redisDo(addr, "INFO", "replication")
	if err != nil {
		return "", err
	}
	return infoField(info, "role"), nil
}

// RedisGet returns the string stored under key on the server at addr
// (GET), for tests that look at one server behind a client's back.
func RedisGet(addr, key string) (string, error) { return redisDo(addr, "GET", key) }
