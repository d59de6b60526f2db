package msgpack_test

import (
	"testing"
	"testing/synctest"
	"time"

	"github.com/bentocache/bento"
	"github.com/bentocache/bento/internal/mapstore"
	"github.com/bentocache/bento/modules/serializers/msgpack"
)

type user struct {
	ID    int64    `json:"id"`
	Name  string   `json:"name"`
	Roles []string `json:"roles,omitempty"`
}

// TestSerializer_Store runs a store on msgpack: values round-trip through L2,
// and Expire rewrites an envelope it cannot type (the raw-value path).
func TestSerializer_Store(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		l2 := mapstore.NewL2(mapstore.L2Options{})
		b, err := bento.New(bento.Config{Stores: map[string]*bento.Store{
			"main": bento.NewStore(bento.Grace(time.Hour)).UseL2(l2).UseSerializer(msgpack.Serializer{}),
		}})
		if err != nil {
			t.Fatal(err)
		}
		defer b.Close()
		c := b.Default()
		ctx := t.Context()
		want := user{ID: 1 << 60, Name: "Ada", Roles: []string{"admin"}}
		if err := c.Set(ctx, "u", want); err != nil {
			t.Fatal(err)
		}
		got, found, err := bento.Get[user](ctx, c, "u")
		if err != nil || !found || got.ID != want.ID || got.Name != want.Name || len(got.Roles) != 1 {
			t.Fatalf("Get[user] = %+v, %v, %v; want %+v", got, found, err, want)
		}
		if err := c.Expire(ctx, "u"); err != nil {
			t.Fatalf("Expire = %v", err)
		}
		if has, _ := c.Has(ctx, "u"); has {
			t.Error("Has after Expire = true; want false (stale)")
		}
		got, found, _ = bento.Get[user](ctx, c, "u")
		if !found || got.ID != want.ID {
			t.Errorf("Get[user] after Expire = %+v, %v; want the stale value, exactly (int64 intact)", got, found)
		}
		raw, _, _ := l2.Get(ctx, "bento:u")
		if len(raw) == 0 || raw[0] < 0x80 || raw[0] > 0x8f {
			t.Errorf("L2 bytes %x do not start with a msgpack fixmap", raw)
		}
	})
}
