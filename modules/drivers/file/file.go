// Package file is bento's L2 driver that keeps one file per key under a
// directory (module bento.drivers.file). Several processes on one machine can
// share the directory as their L2.
//
// Keys map to paths that cannot leave the directory: each ":"-separated
// segment of "prefix:namespace:key" becomes a directory whose name is the
// segment escaped to lower-case ASCII (or hashed when long), so a namespace is
// a subtree and [Driver.Clear] removes it with one rename. Each file holds a
// header with the full key, the expiry and a checksum, then the value. Writes
// are atomic (a temporary file renamed over the entry); expired and corrupt
// files are misses, removed when read, by [Driver.Prune], or on
// [Options.PruneInterval]. See docs/drivers/file.md for the layout and its
// costs.
//
//	l2 := file.New(file.Options{Directory: "/var/cache/myapp", PruneInterval: time.Hour})
//	if err := l2.Validate(); err != nil {
//		return err
//	}
//	defer l2.Disconnect() // stops the pruning goroutine
//	users := l2.Namespace("users") // files under /var/cache/myapp/_users/
package file

import (
	"context"
	"errors"
	"fmt"
	"hash/maphash"
	"io"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"go.uber.org/zap"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"

	"github.com/bentocache/bento"
	"github.com/bentocache/bento/internal/keys"
)

func init() { caddy.RegisterModule(Driver{}) }

// Driver is a [bento.L2Driver] and [bento.Pruner] that stores one file per
// key under a directory. Module ID: bento.drivers.file; it serves the L2
// layer only.
//
// A Driver returned by [New] and the views returned by [Driver.Namespace]
// share their options and their pruning goroutine. A Driver is safe for
// concurrent use, and so are several drivers, in one process or several, on
// one directory. The files are the whole state: nothing is pooled across
// config reloads, and the old and the new driver of a reload share the
// directory as two processes would.
type Driver struct {
	// The directory that holds the entries, one file per key. It is
	// created, with its parents, by the first write; a relative path is
	// relative to the working directory. Give the driver a directory of its
	// own. Required.
	Directory string `json:"directory,omitempty"`
	// Put before every key, as "prefix:namespace:key", and so the first
	// directory under directory. Default: none (the store's own prefix
	// still applies).
	Prefix string `json:"prefix,omitempty"`
	// How often expired and damaged entries and empty directories are
	// removed in the background, e.g. "1h". Default: never; an expired
	// entry is then removed when it is read.
	PruneInterval caddy.Duration `json:"prune_interval,omitempty"`
	// Permission of the entry files, in octal, before the umask, e.g.
	// "0640". It must let the owner read and write. Default: "0600".
	FileMode string `json:"file_mode,omitempty"`
	// Permission of the directories the driver creates, in octal, before
	// the umask, e.g. "0750". It must give the owner every permission.
	// Default: "0700".
	DirMode string `json:"dir_mode,omitempty"`
	// Flush every write to stable storage (fsync) before it counts, so
	// that a written entry survives a power loss; writes are much slower.
	// Default: false (after a crash an entry may be missing or older, never
	// wrong).
	Sync bool `json:"sync,omitempty"`

	s *store
	// base is the prefix and namespaces joined by keys.Join; "" for none.
	base string
}

// Options configures a [Driver]; see [New]. Only Directory is required.
type Options struct {
	// Directory holds the entries. Required: [Driver.Validate] reports an
	// empty one, and until it is set every call returns an error without
	// touching the file system. It is created, with its parents, by the
	// first write. A relative path is relative to the working directory of
	// each call. Give the driver a directory of its own: Clear and Prune
	// remove only names of the driver's layout, but any process that can
	// write to the directory can change the cache.
	Directory string
	// Prefix is the first part of every key, as "prefix:namespace:key", and
	// so the first directory under Directory. Default: none, and then
	// [Driver.Clear] on the root removes every entry of the directory.
	Prefix string
	// PruneInterval is how often a goroutine owned by the driver calls
	// [Driver.Prune]; [Driver.Disconnect] stops it. Zero means never:
	// expired entries are removed when they are read, or by calling Prune.
	// Negative values are reported by [Driver.Validate].
	PruneInterval time.Duration
	// OnPruneError is called, on the pruning goroutine, with the error of
	// each failed Prune run on PruneInterval; the next run tries again.
	// Default (nil): such errors are dropped.
	OnPruneError func(err error)
	// FileMode is the permission of entry files, before the umask. Default
	// (0): 0o600. It must let the owner read and write.
	FileMode fs.FileMode
	// DirMode is the permission of the directories the driver creates,
	// Directory included, before the umask. Default (0): 0o700. It must
	// give the owner every permission.
	DirMode fs.FileMode
	// Sync makes Set flush each file to stable storage (fsync) before
	// renaming it into place, and its directory after, so that a written
	// entry survives a power loss. Default false: after a crash an entry
	// may be missing or older, and a file the crash damaged fails its
	// checksum and reads as a miss; writes are much faster. A cache can
	// usually afford to lose entries.
	Sync bool
}

const (
	defaultFileMode fs.FileMode = 0o600
	defaultDirMode  fs.FileMode = 0o700

	// writeAttempts bounds the retries of a Set whose directory was removed
	// under it by a concurrent Clear or Prune.
	writeAttempts = 8
	// trashAttempts bounds the passes of Clear over a directory that
	// writers in flight may still add files to (see store.trash).
	trashAttempts = 8
	// smallFile is the size up to which an entry file is read in one go.
	smallFile = 1 << 20
	// stripes is the number of locks that order Set's renames and the
	// removal of expired or corrupt files (see store.discard).
	stripes = 64
)

// errNoDirectory is returned by every call of a driver with no directory.
var errNoDirectory = errors.New("no directory (Options.Directory is empty)")

// errRaced is returned by a Set whose directory kept disappearing.
var errRaced = fmt.Errorf("the entry's directory was removed during each of %d attempts", writeAttempts)

// store is the state shared by a Driver and its namespace views.
type store struct {
	o        Options // as given, for Validate
	root     string  // filepath.Clean(o.Directory); "" when unset
	fileMode fs.FileMode
	dirMode  fs.FileMode
	// problems are the module fields that Provision could not map to o
	// (a mode that is not octal), for Validate.
	problems []error

	seed  maphash.Seed
	locks [stripes]sync.Mutex

	// stop cancels the pruning goroutine, which closes done on exit; both
	// are nil when there is none.
	stop context.CancelFunc
	done chan struct{}
}

// New returns a Driver configured by o. It does no I/O and never fails:
// invalid options are reported by [Driver.Validate]. With a Directory and a
// positive PruneInterval it starts the pruning goroutine, which
// [Driver.Disconnect] stops.
func New(o Options) *Driver {
	return &Driver{s: newStore(o), base: o.Prefix}
}

// newStore builds the state that o describes and starts its pruning
// goroutine: the one way in that New and Provision share.
func newStore(o Options) *store {
	s := &store{
		o:        o,
		fileMode: o.FileMode,
		dirMode:  o.DirMode,
		seed:     maphash.MakeSeed(),
	}
	if s.fileMode == 0 {
		s.fileMode = defaultFileMode
	}
	if s.dirMode == 0 {
		s.dirMode = defaultDirMode
	}
	if o.Directory != "" {
		s.root = filepath.Clean(o.Directory)
		if o.PruneInterval > 0 {
			ctx, cancel := context.WithCancel(context.Background())
			s.stop, s.done = cancel, make(chan struct{})
			go s.pruneLoop(ctx, o.PruneInterval)
		}
	}
	return s
}

// CaddyModule returns the Caddy module information.
func (Driver) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{ID: "bento.drivers.file", New: func() caddy.Module { return new(Driver) }}
}

// Provision builds the driver from its JSON fields, as [New] does, and
// starts the pruning goroutine if prune_interval is set. Inside a Caddy
// server, failed background prunes are logged to the module's logger. It
// does no I/O: the directory is created by the first write. A mode that is
// not octal is reported by [Driver.Validate].
func (dr *Driver) Provision(ctx caddy.Context) error {
	o := Options{
		Directory:     dr.Directory,
		Prefix:        dr.Prefix,
		PruneInterval: time.Duration(dr.PruneInterval),
		Sync:          dr.Sync,
	}
	var problems []error
	for _, m := range []struct {
		name, value string
		dst         *fs.FileMode
	}{{"file_mode", dr.FileMode, &o.FileMode}, {"dir_mode", dr.DirMode, &o.DirMode}} {
		mode, err := parseMode(m.value)
		if err != nil {
			problems = append(problems, fmt.Errorf("file: %s: %w", m.name, err))
			continue
		}
		*m.dst = mode
	}
	logger := bento.ModuleLogger(ctx).With(zap.String("directory", o.Directory))
	o.OnPruneError = func(err error) { logger.Error("background prune failed", zap.Error(err)) }
	dr.s, dr.base = newStore(o), o.Prefix
	dr.s.problems = problems
	return nil
}

// Validate reports the problems of the options given to [New], every one
// found, joined: an empty Directory, a negative PruneInterval, modes that
// are not permissions or that lock the driver out of its own files, and, for
// the module, a file_mode or dir_mode that is not an octal number. It names
// each problem by its JSON field and does no I/O.
func (dr *Driver) Validate() error {
	o := dr.s.o
	errs := append([]error(nil), dr.s.problems...)
	if o.Directory == "" {
		errs = append(errs, errors.New("file: directory is required"))
	}
	if o.PruneInterval < 0 {
		errs = append(errs, fmt.Errorf("file: prune_interval must not be negative, got %v", o.PruneInterval))
	}
	if m := o.FileMode; m&^fs.ModePerm != 0 || m != 0 && m&0o600 != 0o600 {
		errs = append(errs, fmt.Errorf("file: file_mode must be permission bits that let the owner read and write, got %#o", uint32(m)))
	}
	if m := o.DirMode; m&^fs.ModePerm != 0 || m != 0 && m&0o700 != 0o700 {
		errs = append(errs, fmt.Errorf("file: dir_mode must be permission bits that give the owner every permission, got %#o", uint32(m)))
	}
	return errors.Join(errs...)
}

// Cleanup stops the pruning goroutine; it is [Driver.Disconnect], and safe
// to call after a failed Provision and more than once.
func (dr *Driver) Cleanup() error {
	if dr.s == nil {
		return nil
	}
	return dr.Disconnect()
}

// Namespace returns a view of the same directory under
// "<current>:<namespace>", which is a subdirectory of the current one (see
// [Driver.Clear] for namespaces past maxDepth).
func (dr *Driver) Namespace(namespace string) bento.L2Driver {
	return &Driver{s: dr.s, base: keys.Join(dr.base, namespace)}
}

// Get returns the value stored under key, if any. An expired or corrupt file
// is a miss, and is removed.
func (dr *Driver) Get(ctx context.Context, key string) ([]byte, bool, error) {
	if err := dr.s.check(ctx); err != nil {
		return nil, false, fmt.Errorf("file: get %q: %w", key, err)
	}
	v, found, err := dr.s.load(dr.key(key), time.Now())
	if err != nil {
		return nil, false, fmt.Errorf("file: get %q: %w", key, err)
	}
	return v, found, nil
}

// Pull returns the value stored under key and deletes it. Of several
// concurrent Pulls of one key, in any number of processes, one finds the
// value.
func (dr *Driver) Pull(ctx context.Context, key string) ([]byte, bool, error) {
	if err := dr.s.check(ctx); err != nil {
		return nil, false, fmt.Errorf("file: pull %q: %w", key, err)
	}
	v, found, err := dr.s.pull(dr.key(key), time.Now())
	if err != nil {
		return nil, false, fmt.Errorf("file: pull %q: %w", key, err)
	}
	return v, found, nil
}

// Set stores value under key, replacing any older value atomically: a
// concurrent reader sees the old value or the new one, whole. A ttl <= 0
// means no expiry; a positive one is kept to the millisecond, rounded up.
func (dr *Driver) Set(ctx context.Context, key string, value []byte, ttl time.Duration) error {
	if err := dr.s.check(ctx); err != nil {
		return fmt.Errorf("file: set %q: %w", key, err)
	}
	now := time.Now()
	k := dr.key(key)
	if err := dr.s.write(ctx, k, encodeEntry(k, value, expiresAt(now, ttl)), now); err != nil {
		return fmt.Errorf("file: set %q: %w", key, err)
	}
	return nil
}

// Has reports whether key holds a value that has not expired. Like Get, it
// reads the whole file and removes an expired or corrupt one.
func (dr *Driver) Has(ctx context.Context, key string) (bool, error) {
	if err := dr.s.check(ctx); err != nil {
		return false, fmt.Errorf("file: has %q: %w", key, err)
	}
	_, found, err := dr.s.load(dr.key(key), time.Now())
	if err != nil {
		return false, fmt.Errorf("file: has %q: %w", key, err)
	}
	return found, nil
}

// Clear removes every key under this driver's prefix and namespace:
// "app:users:*" for Namespace("users") of a driver with prefix "app", never
// "app:usersX:*". Its cost is that of the keys it removes: the namespace's
// directory is renamed into the trash (from then on its keys are gone) and
// removed. Past maxDepth (8) segments of prefix and namespaces, where keys
// no longer get directories of their own, Clear reads the header of every
// file in the deepest directory instead. On a driver with an empty prefix,
// Clear on the root removes every entry of the directory, and leaves alone
// any file or directory whose name is not of the driver's layout.
func (dr *Driver) Clear(ctx context.Context) error {
	if err := dr.s.check(ctx); err != nil {
		return fmt.Errorf("file: clear %q: %w", dr.base, err)
	}
	if err := dr.s.clear(ctx, dr.base, time.Now()); err != nil {
		return fmt.Errorf("file: clear %q: %w", dr.base, err)
	}
	return nil
}

// Delete removes key and reports whether it held a value that had not
// expired. Of several concurrent Deletes of one key, one reports true.
func (dr *Driver) Delete(ctx context.Context, key string) (bool, error) {
	if err := dr.s.check(ctx); err != nil {
		return false, fmt.Errorf("file: delete %q: %w", key, err)
	}
	deleted, err := dr.s.delete(dr.key(key), time.Now())
	if err != nil {
		return false, fmt.Errorf("file: delete %q: %w", key, err)
	}
	return deleted, nil
}

// DeleteMany removes keys, one file at a time, and reports whether any of
// them held a value that had not expired. An empty list is fine. It stops at
// the first error.
func (dr *Driver) DeleteMany(ctx context.Context, ks []string) (bool, error) {
	deletedAny := false
	for _, key := range ks {
		deleted, err := dr.Delete(ctx, key)
		if err != nil {
			return deletedAny, err
		}
		deletedAny = deletedAny || deleted
	}
	return deletedAny, nil
}

// Disconnect stops the pruning goroutine shared by dr and its namespace
// views, and waits for it to exit. The driver holds nothing else open: its
// calls still work afterwards, without pruning on the interval. Calling it
// again, on dr or on any view, does nothing. It never fails.
func (dr *Driver) Disconnect() error {
	if dr.s.stop != nil {
		dr.s.stop()
		<-dr.s.done
	}
	return nil
}

// key returns the full key of key in dr.
func (dr *Driver) key(key string) string { return keys.Join(dr.base, key) }

// check returns why a call cannot go on: a done ctx or no directory.
func (s *store) check(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if s.root == "" {
		return errNoDirectory
	}
	return nil
}

// load returns the value of full key k at now. It removes the file if it is
// expired or corrupt.
func (s *store) load(k string, now time.Time) ([]byte, bool, error) {
	_, path := entryPath(s.root, k)
	f, err := os.Open(path)
	if err != nil {
		if missing(err) {
			return nil, false, nil
		}
		return nil, false, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, false, err
	}
	if !fi.Mode().IsRegular() {
		return nil, false, nil // not the driver's: leave it
	}
	b, err := readAll(f, fi.Size())
	if err != nil {
		return nil, false, err
	}
	h, gotKey, v, ok := decodeEntry(b)
	switch {
	case !ok || !h.live(now.UnixMilli()):
		s.discard(path, fi)
		return nil, false, nil
	case string(gotKey) != k:
		// Another key's file: two hashed names collided. It is a miss, and
		// the other key's entry.
		return nil, false, nil
	}
	return v, true, nil
}

// pull returns the value of full key k at now and removes its file.
func (s *store) pull(k string, now time.Time) ([]byte, bool, error) {
	claimed, found, err := s.claim(k, now)
	if err != nil || !found {
		return nil, false, err
	}
	defer os.Remove(claimed)
	b, found, err := readFile(claimed)
	if err != nil || !found {
		return nil, false, err
	}
	h, gotKey, v, ok := decodeEntry(b)
	if !ok || string(gotKey) != k || !h.live(now.UnixMilli()) {
		return nil, false, nil
	}
	return v, true, nil
}

// write stores data as the file of full key k, retrying when a concurrent
// Clear or Prune removes its directory midway.
func (s *store) write(ctx context.Context, k string, data []byte, now time.Time) error {
	dir, path := entryPath(s.root, k)
	for range writeAttempts {
		err := s.writeOnce(dir, path, data, now)
		// MkdirAll reports "exists" when another writer made a directory
		// that a Clear then moved away before MkdirAll could look at it.
		if err == nil || !errors.Is(err, fs.ErrNotExist) && !errors.Is(err, fs.ErrExist) {
			return err
		}
		if err := ctx.Err(); err != nil {
			return err
		}
	}
	return errRaced
}

// writeOnce writes data to a temporary file in dir and renames it over path.
func (s *store) writeOnce(dir, path string, data []byte, now time.Time) (err error) {
	tmp := dir + string(os.PathSeparator) + stampedName(tempPrefix, now.UnixMilli())
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, s.fileMode)
	if missing(err) {
		if err := os.MkdirAll(dir, s.dirMode); err != nil {
			return err
		}
		f, err = os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, s.fileMode)
	}
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			os.Remove(tmp)
		}
	}()
	_, err = f.Write(data)
	if err == nil && s.o.Sync {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	mu := s.lock(path)
	mu.Lock()
	err = os.Rename(tmp, path)
	mu.Unlock()
	if err != nil {
		return err
	}
	if s.o.Sync {
		return syncDir(dir)
	}
	return nil
}

// claim renames the file of full key k to a fresh name in its directory, so
// that no other caller can read, claim or remove it, and returns that name.
// found is false when there was no file.
func (s *store) claim(k string, now time.Time) (claimed string, found bool, err error) {
	dir, path := entryPath(s.root, k)
	claimed = dir + string(os.PathSeparator) + stampedName(claimPrefix, now.UnixMilli())
	if err := os.Rename(path, claimed); err != nil {
		if missing(err) {
			return "", false, nil
		}
		return "", false, err
	}
	return claimed, true, nil
}

// delete removes the file of full key k and reports whether it held a live
// entry of k.
func (s *store) delete(k string, now time.Time) (bool, error) {
	claimed, found, err := s.claim(k, now)
	if err != nil || !found {
		return false, err
	}
	// A failure to remove the claimed file loses nothing: Prune removes it.
	defer os.Remove(claimed)
	b, found, err := readFile(claimed)
	if err != nil || !found {
		return false, err
	}
	h, gotKey, _, ok := decodeEntry(b)
	return ok && string(gotKey) == k && h.live(now.UnixMilli()), nil
}

// clear removes every entry under keys.ClearPrefix(base).
func (s *store) clear(ctx context.Context, base string, now time.Time) error {
	if base == "" {
		return s.clearAll(ctx, now)
	}
	dir, exact := namespaceDir(s.root, base)
	if exact {
		return s.trash(dir, now)
	}
	// The keys of base are files in dir, among others.
	prefix := keys.ClearPrefix(base)
	entries, err := os.ReadDir(dir)
	if err != nil {
		if missing(err) {
			return nil
		}
		return err
	}
	for _, e := range entries {
		if err := ctx.Err(); err != nil {
			return err
		}
		if !isEntryName(e.Name()) || !e.Type().IsRegular() {
			continue
		}
		path := filepath.Join(dir, e.Name())
		k, ok, err := keyOf(path)
		if err != nil {
			return err
		}
		if ok && strings.HasPrefix(k, prefix) {
			if err := os.Remove(path); err != nil && !missing(err) {
				return err
			}
		}
	}
	return nil
}

// clearAll removes every entry of the directory: its entry files and its
// directories, but no name that is not of the layout.
func (s *store) clearAll(ctx context.Context, now time.Time) error {
	entries, err := os.ReadDir(s.root)
	if err != nil {
		if missing(err) {
			return nil
		}
		return err
	}
	for _, e := range entries {
		if err := ctx.Err(); err != nil {
			return err
		}
		path := filepath.Join(s.root, e.Name())
		var err error
		switch {
		case isDirName(e.Name()) && e.IsDir():
			err = s.trash(path, now)
		case isEntryName(e.Name()) && e.Type().IsRegular():
			err = os.Remove(path)
		}
		if err != nil && !missing(err) {
			return err
		}
	}
	return nil
}

// trash removes directory dir: it renames it into the trash, which makes
// its entries gone at once and keeps concurrent writers out of what is being
// removed (they recreate dir), then removes it.
func (s *store) trash(dir string, now time.Time) error {
	if _, err := os.Lstat(dir); err != nil {
		if missing(err) {
			return nil // nothing to clear, and no reason to create the trash
		}
		return err
	}
	t := filepath.Join(s.root, trashDir)
	if err := os.Mkdir(t, s.dirMode); err != nil && !errors.Is(err, fs.ErrExist) {
		if missing(err) {
			return nil // the whole directory is gone
		}
		return err
	}
	to := filepath.Join(t, stampedName("", now.UnixMilli()))
	if err := os.Rename(dir, to); err != nil {
		if missing(err) {
			return nil // cleared concurrently
		}
		return err
	}
	// A writer that looked dir up just before the rename can still create a
	// file in it just after (the kernel resolves a path, then acts on the
	// directory found), so a pass may fail on a directory that is no longer
	// empty. Only calls already in flight can do that: a few passes finish.
	for range trashAttempts - 1 {
		if os.RemoveAll(to) == nil {
			return nil
		}
	}
	return os.RemoveAll(to)
}

// discard removes path, the file of an expired or corrupt entry described
// by fi, unless a Set has replaced it since it was read. Set renames under
// the same lock, so in one process the check and the removal are atomic;
// across processes a Set landing between the two can still be lost, a window
// of one system call. Failures are dropped: the file is a miss either way,
// and Prune tries again.
func (s *store) discard(path string, fi fs.FileInfo) {
	mu := s.lock(path)
	mu.Lock()
	defer mu.Unlock()
	if cur, err := os.Lstat(path); err == nil && os.SameFile(cur, fi) {
		os.Remove(path)
	}
}

// lock returns the lock of path's stripe.
func (s *store) lock(path string) *sync.Mutex {
	return &s.locks[maphash.String(s.seed, path)%stripes]
}

// keyOf returns the full key in the header of the entry file at path; ok is
// false for a file that is missing or not an entry file.
func keyOf(path string) (k string, ok bool, err error) {
	f, err := os.Open(path)
	if err != nil {
		if missing(err) {
			return "", false, nil
		}
		return "", false, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return "", false, err
	}
	_, key, ok, err := readHeader(f, fi.Size())
	return string(key), ok, err
}

// readFile returns the content of path; found is false when it is missing.
func readFile(path string) (b []byte, found bool, err error) {
	f, err := os.Open(path)
	if err != nil {
		if missing(err) {
			return nil, false, nil
		}
		return nil, false, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, false, err
	}
	if b, err = readAll(f, fi.Size()); err != nil {
		return nil, false, err
	}
	return b, true, nil
}

// readAll reads an entry file of size bytes. What it returns fails
// decodeEntry unless the file is a whole entry: a file shorter than its size
// (only a foreign writer truncates one in place) comes back short. A large
// file is trusted with an allocation of its size only once its header says
// it is an entry of that size, so that a huge foreign file is a miss, not an
// out-of-memory crash.
func readAll(r io.Reader, size int64) ([]byte, error) {
	if size <= smallFile {
		b := make([]byte, size)
		n, err := io.ReadFull(r, b)
		if err == io.EOF || err == io.ErrUnexpectedEOF {
			err = nil
		}
		return b[:n], err
	}
	var hb [headerSize]byte
	if _, err := io.ReadFull(r, hb[:]); err != nil {
		if err == io.EOF || err == io.ErrUnexpectedEOF {
			err = nil
		}
		return nil, err
	}
	if _, ok := decodeHeader(hb[:], size); !ok || size > math.MaxInt {
		return hb[:], nil
	}
	b := make([]byte, size)
	copy(b, hb[:])
	n, err := io.ReadFull(r, b[headerSize:])
	if err == io.EOF || err == io.ErrUnexpectedEOF {
		err = nil
	}
	return b[:headerSize+n], err
}

// syncDir flushes directory dir, so that a rename into it is durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	return err
}

// missing reports whether err says that a file or one of its directories
// does not exist: a miss, never an error that leaves the driver.
func missing(err error) bool {
	return errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENOTDIR)
}

// Interface guards
var (
	_ bento.L2Driver  = (*Driver)(nil)
	_ bento.Pruner    = (*Driver)(nil)
	_ bento.Validator = (*Driver)(nil)

	_ caddy.Provisioner     = (*Driver)(nil)
	_ caddy.Validator       = (*Driver)(nil)
	_ caddy.CleanerUpper    = (*Driver)(nil)
	_ caddyfile.Unmarshaler = (*Driver)(nil)
)
