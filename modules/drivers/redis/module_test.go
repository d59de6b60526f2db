package redis_test

import (
	"errors"
	"fmt"
	"slices"
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
	_ "github.com/bentocache/bento/modules/buses/redis"
	_ "github.com/bentocache/bento/modules/drivers/memory"
	"github.com/bentocache/bento/modules/drivers/redis"
)

func TestDriver_UnmarshalCaddyfile(t *testing.T) {
	tests := []caddyfiletest.Case{
		{Name: "Bare", Input: `redis`, Want: `{}`},
		{Name: "ShortForm", Input: `redis 127.0.0.1:6379`, Want: `{"addrs":["127.0.0.1:6379"]}`},
		{Name: "ShortFormCluster", Input: `redis a:1 b:1 c:1`, Want: `{"addrs":["a:1","b:1","c:1"]}`},
		{Name: "Block", Input: `redis {
			addrs a:1 b:1
			cluster
			username app
			password {env.REDIS_PASSWORD}
			dial_timeout 2s
			tls
			tls_server_name redis.example
			tls_insecure_skip_verify
			prefix app
		}`, Want: `{"addrs":["a:1","b:1"],"cluster":true,"username":"app","password":"{env.REDIS_PASSWORD}",` +
			`"dial_timeout":2000000000,"tls":true,"tls_server_name":"redis.example","tls_insecure_skip_verify":true,"prefix":"app"}`},
		{Name: "ShortFormAndBlock", Input: "redis 10.0.0.1:6379 {\n\tdb 3\n\tprefix cache\n}",
			Want: `{"addrs":["10.0.0.1:6379"],"db":3,"prefix":"cache"}`},
	}
	caddyfiletest.JSON(t, func() *redis.Driver { return new(redis.Driver) }, tests)
}

func TestDriver_UnmarshalCaddyfileErrors(t *testing.T) {
	tests := []struct {
		name, input, wantErr string
	}{
		{name: "PrefixWithoutValue", input: "redis {\n\tprefix\n}", wantErr: "prefix takes one value, got 0"},
		{name: "PrefixTwoValues", input: "redis {\n\tprefix a b\n}", wantErr: "prefix takes one value, got 2"},
		{name: "BusOption", input: "redis {\n\thealth_check_interval 1s\n}", wantErr: `unknown redis driver option "health_check_interval"`},
		{name: "ConnectionOption", input: "redis {\n\tdb x\n}", wantErr: `db: "x" is not a whole number`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := new(redis.Driver).UnmarshalCaddyfile(caddyfile.NewTestDispenser(tt.input))
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("UnmarshalCaddyfile(%q) = %v; want an error containing %q", tt.input, err, tt.wantErr)
			}
		})
	}
}

// provision provisions dr as Caddy would, in a context cancelled when t ends.
func provision(t *testing.T, dr *redis.Driver) error {
	t.Helper()
	ctx, cancel := caddy.NewContext(caddy.Context{Context: t.Context()})
	t.Cleanup(cancel)
	return dr.Provision(ctx)
}

func TestDriver_ProvisionDoesNoIO(t *testing.T) {
	dr := &redis.Driver{Addrs: []string{testenv.ClosedAddr(t)}, DialTimeout: caddy.Duration(time.Second), Prefix: "p"}
	start := time.Now()
	if err := provision(t, dr); err != nil {
		t.Fatalf("Provision() = %v; want <nil>", err)
	}
	if err := dr.Validate(); err != nil {
		t.Errorf("Validate() = %v; want <nil>", err)
	}
	if d := time.Since(start); d > 100*time.Millisecond {
		t.Errorf("Provision and Validate took %v with an unreachable server; want no I/O", d)
	}
	for i := range 2 {
		if err := dr.Cleanup(); err != nil {
			t.Errorf("Cleanup() #%d = %v; want <nil>", i+1, err)
		}
	}
	if c, refs := redisconn.Pooled(redisconn.Config{Addrs: dr.Addrs, DialTimeout: time.Second}); c != nil || refs != 0 {
		t.Errorf("after Cleanup the pool holds the client %d times; want released", refs)
	}
	if err := new(redis.Driver).Cleanup(); err != nil {
		t.Errorf("Cleanup() of a driver never provisioned = %v; want <nil>", err)
	}
}

func TestDriver_ConfigErrors(t *testing.T) {
	tests := []struct {
		name, l2 string
		wantErr  []string
	}{
		{name: "DBOnCluster", l2: `{"driver": "redis", "addrs": ["a:1"], "cluster": true, "db": 1}`,
			wantErr: []string{`stores.main.l2: module "bento.drivers.redis"`, "redis: db is 1 with a cluster"}},
		{name: "EmptyAddr", l2: `{"driver": "redis", "addrs": [""]}`,
			wantErr: []string{"bento.drivers.redis", "redis: addrs[0] is empty"}},
		{name: "UnsetPlaceholder", l2: `{"driver": "redis", "addrs": ["{env.BENTO_TEST_UNSET_VARIABLE}"]}`,
			wantErr: []string{"redis: addrs[0] is empty"}},
		{name: "ServerNameWithoutTLS", l2: `{"driver": "redis", "tls_server_name": "r.example"}`,
			wantErr: []string{"redis: tls_server_name is set but tls is off"}},
		{name: "NegativeDialTimeout", l2: `{"driver": "redis", "dial_timeout": "-1s"}`,
			wantErr: []string{"redis: dial_timeout is -1s"}},
		{name: "UnknownField", l2: `{"driver": "redis", "adrs": ["a:1"]}`,
			wantErr: []string{"bento.drivers.redis", "adrs"}},
		{name: "MemoryInL2", l2: `{"driver": "memory"}`, wantErr: []string{"is not an L2 driver"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := fmt.Sprintf(`{"stores": {"main": {"l2": %s}}}`, tt.l2)
			configtest.LoadFails(t, cfg, tt.wantErr...)
		})
	}
	if n := pooledClients(); n != 0 {
		t.Errorf("after the failed loads the pool holds %d clients; want none: a module that fails is cleaned up", n)
	}
}

// pooledClients counts the clients of the configs TestDriver_ConfigErrors
// uses that are still pooled.
func pooledClients() int {
	n := 0
	for _, c := range []redisconn.Config{
		{Addrs: []string{"a:1"}, Cluster: true, DB: 1}, {Addrs: []string{""}}, {TLSServerName: "r.example"},
		{DialTimeout: -time.Second},
	} {
		if client, _ := redisconn.Pooled(c); client != nil {
			n++
		}
	}
	return n
}

// storeJSON is a manager config with one store "main" on a memory L1, a
// redis L2 and a redis bus at addr, under prefix.
func storeJSON(addr, prefix string) []byte {
	return fmt.Appendf(nil, `{"stores": {"main": {
		"prefix": %q,
		"bus_channel": %q,
		"l1": {"driver": "memory"},
		"l2": {"driver": "redis", "addrs": [%q]},
		"bus": {"bus": "redis", "addrs": [%q]}
	}}}`, prefix, prefix+":bus", addr, addr)
}

// TestLoadJSON_RedisL2AndBus loads two managers from the same JSON, as a
// config reload does (the new config is loaded before the old one stops):
// their L2 drivers and buses share one client, which stays open while
// either holds it and is closed when both have closed.
func TestLoadJSON_RedisL2AndBus(t *testing.T) {
	addr := testenv.Redis(t)
	prefix := testenv.Prefix(t)
	keeper := newClient(t, addr)
	t.Cleanup(func() { removeKeys(t, keeper, prefix) })
	conf := redisconn.Config{Addrs: []string{addr}}
	if c, _ := redisconn.Pooled(conf); c != nil {
		t.Fatalf("a client of %s is pooled before the test; want none (no other test may provision on it meanwhile)", addr)
	}

	var managers [2]*bento.Bento
	for i := range managers {
		b, err := bento.LoadJSON(t.Context(), storeJSON(addr, prefix))
		if err != nil {
			t.Fatalf("LoadJSON #%d = %v; want <nil>", i+1, err)
		}
		t.Cleanup(func() { _ = b.Close() })
		managers[i] = b
	}
	client, refs := redisconn.Pooled(conf)
	if client == nil || refs != 4 {
		t.Fatalf("pooled client of %s: %v held %d times; want one client held 4 times (the L2 and the bus of both managers)", addr, client, refs)
	}

	received := make(chan []string, 16)
	off := managers[1].On(func(e bento.Event) {
		if e.Kind == bento.EventBusReceived {
			received <- e.Keys
		}
	})
	defer off()

	ctx := t.Context()
	if err := managers[0].Default().Set(ctx, "k", "v1"); err != nil {
		t.Fatalf("Set(ctx, %q, %q) on manager 1 = %v; want <nil>", "k", "v1", err)
	}
	if n, err := keeper.Exists(ctx, prefix+":k").Result(); err != nil || n != 1 {
		t.Errorf("EXISTS %s:k = %d, %v; want 1: the entry is in Redis", prefix, n, err)
	}
	if v, found, err := bento.Get[string](ctx, managers[1].Default(), "k"); err != nil || !found || v != "v1" {
		t.Errorf("Get(ctx, %q) on manager 2 = %q, %t, %v; want %q, true, <nil>", "k", v, found, err, "v1")
	}
	select {
	case keys := <-received:
		if !slices.Equal(keys, []string{"k"}) {
			t.Errorf("manager 2 received a bus message for %q; want [k]", keys)
		}
	case <-time.After(10 * time.Second):
		t.Error("manager 2 received no bus message for manager 1's Set within 10s")
	}

	if err := managers[0].Close(); err != nil {
		t.Errorf("Close() of manager 1 = %v; want <nil>", err)
	}
	if c, refs := redisconn.Pooled(conf); c != client || refs != 2 {
		t.Errorf("after manager 1 closed, the pool holds %v %d times; want the same client, twice", c, refs)
	}
	if err := client.Ping(ctx).Err(); err != nil {
		t.Errorf("Ping on the shared client while manager 2 holds it = %v; want <nil>", err)
	}
	if err := managers[1].Default().Set(ctx, "k", "v2"); err != nil {
		t.Errorf("Set on manager 2 after manager 1 closed = %v; want <nil>", err)
	}

	if err := managers[1].Close(); err != nil {
		t.Errorf("Close() of manager 2 = %v; want <nil>", err)
	}
	if c, refs := redisconn.Pooled(conf); c != nil || refs != 0 {
		t.Errorf("after both managers closed, the pool holds %v %d times; want nothing", c, refs)
	}
	if err := client.Ping(ctx).Err(); !errors.Is(err, goredis.ErrClosed) {
		t.Errorf("Ping on the shared client after both managers closed = %v; want goredis.ErrClosed", err)
	}
}

// TestLoadJSON_TwoStoresShareOneClient: two stores on the same server, in
// one manager, share one client; another database gets its own.
func TestLoadJSON_TwoStoresShareOneClient(t *testing.T) {
	addr := testenv.Redis(t)
	prefix := testenv.Prefix(t)
	keeper := newClient(t, addr)
	t.Cleanup(func() { removeKeys(t, keeper, prefix) })
	cfg := fmt.Sprintf(`{"default": "a", "stores": {
		"a": {"prefix": %[1]q, "l2": {"driver": "redis", "addrs": [%[2]q], "dial_timeout": "3s"}},
		"b": {"prefix": %[1]q, "l2": {"driver": "redis", "addrs": [%[2]q], "dial_timeout": "3s", "prefix": "other"}},
		"c": {"prefix": %[1]q, "l2": {"driver": "redis", "addrs": [%[2]q], "dial_timeout": "3s", "db": 1}}
	}}`, prefix, addr)
	b, err := bento.LoadJSON(t.Context(), []byte(cfg))
	if err != nil {
		t.Fatalf("LoadJSON = %v; want <nil>", err)
	}
	t.Cleanup(func() { _ = b.Close() })
	conf := redisconn.Config{Addrs: []string{addr}, DialTimeout: 3 * time.Second}
	if c, refs := redisconn.Pooled(conf); c == nil || refs != 2 {
		t.Errorf("client of stores a and b held %d times; want 2: the driver prefix is not a connection setting", refs)
	}
	db1 := conf
	db1.DB = 1
	if c, refs := redisconn.Pooled(db1); c == nil || refs != 1 {
		t.Errorf("client of store c (db 1) held %d times; want 1, a client of its own", refs)
	}
	for _, name := range []string{"a", "b"} {
		c, _ := b.Use(name)
		if err := c.Set(t.Context(), "k", name); err != nil {
			t.Fatalf("Set on store %s = %v", name, err)
		}
	}
	if n, err := keeper.Exists(t.Context(), prefix+":k", "other:"+prefix+":k").Result(); err != nil || n != 2 {
		t.Errorf("EXISTS %[1]s:k other:%[1]s:k = %d, %v; want 2: the driver prefix comes before the store's", prefix, n, err)
	}
	if err := b.Close(); err != nil {
		t.Errorf("Close() = %v; want <nil>", err)
	}
	if c, _ := redisconn.Pooled(conf); c != nil {
		t.Error("the client of stores a and b is still pooled after Close; want it released and closed")
	}
	removeKeys(t, keeper, "other:"+prefix)
}
