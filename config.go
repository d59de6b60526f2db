package bento

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"reflect"
	"slices"
	"strings"
	"time"

	"github.com/agnivade/levenshtein"
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
	// A cluster-wide lock, so that one factory runs per key across
	// instances, named by "locker" (module bento.lockers.<locker>), e.g.
	// {"locker": "redis"}. Needs an L2. Default: none.
	LockerRaw json.RawMessage `json:"locker,omitempty" caddy:"namespace=bento.lockers inline_key=locker"`
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
	// Refresh an entry in the background once a GetOrSet hit finds it older
	// than this fraction of its TTL, between 0 and 1 (0.8: after 80%).
	// Default: off.
	EagerRefresh *float64 `json:"eager_refresh,omitempty"`
	// The largest random extra added to each written TTL, so that keys
	// written together do not expire together. Default: off.
	Jitter *caddy.Duration `json:"jitter,omitempty"`
	// Speak BentoCache's bus format on BentoCache's channel
	// ("bentocache.notifications:<store name>"), so that bento and
	// BentoCache services share one L2 and one Redis bus. Default: false.
	BentoCacheCompat *bool `json:"bentocache_compat,omitempty"`
}

// Validate reports a value that no store accepts, naming its JSON field.
// Durations are checked where the options are applied (a negative TTL is an
// [ErrInvalidOption] of [New]).
func (oc *OptionsConfig) Validate() error {
	if n := oc.RetryQueueSize; n != nil && *n < -1 {
		return fmt.Errorf("retry_queue_size: %d is not a bound: want a number of messages, 0 for no bound or -1 for no retry queue", *n)
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
	dur(oc.Jitter, Jitter)
	if oc.L2RecoveryQueue != nil {
		opts = append(opts, L2RecoveryQueue(*oc.L2RecoveryQueue))
	}
	if oc.EagerRefresh != nil {
		opts = append(opts, EagerRefresh(*oc.EagerRefresh))
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
	if oc.BentoCacheCompat != nil && *oc.BentoCacheCompat {
		opts = append(opts, BentoCacheCompat())
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
	if err := decodeStrict("", data, &mc); err != nil {
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
// and [LoadJSON] both use it. A nil logger logs nowhere. A config error
// names the JSON path of what was wrong, such as stores.main.l1.
func Load(cctx caddy.Context, mc *ManagerConfig, logger *zap.Logger) (*Bento, error) {
	b, err := load(cctx, mc, logger, "", nil)
	if err != nil {
		return nil, fmt.Errorf("bento: %w", err)
	}
	return b, nil
}

// load is [Load] with config paths under root ("apps.bento" in the app)
// and errors without the "bento: " prefix, for callers that add their own.
func load(cctx caddy.Context, mc *ManagerConfig, logger *zap.Logger, root string, stats func(string) *storeStats) (*Bento, error) {
	cfg := Config{Default: mc.Default, Stores: make(map[string]*Store, len(mc.Stores)), Logger: logger, statsFor: stats}
	if logger != nil {
		cctx.Context = context.WithValue(cctx.Context, loggerKey{}, logger)
	}
	if len(mc.Defaults) > 0 {
		at := jsonPath(root, "defaults")
		var oc OptionsConfig
		if err := decodeStrict(at, expand(mc.Defaults), &oc); err != nil {
			return nil, fmt.Errorf("config: %w", err)
		}
		if err := oc.Validate(); err != nil {
			return nil, fmt.Errorf("config: %s.%w", at, err)
		}
		if oc.BusChannel != "" {
			return nil, fmt.Errorf("config: %s: \"bus_channel\" applies to one store: set it in the store", at)
		}
		cfg.Options = oc.options()
	}
	for _, name := range slices.Sorted(maps.Keys(mc.Stores)) {
		st, err := loadStore(cctx, jsonPath(jsonPath(root, "stores"), name), name, expand(mc.Stores[name]))
		if err != nil {
			return nil, fmt.Errorf("config: %w", err)
		}
		cfg.Stores[name] = st
	}
	b, err := New(cfg)
	if err != nil {
		return nil, unprefixed{err}
	}
	return b, nil
}

// unprefixed is an error of [New] without its "bento: " prefix, for a
// caller that adds the prefix itself (so that it is said once).
type unprefixed struct{ err error }

func (e unprefixed) Error() string { return strings.TrimPrefix(e.err.Error(), "bento: ") }
func (e unprefixed) Unwrap() error { return e.err }

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

// loadStore builds the store called name, at path at of the config, from
// its JSON.
func loadStore(cctx caddy.Context, at, name string, raw json.RawMessage) (*Store, error) {
	cctx.Context = context.WithValue(cctx.Context, storeNameKey{}, name)
	var sc StoreConfig
	if err := decodeStrict(at, raw, &sc); err != nil {
		return nil, err
	}
	if err := sc.Validate(); err != nil {
		return nil, fmt.Errorf("%s.%w", at, err)
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
		{"locker", "bento.lockers", "locker", sc.LockerRaw, func(v any) error {
			l, ok := v.(Locker)
			if !ok {
				return wrongLayer(v, "a locker", "locker")
			}
			st.UseLocker(l)
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
		lat := jsonPath(at, l.field)
		v, err := loadModule(cctx, lat, l.namespace, l.key, l.raw)
		if err != nil {
			return nil, err
		}
		if err := l.use(v); err != nil {
			return nil, fmt.Errorf("%s: %w", lat, err)
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

// loadModule loads the module that raw, at path at of the config, names
// under key, in namespace. It checks the module's fields itself before
// caddy decodes them, so that an unknown field lists the known ones and a
// duration given as a bare number of nanoseconds is caught.
func loadModule(cctx caddy.Context, at, namespace, key string, raw json.RawMessage) (any, error) {
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(raw, &fields); err != nil {
		return nil, fmt.Errorf("%s: want an object such as {%q: %q, …}: %w", at, key, exampleModule[namespace], jsonError(err))
	}
	var name string
	if err := json.Unmarshal(fields[key], &name); err != nil || name == "" {
		return nil, fmt.Errorf("%s: missing %q: the name of a %s module, such as {%q: %q}", at, key, namespace, key, exampleModule[namespace])
	}
	if strings.Contains(name, "{") {
		return nil, fmt.Errorf("%s.%s: module name %s holds a placeholder; write the name out, such as %q", at, key, abridge.Quote(name), exampleModule[namespace])
	}
	id := namespace + "." + name
	info, err := caddy.GetModule(id)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", at, unknownModule(id))
	}
	delete(fields, key)
	if err := checkFields(at, fmt.Sprintf("module %q: ", id), info.New(), fields); err != nil {
		return nil, err
	}
	rest, err := json.Marshal(fields)
	if err != nil {
		return nil, err
	}
	v, err := cctx.LoadModuleByID(id, rest)
	if err != nil {
		return nil, fmt.Errorf("%s: module %q: %s", at, id, caddyModuleError(id, err))
	}
	return v, nil
}

// caddyModuleError is the message of err, from caddy's LoadModuleByID for
// module id, without the prefixes that repeat the module ID (caddy flattens
// the error to text, so nothing is lost).
func caddyModuleError(id string, err error) string {
	msg := err.Error()
	for _, p := range []string{"decoding module config: " + id + ": ", "provision " + id + ": ", id + ": invalid configuration: "} {
		if rest, ok := strings.CutPrefix(msg, p); ok {
			msg = rest
			break
		}
	}
	return strings.TrimPrefix(msg, "json: ")
}

// moduleKeys are the inline keys that name a module.
var moduleKeys = map[string]bool{"driver": true, "bus": true, "serializer": true, "adapter": true}

var exampleModule = map[string]string{
	"bento.drivers":     "memory",
	"bento.buses":       "redis",
	"bento.serializers": "msgpack",
	"bento.adapters":    "sqlite",
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
	"bento.buses.nats":          "github.com/bentocache/bento/modules/buses/nats",
	"bento.drivers.natskv":      "github.com/bentocache/bento/modules/drivers/natskv",
	"bento.drivers.dynamodb":    "github.com/bentocache/bento/modules/drivers/dynamodb",
	"bento.lockers.redis":       "github.com/bentocache/bento/modules/lockers/redis",
	"bento.lockers.postgres":    "github.com/bentocache/bento/modules/lockers/postgres",
	"bento.serializers.json":    "github.com/bentocache/bento/modules/serializers/json",
	"bento.serializers.msgpack": "github.com/bentocache/bento/modules/serializers/msgpack",
}

// ErrUnknownModule is wrapped by the error for a module ID that is not
// compiled into the program.
var ErrUnknownModule = errors.New("bento: unknown module")

// UnknownModuleError is the error for a module ID that is not compiled in.
// It matches [ErrUnknownModule]; its message (written to sit inside a
// config error, so without a "bento: " prefix) suggests a known ID of the
// same namespace within a small edit distance (did you mean "memory"?),
// lists the IDs compiled in, and for an ID that no known one is close to
// (plausibly a third-party module) shows the xbento line that would add it.
// Modules that load sub-modules use it too.
func UnknownModuleError(id string) error { return unknownModule(id) }

// moduleError is the error of [UnknownModuleError].
type moduleError struct{ msg string }

func (e *moduleError) Error() string        { return e.msg }
func (e *moduleError) Is(target error) bool { return target == ErrUnknownModule }

func unknownModule(id string) error {
	namespace, name := id, ""
	if i := strings.LastIndexByte(id, '.'); i >= 0 {
		namespace, name = id[:i], id[i+1:]
	}
	var compiled []string
	for _, m := range caddy.GetModules(namespace) {
		compiled = append(compiled, m.ID.Name())
	}
	known := fmt.Sprintf("%s modules compiled in: %s", namespace, orNone(compiled))
	msg := "unknown module " + abridge.Quote(id)
	if pkg, builtin := builtinPackages[id]; builtin {
		return &moduleError{fmt.Sprintf("%s: it is not compiled in (%s); import _ %q, or build a binary that has it with: xbento build --with %s",
			msg, known, pkg, pkg)}
	}
	candidates := slices.Clone(compiled)
	for bid := range builtinPackages {
		if ns, n, _ := strings.Cut(bid, namespace+"."); ns == "" && n != "" && !strings.Contains(n, ".") {
			candidates = append(candidates, n)
		}
	}
	if near := closest(name, candidates); near != "" {
		return &moduleError{fmt.Sprintf("%s: did you mean %q? (%s)", msg, near, known)}
	}
	return &moduleError{fmt.Sprintf("%s: it is not compiled in (%s); if a third-party module provides it, build a binary that has it with: xbento build --with <the Go module that registers it>",
		msg, known)}
}

// orNone joins names, sorted, or says "none".
func orNone(names []string) string {
	if len(names) == 0 {
		return "none"
	}
	return strings.Join(slices.Sorted(slices.Values(names)), ", ")
}

// closest returns the candidate nearest to s by edit distance, if it is
// near enough to be a typo of it (at most 2 edits, and fewer than half of
// s), else "".
func closest(s string, candidates []string) string {
	if len(s) > 64 {
		return ""
	}
	best, bestDist := "", 3
	for _, c := range slices.Sorted(slices.Values(candidates)) {
		d := levenshtein.ComputeDistance(strings.ToLower(s), c)
		if d < bestDist && 2*d < max(len(s), len(c)) {
			best, bestDist = c, d
		}
	}
	return best
}

// jsonPath is the path of key inside the object at path at, as written in
// a jq filter: stores.main.l1, or stores["a.b"] for a key that is not a
// plain name.
func jsonPath(at, key string) string {
	plain := key != "" && len(key) <= 64 && strings.IndexFunc(key, func(r rune) bool {
		return !(r == '_' || r == '-' || r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z')
	}) < 0
	if at == moduleLevel {
		at = ""
	}
	switch {
	case !plain:
		return at + "[" + abridge.Quote(key) + "]"
	case at == "":
		return key
	default:
		return at + "." + key
	}
}

// UnmarshalStrict decodes the JSON object data into the struct v field by
// field, as bento decodes its own config: an error names the field it is
// about (max_size: invalid size "-1KiB": …), and an unknown field is an
// error that lists the known ones. A module calls it from its
// UnmarshalJSON, on a type without that method, so that the errors of its
// field types (a [Size]) say which field was wrong.
func UnmarshalStrict(data []byte, v any) error { return decodeStrict(moduleLevel, data, v) }

// moduleLevel is the path of a module's own JSON object in decodeStrict: its
// errors name the field alone, inside the error that names the module.
const moduleLevel = "\x00module"

// decodeStrict decodes a JSON object, at path at of the config, into the
// struct v field by field, so that an error names its field, and rejects
// unknown fields.
func decodeStrict(at string, data []byte, v any) error {
	var fields map[string]json.RawMessage
	dec := json.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&fields); err != nil {
		return fmt.Errorf("%swant a JSON object: %w", where(at), jsonError(err))
	}
	if err := checkFields(at, "", v, fields); err != nil {
		return err
	}
	known := jsonFields(reflect.ValueOf(v).Elem())
	for name, raw := range fields {
		if err := json.Unmarshal(raw, known[name].Addr().Interface()); err != nil {
			return fmt.Errorf("%s: %w", jsonPath(at, name), jsonError(err))
		}
	}
	return nil
}

// where starts an error about the object at path at: "at: ", naming the
// config's top level when at is empty, and nothing inside a module's own
// object (its error names the module already).
func where(at string) string {
	switch at {
	case "":
		return "top level: "
	case moduleLevel:
		return ""
	}
	return at + ": "
}

// checkFields checks the JSON fields meant for v (a pointer to a struct,
// such as a new module value), at path at of the config: each must be one
// of v's, and a duration must be a valid one of at least a millisecond. A
// v that decodes its own JSON is not checked.
func checkFields(at, what string, v any, fields map[string]json.RawMessage) error {
	rv := reflect.ValueOf(v)
	if _, custom := v.(json.Unmarshaler); custom || rv.Kind() != reflect.Pointer || rv.Elem().Kind() != reflect.Struct {
		return nil
	}
	known := jsonFields(rv.Elem())
	for _, name := range slices.Sorted(maps.Keys(fields)) {
		f, ok := known[name]
		if !ok {
			names := slices.Sorted(maps.Keys(known))
			hint := ""
			if near := closest(name, names); near != "" {
				hint = fmt.Sprintf(" did you mean %q?", near)
			}
			return fmt.Errorf("%s%sunknown field %s;%s known fields: %s", where(at), what, abridge.Quote(name), hint, orNone(names))
		}
		if f.Type() == durationType || f.Type() == reflect.PointerTo(durationType) {
			// A module's Validate judges its negative durations (some mean "off").
			if err := checkDuration(fields[name], what != ""); err != nil {
				return fmt.Errorf("%s: %s%w", jsonPath(at, name), what, err)
			}
		}
	}
	return nil
}

var durationType = reflect.TypeFor[caddy.Duration]()

// checkDuration checks a duration in config: a string caddy parses ("30s",
// "1h30m", "2d"), or a bare number, which counts nanoseconds (caddy's
// convention). Neither may be negative unless negativeOK, nor under a
// millisecond unless it is 0: no bento timing is that fine, and a bare
// number that small is almost always meant as seconds ({"ttl": 600} would
// be 600ns, so every entry would be gone at once).
func checkDuration(raw json.RawMessage, negativeOK bool) error {
	var s string
	if err := json.Unmarshal(raw, &s); err == nil {
		d, err := caddy.ParseDuration(s)
		switch {
		case err != nil:
			return fmt.Errorf("invalid duration %s: want a number and a unit, such as \"30s\", \"10m\" or \"6h\"", abridge.Quote(s))
		case d < 0 && !negativeOK:
			return fmt.Errorf("must not be negative, got %s", abridge.Quote(s))
		case d > 0 && d < time.Millisecond:
			return fmt.Errorf("%s is under 1ms, the finest timing bento keeps: use 0 or at least \"1ms\"", abridge.Quote(s))
		}
		return nil
	}
	var n json.Number
	if err := json.Unmarshal(raw, &n); err != nil {
		return fmt.Errorf("want a duration such as \"30s\", got %s", jsonKind(raw))
	}
	ns, err := n.Int64()
	switch {
	case err != nil:
		return fmt.Errorf("invalid duration %s: a bare number counts whole nanoseconds; write a string such as \"30s\"", abridge.Quote(n.String()))
	case ns < 0 && !negativeOK:
		return fmt.Errorf("must not be negative, got %s", n)
	case ns > 0 && ns < int64(time.Millisecond):
		return fmt.Errorf("%s is %s, under 1ms: a bare number counts nanoseconds; write the unit, such as \"%ss\" for %s seconds",
			n, time.Duration(ns), n, n)
	}
	return nil
}

// jsonError rewrites the errors of encoding/json in the words of a config
// file: "want a string, got a number" rather than Go type names.
func jsonError(err error) error {
	if te, ok := errors.AsType[*json.UnmarshalTypeError](err); ok {
		return fmt.Errorf("want %s, got %s", goKind(te.Type), article(te.Value))
	}
	if se, ok := errors.AsType[*json.SyntaxError](err); ok {
		return fmt.Errorf("invalid JSON at byte %d: %s", se.Offset, strings.TrimPrefix(se.Error(), "json: "))
	}
	if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) {
		return errors.New("the JSON ends too early")
	}
	return err
}

// goKind describes what a Go type takes in JSON.
func goKind(t reflect.Type) string {
	if t == durationType {
		return "a duration such as \"30s\""
	}
	switch t.Kind() {
	case reflect.String:
		return "a string"
	case reflect.Bool:
		return "true or false"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "a whole number"
	case reflect.Float32, reflect.Float64:
		return "a number"
	case reflect.Slice, reflect.Array:
		return "an array"
	case reflect.Map, reflect.Struct:
		return "an object"
	}
	return "a " + t.String()
}

// jsonKind names the kind of a JSON value, with its article.
func jsonKind(raw json.RawMessage) string {
	switch b := bytes.TrimSpace(raw); {
	case len(b) == 0:
		return "nothing"
	case b[0] == '"':
		return "a string"
	case b[0] == '{':
		return "an object"
	case b[0] == '[':
		return "an array"
	case b[0] == 't' || b[0] == 'f':
		return "a bool"
	case b[0] == 'n':
		return "null"
	}
	return "a number"
}

// article puts "a" or "an" before a JSON kind as encoding/json names it.
func article(kind string) string {
	switch {
	case kind == "null":
		return kind
	case strings.HasPrefix(kind, "number "):
		return "the number " + strings.TrimPrefix(kind, "number ")
	case strings.IndexByte("aeiou", kind[0]) >= 0:
		return "an " + kind
	}
	return "a " + kind
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
// in every string value of raw, except module names (the values of
// "driver", "bus", "serializer" and "adapter"): a module name is written
// out, and one that reads a placeholder such as {file./etc/secret} must
// not put what it read into the error that rejects it.
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
				if _, name := e.(string); name && moduleKeys[k] {
					continue
				}
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
