package bento_test

import (
	"errors"
	"os"
	"path/filepath"
	"regexp"
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

// TestLoadJSON_Errors: a config error names the JSON path of what was wrong
// as the user wrote it, says each prefix once and reads as English.
func TestLoadJSON_Errors(t *testing.T) {
	const storeFields = "bentocache_compat, bus, bus_channel, eager_refresh, grace, grace_backoff, hard_timeout, jitter, l1, l2, l2_circuit_breaker, l2_recovery_queue, lock_timeout, locker, max_clock_skew, prefix, retry_interval, retry_queue_size, serializer, suppress_l2_errors, timeout, ttl"
	tests := []struct {
		name, json string
		want       string // the whole message
		is         error
	}{
		{"UnknownModule", `{"stores": {"s": {"l2": {"driver": "cassandra"}}}}`,
			`bento: config: stores.s.l2: unknown module "bento.drivers.cassandra": it is not compiled in (bento.drivers modules compiled in: memory); ` +
				`if a third-party module provides it, build a binary that has it with: xbento build --with <the Go module that registers it>`, bento.ErrUnknownModule},
		{"ModuleTypo", `{"stores": {"s": {"l1": {"driver": "memroy"}}}}`,
			`bento: config: stores.s.l1: unknown module "bento.drivers.memroy": did you mean "memory"? (bento.drivers modules compiled in: memory)`, bento.ErrUnknownModule},
		{"ModuleTypoOfBuiltinNotCompiledIn", `{"stores": {"s": {"l2": {"driver": "reddis"}}}}`,
			`bento: config: stores.s.l2: unknown module "bento.drivers.reddis": did you mean "redis"? (bento.drivers modules compiled in: memory)`, bento.ErrUnknownModule},
		{"BuiltinNotCompiledIn", `{"stores": {"s": {"l2": {"driver": "redis"}}}}`,
			`bento: config: stores.s.l2: unknown module "bento.drivers.redis": it is not compiled in (bento.drivers modules compiled in: memory); ` +
				`import _ "github.com/bentocache/bento/modules/drivers/redis", or build a binary that has it with: xbento build --with github.com/bentocache/bento/modules/drivers/redis`, bento.ErrUnknownModule},
		{"WrongLayer", `{"stores": {"s": {"l2": {"driver": "memory"}}}}`,
			`bento: config: stores.s.l2: module "bento.drivers.memory" is not an L2 driver: it serves l1, not l2`, nil},
		{"MissingModuleName", `{"stores": {"s": {"l1": {"max_items": 3}}}}`,
			`bento: config: stores.s.l1: missing "driver": the name of a bento.drivers module, such as {"driver": "memory"}`, nil},
		{"BadDuration", `{"stores": {"s": {"l1": {"driver": "memory"}, "ttl": "30x"}}}`,
			`bento: config: stores.s.ttl: invalid duration "30x": want a number and a unit, such as "30s", "10m" or "6h"`, nil},
		{"BadSize", `{"stores": {"s": {"l1": {"driver": "memory", "max_size": "64 zorks"}}}}`,
			`bento: config: stores.s.l1: module "bento.drivers.memory": max_size: invalid size "64 zorks": want a number of bytes with an optional unit, such as "64MiB"`, nil},
		{"UnknownStoreField", `{"stores": {"s": {"l1": {"driver": "memory"}, "tll": "1m"}}}`,
			`bento: config: stores.s: unknown field "tll"; did you mean "ttl"? known fields: ` + storeFields, nil},
		{"UnknownModuleField", `{"stores": {"s": {"l1": {"driver": "memory", "max_item": 3}}}}`,
			`bento: config: stores.s.l1: module "bento.drivers.memory": unknown field "max_item"; did you mean "max_items"? known fields: max_entry_size, max_items, max_size, prefix`, nil},
		{"UnknownTopField", `{"store": {}}`, `bento: config: top level: unknown field "store"; did you mean "stores"? known fields: default, defaults, stores`, nil},
		{"StoreNameWithDot", `{"stores": {"a.b": {"tll": "1m"}}}`, `bento: config: stores["a.b"]: unknown field "tll"; did you mean "ttl"? known fields: ` + storeFields, nil},
		{"NegativeTTL", `{"stores": {"s": {"l1": {"driver": "memory"}, "ttl": "-1m"}}}`,
			`bento: config: stores.s.ttl: must not be negative, got "-1m"`, nil},
		{"NegativeDefaultTTL", `{"defaults": {"ttl": "-5m"}, "stores": {"s": {"l1": {"driver": "memory"}}}}`,
			`bento: config: defaults.ttl: must not be negative, got "-5m"`, nil},
		{"WrongType", `{"stores": {"s": {"l1": {"driver": "memory"}, "prefix": 5}}}`,
			`bento: config: stores.s.prefix: want a string, got a number`, nil},
		{"BusChannelInDefaults", `{"defaults": {"bus_channel": "x"}, "stores": {"s": {"l1": {"driver": "memory"}}}}`,
			`bento: config: defaults: "bus_channel" applies to one store: set it in the store`, nil},
		{"InvalidModuleOption", `{"stores": {"s": {"l1": {"driver": "memory", "max_items": -5}}}}`,
			`bento: config: stores.s.l1: module "bento.drivers.memory": memory: max_items must not be negative, got -5`, nil},
		{"NegativeSize", `{"stores": {"s": {"l1": {"driver": "memory", "max_size": "-1KiB"}}}}`, `bento: config: stores.s.l1: module "bento.drivers.memory": max_size: invalid size "-1KiB": want a number of bytes with an optional unit, such as "64MiB"`, nil},
		{"HugeSize", `{"stores": {"s": {"l1": {"driver": "memory", "max_entry_size": "1e30"}}}}`, `bento: config: stores.s.l1: module "bento.drivers.memory": max_entry_size: invalid size "1e30": want a number of bytes with an optional unit, such as "64MiB"`, nil},
		{"HugeSizeNumber", `{"stores": {"s": {"l1": {"driver": "memory", "max_entry_size": 1e30}}}}`, `bento: config: stores.s.l1: module "bento.drivers.memory": max_entry_size: invalid size 1e30: want a whole number of bytes or a string such as "64MiB"`, nil},
		{"SizePast64Bits", `{"stores": {"s": {"l1": {"driver": "memory", "max_size": "16EiB"}}}}`, `bento: config: stores.s.l1: module "bento.drivers.memory": max_size: invalid size "16EiB": want a number of bytes with an optional unit, such as "64MiB"`, nil},
		{"LongSize", `{"stores": {"s": {"l1": {"driver": "memory", "max_size": "` + strings.Repeat("9", 1<<20) + `x"}}}}`, `bento: config: stores.s.l1: module "bento.drivers.memory": max_size: invalid size "` + strings.Repeat("9", 64) + `"… (1048577 bytes): want a number of bytes with an optional unit, such as "64MiB"`, nil},
		{"NegativeRetryQueue", `{"stores": {"s": {"l1": {"driver": "memory"}, "retry_queue_size": -7}}}`, `bento: config: stores.s.retry_queue_size: -7 is not a bound: want a number of messages, 0 for no bound or -1 for no retry queue`, nil},
		{"NegativeRetryQueueInDefaults", `{"defaults": {"retry_queue_size": -2}, "stores": {"s": {"l1": {"driver": "memory"}}}}`, `bento: config: defaults.retry_queue_size: -2 is not a bound: want a number of messages, 0 for no bound or -1 for no retry queue`, nil},
		{"NoStores", `{}`, `bento: config has no stores`, nil},
		{"NotJSON", `{"stores": `, `bento: config: top level: want a JSON object: the JSON ends too early`, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, err := bento.LoadJSON(t.Context(), []byte(tt.json))
			if err == nil {
				b.Close()
				t.Fatalf("LoadJSON(%s) succeeded; want the error %q", tt.json, tt.want)
			}
			if err.Error() != tt.want {
				t.Errorf("LoadJSON(%s) error:\n got %s\nwant %s", tt.json, err, tt.want)
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

// TestLoadJSON_Durations: a TTL, grace or timeout under a millisecond is
// rejected (a bare number counts nanoseconds, so {"ttl": 600} is 600ns), and
// the message shows the string form; 0 and whole strings pass.
func TestLoadJSON_Durations(t *testing.T) {
	tests := []struct {
		name, opts string
		want       string // "" for a valid config
	}{
		{"BareTTL", `"ttl": 600`, `bento: config: stores.s.ttl: 600 is 600ns, under 1ms: a bare number counts nanoseconds; write the unit, such as "600s" for 600 seconds`},
		{"BareGrace", `"grace": 3600`, `bento: config: stores.s.grace: 3600 is 3.6µs, under 1ms: a bare number counts nanoseconds; write the unit, such as "3600s" for 3600 seconds`},
		{"BareTimeout", `"timeout": 200`, `bento: config: stores.s.timeout: 200 is 200ns, under 1ms: a bare number counts nanoseconds; write the unit, such as "200s" for 200 seconds`},
		{"StringUnderMillisecond", `"lock_timeout": "500us"`, `bento: config: stores.s.lock_timeout: "500us" is under 1ms, the finest timing bento keeps: use 0 or at least "1ms"`},
		{"BareFraction", `"ttl": 1.5`, `bento: config: stores.s.ttl: invalid duration "1.5": a bare number counts whole nanoseconds; write a string such as "30s"`},
		{"NotADuration", `"ttl": true`, `bento: config: stores.s.ttl: want a duration such as "30s", got a bool`},
		{"BareZero", `"ttl": 0`, ""},
		{"BareNanosecondsOfAnHour", `"ttl": 3600000000000`, ""},
		{"String", `"ttl": "600s", "grace": "6h", "timeout": "1ms"`, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := `{"stores": {"s": {"l1": {"driver": "memory"}, ` + tt.opts + `}}}`
			b, err := bento.LoadJSON(t.Context(), []byte(cfg))
			if err == nil {
				b.Close()
			}
			switch {
			case tt.want == "" && err != nil:
				t.Errorf("LoadJSON(%s) = %v; want <nil>", cfg, err)
			case tt.want != "" && (err == nil || err.Error() != tt.want):
				t.Errorf("LoadJSON(%s) error:\n got %v\nwant %s", cfg, err, tt.want)
			}
		})
	}
}

var abridged = regexp.MustCompile(`x"… \(10485\d\d bytes\)`)

// TestLoadJSON_AbridgedInput: a huge module name or field name makes an
// error of bounded size, quoting the input once, abridged.
func TestLoadJSON_AbridgedInput(t *testing.T) {
	huge := strings.Repeat("x", 1<<20)
	for _, cfg := range []string{
		`{"stores": {"s": {"l1": {"driver": "` + huge + `"}}}}`,
		`{"stores": {"s": {"l1": {"driver": "memory", "` + huge + `": 1}}}}`,
		`{"stores": {"s": {"` + huge + `": 1}}}`,
		`{"stores": {"` + huge + `": {"ttl": "-1s"}}}`,
	} {
		_, err := bento.LoadJSON(t.Context(), []byte(cfg))
		if err == nil {
			t.Fatal("LoadJSON with a 1 MiB name succeeded; want an error")
		}
		if n := len(err.Error()); n > 1024 {
			t.Errorf("LoadJSON with a 1 MiB name: a %d-byte error; want at most 1 KiB, the name abridged: %.200s…", n, err)
		}
		if n := len(abridged.FindAllString(err.Error(), -1)); n != 1 {
			t.Errorf("LoadJSON with a 1 MiB name: error %.300s… says the name's length %d times; want once", err, n)
		}
	}
}

// TestLoadJSON_PlaceholderInModuleName: a module name is not expanded, so
// a {file.…} placeholder there never puts the file's contents into the
// error; placeholders in other values still expand.
func TestLoadJSON_PlaceholderInModuleName(t *testing.T) {
	secret := filepath.Join(t.TempDir(), "secret")
	if err := os.WriteFile(secret, []byte("hunter2"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, cfg := range []string{
		`{"stores": {"s": {"l1": {"driver": "{file.` + secret + `}"}}}}`,
		`{"stores": {"s": {"l1": {"driver": "memory"}, "serializer": {"serializer": "{file.` + secret + `}"}}}}`,
	} {
		_, err := bento.LoadJSON(t.Context(), []byte(cfg))
		if err == nil {
			t.Fatalf("LoadJSON(%s) succeeded; want an error", cfg)
		}
		if strings.Contains(err.Error(), "hunter2") {
			t.Errorf("LoadJSON(%s) error %q shows the file's contents", cfg, err)
		}
		if !strings.Contains(err.Error(), "holds a placeholder") {
			t.Errorf("LoadJSON(%s) error %q does not say the module name holds a placeholder", cfg, err)
		}
	}
	b, err := bento.LoadJSON(t.Context(), []byte(`{"stores": {"s": {"l1": {"driver": "memory"}, "prefix": "{file.`+secret+`}"}}}`))
	if err != nil {
		t.Fatalf("LoadJSON with a {file.…} prefix = %v; want <nil>", err)
	}
	b.Close()
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
