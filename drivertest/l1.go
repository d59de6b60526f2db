package drivertest

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/bentocache/bento"
)

// L1 runs the compliance suite of [bento.L1Driver] as subtests of t: one per
// case of the contract, then the core cases again on Namespace("ns") under
// InNamespace/. open is called once per subtest, twice where a case needs two
// drivers on one backend, and must return a driver on a fresh random prefix,
// released with t.Cleanup.
func L1(t *testing.T, open func(t *testing.T) bento.L1Driver, o Options) {
	t.Helper()
	inNamespace := func(t *testing.T) bento.L1Driver { return open(t).Namespace("ns") }
	for _, c := range l1Cases {
		runL1(t, o, c.name, open, c.run)
	}
	for _, c := range l1Cases {
		if !c.rootOnly {
			runL1(t, o, "InNamespace/"+c.name, inNamespace, c.run)
		}
	}
}

// l1Case is one case of the L1 suite.
type l1Case struct {
	name string
	// rootOnly cases are not re-run on a namespace.
	rootOnly bool
	run      func(t *testing.T, e *l1Env)
}

// l1Env is what a case of the L1 suite works with.
type l1Env struct {
	ctx  context.Context // cancelled by the watchdog
	o    Options
	open func(t *testing.T) bento.L1Driver
}

// driver opens a driver for t, named in messages by name ("" for the only
// driver of a case).
func (e *l1Env) driver(t *testing.T, name string) l1c {
	t.Helper()
	d := e.open(t)
	if d == nil {
		t.Fatal("open returned a nil bento.L1Driver")
	}
	if name != "" {
		name += "."
	}
	return l1c{t: t, d: d, name: name}
}

func runL1(t *testing.T, o Options, name string, open func(t *testing.T) bento.L1Driver, f func(t *testing.T, e *l1Env)) {
	t.Helper()
	subtest(t, o, name, func(t *testing.T, ctx context.Context) {
		f(t, &l1Env{ctx: ctx, o: o, open: open})
	})
}

var l1Cases = []l1Case{
	{name: "Get/Missing", run: l1GetMissing},
	{name: "Set/Get", run: l1SetGet},
	{name: "Set/Overwrite", run: l1SetOverwrite},
	{name: "Set/NilValue", run: l1SetNil},
	{name: "Set/KeepsValueAsGiven", run: l1SetKeepsValue},
	{name: "Set/TTL", run: l1SetTTL},
	{name: "Set/ExtremeTTL", rootOnly: true, run: l1SetExtremeTTL},
	{name: "Set/OverwriteTTL", run: l1SetOverwriteTTL},
	{name: "RemainingTTL/Forever", run: l1RemainingForever},
	{name: "RemainingTTL/WithTTL", run: l1RemainingWithTTL},
	{name: "RemainingTTL/Missing", run: l1RemainingMissing},
	{name: "Has", run: l1Has},
	{name: "Pull/ReturnsAndRemoves", run: l1PullReturnsAndRemoves},
	{name: "Pull/Missing", run: l1PullMissing},
	{name: "Delete/Existing", run: l1DeleteExisting},
	{name: "Delete/Missing", run: l1DeleteMissing},
	{name: "DeleteMany/Empty", run: l1DeleteManyEmpty},
	{name: "DeleteMany/Some", run: l1DeleteManySome},
	{name: "DeleteMany/NoneExisting", run: l1DeleteManyNone},
	{name: "Clear/WithoutTTL", run: func(t *testing.T, e *l1Env) { l1Clear(t, e, 0) }},
	{name: "Clear/WithTTL", run: func(t *testing.T, e *l1Env) { l1Clear(t, e, longTTL) }},
	{name: "Clear/Empty", run: l1ClearEmpty},
	{name: "Clear/KeepsSiblingPrefix", run: l1ClearKeepsSibling},
	{name: "Clear/WildcardsLiteral", run: l1ClearWildcards},
	{name: "Namespace/Isolated", run: l1NamespaceIsolated},
	{name: "Namespace/SameKeyTwoValues", run: l1NamespaceSameKey},
	{name: "Namespace/ClearKeepsRoot", run: l1NamespaceClearKeepsRoot},
	{name: "Namespace/RootClearClearsNamespaces", run: l1RootClearClearsNamespaces},
	{name: "Namespace/ClearClearsChildren", run: l1NamespaceClearClearsChildren},
	{name: "Namespace/ChildClearKeepsParent", run: l1ChildClearKeepsParent},
	{name: "Namespace/ReachableFromRoot", run: l1ReachableFromRoot},
	{name: "Prefix/Isolated", run: l1PrefixIsolated},
	{name: "Prefix/OtherUntouchedByClear", run: l1PrefixOtherUntouched},
	{name: "Keys/Hostile", run: l1HostileKeys},
	{name: "Concurrent", run: l1Concurrent},
	{name: "Disconnect/Twice", rootOnly: true, run: l1DisconnectTwice},
}

// l1c wraps an L1 driver with checks that report through t.
type l1c struct {
	t *testing.T
	d bento.L1Driver
	// name is how messages name d: "" for the driver itself,
	// `Namespace("users").` for a view.
	name string
}

// ns returns the view of c's driver on namespace.
func (c l1c) ns(namespace string) l1c {
	c.t.Helper()
	d := c.d.Namespace(namespace)
	if d == nil {
		c.t.Fatalf("%sNamespace(%q) = nil; want a bento.L1Driver", c.name, namespace)
	}
	return l1c{t: c.t, d: d, name: c.name + fmt.Sprintf("Namespace(%q).", namespace)}
}

func (c l1c) set(key string, v any, ttl time.Duration) {
	c.d.Set(key, v, ttl)
}

// get checks that key holds want.
func (c l1c) get(key string, want any, why string) bool {
	c.t.Helper()
	got, found := c.d.Get(key)
	if !found || !sameValue(got, want) {
		c.t.Error(rule(fmt.Sprintf("%sGet(%s) = %s, %t; want %s, true", c.name, qk(key), qv(got), found, qv(want)), why))
		return false
	}
	return true
}

// missing checks that key holds nothing.
func (c l1c) missing(key string, why string) bool {
	c.t.Helper()
	if got, found := c.d.Get(key); found {
		c.t.Error(rule(fmt.Sprintf("%sGet(%s) = %s, true; want <nil>, false", c.name, qk(key), qv(got)), why))
		return false
	}
	return true
}

// has checks Has(key).
func (c l1c) has(key string, want bool, why string) {
	c.t.Helper()
	if got := c.d.Has(key); got != want {
		c.t.Error(rule(fmt.Sprintf("%sHas(%s) = %t; want %t", c.name, qk(key), got, want), why))
	}
}

// keeps checks that every key of want holds its value, after what.
func (c l1c) keeps(want map[string]any, what, why string) {
	c.t.Helper()
	for _, k := range sortedKeys(want) {
		if got, found := c.d.Get(k); !found || !sameValue(got, want[k]) {
			c.t.Errorf("%s changed %s: %sGet(%s) = %s, %t; want %s, true; %s", what, qk(k), c.name, qk(k), qv(got), found, qv(want[k]), why)
		}
	}
}

// removed checks that every key of keys holds nothing, after what.
func (c l1c) removed(keys []string, what, why string) {
	c.t.Helper()
	for _, k := range keys {
		if got, found := c.d.Get(k); found {
			c.t.Errorf("%s kept %s: %sGet(%s) = %s, true; want <nil>, false; %s", what, qk(k), c.name, qk(k), qv(got), why)
		}
	}
}

func l1GetMissing(t *testing.T, e *l1Env) {
	c := e.driver(t, "")
	c.missing("missing", "a key never set is not found")
	c.has("missing", false, "a key never set is not found")
}

func l1SetGet(t *testing.T, e *l1Env) {
	c := e.driver(t, "")
	type point struct{ X, Y int }
	values := map[string]any{"string": "v", "int": 42, "struct": point{1, 2}, "slice": []string{"a", "b"}, "map": map[string]int{"a": 1}}
	for _, k := range sortedKeys(values) {
		c.set(k, values[k], 0)
	}
	for _, k := range sortedKeys(values) {
		c.get(k, values[k], "Get must return the value given to Set")
	}
}

func l1SetOverwrite(t *testing.T, e *l1Env) {
	c := e.driver(t, "")
	c.set("k", "first", 0)
	c.set("k", "second", 0)
	c.get("k", "second", `after Set("k", "first", 0) then Set("k", "second", 0), Get must return the second value`)
}

func l1SetNil(t *testing.T, e *l1Env) {
	c := e.driver(t, "")
	c.set("k", nil, 0)
	c.get("k", nil, `after Set("k", nil, 0): a nil value is a value`)
	c.has("k", true, `after Set("k", nil, 0): a nil value is a value`)
	if got, found := c.d.Pull("k"); !found || got != nil {
		t.Errorf(`Pull("k") = %s, %t after Set("k", nil, 0); want <nil>, true: a nil value is a value`, qv(got), found)
	}
	c.missing("k", `after Pull("k")`)
}

func l1SetKeepsValue(t *testing.T, e *l1Env) {
	c := e.driver(t, "")
	type box struct{ n int }
	p := &box{n: 1}
	c.set("k", p, 0)
	got, found := c.d.Get("k")
	if q, ok := got.(*box); !found || !ok || q != p {
		t.Errorf(`Get("k") = %s, %t after Set("k", %p, 0); want the same pointer, true: an L1 driver keeps values as given`, qv(got), found, p)
	}
}

func l1SetTTL(t *testing.T, e *l1Env) {
	c := e.driver(t, "")
	ttl := e.o.shortTTL()
	start := time.Now()
	c.set("short", "v", ttl)
	setDone := time.Now()
	c.set("forever", "v", 0)
	c.set("negative", "v", -time.Second)
	c.set("long", "v", longTTL)
	if _, found := c.d.Get("short"); !found && time.Since(start) < e.o.earlyLimit() {
		t.Errorf(`Get("short") = <nil>, false %v after Set("short", "v", %v); want "v", true: an entry lives for its TTL`, time.Since(start).Round(time.Millisecond), ttl)
	}
	gone := eventually(e.ctx, setDone.Add(e.o.expiryWait()), func() bool {
		_, found := c.d.Get("short")
		return !found
	})
	if !gone {
		t.Errorf(`Get("short") still found %v after Set("short", "v", %v); want gone within %v of its TTL (Options.TTLGranularity = %v)`,
			time.Since(start).Round(time.Millisecond), ttl, e.o.expiryWait()-ttl, e.o.TTLGranularity)
	} else {
		c.has("short", false, "an expired entry is gone")
		if got, found := c.d.RemainingTTL("short"); found {
			t.Errorf(`RemainingTTL("short") = %v, true after the entry expired; want 0s, false`, got)
		}
		if got, found := c.d.Pull("short"); found {
			t.Errorf(`Pull("short") = %s, true after the entry expired; want <nil>, false`, qv(got))
		}
	}
	c.get("forever", "v", "Set with ttl 0 never expires")
	c.get("negative", "v", "Set with a negative ttl never expires")
	c.get("long", "v", "Set with ttl 1h lives for an hour")
}

func l1SetOverwriteTTL(t *testing.T, e *l1Env) {
	c := e.driver(t, "")
	ttl := e.o.shortTTL()
	c.set("expiring", "v", 0)
	c.set("probe", "v", ttl)
	c.set("expiring", "v2", ttl)
	c.set("forever", "v", ttl)
	c.set("forever", "v2", 0)
	setDone := time.Now()
	gone := eventually(e.ctx, setDone.Add(e.o.expiryWait()), func() bool {
		_, f1 := c.d.Get("probe")
		_, f2 := c.d.Get("expiring")
		return !f1 && !f2
	})
	if !gone {
		c.missing("probe", fmt.Sprintf("Set with ttl %v must expire within %v", ttl, e.o.expiryWait()))
		c.missing("expiring", fmt.Sprintf("overwriting a forever entry with ttl %v must make it expire", ttl))
	}
	c.get("forever", "v2", fmt.Sprintf("overwriting an entry of ttl %v with ttl 0 must make it live forever", ttl))
}

func l1RemainingForever(t *testing.T, e *l1Env) {
	c := e.driver(t, "")
	c.set("zero", "v", 0)
	c.set("negative", "v", -time.Second)
	for _, k := range []string{"zero", "negative"} {
		if got, found := c.d.RemainingTTL(k); got != 0 || !found {
			t.Errorf("RemainingTTL(%q) = %v, %t for an entry set without expiry; want 0s, true", k, got, found)
		}
	}
}

func l1RemainingWithTTL(t *testing.T, e *l1Env) {
	c := e.driver(t, "")
	c.set("k", "v", longTTL)
	lo := longTTL - time.Minute
	if got, found := c.d.RemainingTTL("k"); !found || got <= lo || got > longTTL {
		t.Errorf(`RemainingTTL("k") = %v, %t just after Set("k", "v", %v); want a duration in (%v, %v], true`, got, found, longTTL, lo, longTTL)
	}
}

func l1RemainingMissing(t *testing.T, e *l1Env) {
	c := e.driver(t, "")
	if got, found := c.d.RemainingTTL("missing"); found {
		t.Errorf(`RemainingTTL("missing") = %v, true for a key never set; want 0s, false`, got)
	}
}

func l1Has(t *testing.T, e *l1Env) {
	c := e.driver(t, "")
	c.has("k", false, "before Set")
	c.set("k", "v", 0)
	c.has("k", true, `after Set("k", "v", 0)`)
	c.d.Delete("k")
	c.has("k", false, `after Delete("k")`)
}

func l1PullReturnsAndRemoves(t *testing.T, e *l1Env) {
	c := e.driver(t, "")
	c.set("k", "v", 0)
	c.set("other", "o", 0)
	if got, found := c.d.Pull("k"); !found || !sameValue(got, "v") {
		t.Errorf(`Pull("k") = %s, %t after Set("k", "v", 0); want "v", true`, qv(got), found)
	}
	c.missing("k", `Pull("k") must remove the key`)
	c.get("other", "o", `Pull("k") must remove only "k"`)
	if got, found := c.d.Pull("k"); found {
		t.Errorf(`second Pull("k") = %s, true; want <nil>, false: the first Pull removed it`, qv(got))
	}
}

func l1PullMissing(t *testing.T, e *l1Env) {
	c := e.driver(t, "")
	if got, found := c.d.Pull("missing"); found {
		t.Errorf(`Pull("missing") = %s, true for a key never set; want <nil>, false`, qv(got))
	}
}

func l1DeleteExisting(t *testing.T, e *l1Env) {
	c := e.driver(t, "")
	c.set("k", "v", 0)
	c.set("other", "o", 0)
	if !c.d.Delete("k") {
		t.Errorf(`Delete("k") = false after Set("k", "v", 0); want true: the key existed`)
	}
	c.missing("k", `after Delete("k")`)
	c.get("other", "o", `Delete("k") must remove only "k"`)
}

func l1DeleteMissing(t *testing.T, e *l1Env) {
	c := e.driver(t, "")
	if c.d.Delete("missing") {
		t.Errorf(`Delete("missing") = true for a key never set; want false`)
	}
}

func l1DeleteManyEmpty(t *testing.T, e *l1Env) {
	c := e.driver(t, "")
	c.set("k", "v", 0)
	for _, keys := range [][]string{nil, {}} {
		if c.d.DeleteMany(keys) {
			t.Errorf("DeleteMany(%#v) = true; want false: nothing to delete", keys)
		}
	}
	c.get("k", "v", "DeleteMany of no keys must delete nothing")
}

func l1DeleteManySome(t *testing.T, e *l1Env) {
	c := e.driver(t, "")
	c.set("a", "1", 0)
	c.set("b", "2", 0)
	c.set("c", "3", 0)
	keys := []string{"a", "missing", "b"}
	if !c.d.DeleteMany(keys) {
		t.Errorf("DeleteMany(%s) = false; want true: a and b existed", qks(keys))
	}
	c.removed([]string{"a", "b"}, "DeleteMany("+qks(keys)+")", "DeleteMany must remove every listed key")
	c.get("c", "3", "DeleteMany("+qks(keys)+") must remove only the listed keys")
}

func l1DeleteManyNone(t *testing.T, e *l1Env) {
	c := e.driver(t, "")
	c.set("other", "o", 0)
	keys := []string{"x", "y"}
	if c.d.DeleteMany(keys) {
		t.Errorf("DeleteMany(%s) = true for keys never set; want false", qks(keys))
	}
	c.get("other", "o", "DeleteMany must remove only the listed keys")
}

func l1Clear(t *testing.T, e *l1Env, ttl time.Duration) {
	c := e.driver(t, "")
	keys := []string{"a", "b", "users:c"}
	for _, k := range keys {
		c.set(k, "v", ttl)
	}
	c.d.Clear()
	c.removed(keys, "Clear()", "Clear must remove every key")
	c.set("a", "after", ttl)
	c.get("a", "after", "the driver must work after Clear")
}

func l1ClearEmpty(t *testing.T, e *l1Env) {
	c := e.driver(t, "")
	c.d.Clear()
	c.d.Clear()
	c.set("k", "v", 0)
	c.get("k", "v", "the driver must work after Clear")
}

func l1ClearKeepsSibling(t *testing.T, e *l1Env) {
	c := e.driver(t, "")
	users := c.ns("users")
	users.set("k", "v", 0)
	keep := map[string]any{"usersAbc:k": "sibling", "users": "root key named like the namespace", "usersk": "no separator", "user:k": "shorter"}
	for _, k := range sortedKeys(keep) {
		c.set(k, keep[k], 0)
	}
	c.ns("usersAbc").set("j", "sibling namespace", 0)
	keep["usersAbc:j"] = "sibling namespace"
	users.d.Clear()
	users.removed([]string{"k"}, `Namespace("users").Clear()`, "Clear must remove every key of the namespace")
	c.keeps(keep, `Namespace("users").Clear()`, `Clear must remove only keys under "users:"`)
}

func l1ClearWildcards(t *testing.T, e *l1Env) {
	c := e.driver(t, "")
	keep := map[string]any{}
	for _, k := range wildcardVictims() {
		keep[k] = "victim " + k
		c.set(k, keep[k], 0)
	}
	nss := wildcardNamespaces()
	for _, n := range nss {
		c.ns(n).set("k", "ns "+n, 0)
		keep[n+":k"] = "ns " + n
	}
	for _, n := range nss {
		what := fmt.Sprintf("Namespace(%q).Clear()", n)
		c.ns(n).d.Clear()
		delete(keep, n+":k")
		c.removed([]string{n + ":k"}, what, "Clear must remove every key of the namespace")
		c.keeps(keep, what, fmt.Sprintf("Clear must remove only keys under %q, wildcards matching literally", n+":"))
	}
}

func l1NamespaceIsolated(t *testing.T, e *l1Env) {
	c := e.driver(t, "")
	users := c.ns("users")
	c.set("root", "r", 0)
	users.set("ns", "n", 0)
	users.missing("root", "a key set on the root is invisible from a namespace")
	users.has("root", false, "a key set on the root is invisible from a namespace")
	c.missing("ns", `a key set in a namespace is invisible from the root under its bare name`)
	c.has("ns", false, `a key set in a namespace is invisible from the root under its bare name`)
	c.ns("posts").missing("ns", "a key set in one namespace is invisible from another")
}

func l1NamespaceSameKey(t *testing.T, e *l1Env) {
	c := e.driver(t, "")
	users := c.ns("users")
	c.set("k", "root", 0)
	users.set("k", "users", 0)
	c.get("k", "root", "a root key and a namespace key of one name hold two values")
	users.get("k", "users", "a root key and a namespace key of one name hold two values")
	users.d.Delete("k")
	c.get("k", "root", `Namespace("users").Delete("k") must not delete the root's "k"`)
	users.set("k", "users", 0)
	c.d.Delete("k")
	users.get("k", "users", `Delete("k") on the root must not delete Namespace("users")'s "k"`)
}

func l1NamespaceClearKeepsRoot(t *testing.T, e *l1Env) {
	c := e.driver(t, "")
	users := c.ns("users")
	keep := map[string]any{"k": "root", "users": "root key named like the namespace", "usersAbc:k": "sibling"}
	for _, k := range sortedKeys(keep) {
		c.set(k, keep[k], 0)
	}
	users.set("k", "ns", 0)
	users.set("j", "ns", longTTL)
	users.d.Clear()
	users.removed([]string{"k", "j"}, `Namespace("users").Clear()`, "Clear must remove every key of the namespace")
	c.keeps(keep, `Namespace("users").Clear()`, `Clear must remove only keys under "users:"`)
}

func l1RootClearClearsNamespaces(t *testing.T, e *l1Env) {
	c := e.driver(t, "")
	c.set("k", "root", 0)
	c.ns("users").set("k", "users", 0)
	c.ns("users").ns("posts").set("k", "posts", longTTL)
	c.d.Clear()
	c.removed([]string{"k", "users:k", "users:posts:k"}, "Clear() on the root", "clearing the root clears every namespace")
	c.ns("users").removed([]string{"k"}, "Clear() on the root", "clearing the root clears every namespace")
}

func l1NamespaceClearClearsChildren(t *testing.T, e *l1Env) {
	c := e.driver(t, "")
	c.ns("users").ns("posts").set("k", "v", 0)
	c.ns("users").d.Clear()
	c.removed([]string{"users:posts:k"}, `Namespace("users").Clear()`, "clearing a namespace clears its children")
}

func l1ChildClearKeepsParent(t *testing.T, e *l1Env) {
	c := e.driver(t, "")
	users := c.ns("users")
	users.set("k", "users", 0)
	users.set("postsAbc:k", "sibling", 0)
	users.ns("posts").set("k", "posts", 0)
	users.ns("posts").d.Clear()
	c.removed([]string{"users:posts:k"}, `Namespace("users").Namespace("posts").Clear()`, "Clear must remove every key of the namespace")
	c.keeps(map[string]any{"users:k": "users", "users:postsAbc:k": "sibling"}, `Namespace("users").Namespace("posts").Clear()`, `Clear must remove only keys under "users:posts:"`)
}

func l1ReachableFromRoot(t *testing.T, e *l1Env) {
	c := e.driver(t, "")
	c.ns("users").set("key1", "u", 0)
	c.ns("users").ns("posts").set("key1", "p", 0)
	c.get("users:key1", "u", `Namespace("users") addresses "users:*" of the root`)
	c.get("users:posts:key1", "p", `Namespace("users").Namespace("posts") addresses "users:posts:*" of the root`)
	c.set("users:key2", "r", 0)
	c.ns("users").get("key2", "r", `the root's "users:key2" is Namespace("users")'s "key2"`)
	c.ns("users:posts").get("key1", "p", `Namespace("users:posts") is Namespace("users").Namespace("posts")`)
}

func l1PrefixIsolated(t *testing.T, e *l1Env) {
	a, b := e.driver(t, "first"), e.driver(t, "second")
	a.set("k", "a", 0)
	b.missing("k", "drivers on two prefixes do not see each other's keys")
	b.set("k", "b", 0)
	a.get("k", "a", "drivers on two prefixes keep two values for one key")
	a.d.Delete("k")
	b.get("k", "b", "Delete on one prefix must not delete the other's key")
}

func l1PrefixOtherUntouched(t *testing.T, e *l1Env) {
	a, b := e.driver(t, "first"), e.driver(t, "second")
	for _, c := range []l1c{a, b} {
		c.set("k", "v", 0)
		c.ns("users").set("k", "v", 0)
	}
	a.d.Clear()
	a.removed([]string{"k", "users:k"}, "first.Clear()", "Clear must remove every key of its prefix")
	b.keeps(map[string]any{"k": "v", "users:k": "v"}, "first.Clear()", "Clear must remove only keys of its own prefix")
	a.set("k", "v", 0)
	b.ns("users").d.Clear()
	a.keeps(map[string]any{"k": "v"}, `second.Namespace("users").Clear()`, "Clear must remove only keys of its own prefix")
}

func l1HostileKeys(t *testing.T, e *l1Env) {
	c := e.driver(t, "")
	keys := hostileKeys()
	for i, k := range keys {
		if p := catch(func() { c.set(k, hostileValue(i), 0) }); p != nil {
			t.Fatalf("Set(%s, %q, 0) panicked: %v; want the key stored", qk(k), hostileValue(i), p)
		}
	}
	for i, k := range keys {
		var (
			got   any
			found bool
		)
		if p := catch(func() { got, found = c.d.Get(k) }); p != nil {
			t.Errorf("Get(%s) panicked: %v; want %q, true", qk(k), p, hostileValue(i))
			continue
		}
		if !found || !sameValue(got, hostileValue(i)) {
			t.Errorf("Get(%s) = %s, %t; want %q, true: every key is stored under its exact name, distinct from the others", qk(k), qv(got), found, hostileValue(i))
		}
	}
	for i, k := range keys {
		if i%2 == 0 && !c.d.Delete(k) {
			t.Errorf("Delete(%s) = false; want true: the key was set", qk(k))
		}
	}
	for i, k := range keys {
		if i%2 == 0 {
			c.missing(k, "after Delete("+qk(k)+")")
		} else {
			c.get(k, hostileValue(i), "Delete of other keys must not delete this one")
		}
	}
}

func l1Concurrent(t *testing.T, e *l1Env) {
	c := e.driver(t, "")
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			d := c.d
			if g%2 == 1 {
				d = d.Namespace("odd")
			}
			for i := range 200 {
				k := fmt.Sprintf("g%d-%d", g, i%10)
				d.Set(k, i, longTTL)
				if v, found := d.Get(k); !found || v != i {
					t.Errorf("goroutine %d: Get(%q) = %s, %t right after Set(%q, %d, 1h); want %d, true", g, k, qv(v), found, k, i, i)
					return
				}
				d.Has(k)
				d.RemainingTTL(k)
				d.Namespace("shared").Set("k", i, 0)
				d.Namespace("shared").Get("k")
				if i%3 == 0 {
					d.Delete(k)
				}
				if i%50 == 0 {
					d.Namespace("shared").Clear()
				}
			}
		})
	}
	wg.Wait()
}

func l1DisconnectTwice(t *testing.T, e *l1Env) {
	c := e.driver(t, "")
	c.set("k", "v", 0)
	if err := c.d.Disconnect(); err != nil {
		t.Errorf("Disconnect() = %v; want <nil>", err)
	}
	if err := c.d.Disconnect(); err != nil {
		t.Errorf("second Disconnect() = %v; want <nil>: calling it twice is fine", err)
	}
}
