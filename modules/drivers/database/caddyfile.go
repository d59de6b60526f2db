package database

import (
	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
)

// UnmarshalCaddyfile sets the driver up from a Caddyfile block. The adapter
// is required; it parses its own arguments and block, so "adapter sqlite
// /var/cache/bento/cache.db" and "adapter postgres { dsn … }" both work:
//
//	database {
//		adapter <name> [<argument>] {
//			<the adapter's options>
//		}
//		table_name        <name>
//		prefix            <prefix>
//		prune_interval    <duration>
//		skip_create_table
//	}
func (dr *Driver) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	d.Next() // the module name
	if d.NextArg() {
		return d.ArgErr()
	}
	for d.NextBlock(0) {
		switch name := d.Val(); name {
		case "adapter":
			if dr.AdapterRaw != nil {
				return d.Err("adapter is already set: a database driver has one adapter")
			}
			if !d.NextArg() {
				return d.Err("adapter needs a name, e.g. adapter sqlite /var/cache/bento/cache.db")
			}
			adapter := d.Val()
			if err := adapterModule(adapter); err != nil {
				return d.Errf("%w", err)
			}
			unm, err := caddyfile.UnmarshalModule(d, "bento.adapters."+adapter)
			if err != nil {
				return err
			}
			dr.AdapterRaw = caddyconfig.JSONModuleObject(unm, "adapter", adapter, nil)
		case "table_name":
			v, err := oneArg(d)
			if err != nil {
				return err
			}
			if err := ValidateTableName(v); err != nil {
				return d.Errf("table_name: %w", err)
			}
			dr.TableName = v
		case "prefix":
			v, err := oneArg(d)
			if err != nil {
				return err
			}
			dr.Prefix = v
		case "prune_interval":
			v, err := oneArg(d)
			if err != nil {
				return err
			}
			dur, err := caddy.ParseDuration(v)
			if err != nil {
				return d.Errf("prune_interval: invalid duration %q: %w", v, err)
			}
			dr.PruneInterval = caddy.Duration(dur)
		case "skip_create_table":
			if d.NextArg() {
				return d.ArgErr()
			}
			dr.SkipCreateTable = true
		default:
			return d.Errf("unknown database driver option %q", name)
		}
	}
	if dr.AdapterRaw == nil {
		return d.Err("database needs an adapter, e.g. adapter sqlite /var/cache/bento/cache.db")
	}
	return nil
}

// oneArg returns the single argument of the current option line.
func oneArg(d *caddyfile.Dispenser) (string, error) {
	var v string
	if !d.Args(&v) || d.NextArg() {
		return "", d.ArgErr()
	}
	return v, nil
}
