package bento_test

import (
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/bentocache/bento"
	_ "github.com/bentocache/bento/modules/buses/memory"
	_ "github.com/bentocache/bento/modules/drivers/memory"
	_ "github.com/bentocache/bento/modules/serializers/msgpack"
)

func TestLoadJSON(t *testing.T) {
	t.Setenv("BENTO_TEST_PREFIX", "shop")
	logger := zap.L()
	b, err := bento.LoadJSON(t.Context(), []byte(`{
		"default": "main",
		"defaults": {"ttl": "1h", "grace": "6h"},
		"stores": {
			"main": {
				"prefix": "{env.BENTO_TEST_PREFIX}",
				"ttl": "10m",
				"l1": {"driver": "memory", "max_items": 1000, "max_size": "64MiB"},
				"bus": {"bus": "memory"},
				"serializer": {"serializer": "msgpack"}
			},
			"sessions": {"l1": {"driver": "memory"}, "lock_timeout": "2s"}
		}
	}`))
	if err != nil {
		t.Fatalf("LoadJSON = %v", err)
	}
	defer b.Close()
	if zap.L() != logger {
		t.Error("LoadJSON replaced the process-wide logger")
	}
	if got := b.Stores(); strings.Join(got, ",") != "main,sessions" {
		t.Errorf("Stores() = %v; want [main sessions]", got)
	}
	ctx := t.Context()
	c := b.Namespace("users")
	if err := c.Set(ctx, "42", "Ada"); err != nil {
		t.Fatal(err)
	}
	if v, found, err := bento.Get[string](ctx, c, "42"); err != nil || !found || v != "Ada" {
		t.Errorf("Get = %q, %v, %v; want \"Ada\", true, <nil>", v, found, err)
	}
	rec := record(b)
	_ = c.Set(ctx, "43", "Bob")
	// Publishing is asynchronous: the message goes out soon after the Set.
	deadline := time.Now().Add(10 * time.Second)
	published43 := func(e bento.Event) bool { return slices.Equal(e.Keys, []string{"43"}) }
	for rec.count(bento.EventBusPublished, published43) == 0 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	if n := rec.count(bento.EventBusPublished, published43); n != 1 {
		t.Errorf("a Set on a store with a configured bus published %d messages; want 1", n)
	}
}

func TestLoadJSON_Errors(t *testing.T) {
	tests := []struct {
		name, json string
		says       []string
		is         error
	}{
		{"UnknownModule", `{"stores": {"s": {"l2": {"driver": "cassandra"}}}}`,
			[]string{`store "s"`, `field "l2"`, `"bento.drivers.cassandra"`, "xbento build --with"}, bento.ErrUnknownModule},
		{"BuiltinNotCompiledIn", `{"stores": {"s": {"l2": {"driver": "redis"}}}}`,
			[]string{`"bento.drivers.redis"`, "xbento build --with github.com/bentocache/bento/modules/drivers/redis"}, bento.ErrUnknownModule},
		{"WrongLayer", `{"stores": {"s": {"l2": {"driver": "memory"}}}}`,
			[]string{`store "s"`, `field "l2"`, `"bento.drivers.memory" is not an L2 driver: it serves l1`}, nil},
		{"MissingModuleName", `{"stores": {"s": {"l1": {"max_items": 3}}}}`,
			[]string{`field "l1"`, `missing "driver"`}, nil},
		{"BadDuration", `{"stores": {"s": {"l1": {"driver": "memory"}, "ttl": "30x"}}}`,
			[]string{`store "s"`, `field "ttl"`, `30x`}, nil},
		{"BadSize", `{"stores": {"s": {"l1": {"driver": "memory", "max_size": "64 zorks"}}}}`,
			[]string{`field "l1"`, "bento.drivers.memory", `invalid size "64 zorks"`}, nil},
		{"UnknownStoreField", `{"stores": {"s": {"l1": {"driver": "memory"}, "tll": "1m"}}}`,
			[]string{`store "s"`, `unknown field "tll"`}, nil},
		{"UnknownModuleField", `{"stores": {"s": {"l1": {"driver": "memory", "max_itemz": 3}}}}`,
			[]string{`field "l1"`, "max_itemz"}, nil},
		{"UnknownTopField", `{"store": {}}`, []string{`unknown field "store"`}, nil},
		{"NegativeTTL", `{"stores": {"s": {"l1": {"driver": "memory"}, "ttl": "-1m"}}}`,
			[]string{`store "s"`, "TTL must not be negative"}, nil},
		{"BusChannelInDefaults", `{"defaults": {"bus_channel": "x"}, "stores": {"s": {"l1": {"driver": "memory"}}}}`,
			[]string{"defaults", "bus_channel"}, nil},
		{"InvalidModuleOption", `{"stores": {"s": {"l1": {"driver": "memory", "max_items": -5}}}}`,
			[]string{`store "s"`, "max_items must not be negative"}, nil},
		{"NegativeSize", `{"stores": {"s": {"l1": {"driver": "memory", "max_size": "-1KiB"}}}}`,
			[]string{`field "l1"`, `field "max_size"`, `invalid size "-1KiB"`}, nil},
		{"HugeSize", `{"stores": {"s": {"l1": {"driver": "memory", "max_entry_size": "1e30"}}}}`,
			[]string{`field "max_entry_size"`, `invalid size "1e30"`}, nil},
		{"HugeSizeNumber", `{"stores": {"s": {"l1": {"driver": "memory", "max_entry_size": 1e30}}}}`,
			[]string{`field "max_entry_size"`, `invalid size 1e30`}, nil},
		{"SizePast64Bits", `{"stores": {"s": {"l1": {"driver": "memory", "max_size": "16EiB"}}}}`,
			[]string{`field "max_size"`, `invalid size "16EiB"`}, nil},
		{"LongSize", `{"stores": {"s": {"l1": {"driver": "memory", "max_size": "` + strings.Repeat("9", 1<<20) + `x"}}}}`,
			[]string{`field "max_size"`, "… (1048577 bytes)"}, nil},
		{"NegativeRetryQueue", `{"stores": {"s": {"l1": {"driver": "memory"}, "retry_queue_size": -7}}}`,
			[]string{`store "s"`, `field "retry_queue_size"`, "-7 is not a bound"}, nil},
		{"NegativeRetryQueueInDefaults", `{"defaults": {"retry_queue_size": -2}, "stores": {"s": {"l1": {"driver": "memory"}}}}`,
			[]string{"defaults", `field "retry_queue_size"`, "-2 is not a bound"}, nil},
		{"NoStores", `{}`, []string{"no stores"}, nil},
		{"NotJSON", `{"stores": `, []string{"config"}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, err := bento.LoadJSON(t.Context(), []byte(tt.json))
			if err == nil {
				b.Close()
				t.Fatalf("LoadJSON(%s) succeeded; want an error saying %q", tt.json, tt.says)
			}
			for _, s := range tt.says {
				if !strings.Contains(err.Error(), s) {
					t.Errorf("LoadJSON error %.300q does not say %q", err, s)
				}
			}
			if len(err.Error()) > 1000 {
				t.Errorf("LoadJSON error is %d bytes long; want user input abridged", len(err.Error()))
			}
			if tt.is != nil && !errors.Is(err, tt.is) {
				t.Errorf("LoadJSON error %q is not %v", err, tt.is)
			}
		})
	}
}

// TestLoadJSON_ReloadKeepsL1: a second manager loaded from the same config
// while the first still runs (what a Caddy reload does) shares its L1
// contents; once both are closed, the contents are gone.
func TestLoadJSON_ReloadKeepsL1(t *testing.T) {
	cfg := []byte(`{"stores": {"reload": {"l1": {"driver": "memory", "max_items": 100}, "ttl": "1h"}}}`)
	ctx := t.Context()
	old, err := bento.LoadJSON(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	_ = old.Default().Set(ctx, "k", "v")
	next, err := bento.LoadJSON(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	_ = old.Close()
	if v, found, _ := bento.Get[string](ctx, next.Default(), "k"); !found || v != "v" {
		t.Errorf("Get on the reloaded manager = %q, %v; want the L1 value \"v\" kept across the reload", v, found)
	}
	_ = next.Close()
	fresh, err := bento.LoadJSON(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer fresh.Close()
	if _, found, _ := bento.Get[string](ctx, fresh.Default(), "k"); found {
		t.Error("a manager loaded after every user of the L1 closed still sees its contents")
	}
}

func TestParseSize(t *testing.T) {
	tests := []struct {
		in   string
		want bento.Size
	}{
		{"64MiB", 64 << 20},
		{"1GB", 1_000_000_000},
		{"512 KiB", 512 << 10},
		{"4096", 4096},
	}
	for _, tt := range tests {
		if got, err := bento.ParseSize(tt.in); err != nil || got != tt.want {
			t.Errorf("ParseSize(%q) = %d, %v; want %d", tt.in, got, err, tt.want)
		}
	}
	if _, err := bento.ParseSize("lots"); err == nil {
		t.Error(`ParseSize("lots") succeeded; want an error`)
	}
}
