package drivertest

import (
	"bytes"
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bentocache/bento"
)

// L2 runs the compliance suite of [bento.L2Driver] as subtests of t: one per
// case of the contract, the cases of the optional [bento.L2BatchDriver] and
// [bento.Pruner] capabilities (skipped, naming the interface, when the driver
// lacks them), then the core cases again on Namespace("ns") under
// InNamespace/. open is called once per subtest, twice where a case needs two
// drivers on one backend, and must return a driver on a fresh random prefix
// of that backend, released with t.Cleanup.
func L2(t *testing.T, open func(t *testing.T) bento.L2Driver, o Options) {
	t.Helper()
	s := suite[bento.L2Driver, l2c]{kind: "bento.L2Driver", cases: l2Cases(), check: newL2c}
	s.run(t, o, "", open)
	s.run(t, o, "InNamespace/", func(t *testing.T) bento.L2Driver { return open(t).Namespace("ns") })
}

// l2Env is what a case of the L2 suite works with.
type l2Env = env[bento.L2Driver, l2c]

// newL2c wraps d, opened by a case of e, in its checks.
func newL2c(t *testing.T, e *l2Env, d bento.L2Driver, name string) l2c {
	return l2c{t: t, ctx: e.ctx, d: d, name: dotted(name)}
}

// l2Cases returns the cases of the L2 suite: those it shares with the L1
// suite, then its own.
func l2Cases() []suiteCase[*l2Env] {
	return append(kvCasesOf[bento.L2Driver, l2c](), l2Only...)
}

// l2Only are the cases of the L2 suite that the L1 suite does not share.
var l2Only = []suiteCase[*l2Env]{
	{name: "Set/Get", run: l2SetGet},
	{name: "Set/TTL", run: l2SetTTL},
	{name: "Set/OverwriteTTL", run: l2SetOverwriteTTL},
	{name: "Set/ExtremeTTL", rootOnly: true, run: l2SetExtremeTTL},
	{name: "Pull/ReturnsAndRemoves", run: l2PullReturnsAndRemoves},
	{name: "Pull/Missing", run: l2PullMissing},
	{name: "Pull/Concurrent", run: l2PullConcurrent},
	{name: "Value/AllBytes", run: l2ValueAllBytes},
	{name: "Value/Empty", run: l2ValueEmpty},
	{name: "Value/Large", run: l2ValueLarge},
	{name: "Keys/Hostile", run: l2HostileKeys},
	{name: "Concurrent", run: l2Concurrent},
	{name: "GetMany/MissingSlotsNil", run: l2GetManyMissing},
	{name: "GetMany/EmptyValue", run: l2GetManyEmptyValue},
	{name: "GetMany/NoKeys", run: l2GetManyNoKeys},
	{name: "GetMany/Namespace", run: l2GetManyNamespace},
	{name: "SetMany/RoundTrip", run: l2SetManyRoundTrip},
	{name: "SetMany/TTL", run: l2SetManyTTL},
	{name: "SetMany/Empty", run: l2SetManyEmpty},
	{name: "Prune/RemovesExpiredOnly", run: l2Prune},
	{name: "Disconnect/Twice", rootOnly: true, run: l2DisconnectTwice},
}

// l2c wraps an L2 driver with checks that report through t.
type l2c struct {
	t   *testing.T
	ctx context.Context
	d   bento.L2Driver
	// name is how messages name d: "" for the driver itself,
	// `Namespace("users").` for a view.
	name string
}

// ns returns the view of c's driver on namespace.
func (c l2c) ns(namespace string) l2c {
	c.t.Helper()
	d := c.d.Namespace(namespace)
	if d == nil {
		c.t.Fatalf("%sNamespace(%q) = nil; want a bento.L2Driver", c.name, namespace)
	}
	return l2c{t: c.t, ctx: c.ctx, d: d, name: c.name + fmt.Sprintf("Namespace(%q).", namespace)}
}

func (c l2c) kvNamespace(namespace string) kv { return c.ns(namespace) }

func (c l2c) call(method string, args ...string) string {
	return callText(c.name, method, "ctx", args)
}

// deleteMany deletes keys and checks what DeleteMany reported.
func (c l2c) deleteMany(keys []string, want bool, why string) {
	c.t.Helper()
	if got, err := c.d.DeleteMany(c.ctx, keys); err != nil || got != want {
		c.t.Error(rule(fmt.Sprintf("%sDeleteMany(ctx, %s) = %t, %v; want %t, <nil>", c.name, qks(keys), got, err, want), why))
	}
}

// set stores v under key; a failure ends the subtest, whose next steps
// would be meaningless.
func (c l2c) set(key string, v []byte, ttl time.Duration) {
	c.t.Helper()
	if err := c.d.Set(c.ctx, key, v, ttl); err != nil {
		c.t.Fatalf("%sSet(ctx, %s, %s, %v) = %v; want <nil>", c.name, qk(key), qb(v), ttl, err)
	}
}

// setS is set of a string value.
func (c l2c) setS(key, v string, ttl time.Duration) {
	c.t.Helper()
	c.set(key, []byte(v), ttl)
}

// get checks that key holds want.
func (c l2c) get(key string, want []byte, why string) bool {
	c.t.Helper()
	got, found, err := c.d.Get(c.ctx, key)
	if err != nil || !found || !bytes.Equal(got, want) {
		msg := fmt.Sprintf("%sGet(ctx, %s) = %s, %t, %v; want %s, true, <nil>", c.name, qk(key), qb(got), found, err, qb(want))
		if found && len(got) != len(want) {
			msg += fmt.Sprintf(" (got %d bytes, want %d)", len(got), len(want))
		} else if found && len(got) > maxShown {
			msg += fmt.Sprintf(" (first difference at byte %d)", firstDiff(got, want))
		}
		c.t.Error(rule(msg, why))
		return false
	}
	return true
}

// getS is get of a string value.
func (c l2c) getS(key, want, why string) bool {
	c.t.Helper()
	return c.get(key, []byte(want), why)
}

// missing checks that key holds nothing.
func (c l2c) missing(key string, why string) bool {
	c.t.Helper()
	got, found, err := c.d.Get(c.ctx, key)
	if err != nil || found {
		c.t.Error(rule(fmt.Sprintf("%sGet(ctx, %s) = %s, %t, %v; want nil, false, <nil>", c.name, qk(key), qb(got), found, err), why))
		return false
	}
	return true
}

// has checks Has(key).
func (c l2c) has(key string, want bool, why string) {
	c.t.Helper()
	if got, err := c.d.Has(c.ctx, key); err != nil || got != want {
		c.t.Error(rule(fmt.Sprintf("%sHas(ctx, %s) = %t, %v; want %t, <nil>", c.name, qk(key), got, err, want), why))
	}
}

// del deletes key and checks what Delete reported.
func (c l2c) del(key string, want bool, why string) {
	c.t.Helper()
	if got, err := c.d.Delete(c.ctx, key); err != nil || got != want {
		c.t.Error(rule(fmt.Sprintf("%sDelete(ctx, %s) = %t, %v; want %t, <nil>", c.name, qk(key), got, err, want), why))
	}
}

// clear clears c's driver; a failure ends the subtest.
func (c l2c) clear() {
	c.t.Helper()
	if err := c.d.Clear(c.ctx); err != nil {
		c.t.Fatalf("%sClear(ctx) = %v; want <nil>", c.name, err)
	}
}

// keeps checks that every key of want holds its value, after what.
func (c l2c) keeps(want map[string]string, what, why string) {
	c.t.Helper()
	for _, k := range sortedKeys(want) {
		got, found, err := c.d.Get(c.ctx, k)
		if err != nil || !found || string(got) != want[k] {
			c.t.Errorf("%s changed %s: %sGet(ctx, %s) = %s, %t, %v; want %q, true, <nil>; %s", what, qk(k), c.name, qk(k), qb(got), found, err, want[k], why)
		}
	}
}

// removed checks that every key of keys holds nothing, after what.
func (c l2c) removed(keys []string, what, why string) {
	c.t.Helper()
	for _, k := range keys {
		got, found, err := c.d.Get(c.ctx, k)
		if err != nil || found {
			c.t.Errorf("%s kept %s: %sGet(ctx, %s) = %s, %t, %v; want nil, false, <nil>; %s", what, qk(k), c.name, qk(k), qb(got), found, err, why)
		}
	}
}

// gone waits until key is missing, up to deadline, and reports whether it is.
func (c l2c) gone(key string, deadline time.Time) bool {
	return eventually(c.ctx, deadline, func() bool {
		_, found, err := c.d.Get(c.ctx, key)
		return err == nil && !found
	})
}

// batch returns c's driver as a bento.L2BatchDriver, or skips the subtest.
func (c l2c) batch() bento.L2BatchDriver {
	c.t.Helper()
	b, ok := c.d.(bento.L2BatchDriver)
	if !ok {
		c.t.Skipf("%T does not implement bento.L2BatchDriver", c.d)
	}
	return b
}

func l2SetGet(t *testing.T, e *l2Env) {
	c := e.driver(t, "")
	c.setS("k", "v", 0)
	c.setS("j", `{"value":1}`, longTTL)
	c.getS("k", "v", `after Set(ctx, "k", "v", 0)`)
	c.getS("j", `{"value":1}`, "after Set(ctx, \"j\", `{\"value\":1}`, 1h)")
}

func l2SetTTL(t *testing.T, e *l2Env) {
	c := e.driver(t, "")
	ttl := e.o.shortTTL()
	start := time.Now()
	c.setS("short", "v", ttl)
	setDone := time.Now()
	c.setS("forever", "v", 0)
	c.setS("negative", "v", -time.Second)
	c.setS("long", "v", longTTL)
	if _, found, err := c.d.Get(e.ctx, "short"); err == nil && !found && time.Since(start) < e.o.earlyLimit() {
		t.Errorf(`Get(ctx, "short") = nil, false, <nil> %v after Set(ctx, "short", "v", %v); want "v", true, <nil>: an entry lives for its TTL`, time.Since(start).Round(time.Millisecond), ttl)
	}
	if !c.gone("short", setDone.Add(e.o.expiryWait())) {
		t.Errorf(`Get(ctx, "short") still found %v after Set(ctx, "short", "v", %v); want gone within %v of its TTL (Options.TTLGranularity = %v)`,
			time.Since(start).Round(time.Millisecond), ttl, e.o.expiryWait()-ttl, e.o.TTLGranularity)
	} else {
		c.has("short", false, "an expired entry is gone")
		if got, found, err := c.d.Pull(e.ctx, "short"); err != nil || found {
			t.Errorf(`Pull(ctx, "short") = %s, %t, %v after the entry expired; want nil, false, <nil>`, qb(got), found, err)
		}
	}
	c.getS("forever", "v", "Set with ttl 0 never expires")
	c.getS("negative", "v", "Set with a negative ttl never expires")
	c.getS("long", "v", "Set with ttl 1h lives for an hour")
}

func l2SetOverwriteTTL(t *testing.T, e *l2Env) {
	c := e.driver(t, "")
	ttl := e.o.shortTTL()
	c.setS("expiring", "v", 0)
	c.setS("probe", "v", ttl)
	c.setS("expiring", "v2", ttl)
	c.setS("forever", "v", ttl)
	c.setS("forever", "v2", 0)
	setDone := time.Now()
	gone := eventually(e.ctx, setDone.Add(e.o.expiryWait()), func() bool {
		_, f1, err1 := c.d.Get(e.ctx, "probe")
		_, f2, err2 := c.d.Get(e.ctx, "expiring")
		return err1 == nil && err2 == nil && !f1 && !f2
	})
	if !gone {
		c.missing("probe", fmt.Sprintf("Set with ttl %v must expire within %v", ttl, e.o.expiryWait()))
		c.missing("expiring", fmt.Sprintf("overwriting a forever entry with ttl %v must make it expire", ttl))
	}
	c.getS("forever", "v2", fmt.Sprintf("overwriting an entry of ttl %v with ttl 0 must make it live forever", ttl))
}

func l2PullReturnsAndRemoves(t *testing.T, e *l2Env) {
	c := e.driver(t, "")
	c.setS("k", "v", 0)
	c.setS("other", "o", 0)
	if got, found, err := c.d.Pull(e.ctx, "k"); err != nil || !found || string(got) != "v" {
		t.Errorf(`Pull(ctx, "k") = %s, %t, %v after Set(ctx, "k", "v", 0); want "v", true, <nil>`, qb(got), found, err)
	}
	c.missing("k", `Pull(ctx, "k") must remove the key`)
	c.getS("other", "o", `Pull(ctx, "k") must remove only "k"`)
	if got, found, err := c.d.Pull(e.ctx, "k"); err != nil || found {
		t.Errorf(`second Pull(ctx, "k") = %s, %t, %v; want nil, false, <nil>: the first Pull removed it`, qb(got), found, err)
	}
}

func l2PullConcurrent(t *testing.T, e *l2Env) {
	if !e.o.AtomicPull {
		t.Skip("Options.AtomicPull is false: the driver does not promise that exactly one of concurrent Pulls gets the value")
	}
	c := e.driver(t, "")
	const pullers = 8
	for round := range 5 {
		c.setS("k", "v", 0)
		var got atomic.Int32
		var wg sync.WaitGroup
		for range pullers {
			wg.Go(func() {
				if _, found, err := c.d.Pull(e.ctx, "k"); err != nil {
					t.Errorf(`Pull(ctx, "k") = %v; want no error`, err)
				} else if found {
					got.Add(1)
				}
			})
		}
		wg.Wait()
		if n := got.Load(); n != 1 {
			t.Errorf("round %d: %d of %d concurrent Pulls of one key got the value; want exactly 1 (Options.AtomicPull)", round, n, pullers)
		}
	}
}

func l2PullMissing(t *testing.T, e *l2Env) {
	c := e.driver(t, "")
	if got, found, err := c.d.Pull(e.ctx, "missing"); err != nil || found {
		t.Errorf(`Pull(ctx, "missing") = %s, %t, %v for a key never set; want nil, false, <nil>: a miss is not an error`, qb(got), found, err)
	}
}

func l2ValueAllBytes(t *testing.T, e *l2Env) {
	c := e.driver(t, "")
	v := allBytes()
	c.set("k", v, 0)
	c.get("k", v, "values are bytes: every byte value must come back as set")
	rev := allBytes()
	for i, j := 0, len(rev)-1; i < j; i, j = i+1, j-1 {
		rev[i], rev[j] = rev[j], rev[i]
	}
	c.set("k", rev, longTTL)
	c.get("k", rev, "values are bytes: every byte value must come back as set")
}

func l2ValueEmpty(t *testing.T, e *l2Env) {
	c := e.driver(t, "")
	c.set("k", []byte{}, 0)
	c.get("k", []byte{}, "an empty value is a value")
	c.has("k", true, "an empty value is a value")
	if got, found, err := c.d.Pull(e.ctx, "k"); err != nil || !found || len(got) != 0 {
		t.Errorf(`Pull(ctx, "k") = %s, %t, %v after Set(ctx, "k", []byte{}, 0); want "", true, <nil>: an empty value is a value`, qb(got), found, err)
	}
}

func l2ValueLarge(t *testing.T, e *l2Env) {
	c := e.driver(t, "")
	if e.o.MaxValueSize <= 0 {
		v := largeBytes(1 << 20)
		c.set("k", v, 0)
		c.get("k", v, "a 1 MiB value must come back whole")
	} else {
		v := largeBytes(e.o.MaxValueSize)
		c.set("k", v, 0)
		c.get("k", v, fmt.Sprintf("a value of Options.MaxValueSize = %d bytes must come back whole", e.o.MaxValueSize))
		over := largeBytes(2 * e.o.MaxValueSize)
		over[0] ^= 0xff // not a prefix of v
		err := c.d.Set(e.ctx, "k", over, 0)
		got, found, gerr := c.d.Get(e.ctx, "k")
		switch {
		case gerr != nil || !found:
		case err == nil && !bytes.Equal(got, over):
			t.Errorf("%sGet(ctx, \"k\") = %s (%d bytes) after Set(ctx, \"k\", <%d bytes>, 0) = <nil>; want the value set: a value past Options.MaxValueSize (%d) is stored whole or rejected, never cut",
				c.name, qb(got), len(got), len(over), e.o.MaxValueSize)
		case err != nil && !bytes.Equal(got, v):
			t.Errorf("%sGet(ctx, \"k\") = %s (%d bytes) after Set(ctx, \"k\", <%d bytes>, 0) = %v; want the previous value or a miss: a rejected Set must not leave part of its value",
				c.name, qb(got), len(got), len(over), err)
		}
	}
	c.setS("k", "small", 0)
	c.getS("k", "small", "a small value must replace a large one entirely")
}

func l2HostileKeys(t *testing.T, e *l2Env) {
	c := e.driver(t, "")
	checkHostileKeys(t, keyStore{
		what:    "driver",
		setCall: func(k, v string) string { return fmt.Sprintf("Set(ctx, %s, %q, 0)", qk(k), v) },
		set:     func(k, v string) error { return c.d.Set(e.ctx, k, []byte(v), 0) },
		get: func(k string) (string, bool, string, error) {
			got, found, err := c.d.Get(e.ctx, k)
			return string(got), found, qb(got), err
		},
		del: func(k string) (bool, error) { return c.d.Delete(e.ctx, k) },
	})
}

func l2Concurrent(t *testing.T, e *l2Env) {
	c := e.driver(t, "")
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Go(func() {
			d := c.d
			if g%2 == 1 {
				d = d.Namespace("odd")
			}
			for i := range 25 {
				k := fmt.Sprintf("g%d-%d", g, i%5)
				v := fmt.Appendf(nil, "%d", i)
				if err := d.Set(e.ctx, k, v, longTTL); err != nil {
					t.Errorf("goroutine %d: Set(ctx, %q, %q, 1h) = %v; want <nil>", g, k, v, err)
					return
				}
				if got, found, err := d.Get(e.ctx, k); err != nil || !found || !bytes.Equal(got, v) {
					t.Errorf("goroutine %d: Get(ctx, %q) = %s, %t, %v right after Set(ctx, %q, %q, 1h); want %q, true, <nil>", g, k, qb(got), found, err, k, v, v)
					return
				}
				shared := d.Namespace("shared")
				if err := shared.Set(e.ctx, "k", v, 0); err != nil {
					t.Errorf("goroutine %d: Namespace(\"shared\").Set(ctx, \"k\", %q, 0) = %v; want <nil>", g, v, err)
					return
				}
				if _, _, err := shared.Get(e.ctx, "k"); err != nil {
					t.Errorf("goroutine %d: Namespace(\"shared\").Get(ctx, \"k\") = %v; want <nil>", g, err)
					return
				}
				if i%3 == 0 {
					if _, err := d.Delete(e.ctx, k); err != nil {
						t.Errorf("goroutine %d: Delete(ctx, %q) = %v; want <nil>", g, k, err)
						return
					}
				}
				if i%10 == 0 {
					if err := shared.Clear(e.ctx); err != nil {
						t.Errorf("goroutine %d: Namespace(\"shared\").Clear(ctx) = %v; want <nil>", g, err)
						return
					}
				}
			}
		})
	}
	wg.Wait()
}

func l2GetManyMissing(t *testing.T, e *l2Env) {
	c := e.driver(t, "")
	b := c.batch()
	c.setS("a", "1", 0)
	c.setS("b", "2", longTTL)
	keys := []string{"a", "missing", "b", "missing2", "a"}
	want := [][]byte{[]byte("1"), nil, []byte("2"), nil, []byte("1")}
	got, err := b.GetMany(e.ctx, keys)
	checkMany(t, c.name, keys, got, err, want)
}

func l2GetManyEmptyValue(t *testing.T, e *l2Env) {
	c := e.driver(t, "")
	b := c.batch()
	c.set("empty", []byte{}, 0)
	keys := []string{"empty", "missing"}
	got, err := b.GetMany(e.ctx, keys)
	checkMany(t, c.name, keys, got, err, [][]byte{{}, nil})
}

func l2GetManyNoKeys(t *testing.T, e *l2Env) {
	c := e.driver(t, "")
	b := c.batch()
	for _, keys := range [][]string{nil, {}} {
		if got, err := b.GetMany(e.ctx, keys); err != nil || len(got) != 0 {
			t.Errorf("GetMany(ctx, %#v) = %d slots, %v; want 0 slots, <nil>", keys, len(got), err)
		}
	}
}

func l2GetManyNamespace(t *testing.T, e *l2Env) {
	c := e.driver(t, "")
	c.batch()
	users := c.ns("users")
	ub, ok := users.d.(bento.L2BatchDriver)
	if !ok {
		t.Fatalf(`Namespace("users") = %T, which does not implement bento.L2BatchDriver; want a view with the capabilities of %T`, users.d, c.d)
	}
	c.setS("k", "root", 0)
	users.setS("j", "users", 0)
	keys := []string{"k", "j"}
	got, err := ub.GetMany(e.ctx, keys)
	checkMany(t, users.name, keys, got, err, [][]byte{nil, []byte("users")})
	if err := ub.SetMany(e.ctx, []bento.KeyValue{{Key: "m", Value: []byte("many")}}, 0); err != nil {
		t.Fatalf(`Namespace("users").SetMany(ctx, [{"m", "many"}], 0) = %v; want <nil>`, err)
	}
	c.getS("users:m", "many", `Namespace("users").SetMany must write under "users:"`)
	c.missing("m", `Namespace("users").SetMany must write under "users:"`)
}

// checkMany checks the result of GetMany(ctx, keys) against want.
func checkMany(t *testing.T, name string, keys []string, got [][]byte, err error, want [][]byte) {
	t.Helper()
	call := fmt.Sprintf("%sGetMany(ctx, %s)", name, qks(keys))
	if err != nil {
		t.Errorf("%s = %v; want <nil>", call, err)
		return
	}
	if len(got) != len(want) {
		t.Errorf("%s = %d slots; want %d: one slot per key, in order", call, len(got), len(want))
		return
	}
	for i := range want {
		switch {
		case want[i] == nil && got[i] != nil:
			t.Errorf("%s slot %d (%s) = %s; want nil: a missing key's slot is nil", call, i, qk(keys[i]), qb(got[i]))
		case want[i] != nil && got[i] == nil:
			t.Errorf("%s slot %d (%s) = nil; want %s: a stored value's slot is not nil, even when empty", call, i, qk(keys[i]), qb(want[i]))
		case !bytes.Equal(got[i], want[i]):
			t.Errorf("%s slot %d (%s) = %s; want %s", call, i, qk(keys[i]), qb(got[i]), qb(want[i]))
		}
	}
}

func l2SetManyRoundTrip(t *testing.T, e *l2Env) {
	c := e.driver(t, "")
	b := c.batch()
	c.setS("a", "old", 0)
	entries := []bento.KeyValue{{Key: "a", Value: []byte("1")}, {Key: "b", Value: allBytes()}, {Key: "c", Value: []byte{}}}
	if err := b.SetMany(e.ctx, entries, 0); err != nil {
		t.Fatalf(`SetMany(ctx, [{"a", "1"}, {"b", <256 bytes>}, {"c", ""}], 0) = %v; want <nil>`, err)
	}
	for _, kv := range entries {
		c.get(kv.Key, kv.Value, "after SetMany(ctx, …, 0), every entry holds its value")
	}
}

func l2SetManyTTL(t *testing.T, e *l2Env) {
	c := e.driver(t, "")
	b := c.batch()
	ttl := e.o.shortTTL()
	if err := b.SetMany(e.ctx, []bento.KeyValue{{Key: "forever", Value: []byte("v")}}, 0); err != nil {
		t.Fatalf(`SetMany(ctx, [{"forever", "v"}], 0) = %v; want <nil>`, err)
	}
	start := time.Now()
	if err := b.SetMany(e.ctx, []bento.KeyValue{{Key: "a", Value: []byte("1")}, {Key: "b", Value: []byte("2")}}, ttl); err != nil {
		t.Fatalf(`SetMany(ctx, [{"a", "1"}, {"b", "2"}], %v) = %v; want <nil>`, ttl, err)
	}
	setDone := time.Now()
	if _, found, err := c.d.Get(e.ctx, "b"); err == nil && !found && time.Since(start) < e.o.earlyLimit() {
		t.Errorf(`Get(ctx, "b") = nil, false, <nil> %v after SetMany(ctx, …, %v); want "2", true, <nil>: an entry lives for its TTL`, time.Since(start).Round(time.Millisecond), ttl)
	}
	for _, k := range []string{"a", "b"} {
		if !c.gone(k, setDone.Add(e.o.expiryWait())) {
			t.Errorf(`Get(ctx, %q) still found %v after SetMany(ctx, …, %v); want gone within %v of its TTL (Options.TTLGranularity = %v)`,
				k, time.Since(start).Round(time.Millisecond), ttl, e.o.expiryWait()-ttl, e.o.TTLGranularity)
		}
	}
	c.getS("forever", "v", "SetMany with ttl 0 never expires")
}

func l2SetManyEmpty(t *testing.T, e *l2Env) {
	c := e.driver(t, "")
	b := c.batch()
	for _, entries := range [][]bento.KeyValue{nil, {}} {
		if err := b.SetMany(e.ctx, entries, 0); err != nil {
			t.Errorf("SetMany(ctx, %#v, 0) = %v; want <nil>: an empty batch is fine", entries, err)
		}
	}
}

func l2Prune(t *testing.T, e *l2Env) {
	c := e.driver(t, "")
	p, ok := c.d.(bento.Pruner)
	if !ok {
		t.Skipf("%T does not implement bento.Pruner", c.d)
	}
	if err := p.Prune(e.ctx); err != nil {
		t.Errorf("Prune(ctx) on an empty store = %v; want <nil>", err)
	}
	ttl := e.o.shortTTL()
	c.setS("expired", "v", ttl)
	c.setS("probe", "v", ttl)
	setDone := time.Now()
	c.setS("long", "v", longTTL)
	c.setS("forever", "v", 0)
	// Wait on a probe, not on "expired": a driver that deletes lazily on
	// read would otherwise remove "expired" before Prune runs.
	if !c.gone("probe", setDone.Add(e.o.expiryWait())) {
		t.Fatalf(`Get(ctx, "probe") still found %v after Set(ctx, "probe", "v", %v); want gone (Options.TTLGranularity = %v)`, e.o.expiryWait(), ttl, e.o.TTLGranularity)
	}
	if err := p.Prune(e.ctx); err != nil {
		t.Fatalf("Prune(ctx) = %v; want <nil>", err)
	}
	c.missing("expired", "Prune(ctx) must leave expired entries gone")
	c.getS("long", "v", "Prune(ctx) must keep entries that have not expired")
	c.getS("forever", "v", "Prune(ctx) must keep entries that never expire")
}

func l2DisconnectTwice(t *testing.T, e *l2Env) {
	c := e.driver(t, "")
	c.setS("k", "v", 0)
	if err := c.d.Disconnect(); err != nil {
		t.Errorf("Disconnect() = %v; want <nil>", err)
	}
	if err := c.d.Disconnect(); err != nil {
		t.Errorf("second Disconnect() = %v; want <nil>: calling it twice is fine", err)
	}
}
