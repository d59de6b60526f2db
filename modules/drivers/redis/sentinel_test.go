package redis_test

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"

	"github.com/bentocache/bento/internal/testenv"
	redisbus "github.com/bentocache/bento/modules/buses/redis"
	"github.com/bentocache/bento/modules/drivers/redis"
)

// TestDriver_SentinelFailover loads a driver whose config names a sentinel,
// writes through it, and has the sentinel fail the master over to its
// replica: reads go on returning the value while the roles swap (a read
// may fail while the old master steps down, never miss or return something
// else), and once the sentinel names the new master, reads and writes
// work on it.
func TestDriver_SentinelFailover(t *testing.T) {
	s := testenv.RedisSentinel(t)
	dr := &redis.Driver{Sentinel: &redis.Sentinel{MasterName: testenv.SentinelMaster, Addrs: []string{s.Sentinel}}, Prefix: testenv.Prefix(t)}
	ctx, cancel := caddy.NewContext(caddy.Context{Context: t.Context()})
	defer cancel()
	if err := dr.Provision(ctx); err != nil {
		t.Fatalf("Provision() = %v", err)
	}
	t.Cleanup(func() { _ = dr.Cleanup() })
	if err := dr.Validate(); err != nil {
		t.Fatalf("Validate() = %v; want <nil>", err)
	}
	if err := dr.Set(t.Context(), "k", []byte("v"), 0); err != nil {
		t.Fatalf("Set through the sentinel = %v; want <nil>", err)
	}
	// The replica has the write before the failover, which would otherwise
	// race with replication.
	if !eventually(t, 10*time.Second, func() bool {
		v, err := testenv.RedisGet(s.Replica, dr.Prefix+":k")
		return err == nil && v == "v"
	}) {
		t.Fatalf("the replica %s did not get the write within 10s", s.Replica)
	}

	if err := testenv.SentinelFailover(s.Sentinel); err != nil {
		t.Fatalf("SENTINEL FAILOVER = %v", err)
	}
	reads, failed := 0, 0
	switched := eventually(t, 30*time.Second, func() bool {
		v, found, err := dr.Get(t.Context(), "k")
		reads++
		switch {
		case err != nil:
			failed++
		case !found || string(v) != "v":
			t.Fatalf("Get(ctx, %q) during the failover = %q, %v, <nil>; want \"v\": a read may fail, never miss", "k", v, found)
		}
		addr, _ := testenv.SentinelMasterAddr(s.Sentinel)
		role, _ := testenv.Role(s.Replica)
		return addr == s.Replica && role == "master"
	})
	if !switched {
		t.Fatalf("the sentinel did not promote %s within 30s", s.Replica)
	}
	t.Logf("%d reads during the failover, %d failed", reads, failed)
	// The client follows the sentinel to the new master.
	if !eventually(t, 15*time.Second, func() bool {
		v, found, err := dr.Get(t.Context(), "k")
		return err == nil && found && string(v) == "v" && dr.Set(t.Context(), "k2", []byte("after"), 0) == nil
	}) {
		t.Fatalf("reads and writes through the sentinel did not work on the new master %s within 15s", s.Replica)
	}
	if v, err := testenv.RedisGet(s.Replica, dr.Prefix+":k2"); err != nil || v != "after" {
		t.Errorf("GET %s:k2 on the new master %s = %q, %v; want \"after\": the write must go to the new master", dr.Prefix, s.Replica, v, err)
	}
	if reads == failed {
		t.Errorf("all %d reads during the failover failed; want reads to keep working", reads)
	}
}

// TestBus_Sentinel publishes and receives on a redis bus that finds its
// master through a sentinel.
func TestBus_Sentinel(t *testing.T) {
	s := testenv.RedisSentinel(t)
	b := &redisbus.Bus{Sentinel: &redisbus.Sentinel{MasterName: testenv.SentinelMaster, Addrs: []string{s.Sentinel}}}
	ctx, cancel := caddy.NewContext(caddy.Context{Context: t.Context()})
	defer cancel()
	if err := b.Provision(ctx); err != nil {
		t.Fatalf("Provision() = %v", err)
	}
	t.Cleanup(func() { _ = b.Cleanup() })
	got := make(chan string, 1)
	if err := b.Subscribe(t.Context(), "c", func(p []byte) { got <- string(p) }); err != nil {
		t.Fatalf("Subscribe through the sentinel = %v; want <nil>", err)
	}
	if err := b.Publish(t.Context(), "c", []byte("x")); err != nil {
		t.Fatalf("Publish through the sentinel = %v; want <nil>", err)
	}
	select {
	case p := <-got:
		if p != "x" {
			t.Errorf("received %q; want %q", p, "x")
		}
	case <-time.After(15 * time.Second):
		t.Fatal("no payload within 15s on a bus through the sentinel")
	}
}

func TestDriver_SentinelConfig(t *testing.T) {
	dr := new(redis.Driver)
	in := "redis {\n\tsentinel bento 10.0.0.7:26379 {\n\t\taddrs 10.0.0.8:26379\n\t\tpassword s\n\t}\n\tpassword m\n}"
	if err := dr.UnmarshalCaddyfile(caddyfile.NewTestDispenser(in)); err != nil {
		t.Fatalf("UnmarshalCaddyfile(%q) = %v", in, err)
	}
	got, _ := json.Marshal(dr)
	want := `{"password":"m","sentinel":{"master_name":"bento","addrs":["10.0.0.7:26379","10.0.0.8:26379"],"password":"s"}}`
	if string(got) != want {
		t.Errorf("UnmarshalCaddyfile(%q) gave %s; want %s", in, got, want)
	}
	tests := []struct {
		name    string
		dr      redis.Driver
		wantErr string
	}{
		{"NoMasterName", redis.Driver{Sentinel: &redis.Sentinel{Addrs: []string{"a:1"}}}, "redis: sentinel.master_name is empty"},
		{"NoAddrs", redis.Driver{Sentinel: &redis.Sentinel{MasterName: "m"}}, "redis: sentinel.addrs is empty"},
		{"WithAddrs", redis.Driver{Addrs: []string{"a:1"}, Sentinel: &redis.Sentinel{MasterName: "m", Addrs: []string{"b:1"}}}, "redis: sentinel and addrs or cluster are both set"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := caddy.NewContext(caddy.Context{Context: t.Context()})
			defer cancel()
			dr := tt.dr
			if err := dr.Provision(ctx); err != nil {
				t.Fatal(err)
			}
			defer func() { _ = dr.Cleanup() }()
			if err := dr.Validate(); err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("Validate() = %v; want an error containing %q", err, tt.wantErr)
			}
		})
	}
	bad := "redis {\n\tsentinel {\n\t\tport 1\n\t}\n}"
	if err := new(redis.Driver).UnmarshalCaddyfile(caddyfile.NewTestDispenser(bad)); err == nil || !strings.Contains(err.Error(), `unknown sentinel option "port"`) {
		t.Errorf("UnmarshalCaddyfile(%q) = %v; want an unknown sentinel option error", bad, err)
	}
}
