// Command quickstart shows bento's main job on the embedded default, with no
// server: an in-process L1 (memory) over an L2 in a SQLite file. It shows
// misses and hits in both layers, stampede protection, grace periods
// (stale-while-revalidate and a fallback when the source fails), and tags.
// The SQLite file lives in a temporary directory, removed on exit.
//
//	go run ./examples/quickstart
package main

import (
	"context"
	"errors"
	"fmt"
	"log"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/bentocache/bento"
	"github.com/bentocache/bento/modules/adapters/sqlite"
	"github.com/bentocache/bento/modules/drivers/database"
	"github.com/bentocache/bento/modules/drivers/memory"
)

type user struct {
	ID   int
	Name string
}

func main() {
	if err := run(); err != nil {
		log.Fatal(err)
	}
}

func run() error {
	ctx := context.Background()
	dir, err := os.MkdirTemp("", "bento-quickstart-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)

	l1 := memory.New(memory.Options{MaxItems: 10_000})
	l2 := database.New(database.Options{
		Adapter: sqlite.New(sqlite.Options{Path: filepath.Join(dir, "bento.db")}),
	})
	b, err := bento.New(bento.Config{
		Stores: map[string]*bento.Store{
			"main": bento.NewStore(bento.TTL(200*time.Millisecond), bento.Grace(time.Hour)).
				UseL1(l1).
				UseL2(l2),
		},
	})
	if err != nil {
		return err
	}
	defer b.Close()

	var quiet, graced atomic.Bool    // graced: the last hit served a stale value
	written := make(chan string, 16) // keys written, to wait for a background refresh
	b.On(func(e bento.Event) {
		if e.Kind == bento.EventWritten {
			select {
			case written <- e.Key:
			default:
			}
		}
		if e.Kind == bento.EventHit {
			graced.Store(e.Graced)
		}
		if quiet.Load() {
			return
		}
		if e.Kind == bento.EventHit || e.Kind == bento.EventMiss {
			fmt.Printf("  event: %-4s key=%s layer=%s graced=%v\n", e.Kind, e.Key, e.Layer, e.Graced)
		}
	})
	users := b.Namespace("users")

	// 1. A miss runs the factory and writes L1 and L2; the next call is an
	// L1 hit.
	var dbCalls atomic.Int32
	load := func(name string) bento.Factory[user] {
		return func(ctx context.Context, fc *bento.FactoryContext[user]) (user, error) {
			dbCalls.Add(1)
			time.Sleep(20 * time.Millisecond) // a slow database
			return user{ID: 42, Name: name}, nil
		}
	}
	fmt.Println("1. miss, then hit")
	u, err := bento.GetOrSet(ctx, users, "42", load("Ada"))
	if err != nil {
		return err
	}
	fmt.Printf("  got %+v\n", u)
	u, _ = bento.GetOrSet(ctx, users, "42", load("Ada"))
	fmt.Printf("  got %+v (database calls so far: %d)\n", u, dbCalls.Load())
	drain(written)

	// 2. L1 is dropped (a restart, an eviction): the value is still in L2,
	// which is read and copied back to L1, with no factory call.
	fmt.Println("2. L1 dropped: an L2 hit, then L1 again")
	l1.Clear()
	u, _ = bento.GetOrSet(ctx, users, "42", load("Ada"))
	fmt.Printf("  got %+v from L2\n", u)
	u, _ = bento.GetOrSet(ctx, users, "42", load("Ada"))
	fmt.Printf("  got %+v (database calls so far: %d)\n", u, dbCalls.Load())

	// 3. Stampede protection: 1,000 concurrent callers on a missing key run
	// the factory once.
	fmt.Println("3. stampede: 1000 concurrent callers on a missing key")
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
	drain(written)

	// 4. Grace: after the TTL the stale value is served at once while the
	// factory refreshes it in the background.
	fmt.Println("4. grace: the TTL (200ms) passes")
	time.Sleep(250 * time.Millisecond)
	u, _ = bento.GetOrSet(ctx, users, "42", load("Ada Lovelace"))
	fmt.Printf("  got %+v at once (stale), refreshing behind\n", u)
	if err := waitWritten(written, "42"); err != nil {
		return err
	}
	u, _ = bento.GetOrSet(ctx, users, "42", load("Ada Lovelace"))
	fmt.Printf("  got %+v (refreshed)\n", u)

	// 5. The source fails: the factory's error is reported to
	// OnFactoryError, and the stale value is served instead of an error.
	fmt.Println("5. the database is down after the TTL")
	time.Sleep(250 * time.Millisecond)
	down := func(context.Context, *bento.FactoryContext[user]) (user, error) {
		return user{}, errors.New("connection refused")
	}
	reportFailure := bento.OnFactoryError(func(fe *bento.FactoryError) {
		fmt.Printf("  the factory failed: %v\n", fe.Cause)
	})
	u, err = bento.GetOrSet(ctx, users, "42", down, bento.Timeout(time.Second), reportFailure)
	fmt.Printf("  got %+v, err=%v, graced value served: %v\n", u, err, graced.Load())

	// 6. Tags: invalidate a group of entries at once, in both layers.
	fmt.Println("6. tags")
	_ = users.Set(ctx, "1", user{1, "Alan"}, bento.Tags("team:7"))
	_ = users.Set(ctx, "2", user{2, "Barbara"}, bento.Tags("team:7"))
	_ = users.DeleteByTag(ctx, "team:7")
	_, found, _ := bento.Get[user](ctx, users, "1")
	fmt.Printf("  after DeleteByTag(team:7), user 1 found: %v\n", found)
	return nil
}

// drain forgets the writes seen so far.
func drain(written chan string) {
	for {
		select {
		case <-written:
		default:
			return
		}
	}
}

// waitWritten waits for the write of key, as a background refresh makes it.
func waitWritten(written chan string, key string) error {
	timeout := time.After(5 * time.Second)
	for {
		select {
		case k := <-written:
			if k == key {
				return nil
			}
		case <-timeout:
			return fmt.Errorf("no write of %q within 5s", key)
		}
	}
}
