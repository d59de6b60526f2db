package file

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/caddyserver/caddy/v2"

	"github.com/bentocache/bento"
	"github.com/bentocache/bento/drivertest"
)

// newDriver returns a validated driver on o, disconnected when the test
// ends.
func newDriver(t *testing.T, o Options) *Driver {
	t.Helper()
	dr := New(o)
	if err := dr.Validate(); err != nil {
		t.Fatalf("New(%+v).Validate() = %v; want <nil>", o, err)
	}
	t.Cleanup(func() { _ = dr.Disconnect() })
	return dr
}

func randomPrefix() string { return "test-" + rand.Text() }

func set(t *testing.T, dr bento.L2Driver, key, value string, ttl time.Duration) {
	t.Helper()
	if err := dr.Set(t.Context(), key, []byte(value), ttl); err != nil {
		t.Fatalf("Set(ctx, %q, %q, %v) = %v; want <nil>", key, value, ttl, err)
	}
}

// wantGet checks Get(key); want "" with wantFound false is a miss.
func wantGet(t *testing.T, dr bento.L2Driver, key, want string, wantFound bool) {
	t.Helper()
	got, found, err := dr.Get(t.Context(), key)
	if err != nil || found != wantFound || string(got) != want {
		t.Errorf("Get(ctx, %q) = %q, %t, %v; want %q, %t, <nil>", key, got, found, err, want, wantFound)
	}
}

// pathOf returns the file of key in dr.
func pathOf(dr *Driver, key string) string {
	_, path := entryPath(dr.s.root, dr.key(key))
	return path
}

// exists reports whether path exists.
func exists(t *testing.T, path string) bool {
	t.Helper()
	_, err := os.Lstat(path)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("Lstat(%q) = %v", path, err)
	}
	return err == nil
}

// tree returns every path under root, relative to it, with "/".
func tree(t *testing.T, root string) []string {
	t.Helper()
	var paths []string
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if path != root {
			rel, _ := filepath.Rel(root, path)
			paths = append(paths, filepath.ToSlash(rel))
		}
		return nil
	})
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("WalkDir(%q) = %v", root, err)
	}
	return paths
}

func TestDriver_Compliance(t *testing.T) {
	// The drivers of a test share one directory, each on a prefix of its
	// own, as drivers on one Redis server do.
	t.Run("Prefix", func(t *testing.T) {
		dir := t.TempDir()
		drivertest.L2(t, func(t *testing.T) bento.L2Driver {
			return newDriver(t, Options{Directory: dir, Prefix: randomPrefix()})
		}, drivertest.Options{})
	})
	// A prefix of maxDepth-1 segments puts every namespace of the suite
	// past maxDepth, where keys share the deepest directory and Clear reads
	// headers instead of removing a subtree.
	t.Run("PastMaxDepth", func(t *testing.T) {
		dir := t.TempDir()
		drivertest.L2(t, func(t *testing.T) bento.L2Driver {
			return newDriver(t, Options{Directory: dir, Prefix: "a:b:c:d:e:f:" + randomPrefix()})
		}, drivertest.Options{})
	})
	// With pruning on a short interval, running during the suite.
	t.Run("PruneInterval", func(t *testing.T) {
		dir := t.TempDir()
		drivertest.L2(t, func(t *testing.T) bento.L2Driver {
			return newDriver(t, Options{Directory: dir, Prefix: randomPrefix(), PruneInterval: 20 * time.Millisecond})
		}, drivertest.Options{})
	})
}

func TestDriver_Validate(t *testing.T) {
	tests := []struct {
		name string
		o    Options
		want []string // substrings of the error; none for a valid o
	}{
		{"Minimal", Options{Directory: "d"}, nil},
		{"Full", Options{Directory: "d", Prefix: "p", PruneInterval: time.Minute, FileMode: 0o644, DirMode: 0o755, Sync: true}, nil},
		{"NoDirectory", Options{}, []string{"file: directory is required"}},
		{"NegativeInterval", Options{Directory: "d", PruneInterval: -time.Second}, []string{"prune_interval", "-1s"}},
		{"FileModeUnreadable", Options{Directory: "d", FileMode: 0o200}, []string{"file_mode", "0200"}},
		{"FileModeNotPerm", Options{Directory: "d", FileMode: fs.ModeDir | 0o600}, []string{"file_mode"}},
		{"DirModeNoExec", Options{Directory: "d", DirMode: 0o600}, []string{"dir_mode", "0600"}},
		{"Several", Options{PruneInterval: -1}, []string{"directory is required", "prune_interval"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dr := New(tt.o)
			defer dr.Disconnect()
			err := dr.Validate()
			if len(tt.want) == 0 {
				if err != nil {
					t.Errorf("New(%+v).Validate() = %v; want <nil>", tt.o, err)
				}
				return
			}
			if err == nil {
				t.Fatalf("New(%+v).Validate() = <nil>; want an error naming %q", tt.o, tt.want)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("New(%+v).Validate() = %q; want it to contain %q", tt.o, err, w)
				}
			}
		})
	}
}

// TestDriver_NoDirectory checks that a driver without a directory fails
// every call and never falls back to the working directory.
func TestDriver_NoDirectory(t *testing.T) {
	wd := t.TempDir()
	t.Chdir(wd)
	dr := New(Options{PruneInterval: time.Millisecond}) // no goroutine either
	ctx := t.Context()
	calls := map[string]func() error{
		"get":    func() error { _, _, err := dr.Get(ctx, "k"); return err },
		"pull":   func() error { _, _, err := dr.Pull(ctx, "k"); return err },
		"set":    func() error { return dr.Set(ctx, "k", []byte("v"), 0) },
		"has":    func() error { _, err := dr.Has(ctx, "k"); return err },
		"clear":  func() error { return dr.Namespace("ns").Clear(ctx) },
		"delete": func() error { _, err := dr.DeleteMany(ctx, []string{"k"}); return err },
		"prune":  func() error { return dr.Prune(ctx) },
	}
	for name, call := range calls {
		if err := call(); err == nil || !strings.HasPrefix(err.Error(), "file: "+name) || !errors.Is(err, errNoDirectory) {
			t.Errorf("%s on a driver with no directory = %v; want an error starting %q that wraps errNoDirectory", name, err, "file: "+name)
		}
	}
	if got := tree(t, wd); len(got) != 0 {
		t.Errorf("a driver with no directory created %q in the working directory; want nothing", got)
	}
	if err := dr.Disconnect(); err != nil {
		t.Errorf("Disconnect() = %v; want <nil>", err)
	}
}

// TestDriver_LazyDirectory checks that New and reads do no I/O that creates
// anything, and that the first write creates the directory.
func TestDriver_LazyDirectory(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "a", "cache")
	dr := newDriver(t, Options{Directory: dir, Prefix: "app"})
	ctx := t.Context()
	wantGet(t, dr, "k", "", false)
	if ok, err := dr.Has(ctx, "k"); ok || err != nil {
		t.Errorf("Has(ctx, %q) = %t, %v; want false, <nil>", "k", ok, err)
	}
	if v, found, err := dr.Pull(ctx, "k"); found || err != nil {
		t.Errorf("Pull(ctx, %q) = %q, %t, %v; want nil, false, <nil>", "k", v, found, err)
	}
	if ok, err := dr.Delete(ctx, "k"); ok || err != nil {
		t.Errorf("Delete(ctx, %q) = %t, %v; want false, <nil>", "k", ok, err)
	}
	for _, c := range []bento.L2Driver{dr, dr.Namespace("ns"), New(Options{Directory: dir})} {
		if err := c.Clear(ctx); err != nil {
			t.Errorf("Clear(ctx) = %v; want <nil>", err)
		}
	}
	if err := dr.Prune(ctx); err != nil {
		t.Errorf("Prune(ctx) = %v; want <nil>", err)
	}
	if exists(t, filepath.Dir(dir)) {
		t.Fatalf("reads, Clear and Prune created %q; want the directory created by the first write", filepath.Dir(dir))
	}
	set(t, dr, "k", "v", 0)
	wantGet(t, dr, "k", "v", true)
	if got, want := tree(t, dir), []string{"_app", "_app/=k"}; !slices.Equal(got, want) {
		t.Errorf("files after Set(ctx, %q, …) = %q; want %q", "k", got, want)
	}
}

func TestDriver_Modes(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "cache")
	dr := newDriver(t, Options{Directory: dir, Prefix: "app", FileMode: 0o640, DirMode: 0o750, Sync: true})
	set(t, dr, "k", "v", 0)
	wantGet(t, dr, "k", "v", true)
	umask := fs.FileMode(0o022) // the common default; the modes below survive it
	for path, want := range map[string]fs.FileMode{dir: 0o750, filepath.Dir(pathOf(dr, "k")): 0o750, pathOf(dr, "k"): 0o640} {
		fi, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		if got := fi.Mode().Perm(); got != want&^umask && got != want {
			t.Errorf("mode of %q = %v; want %v", path, got, want)
		}
	}
}

// TestDriver_PathEscape stores hostile keys under hostile prefixes and
// namespaces, and checks that nothing lands outside the directory and that
// every name inside is one of the layout.
func TestDriver_PathEscape(t *testing.T) {
	parent := t.TempDir()
	dir := filepath.Join(parent, "cache")
	ks := []string{
		"../../etc/passwd", "../../../../../../../../tmp/escaped", "/abs", "/abs/k", "..", ".", "./k",
		"a/../../b", `..\..\x`, `C:\x`, "\x00", "k\x00", "a:..:..:..:x", "..:..:..:..:..:..:..:..:..:x",
		strings.Repeat("k", 300), strings.Repeat("k", 10<<10), strings.Repeat("../", 100),
		"\xff\xfe", "k", "K", "CON", "nul.txt", "k.", "k ", "\u00e9", "e\u0301",
	}
	prefixes := []string{"", "..", "/abs", "a\x00b", strings.Repeat("p", 300), ".trash"}
	namespaces := []string{"..", "/", strings.Repeat("n", 300)}
	var drivers []bento.L2Driver
	for _, p := range prefixes {
		dr := newDriver(t, Options{Directory: dir, Prefix: p})
		drivers = append(drivers, dr)
		for _, n := range namespaces {
			drivers = append(drivers, dr.Namespace(n))
		}
	}
	// Some drivers alias others (prefix ".." is prefix "" and namespace
	// ".."): each entry's value is its full key.
	for _, dr := range drivers {
		for _, k := range ks {
			set(t, dr, k, dr.(*Driver).key(k), 0)
		}
	}
	for i, dr := range drivers {
		for _, k := range ks {
			want := dr.(*Driver).key(k)
			if got, found, err := dr.Get(t.Context(), k); err != nil || !found || string(got) != want {
				t.Errorf("driver %d: Get(ctx, %.40q) = %.40q, %t, %v; want %.40q, true, <nil>", i, k, got, found, err, want)
			}
		}
	}
	for _, p := range tree(t, parent) {
		if p != "cache" && !strings.HasPrefix(p, "cache/") {
			t.Errorf("%q created beside the directory %q; want everything under it", p, "cache")
		}
	}
	for _, p := range tree(t, dir) {
		if len(p) > 1024-len(dir)-1 {
			t.Errorf("path %q is %d bytes long; want paths within macOS's PATH_MAX", p, len(p))
		}
		for _, name := range strings.Split(p, "/") {
			if !nameRE.MatchString(name) {
				t.Errorf("path %q has name %q; want only names of the layout (no temporary files left)", p, name)
			}
		}
	}
	// Clearing every root removes everything.
	for i := 0; i < len(drivers); i += len(namespaces) + 1 {
		if err := drivers[i].Clear(t.Context()); err != nil {
			t.Fatalf("Clear(ctx) = %v", err)
		}
	}
	if got := tree(t, dir); !slices.Equal(got, []string{trashDir}) {
		t.Errorf("paths after clearing every prefix = %q; want only the empty trash", got)
	}
}

// TestDriver_Atomic has writers store large distinct values under one key
// while readers read it: a reader must never see a torn or mixed value, nor
// miss the key while it is only being overwritten (a write in place would be
// read as a corrupt file: a miss). With Pull and Delete in the mix, every
// value found must still be one of those written, whole.
func TestDriver_Atomic(t *testing.T) {
	const (
		writers = 8
		rounds  = 8
		size    = 64 << 10
	)
	values := make([][]byte, writers)
	for i := range values {
		values[i] = bytes.Repeat([]byte{byte('a' + i)}, size)
		copy(values[i], fmt.Sprintf("writer %d", i))
	}
	for _, deletes := range []bool{false, true} {
		t.Run(fmt.Sprintf("deletes=%t", deletes), func(t *testing.T) {
			dr := newDriver(t, Options{Directory: t.TempDir(), Prefix: "app"})
			ctx := t.Context()
			if err := dr.Set(ctx, "k", values[0], 0); err != nil {
				t.Fatal(err)
			}
			var (
				stop  atomic.Bool
				reads atomic.Int64
			)
			check := func(op string, v []byte, found bool, err error) {
				switch {
				case err != nil:
					t.Errorf("%s(ctx, %q) = %v; want <nil>", op, "k", err)
				case !found && !deletes:
					t.Errorf("%s(ctx, %q) = nil, false, <nil> while the key was only being overwritten; want one of the values written", op, "k")
				case found && !slices.ContainsFunc(values, func(w []byte) bool { return bytes.Equal(v, w) }):
					t.Errorf("%s(ctx, %q) = %d bytes starting %q; want one of the values written, whole", op, "k", len(v), v[:min(len(v), 16)])
				default:
					reads.Add(1)
					return
				}
				stop.Store(true)
			}
			var readers sync.WaitGroup
			for i := range 4 {
				readers.Go(func() {
					for !stop.Load() {
						switch {
						case deletes && i == 0:
							v, found, err := dr.Pull(ctx, "k")
							check("Pull", v, found, err)
						case deletes && i == 1:
							_, err := dr.Delete(ctx, "k")
							check("Delete", nil, false, err)
						default:
							v, found, err := dr.Get(ctx, "k")
							check("Get", v, found, err)
						}
					}
				})
			}
			var wg sync.WaitGroup
			for i := range writers {
				wg.Go(func() {
					for range rounds {
						if err := dr.Set(ctx, "k", values[i], time.Hour); err != nil {
							t.Errorf("Set(ctx, %q, <writer %d>, 1h) = %v; want <nil>", "k", i, err)
							return
						}
					}
				})
			}
			wg.Wait()
			stop.Store(true)
			readers.Wait()
			if reads.Load() == 0 {
				t.Error("no read completed; want the test to have read some")
			}
			for _, p := range tree(t, dr.s.root) {
				if strings.Contains(p, ".tmp-") || strings.Contains(p, ".del-") {
					t.Errorf("%q left behind; want no temporary or claimed file", p)
				}
			}
		})
	}
}

// TestDriver_PullDeleteOnce checks that of concurrent Pulls, or Deletes, of
// one key, exactly one finds it.
func TestDriver_PullDeleteOnce(t *testing.T) {
	dr := newDriver(t, Options{Directory: t.TempDir()})
	ctx := t.Context()
	for round := range 20 {
		set(t, dr, "k", "v", 0)
		var found atomic.Int32
		var wg sync.WaitGroup
		for i := range 8 {
			wg.Go(func() {
				var ok bool
				var err error
				if round%2 == 0 {
					_, ok, err = dr.Pull(ctx, "k")
				} else {
					ok, err = dr.Delete(ctx, "k")
				}
				if err != nil {
					t.Errorf("goroutine %d: = %v; want <nil>", i, err)
				}
				if ok {
					found.Add(1)
				}
			})
		}
		wg.Wait()
		if n := found.Load(); n != 1 {
			t.Errorf("round %d: %d of 8 concurrent %s found the key; want exactly 1", round, n, map[bool]string{true: "Pulls", false: "Deletes"}[round%2 == 0])
		}
	}
}

// corruption is damage done to an entry file.
type corruption struct {
	name string
	f    func(good []byte) []byte
	// inHeader is true when the header alone shows the damage, so that
	// Prune, which reads only headers, finds it.
	inHeader bool
}

func corruptions() []corruption {
	return []corruption{
		{"Empty", func([]byte) []byte { return nil }, true},
		{"Garbage", func([]byte) []byte { return []byte("this is not a bento entry, just some garbage text") }, true},
		{"LargeGarbage", func([]byte) []byte { return bytes.Repeat([]byte("garbage "), smallFile/8+1) }, true},
		{"TruncatedHeader", func(good []byte) []byte { return good[:headerSize-3] }, true},
		{"TruncatedKey", func(good []byte) []byte { return good[:headerSize+2] }, true},
		{"TruncatedValue", func(good []byte) []byte { return good[:len(good)-1] }, true},
		{"TrailingBytes", func(good []byte) []byte { return append(good, 'x') }, true},
		{"OtherVersion", func(good []byte) []byte { good[4] = 2; return good }, true},
		{"NegativeExpiry", func(good []byte) []byte { good[5] = 0x80; return good }, true},
		{"FlippedValue", func(good []byte) []byte { good[len(good)-1] ^= 1; return good }, false},
		{"ZeroedValue", func(good []byte) []byte { clear(good[len(good)-4:]); return good }, false},
	}
}

// corrupt replaces the file of key in dr with f of its content.
func corrupt(t *testing.T, dr *Driver, key string, f func([]byte) []byte) {
	t.Helper()
	path := pathOf(dr, key)
	good, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, f(good), 0o600); err != nil {
		t.Fatal(err)
	}
}

// TestDriver_CorruptFile checks that a damaged file is a miss for every
// read, never an error or a panic, and is removed.
func TestDriver_CorruptFile(t *testing.T) {
	for _, c := range corruptions() {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			dr := newDriver(t, Options{Directory: t.TempDir(), Prefix: "app"})
			ctx := t.Context()
			reads := map[string]func() (bool, error){
				"Get":    func() (bool, error) { _, found, err := dr.Get(ctx, "k"); return found, err },
				"Has":    func() (bool, error) { return dr.Has(ctx, "k") },
				"Pull":   func() (bool, error) { _, found, err := dr.Pull(ctx, "k"); return found, err },
				"Delete": func() (bool, error) { return dr.Delete(ctx, "k") },
			}
			for op, read := range reads {
				set(t, dr, "k", "a value of some length", time.Hour)
				corrupt(t, dr, "k", c.f)
				if found, err := read(); found || err != nil {
					t.Errorf("%s(ctx, %q) of a corrupt file = %t, %v; want false, <nil>", op, "k", found, err)
				}
				if exists(t, pathOf(dr, "k")) {
					t.Errorf("%s(ctx, %q) of a corrupt file left it; want it removed", op, "k")
				}
				set(t, dr, "k", "again", 0)
				wantGet(t, dr, "k", "again", true)
			}
			// An entry larger than smallFile is read header first.
			set(t, dr, "k", strings.Repeat("v", smallFile), 0)
			corrupt(t, dr, "k", c.f)
			wantGet(t, dr, "k", "", false)
			if exists(t, pathOf(dr, "k")) {
				t.Errorf("Get(ctx, %q) of a corrupt %d-byte entry left it; want it removed", "k", smallFile)
			}
			set(t, dr, "k", "again", 0)
			if got := tree(t, dr.s.root); !slices.Equal(got, []string{"_app", "_app/=k"}) {
				t.Errorf("files = %q; want only the entry written last", got)
			}
		})
	}
}

// TestDriver_TTLMilliseconds checks that a TTL is kept to the millisecond,
// never early, and that Get removes the file of an expired entry.
func TestDriver_TTLMilliseconds(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		dr := newDriver(t, Options{Directory: t.TempDir(), Prefix: "app"})
		set(t, dr, "k", "v", 150*time.Millisecond)
		set(t, dr, "sub", "v", 150*time.Millisecond-time.Microsecond)
		set(t, dr, "tiny", "v", time.Nanosecond)
		wantGet(t, dr, "tiny", "v", true) // rounded up to the next millisecond
		time.Sleep(149 * time.Millisecond)
		wantGet(t, dr, "k", "v", true)
		wantGet(t, dr, "sub", "v", true)
		wantGet(t, dr, "tiny", "", false)
		if exists(t, pathOf(dr, "tiny")) {
			t.Errorf("Get(ctx, %q) of an expired entry left its file; want it removed", "tiny")
		}
		time.Sleep(time.Millisecond)
		wantGet(t, dr, "k", "", false)
		wantGet(t, dr, "sub", "", false)
		if ok, err := dr.Has(t.Context(), "k"); ok || err != nil {
			t.Errorf("Has(ctx, %q) after its TTL = %t, %v; want false, <nil>", "k", ok, err)
		}
		if got := tree(t, dr.s.root); !slices.Equal(got, []string{"_app"}) {
			t.Errorf("files after reading every expired entry = %q; want only the empty directory", got)
		}
	})
}

// TestDriver_ExpiredDeletePull checks that Delete and Pull of an expired
// entry report a miss and remove its file.
func TestDriver_ExpiredDeletePull(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		dr := newDriver(t, Options{Directory: t.TempDir()})
		ctx := t.Context()
		set(t, dr, "a", "v", time.Second)
		set(t, dr, "b", "v", time.Second)
		time.Sleep(time.Second)
		if v, found, err := dr.Pull(ctx, "a"); found || err != nil {
			t.Errorf("Pull(ctx, %q) of an expired entry = %q, %t, %v; want nil, false, <nil>", "a", v, found, err)
		}
		if ok, err := dr.DeleteMany(ctx, []string{"b"}); ok || err != nil {
			t.Errorf("DeleteMany(ctx, [b]) of an expired entry = %t, %v; want false, <nil>", ok, err)
		}
		if got := tree(t, dr.s.root); len(got) != 0 {
			t.Errorf("files = %q; want none", got)
		}
	})
}

// TestDriver_Prune checks what Prune removes and what it keeps.
func TestDriver_Prune(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		root := t.TempDir()
		dr := newDriver(t, Options{Directory: root, Prefix: "app"})
		other := newDriver(t, Options{Directory: root, Prefix: "other"})
		ctx := t.Context()
		set(t, dr, "expired", "v", time.Second)
		set(t, other, "expired", "v", time.Second)
		set(t, dr, "long", "v", time.Hour)
		set(t, dr, "forever", "v", 0)
		set(t, dr.Namespace("users"), "forever", "v", 0)
		set(t, dr.Namespace("empty"), "k", "v", 0)
		if _, err := dr.Namespace("empty").Delete(ctx, "k"); err != nil {
			t.Fatal(err)
		}
		var want []string
		for _, c := range corruptions() {
			k := "corrupt" + c.name
			set(t, dr, k, "v", 0)
			corrupt(t, dr, k, c.f)
			if !c.inHeader { // caught by the Get that reads it
				want = append(want, "_app/"+filepath.Base(pathOf(dr, k)))
			}
		}
		now := time.Now().UnixMilli()
		stale := map[string]string{
			"_app/" + stampedName(tempPrefix, now-2*staleAfter.Milliseconds()):  "a temporary file left by a crash",
			"_app/" + stampedName(claimPrefix, now-2*staleAfter.Milliseconds()): "a claimed file left by a crash",
			trashDir + "/" + stampedName("", now-2*staleAfter.Milliseconds()):   "a trash directory left by a crash",
		}
		keep := map[string]string{
			"_app/" + stampedName(tempPrefix, now): "a temporary file in use",
			"_app/notes.txt":                       "a file not of the layout",
			"_app/.hidden":                         "a dot file not of the layout",
			"mine":                                 "a directory not of the layout",
			trashDir + "/" + stampedName("", now):  "a trash directory in use",
		}
		for _, m := range []map[string]string{stale, keep} {
			for p := range m {
				path := filepath.Join(root, filepath.FromSlash(p))
				if strings.HasPrefix(p, trashDir) || p == "mine" {
					if err := os.MkdirAll(filepath.Join(path, "_x"), 0o700); err != nil {
						t.Fatal(err)
					}
				} else if err := os.WriteFile(path, []byte("x"), 0o600); err != nil {
					t.Fatal(err)
				}
			}
		}
		time.Sleep(time.Second)
		if err := dr.Prune(ctx); err != nil {
			t.Fatalf("Prune(ctx) = %v; want <nil>", err)
		}
		want = append(want, "_app", "_app/=forever", "_app/=long", "_app/_users", "_app/_users/=forever", trashDir)
		for p := range keep {
			want = append(want, p)
			if strings.HasPrefix(p, trashDir) || p == "mine" {
				want = append(want, p+"/_x")
			}
		}
		slices.Sort(want)
		got := tree(t, root)
		slices.Sort(got)
		if !slices.Equal(got, want) {
			t.Errorf("files after Prune(ctx) =\n\t%q\nwant\n\t%q\n(Prune removes expired and corrupt entries of every prefix, empty directories and leftovers older than %v, and keeps the rest)", got, want, staleAfter)
		}
		wantGet(t, dr, "long", "v", true)
		wantGet(t, dr, "forever", "v", true)
		for _, c := range corruptions() {
			wantGet(t, dr, "corrupt"+c.name, "", false)
			if exists(t, pathOf(dr, "corrupt"+c.name)) {
				t.Errorf("Get(ctx, %q) left the corrupt file; want it removed", "corrupt"+c.name)
			}
		}
	})
}

// TestDriver_PruneInterval checks that the pruning goroutine prunes on its
// interval and stops on Disconnect, from the driver or any of its views.
func TestDriver_PruneInterval(t *testing.T) {
	for _, view := range []string{"Root", "Namespace"} {
		t.Run(view, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				dr := newDriver(t, Options{Directory: t.TempDir(), Prefix: "app", PruneInterval: time.Minute})
				set(t, dr, "expired", "v", time.Second)
				set(t, dr, "forever", "v", 0)
				time.Sleep(time.Minute - time.Millisecond)
				if !exists(t, pathOf(dr, "expired")) {
					t.Fatalf("expired entry pruned before the first interval; want it kept until then")
				}
				time.Sleep(time.Millisecond)
				synctest.Wait() // for the run the tick started
				if exists(t, pathOf(dr, "expired")) {
					t.Errorf("expired entry still on disk after PruneInterval; want it pruned")
				}
				wantGet(t, dr, "forever", "v", true)

				var d bento.L2Driver = dr
				if view == "Namespace" {
					d = dr.Namespace("users")
				}
				for i := range 2 {
					if err := d.Disconnect(); err != nil {
						t.Errorf("Disconnect() #%d = %v; want <nil>", i+1, err)
					}
				}
				// The goroutine is gone: synctest.Test would fail on a
				// goroutine left blocked in the bubble, and nothing prunes.
				set(t, dr, "expired", "v", time.Second)
				time.Sleep(10 * time.Minute)
				synctest.Wait()
				if !exists(t, pathOf(dr, "expired")) {
					t.Errorf("expired entry pruned after Disconnect; want no pruning")
				}
				set(t, dr, "k", "v", 0) // calls still work
				wantGet(t, dr, "k", "v", true)
			})
		})
	}
}

// deepTree makes, in the directory of dr, a chain of directories of the
// layout whose path is longer than any system's PATH_MAX, so that reading
// the deepest fails, and returns its relative path.
func deepTree(t *testing.T, dr *Driver) string {
	t.Helper()
	r, err := os.OpenRoot(dr.s.root)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	p := "_deep"
	for len(p) < 5000 {
		if err := r.Mkdir(p, 0o700); err != nil {
			t.Fatal(err)
		}
		p += "/_" + strings.Repeat("d", 64)
	}
	return p
}

// TestDriver_PruneError checks that Prune goes on past an error and returns
// it, and that the pruning goroutine reports it.
func TestDriver_PruneError(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		errs := make(chan error, 10)
		dr := newDriver(t, Options{Directory: t.TempDir(), Prefix: "app", PruneInterval: time.Minute, OnPruneError: func(err error) { errs <- err }})
		set(t, dr, "expired", "v", time.Second)
		deepTree(t, dr)
		set(t, dr, "expired2", "v", time.Second)
		time.Sleep(time.Minute)
		synctest.Wait()
		select {
		case err := <-errs:
			if !strings.HasPrefix(err.Error(), "file: prune: ") || errors.Is(err, fs.ErrNotExist) {
				t.Errorf("OnPruneError(%v); want an error starting %q", err, "file: prune: ")
			}
		default:
			t.Error("OnPruneError not called after a failed run; want it called")
		}
		for _, k := range []string{"expired", "expired2"} {
			if exists(t, pathOf(dr, k)) {
				t.Errorf("%q still on disk after a failed run; want Prune to go on past errors", k)
			}
		}
		if err := dr.Prune(t.Context()); err == nil || !strings.HasPrefix(err.Error(), "file: prune: ") {
			t.Errorf("Prune(ctx) = %v; want an error starting %q", err, "file: prune: ")
		}
	})
}

// TestDriver_ClearEmptyPrefix checks that Clear on the root of an
// unprefixed driver removes every entry of the directory, other prefixes'
// included, and nothing that is not of the layout.
func TestDriver_ClearEmptyPrefix(t *testing.T) {
	root := t.TempDir()
	dr := newDriver(t, Options{Directory: root})
	app := newDriver(t, Options{Directory: root, Prefix: "app"})
	set(t, dr, "k", "v", 0)
	set(t, dr.Namespace("users"), "k", "v", time.Hour)
	set(t, app, "k", "v", 0)
	for _, p := range []string{"notes.txt", "=not-a-dir/x", "_not-a-file"} {
		path := filepath.Join(root, filepath.FromSlash(p))
		if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte("mine"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if err := dr.Clear(t.Context()); err != nil {
		t.Fatalf("Clear(ctx) = %v; want <nil>", err)
	}
	wantGet(t, dr, "k", "", false)
	wantGet(t, dr, "users:k", "", false)
	wantGet(t, app, "k", "", false)
	want := []string{trashDir, "=not-a-dir", "=not-a-dir/x", "_not-a-file", "notes.txt"}
	if got := tree(t, root); !slices.Equal(got, want) {
		t.Errorf("files after Clear(ctx) on an empty prefix = %q; want %q", got, want)
	}
}

// TestDriver_ClearPastMaxDepth checks Clear where namespaces no longer get
// directories: exactly the keys under the namespace go.
func TestDriver_ClearPastMaxDepth(t *testing.T) {
	dr := newDriver(t, Options{Directory: t.TempDir(), Prefix: "a:b:c:d:e:f:g"})
	users := dr.Namespace("h").Namespace("users")
	set(t, users, "k", "v", 0)
	set(t, users, "posts:k", "v", time.Hour)
	keep := map[string]bento.L2Driver{"k": dr.Namespace("h").Namespace("usersAbc"), "users": dr.Namespace("h"), "h:usersk": dr, "other": dr.Namespace("h")}
	for k, d := range keep {
		set(t, d, k, "kept", 0)
	}
	if err := users.Clear(t.Context()); err != nil {
		t.Fatalf("Clear(ctx) = %v; want <nil>", err)
	}
	wantGet(t, users, "k", "", false)
	wantGet(t, users, "posts:k", "", false)
	for k, d := range keep {
		wantGet(t, d, k, "kept", true)
	}
}

// TestDriver_ClearConcurrentSet runs Clear of a namespace while other
// goroutines write into it: no call fails, and the namespace works after.
func TestDriver_ClearConcurrentSet(t *testing.T) {
	dr := newDriver(t, Options{Directory: t.TempDir(), Prefix: "app"})
	users := dr.Namespace("users")
	ctx := t.Context()
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Go(func() {
			for i := range 50 {
				k := fmt.Sprintf("posts:%d:%d", g, i%5)
				if err := users.Set(ctx, k, []byte("v"), 0); err != nil {
					t.Errorf("Set(ctx, %q) = %v; want <nil>", k, err)
					return
				}
				if _, _, err := users.Get(ctx, k); err != nil {
					t.Errorf("Get(ctx, %q) = %v; want <nil>", k, err)
					return
				}
			}
		})
	}
	wg.Go(func() {
		for range 20 {
			if err := users.Clear(ctx); err != nil {
				t.Errorf("Clear(ctx) = %v; want <nil>", err)
				return
			}
			if err := dr.Prune(ctx); err != nil {
				t.Errorf("Prune(ctx) = %v; want <nil>", err)
				return
			}
		}
	})
	wg.Wait()
	set(t, users, "k", "v", 0)
	wantGet(t, users, "k", "v", true)
}

// TestDriver_Errors checks how failures come back: wrapped, naming the call
// and the key, and never as fs.ErrNotExist.
func TestDriver_Errors(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	dr := newDriver(t, Options{Directory: t.TempDir()})
	if _, _, err := dr.Get(ctx, "k"); !errors.Is(err, context.Canceled) || !strings.HasPrefix(err.Error(), `file: get "k": `) {
		t.Errorf(`Get(cancelled ctx, "k") = %v; want an error starting "file: get \"k\": " wrapping context.Canceled`, err)
	}
	if err := dr.Set(ctx, "k", nil, 0); !errors.Is(err, context.Canceled) || !strings.HasPrefix(err.Error(), `file: set "k": `) {
		t.Errorf(`Set(cancelled ctx, "k") = %v; want an error starting "file: set \"k\": " wrapping context.Canceled`, err)
	}

	// A directory that is a file: writes fail, reads miss.
	notDir := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(notDir, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	dr = newDriver(t, Options{Directory: notDir, Prefix: "app"})
	err := dr.Set(t.Context(), "k", []byte("v"), 0)
	if err == nil || !strings.HasPrefix(err.Error(), `file: set "k": `) || errors.Is(err, fs.ErrNotExist) {
		t.Errorf(`Set(ctx, "k") under a regular file = %v; want an error starting "file: set \"k\": " that is not fs.ErrNotExist`, err)
	}
	wantGet(t, dr, "k", "", false)
	if ok, err := dr.Delete(t.Context(), "k"); ok || err != nil {
		t.Errorf(`Delete(ctx, "k") under a regular file = %t, %v; want false, <nil>`, ok, err)
	}
}

// TestDriver_Provision checks that the module's JSON fields become the
// options that New takes, and that Cleanup stops the pruning goroutine,
// also after a failed Provision and more than once.
func TestDriver_Provision(t *testing.T) {
	ctx, cancel := caddy.NewContext(caddy.Context{Context: t.Context()})
	defer cancel()
	dir := t.TempDir()
	dr := &Driver{Directory: dir, Prefix: "app", PruneInterval: caddy.Duration(time.Hour), FileMode: "0640", DirMode: "750", Sync: true}
	if err := dr.Provision(ctx); err != nil {
		t.Fatalf("Provision() = %v; want <nil>", err)
	}
	if err := dr.Validate(); err != nil {
		t.Errorf("Validate() = %v; want <nil>", err)
	}
	o := dr.s.o
	if o.Directory != dir || o.Prefix != "app" || o.PruneInterval != time.Hour || o.FileMode != 0o640 || o.DirMode != 0o750 || !o.Sync {
		t.Errorf("Provision() made options %+v; want {Directory: %q, Prefix: app, PruneInterval: 1h, FileMode: 0640, DirMode: 0750, Sync: true}", o, dir)
	}
	if o.OnPruneError == nil {
		t.Error("Provision() set no OnPruneError; want pruning errors sent to the manager's logger (bento.ModuleLogger)")
	} else {
		o.OnPruneError(errors.New("boom")) // outside Load: the no-op logger, no output, no panic
	}
	if dr.base != "app" || dr.s.stop == nil {
		t.Errorf("Provision() made base %q, pruning goroutine %t; want \"app\", true", dr.base, dr.s.stop != nil)
	}
	set(t, dr, "k", "v", 0)
	wantGet(t, dr, "k", "v", true)
	for i := range 2 {
		if err := dr.Cleanup(); err != nil {
			t.Errorf("Cleanup() #%d = %v; want <nil>", i+1, err)
		}
	}
	if err := new(Driver).Cleanup(); err != nil {
		t.Errorf("Cleanup() on a driver that was never provisioned = %v; want <nil>", err)
	}
}

// TestModule_LoadJSON builds a store on bento.drivers.file from JSON: the
// values round-trip, the files follow the configured prefix and modes, and
// they outlive the manager (the files are the state).
func TestModule_LoadJSON(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "cache")
	cfg := fmt.Appendf(nil, `{"stores": {"files": {"l2": {
		"driver": "file", "directory": %q, "prefix": "app", "prune_interval": "1h",
		"file_mode": "0640", "dir_mode": "0750", "sync": true
	}}}}`, dir)
	ctx := t.Context()
	b, err := bento.LoadJSON(ctx, cfg)
	if err != nil {
		t.Fatalf("LoadJSON = %v", err)
	}
	if err := b.Default().Set(ctx, "42", "Ada"); err != nil {
		t.Fatalf("Set = %v", err)
	}
	if v, found, err := bento.Get[string](ctx, b.Default(), "42"); err != nil || !found || v != "Ada" {
		t.Errorf("Get = %q, %t, %v; want \"Ada\", true, <nil>", v, found, err)
	}
	if err := b.Close(); err != nil {
		t.Fatalf("Close() = %v", err)
	}

	umask := fs.FileMode(0o022) // the common default; the modes below survive it
	files := 0
	for _, rel := range tree(t, dir) {
		if !strings.HasPrefix(rel, "_app") {
			t.Errorf("%q is outside the driver's prefix directory _app", rel)
		}
		fi, err := os.Stat(filepath.Join(dir, rel))
		if err != nil {
			t.Fatal(err)
		}
		want := fs.FileMode(0o750)
		if fi.Mode().IsRegular() {
			want = 0o640
			files++
		}
		if got := fi.Mode().Perm(); got != want&^umask && got != want {
			t.Errorf("mode of %q = %v; want %v", rel, got, want)
		}
	}
	if files == 0 {
		t.Fatalf("no entry file under %s after Set; want one", dir)
	}

	again, err := bento.LoadJSON(ctx, cfg)
	if err != nil {
		t.Fatalf("LoadJSON (again) = %v", err)
	}
	defer again.Close()
	if v, found, err := bento.Get[string](ctx, again.Default(), "42"); err != nil || !found || v != "Ada" {
		t.Errorf("Get from a new manager on the same directory = %q, %t, %v; want \"Ada\", true, <nil>", v, found, err)
	}
}

func TestModule_LoadJSONErrors(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		name, l2 string
		says     []string
	}{
		{"NoDirectory", `{"driver": "file"}`, []string{`stores.s.l2: module "bento.drivers.file": file: directory is required`}},
		{"BadDuration", `{"driver": "file", "directory": "` + dir + `", "prune_interval": "soon"}`, []string{"bento.drivers.file", `"soon"`}},
		{"NegativeInterval", `{"driver": "file", "directory": "` + dir + `", "prune_interval": "-1m"}`, []string{"file: prune_interval must not be negative"}},
		{"FileModeNotOctal", `{"driver": "file", "directory": "` + dir + `", "file_mode": "rw-r-----"}`, []string{`file: file_mode: "rw-r-----" is not an octal permission`}},
		{"FileModeZero", `{"driver": "file", "directory": "` + dir + `", "file_mode": "0000"}`, []string{`file: file_mode: "0000" grants no permission at all`}},
		{"DirModeZero", `{"driver": "file", "directory": "` + dir + `", "dir_mode": "0"}`, []string{`file: dir_mode: "0" grants no permission at all`}},
		{"DirModeLocksOut", `{"driver": "file", "directory": "` + dir + `", "dir_mode": "0600"}`, []string{"file: dir_mode must be permission bits that give the owner every permission"}},
		{"EveryProblem", `{"driver": "file", "file_mode": "x", "dir_mode": "y"}`, []string{"file_mode", "dir_mode", "directory is required"}},
		{"UnknownField", `{"driver": "file", "directroy": "` + dir + `"}`, []string{"bento.drivers.file", "directroy"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := `{"stores": {"s": {"l2": ` + tt.l2 + `}}}`
			b, err := bento.LoadJSON(t.Context(), []byte(cfg))
			if err == nil {
				b.Close()
				t.Fatalf("LoadJSON(%s) succeeded; want an error saying %q", cfg, tt.says)
			}
			for _, s := range tt.says {
				if !strings.Contains(err.Error(), s) {
					t.Errorf("LoadJSON(%s) error %q does not say %q", cfg, err, s)
				}
			}
		})
	}
	t.Run("NotL1", func(t *testing.T) {
		_, err := bento.LoadJSON(t.Context(), []byte(`{"stores": {"s": {"l1": {"driver": "file", "directory": "`+dir+`"}}}}`))
		if want := `module "bento.drivers.file" is not an L1 driver: it serves l2`; err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("LoadJSON with the file driver as l1 = %v; want an error saying %q", err, want)
		}
	})
}

// TestModule_CleanupStopsPruning checks that the pruning goroutine that
// Provision starts is gone when validation then fails and when the manager
// closes: synctest.Test fails on a goroutine left blocked in the bubble.
func TestModule_CleanupStopsPruning(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx := t.Context()
		dir := t.TempDir()
		bad := `{"stores": {"s": {"l2": {"driver": "file", "directory": "` + dir + `", "prune_interval": "1m", "file_mode": "rw"}}}}`
		if b, err := bento.LoadJSON(ctx, []byte(bad)); err == nil {
			b.Close()
			t.Fatal("LoadJSON with a bad file_mode succeeded; want an error")
		}
		good := `{"stores": {"s": {"l2": {"driver": "file", "directory": "` + dir + `", "prune_interval": "1m"}}}}`
		b, err := bento.LoadJSON(ctx, []byte(good))
		if err != nil {
			t.Fatal(err)
		}
		if err := b.Default().Set(ctx, "k", "v", bento.TTL(time.Second)); err != nil {
			t.Fatal(err)
		}
		entry := func(p string) bool { return strings.HasSuffix(p, "/=k") }
		if paths := tree(t, dir); !slices.ContainsFunc(paths, entry) {
			t.Fatalf("no file of key k after Set: %q", paths)
		}
		time.Sleep(2 * time.Minute)
		synctest.Wait()
		if paths := tree(t, dir); slices.ContainsFunc(paths, entry) {
			t.Errorf("expired entry still on disk after two prune intervals: %q", paths)
		}
		if err := b.Close(); err != nil {
			t.Fatal(err)
		}
	})
}
