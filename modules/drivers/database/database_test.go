package database_test

import (
	"context"
	"crypto/rand"
	"database/sql"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/caddyserver/caddy/v2"

	"github.com/bentocache/bento"
	"github.com/bentocache/bento/drivertest"
	"github.com/bentocache/bento/internal/mapstore"
	"github.com/bentocache/bento/modules/adapters/sqlite"
	"github.com/bentocache/bento/modules/drivers/database"
)

// spy is a bento.DatabaseAdapter over mapstore that counts calls and can be
// made to fail or block. It has none of the optional capabilities.
type spy struct {
	*mapstore.Adapter

	mu         sync.Mutex
	calls      map[string]int
	table      string
	clears     []string
	createErr  error         // CreateTableIfNotExists fails with it while set
	createGate chan struct{} // CreateTableIfNotExists waits for it when set
	pruneErr   error         // PruneExpiredEntries fails with it while set
	getErr     error         // Get fails with it while set
}

func newSpy() *spy {
	return &spy{Adapter: mapstore.NewAdapter(), calls: map[string]int{}}
}

func (s *spy) count(name string) {
	s.mu.Lock()
	s.calls[name]++
	s.mu.Unlock()
}

// n returns how many times name was called.
func (s *spy) n(name string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.calls[name]
}

func (s *spy) SetTableName(name string) {
	s.count("SetTableName")
	s.mu.Lock()
	s.table = name
	s.mu.Unlock()
	s.Adapter.SetTableName(name)
}

func (s *spy) CreateTableIfNotExists(ctx context.Context) error {
	s.count("CreateTableIfNotExists")
	s.mu.Lock()
	gate, err := s.createGate, s.createErr
	s.mu.Unlock()
	if gate != nil {
		select {
		case <-gate:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	if err != nil {
		return err
	}
	return s.Adapter.CreateTableIfNotExists(ctx)
}

func (s *spy) Get(ctx context.Context, key string) (bento.Row, bool, error) {
	s.count("Get")
	s.mu.Lock()
	err := s.getErr
	s.mu.Unlock()
	if err != nil {
		return bento.Row{}, false, err
	}
	return s.Adapter.Get(ctx, key)
}

func (s *spy) Set(ctx context.Context, r bento.Row) error {
	s.count("Set")
	return s.Adapter.Set(ctx, r)
}

func (s *spy) Delete(ctx context.Context, key string) (bool, error) {
	s.count("Delete")
	return s.Adapter.Delete(ctx, key)
}

func (s *spy) Clear(ctx context.Context, prefix string) error {
	s.count("Clear")
	s.mu.Lock()
	s.clears = append(s.clears, prefix)
	s.mu.Unlock()
	return s.Adapter.Clear(ctx, prefix)
}

func (s *spy) PruneExpiredEntries(ctx context.Context) error {
	s.count("PruneExpiredEntries")
	s.mu.Lock()
	err := s.pruneErr
	s.mu.Unlock()
	if err != nil {
		return err
	}
	return s.Adapter.PruneExpiredEntries(ctx)
}

func (s *spy) Disconnect() error {
	s.count("Disconnect")
	return s.Adapter.Disconnect()
}

// capable is a spy with every optional capability of package database.
type capable struct{ *spy }

func (c capable) GetMany(ctx context.Context, keys []string) ([]bento.Row, error) {
	c.count("GetMany")
	var rows []bento.Row
	for _, k := range keys {
		r, found, err := c.Adapter.Get(ctx, k)
		if err != nil {
			return nil, err
		}
		if found {
			rows = append(rows, r)
		}
	}
	return rows, nil
}

func (c capable) SetMany(ctx context.Context, rows []bento.Row) error {
	c.count("SetMany")
	for _, r := range rows {
		if err := c.Adapter.Set(ctx, r); err != nil {
			return err
		}
	}
	return nil
}

func (c capable) Pull(ctx context.Context, key string) (bento.Row, bool, error) {
	c.count("Pull")
	c.mu.Lock() // atomic with respect to other Pulls
	defer c.mu.Unlock()
	r, found, err := c.Adapter.Get(ctx, key)
	if err != nil || !found {
		return bento.Row{}, false, err
	}
	_, err = c.Adapter.Delete(ctx, key)
	return r, err == nil, err
}

func (c capable) DeleteExpired(ctx context.Context, key string, now time.Time) (bool, error) {
	c.count("DeleteExpired")
	r, found, err := c.Adapter.Get(ctx, key)
	if err != nil || !found || r.ExpiresAt.IsZero() || now.Before(r.ExpiresAt) {
		return false, err
	}
	return c.Adapter.Delete(ctx, key)
}

var (
	_ database.BatchAdapter   = capable{}
	_ database.PullAdapter    = capable{}
	_ database.ExpiredDeleter = capable{}
)

// TestDriver_Compliance runs drivertest.L2 over an adapter without the
// optional capabilities (every fallback) and over one with all of them, each
// time with every driver on one table of one database.
func TestDriver_Compliance(t *testing.T) {
	adapters := map[string]func(db *mapstore.Adapter) bento.DatabaseAdapter{
		"plain": func(db *mapstore.Adapter) bento.DatabaseAdapter { return &spy{Adapter: db, calls: map[string]int{}} },
		"capable": func(db *mapstore.Adapter) bento.DatabaseAdapter {
			return capable{&spy{Adapter: db, calls: map[string]int{}}}
		},
	}
	for name, wrap := range adapters {
		t.Run("adapter="+name, func(t *testing.T) {
			db := mapstore.NewAdapter()
			drivertest.L2(t, func(t *testing.T) bento.L2Driver {
				dr := database.New(database.Options{
					Adapter: wrap(db.WithTable(database.DefaultTableName)),
					Prefix:  "test-" + rand.Text(),
				})
				if err := dr.Validate(); err != nil {
					t.Fatalf("Validate() = %v", err)
				}
				t.Cleanup(func() { _ = dr.Disconnect() })
				return dr
			}, drivertest.Options{})
		})
	}
}

func TestDriver_Validate(t *testing.T) {
	tests := []struct {
		name    string
		o       database.Options
		wantErr []string
	}{
		{"Defaults", database.Options{Adapter: newSpy()}, nil},
		{"TableName", database.Options{Adapter: newSpy(), TableName: "Cache_2"}, nil},
		{"TableName63", database.Options{Adapter: newSpy(), TableName: strings.Repeat("t", 63)}, nil},
		{"PruneInterval", database.Options{Adapter: newSpy(), PruneInterval: time.Minute}, nil},
		{"NoAdapter", database.Options{}, []string{"database: adapter is required"}},
		{"NegativePrune", database.Options{Adapter: newSpy(), PruneInterval: -time.Second}, []string{"prune_interval must not be negative"}},
		{"TableName64", database.Options{Adapter: newSpy(), TableName: strings.Repeat("t", 64)}, []string{"table_name"}},
		{"InjectionQuote", database.Options{Adapter: newSpy(), TableName: `bento"; DROP TABLE users; --`}, []string{"table_name", "invalid table name"}},
		{"InjectionBacktick", database.Options{Adapter: newSpy(), TableName: "bento`; DROP TABLE users; --"}, []string{"table_name"}},
		{"InjectionSemicolon", database.Options{Adapter: newSpy(), TableName: "bento;DROP TABLE users"}, []string{"table_name"}},
		{"Schema", database.Options{Adapter: newSpy(), TableName: "public.bento"}, []string{"table_name"}},
		{"Space", database.Options{Adapter: newSpy(), TableName: "bento "}, []string{"table_name"}},
		{"Digit", database.Options{Adapter: newSpy(), TableName: "1bento"}, []string{"table_name"}},
		{"NonASCII", database.Options{Adapter: newSpy(), TableName: "bentö"}, []string{"table_name"}},
		{"NUL", database.Options{Adapter: newSpy(), TableName: "bento\x00"}, []string{"table_name"}},
		{"All", database.Options{TableName: "-", PruneInterval: -1}, []string{"adapter is required", "table_name", "prune_interval"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dr := database.New(tt.o)
			err := dr.Validate()
			if len(tt.wantErr) == 0 {
				if err != nil {
					t.Errorf("Validate() = %v; want <nil>", err)
				}
				return
			}
			for _, w := range tt.wantErr {
				if err == nil || !strings.Contains(err.Error(), w) {
					t.Errorf("Validate() = %v; want an error containing %q", err, w)
				}
			}
			// Every call fails with the problem, and no SQL runs.
			if _, _, err := dr.Get(t.Context(), "k"); err == nil || !strings.Contains(err.Error(), "invalid options") {
				t.Errorf("Get on an invalid driver = %v; want an error naming the invalid options", err)
			}
			if s, ok := tt.o.Adapter.(*spy); ok && (s.n("CreateTableIfNotExists") != 0 || s.n("SetTableName") != 0) {
				t.Errorf("an invalid driver called the adapter: %v; want no call", s.calls)
			}
		})
	}
}

// TestDriver_NewDoesNoIO: New only names the table; the table is created on
// first use.
func TestDriver_NewDoesNoIO(t *testing.T) {
	s := newSpy()
	dr := database.New(database.Options{Adapter: s, TableName: "cache"})
	if err := dr.Validate(); err != nil {
		t.Fatal(err)
	}
	if got := s.calls; len(got) != 1 || got["SetTableName"] != 1 || s.table != "cache" {
		t.Errorf("after New and Validate, adapter calls = %v, table %q; want only SetTableName(\"cache\")", got, s.table)
	}
	if err := dr.Set(t.Context(), "k", []byte("v"), 0); err != nil {
		t.Fatal(err)
	}
	if n := s.n("CreateTableIfNotExists"); n != 1 {
		t.Errorf("CreateTableIfNotExists calls after the first Set = %d; want 1", n)
	}
	if s.table != "cache" {
		t.Errorf("table = %q; want %q", s.table, "cache")
	}
}

// TestDriver_CreatesTableOnce: many concurrent first calls, on the driver
// and its views, create the table once.
func TestDriver_CreatesTableOnce(t *testing.T) {
	s := newSpy()
	s.createGate = make(chan struct{})
	dr := database.New(database.Options{Adapter: s})
	var wg sync.WaitGroup
	for i := range 16 {
		d := bento.L2Driver(dr)
		if i%2 == 1 {
			d = dr.Namespace("ns")
		}
		wg.Go(func() {
			if err := d.Set(t.Context(), fmt.Sprint(i), []byte("v"), 0); err != nil {
				t.Errorf("Set #%d = %v", i, err)
			}
		})
	}
	close(s.createGate)
	wg.Wait()
	if n := s.n("CreateTableIfNotExists"); n != 1 {
		t.Errorf("CreateTableIfNotExists calls = %d after 16 concurrent first Sets; want 1", n)
	}
	if _, _, err := dr.Get(t.Context(), "k"); err != nil {
		t.Fatal(err)
	}
	if n := s.n("CreateTableIfNotExists"); n != 1 {
		t.Errorf("CreateTableIfNotExists calls = %d after a later Get; want 1", n)
	}
}

// TestDriver_CreateTableRetries: a failed creation is not remembered: the
// next call tries again.
func TestDriver_CreateTableRetries(t *testing.T) {
	s := newSpy()
	boom := errors.New("boom")
	s.createErr = boom
	dr := database.New(database.Options{Adapter: s, Prefix: "app"})
	_, _, err := dr.Get(t.Context(), "k")
	if !errors.Is(err, boom) || !strings.HasPrefix(err.Error(), `database: get "app:k": creating table "bentocache": `) {
		t.Errorf("Get with the creation failing = %v; want an error wrapping the adapter's, naming the call, key and table", err)
	}
	s.mu.Lock()
	s.createErr = nil
	s.mu.Unlock()
	if err := dr.Set(t.Context(), "k", []byte("v"), 0); err != nil {
		t.Fatalf("Set after the adapter recovered = %v; want <nil>: creation is retried", err)
	}
	if n := s.n("CreateTableIfNotExists"); n != 2 {
		t.Errorf("CreateTableIfNotExists calls = %d; want 2", n)
	}
}

// TestDriver_CreateTableWaitHonoursContext: a caller waiting for another
// caller's creation gives up when its own context ends.
func TestDriver_CreateTableWaitHonoursContext(t *testing.T) {
	s := newSpy()
	s.createGate = make(chan struct{})
	dr := database.New(database.Options{Adapter: s})
	first := make(chan error, 1)
	go func() { first <- dr.Set(t.Context(), "a", []byte("v"), 0) }()
	for s.n("CreateTableIfNotExists") == 0 { // the first caller holds the creation
		select {
		case err := <-first:
			t.Fatalf("first Set returned %v before creating the table", err)
		case <-time.After(time.Millisecond):
		}
	}
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if _, _, err := dr.Get(ctx, "a"); !errors.Is(err, context.Canceled) {
		t.Errorf("Get with a cancelled context while another call creates the table = %v; want context.Canceled", err)
	}
	close(s.createGate)
	if err := <-first; err != nil {
		t.Errorf("first Set = %v", err)
	}
}

// TestDriver_SkipCreateTable: the driver never creates the table.
func TestDriver_SkipCreateTable(t *testing.T) {
	s := newSpy()
	if err := s.Adapter.CreateTableIfNotExists(t.Context()); err != nil {
		t.Fatal(err)
	}
	dr := database.New(database.Options{Adapter: s, SkipCreateTable: true})
	if err := dr.Set(t.Context(), "k", []byte("v"), 0); err != nil {
		t.Fatal(err)
	}
	if n := s.n("CreateTableIfNotExists"); n != 0 {
		t.Errorf("CreateTableIfNotExists calls = %d with SkipCreateTable; want 0", n)
	}
}

// TestDriver_LazyDelete: Get, Has and GetMany report an expired row missing
// and delete it: with DeleteExpired when the adapter has it, else Delete.
func TestDriver_LazyDelete(t *testing.T) {
	for _, withCap := range []bool{false, true} {
		t.Run(fmt.Sprintf("capable=%t", withCap), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				s := newSpy()
				var a bento.DatabaseAdapter = s
				deleter := "Delete"
				if withCap {
					a, deleter = capable{s}, "DeleteExpired"
				}
				dr := database.New(database.Options{Adapter: a, Prefix: "app"})
				ctx := t.Context()
				for _, k := range []string{"get", "has", "many"} {
					if err := dr.Set(ctx, k, []byte("v"), time.Minute); err != nil {
						t.Fatal(err)
					}
				}
				if err := dr.Set(ctx, "live", []byte("v"), time.Hour); err != nil {
					t.Fatal(err)
				}
				time.Sleep(time.Minute)
				if v, found, err := dr.Get(ctx, "get"); err != nil || found {
					t.Errorf("Get of an expired entry = %q, %t, %v; want nil, false, <nil>", v, found, err)
				}
				if found, err := dr.Has(ctx, "has"); err != nil || found {
					t.Errorf("Has of an expired entry = %t, %v; want false, <nil>", found, err)
				}
				vs, err := dr.GetMany(ctx, []string{"many", "live"})
				if err != nil || len(vs) != 2 || vs[0] != nil || string(vs[1]) != "v" {
					t.Errorf("GetMany(expired, live) = %q, %v; want [nil v], <nil>", vs, err)
				}
				for _, k := range []string{"get", "has", "many"} {
					if _, found, _ := s.Adapter.Get(ctx, "app:"+k); found {
						t.Errorf("row %q still stored after a read found it expired; want it deleted", "app:"+k)
					}
				}
				if _, found, _ := s.Adapter.Get(ctx, "app:live"); !found {
					t.Error(`row "app:live" was deleted; want only expired rows deleted`)
				}
				if n := s.n(deleter); n != 3 {
					t.Errorf("%s calls = %d; want 3, one per expired row read", deleter, n)
				}
			})
		})
	}
}

// TestDriver_PullExpired: an expired entry is a miss for Pull too, and is
// removed.
func TestDriver_PullExpired(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := newSpy()
		dr := database.New(database.Options{Adapter: s})
		if err := dr.Set(t.Context(), "k", []byte("v"), time.Second); err != nil {
			t.Fatal(err)
		}
		time.Sleep(time.Second)
		if v, found, err := dr.Pull(t.Context(), "k"); err != nil || found {
			t.Errorf("Pull of an expired entry = %q, %t, %v; want nil, false, <nil>", v, found, err)
		}
		if _, found, _ := s.Adapter.Get(t.Context(), "k"); found {
			t.Error("row still stored after Pull; want it deleted")
		}
	})
}

// TestDriver_PullFallback: without a PullAdapter, of concurrent Pulls of one
// key at most one finds it.
func TestDriver_PullFallback(t *testing.T) {
	dr := database.New(database.Options{Adapter: newSpy()})
	for round := range 20 {
		if err := dr.Set(t.Context(), "k", []byte("v"), 0); err != nil {
			t.Fatal(err)
		}
		var (
			wg    sync.WaitGroup
			mu    sync.Mutex
			found int
		)
		for range 4 {
			wg.Go(func() {
				_, ok, err := dr.Pull(t.Context(), "k")
				if err != nil {
					t.Error(err)
				}
				if ok {
					mu.Lock()
					found++
					mu.Unlock()
				}
			})
		}
		wg.Wait()
		if found != 1 {
			t.Fatalf("round %d: %d of 4 concurrent Pulls found the entry; want 1", round, found)
		}
	}
}

// TestDriver_Batch: with a BatchAdapter, GetMany and SetMany are one adapter
// call each; without, one per key.
func TestDriver_Batch(t *testing.T) {
	s := newSpy()
	dr := database.New(database.Options{Adapter: capable{s}, Prefix: "app"})
	ctx := t.Context()
	if err := dr.SetMany(ctx, []bento.KeyValue{{Key: "a", Value: []byte("1")}, {Key: "b", Value: nil}}, time.Hour); err != nil {
		t.Fatal(err)
	}
	vs, err := dr.Namespace("x").(bento.L2BatchDriver).GetMany(ctx, []string{"a"})
	if err != nil || len(vs) != 1 || vs[0] != nil {
		t.Errorf(`Namespace("x").GetMany([a]) = %q, %v; want [nil]`, vs, err)
	}
	vs, err = dr.GetMany(ctx, []string{"a", "b", "c", "a"})
	if err != nil || len(vs) != 4 || string(vs[0]) != "1" || vs[1] == nil || len(vs[1]) != 0 || vs[2] != nil || string(vs[3]) != "1" {
		t.Errorf("GetMany([a b c a]) = %q, %v; want [1 \"\" nil 1]: a nil value is stored as empty", vs, err)
	}
	if s.n("SetMany") != 1 || s.n("GetMany") != 2 || s.n("Set") != 0 || s.n("Get") != 0 {
		t.Errorf("adapter calls = %v; want one SetMany and one GetMany per batch", s.calls)
	}

	plain := newSpy()
	dr = database.New(database.Options{Adapter: plain})
	if err := dr.SetMany(ctx, []bento.KeyValue{{Key: "a", Value: []byte("1")}, {Key: "b", Value: []byte("2")}}, 0); err != nil {
		t.Fatal(err)
	}
	if vs, err := dr.GetMany(ctx, []string{"a", "b", "c"}); err != nil || string(vs[0]) != "1" || string(vs[1]) != "2" || vs[2] != nil {
		t.Errorf("GetMany([a b c]) = %q, %v; want [1 2 nil]", vs, err)
	}
	if plain.n("Set") != 2 || plain.n("Get") != 3 {
		t.Errorf("adapter calls = %v; want one Set and one Get per key", plain.calls)
	}
}

// TestDriver_ClearPrefix: Clear hands the adapter the view's prefix and a
// separator, or "" on the root of an unprefixed driver.
func TestDriver_ClearPrefix(t *testing.T) {
	tests := []struct {
		prefix    string
		namespace []string
		want      string
	}{
		{"", nil, ""},
		{"", []string{"users"}, "users:"},
		{"app", nil, "app:"},
		{"app", []string{"users"}, "app:users:"},
		{"app", []string{"users", "posts"}, "app:users:posts:"},
		{"a%_\\", []string{"u%"}, "a%_\\:u%:"},
	}
	for _, tt := range tests {
		s := newSpy()
		var d bento.L2Driver = database.New(database.Options{Adapter: s, Prefix: tt.prefix})
		for _, ns := range tt.namespace {
			d = d.Namespace(ns)
		}
		if err := d.Clear(t.Context()); err != nil {
			t.Fatal(err)
		}
		if len(s.clears) != 1 || s.clears[0] != tt.want {
			t.Errorf("prefix %q, namespaces %q: Clear called adapter.Clear with %q; want [%q]", tt.prefix, tt.namespace, s.clears, tt.want)
		}
	}
}

// TestDriver_Errors: adapter errors come back wrapped (%w) with the call and
// the full key, long keys abridged.
func TestDriver_Errors(t *testing.T) {
	s := newSpy()
	dr := database.New(database.Options{Adapter: s, Prefix: "app"})
	if err := dr.Set(t.Context(), "k", []byte("v"), 0); err != nil {
		t.Fatal(err)
	}
	boom := errors.New("boom")
	s.mu.Lock()
	s.getErr = boom
	s.mu.Unlock()
	_, _, err := dr.Namespace("users").Get(t.Context(), "k")
	if !errors.Is(err, boom) || err.Error() != `database: get "app:users:k": boom` {
		t.Errorf("Get with the adapter failing = %v; want database: get \"app:users:k\": boom, wrapping it", err)
	}
	_, _, err = dr.Get(t.Context(), strings.Repeat("x", 10<<10))
	if !errors.Is(err, boom) || len(err.Error()) > 200 {
		t.Errorf("Get of a 10 KiB key with the adapter failing = %d bytes of message; want an abridged key", len(err.Error()))
	}
}

// TestDriver_PruneInterval: background pruning starts on first use, runs
// every interval on the driver's own context (a caller's cancelled context
// does not stop it), logs its errors, and stops on Disconnect, which waits
// for its goroutine (synctest.Test fails if one is left).
func TestDriver_PruneInterval(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := newSpy()
		core, logs := observer.New(zap.ErrorLevel)
		dr := database.New(database.Options{Adapter: s, PruneInterval: time.Minute, Logger: zap.New(core)})
		time.Sleep(5 * time.Minute)
		if n := s.n("PruneExpiredEntries"); n != 0 {
			t.Errorf("%d prunes before the first use; want 0: New does no I/O", n)
		}
		ctx, cancel := context.WithCancel(t.Context())
		if err := dr.Set(ctx, "expired", []byte("v"), time.Second); err != nil {
			t.Fatal(err)
		}
		cancel()
		time.Sleep(3*time.Minute + time.Second)
		synctest.Wait()
		if n := s.n("PruneExpiredEntries"); n != 3 {
			t.Errorf("%d prunes 3m after the first use with a 1m interval; want 3", n)
		}
		if _, found, _ := s.Adapter.Get(t.Context(), "expired"); found {
			t.Error("the expired row is still stored after background prunes")
		}

		s.mu.Lock()
		s.pruneErr = errors.New("server gone")
		s.mu.Unlock()
		time.Sleep(time.Minute)
		synctest.Wait()
		if logs.Len() != 1 || !strings.Contains(fmt.Sprint(logs.All()[0].ContextMap()), "server gone") {
			t.Errorf("logged %d entries after a failed background prune (%v); want 1 with its error", logs.Len(), logs.All())
		}

		done := make(chan error, 1)
		go func() { done <- dr.Namespace("ns").Disconnect() }()
		select {
		case err := <-done:
			if err != nil {
				t.Fatal(err)
			}
		case <-time.After(time.Hour):
			t.Fatal("Disconnect() still running after an hour of fake time; want it to stop pruning and return")
		}
		n := s.n("PruneExpiredEntries")
		time.Sleep(10 * time.Minute)
		if got := s.n("PruneExpiredEntries"); got != n {
			t.Errorf("%d prunes after Disconnect; want none", got-n)
		}
		if err := dr.Disconnect(); err != nil {
			t.Errorf("second Disconnect() = %v; want <nil>", err)
		}
		if n := s.n("Disconnect"); n != 1 {
			t.Errorf("adapter Disconnect calls = %d after Disconnect on a view and on the root; want 1", n)
		}
	})
}

// TestDriver_Prune: Prune on demand prunes the whole table.
func TestDriver_Prune(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := newSpy()
		dr := database.New(database.Options{Adapter: s, Prefix: "a"})
		other := database.New(database.Options{Adapter: capable{&spy{Adapter: s.Adapter, calls: map[string]int{}}}, Prefix: "b"})
		for _, d := range []*database.Driver{dr, other} {
			if err := d.Set(t.Context(), "k", []byte("v"), time.Second); err != nil {
				t.Fatal(err)
			}
		}
		time.Sleep(2 * time.Second)
		if err := dr.Prune(t.Context()); err != nil {
			t.Fatal(err)
		}
		for _, k := range []string{"a:k", "b:k"} {
			if _, found, _ := s.Adapter.Get(t.Context(), k); found {
				t.Errorf("row %q still stored after Prune; want every expired row of the table gone", k)
			}
		}
	})
}

// countRows returns the number of rows of table, in the SQLite database at
// path, whose key starts with prefix.
func countRows(t *testing.T, path, table, prefix string) int {
	t.Helper()
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var n int
	q := `SELECT count(*) FROM "` + table + `" WHERE substr("key", 1, ?) = ?`
	if err := db.QueryRowContext(t.Context(), q, len(prefix), []byte(prefix)).Scan(&n); err != nil {
		t.Fatalf("counting the rows of %q under %q: %v", table, prefix, err)
	}
	return n
}

// TestModule_LoadJSON builds a store on bento.drivers.database over
// bento.adapters.sqlite from JSON: values round-trip through the
// configured table, under the configured prefix.
func TestModule_LoadJSON(t *testing.T) {
	path := filepath.Join(t.TempDir(), "c.db")
	cfg := fmt.Appendf(nil, `{"stores": {"s": {"l2": {
		"driver": "database",
		"adapter": {"adapter": "sqlite", "path": %q},
		"table_name": "cache", "prefix": "app", "prune_interval": "1m"
	}}}}`, path)
	ctx := t.Context()
	b, err := bento.LoadJSON(ctx, cfg)
	if err != nil {
		t.Fatalf("LoadJSON = %v", err)
	}
	defer b.Close()
	users := b.Namespace("users")
	if err := users.Set(ctx, "42", "Ada"); err != nil {
		t.Fatalf("Set = %v", err)
	}
	if v, found, err := bento.Get[string](ctx, users, "42"); err != nil || !found || v != "Ada" {
		t.Errorf("Get = %q, %t, %v; want \"Ada\", true, <nil>", v, found, err)
	}
	if n := countRows(t, path, "cache", "app:"); n != 1 {
		t.Errorf("rows of table cache under app: = %d; want 1", n)
	}
}

// TestModule_SkipCreateTable: with skip_create_table the driver never
// creates the table, so a write to a fresh database fails.
func TestModule_SkipCreateTable(t *testing.T) {
	path := filepath.Join(t.TempDir(), "c.db")
	// No breaker: the store's ping at start fails on the missing table too,
	// and an open breaker would skip the Set instead of showing its error.
	cfg := fmt.Appendf(nil, `{"stores": {"s": {"l2_circuit_breaker": "0", "l2": {"driver": "database", "adapter": {"adapter": "sqlite", "path": %q}, "skip_create_table": true}}}}`, path)
	b, err := bento.LoadJSON(t.Context(), cfg)
	if err != nil {
		t.Fatalf("LoadJSON = %v", err)
	}
	defer b.Close()
	if err := b.Default().Set(t.Context(), "k", "v"); err == nil || !strings.Contains(err.Error(), "no such table: bentocache") {
		t.Errorf("Set with skip_create_table on a fresh database = %v; want a \"no such table\" error", err)
	}
}

// TestDriver_Provision loads the adapter sub-module into Adapter, and
// Cleanup is safe on a driver whose Provision failed or never ran.
func TestDriver_Provision(t *testing.T) {
	ctx, cancel := caddy.NewContext(caddy.Context{Context: t.Context()})
	defer cancel()
	dr := &database.Driver{AdapterRaw: []byte(`{"adapter": "sqlite"}`), TableName: "cache", Prefix: "app"}
	if err := dr.Provision(ctx); err != nil {
		t.Fatalf("Provision() = %v; want <nil>", err)
	}
	if _, ok := dr.Adapter.(*sqlite.Adapter); !ok {
		t.Errorf("Provision() loaded adapter %T; want *sqlite.Adapter", dr.Adapter)
	}
	if err := dr.Validate(); err != nil {
		t.Errorf("Validate() = %v; want <nil>", err)
	}
	if err := dr.Set(t.Context(), "k", []byte("v"), 0); err != nil {
		t.Fatal(err)
	}
	if row, found, err := dr.Adapter.Get(t.Context(), "app:k"); err != nil || !found || string(row.Value) != "v" {
		t.Errorf("adapter Get(\"app:k\") = %+v, %t, %v; want the row that Set wrote, under the prefix", row, found, err)
	}
	for i := range 2 {
		if err := dr.Cleanup(); err != nil {
			t.Errorf("Cleanup() #%d = %v; want <nil>", i+1, err)
		}
	}
	if _, _, err := dr.Adapter.Get(t.Context(), "app:k"); !errors.Is(err, database.ErrDisconnected) {
		t.Errorf("adapter Get after Cleanup = %v; want database.ErrDisconnected: Cleanup disconnects the adapter", err)
	}

	failed := new(database.Driver)
	if err := failed.Provision(ctx); err == nil {
		t.Error("Provision() with no adapter = <nil>; want an error")
	}
	if err := failed.Cleanup(); err != nil {
		t.Errorf("Cleanup() after a failed Provision = %v; want <nil>", err)
	}
}

func TestModule_LoadJSONErrors(t *testing.T) {
	sqliteAdapter := `{"adapter": "sqlite"}`
	tests := []struct {
		name, l2 string
		says     []string
		not      string // the error must not say it
	}{
		{"NoAdapter", `{"driver": "database"}`,
			[]string{`stores.s.l2: module "bento.drivers.database": database: adapter is required`, `"adapter": {"adapter": "sqlite", "path": `}, ""},
		{"NullAdapter", `{"driver": "database", "adapter": null}`, []string{"database: adapter is required"}, ""},
		{"AdapterNotObject", `{"driver": "database", "adapter": "sqlite"}`, []string{"database: adapter: want an object"}, ""},
		{"AdapterNoName", `{"driver": "database", "adapter": {"dsn": "postgres://app:s3cret@db/app"}}`,
			[]string{`database: adapter: missing "adapter"`, `"adapter": {"adapter": "sqlite"`}, "s3cret"},
		{"UnknownAdapter", `{"driver": "database", "adapter": {"adapter": "cassandra"}}`,
			[]string{`"bento.adapters.cassandra"`, "not compiled in", "xbento build --with"}, ""},
		{"AdapterTypo", `{"driver": "database", "adapter": {"adapter": "sqlit"}}`,
			[]string{`database: adapter: unknown module "bento.adapters.sqlit": did you mean "sqlite"?`}, "bento: unknown"},
		{"AdapterUnknownField", `{"driver": "database", "adapter": {"adapter": "sqlite", "paht": "c.db"}}`,
			[]string{"bento.adapters.sqlite", "paht"}, ""},
		{"AdapterNoDSN", `{"driver": "database", "adapter": {"adapter": "postgres"}}`, []string{"postgres: dsn is required"}, ""},
		{"AdapterBadDSN", `{"driver": "database", "adapter": {"adapter": "mysql", "dsn": "nonsense"}}`, []string{"mysql: dsn: "}, ""},
		{"BadDuration", `{"driver": "database", "adapter": ` + sqliteAdapter + `, "prune_interval": "soon"}`,
			[]string{"bento.drivers.database", `"soon"`}, ""},
		{"NegativeInterval", `{"driver": "database", "adapter": ` + sqliteAdapter + `, "prune_interval": "-1m"}`,
			[]string{"database: prune_interval must not be negative"}, ""},
		{"BadTableName", `{"driver": "database", "adapter": ` + sqliteAdapter + `, "table_name": "bento-cache"}`,
			[]string{`database: table_name: invalid table name "bento-cache"`}, ""},
		{"UnknownField", `{"driver": "database", "adapter": ` + sqliteAdapter + `, "tabel_name": "x"}`,
			[]string{"bento.drivers.database", "tabel_name"}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := `{"stores": {"s": {"l2": ` + tt.l2 + `}}}`
			b, err := bento.LoadJSON(t.Context(), []byte(cfg))
			if err == nil {
				b.Close()
				t.Fatalf("LoadJSON(%s) succeeded; want an error saying %q", cfg, tt.says)
			}
			for _, s := range tt.says {
				if !strings.Contains(err.Error(), s) {
					t.Errorf("LoadJSON(%s) error %q does not say %q", cfg, err, s)
				}
			}
			if tt.not != "" && strings.Contains(err.Error(), tt.not) {
				t.Errorf("LoadJSON(%s) error %q shows %q", cfg, err, tt.not)
			}
		})
	}
	t.Run("NotL1", func(t *testing.T) {
		_, err := bento.LoadJSON(t.Context(), []byte(`{"stores": {"s": {"l1": {"driver": "database", "adapter": `+sqliteAdapter+`}}}}`))
		if want := `module "bento.drivers.database" is not an L1 driver: it serves l2`; err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("LoadJSON with the database driver as l1 = %v; want an error saying %q", err, want)
		}
	})
}
