package mapstore_test

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/bentocache/bento"
	"github.com/bentocache/bento/drivertest"
	"github.com/bentocache/bento/internal/mapstore"
)

func set(t *testing.T, dr bento.L2Driver, key, value string, ttl time.Duration) {
	t.Helper()
	if err := dr.Set(t.Context(), key, []byte(value), ttl); err != nil {
		t.Fatalf("Set(ctx, %q, %q, %v) = %v; want nil", key, value, ttl, err)
	}
}

// wantGet checks Get(key): want "" with found false means missing.
func wantGet(t *testing.T, dr bento.L2Driver, key, want string, wantFound bool) {
	t.Helper()
	v, found, err := dr.Get(t.Context(), key)
	if err != nil || found != wantFound || string(v) != want {
		t.Errorf("Get(ctx, %q) = %q, %v, %v; want %q, %v, <nil>", key, v, found, err, want, wantFound)
	}
}

func TestL2_GetSet(t *testing.T) {
	dr := mapstore.NewL2(mapstore.L2Options{Prefix: "app"})
	wantGet(t, dr, "k", "", false)
	set(t, dr, "k", "v1", 0)
	wantGet(t, dr, "k", "v1", true)
	set(t, dr, "k", "v2", 0)
	wantGet(t, dr, "k", "v2", true)

	set(t, dr, "empty", "", 0)
	v, found, err := dr.Get(t.Context(), "empty")
	if err != nil || !found || v == nil || len(v) != 0 {
		t.Errorf("Get(ctx, %q) = %#v, %v, %v; want []byte{}, true, <nil>", "empty", v, found, err)
	}
}

func TestL2_CopiesBytes(t *testing.T) {
	dr := mapstore.NewL2(mapstore.L2Options{})
	in := []byte("value")
	if err := dr.Set(t.Context(), "k", in, 0); err != nil {
		t.Fatal(err)
	}
	in[0] = 'X'
	out, _, _ := dr.Get(t.Context(), "k")
	out[1] = 'Y'
	wantGet(t, dr, "k", "value", true)
}

func TestL2_TTL(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		dr := mapstore.NewL2(mapstore.L2Options{Prefix: "app"})
		set(t, dr, "short", "v", time.Second)
		set(t, dr, "forever", "v", 0)
		set(t, dr, "negative", "v", -time.Second)

		time.Sleep(time.Second - time.Millisecond)
		wantGet(t, dr, "short", "v", true)

		time.Sleep(time.Millisecond)
		wantGet(t, dr, "short", "", false)
		if ok, err := dr.Has(t.Context(), "short"); ok || err != nil {
			t.Errorf("Has(ctx, %q) after its TTL = %v, %v; want false, <nil>", "short", ok, err)
		}

		time.Sleep(1000 * time.Hour)
		wantGet(t, dr, "forever", "v", true)
		wantGet(t, dr, "negative", "v", true)
	})
}

func TestL2_ExpiredIsInvisible(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		dr := mapstore.NewL2(mapstore.L2Options{})
		for _, k := range []string{"a", "b", "c", "d"} {
			set(t, dr, k, "v", time.Millisecond)
		}
		time.Sleep(time.Millisecond)
		ctx := t.Context()
		if v, found, err := dr.Pull(ctx, "a"); found || v != nil || err != nil {
			t.Errorf("Pull(ctx, %q) of an expired key = %q, %v, %v; want nil, false, <nil>", "a", v, found, err)
		}
		if ok, err := dr.Delete(ctx, "b"); ok || err != nil {
			t.Errorf("Delete(ctx, %q) of an expired key = %v, %v; want false, <nil>", "b", ok, err)
		}
		if ok, err := dr.DeleteMany(ctx, []string{"c"}); ok || err != nil {
			t.Errorf("DeleteMany(ctx, [c]) of an expired key = %v, %v; want false, <nil>", ok, err)
		}
		vs, err := dr.GetMany(ctx, []string{"d"})
		if err != nil || len(vs) != 1 || vs[0] != nil {
			t.Errorf("GetMany(ctx, [d]) of an expired key = %q, %v; want [nil], <nil>", vs, err)
		}
	})
}

func TestL2_PullDelete(t *testing.T) {
	dr := mapstore.NewL2(mapstore.L2Options{Prefix: "app"})
	ctx := t.Context()
	set(t, dr, "k", "v", 0)
	if v, found, err := dr.Pull(ctx, "k"); string(v) != "v" || !found || err != nil {
		t.Errorf("Pull(ctx, %q) = %q, %v, %v; want %q, true, <nil>", "k", v, found, err, "v")
	}
	wantGet(t, dr, "k", "", false)
	if v, found, err := dr.Pull(ctx, "k"); v != nil || found || err != nil {
		t.Errorf("Pull(ctx, %q) again = %q, %v, %v; want nil, false, <nil>", "k", v, found, err)
	}

	set(t, dr, "k", "v", 0)
	if ok, err := dr.Delete(ctx, "k"); !ok || err != nil {
		t.Errorf("Delete(ctx, %q) = %v, %v; want true, <nil>", "k", ok, err)
	}
	if ok, err := dr.Delete(ctx, "k"); ok || err != nil {
		t.Errorf("Delete(ctx, %q) again = %v, %v; want false, <nil>", "k", ok, err)
	}

	if ok, err := dr.DeleteMany(ctx, nil); ok || err != nil {
		t.Errorf("DeleteMany(ctx, nil) = %v, %v; want false, <nil>", ok, err)
	}
	set(t, dr, "a", "v", 0)
	set(t, dr, "b", "v", 0)
	if ok, err := dr.DeleteMany(ctx, []string{"missing", "a", "b"}); !ok || err != nil {
		t.Errorf("DeleteMany(ctx, [missing a b]) = %v, %v; want true, <nil>", ok, err)
	}
	wantGet(t, dr, "a", "", false)
	wantGet(t, dr, "b", "", false)
	if ok, err := dr.DeleteMany(ctx, []string{"a", "b"}); ok || err != nil {
		t.Errorf("DeleteMany(ctx, [a b]) again = %v, %v; want false, <nil>", ok, err)
	}
}

func TestL2_Namespace(t *testing.T) {
	root := mapstore.NewL2(mapstore.L2Options{Prefix: "app"})
	users := root.Namespace("users")
	posts := users.Namespace("posts")

	set(t, users, "key1", "in users", 0)
	set(t, posts, "key1", "in posts", 0)
	set(t, root, "key1", "in root", 0)

	wantGet(t, root, "key1", "in root", true)
	wantGet(t, users, "key1", "in users", true)
	wantGet(t, posts, "key1", "in posts", true)
	wantGet(t, root, "users:key1", "in users", true)
	wantGet(t, root, "users:posts:key1", "in posts", true)
	wantGet(t, users, "posts:key1", "in posts", true)
	wantGet(t, root.Namespace("users"), "key1", "in users", true)
}

func TestL2_Clear(t *testing.T) {
	root := mapstore.NewL2(mapstore.L2Options{Prefix: "app"})
	users := root.Namespace("users")
	usersAbc := root.Namespace("usersAbc")
	posts := users.Namespace("posts")
	sibling := root.WithPrefix("appX")
	other := root.WithPrefix("other")
	for _, dr := range []bento.L2Driver{root, users, usersAbc, posts, sibling, other} {
		set(t, dr, "k", "v", 0)
		set(t, dr, "ttl", "v", time.Hour)
	}
	set(t, root, "usersAbc", "v", 0) // "app:usersAbc", a key, not a namespace

	if err := users.Clear(t.Context()); err != nil {
		t.Fatalf("users.Clear(ctx) = %v", err)
	}
	for _, k := range []string{"k", "ttl"} {
		wantGet(t, users, k, "", false)
		wantGet(t, posts, k, "", false)
		wantGet(t, root, k, "v", true)
		wantGet(t, usersAbc, k, "v", true)
	}
	wantGet(t, root, "usersAbc", "v", true)

	if err := root.Clear(t.Context()); err != nil {
		t.Fatalf("root.Clear(ctx) = %v", err)
	}
	for _, dr := range []bento.L2Driver{root, usersAbc} {
		wantGet(t, dr, "k", "", false)
	}
	wantGet(t, sibling, "k", "v", true)
	wantGet(t, other, "ttl", "v", true)
}

func TestL2_ClearEmptyPrefix(t *testing.T) {
	root := mapstore.NewL2(mapstore.L2Options{})
	app := root.WithPrefix("app")
	set(t, root, "k", "v", 0)
	set(t, root.Namespace("users"), "k", "v", 0)
	set(t, app, "k", "v", 0)
	if err := root.Clear(t.Context()); err != nil {
		t.Fatal(err)
	}
	if n := root.Len(); n != 0 {
		t.Errorf("Clear on an empty prefix left %d entries; want 0", n)
	}
}

func TestL2_Batch(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		dr := mapstore.NewL2(mapstore.L2Options{Prefix: "app"}).Namespace("ns")
		b := dr.(bento.L2BatchDriver)
		entries := []bento.KeyValue{{Key: "a", Value: []byte("1")}, {Key: "b", Value: []byte{}}}
		if err := b.SetMany(t.Context(), entries, time.Minute); err != nil {
			t.Fatalf("SetMany = %v", err)
		}
		entries[0].Value[0] = 'X'
		got, err := b.GetMany(t.Context(), []string{"a", "missing", "b"})
		if err != nil {
			t.Fatalf("GetMany = %v", err)
		}
		if len(got) != 3 || string(got[0]) != "1" || got[1] != nil || got[2] == nil || len(got[2]) != 0 {
			t.Errorf("GetMany(ctx, [a missing b]) = %#v; want [\"1\" nil []byte{}]", got)
		}
		time.Sleep(time.Minute)
		got, _ = b.GetMany(t.Context(), []string{"a", "b"})
		if len(got) != 2 || got[0] != nil || got[1] != nil {
			t.Errorf("GetMany after the TTL = %q; want [nil nil]", got)
		}
	})
}

func TestL2_Prune(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		root := mapstore.NewL2(mapstore.L2Options{Prefix: "app"})
		set(t, root, "short", "v", time.Second)
		set(t, root.WithPrefix("other"), "short", "v", time.Second)
		set(t, root, "long", "v", time.Hour)
		set(t, root, "forever", "v", 0)
		time.Sleep(time.Second)
		if n := root.Len(); n != 4 {
			t.Fatalf("Len() before Prune = %d; want 4 (expired entries linger until touched)", n)
		}
		if err := root.Prune(t.Context()); err != nil {
			t.Fatalf("Prune = %v", err)
		}
		if n := root.Len(); n != 2 {
			t.Errorf("Len() after Prune = %d; want 2", n)
		}
		wantGet(t, root, "long", "v", true)
	})
}

func TestL2_ContextCanceled(t *testing.T) {
	dr := mapstore.NewL2(mapstore.L2Options{})
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	_, _, err := dr.Get(ctx, "k")
	if !errors.Is(err, context.Canceled) {
		t.Errorf("Get(canceled ctx) = %v; want an error wrapping context.Canceled", err)
	}
	if err := dr.Set(ctx, "k", nil, 0); !errors.Is(err, context.Canceled) {
		t.Errorf("Set(canceled ctx) = %v; want an error wrapping context.Canceled", err)
	}
	wantGet(t, dr, "k", "", false)
}

func TestL2_Disconnect(t *testing.T) {
	dr := mapstore.NewL2(mapstore.L2Options{})
	for i := range 2 {
		if err := dr.Disconnect(); err != nil {
			t.Errorf("Disconnect() #%d = %v; want nil", i+1, err)
		}
	}
}

func TestL2_Concurrent(t *testing.T) {
	root := mapstore.NewL2(mapstore.L2Options{Prefix: "app"})
	var wg sync.WaitGroup
	for i := range 8 {
		dr := root.Namespace(fmt.Sprint(i % 2))
		wg.Go(func() {
			ctx := context.Background()
			for j := range 100 {
				k := fmt.Sprint(j % 10)
				_ = dr.Set(ctx, k, []byte(k), time.Minute)
				_, _, _ = dr.Get(ctx, k)
				_, _ = dr.Delete(ctx, k)
				if j%25 == 0 {
					_ = dr.Clear(ctx)
					_ = root.Prune(ctx)
				}
			}
		})
	}
	wg.Wait()
}

// TestL2_Compliance runs drivertest.L2 with every driver of a test on one
// map, each on a prefix of its own, like drivers on one Redis server.
func TestL2_Compliance(t *testing.T) {
	backend := mapstore.NewL2(mapstore.L2Options{})
	drivertest.L2(t, func(t *testing.T) bento.L2Driver {
		dr := backend.WithPrefix("test-" + rand.Text())
		t.Cleanup(func() { dr.Disconnect() })
		return dr
	}, drivertest.Options{})
}
