package bento

import (
	"errors"
	"fmt"
	"sync/atomic"

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

	b      *Bento
	counts map[string]*Counters // per store, from the manager's events
}

// Counters are the running totals of one store since the app started: what
// the admin API shows. The library does not count; the app does, from
// events, so that a program without the app pays nothing for them.
type Counters struct {
	L1Hits     atomic.Int64
	L2Hits     atomic.Int64
	GracedHits atomic.Int64
	Misses     atomic.Int64
	Writes     atomic.Int64
	Deletes    atomic.Int64
	Clears     atomic.Int64
	Expires    atomic.Int64
	Errors     atomic.Int64
	BusOut     atomic.Int64
	BusIn      atomic.Int64
}

// count adds an event to c.
func (c *Counters) count(e Event) {
	switch e.Kind {
	case EventHit:
		switch {
		case e.Graced:
			c.GracedHits.Add(1)
		case e.Layer == LayerL2:
			c.L2Hits.Add(1)
		default:
			c.L1Hits.Add(1)
		}
	case EventMiss:
		c.Misses.Add(1)
	case EventWritten:
		c.Writes.Add(1)
	case EventDeleted:
		c.Deletes.Add(1)
	case EventCleared:
		c.Clears.Add(1)
	case EventExpired:
		c.Expires.Add(1)
	case EventError:
		c.Errors.Add(1)
	case EventBusPublished:
		c.BusOut.Add(1)
	case EventBusReceived:
		c.BusIn.Add(1)
	}
}

// Snapshot returns the counters as a map, for JSON.
func (c *Counters) Snapshot() map[string]int64 {
	return map[string]int64{
		"l1_hits": c.L1Hits.Load(), "l2_hits": c.L2Hits.Load(), "graced_hits": c.GracedHits.Load(),
		"misses": c.Misses.Load(), "writes": c.Writes.Load(), "deletes": c.Deletes.Load(),
		"clears": c.Clears.Load(), "expires": c.Expires.Load(), "errors": c.Errors.Load(),
		"bus_published": c.BusOut.Load(), "bus_received": c.BusIn.Load(),
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
	b, err := load(ctx, &a.ManagerConfig, ctx.Logger(), "apps.bento")
	if err != nil {
		return err
	}
	a.b = b
	a.counts = make(map[string]*Counters, len(a.Stores))
	for _, name := range b.Stores() {
		a.counts[name] = new(Counters)
	}
	b.On(func(e Event) {
		if c := a.counts[e.Store]; c != nil {
			c.count(e)
		}
	})
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
func (a *App) Counters(name string) *Counters { return a.counts[name] }

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
