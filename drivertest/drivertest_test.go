package drivertest_test

import (
	"context"
	"errors"
	"fmt"
	"math"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bentocache/bento"
	"github.com/bentocache/bento/drivertest"
	"github.com/bentocache/bento/internal/keys"
	"github.com/bentocache/bento/internal/mapstore"
)

// A suite is only as good as the drivers it fails. TestSuites_CatchBrokenDrivers
// runs each suite, in a child process of this test binary, on a driver with
// one known fault, and reads the child's verbose output: the subtests that
// cover the fault must fail with a message naming the rule, the others must
// pass, and the child must neither crash nor hang.

// childEnv names, in a child process, the entry of children that TestChild
// runs.
const childEnv = "BENTO_DRIVERTEST_CHILD"

// children are the suite runs that TestChild can make, by name.
var children = map[string]func(t *testing.T){
	"l2-fake": func(t *testing.T) {
		drivertest.L2(t, openFakeL2(keys.Under, 0), drivertest.Options{})
	},
	"l2-fake-seconds": func(t *testing.T) {
		drivertest.L2(t, openFakeL2(keys.Under, time.Second), drivertest.Options{TTLGranularity: time.Second})
	},
	"l2-rounds-to-minutes": func(t *testing.T) {
		drivertest.L2(t, openFakeL2(keys.Under, time.Minute), drivertest.Options{})
	},
	"l2-clear-removes-siblings": func(t *testing.T) {
		drivertest.L2(t, openFakeL2(strings.HasPrefix, 0), drivertest.Options{})
	},
	"l2-ignores-ttl": func(t *testing.T) {
		drivertest.L2(t, wrapL2(func(d bento.L2Driver) bento.L2Driver { return ttlIgnoringL2{d.(*mapstore.L2)} }), drivertest.Options{})
	},
	"l2-limit-declared": func(t *testing.T) {
		drivertest.L2(t, wrapL2(func(d bento.L2Driver) bento.L2Driver { return limitedL2{d.(*mapstore.L2), false} }), drivertest.Options{MaxValueSize: valueLimit})
	},
	"l2-limit-undeclared": func(t *testing.T) {
		drivertest.L2(t, wrapL2(func(d bento.L2Driver) bento.L2Driver { return limitedL2{d.(*mapstore.L2), false} }), drivertest.Options{})
	},
	"l2-limit-truncates": func(t *testing.T) {
		drivertest.L2(t, wrapL2(func(d bento.L2Driver) bento.L2Driver { return limitedL2{d.(*mapstore.L2), true} }), drivertest.Options{MaxValueSize: valueLimit})
	},
	"l2-panics-on-nul": func(t *testing.T) {
		drivertest.L2(t, wrapL2(func(d bento.L2Driver) bento.L2Driver { return nulPanickingL2{d.(*mapstore.L2)} }), drivertest.Options{})
	},
	"l2-get-hangs": func(t *testing.T) {
		drivertest.L2(t, wrapL2(func(d bento.L2Driver) bento.L2Driver { return hangingL2{d.(*mapstore.L2)} }), drivertest.Options{Timeout: time.Second})
	},
	"l1-hides-nil": func(t *testing.T) {
		drivertest.L1(t, func(t *testing.T) bento.L1Driver { return nilHidingL1{openMemoryL1(t)} }, drivertest.Options{})
	},
	"bus-unsubscribe-noop": func(t *testing.T) {
		open := openMemoryBus()
		drivertest.Bus(t, func(t *testing.T) bento.Bus { return noUnsubscribeBus{open(t)} }, drivertest.Options{Timeout: 5 * time.Second})
	},
	"bus-drops-large": func(t *testing.T) {
		open := openMemoryBus()
		drivertest.Bus(t, func(t *testing.T) bento.Bus { return largeDroppingBus{open(t)} }, drivertest.Options{Timeout: 2 * time.Second})
	},
	"adapter-truncates-expiry": func(t *testing.T) {
		drivertest.Adapter(t, func(t *testing.T) bento.DatabaseAdapter { return truncatingAdapter{openMapstoreAdapter(t)} }, drivertest.Options{})
	},
	"adapter-seconds-declared": func(t *testing.T) {
		drivertest.Adapter(t, func(t *testing.T) bento.DatabaseAdapter { return truncatingAdapter{openMapstoreAdapter(t)} }, drivertest.Options{ExpiresAtPrecision: time.Second})
	},
	"adapter-counts-keys": func(t *testing.T) {
		drivertest.Adapter(t, func(t *testing.T) bento.DatabaseAdapter { return keyCountingAdapter{openMapstoreAdapter(t)} }, drivertest.Options{})
	},
}

// TestChild runs children[$BENTO_DRIVERTEST_CHILD]; it is skipped otherwise.
func TestChild(t *testing.T) {
	name := os.Getenv(childEnv)
	if name == "" {
		t.Skip("runs only in the child processes of TestSuites_CatchBrokenDrivers")
	}
	run, ok := children[name]
	if !ok {
		t.Fatalf("%s=%q names no child", childEnv, name)
	}
	run(t)
}

func TestSuites_CatchBrokenDrivers(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the suites in child processes")
	}
	tests := []struct {
		child string
		// pass is whether the child passes as a whole.
		pass bool
		// fail, ok and skip are subtests of TestChild that must fail,
		// pass and be skipped.
		fail, ok, skip []string
		// output holds fragments of the messages that the child must print.
		output []string
	}{
		{
			child: "l2-fake",
			pass:  true,
			ok:    []string{"Get/Missing", "Clear/KeepsSiblingPrefix", "Set/TTL", "Keys/Hostile", "InNamespace/Namespace/ReachableFromRoot"},
			skip:  []string{"GetMany/MissingSlotsNil", "SetMany/TTL", "Prune/RemovesExpiredOnly", "InNamespace/GetMany/NoKeys"},
			output: []string{
				"drivertest_test.fakeL2 does not implement bento.L2BatchDriver",
				"drivertest_test.fakeL2 does not implement bento.Pruner",
			},
		},
		{
			child: "l2-fake-seconds",
			pass:  true,
			ok:    []string{"Set/TTL", "Set/OverwriteTTL", "InNamespace/Set/TTL"},
		},
		{
			child: "l2-rounds-to-minutes",
			fail:  []string{"Set/TTL", "Set/OverwriteTTL", "InNamespace/Set/TTL"},
			ok:    []string{"Set/Get", "Clear/WithTTL"},
			output: []string{
				`Get(ctx, "short") still found`,
				"(Options.TTLGranularity = 0s)",
			},
		},
		{
			child: "l2-clear-removes-siblings",
			fail: []string{
				"Clear/KeepsSiblingPrefix", "Clear/WildcardsLiteral", "Namespace/ClearKeepsRoot",
				"Namespace/ChildClearKeepsParent", "InNamespace/Clear/KeepsSiblingPrefix",
			},
			ok: []string{"Get/Missing", "Set/Overwrite", "Namespace/Isolated", "Namespace/ReachableFromRoot", "Prefix/OtherUntouchedByClear"},
			output: []string{
				`Namespace("users").Clear(ctx) changed "usersAbc:k": Get(ctx, "usersAbc:k") = nil, false, <nil>; want "sibling", true, <nil>; Clear must remove only keys under "users:"`,
			},
		},
		{
			child: "l2-ignores-ttl",
			fail:  []string{"Set/TTL", "Set/OverwriteTTL", "SetMany/TTL", "InNamespace/SetMany/TTL"},
			ok:    []string{"Set/Get", "SetMany/RoundTrip", "Value/Large"},
			output: []string{
				`Get(ctx, "short") still found`,
				`Get(ctx, "a") still found`,
			},
		},
		{
			child: "l2-limit-declared",
			pass:  true,
			ok:    []string{"Value/Large", "InNamespace/Value/Large", "Set/Get"},
		},
		{
			child:  "l2-limit-undeclared",
			fail:   []string{"Value/Large", "InNamespace/Value/Large"},
			ok:     []string{"Set/Get", "Value/AllBytes"},
			output: []string{"value too large"},
		},
		{
			child:  "l2-limit-truncates",
			fail:   []string{"Value/Large", "InNamespace/Value/Large"},
			ok:     []string{"Set/Get", "Value/AllBytes"},
			output: []string{"a value past Options.MaxValueSize (1024) is stored whole or rejected, never cut"},
		},
		{
			child: "l2-panics-on-nul",
			fail:  []string{"Keys/Hostile", "InNamespace/Keys/Hostile"},
			ok:    []string{"Get/Missing", "Value/AllBytes"},
			output: []string{
				`Set(ctx, "k\x00", "value-24", 0) panicked: NUL in key; want <nil>, or an error if the driver cannot store this key`,
			},
		},
		{
			child:  "l2-get-hangs",
			fail:   []string{"Get/Missing", "InNamespace/Get/Missing"},
			ok:     []string{"Set/Get", "Clear/WithoutTTL"},
			output: []string{"TestChild/Get/Missing: still running after 1s (Options.Timeout)"},
		},
		{
			child:  "l1-hides-nil",
			fail:   []string{"Set/NilValue", "InNamespace/Set/NilValue"},
			ok:     []string{"Set/Get", "RemainingTTL/Forever", "Keys/Hostile"},
			output: []string{`Get("k") = <nil>, false; want <nil>, true; after Set("k", nil, 0): a nil value is a value`},
		},
		{
			child:  "bus-unsubscribe-noop",
			fail:   []string{"Unsubscribe/StopsDelivery"},
			ok:     []string{"Publish/ReachesEverySubscriber", "Order/PerPublisher", "Disconnect/StopsDelivery"},
			output: []string{`got 1 payloads, the first "after unsubscribe"; want none`},
		},
		{
			child:  "bus-drops-large",
			fail:   []string{"Payload/Large", "Order/PerPublisher"},
			ok:     []string{"Payload/Binary", "Payload/Empty", "Channel/Isolated"},
			output: []string{"got 1 of 2 payloads before the watchdog fired (Options.Timeout = 2s)", `payload 0 = "after"; want`, "still running after 2s"},
		},
		{
			child:  "adapter-truncates-expiry",
			fail:   []string{"Set/RoundTrip", "Set/ExpiresAtZone"},
			ok:     []string{"Get/Missing", "Clear/WildcardsLiteral", "Clear/All"},
			output: []string{"(ExpiresAt compared at Options.ExpiresAtPrecision = 0s)"},
		},
		{
			child: "adapter-seconds-declared",
			pass:  true,
			ok:    []string{"Set/RoundTrip", "Set/ExpiresAtZone", "Set/Upsert"},
		},
		{
			child:  "adapter-counts-keys",
			fail:   []string{"DeleteMany/Count", "DeleteMany/Duplicates"},
			ok:     []string{"DeleteMany/Empty", "Set/Upsert"},
			output: []string{`DeleteMany(ctx, []string{"a", "missing", "b"}) = 3, <nil>; want 2, <nil>: it reports how many rows existed`},
		},
	}
	for _, tt := range tests {
		t.Run(tt.child, func(t *testing.T) {
			t.Parallel()
			out, err := runChild(t, tt.child)
			var exit *exec.ExitError
			switch {
			case tt.pass && err != nil:
				t.Errorf("child %q: %v; want it to pass", tt.child, err)
			case !tt.pass && !errors.As(err, &exit):
				t.Errorf("child %q: exit error = %v; want a failing exit status", tt.child, err)
			}
			if strings.Contains(out, "panic:") {
				t.Errorf("child %q panicked; a suite must report a driver's panic as a failure", tt.child)
			}
			for _, want := range []struct {
				status string
				names  []string
			}{{"FAIL", tt.fail}, {"PASS", tt.ok}, {"SKIP", tt.skip}} {
				for _, n := range want.names {
					if line := fmt.Sprintf("--- %s: TestChild/%s (", want.status, n); !strings.Contains(out, line) {
						t.Errorf("child %q: output lacks %q", tt.child, line)
					}
				}
			}
			for _, frag := range tt.output {
				if !strings.Contains(out, frag) {
					t.Errorf("child %q: output lacks %q", tt.child, frag)
				}
			}
			if t.Failed() {
				t.Logf("child %q output:\n%s", tt.child, out)
			}
		})
	}
}

// runChild runs TestChild on children[name] in a child process and returns
// its output.
func runChild(t *testing.T, name string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^TestChild$", "-test.v", "-test.count=1", "-test.timeout=2m")
	cmd.Env = append(os.Environ(), childEnv+"="+name)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// openFakeL2 returns an open function whose drivers share one fakeStore, on
// prefixes of their own. under is how Clear matches keys; TTLs are rounded
// up to a multiple of round, if positive.
func openFakeL2(under func(key, base string) bool, round time.Duration) func(t *testing.T) bento.L2Driver {
	s := &fakeStore{m: make(map[string]fakeEntry), under: under, round: round}
	return func(t *testing.T) bento.L2Driver {
		return fakeL2{s: s, base: prefix()}
	}
}

// fakeL2 is a minimal L2 driver, without the optional capabilities.
type fakeL2 struct {
	s    *fakeStore
	base string
}

type fakeStore struct {
	mu    sync.Mutex
	m     map[string]fakeEntry
	under func(key, base string) bool
	round time.Duration
}

type fakeEntry struct {
	v   []byte
	exp time.Time
}

func (d fakeL2) Namespace(n string) bento.L2Driver {
	return fakeL2{s: d.s, base: keys.Join(d.base, n)}
}

func (d fakeL2) Get(ctx context.Context, key string) ([]byte, bool, error) {
	d.s.mu.Lock()
	defer d.s.mu.Unlock()
	e, ok := d.s.m[keys.Join(d.base, key)]
	if !ok || (!e.exp.IsZero() && !time.Now().Before(e.exp)) {
		return nil, false, nil
	}
	return append([]byte{}, e.v...), true, nil
}

func (d fakeL2) Pull(ctx context.Context, key string) ([]byte, bool, error) {
	v, ok, err := d.Get(ctx, key)
	if ok {
		d.Delete(ctx, key)
	}
	return v, ok, err
}

func (d fakeL2) Set(ctx context.Context, key string, value []byte, ttl time.Duration) error {
	e := fakeEntry{v: append([]byte{}, value...)}
	if ttl > 0 {
		if d.s.round > 0 {
			q := ttl / d.s.round // rounded up, saturating as a driver must
			if ttl%d.s.round != 0 {
				q++
			}
			ttl = math.MaxInt64
			if q <= math.MaxInt64/d.s.round {
				ttl = q * d.s.round
			}
		}
		e.exp = time.Now().Add(ttl)
	}
	d.s.mu.Lock()
	defer d.s.mu.Unlock()
	d.s.m[keys.Join(d.base, key)] = e
	return nil
}

func (d fakeL2) Has(ctx context.Context, key string) (bool, error) {
	_, ok, err := d.Get(ctx, key)
	return ok, err
}

func (d fakeL2) Clear(ctx context.Context) error {
	d.s.mu.Lock()
	defer d.s.mu.Unlock()
	for k := range d.s.m {
		if d.s.under(k, d.base) {
			delete(d.s.m, k)
		}
	}
	return nil
}

func (d fakeL2) Delete(ctx context.Context, key string) (bool, error) {
	_, ok, _ := d.Get(ctx, key)
	d.s.mu.Lock()
	defer d.s.mu.Unlock()
	delete(d.s.m, keys.Join(d.base, key))
	return ok, nil
}

func (d fakeL2) DeleteMany(ctx context.Context, ks []string) (bool, error) {
	deletedAny := false
	for _, k := range ks {
		ok, _ := d.Delete(ctx, k)
		deletedAny = deletedAny || ok
	}
	return deletedAny, nil
}

func (d fakeL2) Disconnect() error { return nil }

// wrapL2 returns an open function of mapstore drivers on one map, each
// wrapped by wrap.
func wrapL2(wrap func(bento.L2Driver) bento.L2Driver) func(t *testing.T) bento.L2Driver {
	open := openMapstoreL2()
	return func(t *testing.T) bento.L2Driver { return wrap(open(t)) }
}

// ttlIgnoringL2 stores every entry forever.
type ttlIgnoringL2 struct{ *mapstore.L2 }

func (d ttlIgnoringL2) Namespace(n string) bento.L2Driver {
	return ttlIgnoringL2{d.L2.Namespace(n).(*mapstore.L2)}
}

func (d ttlIgnoringL2) Set(ctx context.Context, key string, value []byte, _ time.Duration) error {
	return d.L2.Set(ctx, key, value, 0)
}

func (d ttlIgnoringL2) SetMany(ctx context.Context, entries []bento.KeyValue, _ time.Duration) error {
	return d.L2.SetMany(ctx, entries, 0)
}

// valueLimit is the largest value that limitedL2 stores.
const valueLimit = 1 << 10

// limitedL2 rejects values past valueLimit, or with truncate keeps their
// first valueLimit bytes without a word.
type limitedL2 struct {
	*mapstore.L2
	truncate bool
}

func (d limitedL2) Namespace(n string) bento.L2Driver {
	return limitedL2{d.L2.Namespace(n).(*mapstore.L2), d.truncate}
}

func (d limitedL2) Set(ctx context.Context, key string, value []byte, ttl time.Duration) error {
	if len(value) > valueLimit {
		if !d.truncate {
			return fmt.Errorf("value too large: %d bytes, at most %d", len(value), valueLimit)
		}
		value = value[:valueLimit]
	}
	return d.L2.Set(ctx, key, value, ttl)
}

// nulPanickingL2 panics on a key with a NUL byte.
type nulPanickingL2 struct{ *mapstore.L2 }

func (d nulPanickingL2) Namespace(n string) bento.L2Driver {
	return nulPanickingL2{d.L2.Namespace(n).(*mapstore.L2)}
}

func (d nulPanickingL2) Set(ctx context.Context, key string, value []byte, ttl time.Duration) error {
	if strings.Contains(key, "\x00") {
		panic("NUL in key")
	}
	return d.L2.Set(ctx, key, value, ttl)
}

// hangingL2 never answers a Get of "missing" before its context is done.
type hangingL2 struct{ *mapstore.L2 }

func (d hangingL2) Namespace(n string) bento.L2Driver {
	return hangingL2{d.L2.Namespace(n).(*mapstore.L2)}
}

func (d hangingL2) Get(ctx context.Context, key string) ([]byte, bool, error) {
	if key == "missing" {
		<-ctx.Done()
		return nil, false, ctx.Err()
	}
	return d.L2.Get(ctx, key)
}

// nilHidingL1 reports a nil value as missing.
type nilHidingL1 struct{ bento.L1Driver }

func (d nilHidingL1) Namespace(n string) bento.L1Driver {
	return nilHidingL1{d.L1Driver.Namespace(n)}
}

func (d nilHidingL1) Get(key string) (any, bool) {
	v, ok := d.L1Driver.Get(key)
	return v, ok && v != nil
}

// noUnsubscribeBus ignores Unsubscribe.
type noUnsubscribeBus struct{ bento.Bus }

func (noUnsubscribeBus) Unsubscribe(context.Context, string) error { return nil }

// largeDroppingBus silently drops payloads too large for a PostgreSQL NOTIFY.
type largeDroppingBus struct{ bento.Bus }

func (b largeDroppingBus) Publish(ctx context.Context, channel string, payload []byte) error {
	if len(payload) > 8000 {
		return nil
	}
	return b.Bus.Publish(ctx, channel, payload)
}

// truncatingAdapter stores expiry times in whole seconds.
type truncatingAdapter struct{ bento.DatabaseAdapter }

func (a truncatingAdapter) Set(ctx context.Context, row bento.Row) error {
	row.ExpiresAt = row.ExpiresAt.Truncate(time.Second)
	return a.DatabaseAdapter.Set(ctx, row)
}

// keyCountingAdapter reports the number of keys given to DeleteMany, not the
// number of rows deleted.
type keyCountingAdapter struct{ bento.DatabaseAdapter }

func (a keyCountingAdapter) DeleteMany(ctx context.Context, ks []string) (int64, error) {
	_, err := a.DatabaseAdapter.DeleteMany(ctx, ks)
	return int64(len(ks)), err
}
