package faultl2_test

import (
	"context"
	"errors"
	"testing"

	"github.com/bentocache/bento"
	"github.com/bentocache/bento/internal/faultl2"
	"github.com/bentocache/bento/internal/mapstore"
)

// calls are every counted method of a Driver, each returning its error.
var calls = []struct {
	name string
	call func(ctx context.Context, dr *faultl2.Driver) error
}{
	{"Get", func(ctx context.Context, dr *faultl2.Driver) error { _, _, err := dr.Get(ctx, "k"); return err }},
	{"Pull", func(ctx context.Context, dr *faultl2.Driver) error { _, _, err := dr.Pull(ctx, "k"); return err }},
	{"Set", func(ctx context.Context, dr *faultl2.Driver) error { return dr.Set(ctx, "k", []byte("new"), 0) }},
	{"Has", func(ctx context.Context, dr *faultl2.Driver) error { _, err := dr.Has(ctx, "k"); return err }},
	{"Clear", func(ctx context.Context, dr *faultl2.Driver) error { return dr.Clear(ctx) }},
	{"Delete", func(ctx context.Context, dr *faultl2.Driver) error { _, err := dr.Delete(ctx, "k"); return err }},
	{"DeleteMany", func(ctx context.Context, dr *faultl2.Driver) error {
		_, err := dr.DeleteMany(ctx, []string{"k"})
		return err
	}},
	{"GetMany", func(ctx context.Context, dr *faultl2.Driver) error {
		_, err := dr.GetMany(ctx, []string{"k"})
		return err
	}},
	{"SetMany", func(ctx context.Context, dr *faultl2.Driver) error {
		return dr.SetMany(ctx, []bento.KeyValue{{Key: "k", Value: []byte("new")}}, 0)
	}},
	{"Prune", func(ctx context.Context, dr *faultl2.Driver) error { return dr.Prune(ctx) }},
}

func TestDriver_FailAndHeal(t *testing.T) {
	boom := errors.New("connection refused")
	for _, tt := range calls {
		t.Run(tt.name, func(t *testing.T) {
			inner := mapstore.NewL2(mapstore.L2Options{Prefix: "app"})
			ctx := t.Context()
			if err := inner.Set(ctx, "k", []byte("old"), 0); err != nil {
				t.Fatal(err)
			}
			dr := faultl2.Wrap(inner)

			dr.Fail(boom)
			if err := tt.call(ctx, dr); !errors.Is(err, boom) {
				t.Errorf("%s while failing = %v; want an error wrapping %q", tt.name, err, boom)
			}
			if v, _, _ := inner.Get(ctx, "k"); string(v) != "old" {
				t.Errorf("%s while failing reached the inner driver: k = %q; want %q", tt.name, v, "old")
			}

			dr.Heal()
			if err := tt.call(ctx, dr); err != nil {
				t.Errorf("%s after Heal = %v; want nil", tt.name, err)
			}
			if got := dr.Calls(); got != 2 {
				t.Errorf("Calls() = %d; want 2", got)
			}
		})
	}
}

func TestDriver_ForwardsWhenHealthy(t *testing.T) {
	dr := faultl2.Wrap(mapstore.NewL2(mapstore.L2Options{}))
	ctx := t.Context()
	if err := dr.Set(ctx, "k", []byte("v"), 0); err != nil {
		t.Fatal(err)
	}
	if v, found, err := dr.Get(ctx, "k"); string(v) != "v" || !found || err != nil {
		t.Errorf("Get(ctx, %q) = %q, %v, %v; want %q, true, <nil>", "k", v, found, err, "v")
	}
}

func TestDriver_FailNil(t *testing.T) {
	dr := faultl2.Wrap(mapstore.NewL2(mapstore.L2Options{}))
	dr.Fail(nil)
	if _, _, err := dr.Get(t.Context(), "k"); !errors.Is(err, faultl2.ErrInjected) {
		t.Errorf("Get after Fail(nil) = %v; want an error wrapping ErrInjected", err)
	}
}

func TestDriver_NamespacesShareState(t *testing.T) {
	inner := mapstore.NewL2(mapstore.L2Options{Prefix: "app"})
	dr := faultl2.Wrap(inner)
	users := dr.Namespace("users")
	posts := users.Namespace("posts")
	ctx := t.Context()

	if err := posts.Set(ctx, "k", []byte("v"), 0); err != nil {
		t.Fatal(err)
	}
	if v, _, _ := inner.Get(ctx, "users:posts:k"); string(v) != "v" {
		t.Errorf("inner Get(ctx, %q) = %q; want %q: the view must address the inner namespace", "users:posts:k", v, "v")
	}

	dr.Fail(nil)
	if _, err := posts.Has(ctx, "k"); !errors.Is(err, faultl2.ErrInjected) {
		t.Errorf("Has on a namespace view after Fail on the root = %v; want ErrInjected", err)
	}
	users.(*faultl2.Driver).Heal()
	if _, _, err := dr.Get(ctx, "k"); err != nil {
		t.Errorf("Get on the root after Heal on a view = %v; want nil", err)
	}
	if got := dr.Calls(); got != 3 {
		t.Errorf("Calls() = %d; want 3, counted across views", got)
	}
}

func TestDriver_DisconnectIgnoresFaults(t *testing.T) {
	dr := faultl2.Wrap(mapstore.NewL2(mapstore.L2Options{}))
	dr.Fail(nil)
	for i := range 2 {
		if err := dr.Disconnect(); err != nil {
			t.Errorf("Disconnect() #%d while failing = %v; want nil", i+1, err)
		}
	}
	if got := dr.Calls(); got != 0 {
		t.Errorf("Calls() after Disconnect = %d; want 0", got)
	}
}

// plainL2 hides the optional capabilities of the driver it embeds.
type plainL2 struct{ bento.L2Driver }

func TestDriver_BatchFallback(t *testing.T) {
	dr := faultl2.Wrap(plainL2{mapstore.NewL2(mapstore.L2Options{})})
	ctx := t.Context()
	entries := []bento.KeyValue{{Key: "a", Value: []byte("1")}, {Key: "b", Value: []byte{}}}
	if err := dr.SetMany(ctx, entries, 0); err != nil {
		t.Fatalf("SetMany = %v", err)
	}
	got, err := dr.GetMany(ctx, []string{"a", "missing", "b"})
	if err != nil || len(got) != 3 || string(got[0]) != "1" || got[1] != nil || got[2] == nil {
		t.Errorf("GetMany(ctx, [a missing b]) = %#v, %v; want [\"1\" nil []byte{}], <nil>", got, err)
	}
	if err := dr.Prune(ctx); err != nil {
		t.Errorf("Prune on a driver that is not a Pruner = %v; want nil", err)
	}
	if got := dr.Calls(); got != 3 {
		t.Errorf("Calls() = %d; want 3 (a fallback counts once)", got)
	}
}

// TestDriver_HoldNextRead: the next Get reads, then waits for release with
// what it read; the Get after it does not wait.
func TestDriver_HoldNextRead(t *testing.T) {
	ctx := t.Context()
	dr := faultl2.Wrap(mapstore.NewL2(mapstore.L2Options{}))
	if err := dr.Set(ctx, "k", []byte("old"), 0); err != nil {
		t.Fatal(err)
	}
	held, release := dr.HoldNextRead()
	got := make(chan string)
	go func() {
		v, _, _ := dr.Namespace("").Get(ctx, "k")
		got <- string(v)
	}()
	<-held
	if err := dr.Set(ctx, "k", []byte("new"), 0); err != nil {
		t.Fatal(err)
	}
	if v, _, err := dr.Get(ctx, "k"); err != nil || string(v) != "new" {
		t.Errorf("Get while one is held = %q, %v; want \"new\", <nil>", v, err)
	}
	release()
	release()
	if v := <-got; v != "old" {
		t.Errorf("the held Get = %q; want what it read before it was held, \"old\"", v)
	}
}
