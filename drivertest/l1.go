package drivertest

import (
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
	s := suite[bento.L1Driver, l1c]{kind: "bento.L1Driver", cases: l1Cases(), check: newL1c}
	s.run(t, o, "", open)
	s.run(t, o, "InNamespace/", func(t *testing.T) bento.L1Driver { return open(t).Namespace("ns") })
}

// l1Env is what a case of the L1 suite works with.
type l1Env = env[bento.L1Driver, l1c]

// newL1c wraps d, opened by a case, in its checks.
func newL1c(t *testing.T, _ *l1Env, d bento.L1Driver, name string) l1c {
	return l1c{t: t, d: d, name: dotted(name)}
}

// l1Cases returns the cases of the L1 suite: those it shares with the L2
// suite, then its own.
func l1Cases() []suiteCase[*l1Env] {
	return append(kvCasesOf[bento.L1Driver, l1c](), l1Only...)
}

// l1Only are the cases of the L1 suite that the L2 suite does not share.
var l1Only = []suiteCase[*l1Env]{
	{name: "Set/Get", run: l1SetGet},
	{name: "Set/NilValue", run: l1SetNil},
	{name: "Set/KeepsValueAsGiven", run: l1SetKeepsValue},
	{name: "Set/TTL", run: l1SetTTL},
	{name: "Set/ExtremeTTL", rootOnly: true, run: l1SetExtremeTTL},
	{name: "Set/OverwriteTTL", run: l1SetOverwriteTTL},
	{name: "RemainingTTL/Forever", run: l1RemainingForever},
	{name: "RemainingTTL/WithTTL", run: l1RemainingWithTTL},
	{name: "RemainingTTL/Missing", run: l1RemainingMissing},
	{name: "Pull/ReturnsAndRemoves", run: l1PullReturnsAndRemoves},
	{name: "Pull/Missing", run: l1PullMissing},
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

func (c l1c) kvNamespace(namespace string) kv { return c.ns(namespace) }

func (c l1c) call(method string, args ...string) string {
	return callText(c.name, method, "", args)
}

func (c l1c) setS(key, v string, ttl time.Duration) { c.d.Set(key, v, ttl) }

func (c l1c) getS(key, want, why string) bool {
	c.t.Helper()
	return c.get(key, want, why)
}

// del deletes key and checks what Delete reported.
func (c l1c) del(key string, want bool, why string) {
	c.t.Helper()
	if got := c.d.Delete(key); got != want {
		c.t.Error(rule(fmt.Sprintf("%sDelete(%s) = %t; want %t", c.name, qk(key), got, want), why))
	}
}

// deleteMany deletes keys and checks what DeleteMany reported.
func (c l1c) deleteMany(keys []string, want bool, why string) {
	c.t.Helper()
	if got := c.d.DeleteMany(keys); got != want {
		c.t.Error(rule(fmt.Sprintf("%sDeleteMany(%s) = %t; want %t", c.name, qks(keys), got, want), why))
	}
}

func (c l1c) clear() { c.d.Clear() }

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
func (c l1c) keeps(want map[string]string, what, why string) {
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
