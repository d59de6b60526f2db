package caddyfile_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2/caddyconfig"

	"github.com/bentocache/bento"
	_ "github.com/bentocache/bento/caddyfile"
	_ "github.com/bentocache/bento/modules/buses/memory"
	_ "github.com/bentocache/bento/modules/drivers/memory"
	_ "github.com/bentocache/bento/modules/lockers/redis"
	_ "github.com/bentocache/bento/modules/serializers/msgpack"
)

// adapt runs the Caddyfile adapter and returns apps.bento.
func adapt(t *testing.T, src string) (json.RawMessage, error) {
	t.Helper()
	out, _, err := caddyconfig.GetAdapter("caddyfile").Adapt([]byte(src), map[string]any{"filename": "Caddyfile"})
	if err != nil {
		return nil, err
	}
	var cfg struct {
		Apps map[string]json.RawMessage `json:"apps"`
	}
	if err := json.Unmarshal(out, &cfg); err != nil {
		t.Fatalf("adapted config is not JSON: %v", err)
	}
	return cfg.Apps["bento"], nil
}

func TestCaddyfile_RoundTrip(t *testing.T) {
	app, err := adapt(t, `{
	bento {
		default main
		defaults {
			ttl 30m
			grace 6h
		}
		store main {
			ttl 1h
			prefix app
			lock_timeout 2s
			suppress_l2_errors true
			retry_queue_size 100
			eager_refresh 0.8
			jitter 1m
			max_clock_skew 2s
			l2_recovery_queue 500
			bentocache_compat
			l1 memory {
				max_items 1000
				max_size 64MiB
			}
			bus memory
			serializer msgpack
		}
		store sessions {
			l1 memory
		}
	}
}
`)
	if err != nil {
		t.Fatalf("adapt = %v", err)
	}
	for _, want := range []string{`"default":"main"`, `"ttl":3600000000000`, `"driver":"memory"`, `"max_size":67108864`, `"bus":"memory"`, `"serializer":"msgpack"`, `"prefix":"app"`,
		`"eager_refresh":0.8`, `"jitter":60000000000`, `"max_clock_skew":2000000000`, `"l2_recovery_queue":500`, `"bentocache_compat":true`} {
		if !strings.Contains(string(app), want) {
			t.Errorf("adapted JSON %s lacks %s", app, want)
		}
	}
	b, err := bento.LoadJSON(t.Context(), app)
	if err != nil {
		t.Fatalf("LoadJSON(adapted) = %v", err)
	}
	defer b.Close()
	c := b.Namespace("users")
	if err := c.Set(t.Context(), "42", "Ada"); err != nil {
		t.Fatal(err)
	}
	if v, found, _ := bento.Get[string](t.Context(), c, "42"); !found || v != "Ada" {
		t.Errorf("Get through a store built from the Caddyfile = %q, %v; want \"Ada\"", v, found)
	}
}

func TestCaddyfile_Errors(t *testing.T) {
	tests := []struct {
		name, src string
		says      []string
	}{
		{"UnknownModule", "{\n\tbento {\n\t\tstore s {\n\t\t\tl2 cassandra\n\t\t}\n\t}\n}\n",
			[]string{"Caddyfile:4", `"bento.drivers.cassandra"`, "xbento build --with"}},
		{"ModuleTypo", "{\n\tbento {\n\t\tstore s {\n\t\t\tl1 memroy\n\t\t}\n\t}\n}\n",
			[]string{"Caddyfile:4", `l1: unknown module "bento.drivers.memroy": did you mean "memory"?`}},
		{"BadDuration", "{\n\tbento {\n\t\tstore s {\n\t\t\tl1 memory\n\t\t\tttl 30x\n\t\t}\n\t}\n}\n",
			[]string{"Caddyfile:5", "ttl", `"30x"`}},
		{"NegativeDuration", "{\n\tbento {\n\t\tstore s {\n\t\t\tl1 memory\n\t\t\tttl -5m\n\t\t}\n\t}\n}\n",
			[]string{"Caddyfile:5", `ttl: must not be negative, got "-5m"`}},
		{"DurationUnderMillisecond", "{\n\tbento {\n\t\tstore s {\n\t\t\tl1 memory\n\t\t\ttimeout 500us\n\t\t}\n\t}\n}\n",
			[]string{"Caddyfile:5", `timeout: "500us" is under 1ms`}},
		{"BadSize", "{\n\tbento {\n\t\tstore s {\n\t\t\tl1 memory {\n\t\t\t\tmax_size lots\n\t\t\t}\n\t\t}\n\t}\n}\n",
			[]string{"Caddyfile:5", "max_size", `"lots"`}},
		{"UnknownOption", "{\n\tbento {\n\t\tstore s {\n\t\t\tl1 memory\n\t\t\ttll 1m\n\t\t}\n\t}\n}\n",
			[]string{"Caddyfile:5", `unknown store option "tll"`}},
		{"UnknownDriverOption", "{\n\tbento {\n\t\tstore s {\n\t\t\tl1 memory {\n\t\t\t\tmax_itemz 3\n\t\t\t}\n\t\t}\n\t}\n}\n",
			[]string{"Caddyfile:5", `"max_itemz"`}},
		{"MissingModuleName", "{\n\tbento {\n\t\tstore s {\n\t\t\tl1\n\t\t}\n\t}\n}\n",
			[]string{"Caddyfile:4", "l1 needs a module name"}},
		{"NoStore", "{\n\tbento {\n\t}\n}\n", []string{"no store"}},
		{"SecondBlock", "{\n\tbento {\n\t\tstore a {\n\t\t\tl1 memory\n\t\t}\n\t}\n\tbento {\n\t\tstore b {\n\t\t\tl1 memory\n\t\t}\n\t}\n}\n",
			[]string{"Caddyfile:7", "a second bento block", "put every store in the first bento block"}},
		{"NegativeRetryQueue", "{\n\tbento {\n\t\tstore s {\n\t\t\tl1 memory\n\t\t\tretry_queue_size -7\n\t\t}\n\t}\n}\n",
			[]string{"Caddyfile:5", "retry_queue_size", "-7 is not a bound"}},
		{"NegativeSize", "{\n\tbento {\n\t\tstore s {\n\t\t\tl1 memory {\n\t\t\t\tmax_entry_size -1KiB\n\t\t\t}\n\t\t}\n\t}\n}\n",
			[]string{"Caddyfile:5", "max_entry_size", `"-1KiB"`}},
		{"LongValue", "{\n\tbento {\n\t\tstore s {\n\t\t\tl1 memory\n\t\t\tttl " + strings.Repeat("9", 1<<20) + "\n\t\t}\n\t}\n}\n",
			[]string{"Caddyfile:5", "ttl: invalid duration", "… (1048576 bytes)"}},
		{"BadCompat", "{\n\tbento {\n\t\tstore s {\n\t\t\tl1 memory\n\t\t\tbentocache_compat yes please\n\t\t}\n\t}\n}\n",
			[]string{"Caddyfile:5", `bentocache_compat: want true or false, or nothing, got "yes"`}},
		{"BadReadOnly", "{\n\tbento {\n\t\tadmin_read_only maybe\n\t\tstore s {\n\t\t\tl1 memory\n\t\t}\n\t}\n}\n",
			[]string{"Caddyfile:3", `admin_read_only: want true, false or nothing, got "maybe"`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := adapt(t, tt.src)
			if err == nil {
				t.Fatalf("adapt succeeded; want an error saying %q", tt.says)
			}
			for _, s := range tt.says {
				if !strings.Contains(err.Error(), s) {
					t.Errorf("adapt error %.300q does not say %q", err, s)
				}
			}
			if len(err.Error()) > 1000 {
				t.Errorf("adapt error is %d bytes long; want user input abridged", len(err.Error()))
			}
		})
	}
}

// TestCaddyfile_AdminReadOnly: the option reaches the app's JSON.
func TestCaddyfile_AdminReadOnly(t *testing.T) {
	for src, want := range map[string]bool{"admin_read_only": true, "admin_read_only false": false, "": false} {
		app, err := adapt(t, "{\n\tbento {\n\t\t"+src+"\n\t\tstore s {\n\t\t\tl1 memory\n\t\t}\n\t}\n}\n")
		if err != nil {
			t.Fatalf("adapt(%q) = %v", src, err)
		}
		var got bento.App
		if err := json.Unmarshal(app, &got); err != nil || got.AdminReadOnly != want || len(got.Stores) != 1 {
			t.Errorf("adapt(%q) = %s (%v); want admin_read_only %t and the store", src, app, err, want)
		}
	}
}

// TestCaddyfile_WrongLayer: the Caddyfile adapts, and loading says which
// layer is wrong.
func TestCaddyfile_WrongLayer(t *testing.T) {
	app, err := adapt(t, "{\n\tbento {\n\t\tstore s {\n\t\t\tl1 memory\n\t\t\tl2 memory\n\t\t}\n\t}\n}\n")
	if err != nil {
		t.Fatal(err)
	}
	_, err = bento.LoadJSON(t.Context(), app)
	if err == nil || !strings.Contains(err.Error(), `stores.s.l2: module "bento.drivers.memory" is not an L2 driver`) {
		t.Errorf("LoadJSON = %v; want the wrong layer named", err)
	}
}

// FuzzCaddyfile adapts arbitrary text as the body of the bento global
// option and loads what adapts: each step must succeed or return an error,
// never panic. The seed corpus, in testdata/fuzz/FuzzCaddyfile, holds the
// documented options and the hostile ones (a second block, bad sizes and
// counts, long values).
func FuzzCaddyfile(f *testing.F) {
	f.Add("store main {\n\tttl 1h\n\tl1 memory {\n\t\tmax_size 64MiB\n\t}\n\tbus memory\n\tserializer msgpack\n}")
	f.Fuzz(func(t *testing.T, body string) {
		src := "{\n\tbento {\n" + body + "\n\t}\n}\n"
		out, _, err := caddyconfig.GetAdapter("caddyfile").Adapt([]byte(src), map[string]any{"filename": "Caddyfile"})
		if err != nil {
			return
		}
		var cfg struct {
			Apps map[string]json.RawMessage `json:"apps"`
		}
		if err := json.Unmarshal(out, &cfg); err != nil {
			t.Fatalf("adapted config %s is not JSON: %v", out, err)
		}
		app, ok := cfg.Apps["bento"]
		if !ok {
			return
		}
		var a bento.App
		if err := json.Unmarshal(app, &a); err != nil {
			t.Fatalf("adapted app %s does not decode as the bento app: %v", app, err)
		}
		b, err := bento.LoadJSON(t.Context(), mustJSON(t, a.ManagerConfig))
		if err == nil {
			_ = b.Close()
		}
	})
}

func mustJSON(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestCaddyfile_Locker: "locker <module> { … }" in a store becomes the
// store's "locker" field, with the module's own options.
func TestCaddyfile_Locker(t *testing.T) {
	app, err := adapt(t, `{
	bento {
		store main {
			l1 memory
			locker redis 127.0.0.1:6379 {
				lease 2s
			}
		}
	}
}
`)
	if err != nil {
		t.Fatalf("adapt = %v", err)
	}
	for _, want := range []string{`"locker":{`, `"locker":"redis"`, `"lease":2000000000`, `"addrs":["127.0.0.1:6379"]`} {
		if !strings.Contains(string(app), want) {
			t.Errorf("adapted JSON %s lacks %s", app, want)
		}
	}
}
