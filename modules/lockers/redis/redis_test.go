package redis_test

import (
	"context"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	goredis "github.com/redis/go-redis/v9"

	"github.com/bentocache/bento"
	"github.com/bentocache/bento/drivertest"
	"github.com/bentocache/bento/internal/testenv"
	_ "github.com/bentocache/bento/modules/drivers/memory"
	_ "github.com/bentocache/bento/modules/drivers/redis"
	redislocker "github.com/bentocache/bento/modules/lockers/redis"
)

func TestLocker_Suite(t *testing.T) {
	addr := testenv.Redis(t)
	t.Run("OwnClient", func(t *testing.T) {
		drivertest.Locker(t, func(t *testing.T) bento.Locker {
			return redislocker.New(redislocker.Options{Addrs: []string{addr}, Lease: 300 * time.Millisecond})
		})
	})
	t.Run("ApplicationClient", func(t *testing.T) {
		client := goredis.NewClient(&goredis.Options{Addr: addr})
		t.Cleanup(func() { _ = client.Close() })
		drivertest.Locker(t, func(t *testing.T) bento.Locker {
			return redislocker.New(redislocker.Options{Client: client, Lease: 300 * time.Millisecond})
		})
	})
}

// TestModule_FromConfig: a store with "locker": {"locker": "redis"} from
// JSON and from the Caddyfile takes the lock around its factory.
func TestModule_FromConfig(t *testing.T) {
	addr := testenv.Redis(t)
	prefix := testenv.Prefix(t)
	b, err := bento.LoadJSON(t.Context(), []byte(`{"stores": {"main": {
		"prefix": "`+prefix+`",
		"l1": {"driver": "memory"},
		"l2": {"driver": "redis", "addrs": ["`+addr+`"]},
		"locker": {"locker": "redis", "addrs": ["`+addr+`"], "lease": "2s"}}}}`))
	if err != nil {
		t.Fatalf("LoadJSON = %v", err)
	}
	defer b.Close()
	v, err := bento.GetOrSet(t.Context(), b.Default(), "k", func(context.Context, *bento.FactoryContext[string]) (string, error) {
		return "v", nil
	})
	if err != nil || v != "v" {
		t.Errorf("GetOrSet = %q, %v", v, err)
	}
	_ = b.Default().Clear(t.Context())

	var l redislocker.Locker
	d := caddyfile.NewTestDispenser(`redis ` + addr + ` {
		lease 3s
	}`)
	if err := l.UnmarshalCaddyfile(d); err != nil || time.Duration(l.Lease) != 3*time.Second || len(l.Addrs) != 1 {
		t.Errorf("UnmarshalCaddyfile = %v, lease %v, addrs %v; want 3s and the address", err, time.Duration(l.Lease), l.Addrs)
	}
	if err := l.UnmarshalCaddyfile(caddyfile.NewTestDispenser(`redis { lease soon }`)); err == nil {
		t.Error("UnmarshalCaddyfile(lease soon) = <nil>; want an error naming lease")
	}
}
