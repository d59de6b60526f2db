// Package sqladaptertest holds the tests that bento's SQL adapter modules
// (modules/adapters/postgres, mysql and sqlite) share, because the adapters
// share their plumbing in internal/sqladapter: the database driver's
// compliance suite over an adapter, the rejection of hostile table names,
// the Caddyfile block, Provision without I/O, and loading a store from JSON
// or a Caddy config.
//
// The adapter's own compliance suite is drivertest.Adapter, and its
// capabilities are databasetest.Adapter: both are public, for third-party
// adapters; this package is for bento's own.
package sqladaptertest

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"

	"github.com/bentocache/bento"
	"github.com/bentocache/bento/drivertest"
	"github.com/bentocache/bento/internal/configtest"
	"github.com/bentocache/bento/internal/testenv"
	"github.com/bentocache/bento/modules/drivers/database"
)

// ErrMatches reports whether err is nil when want is empty, or else an
// error whose text contains want.
func ErrMatches(err error, want string) bool {
	if want == "" {
		return err == nil
	}
	return err != nil && strings.Contains(err.Error(), want)
}

// DriverCompliance runs drivertest.L2 on the database driver over adapters
// made by newAdapter, all on table ("" for the driver's default) and each
// on a prefix of its own.
func DriverCompliance(t *testing.T, table string, newAdapter func() bento.DatabaseAdapter) {
	t.Helper()
	drivertest.L2(t, func(t *testing.T) bento.L2Driver {
		dr := database.New(database.Options{
			Adapter:   newAdapter(),
			TableName: table,
			Prefix:    testenv.Prefix(t),
		})
		if err := dr.Validate(); err != nil {
			t.Fatalf("Validate() = %v; want <nil>", err)
		}
		t.Cleanup(func() { _ = dr.Disconnect() })
		return dr
	}, drivertest.Options{})
}

// RejectsInjection checks that each of names, a table name that carries
// SQL, is rejected before any I/O by the database driver over an adapter
// made by newAdapter: by Validate, naming table_name, and by every call.
func RejectsInjection(t *testing.T, newAdapter func() bento.DatabaseAdapter, names ...string) {
	t.Helper()
	for _, name := range names {
		dr := database.New(database.Options{Adapter: newAdapter(), TableName: name})
		if err := dr.Validate(); err == nil || !strings.Contains(err.Error(), "table_name") {
			t.Errorf("database.New(TableName: %q).Validate() = %v; want an error naming table_name", name, err)
		}
		if _, _, err := dr.Get(t.Context(), "k"); err == nil {
			t.Errorf("Get on a driver with TableName %q = <nil> error; want the validation error", name)
		}
		_ = dr.Disconnect()
	}
}

// Caddyfile checks the Caddyfile block of the adapter named adapter, whose
// one option is option, read by unmarshal, which returns the option's value
// as read: value on the adapter's line, value in the block, nothing at all
// (which Validate reports), and the errors, each at its line. value must be
// one Caddyfile token.
func Caddyfile(t *testing.T, adapter, option, value string, unmarshal func(*caddyfile.Dispenser) (string, error)) {
	t.Helper()
	read := []struct{ name, input, want string }{
		{"Argument", adapter + " " + value, value},
		{"Block", fmt.Sprintf("%s {\n\t%s %s\n}", adapter, option, value), value},
		{"Bare", adapter, ""},
	}
	for _, tt := range read {
		t.Run(tt.name, func(t *testing.T) {
			if got, err := unmarshal(caddyfile.NewTestDispenser(tt.input)); err != nil || got != tt.want {
				t.Errorf("UnmarshalCaddyfile(%q) = %v, %s %q; want <nil>, %q", tt.input, err, option, got, tt.want)
			}
		})
	}
	rejected := []struct{ name, input, says string }{
		{"TwoArguments", adapter + " " + value + " " + value, "wrong argument count"},
		{"OptionTwice", fmt.Sprintf("%s %s {\n\t%s %s\n}", adapter, value, option, value), option + " is already set"},
		{"OptionNoArg", fmt.Sprintf("%s {\n\t%s\n}", adapter, option), "wrong argument count"},
		{"OptionTwoArgs", fmt.Sprintf("%s {\n\t%s %s %s\n}", adapter, option, value, value), "wrong argument count"},
		{"UnknownOption", fmt.Sprintf("%s {\n\tnonsense %s\n}", adapter, value), fmt.Sprintf("unknown %s adapter option %q", adapter, "nonsense")},
	}
	for _, tt := range rejected {
		t.Run(tt.name, func(t *testing.T) {
			_, err := unmarshal(caddyfile.NewTestDispenser(tt.input))
			if err == nil || !strings.Contains(err.Error(), tt.says) || !strings.Contains(err.Error(), "Testfile:") {
				t.Errorf("UnmarshalCaddyfile(%q) = %v; want an error at Testfile:<line> saying %q", tt.input, err, tt.says)
			}
		})
	}
}

// Module is what Provision needs of an adapter module.
type Module interface {
	caddy.Provisioner
	caddy.CleanerUpper
	Validate() error
}

// ProvisionCase is a value of an adapter module's one option, and the
// error that Validate must report after Provision with it ("" for none).
type ProvisionCase struct {
	Value, WantErr string
}

// Provision checks, for each case, that the module made by newModule with
// the case's value provisions without error and without network I/O (in
// under a second, for a server that does not exist), that Validate then
// reports the case's error, and that Cleanup may be called twice.
func Provision[M Module](t *testing.T, newModule func(value string) M, cases ...ProvisionCase) {
	t.Helper()
	ctx, cancel := caddy.NewContext(caddy.Context{Context: t.Context()})
	defer cancel()
	for _, tt := range cases {
		m := newModule(tt.Value)
		start := time.Now()
		if err := m.Provision(ctx); err != nil {
			t.Errorf("Provision() with %q = %v; want <nil>", tt.Value, err)
		}
		if d := time.Since(start); d > time.Second {
			t.Errorf("Provision() with %q took %v; want no network I/O", tt.Value, d)
		}
		if err := m.Validate(); !ErrMatches(err, tt.WantErr) {
			t.Errorf("Validate() with %q = %v; want an error containing %q (none if empty)", tt.Value, err, tt.WantErr)
		}
		for range 2 {
			if err := m.Cleanup(); err != nil {
				t.Errorf("Cleanup() with %q = %v; want <nil>", tt.Value, err)
			}
		}
	}
}

// LoadJSON returns a manager loaded from JSON with one store, "s", whose L2
// is the driver given by l2 (a JSON object), closed when t ends.
func LoadJSON(t *testing.T, l2 string) *bento.Bento {
	t.Helper()
	return configtest.Load(t, fmt.Sprintf(`{"stores": {"s": {"l2": %s}}}`, l2))
}

// RoundTrip sets key to value in c and reads it back.
func RoundTrip(t *testing.T, c *bento.Cache, key, value string) {
	t.Helper()
	ctx := t.Context()
	if err := c.Set(ctx, key, value); err != nil {
		t.Fatalf("Set(%q) = %v", key, err)
	}
	if v, found, err := bento.Get[string](ctx, c, key); err != nil || !found || v != value {
		t.Fatalf("Get(%q) = %q, %t, %v; want %q, true, <nil>", key, v, found, err, value)
	}
}

// CaddyLoader returns a function that loads a Caddy config whose bento app
// has one store, "s", whose L2 is the driver given by l2 (a JSON object),
// with the admin endpoint off, and returns the store's cache. Each call is a
// config reload; Caddy is stopped when t ends.
func CaddyLoader(t *testing.T, l2 string) func() *bento.Cache {
	t.Helper()
	cfg := fmt.Appendf(nil, `{"admin": {"disabled": true, "config": {"persist": false}}, "apps": {"bento": {"stores": {"s": {"l2": %s}}}}}`, l2)
	t.Cleanup(func() { _ = caddy.Stop() })
	return func() *bento.Cache {
		t.Helper()
		if err := caddy.Load(cfg, true); err != nil {
			t.Fatalf("caddy.Load = %v", err)
		}
		a, err := caddy.ActiveContext().App("bento")
		if err != nil {
			t.Fatal(err)
		}
		c, err := a.(*bento.App).Use("s")
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
}

// DropTable drops table with drop when t ends, whether or not an adapter
// is still connected, giving it 10 seconds.
func DropTable(t testing.TB, table string, drop func(ctx context.Context, table string) error) {
	t.Helper()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := drop(ctx, table); err != nil {
			t.Errorf("dropping table %q: %v", table, err)
		}
	})
}

// OnTable sets a's table to table and returns a, disconnected when t ends
// and then, if drop is not nil, its table dropped with drop.
func OnTable[A bento.DatabaseAdapter](t testing.TB, a A, table string, drop func(ctx context.Context, table string) error) A {
	t.Helper()
	a.SetTableName(table)
	if drop != nil {
		DropTable(t, table, drop)
	}
	t.Cleanup(func() { _ = a.Disconnect() })
	return a
}
