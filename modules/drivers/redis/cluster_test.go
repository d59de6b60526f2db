package redis_test

import (
	"bytes"
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/bentocache/bento"
	"github.com/bentocache/bento/drivertest"
	"github.com/bentocache/bento/internal/testenv"
	"github.com/bentocache/bento/modules/drivers/redis"
)

// clusterClient returns a cluster client of the test's own on the shared
// test cluster, closed when t ends.
func clusterClient(t testing.TB, addrs []string) *goredis.ClusterClient {
	t.Helper()
	c := goredis.NewClusterClient(&goredis.ClusterOptions{Addrs: addrs})
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// keysOnNode returns the keys under prefix that the node at addr holds.
func keysOnNode(t *testing.T, addr, prefix string) []string {
	t.Helper()
	node := newClient(t, addr)
	var all []string
	iter := node.Scan(t.Context(), 0, prefix+":*", 1000).Iterator()
	for iter.Next(t.Context()) {
		all = append(all, iter.Val())
	}
	if err := iter.Err(); err != nil {
		t.Fatalf("SCAN on %s: %v", addr, err)
	}
	return all
}

// entries returns n entries "k0"…, with values "v0"….
func entries(n int) ([]bento.KeyValue, []string) {
	kvs := make([]bento.KeyValue, n)
	ks := make([]string, n)
	for i := range kvs {
		ks[i] = fmt.Sprintf("k%d", i)
		kvs[i] = bento.KeyValue{Key: ks[i], Value: fmt.Appendf(nil, "v%d", i)}
	}
	return kvs, ks
}

func TestDriver_L2_Cluster(t *testing.T) {
	client := clusterClient(t, testenv.RedisCluster(t))
	drivertest.L2(t, opener(client, func(prefix string) redis.Options {
		return redis.Options{Client: client, Prefix: prefix}
	}), drivertest.Options{})
}

// TestDriver_L2_Ring runs the suite on a go-redis Ring of two servers,
// whose sharding the driver cannot see: it sends one key per command.
func TestDriver_L2_Ring(t *testing.T) {
	ring := goredis.NewRing(&goredis.RingOptions{Addrs: map[string]string{
		"shared": testenv.Redis(t),
		"own":    testenv.RedisServer(t).Addr,
	}})
	t.Cleanup(func() { _ = ring.Close() })
	drivertest.L2(t, opener(ring, func(prefix string) redis.Options {
		return redis.Options{Client: ring, Prefix: prefix}
	}), drivertest.Options{})
}

// TestCluster_KeysOnEveryMaster writes 2000 keys through a driver that
// opened its own cluster client from the three addresses, checks that every
// master holds some of them, then reads, deletes and clears them across
// slots.
func TestCluster_KeysOnEveryMaster(t *testing.T) {
	addrs := testenv.RedisCluster(t)
	keeper := clusterClient(t, addrs)
	prefix, sibling := testenv.Prefix(t), testenv.Prefix(t)
	t.Cleanup(func() {
		removeKeys(t, keeper, prefix)
		removeKeys(t, keeper, sibling)
	})
	dr := redis.New(redis.Options{Addrs: addrs, Prefix: prefix})
	t.Cleanup(func() { _ = dr.Disconnect() })
	if err := dr.Validate(); err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	const n = 2000
	kvs, ks := entries(n)
	if err := dr.SetMany(ctx, kvs, time.Hour); err != nil {
		t.Fatalf("SetMany(ctx, %d entries, 1h) = %v", n, err)
	}
	total := 0
	for _, a := range addrs {
		held := len(keysOnNode(t, a, prefix))
		if held == 0 {
			t.Errorf("master %s holds none of the %d keys; want keys on every master", a, n)
		}
		total += held
	}
	if total != n {
		t.Errorf("the masters hold %d keys under %q; want %d", total, prefix, n)
	}

	got, err := dr.GetMany(ctx, append(slices.Clone(ks), "missing"))
	if err != nil || len(got) != n+1 {
		t.Fatalf("GetMany(ctx, %d keys) = %d values, %v; want %d, <nil>", n+1, len(got), err, n+1)
	}
	for i, kv := range kvs {
		if !bytes.Equal(got[i], kv.Value) {
			t.Fatalf("GetMany slot %d (%q) = %q; want %q", i, kv.Key, got[i], kv.Value)
		}
	}
	if got[n] != nil {
		t.Errorf("GetMany slot of %q = %q; want nil", "missing", got[n])
	}

	if deleted, err := dr.DeleteMany(ctx, ks[:n/2]); !deleted || err != nil {
		t.Errorf("DeleteMany(ctx, %d keys) = %t, %v; want true, <nil>", n/2, deleted, err)
	}
	got, err = dr.GetMany(ctx, ks)
	if err != nil {
		t.Fatal(err)
	}
	for i := range ks {
		if deleted := i < n/2; deleted != (got[i] == nil) {
			t.Fatalf("GetMany slot %d (%q) = %q after DeleteMany of the first %d keys", i, ks[i], got[i], n/2)
		}
	}

	sib := redis.New(redis.Options{Client: keeper, Prefix: sibling})
	if err := sib.SetMany(ctx, kvs[:300], 0); err != nil {
		t.Fatal(err)
	}
	if err := dr.SetMany(ctx, kvs[:n/2], 0); err != nil {
		t.Fatal(err)
	}
	if err := dr.Clear(ctx); err != nil {
		t.Fatalf("Clear(ctx) = %v", err)
	}
	for _, a := range addrs {
		if left := keysOnNode(t, a, prefix); len(left) > 0 {
			t.Errorf("master %s still holds %d keys under %q after Clear(ctx), such as %q; want none: Clear scans every master", a, len(left), prefix, left[0])
		}
	}
	got, err = sib.GetMany(ctx, ks[:300])
	if err != nil || countNil(got) > 0 {
		t.Errorf("GetMany(ctx, …) on another prefix after Clear(ctx) = %d values with %d missing, %v; want all 300", len(got), countNil(got), err)
	}
}

func countNil(vs [][]byte) int {
	n := 0
	for _, v := range vs {
		if v == nil {
			n++
		}
	}
	return n
}

// TestCluster_OneCommandPerSlot checks what a batch sends on a cluster: one
// pipeline, with one MGET or UNLINK per hash slot, so that no command
// crosses slots; keys that share a hash tag go in one command.
func TestCluster_OneCommandPerSlot(t *testing.T) {
	addrs := testenv.RedisCluster(t)
	client := clusterClient(t, addrs)
	rec := &recorder{}
	client.AddHook(rec)
	prefix := testenv.Prefix(t)
	t.Cleanup(func() { removeKeys(t, client, prefix) })
	dr := redis.New(redis.Options{Client: client, Prefix: prefix})
	ctx := t.Context()

	kvs, ks := entries(300)
	if err := dr.SetMany(ctx, kvs, time.Hour); err != nil {
		t.Fatal(err)
	}
	slots := make(map[int64]bool)
	for _, k := range ks {
		s, err := client.ClusterKeySlot(ctx, prefix+":"+k).Result()
		if err != nil {
			t.Fatal(err)
		}
		slots[s] = true
	}
	rec.take()
	if _, err := dr.GetMany(ctx, ks); err != nil {
		t.Fatalf("GetMany(ctx, 300 keys) = %v", err)
	}
	cmds, trips := rec.take()
	if trips != 1 || len(cmds) != len(slots) {
		t.Errorf("GetMany of 300 keys in %d slots sent %d commands in %d pipelines; want one MGET per slot in 1", len(slots), len(cmds), trips)
	}
	if _, err := dr.DeleteMany(ctx, ks); err != nil {
		t.Fatalf("DeleteMany(ctx, 300 keys) = %v", err)
	}
	if cmds, trips := rec.take(); trips != 1 || len(cmds) != len(slots) {
		t.Errorf("DeleteMany of 300 keys in %d slots sent %d commands in %d pipelines; want one UNLINK per slot in 1", len(slots), len(cmds), trips)
	}

	tagged := dr.Namespace("{user42}")
	kvs, ks = entries(50)
	if err := tagged.(bento.L2BatchDriver).SetMany(ctx, kvs, 0); err != nil {
		t.Fatal(err)
	}
	rec.take()
	got, err := tagged.(bento.L2BatchDriver).GetMany(ctx, ks)
	if err != nil || countNil(got) > 0 {
		t.Fatalf("GetMany(ctx, 50 keys) under a hash tag = %d missing, %v", countNil(got), err)
	}
	if cmds, trips := rec.take(); trips != 1 || len(cmds) != 1 || !strings.HasPrefix(cmds[0], "mget ") {
		t.Errorf("GetMany of 50 keys sharing a hash tag sent %q in %d round trips; want one MGET", cmds, trips)
	}
}

// TestCluster_WriteThroughOneNodeReadThroughAnother uses two drivers, each
// given the address of a different single node with Cluster set: both find
// the whole cluster from their seed, so what one writes the other reads.
func TestCluster_WriteThroughOneNodeReadThroughAnother(t *testing.T) {
	addrs := testenv.RedisCluster(t)
	keeper := clusterClient(t, addrs)
	prefix := testenv.Prefix(t)
	t.Cleanup(func() { removeKeys(t, keeper, prefix) })
	first := redis.New(redis.Options{Addrs: addrs[:1], Cluster: true, Prefix: prefix})
	third := redis.New(redis.Options{Addrs: addrs[2:], Cluster: true, Prefix: prefix})
	for _, dr := range []*redis.Driver{first, third} {
		t.Cleanup(func() { _ = dr.Disconnect() })
	}
	ctx := t.Context()
	kvs, ks := entries(300)
	if err := first.SetMany(ctx, kvs, 0); err != nil {
		t.Fatalf("SetMany through %s = %v", addrs[0], err)
	}
	got, err := third.GetMany(ctx, ks)
	if err != nil {
		t.Fatalf("GetMany through %s = %v", addrs[2], err)
	}
	for i, kv := range kvs {
		if !bytes.Equal(got[i], kv.Value) {
			t.Errorf("GetMany through %s slot %d (%q) = %q; want %q written through %s", addrs[2], i, kv.Key, got[i], kv.Value, addrs[0])
		}
	}
	for _, kv := range kvs[:20] {
		if v, found, err := third.Get(ctx, kv.Key); err != nil || !found || !bytes.Equal(v, kv.Value) {
			t.Errorf("Get(ctx, %q) through %s = %q, %t, %v; want %q", kv.Key, addrs[2], v, found, err, kv.Value)
		}
	}
	if v, found, err := third.Pull(ctx, "k7"); err != nil || !found || string(v) != "v7" {
		t.Errorf("Pull(ctx, %q) through %s = %q, %t, %v; want %q", "k7", addrs[2], v, found, err, "v7")
	}
	if has, err := first.Has(ctx, "k7"); err != nil || has {
		t.Errorf("Has(ctx, %q) through %s = %t, %v after the Pull through %s; want false", "k7", addrs[0], has, err, addrs[2])
	}
	if err := third.Clear(ctx); err != nil {
		t.Fatal(err)
	}
	if got, err := first.GetMany(ctx, ks); err != nil || countNil(got) != len(ks) {
		t.Errorf("GetMany through %s after Clear through %s: %d of %d missing, %v; want all missing", addrs[0], addrs[2], countNil(got), len(ks), err)
	}

	// Without Cluster, one address is a single-node client: on a cluster it
	// gets MOVED for the keys of other nodes, an error, never a wrong value.
	if err := first.SetMany(ctx, kvs[:100], 0); err != nil {
		t.Fatal(err)
	}
	single := redis.New(redis.Options{Addrs: addrs[:1], Prefix: prefix})
	t.Cleanup(func() { _ = single.Disconnect() })
	moved := 0
	for _, kv := range kvs[:100] {
		v, found, err := single.Get(ctx, kv.Key)
		switch {
		case err != nil && strings.Contains(err.Error(), "MOVED"):
			moved++
		case err != nil || !found || !bytes.Equal(v, kv.Value):
			t.Errorf("Get(ctx, %q) through a single-node client on %s = %q, %t, %v; want %q or a MOVED error", kv.Key, addrs[0], v, found, err, kv.Value)
		}
	}
	if moved == 0 {
		t.Errorf("a single-node client on %s read all 100 keys; want MOVED errors for keys of the other masters", addrs[0])
	}
}

// TestCluster_ClearHonoursContext checks that Clear over every master
// stops at a cancelled context.
func TestCluster_ClearHonoursContext(t *testing.T) {
	client := clusterClient(t, testenv.RedisCluster(t))
	dr := redis.New(redis.Options{Client: client, Prefix: testenv.Prefix(t)})
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if err := dr.Clear(ctx); err == nil || !strings.HasPrefix(err.Error(), "redis: clear ") {
		t.Errorf("Clear(ctx) with a cancelled context = %v; want a \"redis: clear\" error", err)
	}
}
