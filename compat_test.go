package bento_test

import (
	"context"
	"slices"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/bentocache/bento"
	"github.com/bentocache/bento/internal/bcwire"
	"github.com/bentocache/bento/internal/mapstore"
	busmem "github.com/bentocache/bento/modules/buses/memory"
	"github.com/bentocache/bento/modules/drivers/memory"
)

// nodeBus stands for a BentoCache process on the bus: it records the
// messages on BentoCache's channel of the peer store and publishes its own,
// in BentoCache's encoding, under its own bus id.
type nodeBus struct {
	bus *busmem.Bus
	id  string

	mu   sync.Mutex
	seen []bcwire.Message
}

func newNodeBus(t *testing.T, hub *busmem.Hub) *nodeBus {
	t.Helper()
	n := &nodeBus{bus: busmem.New(busmem.Options{Hub: hub}), id: bcwire.NewBusID()}
	err := n.bus.Subscribe(context.Background(), bcwire.Channel(peerStoreName), func(payload []byte) {
		m, err := bcwire.Decode(payload)
		if err != nil {
			t.Errorf("BentoCache cannot decode a message on its channel: %v (payload %q)", err, payload)
			return
		}
		n.mu.Lock()
		n.seen = append(n.seen, m)
		n.mu.Unlock()
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = n.bus.Disconnect() })
	return n
}

// publish sends a BentoCache message, and waits for its delivery.
func (n *nodeBus) publish(t *testing.T, typ bcwire.Type, namespace string, keys ...string) {
	t.Helper()
	payload, err := bcwire.Message{BusID: n.id, Type: typ, Namespace: namespace, Keys: keys}.AppendBinary(nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := n.bus.Publish(t.Context(), bcwire.Channel(peerStoreName), payload); err != nil {
		t.Fatal(err)
	}
	synctest.Wait()
}

// took returns the messages received since the last call.
func (n *nodeBus) took() []bcwire.Message {
	n.mu.Lock()
	defer n.mu.Unlock()
	seen := n.seen
	n.seen = nil
	return seen
}

// withAndWithoutCompat runs f twice in a synctest bubble, as the subtests
// Compat and Without, with the store options of a fleet shared with
// BentoCache (its prefix, an hour of TTL and of grace): with
// BentoCacheCompat, then without it.
func withAndWithoutCompat(t *testing.T, f func(t *testing.T, compat bool, opts []bento.Option)) {
	t.Helper()
	for _, compat := range []bool{true, false} {
		name := "Compat"
		if !compat {
			name = "Without"
		}
		t.Run(name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				opts := []bento.Option{bento.Prefix("bentocache"), bento.TTL(time.Hour), bento.Grace(time.Hour)}
				if compat {
					opts = append(opts, bento.BentoCacheCompat())
				}
				f(t, compat, opts)
			})
		})
	}
}

// TestBentoCacheCompat_Publishes: under BentoCacheCompat a store's writes
// reach BentoCache's channel in BentoCache's encoding, each namespace named
// by its full prefix path, under a BentoCache-shaped bus id.
func TestBentoCacheCompat_Publishes(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		hub := busmem.NewHub()
		node := newNodeBus(t, hub)
		p := startPeer(t, "go", bento.NewStore(bento.Prefix("bentocache"), bento.BentoCacheCompat()).
			UseL1(memory.New(memory.Options{})).UseBus(busmem.New(busmem.Options{Hub: hub})))
		defer p.b.Close()
		ctx := t.Context()

		p.mustSet(t, "", "k", "v")
		p.mustSet(t, "users", "k", "v")
		if _, err := p.cache("users").Delete(ctx, "k"); err != nil {
			t.Fatal(err)
		}
		if err := p.cache("").Expire(ctx, "k"); err != nil {
			t.Fatal(err)
		}
		if err := p.cache("users:posts").Clear(ctx); err != nil {
			t.Fatal(err)
		}
		synctest.Wait()
		want := []struct {
			typ       bcwire.Type
			namespace string
			keys      []string
		}{
			{bcwire.TypeSet, "bentocache", []string{"k"}},
			{bcwire.TypeSet, "bentocache:users", []string{"k"}},
			{bcwire.TypeDelete, "bentocache:users", []string{"k"}},
			{bcwire.TypeExpire, "bentocache", []string{"k"}},
			{bcwire.TypeClear, "bentocache:users:posts", nil},
		}
		got := node.took()
		if len(got) != len(want) {
			t.Fatalf("BentoCache received %d messages, %+v; want %d", len(got), got, len(want))
		}
		for i, w := range want {
			g := got[i]
			if g.Type != w.typ || g.Namespace != w.namespace || !slices.Equal(g.Keys, w.keys) || len(g.BusID) != bcwire.IDLen || g.BusID == node.id {
				t.Errorf("message %d = %+v; want type %s, namespace %q, keys %q, under the store's own bus id", i, g, w.typ, w.namespace, w.keys)
			}
		}
	})
}

// TestBentoCacheCompat_Receives: under BentoCacheCompat a store applies
// BentoCache's messages to its L1 — a delete drops the copy, a set and an
// expire make it stale, a clear clears the namespace and its children —
// and ignores those of other prefixes and its own. Without the option, the
// same messages change nothing.
func TestBentoCacheCompat_Receives(t *testing.T) {
	withAndWithoutCompat(t, func(t *testing.T, compat bool, opts []bento.Option) {
		hub := busmem.NewHub()
		node := newNodeBus(t, hub)
		p := startPeer(t, "go", bento.NewStore(opts...).
			UseL1(memory.New(memory.Options{})).UseBus(busmem.New(busmem.Options{Hub: hub})))
		defer p.b.Close()
		for _, path := range []string{"", "users", "users:posts", "other"} {
			for _, k := range []string{"a", "b", "c"} {
				p.mustSet(t, path, k, path+"/"+k, bento.SkipBusNotify())
			}
		}
		node.publish(t, bcwire.TypeDelete, "bentocache", "a")
		node.publish(t, bcwire.TypeSet, "bentocache", "b")
		node.publish(t, bcwire.TypeExpire, "bentocache:users", "a")
		node.publish(t, bcwire.TypeClear, "bentocache:users")
		node.publish(t, bcwire.TypeDelete, "elsewhere", "c")         // another prefix
		node.publish(t, bcwire.TypeDelete, "bentocache:otherX", "c") // a namespace this store never used

		type state struct {
			found, graced bool
		}
		want := map[[2]string]state{
			{"", "a"}:            {false, false},
			{"", "b"}:            {true, true},
			{"", "c"}:            {true, false},
			{"users", "a"}:       {false, false},
			{"users", "b"}:       {false, false},
			{"users:posts", "a"}: {false, false},
			{"other", "c"}:       {true, false},
		}
		for at, w := range want {
			if !compat {
				w = state{true, false}
			}
			r := p.read(t, at[0], at[1], bento.Grace(time.Hour))
			if r.found != w.found || r.graced != w.graced {
				t.Errorf("Get(%q, %q) after BentoCache's messages = %s; want found %t, graced %t", at[0], at[1], r, w.found, w.graced)
			}
		}
	})
}

// TestBentoCacheCompat_Config: the switch from JSON, at store and manager
// scope.
func TestBentoCacheCompat_Config(t *testing.T) {
	for _, cfg := range []string{
		`{"stores": {"main": {"l1": {"driver": "memory"}, "bus": {"bus": "memory"}, "bentocache_compat": true, "prefix": "bentocache"}}}`,
		`{"defaults": {"bentocache_compat": true, "prefix": "bentocache"}, "stores": {"main": {"l1": {"driver": "memory"}, "bus": {"bus": "memory"}}}}`,
	} {
		synctest.Test(t, func(t *testing.T) {
			node := newNodeBus(t, nil) // the memory bus module is on the default hub
			b, err := bento.LoadJSON(t.Context(), []byte(cfg))
			if err != nil {
				t.Fatalf("LoadJSON(%s) = %v", cfg, err)
			}
			defer b.Close()
			if err := b.Default().Set(t.Context(), "k", "v"); err != nil {
				t.Fatal(err)
			}
			synctest.Wait()
			if got := node.took(); len(got) != 1 || got[0].Namespace != "bentocache" {
				t.Errorf("with %s, BentoCache received %+v; want one message on namespace bentocache", cfg, got)
			}
		})
	}
}

// TestBentoCacheCompat_Tags: under BentoCacheCompat a store honours
// BentoCache's tag records — re-reading one when BentoCache announces it —
// and writes them for its own tag invalidations, announcing them on the
// bus. Without the option, neither happens.
func TestBentoCacheCompat_Tags(t *testing.T) {
	withAndWithoutCompat(t, func(t *testing.T, compat bool, opts []bento.Option) {
		hub, l2 := busmem.NewHub(), mapstore.NewL2(mapstore.L2Options{})
		node := newNodeBus(t, hub)
		p := startPeer(t, "go", bento.NewStore(opts...).
			UseL1(memory.New(memory.Options{})).UseL2(l2).UseBus(busmem.New(busmem.Options{Hub: hub})))
		defer p.b.Close()
		// BentoCache's own writes to the shared L2: its records are
		// ordinary entries, in the envelope both write.
		nodeL2 := startPeer(t, "node", bento.NewStore(bento.Prefix("bentocache")).UseL2(l2))
		defer nodeL2.b.Close()
		ctx := t.Context()

		p.mustSet(t, "users", "a", "va", bento.Tags("x"))
		if r := p.read(t, "users", "a"); !r.found || r.graced {
			t.Fatalf("Get(users, a) after Set = %s; want fresh", r)
		}
		time.Sleep(2 * time.Millisecond)
		if err := nodeL2.cache("users").Set(ctx, "___bc:t:x", time.Now().UnixMilli(), bento.TTL(240*time.Hour)); err != nil {
			t.Fatal(err)
		}
		node.publish(t, bcwire.TypeSet, "bentocache:users", "___bc:t:x")
		if r := p.read(t, "users", "a", bento.Grace(time.Hour)); !r.found || r.graced != compat {
			t.Errorf("Get(users, a) after BentoCache invalidated tag x = %s; want found, graced %t", r, compat)
		}

		p.mustSet(t, "", "b", "vb", bento.Tags("y"))
		time.Sleep(2 * time.Millisecond)
		node.took()
		b, _, err := bento.GetEntry[string](ctx, p.cache(""), "b")
		if err != nil {
			t.Fatal(err)
		}
		created := b.CreatedAt.UnixMilli()
		if err := p.b.Default().DeleteByTag(ctx, "y"); err != nil {
			t.Fatal(err)
		}
		synctest.Wait()
		at, found, err := bento.Get[int64](ctx, nodeL2.cache(""), "___bc:t:y")
		if err != nil || found != compat || (compat && at < created) {
			t.Errorf("BentoCache's record of tag y after DeleteByTag(y) = %d, %t, %v; want found %t, at or after b's creation, %d", at, found, err, compat, created)
		}
		announced := false
		for _, m := range node.took() {
			announced = announced || (m.Type == bcwire.TypeSet && m.Namespace == "bentocache" && slices.Equal(m.Keys, []string{"___bc:t:y"}))
		}
		if announced != compat {
			t.Errorf("BentoCache heard a set of ___bc:t:y after DeleteByTag(y): %t; want %t", announced, compat)
		}
	})
}
