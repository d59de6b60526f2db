package drivertest

import (
	"context"
	"crypto/rand"
	"fmt"
	"maps"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// Options describes the driver under test: facts about it that a suite cannot
// find out by itself. The zero value claims the most (millisecond TTLs, exact
// expiry times) and bounds each subtest at 30 seconds.
type Options struct {
	// TTLGranularity is the smallest TTL the driver honours: time.Second for
	// a backend that stores expiry in whole seconds. The TTL cases set
	// entries for max(100ms, 2×TTLGranularity), want them found until
	// TTLGranularity before that TTL and gone within TTLGranularity plus
	// 750ms after it. Zero means millisecond TTLs work, and then a driver
	// that rounds 100ms up to a second fails.
	TTLGranularity time.Duration

	// ExpiresAtPrecision is how precisely a [bento.DatabaseAdapter] stores
	// Row.ExpiresAt (time.Millisecond for a column of unix milliseconds,
	// time.Microsecond for PostgreSQL's timestamptz): [Adapter] accepts a
	// stored time that differs from the one set by less than this. Zero
	// means exact (time.Time.Equal). The other suites ignore it.
	ExpiresAtPrecision time.Duration

	// MaxValueSize is the largest value, in bytes, that a [bento.L2Driver]
	// stores, for a backend that bounds the size of an entry (DynamoDB's
	// 400 KB item). Value/Large then stores a value of that size instead of
	// 1 MiB, and checks that a value twice as large is either rejected by
	// Set with an error or stored whole, never cut or mixed with the key's
	// previous value. Zero means that 1 MiB values must be stored. The
	// other suites ignore it.
	MaxValueSize int

	// AtomicPull declares that of concurrent Pulls of one key, exactly one
	// gets the value: Pull/Concurrent checks it. Without it the case is
	// skipped, since [bento.L2Driver] does not ask it of every driver (a
	// Get then a Delete meets the interface). The other suites ignore it.
	AtomicPull bool

	// Timeout bounds each subtest, the cleanups that open registered
	// included. Past it the watchdog fails the subtest with a message that
	// names it and cancels the context that the subtest's calls use, so a
	// call that honours its context returns instead of hanging; waits for a
	// bus delivery last until then. Zero means 30s plus four times
	// TTLGranularity.
	Timeout time.Duration
}

const (
	// defaultTimeout is Options.Timeout's base when it is zero.
	defaultTimeout = 30 * time.Second
	// ttlSlack is how late past its TTL (and the granularity) an entry may
	// still be found: room for scheduling and round trips on a loaded
	// machine, short enough that 100ms rounded up to 1s is caught.
	ttlSlack = 750 * time.Millisecond
	// pollInterval is how often a wait looks at the driver again.
	pollInterval = 10 * time.Millisecond
	// longTTL is the TTL of entries that must outlive the subtest.
	longTTL = time.Hour
)

// timeout is the watchdog's limit for one subtest.
func (o Options) timeout() time.Duration {
	if o.Timeout > 0 {
		return o.Timeout
	}
	return defaultTimeout + 4*max(o.TTLGranularity, 0)
}

// granularity is TTLGranularity, at least a millisecond.
func (o Options) granularity() time.Duration {
	return max(o.TTLGranularity, time.Millisecond)
}

// shortTTL is the TTL of the entries that a case waits to see expire.
func (o Options) shortTTL() time.Duration {
	return max(100*time.Millisecond, 2*o.granularity())
}

// expiryWait is how long after the start of its Set an entry with shortTTL
// must be gone.
func (o Options) expiryWait() time.Duration {
	return o.shortTTL() + o.granularity() + ttlSlack
}

// earlyLimit is how long after the start of its Set an entry with shortTTL
// must still be there: a miss before it is an early expiry.
func (o Options) earlyLimit() time.Duration {
	return o.shortTTL() - o.granularity()
}

// subtest runs f as the parallel subtest name of t, under a watchdog. Every
// suite case gets fresh drivers from open, so the state of subtests is
// isolated and they may run in parallel.
func subtest(t *testing.T, o Options, name string, f func(t *testing.T, ctx context.Context)) {
	t.Helper()
	t.Run(name, func(t *testing.T) {
		t.Parallel()
		f(t, watch(t, o.timeout()))
	})
}

// watch starts the watchdog of subtest t and returns the context that the
// subtest's calls use. If t, its cleanups included, runs longer than limit,
// the watchdog reports it and cancels the context. It must be called before
// open, so that its own cleanup, which stops it, runs last.
func watch(t *testing.T, limit time.Duration) context.Context {
	ctx, cancel := context.WithCancel(t.Context())
	var (
		mu   sync.Mutex
		done bool
	)
	timer := time.AfterFunc(limit, func() {
		mu.Lock()
		defer mu.Unlock()
		if done {
			return
		}
		t.Errorf("%s: still running after %v (Options.Timeout): a driver call or a wait is blocked; the watchdog cancelled the context of the subtest's calls", t.Name(), limit)
		cancel()
	})
	t.Cleanup(func() {
		mu.Lock()
		done = true
		mu.Unlock()
		timer.Stop()
		cancel()
	})
	return ctx
}

// eventually calls cond every pollInterval until it returns true, the
// deadline passes or ctx is done, and reports whether cond returned true.
// It is how a suite waits for an outcome: never a bare sleep. cond is always
// called once more after a wait, so a stall of the machine past the
// deadline cannot fail a driver whose outcome came in time.
func eventually(ctx context.Context, deadline time.Time, cond func() bool) bool {
	tick := time.NewTicker(pollInterval)
	defer tick.Stop()
	for {
		if cond() {
			return true
		}
		if !time.Now().Before(deadline) {
			return false
		}
		select {
		case <-ctx.Done():
			return false
		case <-tick.C:
		}
	}
}

// catch calls f and returns what it panicked with, or nil.
func catch(f func()) (panicked any) {
	defer func() { panicked = recover() }()
	f()
	return nil
}

// randomName returns a fresh lower-case name, for bus channels.
func randomName() string {
	return "drivertest-" + strings.ToLower(rand.Text()[:16])
}

// maxShown is the length past which keys and values are shown abridged.
const maxShown = 64

// qk formats a key for a message: quoted, and abridged when long to its
// head and its tail, where two long keys may differ.
func qk(key string) string {
	if len(key) > maxShown {
		return fmt.Sprintf("%q…%q(%d bytes)", key[:maxShown/2], key[len(key)-maxShown/4:], len(key))
	}
	return fmt.Sprintf("%q", key)
}

// qks formats a list of keys for a message.
func qks(keys []string) string {
	s := make([]string, len(keys))
	for i, k := range keys {
		s[i] = qk(k)
	}
	return "[]string{" + strings.Join(s, ", ") + "}"
}

// qb formats bytes for a message: nil, or quoted and abridged when long.
func qb(b []byte) string {
	switch {
	case b == nil:
		return "nil"
	case len(b) > maxShown:
		return fmt.Sprintf("%q…(%d bytes)", b[:maxShown/2], len(b))
	default:
		return fmt.Sprintf("%q", b)
	}
}

// qv formats an L1 value for a message.
func qv(v any) string {
	if b, ok := v.([]byte); ok {
		return qb(b)
	}
	return fmt.Sprintf("%#v", v)
}

// sortedKeys returns the keys of m in order, so that messages come in a
// stable order.
func sortedKeys[V any](m map[string]V) []string {
	return slices.Sorted(maps.Keys(m))
}

// sameValue reports whether an L1 value read back is the one stored.
func sameValue(got, want any) bool {
	return reflect.DeepEqual(got, want)
}

// rule appends the rule a failed check broke to a message.
func rule(msg, why string) string {
	if why == "" {
		return msg
	}
	return msg + "; " + why
}

// firstDiff returns the index of the first byte where a and b differ, or
// the shorter length.
func firstDiff(a, b []byte) int {
	n := min(len(a), len(b))
	for i := range n {
		if a[i] != b[i] {
			return i
		}
	}
	return n
}

// allBytes is every byte value once, in order.
func allBytes() []byte {
	b := make([]byte, 256)
	for i := range b {
		b[i] = byte(i)
	}
	return b
}

// largeBytes returns n bytes of a pattern that does not repeat every 256
// bytes, so that a truncated, shifted or reordered copy does not compare
// equal.
func largeBytes(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i*7 + i/251)
	}
	return b
}

// hostileKeys are keys that break drivers which map keys onto file names,
// SQL, LIKE or glob patterns, collations or text encodings. A driver either
// stores each under its exact name, distinct from the others, or rejects it
// with an error. Several come in pairs that a lossy mapping folds together:
// "k" and "K" (case-insensitive collations), "k" and "k " (PAD SPACE), NFC
// and NFD "é" (file systems that normalise), "a/b" and "a_b" or "a%2Fb"
// (escaping), two 10 KiB keys that differ only in their last byte
// (truncation).
func hostileKeys() []string {
	long := strings.Repeat("x", 10<<10)
	return []string{
		"k", "K", "k ", " k", "k\n", "k\t", "k\r\n",
		"../k", "../../../../../../etc/passwd", "/abs", "/abs/k", "./k", ".", "..", "...",
		"a/b", "a\\b", "a_b", "a%b", "a%2Fb", "a%2fb", "a:b", "a.b", "a b",
		"k\x00", "\x00", "k\x00tail",
		"%", "_", "%%", "*", "?", "[k]", "[!k]", "{a,b}", "\\", "\\%", "\\_",
		"a'b", "'", "''", `a"b`, "`", "';DROP TABLE t;--", "$1", "?ab",
		"\u00e9", "e\u0301", "日本語", "🙂", "\u200b", "\ufeff",
		"\xff\xfe", "\xc3\x28", "\x80",
		"CON", "nul", "aux.txt",
		strings.Repeat("y", 255), strings.Repeat("y", 256),
		long + "1", long + "2",
		"",
	}
}

// hostileValue is the value the hostile-keys cases store under hostileKeys()[i].
func hostileValue(i int) string {
	return fmt.Sprintf("value-%d", i)
}

// wildcardNamespaces are namespace names made of characters that are
// wildcards or escapes in LIKE, glob (Redis SCAN MATCH) and regular
// expressions. Clearing one must clear exactly that namespace.
func wildcardNamespaces() []string {
	return []string{"u_ers", "u%", "u%ers", "u?ers", "u*", "u.*", "[u]sers", "u\\", "u\\_ers", "U*", "USERS"}
}

// wildcardVictims are the root keys that a careless clear of a
// wildcardNamespaces namespace would remove.
func wildcardVictims() []string {
	return []string{"users:k", "uXers:k", "u:k", "usersAbc:k", "Users:k", "u\\x:k"}
}
