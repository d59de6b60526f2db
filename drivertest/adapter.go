package drivertest

import (
	"bytes"
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/bentocache/bento"
)

// Adapter runs the compliance suite of [bento.DatabaseAdapter] as subtests of
// t. open is called once per subtest, twice where a case needs two tables on
// one database, and must return an adapter whose table name is already set
// ([bento.DatabaseAdapter.SetTableName]) to a fresh random name; the table
// need not exist, the suite calls CreateTableIfNotExists. open drops the
// table and releases the adapter with t.Cleanup, without relying on the
// adapter being connected: a case may have called Disconnect.
//
// Expiry times are compared at [Options.ExpiresAtPrecision].
func Adapter(t *testing.T, open func(t *testing.T) bento.DatabaseAdapter, o Options) {
	t.Helper()
	s := suite[bento.DatabaseAdapter, adc]{kind: "bento.DatabaseAdapter", cases: adapterCases, check: newAdc}
	s.run(t, o, "", open)
}

// adapterEnv is what a case of the Adapter suite works with.
type adapterEnv = env[bento.DatabaseAdapter, adc]

var adapterCases = []suiteCase[*adapterEnv]{
	{name: "CreateTable/Twice", run: adCreateTwice},
	{name: "Get/Missing", run: adGetMissing},
	{name: "Get/Expired", run: adGetExpired},
	{name: "Set/RoundTrip", run: adSetRoundTrip},
	{name: "Set/Upsert", run: adSetUpsert},
	{name: "Set/ExpiresAtZone", run: adSetZone},
	{name: "Delete/Existing", run: adDeleteExisting},
	{name: "Delete/Missing", run: adDeleteMissing},
	{name: "DeleteMany/Count", run: adDeleteManyCount},
	{name: "DeleteMany/Empty", run: adDeleteManyEmpty},
	{name: "DeleteMany/Duplicates", run: adDeleteManyDuplicates},
	{name: "Clear/Prefix", run: adClearPrefix},
	{name: "Clear/WildcardsLiteral", run: adClearWildcards},
	{name: "Clear/CaseSensitive", run: adClearCase},
	{name: "Clear/All", run: adClearAll},
	{name: "Clear/OtherTableUntouched", run: adClearOtherTable},
	{name: "PruneExpiredEntries/ExpiredOnly", run: adPrune},
	{name: "Value/AllBytes", run: func(t *testing.T, e *adapterEnv) { adValue(t, e, allBytes()) }},
	{name: "Value/Empty", run: func(t *testing.T, e *adapterEnv) { adValue(t, e, []byte{}) }},
	{name: "Value/Large", run: func(t *testing.T, e *adapterEnv) { adValue(t, e, largeBytes(1<<20)) }},
	{name: "Keys/Hostile", run: adHostileKeys},
	{name: "Disconnect/Twice", run: adDisconnectTwice},
}

// adc wraps an adapter with checks that report through t.
type adc struct {
	t    *testing.T
	ctx  context.Context
	o    Options
	a    bento.DatabaseAdapter
	name string // "" for the only adapter of a case, else "first." or "second."
}

// newAdc wraps a, opened by a case of e, in its checks, and creates its
// table.
func newAdc(t *testing.T, e *adapterEnv, a bento.DatabaseAdapter, name string) adc {
	t.Helper()
	c := adc{t: t, ctx: e.ctx, o: e.o, a: a, name: dotted(name)}
	if err := a.CreateTableIfNotExists(e.ctx); err != nil {
		t.Fatalf("%sCreateTableIfNotExists(ctx) = %v; want <nil>", c.name, err)
	}
	return c
}

// set stores row; a failure ends the subtest.
func (c adc) set(row bento.Row) {
	c.t.Helper()
	if err := c.a.Set(c.ctx, row); err != nil {
		c.t.Fatalf("%sSet(ctx, %s) = %v; want <nil>", c.name, qrow(row), err)
	}
}

// setKV stores a row that never expires.
func (c adc) setKV(key, value string) {
	c.t.Helper()
	c.set(bento.Row{Key: key, Value: []byte(value)})
}

// get checks that key holds want.
func (c adc) get(want bento.Row, why string) bool {
	c.t.Helper()
	got, found, err := c.a.Get(c.ctx, want.Key)
	if err != nil || !found || got.Key != want.Key || !bytes.Equal(got.Value, want.Value) || !c.o.sameExpiry(got.ExpiresAt, want.ExpiresAt) {
		msg := fmt.Sprintf("%sGet(ctx, %s) = %s, %t, %v; want %s, true, <nil>", c.name, qk(want.Key), qrow(got), found, err, qrow(want))
		if found && err == nil && !c.o.sameExpiry(got.ExpiresAt, want.ExpiresAt) {
			msg += fmt.Sprintf(" (ExpiresAt compared at Options.ExpiresAtPrecision = %v)", c.o.ExpiresAtPrecision)
		}
		c.t.Error(rule(msg, why))
		return false
	}
	return true
}

// missing checks that key holds nothing.
func (c adc) missing(key, why string) bool {
	c.t.Helper()
	got, found, err := c.a.Get(c.ctx, key)
	if err != nil || found {
		c.t.Error(rule(fmt.Sprintf("%sGet(ctx, %s) = %s, %t, %v; want bento.Row{}, false, <nil>", c.name, qk(key), qrow(got), found, err), why))
		return false
	}
	return true
}

// keeps checks that every key of want holds its value, after what.
func (c adc) keeps(want map[string]string, what, why string) {
	c.t.Helper()
	for _, k := range sortedKeys(want) {
		got, found, err := c.a.Get(c.ctx, k)
		if err != nil || !found || string(got.Value) != want[k] {
			c.t.Errorf("%s changed %s: %sGet(ctx, %s) = %s, %t, %v; want a row of value %q, true, <nil>; %s", what, qk(k), c.name, qk(k), qrow(got), found, err, want[k], why)
		}
	}
}

// removed checks that every key of keys holds nothing, after what.
func (c adc) removed(keys []string, what, why string) {
	c.t.Helper()
	for _, k := range keys {
		got, found, err := c.a.Get(c.ctx, k)
		if err != nil || found {
			c.t.Errorf("%s kept %s: %sGet(ctx, %s) = %s, %t, %v; want bento.Row{}, false, <nil>; %s", what, qk(k), c.name, qk(k), qrow(got), found, err, why)
		}
	}
}

// clear calls Clear(ctx, prefix); a failure ends the subtest.
func (c adc) clear(prefix string) {
	c.t.Helper()
	if err := c.a.Clear(c.ctx, prefix); err != nil {
		c.t.Fatalf("%sClear(ctx, %s) = %v; want <nil>", c.name, qk(prefix), err)
	}
}

// sameExpiry reports whether an expiry read back matches the one stored, at
// ExpiresAtPrecision.
func (o Options) sameExpiry(got, want time.Time) bool {
	if got.IsZero() || want.IsZero() {
		return got.IsZero() == want.IsZero()
	}
	if o.ExpiresAtPrecision <= 0 {
		return got.Equal(want)
	}
	d := got.Sub(want)
	return -o.ExpiresAtPrecision < d && d < o.ExpiresAtPrecision
}

// qrow formats a row for a message.
func qrow(r bento.Row) string {
	exp := "zero"
	if !r.ExpiresAt.IsZero() {
		exp = r.ExpiresAt.Format(time.RFC3339Nano)
	}
	return fmt.Sprintf("bento.Row{Key: %s, Value: %s, ExpiresAt: %s}", qk(r.Key), qb(r.Value), exp)
}

// now is the current wall-clock time without its monotonic reading, the way
// an adapter reads it back.
func now() time.Time {
	return time.Now().Round(0)
}

func adCreateTwice(t *testing.T, e *adapterEnv) {
	c := e.driver(t, "")
	c.setKV("k", "v")
	if err := c.a.CreateTableIfNotExists(e.ctx); err != nil {
		t.Fatalf("second CreateTableIfNotExists(ctx) = %v; want <nil>: the table is created once, if missing", err)
	}
	c.get(bento.Row{Key: "k", Value: []byte("v")}, "CreateTableIfNotExists on an existing table must keep its rows")
}

func adGetMissing(t *testing.T, e *adapterEnv) {
	c := e.driver(t, "")
	c.missing("missing", "a key never set is not found, and a miss is not an error")
}

func adGetExpired(t *testing.T, e *adapterEnv) {
	c := e.driver(t, "")
	row := bento.Row{Key: "k", Value: []byte("v"), ExpiresAt: now().Add(-time.Hour)}
	c.set(row)
	c.get(row, "Get returns the row stored under key, expired or not: the driver decides what an expired row means")
}

func adSetRoundTrip(t *testing.T, e *adapterEnv) {
	c := e.driver(t, "")
	rows := []bento.Row{
		{Key: "never", Value: []byte("v")},
		{Key: "expiring", Value: []byte(`{"value":1}`), ExpiresAt: now().Add(longTTL)},
		{Key: "users:42", Value: []byte("namespaced"), ExpiresAt: now().Add(24 * time.Hour)},
	}
	for _, r := range rows {
		c.set(r)
	}
	for _, r := range rows {
		c.get(r, "Get must return the row given to Set; a zero ExpiresAt means never")
	}
}

func adSetUpsert(t *testing.T, e *adapterEnv) {
	c := e.driver(t, "")
	first := bento.Row{Key: "k", Value: []byte("first, and longer"), ExpiresAt: now().Add(longTTL)}
	second := bento.Row{Key: "k", Value: []byte("second")}
	third := bento.Row{Key: "k", Value: []byte("third"), ExpiresAt: now().Add(2 * longTTL)}
	c.set(first)
	c.set(second)
	c.get(second, "Set replaces the row for its key, a zero ExpiresAt included")
	c.set(third)
	c.get(third, "Set replaces the row for its key")
	if n, err := c.a.DeleteMany(e.ctx, []string{"k"}); err != nil || n != 1 {
		t.Errorf(`DeleteMany(ctx, []string{"k"}) = %d, %v after three Sets of "k"; want 1, <nil>: Set is an upsert, never two rows for one key`, n, err)
	}
}

func adSetZone(t *testing.T, e *adapterEnv) {
	c := e.driver(t, "")
	zone := time.FixedZone("UTC+05:30", 5*3600+30*60)
	rows := []bento.Row{
		{Key: "zone", Value: []byte("v"), ExpiresAt: now().Add(longTTL).In(zone)},
		{Key: "utc", Value: []byte("v"), ExpiresAt: now().Add(longTTL).UTC()},
		{Key: "local", Value: []byte("v"), ExpiresAt: now().Add(longTTL).Local()},
	}
	for _, r := range rows {
		c.set(r)
	}
	for _, r := range rows {
		c.get(r, "ExpiresAt is an instant: the same one must come back whatever its time zone")
	}
}

func adDeleteExisting(t *testing.T, e *adapterEnv) {
	c := e.driver(t, "")
	c.setKV("k", "v")
	c.setKV("other", "o")
	if got, err := c.a.Delete(e.ctx, "k"); err != nil || !got {
		t.Errorf(`Delete(ctx, "k") = %t, %v; want true, <nil>: the row existed`, got, err)
	}
	c.missing("k", `after Delete(ctx, "k")`)
	c.keeps(map[string]string{"other": "o"}, `Delete(ctx, "k")`, "Delete must remove only its own key")
}

func adDeleteMissing(t *testing.T, e *adapterEnv) {
	c := e.driver(t, "")
	if got, err := c.a.Delete(e.ctx, "missing"); err != nil || got {
		t.Errorf(`Delete(ctx, "missing") = %t, %v; want false, <nil>: the row never existed, and a miss is not an error`, got, err)
	}
}

func adDeleteManyCount(t *testing.T, e *adapterEnv) {
	c := e.driver(t, "")
	for _, k := range []string{"a", "b", "c"} {
		c.setKV(k, "v")
	}
	keys := []string{"a", "missing", "b"}
	if n, err := c.a.DeleteMany(e.ctx, keys); err != nil || n != 2 {
		t.Errorf("DeleteMany(ctx, %s) = %d, %v; want 2, <nil>: it reports how many rows existed", qks(keys), n, err)
	}
	c.removed([]string{"a", "b"}, "DeleteMany(ctx, "+qks(keys)+")", "DeleteMany must remove every listed key")
	c.keeps(map[string]string{"c": "v"}, "DeleteMany(ctx, "+qks(keys)+")", "DeleteMany must remove only the listed keys")
}

func adDeleteManyEmpty(t *testing.T, e *adapterEnv) {
	c := e.driver(t, "")
	c.setKV("k", "v")
	for _, keys := range [][]string{nil, {}} {
		if n, err := c.a.DeleteMany(e.ctx, keys); err != nil || n != 0 {
			t.Errorf("DeleteMany(ctx, %#v) = %d, %v; want 0, <nil>: an empty list is fine", keys, n, err)
		}
	}
	c.keeps(map[string]string{"k": "v"}, "DeleteMany of no keys", "it must delete nothing")
}

func adDeleteManyDuplicates(t *testing.T, e *adapterEnv) {
	c := e.driver(t, "")
	c.setKV("k", "v")
	keys := []string{"k", "k"}
	if n, err := c.a.DeleteMany(e.ctx, keys); err != nil || n != 1 {
		t.Errorf("DeleteMany(ctx, %s) = %d, %v; want 1, <nil>: one row existed", qks(keys), n, err)
	}
}

func adClearPrefix(t *testing.T, e *adapterEnv) {
	c := e.driver(t, "")
	gone := []string{"users:1", "users:2", "users:posts:1"}
	keep := map[string]string{"usersX:1": "v", "users": "v", "user:1": "v", "posts:users:1": "v", "xusers:1": "v"}
	for _, k := range gone {
		c.setKV(k, "v")
	}
	for _, k := range sortedKeys(keep) {
		c.setKV(k, keep[k])
	}
	c.clear("users:")
	c.removed(gone, `Clear(ctx, "users:")`, "Clear removes every row whose key starts with the prefix")
	c.keeps(keep, `Clear(ctx, "users:")`, `Clear must remove only rows whose key starts with "users:"`)
}

func adClearWildcards(t *testing.T, e *adapterEnv) {
	c := e.driver(t, "")
	keep := map[string]string{}
	for _, k := range wildcardVictims() {
		keep[k] = "victim " + k
		c.setKV(k, keep[k])
	}
	prefixes := wildcardNamespaces()
	for _, p := range prefixes {
		keep[p+":k"] = "prefix " + p
		c.setKV(p+":k", keep[p+":k"])
	}
	for _, p := range prefixes {
		what := fmt.Sprintf("Clear(ctx, %q)", p+":")
		c.clear(p + ":")
		delete(keep, p+":k")
		c.removed([]string{p + ":k"}, what, "Clear removes every row whose key starts with the prefix")
		c.keeps(keep, what, fmt.Sprintf("Clear must remove only rows whose key starts with %q: LIKE wildcards and escapes in the prefix match literally", p+":"))
	}
}

func adClearCase(t *testing.T, e *adapterEnv) {
	c := e.driver(t, "")
	keep := map[string]string{"Users:1": "upper", "USERS:1": "caps"}
	for _, k := range sortedKeys(keep) {
		c.setKV(k, keep[k])
	}
	c.setKV("users:1", "lower")
	c.clear("users:")
	c.removed([]string{"users:1"}, `Clear(ctx, "users:")`, "Clear removes every row whose key starts with the prefix")
	c.keeps(keep, `Clear(ctx, "users:")`, "keys are case-sensitive: Clear must not match the prefix case-insensitively")
}

func adClearAll(t *testing.T, e *adapterEnv) {
	c := e.driver(t, "")
	keys := []string{"a", "users:1", "%", "_", ""}
	for _, k := range keys {
		c.setKV(k, "v")
	}
	c.set(bento.Row{Key: "expiring", Value: []byte("v"), ExpiresAt: now().Add(longTTL)})
	c.clear("")
	c.removed(append(keys, "expiring"), `Clear(ctx, "")`, "an empty prefix removes every row")
	c.setKV("a", "after")
	c.get(bento.Row{Key: "a", Value: []byte("after")}, "the adapter must work after Clear")
}

func adClearOtherTable(t *testing.T, e *adapterEnv) {
	a, b := e.driver(t, "first"), e.driver(t, "second")
	a.setKV("k", "a")
	b.setKV("k", "b")
	b.setKV("users:1", "b")
	a.clear("")
	a.removed([]string{"k"}, `first.Clear(ctx, "")`, "an empty prefix removes every row")
	b.keeps(map[string]string{"k": "b", "users:1": "b"}, `first.Clear(ctx, "")`, "Clear must remove only rows of its own table")
}

func adPrune(t *testing.T, e *adapterEnv) {
	c := e.driver(t, "")
	if err := c.a.PruneExpiredEntries(e.ctx); err != nil {
		t.Errorf("PruneExpiredEntries(ctx) on an empty table = %v; want <nil>", err)
	}
	n := now()
	expired := []bento.Row{
		{Key: "hour ago", Value: []byte("v"), ExpiresAt: n.Add(-time.Hour)},
		{Key: "minute ago", Value: []byte("v"), ExpiresAt: n.Add(-time.Minute)},
		{Key: "year 2000", Value: []byte("v"), ExpiresAt: time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)},
	}
	live := []bento.Row{
		{Key: "in an hour", Value: []byte("v"), ExpiresAt: n.Add(time.Hour)},
		{Key: "never", Value: []byte("v")},
	}
	for _, r := range append(append([]bento.Row(nil), expired...), live...) {
		c.set(r)
	}
	if err := c.a.PruneExpiredEntries(e.ctx); err != nil {
		t.Fatalf("PruneExpiredEntries(ctx) = %v; want <nil>", err)
	}
	for _, r := range expired {
		c.missing(r.Key, fmt.Sprintf("PruneExpiredEntries must remove a row that expired at %s", r.ExpiresAt.Format(time.RFC3339)))
	}
	for _, r := range live {
		c.get(r, "PruneExpiredEntries must keep rows that have not expired, and rows that never expire")
	}
}

func adValue(t *testing.T, e *adapterEnv, v []byte) {
	c := e.driver(t, "")
	row := bento.Row{Key: "k", Value: v, ExpiresAt: now().Add(longTTL)}
	c.set(row)
	got, found, err := c.a.Get(e.ctx, "k")
	switch {
	case err != nil || !found:
		t.Errorf("Get(ctx, \"k\") = %s, %t, %v after Set(ctx, %s); want the row, true, <nil>", qrow(got), found, err, qrow(row))
	case len(got.Value) != len(v):
		t.Errorf("Get(ctx, \"k\") returned a value of %d bytes after Set(ctx, %s); want %d bytes: values are bytes and come back whole", len(got.Value), qrow(row), len(v))
	case !bytes.Equal(got.Value, v):
		t.Errorf("Get(ctx, \"k\") returned a value that differs at byte %d from the one set, %s; values are bytes and come back exactly", firstDiff(got.Value, v), qb(v))
	}
}

func adHostileKeys(t *testing.T, e *adapterEnv) {
	c := e.driver(t, "")
	checkHostileKeys(t, keyStore{
		what: "adapter",
		setCall: func(k, v string) string {
			return fmt.Sprintf("Set(ctx, %s)", qrow(bento.Row{Key: k, Value: []byte(v)}))
		},
		set: func(k, v string) error { return c.a.Set(e.ctx, bento.Row{Key: k, Value: []byte(v)}) },
		get: func(k string) (string, bool, string, error) {
			got, found, err := c.a.Get(e.ctx, k)
			if found && got.Key != k {
				// another key's row is never k's value
				return "", found, qrow(got), err
			}
			return string(got.Value), found, qrow(got), err
		},
		del: func(k string) (bool, error) { return c.a.Delete(e.ctx, k) },
	})
}

func adDisconnectTwice(t *testing.T, e *adapterEnv) {
	c := e.driver(t, "")
	if err := c.a.Disconnect(); err != nil {
		t.Errorf("Disconnect() = %v; want <nil>", err)
	}
	if err := c.a.Disconnect(); err != nil {
		t.Errorf("second Disconnect() = %v; want <nil>: calling it twice is fine", err)
	}
}
