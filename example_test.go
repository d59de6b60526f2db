package bento_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"time"

	"github.com/bentocache/bento"
	membus "github.com/bentocache/bento/modules/buses/memory"
	"github.com/bentocache/bento/modules/drivers/memory"
)

// User is the value the examples cache.
type User struct {
	ID   int
	Name string
}

// exampleManager returns a manager with one store, "main", on an in-process
// L1 and the given store options.
func exampleManager(opts ...bento.Option) *bento.Bento {
	b, err := bento.New(bento.Config{
		Stores: map[string]*bento.Store{
			"main": bento.NewStore(opts...).UseL1(memory.New(memory.Options{MaxItems: 10_000})),
		},
	})
	if err != nil {
		log.Fatal(err)
	}
	return b
}

func ExampleNew() {
	b, err := bento.New(bento.Config{
		Default: "main",
		Stores: map[string]*bento.Store{
			"main": bento.NewStore(bento.TTL(time.Hour), bento.Grace(6*time.Hour)).
				UseL1(memory.New(memory.Options{MaxSize: 64 << 20})),
			"sessions": bento.NewStore(bento.TTL(20 * time.Minute)).
				UseL1(memory.New(memory.Options{MaxItems: 100_000})),
		},
	})
	if err != nil {
		log.Fatal(err)
	}
	defer b.Close()

	sessions, err := b.Use("sessions")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(b.Stores())
	fmt.Println(b.Default().Store(), sessions.Store())

	_, err = b.Use("nope")
	fmt.Println(errors.Is(err, bento.ErrUnknownStore))
	// Output:
	// [main sessions]
	// main sessions
	// true
}

func ExampleGetOrSet() {
	ctx := context.Background()
	b := exampleManager(bento.TTL(time.Hour))
	defer b.Close()
	users := b.Namespace("users")

	loads := 0
	loadUser := func(ctx context.Context, fc *bento.FactoryContext[User]) (User, error) {
		loads++ // a database query would go here
		return User{ID: 42, Name: "Ada"}, nil
	}

	u, err := bento.GetOrSet(ctx, users, "42", loadUser) // a miss: the factory runs
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("%+v\n", u)

	u, _ = bento.GetOrSet(ctx, users, "42", loadUser) // a hit: it does not
	fmt.Printf("%+v, factory runs: %d\n", u, loads)
	// Output:
	// {ID:42 Name:Ada}
	// {ID:42 Name:Ada}, factory runs: 1
}

func ExampleGet() {
	ctx := context.Background()
	b := exampleManager()
	defer b.Close()
	users := b.Namespace("users")

	if err := users.Set(ctx, "42", User{ID: 42, Name: "Ada"}); err != nil {
		log.Fatal(err)
	}

	u, found, err := bento.Get[User](ctx, users, "42")
	fmt.Println(u.Name, found, err)

	_, found, err = bento.Get[User](ctx, users, "43") // a miss is not an error
	fmt.Println(found, err)
	// Output:
	// Ada true <nil>
	// false <nil>
}

func ExampleCache_Set() {
	ctx := context.Background()
	b := exampleManager()
	defer b.Close()
	users := b.Namespace("users")

	// Per-call options override the store's and the manager's.
	err := users.Set(ctx, "42", User{ID: 42, Name: "Ada"},
		bento.TTL(10*time.Minute), bento.Tags("team:7"))
	if err != nil {
		log.Fatal(err)
	}
	// No expiry at all.
	if err := users.SetForever(ctx, "admin", User{ID: 1, Name: "Root"}); err != nil {
		log.Fatal(err)
	}

	has, _ := users.Has(ctx, "42")
	fmt.Println(has)

	// The key's prefix "__bento" is reserved for bento's own records.
	err = users.Set(ctx, "__bento:x", "v")
	fmt.Println(errors.Is(err, bento.ErrInvalidKey))
	// Output:
	// true
	// true
}

func ExampleCache_Namespace() {
	ctx := context.Background()
	b := exampleManager()
	defer b.Close()

	users := b.Namespace("users")         // keys "bento:users:*"
	posts := users.Namespace("posts")     // keys "bento:users:posts:*"
	others := b.Namespace("usersArchive") // keys "bento:usersArchive:*"
	fmt.Println(users.Path(), posts.Path(), others.Path())

	_ = users.Set(ctx, "1", "Ada")
	_ = posts.Set(ctx, "1", "Hello")
	_ = others.Set(ctx, "1", "Alan")

	_, found, _ := bento.Get[string](ctx, b.Default(), "1")
	fmt.Println("root sees users' key:", found)

	// Clearing a namespace clears its children, never a sibling.
	_ = users.Clear(ctx)
	for _, c := range []*bento.Cache{users, posts, others} {
		_, found, _ := bento.Get[string](ctx, c, "1")
		fmt.Printf("%s: %t\n", c.Path(), found)
	}
	// Output:
	// users users:posts usersArchive
	// root sees users' key: false
	// users: false
	// users:posts: false
	// usersArchive: true
}

func ExampleCache_DeleteByTag() {
	ctx := context.Background()
	b := exampleManager()
	defer b.Close()
	users := b.Namespace("users")

	_ = users.Set(ctx, "1", "Ada", bento.Tags("team:7"))
	_ = users.Set(ctx, "2", "Alan", bento.Tags("team:7", "admins"))
	_ = users.Set(ctx, "3", "Grace", bento.Tags("team:8"))

	if err := users.DeleteByTag(ctx, "team:7"); err != nil {
		log.Fatal(err)
	}
	// An entry written after the call is not affected.
	_ = users.Set(ctx, "4", "Barbara", bento.Tags("team:7"))

	for _, k := range []string{"1", "2", "3", "4"} {
		name, found, _ := bento.Get[string](ctx, users, k)
		fmt.Printf("%s: %q %t\n", k, name, found)
	}
	// Output:
	// 1: "" false
	// 2: "" false
	// 3: "Grace" true
	// 4: "Barbara" true
}

func ExampleCache_Expire() {
	ctx := context.Background()
	b := exampleManager(bento.Grace(time.Hour))
	defer b.Close()
	users := b.Namespace("users")

	_ = users.Set(ctx, "42", "Ada")
	if err := users.Expire(ctx, "42"); err != nil {
		log.Fatal(err)
	}

	// Stale, not gone: Has says no, Get still returns it under grace.
	has, _ := users.Has(ctx, "42")
	name, found, _ := bento.Get[string](ctx, users, "42")
	fmt.Println(has, name, found)
	// Output:
	// false Ada true
}

func ExampleBento_On() {
	ctx := context.Background()
	b := exampleManager()
	defer b.Close()

	off := b.On(func(e bento.Event) {
		// Listeners run synchronously: keep them quick, never call the cache.
		fmt.Printf("%s store=%s namespace=%s key=%s layer=%s graced=%t\n",
			e.Kind, e.Store, e.Namespace, e.Key, e.Layer, e.Graced)
	})
	defer off()

	users := b.Namespace("users")
	load := func(context.Context, *bento.FactoryContext[string]) (string, error) { return "Ada", nil }
	_, _ = bento.GetOrSet(ctx, users, "42", load) // miss, then written
	_, _ = bento.GetOrSet(ctx, users, "42", load) // hit in L1
	_, _ = users.Delete(ctx, "42")
	// Output:
	// miss store=main namespace=users key=42 layer=none graced=false
	// written store=main namespace=users key=42 layer=none graced=false
	// hit store=main namespace=users key=42 layer=l1 graced=false
	// deleted store=main namespace=users key=42 layer=none graced=false
}

func ExampleFactoryContext_SetTTL() {
	ctx := context.Background()
	l1 := memory.New(memory.Options{})
	b, err := bento.New(bento.Config{
		Stores: map[string]*bento.Store{"main": bento.NewStore().UseL1(l1)},
	})
	if err != nil {
		log.Fatal(err)
	}
	defer b.Close()
	tokens := b.Namespace("tokens")

	type token struct {
		Value     string
		ExpiresIn time.Duration
	}
	// Adaptive caching: the value says how long it may be cached.
	_, err = bento.GetOrSet(ctx, tokens, "api", func(ctx context.Context, fc *bento.FactoryContext[token]) (token, error) {
		t := token{Value: "s3cr3t", ExpiresIn: 10 * time.Minute} // as an auth server returns it
		fc.SetTTL(t.ExpiresIn - time.Minute)                     // renew a minute early
		return t, nil
	})
	if err != nil {
		log.Fatal(err)
	}

	// The L1 driver holds the entry under "prefix:namespace:key" for the TTL
	// the factory chose (plus the grace period, off here).
	ttl, _ := l1.Namespace("bento").Namespace("tokens").RemainingTTL("api")
	fmt.Println(ttl.Round(time.Minute))
	// Output:
	// 9m0s
}

func ExampleFactoryContext_Skip() {
	ctx := context.Background()
	b := exampleManager()
	defer b.Close()
	users := b.Namespace("users")

	db := map[string]string{"1": "Ada"}
	runs := 0
	load := func(ctx context.Context, fc *bento.FactoryContext[string]) (string, error) {
		runs++
		name, ok := db[fc.Key()]
		if !ok {
			return "", fc.Skip() // not found: cache nothing
		}
		return name, nil
	}

	name, err := bento.GetOrSet(ctx, users, "2", load)
	fmt.Printf("%q %v\n", name, err)
	_, found, _ := bento.Get[string](ctx, users, "2")
	fmt.Println("cached:", found)

	_, _ = bento.GetOrSet(ctx, users, "2", load) // nothing cached: the factory runs again
	fmt.Println("runs:", runs)
	// Output:
	// "" <nil>
	// cached: false
	// runs: 2
}

func ExampleFactoryError() {
	ctx := context.Background()
	b := exampleManager()
	defer b.Close()
	users := b.Namespace("users")

	_, err := bento.GetOrSet(ctx, users, "42", func(context.Context, *bento.FactoryContext[User]) (User, error) {
		return User{}, errors.New("database down")
	})
	if fe, ok := errors.AsType[*bento.FactoryError](err); ok {
		fmt.Println(fe.Namespace, fe.Key, fe.Background, fe.Cause)
	}

	// A panicking factory is an error too, and releases the key's lock.
	_, err = bento.GetOrSet(ctx, users, "43", func(context.Context, *bento.FactoryContext[User]) (User, error) {
		panic("bug")
	})
	if pe, ok := errors.AsType[*bento.PanicError](err); ok {
		fmt.Println("panicked with:", pe.Value)
	}
	// Output:
	// users 42 false database down
	// panicked with: bug
}

// Two instances of one application, each with its own L1, kept coherent by a
// bus. Here the instances are two managers in one process, on an in-process
// hub; in production they are separate processes on a shared transport.
func ExampleStore_UseBus() {
	ctx := context.Background()
	hub := membus.NewHub()
	db := map[string]string{"theme": "light"} // the source of truth

	newInstance := func() *bento.Bento {
		b, err := bento.New(bento.Config{
			Stores: map[string]*bento.Store{
				"main": bento.NewStore().
					UseL1(memory.New(memory.Options{})).
					UseBus(membus.New(membus.Options{Hub: hub})),
			},
		})
		if err != nil {
			log.Fatal(err)
		}
		return b
	}
	a, b := newInstance(), newInstance()
	defer a.Close()
	defer b.Close()
	// Messages are published in the background, so that a write never
	// waits for the bus; b's listener shows when one has been applied.
	applied := make(chan struct{}, 8)
	b.On(func(e bento.Event) {
		if e.Kind == bento.EventBusReceived {
			applied <- struct{}{}
		}
	})

	load := func(ctx context.Context, fc *bento.FactoryContext[string]) (string, error) {
		return db[fc.Key()], nil
	}
	va, _ := bento.GetOrSet(ctx, a.Default(), "theme", load)
	vb, _ := bento.GetOrSet(ctx, b.Default(), "theme", load)
	fmt.Println("a:", va, "b:", vb)
	<-applied // the set of a's first value has reached b

	// Instance a writes. The bus tells b, whose L1 copy stops being fresh.
	db["theme"] = "dark"
	if err := a.Default().Set(ctx, "theme", "dark"); err != nil {
		log.Fatal(err)
	}
	<-applied
	vb, _ = bento.GetOrSet(ctx, b.Default(), "theme", load)
	fmt.Println("b after a's write:", vb)

	// A delete reaches b the same way.
	_, _ = a.Default().Delete(ctx, "theme")
	<-applied
	_, found, _ := bento.Get[string](ctx, b.Default(), "theme")
	fmt.Println("b after a's delete:", found)
	// Output:
	// a: light b: light
	// b after a's write: dark
	// b after a's delete: false
}

// Options given later win: a call's over its store's, a store's over the
// manager's.
func ExampleOption() {
	ctx := context.Background()
	l1 := memory.New(memory.Options{})
	b, err := bento.New(bento.Config{
		Options: []bento.Option{bento.TTL(time.Hour)}, // the manager's
		Stores: map[string]*bento.Store{
			"main": bento.NewStore(bento.TTL(10 * time.Minute)).UseL1(l1), // the store's
		},
	})
	if err != nil {
		log.Fatal(err)
	}
	defer b.Close()
	c := b.Default()

	_ = c.Set(ctx, "store", 1)                        // the store's TTL
	_ = c.Set(ctx, "call", 2, bento.TTL(time.Minute)) // the call's TTL

	for _, k := range []string{"store", "call"} {
		ttl, _ := l1.Namespace("bento").RemainingTTL(k)
		fmt.Println(k, ttl.Round(time.Minute))
	}

	// Store-scope options are refused on a call.
	err = c.Set(ctx, "k", 3, bento.Prefix("other"))
	fmt.Println(err != nil)
	// Output:
	// store 10m0s
	// call 1m0s
	// true
}
