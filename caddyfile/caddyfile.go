// Package caddyfile adds the global option "bento" to the Caddyfile: it turns
// the stores described there into the JSON of the Caddy app "bento" (see
// bento.ManagerConfig), so that `bento adapt` shows it and `bento run` runs
// it. Every driver, adapter, bus and serializer parses its own block.
//
//	{
//		bento {
//			default main
//			admin_read_only
//			defaults {
//				ttl   30m
//				grace 6h
//			}
//			store main {
//				ttl 1h
//				l1 memory {
//					max_size 64MiB
//				}
//				l2 redis {
//					addrs 127.0.0.1:6379
//				}
//				bus redis
//				serializer msgpack
//			}
//		}
//	}
//
// This package imports Caddy's HTTP Caddyfile adapter; it stays out of the
// root package and the drivers, so that a library user compiles neither.
package caddyfile

import (
	"encoding/json"
	"strconv"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig"
	cfile "github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/caddyconfig/httpcaddyfile"

	"github.com/bentocache/bento"
	"github.com/bentocache/bento/internal/abridge"
)

func init() { httpcaddyfile.RegisterGlobalOption("bento", parseGlobal) }

// parseGlobal parses the "bento" global option into the app's JSON. A
// second bento block is an error: its stores would replace the first's.
func parseGlobal(d *cfile.Dispenser, existing any) (any, error) {
	d.Next() // the option name
	if existing != nil {
		return nil, d.Errf("a second bento block: there is one bento app, so put every store in the first bento block")
	}
	if d.NextArg() {
		return nil, d.ArgErr()
	}
	app := bento.App{ManagerConfig: bento.ManagerConfig{Stores: make(map[string]json.RawMessage)}}
	mc := &app.ManagerConfig
	var warnings []caddyconfig.Warning
	for d.NextBlock(0) {
		switch d.Val() {
		case "default":
			if !d.Args(&mc.Default) {
				return nil, d.ArgErr()
			}
		case "admin_read_only":
			on := true
			if d.NextArg() {
				var err error
				if on, err = strconv.ParseBool(d.Val()); err != nil {
					return nil, d.Errf("admin_read_only: want true, false or nothing, got %s", abridge.Quote(d.Val()))
				}
			}
			if d.NextArg() {
				return nil, d.ArgErr()
			}
			app.AdminReadOnly = on
		case "defaults":
			var oc bento.OptionsConfig
			for nesting := d.Nesting(); d.NextBlock(nesting); {
				if err := parseOption(d, &oc); err != nil {
					return nil, err
				}
			}
			if oc.BusChannel != "" {
				return nil, d.Errf("bus_channel applies to one store: set it in the store block")
			}
			mc.Defaults = caddyconfig.JSON(oc, &warnings)
		case "store":
			var name string
			if !d.Args(&name) {
				return nil, d.Errf("store needs a name: store <name> { … }")
			}
			if _, dup := mc.Stores[name]; dup {
				return nil, d.Errf("store %q is defined twice", name)
			}
			sc, err := parseStore(d, &warnings)
			if err != nil {
				return nil, err
			}
			mc.Stores[name] = caddyconfig.JSON(sc, &warnings)
		default:
			return nil, d.Errf("unknown bento option %s (want admin_read_only, default, defaults or store)", abridge.Quote(d.Val()))
		}
	}
	if len(mc.Stores) == 0 {
		return nil, d.Err("bento: no store defined: add store <name> { … }")
	}
	return httpcaddyfile.App{Name: "bento", Value: caddyconfig.JSON(app, &warnings)}, nil
}

// parseStore parses the block of one store.
func parseStore(d *cfile.Dispenser, warnings *[]caddyconfig.Warning) (*bento.StoreConfig, error) {
	sc := new(bento.StoreConfig)
	for nesting := d.Nesting(); d.NextBlock(nesting); {
		layer := d.Val()
		switch layer {
		case "l1", "l2", "bus", "locker", "serializer":
			namespace, key := "bento.drivers", "driver"
			switch layer {
			case "bus":
				namespace, key = "bento.buses", "bus"
			case "locker":
				namespace, key = "bento.lockers", "locker"
			case "serializer":
				namespace, key = "bento.serializers", "serializer"
			}
			raw, err := parseModule(d, namespace, key, warnings)
			if err != nil {
				return nil, err
			}
			switch layer {
			case "l1":
				sc.L1Raw = raw
			case "l2":
				sc.L2Raw = raw
			case "bus":
				sc.BusRaw = raw
			case "locker":
				sc.LockerRaw = raw
			case "serializer":
				sc.SerializerRaw = raw
			}
		default:
			if err := parseOption(d, &sc.OptionsConfig); err != nil {
				return nil, err
			}
		}
	}
	return sc, nil
}

// parseModule parses "<layer> <name> [{ … }]": the module named name in
// namespace unmarshals its own tokens.
func parseModule(d *cfile.Dispenser, namespace, key string, warnings *[]caddyconfig.Warning) (json.RawMessage, error) {
	layer := d.Val()
	if !d.NextArg() {
		return nil, d.Errf("%s needs a module name, e.g. %s memory", layer, layer)
	}
	name := d.Val()
	id := namespace + "." + name
	if _, err := caddy.GetModule(id); err != nil {
		return nil, d.Errf("%s: %v", layer, bento.UnknownModuleError(id))
	}
	unm, err := cfile.UnmarshalModule(d, id)
	if err != nil {
		return nil, err
	}
	return caddyconfig.JSONModuleObject(unm, key, name, warnings), nil
}

// parseOption parses one store option line into oc.
func parseOption(d *cfile.Dispenser, oc *bento.OptionsConfig) error {
	name := d.Val()
	if name == "bentocache_compat" { // a flag: "bentocache_compat [true|false]"
		on := true
		if d.NextArg() {
			var err error
			if on, err = strconv.ParseBool(d.Val()); err != nil {
				return d.Errf("%s: want true or false, or nothing, got %s", name, abridge.Quote(d.Val()))
			}
			if d.NextArg() {
				return d.Errf("%s takes at most one value, got more", name)
			}
		}
		oc.BentoCacheCompat = &on
		return nil
	}
	var arg string
	if !d.Args(&arg) {
		return d.Errf("%s needs a value", name)
	}
	if d.NextArg() {
		return d.Errf("%s takes one value, got more", name)
	}
	dur := func(dst **caddy.Duration) error {
		v, err := caddy.ParseDuration(arg)
		if err != nil {
			return d.Errf("%s: invalid duration %s: %s", name, abridge.Quote(arg), abridge.String(err.Error()))
		}
		if v < 0 {
			return d.Errf("%s: must not be negative, got %q", name, arg)
		}
		if v > 0 && v < time.Millisecond {
			return d.Errf("%s: %q is under 1ms, the finest timing bento keeps: use 0 or at least 1ms", name, arg)
		}
		cd := caddy.Duration(v)
		*dst = &cd
		return nil
	}
	switch name {
	case "ttl":
		return dur(&oc.TTL)
	case "grace":
		return dur(&oc.Grace)
	case "grace_backoff":
		return dur(&oc.GraceBackoff)
	case "timeout":
		return dur(&oc.Timeout)
	case "hard_timeout":
		return dur(&oc.HardTimeout)
	case "lock_timeout":
		return dur(&oc.LockTimeout)
	case "l2_circuit_breaker":
		return dur(&oc.L2CircuitBreaker)
	case "retry_interval":
		return dur(&oc.RetryInterval)
	case "max_clock_skew":
		return dur(&oc.MaxClockSkew)
	case "jitter":
		return dur(&oc.Jitter)
	case "eager_refresh":
		f, err := strconv.ParseFloat(arg, 64)
		if err != nil || !(f > 0 && f < 1) {
			return d.Errf("%s: want a fraction of the TTL between 0 and 1, such as 0.8, got %s", name, abridge.Quote(arg))
		}
		oc.EagerRefresh = &f
	case "l2_recovery_queue":
		n, err := strconv.Atoi(arg)
		if err != nil || n < 0 {
			return d.Errf("%s: want a whole number of changes, 0 for no recovery queue, got %s", name, abridge.Quote(arg))
		}
		oc.L2RecoveryQueue = &n
	case "prefix":
		if arg == `""` {
			arg = ""
		}
		oc.Prefix = &arg
	case "suppress_l2_errors":
		on, err := strconv.ParseBool(arg)
		if err != nil {
			return d.Errf("%s: want true or false, got %s", name, abridge.Quote(arg))
		}
		oc.SuppressL2Errors = &on
	case "bus_channel":
		oc.BusChannel = arg
	case "retry_queue_size":
		n, err := strconv.Atoi(arg)
		if err != nil {
			return d.Errf("%s: want a whole number, got %s", name, abridge.Quote(arg))
		}
		oc.RetryQueueSize = &n
		if err := oc.Validate(); err != nil {
			return d.Errf("%w", err)
		}
	default:
		return d.Errf("unknown store option %s", abridge.Quote(name))
	}
	return nil
}
