// Command quickstart shows bento's main job on an in-process store, with no
// server: misses and hits, stampede protection, grace periods
// (stale-while-revalidate and a fallback when the source fails), and tags.
//
//	go run ./examples/quickstart
package main

import (
	"context"
	"errors"
	"fmt"
	"log"
	"sync"
	"sync/atomic"
	"time"

	"github.com/bentocache/bento"
	"github.com/bentocache/bento/modules/drivers/memory"
)

type user struct {
	ID   int
	Name string
}

func main() {
	ctx := context.Background()
	b, err := bento.New(bento.Config{
		Stores: map[string]*bento.Store{
			"main": bento.NewStore(bento.TTL(200*time.Millisecond), bento.Grace(time.Hour)).
				UseL1(memory.New(memory.Options{MaxItems: 10_000})),
		},
	})
	if err != nil {
		log.Fatal(err)
	}
	defer b.Close()
	var quiet atomic.Bool
	b.On(func(e bento.Event) {
		if quiet.Load() {
			return
		}
		if e.Kind == bento.EventHit || e.Kind == bento.EventMiss {
			fmt.Printf("  event: %-4s key=%s layer=%s graced=%v\n", e.Kind, e.Key, e.Layer, e.Graced)
		}
	})
	users := b.Namespace("users")

	// 1. A miss runs the factory; the next call is an L1 hit.
	var dbCalls atomic.Int32
	load := func(name string) bento.Factory[user] {
		return func(ctx context.Context, fc *bento.FactoryContext[user]) (user, error) {
			dbCalls.Add(1)
			time.Sleep(20 * time.Millisecond) // a slow database
			return user{ID: 42, Name: name}, nil
		}
	}
	fmt.Println("1. miss, then hit")
	u, _ := bento.GetOrSet(ctx, users, "42", load("Ada"))
	fmt.Printf("  got %+v\n", u)
	u, _ = bento.GetOrSet(ctx, users, "42", load("Ada"))
	fmt.Printf("  got %+v (database calls so far: %d)\n", u, dbCalls.Load())

	// 2. Stampede protection: 1,000 concurrent callers on a missing key run
	// the factory once.
	fmt.Println("2. stampede: 1000 concurrent callers on a missing key")
	quiet.Store(true) // 1000 events would drown the output
	var wg sync.WaitGroup
	before := dbCalls.Load()
	team := b.Namespace("team")
	for range 1000 {
		wg.Go(func() { _, _ = bento.GetOrSet(ctx, team, "7", load("Grace")) })
	}
	wg.Wait()
	quiet.Store(false)
	fmt.Printf("  database calls for 1000 callers: %d\n", dbCalls.Load()-before)

	// 3. Grace: after the TTL the stale value is served at once while the
	// factory refreshes it in the background.
	fmt.Println("3. grace: the TTL (200ms) passes")
	time.Sleep(250 * time.Millisecond)
	u, _ = bento.GetOrSet(ctx, users, "42", load("Ada Lovelace"))
	fmt.Printf("  got %+v at once (stale), refreshing behind\n", u)
	time.Sleep(50 * time.Millisecond)
	u, _ = bento.GetOrSet(ctx, users, "42", load("Ada Lovelace"))
	fmt.Printf("  got %+v (refreshed)\n", u)

	// 4. The source fails: the stale value is served instead of an error.
	fmt.Println("4. the database is down after the TTL")
	time.Sleep(250 * time.Millisecond)
	down := func(context.Context, *bento.FactoryContext[user]) (user, error) {
		return user{}, errors.New("connection refused")
	}
	u, err = bento.GetOrSet(ctx, users, "42", down, bento.Timeout(time.Second))
	fmt.Printf("  got %+v, err=%v\n", u, err)

	// 5. Tags: invalidate a group of entries at once.
	fmt.Println("5. tags")
	_ = users.Set(ctx, "1", user{1, "Alan"}, bento.Tags("team:7"))
	_ = users.Set(ctx, "2", user{2, "Barbara"}, bento.Tags("team:7"))
	_ = users.DeleteByTag(ctx, "team:7")
	_, found, _ := bento.Get[user](ctx, users, "1")
	fmt.Printf("  after DeleteByTag(team:7), user 1 found: %v\n", found)
}
