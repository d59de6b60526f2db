package bento

import (
	"errors"
	"fmt"
	"sync"

	"github.com/caddyserver/caddy/v2"
)

func init() { caddy.RegisterModule(App{}) }

// App is the Caddy app "bento": the stores of a running server, configured
// under apps.bento with the JSON of [ManagerConfig] and the fields below.
// Other Caddy modules reach a store by name:
//
//	a, err := ctx.App("bento")
//	c, err := a.(*bento.App).Use("main")
//
// On a config reload the new app is provisioned before the old one stops;
// modules that open connections or hold L1 contents share them through usage
// pools, so a reload keeps both.
type App struct {
	ManagerConfig

	// Make the bento routes of Caddy's admin API read-only: GET answers,
	// PUT, POST and DELETE get 403. It does not protect the values, which
	// GET still shows, nor the rest of Caddy's admin API. Default: false.
	AdminReadOnly bool `json:"admin_read_only,omitempty"`

	b *Bento
}

// appStats keeps each store's totals across config reloads: a reloaded app
// goes on counting where the previous one stopped, so that Prometheus sees
// counters that only grow.
var appStats sync.Map // store name → *storeStats

func statsFor(store string) *storeStats {
	v, _ := appStats.LoadOrStore(store, newStoreStats())
	return v.(*storeStats)
}

// Counters are the running totals of one store since the process started:
// what the admin API shows. They are the numbers the Prometheus metrics show
// (one count, read two ways).
type Counters struct{ s *storeStats }

// Snapshot returns the counters as a map, for JSON.
func (c *Counters) Snapshot() map[string]int64 {
	s := c.s
	n := func(v uint64) int64 { return int64(v) }
	return map[string]int64{
		"l1_hits": n(s.hits[0][0].load()), "l2_hits": n(s.hits[1][0].load()),
		"graced_hits": n(s.hits[0][1].load() + s.hits[1][1].load()),
		"misses":      n(s.misses.load()), "writes": n(s.writes.Load()), "deletes": n(s.deletes.Load()),
		"clears": n(s.clears.Load()), "expires": n(s.expires.Load()), "errors": n(s.errors.Load()),
		"bus_published": n(s.busOut[0].Load()), "bus_received": n(s.busIn[0].Load()),
	}
}

// CaddyModule returns the Caddy module information.
func (App) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{ID: "bento", New: func() caddy.Module { return new(App) }}
}

// Provision builds the manager and its stores from the app's config. Its
// errors name the config path from the top of Caddy's config
// (apps.bento.stores.main.l1) and, since caddy already says "provision
// bento", start without bento's own prefix.
func (a *App) Provision(ctx caddy.Context) error {
	if len(a.Stores) == 0 {
		return errors.New("app has no stores: add at least one under apps.bento.stores")
	}
	b, err := load(ctx, &a.ManagerConfig, ctx.Logger(), "apps.bento", statsFor)
	if err != nil {
		return err
	}
	a.b = b
	// Caddy gives each config its own registry, served at the admin
	// endpoint's /metrics: one registration per load, never a second.
	if err := ctx.GetMetricsRegistry().Register(b.Collector()); err != nil {
		_ = b.Close()
		return fmt.Errorf("registering the bento metrics: %w", err)
	}
	return nil
}

// Start does nothing: the stores work from Provision on.
func (a *App) Start() error { return nil }

// Stop closes the manager: background work stops and the stores release
// their drivers (pooled connections stay open while a newer config uses them).
func (a *App) Stop() error {
	if a.b == nil {
		return nil
	}
	return a.b.Close()
}

// Manager returns the app's manager.
func (a *App) Manager() *Bento { return a.b }

// Counters returns the running totals of the store called name, or nil.
func (a *App) Counters(name string) *Counters {
	st := a.b.stores[name]
	if st == nil {
		return nil
	}
	return &Counters{st.stats}
}

// StoreLayers describes the layers of the store called name: for each of
// "l1", "l2", "bus" and "serializer" that it has, the module ID (or the Go
// type of a driver that is not a module). The default serializer is the
// module bento.serializers.json.
func (a *App) StoreLayers(name string) map[string]string {
	st := a.b.stores[name]
	if st == nil {
		return nil
	}
	out := make(map[string]string)
	describe := func(layer string, v any) {
		if v == nil {
			return
		}
		if _, std := v.(jsonSerializer); std {
			out[layer] = "bento.serializers.json" // the module is this serializer
		} else if id := caddy.GetModuleID(v); id != "" {
			out[layer] = id
		} else {
			out[layer] = fmt.Sprintf("%T", v)
		}
	}
	if st.l1Driver != nil {
		describe("l1", st.l1Driver)
	}
	if st.l2Driver != nil {
		describe("l2", st.l2Driver)
	}
	if st.bus != nil {
		describe("bus", st.bus.bus)
	}
	describe("serializer", st.serializer)
	return out
}

// Use returns the root of the store called name.
func (a *App) Use(name string) (*Cache, error) {
	if a.b == nil {
		return nil, fmt.Errorf("bento: app not provisioned")
	}
	return a.b.Use(name)
}

// Interface guards
var (
	_ caddy.App         = (*App)(nil)
	_ caddy.Provisioner = (*App)(nil)
)
