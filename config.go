package bento

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"reflect"
	"slices"
	"strings"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/dustin/go-humanize"
	"go.uber.org/zap"

	"github.com/bentocache/bento/internal/abridge"
)

// ManagerConfig is the JSON form of a manager: what [LoadJSON] reads and what
// the Caddy app "bento" holds under apps.bento.
//
//	{
//		"default": "main",
//		"defaults": {"ttl": "30m", "grace": "6h"},
//		"stores": {
//			"main": {
//				"ttl": "1h",
//				"l1": {"driver": "memory", "max_size": "64MiB"},
//				"l2": {"driver": "redis", "addrs": ["127.0.0.1:6379"]},
//				"bus": {"bus": "redis", "addrs": ["127.0.0.1:6379"]}
//			}
//		}
//	}
type ManagerConfig struct {
	// The store that Default and Namespace use. May be omitted when there is
	// exactly one store.
	Default string `json:"default,omitempty"`
	// Options every store inherits (a store's own options override them):
	// the fields of OptionsConfig.
	Defaults json.RawMessage `json:"defaults,omitempty"`
	// The stores, by name: each a StoreConfig.
	Stores map[string]json.RawMessage `json:"stores,omitempty"`
}

// StoreConfig is the JSON form of one store: its layers, as modules loaded by
// ID, and its options.
type StoreConfig struct {
	// The in-process layer: an L1 driver module, named by "driver" (module
	// bento.drivers.<driver>), e.g. {"driver": "memory", "max_items": 10000}.
	L1Raw json.RawMessage `json:"l1,omitempty" caddy:"namespace=bento.drivers inline_key=driver"`
	// The shared layer: an L2 driver module, e.g. {"driver": "redis"}.
	L2Raw json.RawMessage `json:"l2,omitempty" caddy:"namespace=bento.drivers inline_key=driver"`
	// The bus that keeps every instance's L1 coherent, named by "bus"
	// (module bento.buses.<bus>), e.g. {"bus": "redis"}.
	BusRaw json.RawMessage `json:"bus,omitempty" caddy:"namespace=bento.buses inline_key=bus"`
	// How entries are encoded for L2, named by "serializer" (module
	// bento.serializers.<serializer>). Default: json.
	SerializerRaw json.RawMessage `json:"serializer,omitempty" caddy:"namespace=bento.serializers inline_key=serializer"`

	OptionsConfig
}

// OptionsConfig is the JSON form of the store options (see [Option]). Absent
// fields keep the inherited value.
type OptionsConfig struct {
	// How long an entry stays fresh, e.g. "30m". "0" means forever. Default: 30m.
	TTL *caddy.Duration `json:"ttl,omitempty"`
	// How long an entry stays usable as stale after its TTL. Default: off.
	Grace *caddy.Duration `json:"grace,omitempty"`
	// After a factory failure, how long the stale value is served without
	// calling the factory again. "0" turns it off. Default: 10s.
	GraceBackoff *caddy.Duration `json:"grace_backoff,omitempty"`
	// The soft timeout: with a stale value, how long to wait for the factory
	// before returning the stale value. Default: 0 (at once).
	Timeout *caddy.Duration `json:"timeout,omitempty"`
	// How long to wait for a factory when no stale value exists. Default: none.
	HardTimeout *caddy.Duration `json:"hard_timeout,omitempty"`
	// How long to wait for another caller's factory. Default: none.
	LockTimeout *caddy.Duration `json:"lock_timeout,omitempty"`
	// Key prefix: keys are "prefix:namespace:key". Default: "bento".
	Prefix *string `json:"prefix,omitempty"`
	// Log L2 errors and go on with L1 and the factory instead of returning
	// them. Default: true when the store has an L1.
	SuppressL2Errors *bool `json:"suppress_l2_errors,omitempty"`
	// After an L2 failure, skip L2 for this long; "0" turns the breaker off.
	// Default: 2s.
	L2CircuitBreaker *caddy.Duration `json:"l2_circuit_breaker,omitempty"`
	// The store's bus channel (store only, not in "defaults").
	// Default: "bento.bus:<prefix>:<store name>".
	BusChannel string `json:"bus_channel,omitempty"`
	// Bound on bus messages waiting for a retry; past it the oldest is
	// dropped. 0: no bound; -1: no retry queue. Default: 0.
	RetryQueueSize *int `json:"retry_queue_size,omitempty"`
	// How often queued bus messages are retried. Default: 1s.
	RetryInterval *caddy.Duration `json:"retry_interval,omitempty"`
	// How far ahead of this instance's clock a time from another instance (a
	// bus message, an L2 tag record) may be; later ones count as now plus
	// this. Default: 5s.
	MaxClockSkew *caddy.Duration `json:"max_clock_skew,omitempty"`
	// Bound on failed L2 writes and deletes kept for replay once L2 answers
	// again; past it the oldest is dropped. 0: no replay. Default: 10000.
	L2RecoveryQueue *int `json:"l2_recovery_queue,omitempty"`
}

// Validate reports a value that no store accepts, naming its JSON field.
// Durations are checked where the options are applied (a negative TTL is an
// [ErrInvalidOption] of [New]).
func (oc *OptionsConfig) Validate() error {
	if n := oc.RetryQueueSize; n != nil && *n < -1 {
		return fmt.Errorf("field \"retry_queue_size\": %d is not a bound: want a number of messages, 0 for no bound or -1 for no retry queue", *n)
	}
	return nil
}

// options turns the JSON form into options, in a fixed order.
func (oc *OptionsConfig) options() []Option {
	var opts []Option
	dur := func(d *caddy.Duration, f func(time.Duration) Option) {
		if d != nil {
			opts = append(opts, f(time.Duration(*d)))
		}
	}
	dur(oc.TTL, TTL)
	dur(oc.Grace, Grace)
	dur(oc.GraceBackoff, GraceBackoff)
	dur(oc.Timeout, Timeout)
	dur(oc.HardTimeout, HardTimeout)
	dur(oc.LockTimeout, LockTimeout)
	dur(oc.L2CircuitBreaker, L2CircuitBreaker)
	dur(oc.MaxClockSkew, MaxClockSkew)
	if oc.L2RecoveryQueue != nil {
		opts = append(opts, L2RecoveryQueue(*oc.L2RecoveryQueue))
	}
	if oc.Prefix != nil {
		opts = append(opts, Prefix(*oc.Prefix))
	}
	if oc.SuppressL2Errors != nil {
		opts = append(opts, SuppressL2Errors(*oc.SuppressL2Errors))
	}
	if oc.BusChannel != "" {
		opts = append(opts, BusChannel(oc.BusChannel))
	}
	if oc.RetryQueueSize != nil || oc.RetryInterval != nil {
		size, interval := 0, time.Duration(0)
		if oc.RetryQueueSize != nil {
			size = *oc.RetryQueueSize
		}
		if oc.RetryInterval != nil {
			interval = time.Duration(*oc.RetryInterval)
		}
		opts = append(opts, RetryQueue(size, interval))
	}
	return opts
}

// Size is a number of bytes in configuration: a JSON number, or a string
// with a unit, "64MiB", "1GB", "512 KiB" (SI and IEC units).
type Size int64

// UnmarshalJSON reads a number of bytes or a string with a unit.
func (s *Size) UnmarshalJSON(b []byte) error {
	if len(b) > 0 && b[0] == '"' {
		var str string
		if err := json.Unmarshal(b, &str); err != nil {
			return err
		}
		v, err := ParseSize(str)
		if err != nil {
			return err
		}
		*s = v
		return nil
	}
	var n int64
	if err := json.Unmarshal(b, &n); err != nil {
		return fmt.Errorf("invalid size %s: want a whole number of bytes or a string such as \"64MiB\"", abridge.String(string(b)))
	}
	*s = Size(n)
	return nil
}

// ParseSize parses a size such as "64MiB", "1 GB" or "4096".
func ParseSize(s string) (Size, error) {
	n, err := humanize.ParseBytes(s)
	if err != nil || n > 1<<62 {
		return 0, fmt.Errorf("invalid size %s: want a number of bytes with an optional unit, such as \"64MiB\"", abridge.Quote(s))
	}
	return Size(n), nil
}

// LoadJSON builds a manager from its JSON form ([ManagerConfig]), loading
// every driver, bus and serializer by module ID; the modules must be
// compiled in (import modules/standard, or the module packages you use).
// {env.VAR} placeholders in string values are replaced. LoadJSON starts no
// server, writes no file and leaves the process-wide logger alone; the
// manager logs nowhere (use [Load] to give it a logger).
func LoadJSON(ctx context.Context, data []byte) (*Bento, error) {
	var mc ManagerConfig
	if err := decodeStrict(data, &mc); err != nil {
		return nil, fmt.Errorf("bento: config: %w", err)
	}
	cctx, cancel := caddy.NewContext(caddy.Context{Context: ctx})
	b, err := Load(cctx, &mc, nil)
	if err != nil {
		cancel()
		return nil, err
	}
	b.closers = append(b.closers, cancel)
	return b, nil
}

// Load builds a manager from mc inside a caddy context, which owns the
// modules it loads (their Cleanup runs when it is cancelled). The Caddy app
// and [LoadJSON] both use it. A nil logger logs nowhere.
func Load(cctx caddy.Context, mc *ManagerConfig, logger *zap.Logger) (*Bento, error) {
	cfg := Config{Default: mc.Default, Stores: make(map[string]*Store, len(mc.Stores)), Logger: logger}
	if logger != nil {
		cctx.Context = context.WithValue(cctx.Context, loggerKey{}, logger)
	}
	if len(mc.Defaults) > 0 {
		var oc OptionsConfig
		if err := decodeStrict(expand(mc.Defaults), &oc); err != nil {
			return nil, fmt.Errorf("bento: config: defaults: %w", err)
		}
		if err := oc.Validate(); err != nil {
			return nil, fmt.Errorf("bento: config: defaults: %w", err)
		}
		if oc.BusChannel != "" {
			return nil, errors.New("bento: config: defaults: field \"bus_channel\" applies to one store: set it in the store")
		}
		cfg.Options = oc.options()
	}
	for _, name := range slices.Sorted(maps.Keys(mc.Stores)) {
		st, err := loadStore(cctx, name, expand(mc.Stores[name]))
		if err != nil {
			return nil, fmt.Errorf("bento: config: store %q: %w", name, err)
		}
		cfg.Stores[name] = st
	}
	return New(cfg)
}

// storeNameKey carries the name of the store whose modules are loading;
// loggerKey the manager's logger.
type (
	storeNameKey struct{}
	loggerKey    struct{}
)

// ModuleLogger returns the logger for a module that [Load] is loading: the
// manager's logger (Caddy's inside the app), with the store's name; a logger
// that logs nowhere under [LoadJSON] or outside of Load.
func ModuleLogger(ctx context.Context) *zap.Logger {
	l, _ := ctx.Value(loggerKey{}).(*zap.Logger)
	if l == nil {
		return zap.NewNop()
	}
	if name := StoreName(ctx); name != "" {
		return l.With(zap.String("store", name))
	}
	return l
}

// StoreName returns the name of the store whose modules ctx is loading, ""
// outside of [Load]. Modules that pool resources across config reloads use
// it in their pool keys, so that two stores never share what is per store
// (an L1 cache's contents).
func StoreName(ctx context.Context) string {
	name, _ := ctx.Value(storeNameKey{}).(string)
	return name
}

func loadStore(cctx caddy.Context, name string, raw json.RawMessage) (*Store, error) {
	cctx.Context = context.WithValue(cctx.Context, storeNameKey{}, name)
	var sc StoreConfig
	if err := decodeStrict(raw, &sc); err != nil {
		return nil, err
	}
	if err := sc.Validate(); err != nil {
		return nil, err
	}
	st := NewStore(sc.options()...)
	layers := []struct {
		field, namespace, key string
		raw                   json.RawMessage
		use                   func(any) error
	}{
		{"l1", "bento.drivers", "driver", sc.L1Raw, func(v any) error {
			d, ok := v.(L1Driver)
			if !ok {
				return wrongLayer(v, "an L1 driver", "l1")
			}
			st.UseL1(d)
			return nil
		}},
		{"l2", "bento.drivers", "driver", sc.L2Raw, func(v any) error {
			d, ok := v.(L2Driver)
			if !ok {
				return wrongLayer(v, "an L2 driver", "l2")
			}
			st.UseL2(d)
			return nil
		}},
		{"bus", "bento.buses", "bus", sc.BusRaw, func(v any) error {
			d, ok := v.(Bus)
			if !ok {
				return wrongLayer(v, "a bus", "bus")
			}
			st.UseBus(d)
			return nil
		}},
		{"serializer", "bento.serializers", "serializer", sc.SerializerRaw, func(v any) error {
			d, ok := v.(Serializer)
			if !ok {
				return wrongLayer(v, "a serializer", "serializer")
			}
			st.UseSerializer(d)
			return nil
		}},
	}
	for _, l := range layers {
		if len(l.raw) == 0 {
			continue
		}
		v, err := loadModule(cctx, l.namespace, l.key, l.raw)
		if err != nil {
			return nil, fmt.Errorf("field %q: %w", l.field, err)
		}
		if err := l.use(v); err != nil {
			return nil, fmt.Errorf("field %q: %w", l.field, err)
		}
	}
	return st, nil
}

// wrongLayer explains a module put in a layer it does not serve.
func wrongLayer(v any, want, field string) error {
	var serves []string
	if _, ok := v.(L1Driver); ok {
		serves = append(serves, "l1")
	}
	if _, ok := v.(L2Driver); ok {
		serves = append(serves, "l2")
	}
	if _, ok := v.(Bus); ok {
		serves = append(serves, "bus")
	}
	if _, ok := v.(Serializer); ok {
		serves = append(serves, "serializer")
	}
	id := caddy.GetModuleID(v)
	if len(serves) == 0 {
		return fmt.Errorf("module %q is not %s", id, want)
	}
	return fmt.Errorf("module %q is not %s: it serves %s, not %s", id, want, strings.Join(serves, " and "), field)
}

// loadModule loads the module that raw names under key, in namespace.
func loadModule(cctx caddy.Context, namespace, key string, raw json.RawMessage) (any, error) {
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(raw, &fields); err != nil {
		return nil, fmt.Errorf("want an object such as {%q: \"<name>\", …}: %w", key, err)
	}
	var name string
	if err := json.Unmarshal(fields[key], &name); err != nil || name == "" {
		return nil, fmt.Errorf("missing %q: the name of a %s module, such as {%q: %q}", key, namespace, key, exampleModule[namespace])
	}
	id := namespace + "." + name
	if _, err := caddy.GetModule(id); err != nil {
		return nil, unknownModule(id)
	}
	delete(fields, key)
	rest, err := json.Marshal(fields)
	if err != nil {
		return nil, err
	}
	v, err := cctx.LoadModuleByID(id, rest)
	if err != nil {
		return nil, fmt.Errorf("module %q: %w", id, err)
	}
	return v, nil
}

var exampleModule = map[string]string{
	"bento.drivers":     "memory",
	"bento.buses":       "redis",
	"bento.serializers": "msgpack",
}

// builtinPackages maps bento's own module IDs to the packages that register
// them, for the hint of unknownModule.
var builtinPackages = map[string]string{
	"bento.drivers.memory":      "github.com/bentocache/bento/modules/drivers/memory",
	"bento.drivers.redis":       "github.com/bentocache/bento/modules/drivers/redis",
	"bento.drivers.file":        "github.com/bentocache/bento/modules/drivers/file",
	"bento.drivers.database":    "github.com/bentocache/bento/modules/drivers/database",
	"bento.adapters.postgres":   "github.com/bentocache/bento/modules/adapters/postgres",
	"bento.adapters.mysql":      "github.com/bentocache/bento/modules/adapters/mysql",
	"bento.adapters.sqlite":     "github.com/bentocache/bento/modules/adapters/sqlite",
	"bento.buses.memory":        "github.com/bentocache/bento/modules/buses/memory",
	"bento.buses.redis":         "github.com/bentocache/bento/modules/buses/redis",
	"bento.buses.postgres":      "github.com/bentocache/bento/modules/buses/postgres",
	"bento.serializers.json":    "github.com/bentocache/bento/modules/serializers/json",
	"bento.serializers.msgpack": "github.com/bentocache/bento/modules/serializers/msgpack",
}

// ErrUnknownModule is wrapped by the error for a module ID that is not
// compiled into the program.
var ErrUnknownModule = errors.New("bento: unknown module")

// UnknownModuleError is the error for a module ID that is not compiled in:
// it wraps [ErrUnknownModule] and shows the xbento line (and, for bento's
// own modules, the import) that would add it. Modules that load
// sub-modules use it too.
func UnknownModuleError(id string) error { return unknownModule(id) }

func unknownModule(id string) error {
	pkg, builtin := builtinPackages[id]
	if builtin {
		return fmt.Errorf("%w %q: it is not compiled in; import _ %q, or build a binary that has it with: xbento build --with %s",
			ErrUnknownModule, id, pkg, pkg)
	}
	return fmt.Errorf("%w %q: it is not compiled in; build a binary that has it with: xbento build --with <the Go module that registers %s>",
		ErrUnknownModule, id, id)
}

// UnmarshalStrict decodes the JSON object data into the struct v field by
// field, as bento decodes its own config: an error names the field it is
// about (field "max_size": invalid size "-1KiB": …), and an unknown field is
// an error that lists the known ones. A module calls it from its
// UnmarshalJSON, on a type without that method, so that the errors of its
// field types (a [Size]) say which field was wrong.
func UnmarshalStrict(data []byte, v any) error { return decodeStrict(data, v) }

// decodeStrict decodes a JSON object into the struct v field by field, so
// that an error names its field, and rejects unknown fields.
func decodeStrict(data []byte, v any) error {
	var fields map[string]json.RawMessage
	dec := json.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&fields); err != nil {
		return fmt.Errorf("want a JSON object: %w", err)
	}
	known := jsonFields(reflect.ValueOf(v).Elem())
	for name, raw := range fields {
		f, ok := known[name]
		if !ok {
			return fmt.Errorf("unknown field %q (known: %s)", name, strings.Join(slices.Sorted(maps.Keys(known)), ", "))
		}
		if err := json.Unmarshal(raw, f.Addr().Interface()); err != nil {
			return fmt.Errorf("field %q: %w", name, err)
		}
	}
	return nil
}

// jsonFields maps the JSON names of a struct's fields, embedded structs
// included, to the fields.
func jsonFields(v reflect.Value) map[string]reflect.Value {
	out := make(map[string]reflect.Value)
	t := v.Type()
	for i := range t.NumField() {
		sf := t.Field(i)
		if sf.Anonymous && sf.Type.Kind() == reflect.Struct {
			for k, f := range jsonFields(v.Field(i)) {
				out[k] = f
			}
			continue
		}
		name, _, _ := strings.Cut(sf.Tag.Get("json"), ",")
		if name == "" || name == "-" || !sf.IsExported() {
			continue
		}
		out[name] = v.Field(i)
	}
	return out
}

// expand replaces {env.VAR} (and the other global placeholders caddy knows)
// in every string value of raw.
func expand(raw json.RawMessage) json.RawMessage {
	if !bytes.Contains(raw, []byte("{")) {
		return raw
	}
	var v any
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	if err := dec.Decode(&v); err != nil {
		return raw // reported by the decoding that follows
	}
	repl := caddy.NewReplacer()
	var walk func(any) any
	walk = func(x any) any {
		switch t := x.(type) {
		case string:
			return repl.ReplaceKnown(t, "")
		case map[string]any:
			for k, e := range t {
				t[k] = walk(e)
			}
		case []any:
			for i, e := range t {
				t[i] = walk(e)
			}
		}
		return x
	}
	out, err := json.Marshal(walk(v))
	if err != nil {
		return raw
	}
	return out
}
