package memory

import (
	"crypto/rand"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/bentocache/bento"
	"github.com/bentocache/bento/drivertest"
)

// sized is a value weighed by its Size method, as bento's encoded entries are.
type sized int

func (s sized) Size() int { return int(s) }

// newDriver returns a driver on o that is disconnected when the test ends.
func newDriver(t *testing.T, o Options) *Driver {
	t.Helper()
	dr := New(o)
	if err := dr.Validate(); err != nil {
		t.Fatalf("New(%+v).Validate() = %v; want nil", o, err)
	}
	t.Cleanup(func() { _ = dr.Disconnect() })
	return dr
}

// settle runs the maintenance that otter would otherwise run asynchronously,
// so that bounds are enforced when it returns.
func settle(dr *Driver) {
	// One pass replays a full write buffer at most; the second finishes.
	dr.s.cache.CleanUp()
	dr.s.cache.CleanUp()
}

// contents returns the live entries of the whole cache behind dr, by full key.
func contents(dr *Driver) map[string]any {
	m := make(map[string]any)
	for k, e := range dr.s.cache.All() {
		m[k] = e.value
	}
	return m
}

func TestDriver_Compliance(t *testing.T) {
	// Each driver on its own cache, as New makes them.
	t.Run("Prefix", func(t *testing.T) {
		drivertest.L1(t, func(t *testing.T) bento.L1Driver {
			return newDriver(t, Options{Prefix: randomPrefix()})
		}, drivertest.Options{})
	})
	// The drivers of a subtest on one cache, as one server holds the keys
	// of several L2 drivers: views of an unprefixed root, which address the
	// same keys as a driver with that prefix.
	t.Run("SharedCache", func(t *testing.T) {
		var mu sync.Mutex
		roots := make(map[*testing.T]*Driver)
		drivertest.L1(t, func(t *testing.T) bento.L1Driver {
			mu.Lock()
			defer mu.Unlock()
			root, ok := roots[t]
			if !ok {
				root = newDriver(t, Options{})
				roots[t] = root
				t.Cleanup(func() {
					mu.Lock()
					delete(roots, t)
					mu.Unlock()
				})
			}
			return root.Namespace(randomPrefix())
		}, drivertest.Options{})
	})
	// With every bound set, far above what the suite stores.
	t.Run("Bounded", func(t *testing.T) {
		drivertest.L1(t, func(t *testing.T) bento.L1Driver {
			return newDriver(t, Options{MaxItems: 100_000, MaxSize: 64 << 20, MaxEntrySize: 1 << 20, Prefix: randomPrefix()})
		}, drivertest.Options{})
	})
}

// randomPrefix returns a fresh prefix.
func randomPrefix() string {
	return "t" + strings.ToLower(rand.Text()[:12])
}

func TestDriver_Validate(t *testing.T) {
	tests := []struct {
		name string
		o    Options
		want string // "" for no error
	}{
		{"Zero", Options{}, ""},
		{"AllSet", Options{MaxItems: 10, MaxSize: 1 << 20, MaxEntrySize: 1 << 10, Prefix: "app"}, ""},
		{"MaxItemsNegative", Options{MaxItems: -1}, "memory: max_items must not be negative, got -1"},
		{"MaxSizeNegative", Options{MaxSize: -5}, "memory: max_size must not be negative, got -5"},
		{"MaxEntrySizeNegative", Options{MaxEntrySize: -7}, "memory: max_entry_size must not be negative, got -7"},
		{
			"AllNegative", Options{MaxItems: -1, MaxSize: -2, MaxEntrySize: -3},
			"memory: max_items must not be negative, got -1\n" +
				"memory: max_size must not be negative, got -2\n" +
				"memory: max_entry_size must not be negative, got -3",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dr := New(tt.o) // never fails, even on invalid options
			t.Cleanup(func() { _ = dr.Disconnect() })
			got := ""
			if err := dr.Validate(); err != nil {
				got = err.Error()
			}
			if got != tt.want {
				t.Errorf("New(%+v).Validate() = %q; want %q", tt.o, got, tt.want)
			}
			// Until validated, invalid options build a working driver.
			dr.Set("k", "v", 0)
			if v, ok := dr.Get("k"); !ok || v != "v" {
				t.Errorf("Get(%q) = %v, %v; want %q, true", "k", v, ok, "v")
			}
		})
	}
}

func TestDriver_WeighsValues(t *testing.T) {
	tests := []struct {
		name string
		o    Options
		want bool
	}{
		{"Unbounded", Options{}, false},
		{"MaxItems", Options{MaxItems: 10}, false},
		{"MaxSize", Options{MaxSize: 100}, true},
		{"MaxEntrySize", Options{MaxEntrySize: 10}, true},
		{"All", Options{MaxItems: 10, MaxSize: 100, MaxEntrySize: 10}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dr := newDriver(t, tt.o)
			if got := dr.WeighsValues(); got != tt.want {
				t.Errorf("New(%+v).WeighsValues() = %v; want %v", tt.o, got, tt.want)
			}
			if got := dr.Namespace("ns").(*Driver).WeighsValues(); got != tt.want {
				t.Errorf("New(%+v).Namespace(%q).WeighsValues() = %v; want %v", tt.o, "ns", got, tt.want)
			}
		})
	}
}

func TestDriver_GetSet(t *testing.T) {
	for _, prefix := range []string{"", "app"} {
		t.Run("prefix="+prefix, func(t *testing.T) {
			dr := newDriver(t, Options{Prefix: prefix})
			if v, ok := dr.Get("k"); ok {
				t.Errorf("Get(%q) = %v, true on an empty cache; want nil, false", "k", v)
			}
			dr.Set("k", "v1", 0)
			if v, ok := dr.Get("k"); !ok || v != "v1" {
				t.Errorf("Get(%q) = %v, %v; want %q, true", "k", v, ok, "v1")
			}
			dr.Set("k", "v2", time.Hour)
			if v, ok := dr.Get("k"); !ok || v != "v2" {
				t.Errorf("Get(%q) after overwrite = %v, %v; want %q, true", "k", v, ok, "v2")
			}
			want := map[string]any{keyOf(prefix, "k"): "v2"}
			if got := contents(dr); fmt.Sprint(got) != fmt.Sprint(want) {
				t.Errorf("cache holds %v; want %v", got, want)
			}
		})
	}
}

// keyOf is the expected full key of key under prefix.
func keyOf(prefix, key string) string {
	if prefix == "" {
		return key
	}
	return prefix + ":" + key
}

func TestDriver_LongKey(t *testing.T) {
	// Full keys longer than the lookup buffer take the allocating path.
	for _, n := range []int{lookupKeySize - 4, lookupKeySize - 3, lookupKeySize - 2, 2 * lookupKeySize} {
		key := strings.Repeat("k", n)
		dr := newDriver(t, Options{Prefix: "app"}) // full key: n+4 bytes
		dr.Set(key, n, 0)
		if v, ok := dr.Get(key); !ok || v != n {
			t.Errorf("Get(<%d bytes>) = %v, %v; want %d, true", n, v, ok, n)
		}
		if !dr.Has(key) {
			t.Errorf("Has(<%d bytes>) = false; want true", n)
		}
		if _, ok := dr.Get(key[1:]); ok {
			t.Errorf("Get(<%d bytes>) = _, true; want false", n-1)
		}
	}
}

func TestDriver_Has(t *testing.T) {
	dr := newDriver(t, Options{Prefix: "app"})
	if dr.Has("k") {
		t.Errorf("Has(%q) = true on an empty cache; want false", "k")
	}
	dr.Set("k", nil, 0) // a nil value is a value
	if !dr.Has("k") {
		t.Errorf("Has(%q) = false after Set; want true", "k")
	}
	if v, ok := dr.Get("k"); !ok || v != nil {
		t.Errorf("Get(%q) = %v, %v; want <nil>, true", "k", v, ok)
	}
}

func TestDriver_Pull(t *testing.T) {
	dr := newDriver(t, Options{Prefix: "app"})
	dr.Set("k", "v", time.Hour)
	if v, ok := dr.Pull("k"); !ok || v != "v" {
		t.Errorf("Pull(%q) = %v, %v; want %q, true", "k", v, ok, "v")
	}
	if v, ok := dr.Get("k"); ok {
		t.Errorf("Get(%q) after Pull = %v, true; want nil, false", "k", v)
	}
	if v, ok := dr.Pull("k"); ok {
		t.Errorf("Pull(%q) of a missing key = %v, true; want nil, false", "k", v)
	}
}

func TestDriver_Delete(t *testing.T) {
	dr := newDriver(t, Options{Prefix: "app"})
	dr.Set("k", "v", 0)
	dr.Set("other", "v", 0)
	if !dr.Delete("k") {
		t.Errorf("Delete(%q) = false; want true", "k")
	}
	if dr.Has("k") {
		t.Errorf("Has(%q) after Delete = true; want false", "k")
	}
	if dr.Delete("k") {
		t.Errorf("Delete(%q) of a missing key = true; want false", "k")
	}
	if !dr.Has("other") {
		t.Errorf("Has(%q) after Delete(%q) = false; want true", "other", "k")
	}
}

func TestDriver_DeleteMany(t *testing.T) {
	tests := []struct {
		name string
		keys []string
		want bool
		left []string // keys of a, b, c still present
	}{
		{"Nil", nil, false, []string{"a", "b", "c"}},
		{"Empty", []string{}, false, []string{"a", "b", "c"}},
		{"Missing", []string{"x", "y"}, false, []string{"a", "b", "c"}},
		{"Some", []string{"a", "x", "c"}, true, []string{"b"}},
		{"All", []string{"a", "b", "c"}, true, nil},
		{"Duplicates", []string{"a", "a"}, true, []string{"b", "c"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dr := newDriver(t, Options{Prefix: "app"})
			for _, k := range []string{"a", "b", "c"} {
				dr.Set(k, k, 0)
			}
			if got := dr.DeleteMany(tt.keys); got != tt.want {
				t.Errorf("DeleteMany(%q) = %v; want %v", tt.keys, got, tt.want)
			}
			var left []string
			for _, k := range []string{"a", "b", "c"} {
				if dr.Has(k) {
					left = append(left, k)
				}
			}
			if fmt.Sprint(left) != fmt.Sprint(tt.left) {
				t.Errorf("after DeleteMany(%q), keys %q remain; want %q", tt.keys, left, tt.left)
			}
		})
	}
}

func TestDriver_Clear(t *testing.T) {
	tests := []struct {
		name   string
		prefix string
	}{
		{"NoPrefix", ""},
		{"Prefix", "app"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dr := newDriver(t, Options{Prefix: tt.prefix})
			dr.Set("forever", 1, 0)
			dr.Set("ttl", 2, time.Hour)
			dr.Namespace("ns").Set("k", 3, time.Hour)
			dr.Clear()
			if got := contents(dr); len(got) != 0 {
				t.Errorf("Clear() left %v; want nothing", got)
			}
			dr.Set("k", 4, 0)
			if v, ok := dr.Get("k"); !ok || v != 4 {
				t.Errorf("Get(%q) after Clear and Set = %v, %v; want 4, true", "k", v, ok)
			}
		})
	}
}

func TestDriver_Namespace(t *testing.T) {
	for _, prefix := range []string{"", "app"} {
		t.Run("prefix="+prefix, func(t *testing.T) {
			t.Run("Isolated", func(t *testing.T) {
				dr := newDriver(t, Options{Prefix: prefix})
				users := dr.Namespace("users")
				users.Set("k", "in users", 0)
				if v, ok := dr.Get("k"); ok {
					t.Errorf("root Get(%q) = %v, true after Namespace(%q).Set; want nil, false", "k", v, "users")
				}
				dr.Set("k", "in root", 0)
				if v, ok := users.Get("k"); !ok || v != "in users" {
					t.Errorf("Namespace(%q).Get(%q) = %v, %v; want %q, true", "users", "k", v, ok, "in users")
				}
				if v, ok := dr.Get("k"); !ok || v != "in root" {
					t.Errorf("root Get(%q) = %v, %v; want %q, true", "k", v, ok, "in root")
				}
				if v, ok := dr.Namespace("posts").Get("k"); ok {
					t.Errorf("Namespace(%q).Get(%q) = %v, true; want nil, false", "posts", "k", v)
				}
			})
			t.Run("ReachableFromRoot", func(t *testing.T) {
				dr := newDriver(t, Options{Prefix: prefix})
				users := dr.Namespace("users")
				users.Set("key1", 1, 0)
				users.Namespace("posts").Set("key1", 2, 0)
				if v, ok := dr.Get("users:key1"); !ok || v != 1 {
					t.Errorf("root Get(%q) = %v, %v; want 1, true", "users:key1", v, ok)
				}
				if v, ok := dr.Get("users:posts:key1"); !ok || v != 2 {
					t.Errorf("root Get(%q) = %v, %v; want 2, true", "users:posts:key1", v, ok)
				}
				if v, ok := users.Get("posts:key1"); !ok || v != 2 {
					t.Errorf("Namespace(%q).Get(%q) = %v, %v; want 2, true", "users", "posts:key1", v, ok)
				}
				if v, ok := dr.Namespace("users:posts").Get("key1"); !ok || v != 2 {
					t.Errorf("Namespace(%q).Get(%q) = %v, %v; want 2, true", "users:posts", "key1", v, ok)
				}
				// And the other way round.
				dr.Set("users:key2", 3, 0)
				if v, ok := users.Get("key2"); !ok || v != 3 {
					t.Errorf("Namespace(%q).Get(%q) = %v, %v after root Set(%q); want 3, true", "users", "key2", v, ok, "users:key2")
				}
				if _, ok := contents(dr)[keyOf(prefix, "users:posts:key1")]; !ok {
					t.Errorf("cache holds %v; want key %q", contents(dr), keyOf(prefix, "users:posts:key1"))
				}
			})
			t.Run("ClearKeepsRootAndSiblings", func(t *testing.T) {
				dr := newDriver(t, Options{Prefix: prefix})
				users := dr.Namespace("users")
				users.Set("k", 1, 0)
				users.Namespace("posts").Set("k", 2, time.Hour)
				dr.Set("k", 3, 0)
				dr.Set("users", 4, 0) // the namespace's own name, as a root key
				dr.Namespace("usersAbc").Set("k", 5, 0)
				dr.Set("usersAbc", 6, 0)
				users.Clear()
				want := map[string]any{
					keyOf(prefix, "k"):          3,
					keyOf(prefix, "users"):      4,
					keyOf(prefix, "usersAbc:k"): 5,
					keyOf(prefix, "usersAbc"):   6,
				}
				if got := contents(dr); fmt.Sprint(got) != fmt.Sprint(want) {
					t.Errorf("after Namespace(%q).Clear() the cache holds %v; want %v", "users", got, want)
				}
			})
			t.Run("ClearNested", func(t *testing.T) {
				dr := newDriver(t, Options{Prefix: prefix})
				users := dr.Namespace("users")
				posts := users.Namespace("posts")
				users.Set("k", 1, 0)
				posts.Set("k", 2, 0)
				posts.Clear()
				if v, ok := users.Get("k"); !ok || v != 1 {
					t.Errorf("Namespace(%q).Get(%q) after clearing %q = %v, %v; want 1, true", "users", "k", "users:posts", v, ok)
				}
				if v, ok := posts.Get("k"); ok {
					t.Errorf("Namespace(%q).Get(%q) after its Clear = %v, true; want nil, false", "users:posts", "k", v)
				}
			})
			t.Run("RootClearClearsNamespaces", func(t *testing.T) {
				dr := newDriver(t, Options{Prefix: prefix})
				users := dr.Namespace("users")
				users.Set("k", 1, 0)
				users.Namespace("posts").Set("k", 2, 0)
				dr.Set("k", 3, 0)
				dr.Clear()
				if got := contents(dr); len(got) != 0 {
					t.Errorf("root Clear() left %v; want nothing", got)
				}
			})
		})
	}
	t.Run("OtherPrefixUntouched", func(t *testing.T) {
		// Drivers of one cache with different prefixes, as Namespace makes them.
		dr := newDriver(t, Options{})
		app, other := dr.Namespace("app"), dr.Namespace("other")
		app.Set("k", 1, 0)
		other.Set("k", 2, 0)
		app.Clear()
		if v, ok := other.Get("k"); !ok || v != 2 {
			t.Errorf("Get(%q) on prefix %q after Clear() on prefix %q = %v, %v; want 2, true", "k", "other", "app", v, ok)
		}
	})
}

// preciseClock reads the precise time, for tests of exact TTL boundaries (the
// default clock is coarse: see TestDriver_TTLDefaultClock).
type preciseClock struct{}

func (preciseClock) NowNano() int64                        { return time.Now().UnixNano() }
func (preciseClock) Tick(d time.Duration) <-chan time.Time { return time.Tick(d) }

func TestDriver_TTLDefaultClock(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		dr := New(Options{})
		defer dr.Disconnect()
		dr.Set("k", 1, 100*time.Millisecond)
		time.Sleep(99 * time.Millisecond)
		if !dr.Has("k") {
			t.Error("Has(k) 1ms before its 100ms ttl = false; want true")
		}
		time.Sleep(2 * time.Millisecond) // one resolution (1ms) past the ttl
		if dr.Has("k") {
			t.Error("Has(k) 1ms past its ttl = true; want false: the default clock lags by at most 1ms")
		}
	})
}

func TestDriver_TTL(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		dr := newDriver(t, Options{Prefix: "app", Clock: preciseClock{}})
		dr.Set("short", 1, 100*time.Millisecond)
		dr.Set("forever", 2, 0)
		dr.Set("negative", 3, -time.Second)
		// Updates must replace the deadline, whichever way.
		dr.Set("ttlToForever", 4, 100*time.Millisecond)
		dr.Set("ttlToForever", 4, 0)
		dr.Set("foreverToTTL", 5, 0)
		dr.Set("foreverToTTL", 5, 100*time.Millisecond)
		dr.Set("longToShort", 6, time.Hour)
		dr.Set("longToShort", 6, 100*time.Millisecond)
		dr.Set("shortToLong", 7, 100*time.Millisecond)
		dr.Set("shortToLong", 7, time.Hour)

		time.Sleep(100*time.Millisecond - 1)
		for _, k := range []string{"short", "forever", "negative", "ttlToForever", "foreverToTTL", "longToShort", "shortToLong"} {
			if !dr.Has(k) {
				t.Errorf("Has(%q) 1ns before the ttl = false; want true", k)
			}
		}

		time.Sleep(1)
		for _, k := range []string{"short", "foreverToTTL", "longToShort"} {
			if v, ok := dr.Get(k); ok {
				t.Errorf("Get(%q) at the ttl = %v, true; want nil, false", k, v)
			}
			if dr.Has(k) {
				t.Errorf("Has(%q) at the ttl = true; want false", k)
			}
			if v, ok := dr.Pull(k); ok {
				t.Errorf("Pull(%q) at the ttl = %v, true; want nil, false", k, v)
			}
			if dr.Delete(k) {
				t.Errorf("Delete(%q) at the ttl = true; want false", k)
			}
		}

		time.Sleep(2 * time.Hour)
		for _, k := range []string{"forever", "negative", "ttlToForever"} {
			if !dr.Has(k) {
				t.Errorf("Has(%q) 2h later = false; want true", k)
			}
		}
		if dr.Has("shortToLong") {
			t.Errorf("Has(%q) 2h later = true; want false", "shortToLong")
		}
		// The periodic clean-up has removed the expired entries by now.
		if n := dr.s.cache.EstimatedSize(); n != 3 {
			t.Errorf("EstimatedSize() 2h later = %d; want 3", n)
		}
	})
}

func TestDriver_RemainingTTL(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		dr := newDriver(t, Options{Prefix: "app", Clock: preciseClock{}})
		ns := dr.Namespace("ns")
		dr.Set("ttl", 1, 10*time.Second)
		dr.Set("forever", 2, 0)
		dr.Set("negative", 3, -1)
		ns.Set("ttl", 4, 20*time.Second)
		time.Sleep(3 * time.Second)

		tests := []struct {
			name  string
			dr    bento.L1Driver
			key   string
			ttl   time.Duration
			found bool
		}{
			{"TTL", dr, "ttl", 7 * time.Second, true},
			{"Forever", dr, "forever", 0, true},
			{"NegativeTTL", dr, "negative", 0, true},
			{"Missing", dr, "missing", 0, false},
			{"Namespace", ns, "ttl", 17 * time.Second, true},
			{"NamespaceFromRoot", dr, "ns:ttl", 17 * time.Second, true},
		}
		for _, tt := range tests {
			if ttl, found := tt.dr.RemainingTTL(tt.key); ttl != tt.ttl || found != tt.found {
				t.Errorf("%s: RemainingTTL(%q) = %v, %v; want %v, %v", tt.name, tt.key, ttl, found, tt.ttl, tt.found)
			}
		}

		time.Sleep(7 * time.Second)
		if ttl, found := dr.RemainingTTL("ttl"); ttl != 0 || found {
			t.Errorf("RemainingTTL(%q) at the ttl = %v, %v; want 0s, false", "ttl", ttl, found)
		}
	})
}

// fakeClock is an otter.Clock that moves only when told to, and never ticks.
type fakeClock struct{ now atomic.Int64 }

func (c *fakeClock) NowNano() int64                      { return c.now.Load() }
func (c *fakeClock) Tick(time.Duration) <-chan time.Time { return nil }
func (c *fakeClock) advance(d time.Duration)             { c.now.Add(int64(d)) }

func TestDriver_Clock(t *testing.T) {
	clock := &fakeClock{}
	clock.now.Store(time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC).UnixNano())
	dr := newDriver(t, Options{Clock: clock})
	dr.Set("k", 1, time.Minute)
	clock.advance(45 * time.Second)
	if ttl, ok := dr.RemainingTTL("k"); ttl != 15*time.Second || !ok {
		t.Errorf("RemainingTTL(%q) = %v, %v; want 15s, true", "k", ttl, ok)
	}
	clock.advance(15 * time.Second)
	if v, ok := dr.Get("k"); ok {
		t.Errorf("Get(%q) at the ttl = %v, true; want nil, false", "k", v)
	}
}

func TestDriver_MaxItems(t *testing.T) {
	const maxItems = 100
	dr := newDriver(t, Options{MaxItems: maxItems, Prefix: "app"})
	for i := range 10 * maxItems {
		dr.Set(strconv.Itoa(i), i, 0)
	}
	settle(dr)
	if n := len(contents(dr)); n > maxItems || n == 0 {
		t.Errorf("after %d writes with MaxItems %d, the cache holds %d entries; want 1 to %d", 10*maxItems, maxItems, n, maxItems)
	}
}

func TestDriver_MaxSize(t *testing.T) {
	const maxSize = 10_000
	dr := newDriver(t, Options{MaxSize: maxSize, Prefix: "app"})
	for i := range 2000 {
		dr.Set(strconv.Itoa(i), sized(1+i*37%400), 0)
	}
	settle(dr)
	checkBounds(t, dr, Options{MaxSize: maxSize})

	t.Run("ValuesWithoutSize", func(t *testing.T) {
		// They weigh one byte each: the bound still holds.
		dr := newDriver(t, Options{MaxSize: 10})
		for i := range 100 {
			dr.Set(strconv.Itoa(i), strings.Repeat("x", 1000), 0)
		}
		settle(dr)
		if n := len(contents(dr)); n > 10 || n == 0 {
			t.Errorf("after 100 writes of values without Size and MaxSize 10, the cache holds %d entries; want 1 to 10", n)
		}
	})
	t.Run("SizeBelowOne", func(t *testing.T) {
		// They weigh one byte: never zero, which otter would not evict.
		dr := newDriver(t, Options{MaxSize: 10})
		for i := range 100 {
			dr.Set(strconv.Itoa(i), sized(-i), 0)
		}
		settle(dr)
		if n := len(contents(dr)); n > 10 || n == 0 {
			t.Errorf("after 100 writes of Size() <= 0 and MaxSize 10, the cache holds %d entries; want 1 to 10", n)
		}
	})
	t.Run("LargerThanMaxSize", func(t *testing.T) {
		dr := newDriver(t, Options{MaxSize: 100})
		dr.Set("k", sized(50), 0)
		dr.Set("k", sized(101), 0)
		if v, ok := dr.Get("k"); ok {
			t.Errorf("Get(%q) after Set of an entry larger than MaxSize = %v, true; want nil, false", "k", v)
		}
		dr.Set("k", sized(100), 0)
		if v, ok := dr.Get("k"); !ok || v != sized(100) {
			t.Errorf("Get(%q) after Set of an entry of MaxSize = %v, %v; want 100, true", "k", v, ok)
		}
	})
	t.Run("AboveMaxUint32", func(t *testing.T) {
		if strconv.IntSize < 64 {
			t.Skip("Size() int cannot report 1 TiB")
		}
		// Weights are uint32: the driver counts in units of several bytes.
		const tib = int64(1) << 40
		dr := newDriver(t, Options{MaxSize: tib, MaxItems: 3})
		dr.Set("whole", sized(int(tib)), 0) // rounds past the bound: clamped
		if !dr.Has("whole") {
			t.Errorf("Has(%q) after Set of an entry of MaxSize = false; want true", "whole")
		}
		dr.Set("over", sized(int(tib+1)), 0)
		if dr.Has("over") {
			t.Errorf("Has(%q) after Set of an entry above MaxSize = true; want false", "over")
		}
		for i := range 20 {
			dr.Set(strconv.Itoa(i), sized(1), 0)
		}
		settle(dr)
		checkBounds(t, dr, Options{MaxSize: tib, MaxItems: 3})
	})
}

func TestDriver_MaxEntrySize(t *testing.T) {
	dr := newDriver(t, Options{MaxEntrySize: 100, Prefix: "app"})
	dr.Set("k", sized(100), 0)
	if v, ok := dr.Get("k"); !ok || v != sized(100) {
		t.Errorf("Get(%q) after Set of an entry of MaxEntrySize = %v, %v; want 100, true", "k", v, ok)
	}
	dr.Set("k", sized(101), 0)
	if v, ok := dr.Get("k"); ok {
		t.Errorf("Get(%q) after Set of an entry larger than MaxEntrySize = %v, true; want nil, false (no stale value)", "k", v)
	}
	dr.Set("new", sized(1000), 0)
	if dr.Has("new") {
		t.Errorf("Has(%q) after Set of an entry larger than MaxEntrySize = true; want false", "new")
	}
	dr.Set("plain", strings.Repeat("x", 1000), 0) // no Size: one byte
	if !dr.Has("plain") {
		t.Errorf("Has(%q) after Set of a value without Size = false; want true", "plain")
	}
}

// checkBounds fails t if the cache behind dr exceeds a bound of o.
func checkBounds(t *testing.T, dr *Driver, o Options) {
	t.Helper()
	var n int
	var total int64
	for k, e := range dr.s.cache.All() {
		n++
		size := int64(1)
		if s, ok := e.value.(sizer); ok {
			size = max(int64(s.Size()), 1)
		}
		total += size
		if o.MaxEntrySize > 0 && size > o.MaxEntrySize {
			t.Errorf("the cache holds %q of size %d; want none above MaxEntrySize %d", k, size, o.MaxEntrySize)
		}
	}
	if n == 0 {
		t.Errorf("the cache is empty; want some entries")
	}
	if o.MaxItems > 0 && n > o.MaxItems {
		t.Errorf("the cache holds %d entries; want at most MaxItems %d", n, o.MaxItems)
	}
	if o.MaxSize > 0 && total > o.MaxSize {
		t.Errorf("the cache holds %d bytes; want at most MaxSize %d", total, o.MaxSize)
	}
}

func TestDriver_Bounds(t *testing.T) {
	// Every combination of the three bounds, on entries of 1 to 400 bytes.
	const (
		maxItems     = 50
		maxSize      = 8000
		maxEntrySize = 300
	)
	for mask := range 8 {
		var o Options
		var name []string
		if mask&1 != 0 {
			o.MaxItems = maxItems
			name = append(name, "items")
		}
		if mask&2 != 0 {
			o.MaxSize = maxSize
			name = append(name, "size")
		}
		if mask&4 != 0 {
			o.MaxEntrySize = maxEntrySize
			name = append(name, "entry")
		}
		if len(name) == 0 {
			name = append(name, "none")
		}
		t.Run("bounds="+strings.Join(name, "+"), func(t *testing.T) {
			dr := newDriver(t, o)
			for i := range 3000 {
				dr.Set(strconv.Itoa(i), sized(1+i*37%400), 0)
			}
			settle(dr)
			checkBounds(t, dr, o)
			if o.MaxItems > 0 && o.MaxSize > 0 {
				// Small entries: MaxItems binds, and is reachable.
				dr.Clear()
				for i := range 10 * maxItems {
					dr.Set(strconv.Itoa(i), sized(1), 0)
					dr.Get(strconv.Itoa(i)) // used: admitted over older ones
				}
				settle(dr)
				checkBounds(t, dr, o)
				// Large entries (32 of them fill MaxSize): MaxSize binds.
				dr.Clear()
				for i := range 10 * maxItems {
					dr.Set(strconv.Itoa(i), sized(250), 0)
					dr.Get(strconv.Itoa(i))
				}
				settle(dr)
				checkBounds(t, dr, o)
			}
		})
	}
}

func TestDriver_Disconnect(t *testing.T) {
	// The bubble fails the test if a goroutine outlives it, such as otter's
	// periodic clean-up (time stops in the bubble once the function returns,
	// so that goroutine would never see its next tick and exit by itself).
	synctest.Test(t, func(t *testing.T) {
		dr := New(Options{MaxItems: 10, MaxSize: 1000, MaxEntrySize: 100, Prefix: "app"})
		ns := dr.Namespace("ns")
		dr.Set("k", sized(1), time.Second)
		ns.Set("k", sized(1), 0)
		time.Sleep(2 * time.Second) // a tick or two of the periodic clean-up
		for i, d := range []bento.L1Driver{dr, dr, ns} {
			if err := d.Disconnect(); err != nil {
				t.Errorf("Disconnect() #%d = %v; want nil", i+1, err)
			}
		}
		// Still usable: only the periodic clean-up is gone.
		if v, ok := ns.Get("k"); !ok || v != sized(1) {
			t.Errorf("Get(%q) after Disconnect = %v, %v; want 1, true", "k", v, ok)
		}
		synctest.Wait() // and the maintenance goroutines of those writes
	})
}

func TestDriver_GetDoesNotAllocate(t *testing.T) {
	if testing.CoverMode() != "" {
		t.Skip("coverage counters change allocations")
	}
	root := newDriver(t, Options{})
	prefixed := newDriver(t, Options{Prefix: "bento", MaxSize: 1 << 20, MaxItems: 1000})
	tests := []struct {
		name string
		dr   bento.L1Driver
		key  string
	}{
		{"NoPrefix", root, "user:12345"},
		{"Prefix", prefixed, "user:12345"},
		{"Namespace", prefixed.Namespace("users"), "user:12345"},
		{"NestedNamespace", prefixed.Namespace("users").Namespace("posts"), "post:12345"},
		{"UUIDKey", prefixed.Namespace("sessions"), "session:3f2a9c1e-7b4d-4e8f-9a6b-2c1d0e5f7a8b"},
		// The longest full key that does not allocate; a longer one does.
		{"LongestKey", prefixed.Namespace("users"), strings.Repeat("k", lookupKeySize-len("bento:users:"))},
	}
	for _, tt := range tests {
		tt.dr.Set(tt.key, "v", time.Hour)
		// A key built at run time, as a caller's would be.
		key := strings.Clone(tt.key)
		miss := tt.key[:len(tt.key)-1] + "~" // as long as key
		checks := []struct {
			op string
			f  func()
		}{
			{"Get", func() { tt.dr.Get(key) }},
			{"GetMiss", func() { tt.dr.Get(miss) }},
			{"Has", func() { tt.dr.Has(key) }},
			{"RemainingTTL", func() { tt.dr.RemainingTTL(key) }},
		}
		for _, c := range checks {
			if n := testing.AllocsPerRun(1000, c.f); n != 0 {
				t.Errorf("%s: %s(<%d bytes>) allocates %v times per call; want 0", tt.name, c.op, len(key), n)
			}
		}
	}
}

func TestDriver_Concurrent(t *testing.T) {
	// For the race detector: one cache, many views, every operation.
	dr := newDriver(t, Options{MaxItems: 500, MaxSize: 50_000, MaxEntrySize: 300, Prefix: "app"})
	var wg sync.WaitGroup
	for g := range 8 {
		ns := dr.Namespace(strconv.Itoa(g % 3))
		wg.Go(func() {
			for i := range 2000 {
				k := strconv.Itoa(i % 100)
				switch i % 10 {
				case 0:
					ns.Clear()
				case 1:
					ns.Delete(k)
				case 2:
					ns.Pull(k)
				case 3:
					ns.DeleteMany([]string{k, "x"})
				case 4:
					ns.RemainingTTL(k)
				case 5:
					ns.Has(k)
				default:
					ns.Set(k, sized(i%400), time.Duration(i%3)*time.Minute)
					ns.Get(k)
				}
			}
		})
	}
	wg.Wait()
	settle(dr)
	for k, v := range contents(dr) {
		if s := v.(sized); s > 300 {
			t.Errorf("the cache holds %q of size %d; want none above MaxEntrySize 300", k, s)
		}
	}
}
