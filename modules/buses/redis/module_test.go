package redis_test

import (
	"errors"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"

	"github.com/bentocache/bento"
	"github.com/bentocache/bento/internal/caddyfiletest"
	"github.com/bentocache/bento/internal/configtest"
	"github.com/bentocache/bento/internal/redisconn"
	"github.com/bentocache/bento/internal/testenv"
	redisbus "github.com/bentocache/bento/modules/buses/redis"
	_ "github.com/bentocache/bento/modules/drivers/memory"
)

func TestBus_UnmarshalCaddyfile(t *testing.T) {
	tests := []caddyfiletest.Case{
		{Name: "Bare", Input: `redis`, Want: `{}`},
		{Name: "ShortForm", Input: `redis {env.BENTO_REDIS_ADDR}`, Want: `{"addrs":["{env.BENTO_REDIS_ADDR}"]}`},
		{Name: "Block", Input: `redis a:1 {
			addrs b:1
			cluster
			username app
			password secret
			dial_timeout 500ms
			tls
			tls_server_name redis.example
			tls_insecure_skip_verify
			health_check_interval 10s
		}`, Want: `{"addrs":["a:1","b:1"],"cluster":true,"username":"app","password":"secret","dial_timeout":500000000,` +
			`"tls":true,"tls_server_name":"redis.example","tls_insecure_skip_verify":true,"health_check_interval":10000000000}`},
		{Name: "DB", Input: "redis {\n\tdb 2\n}", Want: `{"db":2}`},
		{Name: "HealthCheckOff", Input: "redis {\n\thealth_check_interval off\n}", Want: `{"health_check_interval":-1}`},
		{Name: "HealthCheckNegative", Input: "redis {\n\thealth_check_interval -1s\n}", Want: `{"health_check_interval":-1000000000}`},
	}
	caddyfiletest.JSON(t, func() *redisbus.Bus { return new(redisbus.Bus) }, tests)
}

func TestBus_UnmarshalCaddyfileErrors(t *testing.T) {
	tests := []struct {
		name, input, wantErr string
	}{
		{name: "HealthCheckWithoutValue", input: "redis {\n\thealth_check_interval\n}", wantErr: "health_check_interval takes one value, got 0"},
		{name: "HealthCheckInvalid", input: "redis {\n\thealth_check_interval often\n}", wantErr: `health_check_interval: invalid duration "often"`},
		{name: "DriverOption", input: "redis {\n\tprefix app\n}", wantErr: `unknown redis bus option "prefix"`},
		{name: "ConnectionOption", input: "redis {\n\taddrs\n}", wantErr: "addrs needs at least one address"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := new(redisbus.Bus).UnmarshalCaddyfile(caddyfile.NewTestDispenser(tt.input))
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("UnmarshalCaddyfile(%q) = %v; want an error containing %q", tt.input, err, tt.wantErr)
			}
		})
	}
}

func TestBus_ProvisionDoesNoIO(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String() // nothing listens once closed
	_ = ln.Close()
	b := &redisbus.Bus{Addrs: []string{addr}, HealthCheckInterval: caddy.Duration(time.Second)}
	ctx, cancel := caddy.NewContext(caddy.Context{Context: t.Context()})
	defer cancel()
	start := time.Now()
	if err := b.Provision(ctx); err != nil {
		t.Fatalf("Provision() = %v; want <nil>", err)
	}
	if err := b.Validate(); err != nil {
		t.Errorf("Validate() = %v; want <nil>", err)
	}
	if d := time.Since(start); d > 100*time.Millisecond {
		t.Errorf("Provision and Validate took %v with an unreachable server; want no I/O", d)
	}
	if c, refs := redisconn.Pooled(redisconn.Config{Addrs: b.Addrs}); c == nil || refs != 1 {
		t.Errorf("after Provision the pool holds the client %d times; want 1", refs)
	}
	for i := range 2 {
		if err := b.Cleanup(); err != nil {
			t.Errorf("Cleanup() #%d = %v; want <nil>", i+1, err)
		}
	}
	if c, refs := redisconn.Pooled(redisconn.Config{Addrs: b.Addrs}); c != nil || refs != 0 {
		t.Errorf("after Cleanup the pool holds the client %d times; want released", refs)
	}
	if err := b.Publish(t.Context(), "c", []byte("x")); !errors.Is(err, redisbus.ErrClosed) {
		t.Errorf("Publish after Cleanup = %v; want redisbus.ErrClosed", err)
	}
	if err := new(redisbus.Bus).Cleanup(); err != nil {
		t.Errorf("Cleanup() of a bus never provisioned = %v; want <nil>", err)
	}
}

func TestBus_ConfigErrors(t *testing.T) {
	tests := []struct {
		name, bus string
		wantErr   []string
	}{
		{name: "DBOnCluster", bus: `{"bus": "redis", "addrs": ["a:1", "b:1"], "db": 1}`,
			wantErr: []string{`stores.main.bus: module "bento.buses.redis"`, "redis bus: db is 1 with a cluster"}},
		{name: "NegativeDB", bus: `{"bus": "redis", "db": -1}`, wantErr: []string{"redis bus: db is -1"}},
		{name: "SkipVerifyWithoutTLS", bus: `{"bus": "redis", "tls_insecure_skip_verify": true}`,
			wantErr: []string{"redis bus: tls_insecure_skip_verify is set but tls is off"}},
		{name: "BadDuration", bus: `{"bus": "redis", "health_check_interval": "often"}`,
			wantErr: []string{"bento.buses.redis", "often"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := fmt.Sprintf(`{"stores": {"main": {"l1": {"driver": "memory"}, "bus": %s}}}`, tt.bus)
			configtest.LoadFails(t, cfg, tt.wantErr...)
		})
	}
}

// TestLoadJSON_Bus runs two instances of a store whose L1s are kept coherent
// by a redis bus loaded from JSON: a write on one makes the other's L1 copy
// stale. Both buses publish on one pooled client, which the last Close
// closes, and no goroutine of the bus outlives Close.
func TestLoadJSON_Bus(t *testing.T) {
	addr := testenv.Redis(t)
	channel := testenv.Prefix(t)
	before := busGoroutines()
	load := func(store string) *bento.Bento {
		t.Helper()
		// Two store names, so that the instances do not share a memory L1
		// (its pool key is the store name): they act as two processes.
		cfg := fmt.Sprintf(`{"stores": {%q: {
			"bus_channel": %q,
			"l1": {"driver": "memory"},
			"bus": {"bus": "redis", "addrs": [%q], "health_check_interval": "1s"}
		}}}`, store, channel, addr)
		return configtest.Load(t, cfg)
	}
	one, two := load("one"), load("two")
	conf := redisconn.Config{Addrs: []string{addr}}
	client, refs := redisconn.Pooled(conf)
	if client == nil || refs != 2 {
		t.Fatalf("pooled client of %s held %d times; want one client held by both buses", addr, refs)
	}

	ctx := t.Context()
	if err := two.Default().Set(ctx, "k", "old"); err != nil {
		t.Fatalf("Set on instance two = %v", err)
	}
	if err := one.Default().Set(ctx, "k", "new"); err != nil {
		t.Fatalf("Set on instance one = %v", err)
	}
	stale := eventually(t, deliveryTimeout, func() bool {
		_, found, err := bento.Get[string](ctx, two.Default(), "k")
		return err == nil && !found
	})
	if !stale {
		t.Errorf("instance two still reads its L1 copy of %q %v after instance one's Set; want it stale (missing without grace)", "k", deliveryTimeout)
	}

	for i, b := range []*bento.Bento{one, two} {
		if err := b.Close(); err != nil {
			t.Errorf("Close() of instance %d = %v; want <nil>", i+1, err)
		}
	}
	if c, _ := redisconn.Pooled(conf); c != nil {
		t.Error("the bus client is still pooled after both instances closed; want it released")
	}
	if err := client.Ping(ctx).Err(); !errors.Is(err, goredis.ErrClosed) {
		t.Errorf("Ping on the shared client after both instances closed = %v; want goredis.ErrClosed", err)
	}
	if left := busGoroutinesBack(t, before); left != nil {
		t.Errorf("%d goroutines of the bus outlive Close:\n%s", len(left), strings.Join(left, "\n\n"))
	}
}
