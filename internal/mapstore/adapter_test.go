package mapstore_test

import (
	"context"
	"crypto/rand"
	"errors"
	"testing"
	"testing/synctest"
	"time"

	"github.com/bentocache/bento"
	"github.com/bentocache/bento/drivertest"
	"github.com/bentocache/bento/internal/mapstore"
)

func newAdapter(t *testing.T) *mapstore.Adapter {
	t.Helper()
	a := mapstore.NewAdapter()
	if err := a.CreateTableIfNotExists(t.Context()); err != nil {
		t.Fatalf("CreateTableIfNotExists(ctx) = %v; want nil", err)
	}
	return a
}

func setRow(t *testing.T, a *mapstore.Adapter, key, value string, expiresAt time.Time) {
	t.Helper()
	if err := a.Set(t.Context(), bento.Row{Key: key, Value: []byte(value), ExpiresAt: expiresAt}); err != nil {
		t.Fatalf("Set(ctx, %q) = %v; want nil", key, err)
	}
}

func wantRow(t *testing.T, a *mapstore.Adapter, key, want string, wantFound bool) {
	t.Helper()
	r, found, err := a.Get(t.Context(), key)
	if err != nil || found != wantFound || string(r.Value) != want || (found && r.Key != key) {
		t.Errorf("Get(ctx, %q) = %+v, %v, %v; want value %q, %v, <nil>", key, r, found, err, want, wantFound)
	}
}

func TestAdapter_TableMustExist(t *testing.T) {
	a := mapstore.NewAdapter()
	ctx := t.Context()
	if _, _, err := a.Get(ctx, "k"); err == nil {
		t.Error("Get before CreateTableIfNotExists = nil error; want one naming the table")
	}
	for i := range 2 {
		if err := a.CreateTableIfNotExists(ctx); err != nil {
			t.Fatalf("CreateTableIfNotExists #%d = %v; want nil", i+1, err)
		}
	}
	setRow(t, a, "k", "v", time.Time{})

	a.SetTableName("other")
	if err := a.Set(ctx, bento.Row{Key: "k"}); err == nil {
		t.Error("Set on a table not created = nil error")
	}
	if err := a.CreateTableIfNotExists(ctx); err != nil {
		t.Fatal(err)
	}
	wantRow(t, a, "k", "", false)
	a.SetTableName(mapstore.DefaultTableName)
	wantRow(t, a, "k", "v", true)
	if err := a.CreateTableIfNotExists(ctx); err != nil {
		t.Fatal(err)
	}
	wantRow(t, a, "k", "v", true)
}

func TestAdapter_Upsert(t *testing.T) {
	a := newAdapter(t)
	wantRow(t, a, "k", "", false)
	in := bento.Row{Key: "k", Value: []byte("v1")}
	if err := a.Set(t.Context(), in); err != nil {
		t.Fatal(err)
	}
	in.Value[0] = 'X'
	wantRow(t, a, "k", "v1", true)
	exp := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	setRow(t, a, "k", "v2", exp)
	r, _, _ := a.Get(t.Context(), "k")
	if string(r.Value) != "v2" || !r.ExpiresAt.Equal(exp) {
		t.Errorf("Get after upsert = %+v; want value v2, ExpiresAt %v", r, exp)
	}
	r.Value[0] = 'X'
	wantRow(t, a, "k", "v2", true)
}

func TestAdapter_Delete(t *testing.T) {
	a := newAdapter(t)
	ctx := t.Context()
	setRow(t, a, "a", "v", time.Time{})
	setRow(t, a, "b", "v", time.Time{})
	setRow(t, a, "c", "v", time.Time{})
	if ok, err := a.Delete(ctx, "a"); !ok || err != nil {
		t.Errorf("Delete(ctx, %q) = %v, %v; want true, <nil>", "a", ok, err)
	}
	if ok, err := a.Delete(ctx, "a"); ok || err != nil {
		t.Errorf("Delete(ctx, %q) again = %v, %v; want false, <nil>", "a", ok, err)
	}
	if n, err := a.DeleteMany(ctx, nil); n != 0 || err != nil {
		t.Errorf("DeleteMany(ctx, nil) = %d, %v; want 0, <nil>", n, err)
	}
	if n, err := a.DeleteMany(ctx, []string{"a", "b", "c", "c"}); n != 2 || err != nil {
		t.Errorf("DeleteMany(ctx, [a b c c]) = %d, %v; want 2, <nil>", n, err)
	}
}

func TestAdapter_ClearLiteralPrefix(t *testing.T) {
	a := newAdapter(t)
	for _, k := range []string{"app:users:1", "app:usersAbc:1", "app:u%:1", "app:u_:1", "app:ux:1", "other:1"} {
		setRow(t, a, k, "v", time.Time{})
	}
	clear := func(prefix string) {
		t.Helper()
		if err := a.Clear(t.Context(), prefix); err != nil {
			t.Fatalf("Clear(ctx, %q) = %v", prefix, err)
		}
	}
	clear("app:users:")
	wantRow(t, a, "app:users:1", "", false)
	wantRow(t, a, "app:usersAbc:1", "v", true)

	clear("app:u%")
	wantRow(t, a, "app:u%:1", "", false)
	wantRow(t, a, "app:ux:1", "v", true)
	clear("app:u_")
	wantRow(t, a, "app:u_:1", "", false)
	wantRow(t, a, "app:ux:1", "v", true)

	clear("")
	wantRow(t, a, "app:ux:1", "", false)
	wantRow(t, a, "other:1", "", false)
}

func TestAdapter_PruneExpiredEntries(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		a := newAdapter(t)
		now := time.Now()
		setRow(t, a, "past", "v", now.Add(-time.Second))
		setRow(t, a, "soon", "v", now.Add(time.Second))
		setRow(t, a, "never", "v", time.Time{})
		wantRow(t, a, "past", "v", true) // Get returns expired rows

		if err := a.PruneExpiredEntries(t.Context()); err != nil {
			t.Fatal(err)
		}
		wantRow(t, a, "past", "", false)
		wantRow(t, a, "soon", "v", true)

		time.Sleep(time.Second)
		if err := a.PruneExpiredEntries(t.Context()); err != nil {
			t.Fatal(err)
		}
		wantRow(t, a, "soon", "", false)
		wantRow(t, a, "never", "v", true)
	})
}

func TestAdapter_ContextCanceled(t *testing.T) {
	a := newAdapter(t)
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if err := a.Set(ctx, bento.Row{Key: "k"}); !errors.Is(err, context.Canceled) {
		t.Errorf("Set(canceled ctx) = %v; want an error wrapping context.Canceled", err)
	}
	wantRow(t, a, "k", "", false)
}

func TestAdapter_Disconnect(t *testing.T) {
	a := newAdapter(t)
	for i := range 2 {
		if err := a.Disconnect(); err != nil {
			t.Errorf("Disconnect() #%d = %v; want nil", i+1, err)
		}
	}
}

func TestAdapter_WithTable(t *testing.T) {
	a := newAdapter(t)
	setRow(t, a, "k", "in default", time.Time{})
	b := a.WithTable("other")
	if _, _, err := b.Get(t.Context(), "k"); err == nil {
		t.Error("Get on a table not created through WithTable = nil error")
	}
	if err := b.CreateTableIfNotExists(t.Context()); err != nil {
		t.Fatal(err)
	}
	setRow(t, b, "k", "in other", time.Time{})
	if err := b.Clear(t.Context(), ""); err != nil {
		t.Fatal(err)
	}
	wantRow(t, a, "k", "in default", true)

	a.SetTableName("other")
	setRow(t, a, "k2", "v", time.Time{})
	wantRow(t, b, "k2", "v", true) // same database: a sees b's table and b a's rows
	b.DropTable()
	if _, _, err := a.Get(t.Context(), "k2"); err == nil {
		t.Error("Get on a dropped table = nil error")
	}
	a.SetTableName(mapstore.DefaultTableName)
	wantRow(t, a, "k", "in default", true)
}

// TestAdapter_Compliance runs drivertest.Adapter with every adapter of a test
// on one database, each on a table of its own.
func TestAdapter_Compliance(t *testing.T) {
	db := mapstore.NewAdapter()
	drivertest.Adapter(t, func(t *testing.T) bento.DatabaseAdapter {
		a := db.WithTable("bento_" + rand.Text())
		t.Cleanup(func() {
			a.DropTable()
			a.Disconnect()
		})
		return a
	}, drivertest.Options{})
}
