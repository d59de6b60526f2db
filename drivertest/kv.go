package drivertest

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

// kv is an L1 or L2 driver under test seen through string values, with
// checks that report through its subtest: what the cases that the L1 and
// L2 suites share work with.
type kv interface {
	// call renders a call of the driver for messages:
	// `Namespace("users").Clear(ctx)`.
	call(method string, args ...string) string
	kvNamespace(namespace string) kv
	setS(key, v string, ttl time.Duration)
	// getS checks that key holds want.
	getS(key, want, why string) bool
	// missing checks that key holds nothing.
	missing(key, why string) bool
	// has checks Has(key).
	has(key string, want bool, why string)
	// del deletes key and checks what Delete reported.
	del(key string, want bool, why string)
	// deleteMany deletes keys and checks what DeleteMany reported.
	deleteMany(keys []string, want bool, why string)
	// clear clears the driver; a failure ends the subtest.
	clear()
	// keeps checks that every key of want holds its value, after what.
	keeps(want map[string]string, what, why string)
	// removed checks that every key of keys holds nothing, after what.
	removed(keys []string, what, why string)
}

// callText renders a call named by prefix (a driver's name in messages),
// method and args, with first before the args if it is not "".
func callText(prefix, method, first string, args []string) string {
	if first != "" {
		args = append([]string{first}, args...)
	}
	return prefix + method + "(" + strings.Join(args, ", ") + ")"
}

// kvCase is a case that the L1 and L2 suites share. driver opens a driver
// for t, as their envs' driver does.
type kvCase struct {
	name string
	run  func(t *testing.T, driver func(t *testing.T, name string) kv)
}

// kvCasesOf returns the cases that the L1 and L2 suites share, as cases of
// a suite whose checks C are a kv.
func kvCasesOf[D any, C kv]() []suiteCase[*env[D, C]] {
	cs := make([]suiteCase[*env[D, C]], len(kvCases))
	for i, c := range kvCases {
		cs[i] = suiteCase[*env[D, C]]{name: c.name, run: func(t *testing.T, e *env[D, C]) {
			c.run(t, func(t *testing.T, name string) kv {
				t.Helper()
				return e.driver(t, name)
			})
		}}
	}
	return cs
}

var kvCases = []kvCase{
	{name: "Get/Missing", run: kvGetMissing},
	{name: "Set/Overwrite", run: kvSetOverwrite},
	{name: "Has", run: kvHas},
	{name: "Delete/Existing", run: kvDeleteExisting},
	{name: "Delete/Missing", run: kvDeleteMissing},
	{name: "DeleteMany/Empty", run: kvDeleteManyEmpty},
	{name: "DeleteMany/Some", run: kvDeleteManySome},
	{name: "DeleteMany/NoneExisting", run: kvDeleteManyNone},
	{name: "Clear/WithoutTTL", run: func(t *testing.T, driver func(*testing.T, string) kv) { kvClear(t, driver, 0) }},
	{name: "Clear/WithTTL", run: func(t *testing.T, driver func(*testing.T, string) kv) { kvClear(t, driver, longTTL) }},
	{name: "Clear/Empty", run: kvClearEmpty},
	{name: "Clear/KeepsSiblingPrefix", run: kvClearKeepsSibling},
	{name: "Clear/WildcardsLiteral", run: kvClearWildcards},
	{name: "Namespace/Isolated", run: kvNamespaceIsolated},
	{name: "Namespace/SameKeyTwoValues", run: kvNamespaceSameKey},
	{name: "Namespace/ClearKeepsRoot", run: kvNamespaceClearKeepsRoot},
	{name: "Namespace/RootClearClearsNamespaces", run: kvRootClearClearsNamespaces},
	{name: "Namespace/ClearClearsChildren", run: kvNamespaceClearClearsChildren},
	{name: "Namespace/ChildClearKeepsParent", run: kvChildClearKeepsParent},
	{name: "Namespace/ReachableFromRoot", run: kvReachableFromRoot},
	{name: "Prefix/Isolated", run: kvPrefixIsolated},
	{name: "Prefix/OtherUntouchedByClear", run: kvPrefixOtherUntouched},
}

func kvGetMissing(t *testing.T, driver func(*testing.T, string) kv) {
	c := driver(t, "")
	c.missing("missing", "a key never set is not found, and a miss is not an error")
	c.has("missing", false, "a key never set is not found")
}

func kvSetOverwrite(t *testing.T, driver func(*testing.T, string) kv) {
	c := driver(t, "")
	c.setS("k", "first", 0)
	c.setS("k", "second", 0)
	c.getS("k", "second", fmt.Sprintf("after %s then %s, Get must return the second value",
		c.call("Set", `"k"`, `"first"`, "0"), c.call("Set", `"k"`, `"second"`, "0")))
	c.setS("k", "x", 0)
	c.getS("k", "x", "a shorter value must replace a longer one entirely")
}

func kvHas(t *testing.T, driver func(*testing.T, string) kv) {
	c := driver(t, "")
	c.has("k", false, "before Set")
	c.setS("k", "v", 0)
	c.has("k", true, "after "+c.call("Set", `"k"`, `"v"`, "0"))
	c.del("k", true, "after "+c.call("Set", `"k"`, `"v"`, "0"))
	c.has("k", false, "after "+c.call("Delete", `"k"`))
}

func kvDeleteExisting(t *testing.T, driver func(*testing.T, string) kv) {
	c := driver(t, "")
	c.setS("k", "v", 0)
	c.setS("other", "o", 0)
	c.del("k", true, "the key existed")
	c.missing("k", "after "+c.call("Delete", `"k"`))
	c.getS("other", "o", c.call("Delete", `"k"`)+` must remove only "k"`)
}

func kvDeleteMissing(t *testing.T, driver func(*testing.T, string) kv) {
	c := driver(t, "")
	c.del("missing", false, "the key never existed, and a miss is not an error")
}

func kvDeleteManyEmpty(t *testing.T, driver func(*testing.T, string) kv) {
	c := driver(t, "")
	c.setS("k", "v", 0)
	c.deleteMany(nil, false, "an empty list is fine, and deletes nothing")
	c.deleteMany([]string{}, false, "an empty list is fine, and deletes nothing")
	c.getS("k", "v", "DeleteMany of no keys must delete nothing")
}

func kvDeleteManySome(t *testing.T, driver func(*testing.T, string) kv) {
	c := driver(t, "")
	c.setS("a", "1", 0)
	c.setS("b", "2", 0)
	c.setS("c", "3", 0)
	keys := []string{"a", "missing", "b"}
	what := c.call("DeleteMany", qks(keys))
	c.deleteMany(keys, true, "a and b existed")
	c.removed([]string{"a", "b"}, what, "DeleteMany must remove every listed key")
	c.getS("c", "3", what+" must remove only the listed keys")
}

func kvDeleteManyNone(t *testing.T, driver func(*testing.T, string) kv) {
	c := driver(t, "")
	c.setS("other", "o", 0)
	c.deleteMany([]string{"x", "y"}, false, "the keys were never set")
	c.getS("other", "o", "DeleteMany must remove only the listed keys")
}

func kvClear(t *testing.T, driver func(*testing.T, string) kv, ttl time.Duration) {
	c := driver(t, "")
	keys := []string{"a", "b", "users:c"}
	for _, k := range keys {
		c.setS(k, "v", ttl)
	}
	c.clear()
	c.removed(keys, c.call("Clear"), "Clear must remove every key")
	c.setS("a", "after", ttl)
	c.getS("a", "after", "the driver must work after Clear")
}

func kvClearEmpty(t *testing.T, driver func(*testing.T, string) kv) {
	c := driver(t, "")
	c.clear()
	c.clear()
	c.setS("k", "v", 0)
	c.getS("k", "v", "the driver must work after Clear")
}

func kvClearKeepsSibling(t *testing.T, driver func(*testing.T, string) kv) {
	c := driver(t, "")
	users := c.kvNamespace("users")
	users.setS("k", "v", 0)
	keep := map[string]string{"usersAbc:k": "sibling", "users": "root key named like the namespace", "usersk": "no separator", "user:k": "shorter"}
	for _, k := range sortedKeys(keep) {
		c.setS(k, keep[k], 0)
	}
	c.kvNamespace("usersAbc").setS("j", "sibling namespace", 0)
	keep["usersAbc:j"] = "sibling namespace"
	users.clear()
	users.removed([]string{"k"}, users.call("Clear"), "Clear must remove every key of the namespace")
	c.keeps(keep, users.call("Clear"), `Clear must remove only keys under "users:"`)
}

func kvClearWildcards(t *testing.T, driver func(*testing.T, string) kv) {
	c := driver(t, "")
	keep := map[string]string{}
	for _, k := range wildcardVictims() {
		keep[k] = "victim " + k
		c.setS(k, keep[k], 0)
	}
	nss := wildcardNamespaces()
	for _, n := range nss {
		c.kvNamespace(n).setS("k", "ns "+n, 0)
		keep[n+":k"] = "ns " + n
	}
	for _, n := range nss {
		ns := c.kvNamespace(n)
		ns.clear()
		delete(keep, n+":k")
		c.removed([]string{n + ":k"}, ns.call("Clear"), "Clear must remove every key of the namespace")
		c.keeps(keep, ns.call("Clear"), fmt.Sprintf("Clear must remove only keys under %q, wildcards matching literally", n+":"))
	}
}

func kvNamespaceIsolated(t *testing.T, driver func(*testing.T, string) kv) {
	c := driver(t, "")
	users := c.kvNamespace("users")
	c.setS("root", "r", 0)
	users.setS("ns", "n", 0)
	users.missing("root", "a key set on the root is invisible from a namespace")
	users.has("root", false, "a key set on the root is invisible from a namespace")
	c.missing("ns", "a key set in a namespace is invisible from the root under its bare name")
	c.has("ns", false, "a key set in a namespace is invisible from the root under its bare name")
	c.kvNamespace("posts").missing("ns", "a key set in one namespace is invisible from another")
}

func kvNamespaceSameKey(t *testing.T, driver func(*testing.T, string) kv) {
	c := driver(t, "")
	users := c.kvNamespace("users")
	c.setS("k", "root", 0)
	users.setS("k", "users", 0)
	c.getS("k", "root", "a root key and a namespace key of one name hold two values")
	users.getS("k", "users", "a root key and a namespace key of one name hold two values")
	users.del("k", true, "the key existed in the namespace")
	c.getS("k", "root", users.call("Delete", `"k"`)+` must not delete the root's "k"`)
	users.setS("k", "users", 0)
	c.del("k", true, "the key existed on the root")
	users.getS("k", "users", c.call("Delete", `"k"`)+` on the root must not delete Namespace("users")'s "k"`)
}

func kvNamespaceClearKeepsRoot(t *testing.T, driver func(*testing.T, string) kv) {
	c := driver(t, "")
	users := c.kvNamespace("users")
	keep := map[string]string{"k": "root", "users": "root key named like the namespace", "usersAbc:k": "sibling"}
	for _, k := range sortedKeys(keep) {
		c.setS(k, keep[k], 0)
	}
	users.setS("k", "ns", 0)
	users.setS("j", "ns", longTTL)
	users.clear()
	users.removed([]string{"k", "j"}, users.call("Clear"), "Clear must remove every key of the namespace")
	c.keeps(keep, users.call("Clear"), `Clear must remove only keys under "users:"`)
}

func kvRootClearClearsNamespaces(t *testing.T, driver func(*testing.T, string) kv) {
	c := driver(t, "")
	c.setS("k", "root", 0)
	c.kvNamespace("users").setS("k", "users", 0)
	c.kvNamespace("users").kvNamespace("posts").setS("k", "posts", longTTL)
	c.clear()
	what := c.call("Clear") + " on the root"
	c.removed([]string{"k", "users:k", "users:posts:k"}, what, "clearing the root clears every namespace")
	c.kvNamespace("users").removed([]string{"k"}, what, "clearing the root clears every namespace")
}

func kvNamespaceClearClearsChildren(t *testing.T, driver func(*testing.T, string) kv) {
	c := driver(t, "")
	c.kvNamespace("users").kvNamespace("posts").setS("k", "v", 0)
	users := c.kvNamespace("users")
	users.clear()
	c.removed([]string{"users:posts:k"}, users.call("Clear"), "clearing a namespace clears its children")
}

func kvChildClearKeepsParent(t *testing.T, driver func(*testing.T, string) kv) {
	c := driver(t, "")
	users := c.kvNamespace("users")
	users.setS("k", "users", 0)
	users.setS("postsAbc:k", "sibling", 0)
	posts := users.kvNamespace("posts")
	posts.setS("k", "posts", 0)
	posts.clear()
	c.removed([]string{"users:posts:k"}, posts.call("Clear"), "Clear must remove every key of the namespace")
	c.keeps(map[string]string{"users:k": "users", "users:postsAbc:k": "sibling"}, posts.call("Clear"), `Clear must remove only keys under "users:posts:"`)
}

func kvReachableFromRoot(t *testing.T, driver func(*testing.T, string) kv) {
	c := driver(t, "")
	c.kvNamespace("users").setS("key1", "u", 0)
	c.kvNamespace("users").kvNamespace("posts").setS("key1", "p", 0)
	c.getS("users:key1", "u", `Namespace("users") addresses "users:*" of the root`)
	c.getS("users:posts:key1", "p", `Namespace("users").Namespace("posts") addresses "users:posts:*" of the root`)
	c.setS("users:key2", "r", 0)
	c.kvNamespace("users").getS("key2", "r", `the root's "users:key2" is Namespace("users")'s "key2"`)
	c.kvNamespace("users:posts").getS("key1", "p", `Namespace("users:posts") is Namespace("users").Namespace("posts")`)
}

func kvPrefixIsolated(t *testing.T, driver func(*testing.T, string) kv) {
	a, b := driver(t, "first"), driver(t, "second")
	a.setS("k", "a", 0)
	b.missing("k", "drivers on two prefixes do not see each other's keys")
	b.setS("k", "b", 0)
	a.getS("k", "a", "drivers on two prefixes keep two values for one key")
	a.del("k", true, "the key existed on the first prefix")
	b.getS("k", "b", "Delete on one prefix must not delete the other's key")
}

func kvPrefixOtherUntouched(t *testing.T, driver func(*testing.T, string) kv) {
	a, b := driver(t, "first"), driver(t, "second")
	for _, c := range []kv{a, b} {
		c.setS("k", "v", 0)
		c.kvNamespace("users").setS("k", "v", longTTL)
	}
	a.clear()
	a.removed([]string{"k", "users:k"}, a.call("Clear"), "Clear must remove every key of its prefix")
	b.keeps(map[string]string{"k": "v", "users:k": "v"}, a.call("Clear"), "Clear must remove only keys of its own prefix")
	a.setS("k", "v", 0)
	bUsers := b.kvNamespace("users")
	bUsers.clear()
	a.keeps(map[string]string{"k": "v"}, bUsers.call("Clear"), "Clear must remove only keys of its own prefix")
}
