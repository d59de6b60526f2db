package bento

import (
	"errors"
	"fmt"

	"github.com/caddyserver/caddy/v2"
)

func init() { caddy.RegisterModule(App{}) }

// App is the Caddy app "bento": the stores of a running server, configured
// under apps.bento with the JSON of [ManagerConfig]. Other Caddy modules reach
// a store by name:
//
//	a, err := ctx.App("bento")
//	c, err := a.(*bento.App).Use("main")
//
// On a config reload the new app is provisioned before the old one stops;
// modules that open connections or hold L1 contents share them through usage
// pools, so a reload keeps both.
type App struct {
	ManagerConfig

	b *Bento
}

// CaddyModule returns the Caddy module information.
func (App) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{ID: "bento", New: func() caddy.Module { return new(App) }}
}

// Provision builds the manager and its stores from the app's config.
func (a *App) Provision(ctx caddy.Context) error {
	if len(a.Stores) == 0 {
		return errors.New("bento: app has no stores: add at least one under \"stores\"")
	}
	b, err := Load(ctx, &a.ManagerConfig, ctx.Logger())
	if err != nil {
		return err
	}
	a.b = b
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
