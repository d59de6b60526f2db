package redis_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/bentocache/bento"
	"github.com/bentocache/bento/drivertest"
	"github.com/bentocache/bento/internal/testenv"
	"github.com/bentocache/bento/modules/drivers/redis"
)

// cleanupTimeout bounds the removal of a test's keys.
const cleanupTimeout = 10 * time.Second

// newClient returns a client of the test's own on addr, closed when t ends.
func newClient(t testing.TB, addr string) *goredis.Client {
	t.Helper()
	c := goredis.NewClient(&goredis.Options{Addr: addr})
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// opener returns an open function for drivertest.L2: a driver built by mk
// on a fresh prefix, disconnected when the subtest ends, whose keys are then
// removed through keeper, a client that outlives the driver (a case may
// disconnect the driver first).
func opener(keeper goredis.UniversalClient, mk func(prefix string) redis.Options) func(t *testing.T) bento.L2Driver {
	return func(t *testing.T) bento.L2Driver {
		prefix := testenv.Prefix(t)
		dr := redis.New(mk(prefix))
		if err := dr.Validate(); err != nil {
			t.Fatalf("Validate() = %v; want <nil>", err)
		}
		t.Cleanup(func() {
			if err := dr.Disconnect(); err != nil {
				t.Errorf("Disconnect() = %v; want <nil>", err)
			}
			removeKeys(t, keeper, prefix)
		})
		return dr
	}
}

// removeKeys removes every key under prefix, through client.
func removeKeys(t testing.TB, client goredis.UniversalClient, prefix string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), cleanupTimeout)
	defer cancel()
	if err := redis.New(redis.Options{Client: client, Prefix: prefix}).Clear(ctx); err != nil {
		t.Errorf("removing the keys under %q: %v", prefix, err)
	}
}

// testDriver returns a driver on the shared server under a fresh prefix,
// on a client of the test's own that records the commands it sends.
func testDriver(t *testing.T) (*redis.Driver, *recorder, string) {
	t.Helper()
	client := newClient(t, testenv.Redis(t))
	rec := &recorder{}
	client.AddHook(rec)
	prefix := testenv.Prefix(t)
	t.Cleanup(func() { removeKeys(t, client, prefix) })
	return redis.New(redis.Options{Client: client, Prefix: prefix}), rec, prefix
}

func TestDriver_L2(t *testing.T) {
	client := newClient(t, testenv.Redis(t))
	drivertest.L2(t, opener(client, func(prefix string) redis.Options {
		return redis.Options{Client: client, Prefix: prefix}
	}), drivertest.Options{AtomicPull: true})
}

func TestDriver_L2_OwnedClient(t *testing.T) {
	addr := testenv.Redis(t)
	keeper := newClient(t, addr)
	drivertest.L2(t, opener(keeper, func(prefix string) redis.Options {
		return redis.Options{Addrs: []string{addr}, Prefix: prefix}
	}), drivertest.Options{})
}

func TestValidate(t *testing.T) {
	client := goredis.NewClient(&goredis.Options{Addr: "127.0.0.1:1"})
	t.Cleanup(func() { _ = client.Close() })
	tests := []struct {
		name    string
		o       redis.Options
		wantErr string // a part of the message; "" for none
	}{
		{name: "Zero", o: redis.Options{}},
		{name: "Client", o: redis.Options{Client: client, Prefix: "app"}},
		{name: "OneAddr", o: redis.Options{Addrs: []string{"127.0.0.1:6379"}, DB: 3, DialTimeout: time.Second}},
		{name: "Cluster", o: redis.Options{Addrs: []string{"a:1", "b:1", "c:1"}}},
		{name: "ClientAndAddrs", o: redis.Options{Client: client, Addrs: []string{"a:1"}}, wantErr: "redis: client and addrs are both set"},
		{name: "ClientAndPassword", o: redis.Options{Client: client, Password: "x"}, wantErr: "redis: client and password are both set"},
		{name: "ClientAndDB", o: redis.Options{Client: client, DB: 1}, wantErr: "redis: client and db are both set"},
		{name: "ClientAndDialTimeout", o: redis.Options{Client: client, DialTimeout: time.Second}, wantErr: "redis: client and dial_timeout are both set"},
		{name: "EmptyAddr", o: redis.Options{Addrs: []string{"a:1", " "}}, wantErr: "redis: addrs[1] is empty"},
		{name: "NegativeDB", o: redis.Options{DB: -1}, wantErr: "redis: db is -1"},
		{name: "DBWithSeveralAddrs", o: redis.Options{Addrs: []string{"a:1", "b:1"}, DB: 2}, wantErr: "redis: db is 2 with a cluster"},
		{name: "DBWithCluster", o: redis.Options{Addrs: []string{"a:1"}, Cluster: true, DB: 2}, wantErr: "redis: db is 2 with a cluster"},
		{name: "NegativeDialTimeout", o: redis.Options{DialTimeout: -time.Second}, wantErr: "redis: dial_timeout is -1s"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dr := redis.New(tt.o)
			t.Cleanup(func() { _ = dr.Disconnect() })
			err := dr.Validate()
			switch {
			case tt.wantErr == "" && err != nil:
				t.Errorf("Validate() = %v; want <nil>", err)
			case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
				t.Errorf("Validate() = %v; want an error containing %q", err, tt.wantErr)
			}
			if ns, ok := dr.Namespace("users").(*redis.Driver); !ok {
				t.Errorf("Namespace(%q) = %T; want *redis.Driver", "users", dr.Namespace("users"))
			} else if nerr := ns.Validate(); (nerr == nil) != (err == nil) {
				t.Errorf("Namespace(%q).Validate() = %v; want the root's %v", "users", nerr, err)
			}
		})
	}
}

func TestNew_UnreachableServer(t *testing.T) {
	addr := testenv.ClosedAddr(t)
	start := time.Now()
	dr := redis.New(redis.Options{Addrs: []string{addr}, DialTimeout: time.Second})
	t.Cleanup(func() { _ = dr.Disconnect() })
	if d := time.Since(start); d > 100*time.Millisecond {
		t.Errorf("New took %v with an unreachable server; want no I/O in New", d)
	}
	if err := dr.Validate(); err != nil {
		t.Errorf("Validate() = %v; want <nil>: Validate does no I/O", err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	v, found, err := dr.Get(ctx, "k")
	if err == nil || found || v != nil {
		t.Fatalf("Get(ctx, %q) = %q, %t, %v on an unreachable server; want nil, false, an error", "k", v, found, err)
	}
	var opErr *net.OpError
	if !strings.Contains(err.Error(), addr) || !errors.As(err, &opErr) || !strings.HasPrefix(err.Error(), "redis: get ") {
		t.Errorf("Get(ctx, %q) = %v; want a \"redis: get\" error wrapping the *net.OpError of dialing %s", "k", err, addr)
	}
	if ctx.Err() != nil {
		t.Errorf("Get(ctx, %q) returned only when its context expired; want the dial error before", "k")
	}
}

func TestDriver_Disconnect(t *testing.T) {
	addr := testenv.Redis(t)
	t.Run("OwnedClient", func(t *testing.T) {
		dr := redis.New(redis.Options{Addrs: []string{addr}, Prefix: testenv.Prefix(t)})
		if _, _, err := dr.Get(t.Context(), "k"); err != nil {
			t.Fatalf("Get(ctx, %q) = %v; want <nil>", "k", err)
		}
		users := dr.Namespace("users")
		for i := range 2 {
			if err := users.Disconnect(); err != nil {
				t.Errorf("Namespace(%q).Disconnect() #%d = %v; want <nil>", "users", i+1, err)
			}
		}
		if err := dr.Disconnect(); err != nil {
			t.Errorf("Disconnect() after the namespace's = %v; want <nil>", err)
		}
		if _, _, err := dr.Get(t.Context(), "k"); !errors.Is(err, goredis.ErrClosed) {
			t.Errorf("Get(ctx, %q) after Disconnect = %v; want an error wrapping goredis.ErrClosed: the driver closes a client it opened, shared by its views", "k", err)
		}
	})
	t.Run("UserClient", func(t *testing.T) {
		client := newClient(t, addr)
		dr := redis.New(redis.Options{Client: client, Prefix: testenv.Prefix(t)})
		for i := range 2 {
			if err := dr.Disconnect(); err != nil {
				t.Errorf("Disconnect() #%d = %v; want <nil>", i+1, err)
			}
		}
		if err := client.Ping(t.Context()).Err(); err != nil {
			t.Errorf("client.Ping after Disconnect = %v; want <nil>: the driver never closes a client passed in Options.Client", err)
		}
		if _, _, err := dr.Get(t.Context(), "k"); err != nil {
			t.Errorf("Get(ctx, %q) after Disconnect of a driver on a user's client = %v; want <nil>", "k", err)
		}
	})
}

// recorder is a go-redis hook that records the commands a client sends and
// the round trips it makes: one per command sent alone, one per pipeline.
// The commands that set up a new connection are left out.
type recorder struct {
	mu         sync.Mutex
	cmds       [][]any
	roundTrips int
}

func (r *recorder) DialHook(next goredis.DialHook) goredis.DialHook { return next }

func (r *recorder) ProcessHook(next goredis.ProcessHook) goredis.ProcessHook {
	return func(ctx context.Context, cmd goredis.Cmder) error {
		if !connSetup(cmd) {
			r.mu.Lock()
			r.cmds = append(r.cmds, slices.Clone(cmd.Args()))
			r.roundTrips++
			r.mu.Unlock()
		}
		return next(ctx, cmd)
	}
}

func (r *recorder) ProcessPipelineHook(next goredis.ProcessPipelineHook) goredis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []goredis.Cmder) error {
		r.mu.Lock()
		n := 0
		for _, cmd := range cmds {
			if !connSetup(cmd) {
				r.cmds = append(r.cmds, slices.Clone(cmd.Args()))
				n++
			}
		}
		if n > 0 {
			r.roundTrips++
		}
		r.mu.Unlock()
		return next(ctx, cmds)
	}
}

// connSetup reports whether cmd is one that go-redis sends to set up a new
// connection.
func connSetup(cmd goredis.Cmder) bool {
	switch cmd.Name() {
	case "hello", "client", "auth", "select":
		return true
	}
	return false
}

// take returns what was recorded since the last take, commands formatted as
// space-separated lower-case words, and forgets it.
func (r *recorder) take() (cmds []string, roundTrips int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, args := range r.cmds {
		words := make([]string, len(args))
		for i, a := range args {
			switch a := a.(type) {
			case []byte:
				words[i] = string(a)
			default:
				words[i] = strings.ToLower(fmt.Sprint(a))
			}
		}
		cmds = append(cmds, strings.Join(words, " "))
	}
	roundTrips = r.roundTrips
	r.cmds, r.roundTrips = nil, 0
	return cmds, roundTrips
}

func TestDriver_Commands(t *testing.T) {
	dr, rec, p := testDriver(t)
	ctx := t.Context()
	users := dr.Namespace("users").(*redis.Driver)
	tests := []struct {
		name string
		call func() error
		want []string
		// trips is the number of round trips wanted.
		trips int
	}{
		{"SetPX", func() error { return dr.Set(ctx, "k", []byte("v"), 1500*time.Millisecond) }, []string{"set " + p + ":k v px 1500"}, 1},
		{"SetRoundsUpToMillisecond", func() error { return dr.Set(ctx, "k", []byte("v"), 1500*time.Microsecond) }, []string{"set " + p + ":k v px 2"}, 1},
		{"SetHourIsPX", func() error { return dr.Set(ctx, "k", []byte("v"), time.Hour) }, []string{"set " + p + ":k v px 3600000"}, 1},
		{"SetForever", func() error { return dr.Set(ctx, "k", []byte("v"), 0) }, []string{"set " + p + ":k v"}, 1},
		{"Get", func() error { _, _, err := dr.Get(ctx, "k"); return err }, []string{"get " + p + ":k"}, 1},
		{"Has", func() error { _, err := dr.Has(ctx, "k"); return err }, []string{"exists " + p + ":k"}, 1},
		{"Pull", func() error { _, _, err := dr.Pull(ctx, "k"); return err }, []string{"getdel " + p + ":k"}, 1},
		{"Delete", func() error { _, err := users.Delete(ctx, "k"); return err }, []string{"unlink " + p + ":users:k"}, 1},
		{"DeleteMany", func() error { _, err := users.DeleteMany(ctx, []string{"a", "b", "c"}); return err },
			[]string{"unlink " + p + ":users:a " + p + ":users:b " + p + ":users:c"}, 1},
		{"DeleteManyEmpty", func() error { _, err := users.DeleteMany(ctx, nil); return err }, nil, 0},
		{"GetMany", func() error { _, err := users.GetMany(ctx, []string{"a", "b"}); return err },
			[]string{"mget " + p + ":users:a " + p + ":users:b"}, 1},
		{"SetMany", func() error {
			return users.SetMany(ctx, []bento.KeyValue{{Key: "a", Value: []byte("1")}, {Key: "b", Value: []byte("2")}}, time.Minute)
		}, []string{"set " + p + ":users:a 1 px 60000", "set " + p + ":users:b 2 px 60000"}, 1},
		{"Clear", func() error { return users.Clear(ctx) }, []string{"scan 0 match " + p + ":users:* count 500", "unlink " + p + ":users:a " + p + ":users:b"}, 2},
	}
	for _, tt := range tests {
		rec.take()
		if err := tt.call(); err != nil {
			t.Errorf("%s: %v; want <nil>", tt.name, err)
			continue
		}
		got, trips := rec.take()
		if tt.name == "Clear" {
			got, trips = scanPagesFolded(got, trips)
		}
		if !slices.Equal(got, tt.want) || trips != tt.trips {
			t.Errorf("%s sent %q in %d round trips; want %q in %d", tt.name, got, trips, tt.want, tt.trips)
		}
	}
}

func TestDriver_MillisecondTTL(t *testing.T) {
	dr, _, p := testDriver(t)
	client := newClient(t, testenv.Redis(t))
	if err := dr.Set(t.Context(), "k", []byte("v"), 1500*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	ttl, err := client.PTTL(t.Context(), p+":k").Result()
	if err != nil || ttl <= time.Second || ttl > 1500*time.Millisecond {
		t.Errorf("PTTL %s:k = %v, %v after Set(ctx, %q, %q, 1.5s); want in (1s, 1.5s]", p, ttl, err, "k", "v")
	}
	if err := dr.Set(t.Context(), "k", []byte("v"), 0); err != nil {
		t.Fatal(err)
	}
	if ttl, err := client.PTTL(t.Context(), p+":k").Result(); err != nil || ttl != -1 {
		t.Errorf("PTTL %s:k = %v, %v after Set(ctx, %q, %q, 0); want -1 (no expiry): ttl 0 replaces the TTL", p, ttl, err, "k", "v")
	}
}

func TestDriver_MissIsNotAnError(t *testing.T) {
	dr, _, _ := testDriver(t)
	ctx := t.Context()
	if v, found, err := dr.Get(ctx, "missing"); v != nil || found || err != nil {
		t.Errorf("Get(ctx, %q) = %q, %t, %v; want nil, false, <nil>", "missing", v, found, err)
	}
	if v, found, err := dr.Pull(ctx, "missing"); v != nil || found || err != nil {
		t.Errorf("Pull(ctx, %q) = %q, %t, %v; want nil, false, <nil>", "missing", v, found, err)
	}
	if err := dr.Set(ctx, "empty", []byte{}, 0); err != nil {
		t.Fatal(err)
	}
	if v, found, err := dr.Get(ctx, "empty"); v == nil || len(v) != 0 || !found || err != nil {
		t.Errorf("Get(ctx, %q) = %#v, %t, %v; want []byte{}, true, <nil>: an empty value is not a miss", "empty", v, found, err)
	}
}

func TestDriver_GetReturnsACopy(t *testing.T) {
	dr, _, _ := testDriver(t)
	ctx := t.Context()
	if err := dr.Set(ctx, "k", []byte("value"), 0); err != nil {
		t.Fatal(err)
	}
	a, _, _ := dr.Get(ctx, "k")
	a[0] = 'X'
	if b, _, _ := dr.Get(ctx, "k"); string(b) != "value" {
		t.Errorf("Get(ctx, %q) = %q after the caller changed a previous result; want %q", "k", b, "value")
	}
}

// TestDriver_HostilePrefixes checks that prefixes made of glob, LIKE and
// quoting characters, NUL, invalid UTF-8 and 10 KiB round-trip, and that a
// Clear of one removes exactly its own keys: never those of a prefix that a
// careless SCAN MATCH pattern would also match.
func TestDriver_HostilePrefixes(t *testing.T) {
	client := newClient(t, testenv.Redis(t))
	base := testenv.Prefix(t)
	t.Cleanup(func() { removeKeys(t, client, base) })
	// Every prefix lives under base, so the cleanup finds it.
	prefixes := []string{
		"a*", "ab", "a", "a*b", "a?", "aXb", "[ab]", "b", "a\\", "a\\b", "a]", "a[",
		"%", "%%", "_", "'", `"`, "a'b", "k\x00", "k", "\x00", "\xff\xfe", "\xc3\x28",
		"日本", "a b", strings.Repeat("p", 10<<10),
	}
	drivers := make(map[string]*redis.Driver, len(prefixes))
	ctx := t.Context()
	for _, p := range prefixes {
		drivers[p] = redis.New(redis.Options{Client: client, Prefix: base + ":" + p})
		for _, k := range []string{"k", "users:k"} {
			if err := drivers[p].Set(ctx, k, []byte("under "+p), 0); err != nil {
				t.Fatalf("prefix %q: Set(ctx, %q) = %v", p, k, err)
			}
		}
	}
	for _, p := range prefixes {
		if v, found, err := drivers[p].Get(ctx, "k"); string(v) != "under "+p || !found || err != nil {
			t.Errorf("prefix %q: Get(ctx, %q) = %q, %t, %v; want %q, true, <nil>", p, "k", v, found, err, "under "+p)
		}
	}
	for i, p := range prefixes {
		if i%2 != 0 {
			continue
		}
		if err := drivers[p].Clear(ctx); err != nil {
			t.Fatalf("prefix %q: Clear(ctx) = %v", p, err)
		}
	}
	for i, p := range prefixes {
		for _, k := range []string{"k", "users:k"} {
			v, found, err := drivers[p].Get(ctx, k)
			switch {
			case err != nil:
				t.Errorf("prefix %q: Get(ctx, %q) = %v", p, k, err)
			case i%2 == 0 && found:
				t.Errorf("prefix %q: Get(ctx, %q) = %q after Clear(ctx); want a miss", p, k, v)
			case i%2 == 1 && (!found || string(v) != "under "+p):
				t.Errorf("prefix %q: Get(ctx, %q) = %q, %t after other prefixes were cleared; want %q: a Clear must not remove keys of another prefix that its glob pattern would match unescaped", p, k, v, found, "under "+p)
			}
		}
	}
}

// TestDriver_EmptyPrefix runs on a server of its own, because a driver
// without a prefix owns the whole database.
func TestDriver_EmptyPrefix(t *testing.T) {
	srv := testenv.RedisServer(t)
	client := newClient(t, srv.Addr)
	ctx := t.Context()
	dr := redis.New(redis.Options{Client: client})
	for _, k := range []string{"k", "users:k", "users:posts:k", "usersX:k", "*", "[u]sers:k"} {
		if err := dr.Set(ctx, k, []byte("v"), 0); err != nil {
			t.Fatal(err)
		}
	}
	if err := client.Set(ctx, "written-by-another-app", "v", 0).Err(); err != nil {
		t.Fatal(err)
	}
	if err := dr.Namespace("users").Clear(ctx); err != nil {
		t.Fatalf("Namespace(%q).Clear(ctx) = %v", "users", err)
	}
	left, err := client.Keys(ctx, "*").Result()
	slices.Sort(left)
	if want := []string{"*", "[u]sers:k", "k", "usersX:k", "written-by-another-app"}; err != nil || !slices.Equal(left, want) {
		t.Errorf("keys after Namespace(%q).Clear(ctx) on an empty prefix = %q, %v; want %q", "users", left, err, want)
	}
	if err := dr.Clear(ctx); err != nil {
		t.Fatalf("Clear(ctx) = %v", err)
	}
	if n, err := client.DBSize(ctx).Result(); err != nil || n != 0 {
		t.Errorf("DBSIZE after Clear(ctx) on the root of an empty prefix = %d, %v; want 0: without a prefix the driver owns the database", n, err)
	}
}

func TestDriver_ManyKeys(t *testing.T) {
	dr, rec, _ := testDriver(t)
	ctx := t.Context()
	const n = 1234
	entries := make([]bento.KeyValue, n)
	ks := make([]string, n+1)
	for i := range entries {
		entries[i] = bento.KeyValue{Key: "k" + strconv.Itoa(i), Value: []byte(strconv.Itoa(i))}
		ks[i] = entries[i].Key
	}
	ks[n] = "missing"
	if err := dr.SetMany(ctx, entries, time.Hour); err != nil {
		t.Fatal(err)
	}
	rec.take()
	got, err := dr.GetMany(ctx, ks)
	if err != nil || len(got) != n+1 {
		t.Fatalf("GetMany(ctx, %d keys) = %d values, %v", len(ks), len(got), err)
	}
	for i := range n {
		if !bytes.Equal(got[i], entries[i].Value) {
			t.Fatalf("GetMany slot %d = %q; want %q", i, got[i], entries[i].Value)
		}
	}
	if got[n] != nil {
		t.Errorf("GetMany slot of %q = %q; want nil", "missing", got[n])
	}
	if cmds, trips := rec.take(); trips != 1 || len(cmds) != 3 {
		t.Errorf("GetMany of %d keys sent %d commands in %d round trips; want 3 MGETs of at most 500 keys in 1", len(ks), len(cmds), trips)
	}
	if deleted, err := dr.DeleteMany(ctx, ks); !deleted || err != nil {
		t.Errorf("DeleteMany(ctx, %d keys) = %t, %v; want true, <nil>", len(ks), deleted, err)
	}
	if got, err := dr.GetMany(ctx, ks[:10]); err != nil || slices.ContainsFunc(got, func(b []byte) bool { return b != nil }) {
		t.Errorf("GetMany(ctx, …) after DeleteMany = %q, %v; want only nil slots", got, err)
	}
}

// scanPagesFolded folds a Clear's commands into one SCAN and one UNLINK of
// the keys in sorted order. SCAN walks the whole keyspace of the shared
// server, so how many pages it takes, and which page holds which key, depends
// on what else the server holds; the MATCH pattern and the keys unlinked do
// not.
func scanPagesFolded(cmds []string, trips int) ([]string, int) {
	var first string
	var keys []string
	pages, unlinks := 0, 0
	for _, c := range cmds {
		switch w := strings.Fields(c); {
		case len(w) > 1 && w[0] == "scan":
			pages++
			if first == "" {
				first = c
			}
		case len(w) > 0 && w[0] == "unlink":
			unlinks++
			keys = append(keys, w[1:]...)
		default:
			return cmds, trips // not a Clear's commands: let the caller report them
		}
	}
	slices.Sort(keys)
	return []string{first, "unlink " + strings.Join(keys, " ")}, trips - (pages - 1) - max(unlinks-1, 0)
}
