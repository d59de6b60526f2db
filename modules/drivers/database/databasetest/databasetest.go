// Package databasetest checks a [bento.DatabaseAdapter] beyond
// [drivertest.Adapter]: the optional capabilities of package database
// ([database.BatchAdapter], [database.PullAdapter],
// [database.ExpiredDeleter]), keys that break SQL adapters (long keys that
// do not compress, LIKE wildcards and escapes, NUL and invalid UTF-8, all of
// which must be stored, not rejected), table names that try to inject SQL,
// concurrent table creation, calls after Disconnect, and — with [Fault] —
// a server that goes away and comes back.
//
// [Adapter] runs one parallel subtest per case, named hierarchically without
// spaces (Batch/GetMany, Clear/LikeWildcards), each under a watchdog. A pass
// shows that the adapter keeps these rules on the paths exercised; it says
// nothing of speed, nor of servers other than the one it ran against.
//
//	func TestAdapter_Capabilities(t *testing.T) {
//		databasetest.Adapter(t, func(t *testing.T, table string) bento.DatabaseAdapter {
//			a := postgres.New(postgres.Options{Pool: pool})
//			a.SetTableName(table)
//			t.Cleanup(func() { a.Disconnect(); dropTable(pool, table) })
//			return a
//		}, databasetest.Options{Name: "postgres"})
//	}
package databasetest

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bentocache/bento"
	"github.com/bentocache/bento/modules/drivers/database"
)

// Options describes the adapter under test.
type Options struct {
	// Name is how the adapter's errors start: "postgres" for errors that
	// read "postgres: …". Required.
	Name string
	// ExpiresAtPrecision is how precisely the adapter stores Row.ExpiresAt,
	// as in drivertest.Options. Zero means exact.
	ExpiresAtPrecision time.Duration
	// Timeout bounds each subtest. Zero means 60s.
	Timeout time.Duration
}

// Adapter runs the cases of the package as parallel subtests of t. open is
// called once or more per subtest and must return an adapter whose table
// name is set to table (the table need not exist: the cases call
// CreateTableIfNotExists), drop that table and disconnect the adapter with
// t.Cleanup, without relying on the adapter being connected. Two calls with
// one table name return two adapters on one table.
func Adapter(t *testing.T, open func(t *testing.T, table string) bento.DatabaseAdapter, o Options) {
	t.Helper()
	if o.Name == "" {
		t.Fatal("databasetest.Options.Name is required")
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			ctx := watch(t, o.timeout())
			c.run(t, &env{ctx: ctx, o: o, open: open, table: "bento_" + strings.ToLower(rand.Text()[:16])})
		})
	}
}

// env is what a case works with.
type env struct {
	ctx   context.Context // cancelled by the watchdog
	o     Options
	open  func(t *testing.T, table string) bento.DatabaseAdapter
	table string // the case's table
}

var cases = []struct {
	name string
	run  func(t *testing.T, e *env)
}{
	{"Keys/AllStored", keysAllStored},
	{"Keys/LongIncompressible", keysLong},
	{"Clear/LikeWildcards", clearWildcards},
	{"Clear/BinaryPrefix", clearBinary},
	{"TableName/Injection", tableInjection},
	{"CreateTable/Concurrent", createConcurrent},
	{"Batch/GetMany", batchGetMany},
	{"Batch/SetMany", batchSetMany},
	{"Batch/ConcurrentOverlapping", batchConcurrent},
	{"Pull/ReturnsAndRemoves", pullReturns},
	{"Pull/Concurrent", pullConcurrent},
	{"DeleteExpired/OnlyExpired", deleteExpired},
	{"Errors/NameAdapterAndTable", errorsNamed},
	{"Disconnect/ThenCallsFail", disconnectThenFail},
}

func (o Options) timeout() time.Duration {
	if o.Timeout > 0 {
		return o.Timeout
	}
	return 60 * time.Second
}

// watch fails t and cancels the returned context if t outlives limit.
func watch(t *testing.T, limit time.Duration) context.Context {
	ctx, cancel := context.WithCancel(t.Context())
	timer := time.AfterFunc(limit, func() {
		t.Errorf("%s: still running after %v: an adapter call is blocked; the context of its calls was cancelled", t.Name(), limit)
		cancel()
	})
	t.Cleanup(func() {
		timer.Stop()
		cancel()
	})
	return ctx
}

// adapter opens an adapter on the case's table and creates the table.
func (e *env) adapter(t *testing.T) bento.DatabaseAdapter {
	t.Helper()
	a := e.open(t, e.table)
	if a == nil {
		t.Fatal("open returned a nil bento.DatabaseAdapter")
	}
	if err := a.CreateTableIfNotExists(e.ctx); err != nil {
		t.Fatalf("CreateTableIfNotExists(ctx) = %v; want <nil>", err)
	}
	return a
}

// set stores a row; a failure ends the subtest.
func (e *env) set(t *testing.T, a bento.DatabaseAdapter, r bento.Row) {
	t.Helper()
	if err := a.Set(e.ctx, r); err != nil {
		t.Fatalf("Set(ctx, %s) = %v; want <nil>", qrow(r), err)
	}
}

// get checks that key holds value.
func (e *env) get(t *testing.T, a bento.DatabaseAdapter, key string, value []byte, why string) {
	t.Helper()
	r, found, err := a.Get(e.ctx, key)
	if err != nil || !found || r.Key != key || !bytes.Equal(r.Value, value) {
		t.Errorf("Get(ctx, %s) = %s, %t, %v; want a row of that key and value %s, true, <nil>; %s", qk(key), qrow(r), found, err, qb(value), why)
	}
}

// missing checks that key holds nothing.
func (e *env) missing(t *testing.T, a bento.DatabaseAdapter, key, why string) {
	t.Helper()
	if r, found, err := a.Get(e.ctx, key); err != nil || found {
		t.Errorf("Get(ctx, %s) = %s, %t, %v; want bento.Row{}, false, <nil>; %s", qk(key), qrow(r), found, err, why)
	}
}

// batch returns a as a database.BatchAdapter, or skips t.
func batch(t *testing.T, a bento.DatabaseAdapter) database.BatchAdapter {
	t.Helper()
	b, ok := a.(database.BatchAdapter)
	if !ok {
		t.Skipf("%T does not implement database.BatchAdapter", a)
	}
	return b
}

func keysAllStored(t *testing.T, e *env) {
	a := e.adapter(t)
	keys := hostileKeys()
	for i, k := range keys {
		e.set(t, a, bento.Row{Key: k, Value: fmt.Appendf(nil, "v%d", i)})
	}
	for i, k := range keys {
		e.get(t, a, k, fmt.Appendf(nil, "v%d", i), "every key is stored under its exact bytes, distinct from the others")
	}
	if b, ok := a.(database.BatchAdapter); ok {
		rows, err := b.GetMany(e.ctx, keys)
		got := map[string]string{}
		for _, r := range rows {
			got[r.Key] = string(r.Value)
		}
		for i, k := range keys {
			if err != nil || got[k] != fmt.Sprintf("v%d", i) {
				t.Errorf("GetMany(ctx, <%d hostile keys>) = %d rows, %v; the row of %s is %q, want %q", len(keys), len(rows), err, qk(k), got[k], fmt.Sprintf("v%d", i))
			}
		}
	}
	if n, err := a.DeleteMany(e.ctx, keys); err != nil || n != int64(len(keys)) {
		t.Errorf("DeleteMany(ctx, <%d hostile keys>) = %d, %v; want %d, <nil>", len(keys), n, err, len(keys))
	}
}

func keysLong(t *testing.T, e *env) {
	a := e.adapter(t)
	base := randomBytes(10 << 10)
	k1, k2 := string(base)+"1", string(base)+"2"
	huge := string(randomBytes(100 << 10))
	for _, k := range []string{k1, k2, huge} {
		e.set(t, a, bento.Row{Key: k, Value: []byte(k[len(k)-1:])})
	}
	e.get(t, a, k1, []byte("1"), "a 10 KiB key that does not compress must be stored, not rejected: it cannot fit an index entry as is")
	e.get(t, a, k2, []byte("2"), "two 10 KiB keys that differ in their last byte are two keys")
	e.get(t, a, huge, []byte(huge[len(huge)-1:]), "a 100 KiB key must be stored")
	e.missing(t, a, string(base), "a long key's prefix is another key")
	if ok, err := a.Delete(e.ctx, k1); err != nil || !ok {
		t.Errorf("Delete(ctx, <10 KiB key ending in 1>) = %t, %v; want true, <nil>", ok, err)
	}
	e.missing(t, a, k1, "after its Delete")
	e.get(t, a, k2, []byte("2"), "Delete of a long key must remove only that key")
	if err := a.Clear(e.ctx, string(base[:5<<10])); err != nil {
		t.Fatalf("Clear(ctx, <5 KiB prefix>) = %v; want <nil>", err)
	}
	e.missing(t, a, k2, "Clear with a 5 KiB prefix removes the keys that start with it")
	e.get(t, a, huge, []byte(huge[len(huge)-1:]), "Clear must remove only the keys that start with its prefix")
}

func clearWildcards(t *testing.T, e *env) {
	a := e.adapter(t)
	all := []string{"a%", "a%b", "ab", "abc", "a_", "a_b", "aXb", `a\`, `a\b`, `a\\`, "a!", "a!b", "a!%", "a'", "a'b", `a"`, "a[", "a[b", "a*", "a*b", "a?", "A%"}
	tests := []struct {
		prefix string
		gone   []string
	}{
		{"a%", []string{"a%", "a%b"}},
		{"a_", []string{"a_", "a_b"}},
		{`a\`, []string{`a\`, `a\b`, `a\\`}},
		{"a!", []string{"a!", "a!b", "a!%"}},
		{"a'", []string{"a'", "a'b"}},
		{"a[", []string{"a[", "a[b"}},
		{"a*", []string{"a*", "a*b"}},
	}
	for _, k := range all {
		e.set(t, a, bento.Row{Key: k, Value: []byte(k)})
	}
	removed := map[string]bool{}
	for _, tt := range tests {
		if err := a.Clear(e.ctx, tt.prefix); err != nil {
			t.Fatalf("Clear(ctx, %q) = %v; want <nil>", tt.prefix, err)
		}
		for _, k := range tt.gone {
			removed[k] = true
			e.missing(t, a, k, fmt.Sprintf("Clear(ctx, %q) removes the keys that start with %[1]q", tt.prefix))
		}
		for _, k := range all {
			if !removed[k] {
				e.get(t, a, k, []byte(k), fmt.Sprintf("Clear(ctx, %q) must match its prefix literally: wildcards and escapes are plain bytes", tt.prefix))
			}
		}
	}
}

func clearBinary(t *testing.T, e *env) {
	a := e.adapter(t)
	all := []string{"\xff", "\xff\xff", "\xff\xffa", "\xff\xfe", "\xfe\xff", "a\x00", "a\x00b", "a\x01", "a", "é:k", "e\u0301:k", "\xc3:k"}
	tests := []struct {
		prefix string
		gone   []string
	}{
		{"\xff\xff", []string{"\xff\xff", "\xff\xffa"}},
		{"a\x00", []string{"a\x00", "a\x00b"}},
		{"é:", []string{"é:k"}},
		{"\xfe", []string{"\xfe\xff"}},
	}
	for _, k := range all {
		e.set(t, a, bento.Row{Key: k, Value: []byte("v")})
	}
	removed := map[string]bool{}
	for _, tt := range tests {
		if err := a.Clear(e.ctx, tt.prefix); err != nil {
			t.Fatalf("Clear(ctx, %q) = %v; want <nil>", tt.prefix, err)
		}
		for _, k := range tt.gone {
			removed[k] = true
			e.missing(t, a, k, fmt.Sprintf("Clear(ctx, %q) removes the keys that start with those bytes", tt.prefix))
		}
		for _, k := range all {
			if !removed[k] {
				e.get(t, a, k, []byte("v"), fmt.Sprintf("Clear(ctx, %q) must compare bytes: no collation, normalisation or text decoding", tt.prefix))
			}
		}
	}
}

func tableInjection(t *testing.T, e *env) {
	victim := e.adapter(t)
	e.set(t, victim, bento.Row{Key: "k", Value: []byte("v")})
	names := []string{
		e.table + `"; DROP TABLE "` + e.table + `"; --`,
		e.table + "`; DROP TABLE `" + e.table + "`; --",
		e.table + "; DROP TABLE " + e.table,
		e.table + " ", "1" + e.table, "", strings.Repeat("t", 64), "tablé", "t-1", "t.x", "t\x00",
	}
	for _, name := range names {
		a := e.open(t, e.table)
		a.SetTableName(name)
		if err := a.CreateTableIfNotExists(e.ctx); err == nil {
			t.Errorf("CreateTableIfNotExists(ctx) after SetTableName(%q) = <nil>; want an error: the name is not a plain identifier", name)
		}
		if err := a.Set(e.ctx, bento.Row{Key: "k", Value: []byte("x")}); err == nil {
			t.Errorf("Set(ctx, …) after SetTableName(%q) = <nil>; want an error", name)
		}
		if _, found, err := a.Get(e.ctx, "k"); err == nil || found {
			t.Errorf("Get(ctx, \"k\") after SetTableName(%q) = _, %t, %v; want an error", name, found, err)
		}
		if err := a.Clear(e.ctx, ""); err == nil {
			t.Errorf("Clear(ctx, \"\") after SetTableName(%q) = <nil>; want an error", name)
		}
	}
	e.get(t, victim, "k", []byte("v"), "no table name may reach the SQL text: the table and its rows are untouched")
}

func createConcurrent(t *testing.T, e *env) {
	adapters := []bento.DatabaseAdapter{e.open(t, e.table), e.open(t, e.table), e.open(t, e.table)}
	var wg sync.WaitGroup
	errs := make(chan error, 4*len(adapters))
	for _, a := range adapters {
		for range 4 {
			wg.Go(func() { errs <- a.CreateTableIfNotExists(e.ctx) })
		}
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Errorf("concurrent CreateTableIfNotExists(ctx) = %v; want <nil>: it is idempotent and safe to call concurrently", err)
		}
	}
	e.set(t, adapters[0], bento.Row{Key: "k", Value: []byte("v")})
	e.get(t, adapters[2], "k", []byte("v"), "adapters on one table share its rows")
}

func batchGetMany(t *testing.T, e *env) {
	a := e.adapter(t)
	b := batch(t, a)
	if rows, err := b.GetMany(e.ctx, nil); err != nil || len(rows) != 0 {
		t.Errorf("GetMany(ctx, nil) = %d rows, %v; want 0, <nil>", len(rows), err)
	}
	past := time.Now().Add(-time.Hour).Round(0)
	e.set(t, a, bento.Row{Key: "expired", Value: []byte("old"), ExpiresAt: past})
	e.set(t, a, bento.Row{Key: "empty", Value: []byte{}})
	keys := []string{"expired", "missing", "empty", "expired"}
	const n = 1200 // more than one statement's worth in chunked adapters
	var seed []bento.Row
	for i := range n {
		k := fmt.Sprintf("k%04d", i)
		keys = append(keys, k)
		if i%2 == 0 {
			seed = append(seed, bento.Row{Key: k, Value: []byte(k)})
		}
	}
	if err := b.SetMany(e.ctx, seed); err != nil {
		t.Fatalf("SetMany(ctx, <%d rows>) = %v; want <nil>", len(seed), err)
	}
	rows, err := b.GetMany(e.ctx, keys)
	if err != nil {
		t.Fatalf("GetMany(ctx, <%d keys>) = %v; want <nil>", len(keys), err)
	}
	got := map[string]bento.Row{}
	for _, r := range rows {
		got[r.Key] = r
	}
	if r, ok := got["expired"]; !ok || string(r.Value) != "old" || !e.o.sameExpiry(r.ExpiresAt, past) {
		t.Errorf("GetMany row of \"expired\" = %s, %t; want the expired row as stored: the driver decides what expired means", qrow(r), ok)
	}
	if r, ok := got["empty"]; !ok || r.Value == nil || len(r.Value) != 0 {
		t.Errorf("GetMany row of \"empty\" = %s, %t; want an empty, non-nil value", qrow(r), ok)
	}
	if _, ok := got["missing"]; ok {
		t.Error(`GetMany returned a row for "missing"; want none: a missing key has no row`)
	}
	for i := range n {
		k := fmt.Sprintf("k%04d", i)
		if r, ok := got[k]; ok != (i%2 == 0) || (ok && string(r.Value) != k) {
			t.Errorf("GetMany row of %q = %s, %t; want found %t", k, qrow(r), ok, i%2 == 0)
		}
	}
}

func batchSetMany(t *testing.T, e *env) {
	a := e.adapter(t)
	b := batch(t, a)
	if err := b.SetMany(e.ctx, nil); err != nil {
		t.Errorf("SetMany(ctx, nil) = %v; want <nil>", err)
	}
	e.set(t, a, bento.Row{Key: "old", Value: []byte("before")})
	exp := time.Now().Add(time.Hour).Round(0)
	rows := []bento.Row{
		{Key: "old", Value: []byte("after"), ExpiresAt: exp},
		{Key: "dup", Value: []byte("first")},
		{Key: "nil", Value: nil},
		{Key: "dup", Value: []byte("second"), ExpiresAt: exp},
	}
	const n = 1200
	for i := range n {
		rows = append(rows, bento.Row{Key: fmt.Sprintf("k%04d", i), Value: randomBytes(1 + i%700)})
	}
	if err := b.SetMany(e.ctx, rows); err != nil {
		t.Fatalf("SetMany(ctx, <%d rows>) = %v; want <nil>", len(rows), err)
	}
	check := func(key string, value []byte, exp time.Time, why string) {
		t.Helper()
		r, found, err := a.Get(e.ctx, key)
		if err != nil || !found || !bytes.Equal(r.Value, value) || !e.o.sameExpiry(r.ExpiresAt, exp) {
			t.Errorf("Get(ctx, %q) = %s, %t, %v after SetMany; want value %s, expiry %v; %s", key, qrow(r), found, err, qb(value), exp, why)
		}
	}
	check("old", []byte("after"), exp, "SetMany replaces an existing row")
	check("dup", []byte("second"), exp, "of two rows with one key, the later wins")
	check("nil", []byte{}, time.Time{}, "a nil value is stored as an empty one")
	keys := make([]string, 0, n)
	for _, r := range rows[4:] {
		keys = append(keys, r.Key)
	}
	got, err := b.GetMany(e.ctx, keys)
	if err != nil {
		t.Fatalf("GetMany(ctx, <%d keys>) = %v; want <nil>", len(keys), err)
	}
	byKey := make(map[string][]byte, len(got))
	for _, r := range got {
		byKey[r.Key] = r.Value
	}
	for _, r := range rows[4:] {
		if v, ok := byKey[r.Key]; !ok || !bytes.Equal(v, r.Value) {
			t.Errorf("GetMany row of %q after SetMany = %s, %t; want %s: every row of the batch is stored", r.Key, qb(v), ok, qb(r.Value))
		}
	}
	if cnt, err := a.DeleteMany(e.ctx, []string{"dup"}); err != nil || cnt != 1 {
		t.Errorf(`DeleteMany(ctx, ["dup"]) = %d, %v; want 1, <nil>: never two rows for one key`, cnt, err)
	}
}

func batchConcurrent(t *testing.T, e *env) {
	a := e.adapter(t)
	b := batch(t, a)
	keys := make([]string, 50)
	for i := range keys {
		keys[i] = fmt.Sprintf("k%02d", i)
	}
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Go(func() {
			for it := range 10 {
				order := slices.Clone(keys)
				if (g+it)%2 == 1 {
					slices.Reverse(order)
				}
				rows := make([]bento.Row, len(order))
				for i, k := range order {
					rows[i] = bento.Row{Key: k, Value: fmt.Appendf(nil, "g%d", g)}
				}
				if err := b.SetMany(e.ctx, rows); err != nil {
					t.Errorf("goroutine %d: SetMany(ctx, <%d overlapping rows>) = %v; want <nil>: concurrent batches must not deadlock", g, len(rows), err)
					return
				}
			}
		})
	}
	wg.Wait()
	got, err := b.GetMany(e.ctx, keys)
	if err != nil || len(got) != len(keys) {
		t.Errorf("GetMany(ctx, <%d keys>) = %d rows, %v; want %d, <nil>", len(keys), len(got), err, len(keys))
	}
}

func pullReturns(t *testing.T, e *env) {
	a := e.adapter(t)
	p, ok := a.(database.PullAdapter)
	if !ok {
		t.Skipf("%T does not implement database.PullAdapter", a)
	}
	exp := time.Now().Add(-time.Minute).Round(0)
	e.set(t, a, bento.Row{Key: "k", Value: []byte("v"), ExpiresAt: exp})
	e.set(t, a, bento.Row{Key: "other", Value: []byte("o")})
	r, found, err := p.Pull(e.ctx, "k")
	if err != nil || !found || r.Key != "k" || string(r.Value) != "v" || !e.o.sameExpiry(r.ExpiresAt, exp) {
		t.Errorf(`Pull(ctx, "k") = %s, %t, %v; want the row as stored, expired or not, true, <nil>`, qrow(r), found, err)
	}
	e.missing(t, a, "k", `Pull(ctx, "k") removes the row`)
	e.get(t, a, "other", []byte("o"), `Pull(ctx, "k") removes only "k"`)
	if r, found, err := p.Pull(e.ctx, "k"); err != nil || found {
		t.Errorf(`second Pull(ctx, "k") = %s, %t, %v; want bento.Row{}, false, <nil>`, qrow(r), found, err)
	}
}

func pullConcurrent(t *testing.T, e *env) {
	a := e.adapter(t)
	p, ok := a.(database.PullAdapter)
	if !ok {
		t.Skipf("%T does not implement database.PullAdapter", a)
	}
	for round := range 5 {
		e.set(t, a, bento.Row{Key: "k", Value: []byte("v")})
		var (
			wg    sync.WaitGroup
			mu    sync.Mutex
			found int
		)
		for range 4 {
			wg.Go(func() {
				_, ok, err := p.Pull(e.ctx, "k")
				if err != nil {
					t.Errorf(`round %d: Pull(ctx, "k") = %v; want <nil>`, round, err)
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
			t.Errorf(`round %d: %d of 4 concurrent Pull(ctx, "k") found the row; want exactly 1: Pull is atomic`, round, found)
		}
	}
}

func deleteExpired(t *testing.T, e *env) {
	a := e.adapter(t)
	d, ok := a.(database.ExpiredDeleter)
	if !ok {
		t.Skipf("%T does not implement database.ExpiredDeleter", a)
	}
	now := time.Now().Round(0)
	e.set(t, a, bento.Row{Key: "expired", Value: []byte("v"), ExpiresAt: now.Add(-time.Minute)})
	e.set(t, a, bento.Row{Key: "live", Value: []byte("v"), ExpiresAt: now.Add(time.Hour)})
	e.set(t, a, bento.Row{Key: "forever", Value: []byte("v")})
	tests := []struct {
		key  string
		want bool
	}{{"expired", true}, {"live", false}, {"forever", false}, {"missing", false}}
	for _, tt := range tests {
		if got, err := d.DeleteExpired(e.ctx, tt.key, now); err != nil || got != tt.want {
			t.Errorf("DeleteExpired(ctx, %q, now) = %t, %v; want %t, <nil>", tt.key, got, err, tt.want)
		}
	}
	e.missing(t, a, "expired", "DeleteExpired removes an expired row")
	e.get(t, a, "live", []byte("v"), "DeleteExpired keeps a row that has not expired: a fresh write must survive a lazy delete")
	e.get(t, a, "forever", []byte("v"), "DeleteExpired keeps a row that never expires")
}

func errorsNamed(t *testing.T, e *env) {
	a := e.adapter(t)
	ctx, cancel := context.WithCancel(e.ctx)
	cancel()
	calls := map[string]error{}
	calls["Set"] = a.Set(ctx, bento.Row{Key: "k", Value: []byte("v")})
	_, _, calls["Get"] = a.Get(ctx, "k")
	_, calls["Delete"] = a.Delete(ctx, "k")
	_, calls["DeleteMany"] = a.DeleteMany(ctx, []string{"k"})
	calls["Clear"] = a.Clear(ctx, "p:")
	calls["PruneExpiredEntries"] = a.PruneExpiredEntries(ctx)
	for _, name := range slices.Sorted(maps.Keys(calls)) {
		err := calls[name]
		switch {
		case err == nil:
			t.Errorf("%s with a cancelled context = <nil>; want an error", name)
		case !strings.HasPrefix(err.Error(), e.o.Name+": ") || !strings.Contains(err.Error(), e.table):
			t.Errorf("%s with a cancelled context = %q; want an error that starts with %q and names the table %q", name, err, e.o.Name+": ", e.table)
		case !errors.Is(err, context.Canceled):
			t.Errorf("%s with a cancelled context = %q; want it to wrap context.Canceled (%%w, not %%v)", name, err)
		}
	}
}

func disconnectThenFail(t *testing.T, e *env) {
	a := e.adapter(t)
	e.set(t, a, bento.Row{Key: "k", Value: []byte("v")})
	for i := range 2 {
		if err := a.Disconnect(); err != nil {
			t.Errorf("Disconnect() #%d = %v; want <nil>", i+1, err)
		}
	}
	if _, found, err := a.Get(e.ctx, "k"); !errors.Is(err, database.ErrDisconnected) || found {
		t.Errorf(`Get(ctx, "k") after Disconnect = _, %t, %v; want an error wrapping database.ErrDisconnected: an adapter does not reopen what it released`, found, err)
	}
	if err := a.Set(e.ctx, bento.Row{Key: "k"}); !errors.Is(err, database.ErrDisconnected) {
		t.Errorf(`Set(ctx, …) after Disconnect = %v; want an error wrapping database.ErrDisconnected`, err)
	}
}

// Fault checks how a behaves when its server goes away and comes back. a
// must reach the server through a proxy that cut stops (closing every
// connection and refusing new ones) and restore brings back, and its table
// name must be set. While cut, every call must return an error that starts
// with name+": " before its 10s deadline, never panic or hang; once
// restored, calls must work again within 20s, on the rows written before.
func Fault(t *testing.T, a bento.DatabaseAdapter, name string, cut, restore func()) {
	t.Helper()
	ctx := t.Context()
	if err := a.CreateTableIfNotExists(ctx); err != nil {
		t.Fatalf("CreateTableIfNotExists(ctx) = %v; want <nil>", err)
	}
	if err := a.Set(ctx, bento.Row{Key: "k", Value: []byte("before")}); err != nil {
		t.Fatalf("Set(ctx, k) = %v; want <nil>", err)
	}
	cut()
	const limit = 10 * time.Second
	type call struct {
		name string
		call func(ctx context.Context) error
	}
	calls := []call{
		{"Get", func(ctx context.Context) error { _, _, err := a.Get(ctx, "k"); return err }},
		{"Set", func(ctx context.Context) error { return a.Set(ctx, bento.Row{Key: "k", Value: []byte("during")}) }},
		{"Delete", func(ctx context.Context) error { _, err := a.Delete(ctx, "k"); return err }},
		{"DeleteMany", func(ctx context.Context) error { _, err := a.DeleteMany(ctx, []string{"k", "j"}); return err }},
		{"Clear", func(ctx context.Context) error { return a.Clear(ctx, "p:") }},
		{"PruneExpiredEntries", a.PruneExpiredEntries},
		{"CreateTableIfNotExists", a.CreateTableIfNotExists},
	}
	if b, ok := a.(database.BatchAdapter); ok {
		calls = append(calls, call{"GetMany", func(ctx context.Context) error { _, err := b.GetMany(ctx, []string{"k"}); return err }})
	}
	for _, c := range calls {
		cctx, cancel := context.WithTimeout(ctx, limit)
		start := time.Now()
		var err error
		if p := catch(func() { err = c.call(cctx) }); p != nil {
			t.Errorf("%s with the server gone panicked: %v; want an error", c.name, p)
		}
		cancel()
		took := time.Since(start)
		switch {
		case err == nil:
			t.Errorf("%s with the server gone = <nil>; want an error", c.name)
		case !strings.HasPrefix(err.Error(), name+": "):
			t.Errorf("%s with the server gone = %q; want an error that starts with %q", c.name, err, name+": ")
		case took > limit+2*time.Second:
			t.Errorf("%s with the server gone returned after %v; want within its %v deadline", c.name, took.Round(time.Millisecond), limit)
		default:
			t.Logf("%s with the server gone = %v (after %v)", c.name, err, took.Round(time.Millisecond))
		}
	}
	restore()
	var (
		last  error
		value []byte
	)
	deadline := time.Now().Add(20 * time.Second)
	for {
		r, found, err := a.Get(ctx, "k")
		if err == nil && found {
			value = r.Value
			break
		}
		last = err
		if time.Now().After(deadline) {
			t.Fatalf("Get(ctx, k) after the server came back = _, %t, %v until 20s; want the row: the adapter must reconnect", found, last)
		}
		select {
		case <-ctx.Done():
			t.Fatal(ctx.Err())
		case <-time.After(50 * time.Millisecond):
		}
	}
	if string(value) != "before" {
		t.Errorf("Get(ctx, k) after the server came back = %q; want %q, written before it went away", value, "before")
	}
	if err := a.Set(ctx, bento.Row{Key: "k", Value: []byte("after")}); err != nil {
		t.Errorf("Set(ctx, k) after the server came back = %v; want <nil>", err)
	}
}

// hostileKeys are keys that SQL adapters get wrong: quotes, LIKE wildcards
// and escapes, NUL, invalid UTF-8, case and space variants, long keys.
func hostileKeys() []string {
	long := strings.Repeat("x", 10<<10)
	return []string{
		"k", "K", "k ", " k", "k\x00", "\x00", "k\x00tail", "", "\\", "\\%", "\\_", "%", "_", "!", "!%",
		"a'b", "'", "''", `a"b`, "`", "';DROP TABLE t;--", "$1", "?", "\xff\xfe", "\xc3\x28", "\x80",
		"é", "e\u0301", "日本語", "🙂", long + "1", long + "2",
	}
}

// randomBytes returns n random bytes: a key of them does not compress.
func randomBytes(n int) []byte {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return b
}

// sameExpiry reports whether an expiry read back matches the one stored.
func (o Options) sameExpiry(got, want time.Time) bool {
	if got.IsZero() || want.IsZero() {
		return got.IsZero() == want.IsZero()
	}
	d := got.Sub(want)
	if o.ExpiresAtPrecision <= 0 {
		return d == 0
	}
	return -o.ExpiresAtPrecision < d && d < o.ExpiresAtPrecision
}

// catch calls f and returns what it panicked with, or nil.
func catch(f func()) (panicked any) {
	defer func() { panicked = recover() }()
	f()
	return nil
}

// qk formats a key for a message, abridged when long.
func qk(key string) string {
	if len(key) > 64 {
		return fmt.Sprintf("%q…(%d bytes)", key[:32], len(key))
	}
	return fmt.Sprintf("%q", key)
}

// qb formats bytes for a message.
func qb(b []byte) string {
	if b == nil {
		return "nil"
	}
	return qk(string(b))
}

// qrow formats a row for a message.
func qrow(r bento.Row) string {
	exp := "zero"
	if !r.ExpiresAt.IsZero() {
		exp = r.ExpiresAt.Format(time.RFC3339Nano)
	}
	return fmt.Sprintf("bento.Row{Key: %s, Value: %s, ExpiresAt: %s}", qk(r.Key), qb(r.Value), exp)
}
