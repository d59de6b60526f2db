// Package ttlmap is a bento L2 driver that keeps entries in a map with TTLs
// (module bento.drivers.ttlmap). It is a third-party driver, in a Go module
// of its own, as yours will be: copy this directory to start a driver, then
// replace the map with your backend's client.
//
// Every driver on one [Backend] shares its entries, as the clients of one
// Redis server do. In a config, the drivers that name the same backend share
// one, and a config reload keeps it and its entries.
//
//	{
//		bento {
//			store main {
//				l1 memory
//				l2 ttlmap {
//					backend shared
//					prefix  app
//				}
//			}
//		}
//	}
//
// Build a bento binary that has it with
//
//	xbento build --with example.com/bento-ttlmap
package ttlmap

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"sync"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"

	"github.com/bentocache/bento"
)

func init() { caddy.RegisterModule(Driver{}) }

// backends holds the backends of the drivers loaded from a config, by name,
// so that drivers naming one backend share it and a reload keeps it.
var backends = caddy.NewUsagePool()

// Driver is a [bento.L2Driver] over a [Backend], with the [bento.Pruner]
// capability. Module ID: bento.drivers.ttlmap; it serves the L2 layer only.
//
// A Driver and the views returned by [Driver.Namespace] share the backend
// and the lifecycle. A Driver is safe for concurrent use.
type Driver struct {
	// Name of the in-process backend that holds the entries: the drivers
	// that name the same backend share their entries, as the clients of one
	// server do. Default: "default".
	Backend string `json:"backend,omitempty"`
	// Put before every key, as "prefix:namespace:key". Default: none (the
	// store's own prefix still applies).
	Prefix string `json:"prefix,omitempty"`

	b *Backend
	// base is "prefix:namespace…"; "" for none.
	base string
	// lease is set when b came from the usage pool; Disconnect releases it.
	lease *lease
}

// Options configures a [Driver] built from Go code; see [New].
type Options struct {
	// Backend holds the entries; drivers on one Backend share them. It is
	// never cleared nor released by the driver. Required.
	Backend *Backend
	// Prefix is put before every key, as "prefix:namespace:key". Default:
	// none, and then [Driver.Clear] on the root removes every entry of the
	// backend.
	Prefix string
}

// New returns a Driver configured by o. It does no I/O and never fails:
// bento.New calls [Driver.Validate].
func New(o Options) *Driver {
	dr := new(Driver)
	dr.setup(o)
	return dr
}

// setup configures dr from o: the one way in that New and Provision share.
func (dr *Driver) setup(o Options) {
	dr.Prefix = o.Prefix
	dr.b, dr.base = o.Backend, o.Prefix
}

// CaddyModule returns the Caddy module information.
func (Driver) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{ID: "bento.drivers.ttlmap", New: func() caddy.Module { return new(Driver) }}
}

// Provision takes the driver's share of its named backend, creating the
// backend if no other driver holds it, then sets the driver up as New does.
// No I/O.
func (dr *Driver) Provision(ctx caddy.Context) error {
	if dr.Backend == "" {
		dr.Backend = "default"
	}
	b, l, err := acquire(dr.Backend)
	if err != nil {
		return err
	}
	dr.lease = l
	dr.setup(Options{Backend: b, Prefix: dr.Prefix})
	return nil
}

// Validate reports options that cannot work.
func (dr *Driver) Validate() error {
	if dr.b == nil {
		return errors.New("ttlmap: no backend: set Options.Backend")
	}
	return nil
}

// Cleanup releases the driver's share of its backend, as Disconnect does:
// a driver loaded from a config gets both calls, and the share is given
// back once.
func (dr *Driver) Cleanup() error { return dr.Disconnect() }

// UnmarshalCaddyfile sets the driver up from a Caddyfile block:
//
//	ttlmap [<backend>] {
//		backend <backend>
//		prefix  <prefix>
//	}
func (dr *Driver) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	d.Next() // the module name
	if d.NextArg() {
		dr.Backend = d.Val()
		if d.NextArg() {
			return d.ArgErr()
		}
	}
	for d.NextBlock(0) {
		switch d.Val() {
		case "backend":
			if !d.Args(&dr.Backend) {
				return d.ArgErr()
			}
		case "prefix":
			if !d.Args(&dr.Prefix) {
				return d.ArgErr()
			}
		default:
			return d.Errf("unknown ttlmap driver option %q", d.Val())
		}
	}
	return nil
}

// Namespace returns a view of the same backend under "<base>:<namespace>"
// (just "<namespace>" on an unprefixed driver).
func (dr *Driver) Namespace(namespace string) bento.L2Driver {
	return &Driver{b: dr.b, base: join(dr.base, namespace), lease: dr.lease}
}

// Get returns a copy of the value stored under key, if it has not expired.
func (dr *Driver) Get(_ context.Context, key string) ([]byte, bool, error) {
	dr.b.mu.Lock()
	defer dr.b.mu.Unlock()
	it, ok := dr.b.live(join(dr.base, key))
	return bytes.Clone(it.value), ok, nil // a copy: callers may not write into the backend
}

// Pull returns the value stored under key and deletes it.
func (dr *Driver) Pull(_ context.Context, key string) ([]byte, bool, error) {
	dr.b.mu.Lock()
	defer dr.b.mu.Unlock()
	k := join(dr.base, key)
	it, ok := dr.b.live(k)
	delete(dr.b.m, k)
	return it.value, ok, nil
}

// Set stores a copy of value under key for ttl; a ttl <= 0 means no expiry.
func (dr *Driver) Set(_ context.Context, key string, value []byte, ttl time.Duration) error {
	it := item{value: bytes.Clone(value)} // a copy: the caller keeps its slice
	if it.value == nil {
		it.value = []byte{} // an empty value is a value
	}
	if ttl > 0 {
		it.expiresAt = time.Now().Add(ttl)
	}
	dr.b.mu.Lock()
	defer dr.b.mu.Unlock()
	dr.b.m[join(dr.base, key)] = it
	return nil
}

// Has reports whether key holds a value that has not expired.
func (dr *Driver) Has(_ context.Context, key string) (bool, error) {
	dr.b.mu.Lock()
	defer dr.b.mu.Unlock()
	_, ok := dr.b.live(join(dr.base, key))
	return ok, nil
}

// Clear removes the keys under "<base>:", never those of a sibling such as
// "<base>X:"; with an empty base, every key of the backend.
func (dr *Driver) Clear(_ context.Context) error {
	dr.b.mu.Lock()
	defer dr.b.mu.Unlock()
	if dr.base == "" {
		clear(dr.b.m)
		return nil
	}
	for k := range dr.b.m {
		if strings.HasPrefix(k, dr.base+":") {
			delete(dr.b.m, k)
		}
	}
	return nil
}

// Delete removes key and reports whether it held a value that had not
// expired.
func (dr *Driver) Delete(_ context.Context, key string) (bool, error) {
	dr.b.mu.Lock()
	defer dr.b.mu.Unlock()
	k := join(dr.base, key)
	_, ok := dr.b.live(k)
	delete(dr.b.m, k)
	return ok, nil
}

// DeleteMany removes keys and reports whether any of them held a value. An
// empty list is fine.
func (dr *Driver) DeleteMany(ctx context.Context, keys []string) (bool, error) {
	deletedAny := false
	for _, k := range keys {
		ok, _ := dr.Delete(ctx, k)
		deletedAny = deletedAny || ok
	}
	return deletedAny, nil
}

// Disconnect releases the driver's share of a backend it took from a config;
// calling it again, on the driver or any of its views, does nothing. It never
// touches a backend handed to [New].
func (dr *Driver) Disconnect() error {
	if dr.lease == nil {
		return nil
	}
	return dr.lease.release()
}

// Prune removes the expired entries of the whole backend.
func (dr *Driver) Prune(_ context.Context) error {
	dr.b.mu.Lock()
	defer dr.b.mu.Unlock()
	for k := range dr.b.m {
		dr.b.live(k)
	}
	return nil
}

// Backend holds entries: what a server is to a network driver.
type Backend struct {
	mu sync.Mutex
	m  map[string]item
}

type item struct {
	value     []byte
	expiresAt time.Time // zero: never
}

// NewBackend returns an empty backend.
func NewBackend() *Backend { return &Backend{m: make(map[string]item)} }

// Destruct empties the backend. It makes a Backend a caddy.Destructor, which
// is what a caddy.UsagePool holds: the pool calls Destruct when the last
// driver holding the backend gives its share back.
func (b *Backend) Destruct() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	clear(b.m)
	return nil
}

// live returns the entry under k if it has not expired, and removes it if it
// has. b.mu is held.
func (b *Backend) live(k string) (item, bool) {
	it, ok := b.m[k]
	if ok && !it.expiresAt.IsZero() && !time.Now().Before(it.expiresAt) {
		delete(b.m, k)
		return item{}, false
	}
	return it, ok
}

// lease is a driver's share of a backend in the usage pool. A driver loaded
// from a config is let go of twice: the manager's Close calls Disconnect, and
// unloading the config calls Cleanup. The sync.Once gives the share back on
// the first call only, so the second cannot take away a share that another
// driver holds.
type lease struct {
	key  string
	once sync.Once
}

// acquire takes a share of the backend pooled under name, creating the
// backend if no driver holds it.
func acquire(name string) (*Backend, *lease, error) {
	v, _, err := backends.LoadOrNew(name, func() (caddy.Destructor, error) {
		return NewBackend(), nil
	})
	if err != nil {
		return nil, nil, err
	}
	return v.(*Backend), &lease{key: name}, nil
}

// release gives the share back; calling it again does nothing.
func (l *lease) release() error {
	var err error
	l.once.Do(func() { _, err = backends.Delete(l.key) })
	return err
}

// join builds the key layout shared by every bento driver.
func join(base, part string) string {
	if base == "" {
		return part
	}
	return base + ":" + part
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
