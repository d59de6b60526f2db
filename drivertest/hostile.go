package drivertest

import "testing"

// keyStore is what the hostile-keys cases of the L2 and Adapter suites need
// of the driver or adapter under test, on string values.
type keyStore struct {
	// what names it in messages: "driver", "adapter".
	what string
	// setCall renders the call that set makes, for messages.
	setCall func(key, value string) string
	set     func(key, value string) error
	// get returns the value stored under key; shown is what the call
	// returned, for messages. A value stored under another key is not key's.
	get func(key string) (value string, found bool, shown string, err error)
	del func(key string) (bool, error)
}

// checkHostileKeys stores a value under each of hostileKeys, which the
// store may reject with an error but never with a panic, reads every one
// back under its exact name, deletes every other one and checks that only
// those went.
func checkHostileKeys(t *testing.T, s keyStore) {
	t.Helper()
	keys := hostileKeys()
	stored := make([]bool, len(keys))
	for i, k := range keys {
		var err error
		if p := catch(func() { err = s.set(k, hostileValue(i)) }); p != nil {
			t.Errorf("%s panicked: %v; want <nil>, or an error if the %s cannot store this key", s.setCall(k, hostileValue(i)), p, s.what)
			continue
		}
		if err != nil {
			t.Logf("%s = %v: the %s rejects this key", s.setCall(k, hostileValue(i)), err, s.what)
		}
		stored[i] = err == nil
	}
	type read struct {
		value, shown string
		found        bool
		err          error
		panicked     any
	}
	get := func(k string) (r read) {
		r.panicked = catch(func() { r.value, r.found, r.shown, r.err = s.get(k) })
		return r
	}
	for i, k := range keys {
		r := get(k)
		switch {
		case r.panicked != nil:
			t.Errorf("Get(ctx, %s) panicked: %v; want a value, a miss or an error", qk(k), r.panicked)
		case stored[i] && (r.err != nil || !r.found || r.value != hostileValue(i)):
			t.Errorf("Get(ctx, %s) = %s, %t, %v; want %q, true, <nil>: Set accepted the key, so it must be stored under its exact name, distinct from the others", qk(k), r.shown, r.found, r.err, hostileValue(i))
		case !stored[i] && r.err == nil && r.found:
			t.Errorf("Get(ctx, %s) = %s, true, <nil> though Set rejected the key; want a miss or an error, never another key's value", qk(k), r.shown)
		}
	}
	for i, k := range keys {
		if i%2 != 0 || !stored[i] {
			continue
		}
		var (
			deleted bool
			err     error
		)
		if p := catch(func() { deleted, err = s.del(k) }); p != nil {
			t.Errorf("Delete(ctx, %s) panicked: %v; want true, <nil>", qk(k), p)
		} else if err != nil || !deleted {
			t.Errorf("Delete(ctx, %s) = %t, %v; want true, <nil>: Set accepted the key", qk(k), deleted, err)
		}
	}
	for i, k := range keys {
		if !stored[i] {
			continue
		}
		r := get(k)
		switch {
		case r.panicked != nil:
			t.Errorf("Get(ctx, %s) panicked: %v", qk(k), r.panicked)
		case i%2 == 0 && (r.err != nil || r.found):
			t.Errorf("Get(ctx, %s) = %s, %t, %v after Delete(ctx, %s); want a miss, false, <nil>", qk(k), r.shown, r.found, r.err, qk(k))
		case i%2 == 1 && (r.err != nil || !r.found || r.value != hostileValue(i)):
			t.Errorf("Get(ctx, %s) = %s, %t, %v after deleting other hostile keys; want %q, true, <nil>: Delete must remove only its own key", qk(k), r.shown, r.found, r.err, hostileValue(i))
		}
	}
}
