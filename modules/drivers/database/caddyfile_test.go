package database_test

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"

	"github.com/bentocache/bento"
	_ "github.com/bentocache/bento/modules/adapters/mysql"
	_ "github.com/bentocache/bento/modules/adapters/postgres"
	_ "github.com/bentocache/bento/modules/adapters/sqlite"
	"github.com/bentocache/bento/modules/drivers/database"
)

func TestDriver_UnmarshalCaddyfile(t *testing.T) {
	tests := []struct {
		name, input string
		adapter     string // the JSON of the adapter field
		want        database.Driver
	}{
		{"AdapterArgument", "database {\n\tadapter sqlite /var/cache/bento/cache.db\n}",
			`{"adapter":"sqlite","path":"/var/cache/bento/cache.db"}`, database.Driver{}},
		{"AdapterNoOptions", "database {\n\tadapter sqlite\n}", `{"adapter":"sqlite"}`, database.Driver{}},
		{"Everything", `database {
			adapter postgres {
				dsn postgres://app@db:5432/app
			}
			table_name        cache
			prefix            app
			prune_interval    10m
			skip_create_table
		}`, `{"adapter":"postgres","dsn":"postgres://app@db:5432/app"}`, database.Driver{
			TableName:       "cache",
			Prefix:          "app",
			PruneInterval:   caddy.Duration(10 * time.Minute),
			SkipCreateTable: true,
		}},
		{"OptionsBeforeAdapter", "database {\n\ttable_name cache\n\tadapter mysql {\n\t\tdsn app@tcp(db:3306)/app\n\t}\n\tprefix app\n}",
			`{"adapter":"mysql","dsn":"app@tcp(db:3306)/app"}`, database.Driver{TableName: "cache", Prefix: "app"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var dr database.Driver
			if err := dr.UnmarshalCaddyfile(caddyfile.NewTestDispenser(tt.input)); err != nil {
				t.Fatalf("UnmarshalCaddyfile(%q) = %v; want <nil>", tt.input, err)
			}
			if got := string(dr.AdapterRaw); got != tt.adapter {
				t.Errorf("UnmarshalCaddyfile(%q) set adapter %s; want %s", tt.input, got, tt.adapter)
			}
			got := fmt.Sprintf("table_name %q, prefix %q, prune_interval %v, skip_create_table %t", dr.TableName, dr.Prefix, time.Duration(dr.PruneInterval), dr.SkipCreateTable)
			want := fmt.Sprintf("table_name %q, prefix %q, prune_interval %v, skip_create_table %t", tt.want.TableName, tt.want.Prefix, time.Duration(tt.want.PruneInterval), tt.want.SkipCreateTable)
			if got != want {
				t.Errorf("UnmarshalCaddyfile(%q) set %s; want %s", tt.input, got, want)
			}
		})
	}
}

func TestDriver_UnmarshalCaddyfileErrors(t *testing.T) {
	tests := []struct {
		name, input string
		says        []string
	}{
		{"Argument", "database sqlite {\n\tadapter sqlite\n}", []string{"Testfile:1", "wrong argument count"}},
		{"NoAdapter", "database {\n\ttable_name cache\n}", []string{"Testfile:3", "database needs an adapter, e.g. adapter sqlite"}},
		{"Empty", "database", []string{"database needs an adapter"}},
		{"AdapterNoName", "database {\n\tadapter\n}", []string{"Testfile:2", "adapter needs a name"}},
		{"AdapterUnknown", "database {\n\tadapter cassandra\n}", []string{"Testfile:2", `"bento.adapters.cassandra"`, "not compiled in", "xbento build --with"}},
		{"AdapterTwice", "database {\n\tadapter sqlite\n\tadapter sqlite /a.db\n}", []string{"Testfile:3", "adapter is already set"}},
		{"AdapterOwnError", "database {\n\tadapter sqlite {\n\t\tpaht /a.db\n\t}\n}", []string{"Testfile:3", `unknown sqlite adapter option "paht"`}},
		{"TableNameNoArg", "database {\n\tadapter sqlite\n\ttable_name\n}", []string{"Testfile:3", "wrong argument count"}},
		{"TableNameTwoArgs", "database {\n\tadapter sqlite\n\ttable_name a b\n}", []string{"Testfile:3", "wrong argument count"}},
		{"TableNameInvalid", "database {\n\tadapter sqlite\n\ttable_name bento-cache\n}", []string{"Testfile:3", `table_name: invalid table name "bento-cache"`}},
		{"PrefixNoArg", "database {\n\tadapter sqlite\n\tprefix\n}", []string{"Testfile:3", "wrong argument count"}},
		{"PruneIntervalNoArg", "database {\n\tadapter sqlite\n\tprune_interval\n}", []string{"Testfile:3", "wrong argument count"}},
		{"PruneIntervalBad", "database {\n\tadapter sqlite\n\tprune_interval soon\n}", []string{"Testfile:3", `prune_interval: invalid duration "soon"`}},
		{"SkipCreateTableArg", "database {\n\tadapter sqlite\n\tskip_create_table true\n}", []string{"Testfile:3", "wrong argument count"}},
		{"UnknownOption", "database {\n\tadapter sqlite\n\ttable cache\n}", []string{"Testfile:3", `unknown database driver option "table"`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var dr database.Driver
			err := dr.UnmarshalCaddyfile(caddyfile.NewTestDispenser(tt.input))
			if err == nil {
				t.Fatalf("UnmarshalCaddyfile(%q) = <nil>; want an error saying %q", tt.input, tt.says)
			}
			for _, s := range tt.says {
				if !strings.Contains(err.Error(), s) {
					t.Errorf("UnmarshalCaddyfile(%q) = %q; want it to say %q", tt.input, err, s)
				}
			}
		})
	}
}

// TestDriver_CaddyfileToJSON: the JSON that a Caddyfile block adapts to
// loads, and the store works.
func TestDriver_CaddyfileToJSON(t *testing.T) {
	path := filepath.Join(t.TempDir(), "cache.db")
	var dr database.Driver
	input := "database {\n\tadapter sqlite " + path + "\n\ttable_name cache\n\tprefix app\n\tprune_interval 1m\n}"
	if err := dr.UnmarshalCaddyfile(caddyfile.NewTestDispenser(input)); err != nil {
		t.Fatal(err)
	}
	l2 := caddyconfig.JSONModuleObject(&dr, "driver", "database", nil)
	cfg := `{"stores": {"s": {"l2": ` + string(l2) + `}}}`
	b, err := bento.LoadJSON(t.Context(), []byte(cfg))
	if err != nil {
		t.Fatalf("LoadJSON(%s) = %v", cfg, err)
	}
	defer b.Close()
	ctx := t.Context()
	if err := b.Default().Set(ctx, "k", "v"); err != nil {
		t.Fatal(err)
	}
	if v, found, err := bento.Get[string](ctx, b.Default(), "k"); err != nil || !found || v != "v" {
		t.Errorf("Get = %q, %t, %v; want \"v\", true, <nil>", v, found, err)
	}
	if n := countRows(t, path, "cache", "app:"); n != 1 {
		t.Errorf("rows of table cache under app: = %d; want 1", n)
	}
}
