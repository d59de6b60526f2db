package bento

import (
	"math"
	"slices"
	"time"
)

// Defaults of BEHAVIOUR.md, used where neither the manager, the store nor the
// call says otherwise.
const (
	DefaultTTL          = 30 * time.Minute
	DefaultGraceBackoff = 10 * time.Second
	DefaultPrefix       = "bento"
	// DefaultL2CircuitBreaker is how long L2 is skipped after a failure.
	DefaultL2CircuitBreaker = 2 * time.Second
	// DefaultMaxClockSkew bounds how far ahead of this instance's clock a
	// time from another instance (a bus message, a tag record) may be.
	DefaultMaxClockSkew = 5 * time.Second
	// DefaultL2RecoveryQueue bounds the failed L2 writes a store keeps for
	// replay.
	DefaultL2RecoveryQueue = 10_000
)

// An Option tunes a manager ([Config.Options]), a store ([NewStore]), one call
// (GetOrSet, Set, …) or a factory's write ([FactoryContext.SetOptions]).
// Options given later win: call > store > manager. The zero Option changes
// nothing.
//
// An Option is plain data, not a closure: building one and passing it to a
// call allocates nothing, so a GetOrSet with options that hits L1 stays free
// of allocations.
type Option struct {
	kind  optionKind
	d     time.Duration
	n     int
	on    bool
	s     string
	f     float64
	tags  []string
	onErr func(*FactoryError)
}

type optionKind uint8

const (
	optNone optionKind = iota
	optTTL
	optGrace
	optGraceBackoff
	optTimeout
	optHardTimeout
	optLockTimeout
	optTags
	optForceFresh
	optSkipL2Write
	optSkipBusNotify
	optSuppressL2
	optOnFactoryError
	optEagerRefresh
	optJitter
	// store scope
	optBreaker
	optPrefix
	optBusChannel
	optRetryQueue
	optClockSkew
	optL2Recovery
	optCompat
)

// optionNames are the names errors give the options.
var optionNames = [...]string{
	optNone:           "",
	optTTL:            "TTL",
	optGrace:          "Grace",
	optGraceBackoff:   "GraceBackoff",
	optTimeout:        "Timeout",
	optHardTimeout:    "HardTimeout",
	optLockTimeout:    "LockTimeout",
	optTags:           "Tags",
	optForceFresh:     "ForceFresh",
	optSkipL2Write:    "SkipL2Write",
	optSkipBusNotify:  "SkipBusNotify",
	optSuppressL2:     "SuppressL2Errors",
	optOnFactoryError: "OnFactoryError",
	optEagerRefresh:   "EagerRefresh",
	optJitter:         "Jitter",
	optBreaker:        "L2CircuitBreaker",
	optPrefix:         "Prefix",
	optBusChannel:     "BusChannel",
	optRetryQueue:     "RetryQueue",
	optClockSkew:      "MaxClockSkew",
	optL2Recovery:     "L2RecoveryQueue",
	optCompat:         "BentoCacheCompat",
}

// apply sets opt in o; an invalid value records o's first error instead.
func (opt Option) apply(o *options) {
	name := optionNames[opt.kind]
	if opt.kind >= optBreaker {
		o.storeScoped = name
	}
	switch opt.kind {
	case optTTL, optGrace, optGraceBackoff, optTimeout, optHardTimeout, optLockTimeout, optBreaker, optClockSkew, optJitter:
		if opt.d < 0 {
			o.fail(invalidOption("option %s must not be negative, got %s", name, opt.d))
			return
		}
	}
	switch opt.kind {
	case optTTL:
		o.ttl = opt.d
	case optGrace:
		o.grace = opt.d
	case optGraceBackoff:
		o.graceBackoff = opt.d
	case optTimeout:
		o.timeout = opt.d
	case optHardTimeout:
		o.hardTimeout = opt.d
	case optLockTimeout:
		o.lockTimeout = opt.d
	case optTags:
		for _, t := range opt.tags {
			if t == "" {
				o.fail(invalidOption("option Tags: empty tag"))
				return
			}
		}
		o.tags = append(o.tags, opt.tags...)
	case optForceFresh:
		o.forceFresh = true
	case optSkipL2Write:
		o.skipL2Write = true
	case optSkipBusNotify:
		o.skipBusNotify = true
	case optSuppressL2:
		o.suppressL2, o.suppressL2Set = opt.on, true
	case optOnFactoryError:
		o.onFactoryError = opt.onErr
	case optEagerRefresh:
		if !(opt.f > 0 && opt.f < 1) {
			o.fail(invalidOption("option EagerRefresh: the threshold must be between 0 and 1 (a fraction of the TTL), got %v", opt.f))
			return
		}
		o.eagerRefresh = opt.f
	case optJitter:
		o.jitter = opt.d
	case optBreaker:
		o.breaker = opt.d
	case optPrefix:
		o.prefix = opt.s
	case optBusChannel:
		o.channelSet = true
		if opt.s == "" {
			o.fail(invalidOption("option BusChannel: empty channel name"))
			return
		}
		o.busChannel = opt.s
	case optRetryQueue:
		if opt.d < 0 {
			o.fail(invalidOption("option RetryQueue: interval must not be negative, got %s", opt.d))
			return
		}
		o.retryQueueSize = opt.n
		if opt.d > 0 {
			o.retryInterval = opt.d
		}
	case optClockSkew:
		o.clockSkew = opt.d
	case optL2Recovery:
		if opt.n < 0 {
			o.fail(invalidOption("option L2RecoveryQueue must not be negative, got %d", opt.n))
			return
		}
		o.recoveryQueue = opt.n
	case optCompat:
		o.compat = true
	}
}

// options is the resolved set; the zero value is never used directly (see
// defaultOptions).
type options struct {
	ttl            time.Duration // 0: forever
	grace          time.Duration // 0: off
	graceBackoff   time.Duration
	timeout        time.Duration // soft timeout
	hardTimeout    time.Duration // 0: none
	lockTimeout    time.Duration // 0: none
	tags           []string
	forceFresh     bool
	skipL2Write    bool
	skipBusNotify  bool
	suppressL2     bool // with suppressL2Set; unset: on when the store has an L1
	suppressL2Set  bool
	onFactoryError func(*FactoryError)
	eagerRefresh   float64       // 0: off; else the fraction of the TTL after which a hit refreshes
	jitter         time.Duration // the largest random extra added to a written TTL

	// store scope
	prefix         string
	breaker        time.Duration // 0: no circuit breaker
	busChannel     string        // "": "bento.bus:<prefix>:<store>"
	channelSet     bool          // BusChannel was applied (a manager-scope error)
	retryQueueSize int           // 0: unbounded; < 0: no retry queue
	retryInterval  time.Duration
	clockSkew      time.Duration
	recoveryQueue  int  // 0: no recovery queue
	compat         bool // BentoCache's bus format and channel

	err         error  // the first invalid option
	storeScoped string // the last store-scope option applied, for call-level checks
}

func defaultOptions() options {
	return options{
		ttl:           DefaultTTL,
		graceBackoff:  DefaultGraceBackoff,
		prefix:        DefaultPrefix,
		retryInterval: time.Second,
		breaker:       DefaultL2CircuitBreaker,
		clockSkew:     DefaultMaxClockSkew,
		recoveryQueue: DefaultL2RecoveryQueue,
	}
}

// with returns a copy of o with opts applied, or o itself when there are none.
func (o *options) with(opts []Option) *options {
	if len(opts) == 0 {
		return o
	}
	return o.withInto(new(options), opts)
}

// withInto is with that builds the copy in dst, which the caller provides so
// that the hot path can keep it on its stack.
func (o *options) withInto(dst *options, opts []Option) *options {
	if len(opts) == 0 {
		return o
	}
	*dst = *o
	dst.tags = slices.Clip(dst.tags) // appends by Tags must not reach o's array
	dst.storeScoped = ""
	for _, opt := range opts {
		opt.apply(dst)
	}
	return dst
}

// forCall is with for one call: store-scope options are an error there.
func (o *options) forCall(opts []Option) *options {
	if len(opts) == 0 {
		return o
	}
	return o.forCallInto(new(options), opts)
}

// forCallInto is forCall building into dst, as withInto.
func (o *options) forCallInto(dst *options, opts []Option) *options {
	c := o.withInto(dst, opts)
	if c != o && c.storeScoped != "" {
		c.fail(invalidOption("option %s is a store option, not a per-call one", c.storeScoped))
	}
	return c
}

// clone returns a copy of o that may outlive the caller's stack.
func (o *options) clone() *options {
	c := *o
	return &c
}

// physicalTTL is what drivers are handed: ttl + grace (saturated at the
// largest Duration), or 0 (never) for a forever entry. BentoCache hands
// grace alone; see BEHAVIOUR.md.
func (o *options) physicalTTL() time.Duration {
	if o.ttl <= 0 {
		return 0
	}
	return max(addSaturated(o.ttl, o.grace), time.Millisecond) // the logical expiry's resolution
}

// addSaturated returns a + b for non-negative durations, or the largest
// Duration when the sum would overflow.
func addSaturated(a, b time.Duration) time.Duration {
	if a > math.MaxInt64-b {
		return math.MaxInt64
	}
	return a + b
}

// millis returns ms milliseconds as a Duration, saturated at the largest one.
func millis(ms int64) time.Duration {
	if ms > int64(math.MaxInt64/time.Millisecond) {
		return math.MaxInt64
	}
	return time.Duration(ms) * time.Millisecond
}

// staleTTL is how long an entry made stale by Expire stays usable: the
// grace, at least 1ms; 0 without grace.
func (o *options) staleTTL() time.Duration {
	if o.grace <= 0 {
		return 0
	}
	return max(o.grace, time.Millisecond)
}

func (o *options) fail(err error) {
	if o.err == nil {
		o.err = err
	}
}

// TTL sets how long an entry stays fresh. Zero means it never expires (as
// [Cache.SetForever]); a negative TTL is an error. Default: 30m.
func TTL(d time.Duration) Option {
	return Option{kind: optTTL, d: d}
}

// Grace keeps an entry usable as stale for d after its TTL
// (stale-while-revalidate, and a fallback when the factory fails). Zero turns
// grace off. Default: off.
func Grace(d time.Duration) Option {
	return Option{kind: optGrace, d: d}
}

// GraceBackoff is how long a stale value is served without calling the
// factory again after the factory failed. Zero turns the backoff off: every
// call after a failure tries the factory again. Default: 10s.
func GraceBackoff(d time.Duration) Option {
	return Option{kind: optGraceBackoff, d: d}
}

// Timeout is the soft timeout: with a stale value at hand, GetOrSet waits up to
// d for the factory and then returns the stale value while the factory
// finishes in the background. Zero returns the stale value at once. It has no
// effect without a stale value. Default: 0.
func Timeout(d time.Duration) Option {
	return Option{kind: optTimeout, d: d}
}

// HardTimeout bounds how long GetOrSet waits for a factory when no stale value
// can be returned; past it the caller gets [ErrHardTimeout], and the factory
// still finishes and stores its value. Zero means no bound. Default: none.
func HardTimeout(d time.Duration) Option {
	return Option{kind: optHardTimeout, d: d}
}

// LockTimeout bounds how long a caller waits for another caller's factory on
// the same key; past it the caller gets [ErrLockTimeout]. It never delays
// returning a stale value. Zero means no bound. Default: none.
func LockTimeout(d time.Duration) Option {
	return Option{kind: optLockTimeout, d: d}
}

// Tags attaches tags to the entry written, for [Cache.DeleteByTag] and
// [Cache.ExpireByTag]. Tags add up across options.
func Tags(tags ...string) Option {
	return Option{kind: optTags, tags: tags}
}

// ForceFresh runs the factory even if a fresh value exists. If the factory
// fails, the error is returned and the stored value is left untouched.
func ForceFresh() Option {
	return Option{kind: optForceFresh}
}

// SkipL2Write writes only the local L1 (and still notifies the bus).
func SkipL2Write() Option {
	return Option{kind: optSkipL2Write}
}

// SkipBusNotify writes without telling the other instances.
func SkipBusNotify() Option {
	return Option{kind: optSkipBusNotify}
}

// SuppressL2Errors, when on, logs and counts L2 errors and goes on with L1 and
// the factory instead of returning an [*L2Error]. Default: on when the store
// has an L1, off otherwise.
func SuppressL2Errors(on bool) Option {
	return Option{kind: optSuppressL2, on: on}
}

// L2CircuitBreaker skips L2 for d after an L2 failure, then lets one trial
// call decide whether L2 is back (half-open): an unreachable L2 costs one
// failure per d, not one per call. The breaker is per store. Zero turns it
// off. Default: [DefaultL2CircuitBreaker] (2s). Store or manager scope.
func L2CircuitBreaker(d time.Duration) Option {
	return Option{kind: optBreaker, d: d}
}

// OnFactoryError is called with every factory failure, in the foreground or in
// a background refresh, before bento falls back to a stale value.
func OnFactoryError(f func(*FactoryError)) Option {
	return Option{kind: optOnFactoryError, onErr: f}
}

// Prefix sets the store's key prefix: keys are "prefix:namespace:key" in
// every layer. An empty prefix is allowed. Default: "bento". Store or manager
// scope.
func Prefix(p string) Option {
	return Option{kind: optPrefix, s: p}
}

// BusChannel names the bus channel of the store. Every instance that shares
// the store's L2 must use the same channel, and stores that do not share
// keys must not. Default: "bento.bus:<prefix>:<store name>". Store scope only:
// at manager scope every store would share one channel.
func BusChannel(name string) Option {
	return Option{kind: optBusChannel, s: name}
}

// RetryQueue bounds the queue of bus messages whose publication failed: past
// max messages the oldest is dropped. Zero means no bound; a negative max turns
// the queue off (failed messages are dropped and logged). Queued messages are
// retried every interval (default 1s, when interval is zero) and on reconnect.
// Store or manager scope.
func RetryQueue(max int, interval time.Duration) Option {
	return Option{kind: optRetryQueue, n: max, d: interval}
}

// MaxClockSkew bounds how far ahead of this instance's clock another
// instance's time may be: a bus message or an L2 tag record dated later than
// now + d counts as dated now + d, so that one message from a wrong clock
// cannot move entry creation times or tag invalidations into the future.
// Default: [DefaultMaxClockSkew] (5s). Store or manager scope.
func MaxClockSkew(d time.Duration) Option {
	return Option{kind: optClockSkew, d: d}
}

// BentoCacheCompat makes the store speak BentoCache's bus: it publishes and
// accepts the messages of BentoCache 1.6 (@boringnode/bus, BentoCache's
// binary encoding) on BentoCache's channel,
// "bentocache.notifications:<store name>" unless [BusChannel] names another,
// so that bento and BentoCache services that share one L2 and one Redis bus
// drop or make stale each other's L1 copies. The two sides must agree on the
// store name, the [Prefix] (BentoCache's default is "bentocache", bento's
// "bento") and the serializer (JSON). Tag invalidations do not cross yet; see
// docs/bentocache.md. Store or manager scope.
func BentoCacheCompat() Option {
	return Option{kind: optCompat}
}

// L2RecoveryQueue bounds the L2 writes and deletes that a store keeps when
// L2 fails under [SuppressL2Errors], to replay them once L2 answers again
// (last write per key wins; a delete supersedes a set; a full queue drops its
// oldest and emits [EventError]). A replayed write never overwrites an entry
// created after it. Zero turns the queue off: failed writes reach L1 only.
// Default: [DefaultL2RecoveryQueue]. Store or manager scope.
func L2RecoveryQueue(max int) Option {
	return Option{kind: optL2Recovery, n: max}
}

// EagerRefresh refreshes an entry before it goes stale: a GetOrSet hit on an
// entry older than threshold × its TTL returns the entry at once and
// refreshes it in the background, once per key across concurrent callers.
// The refresh looks at L2 first, where another instance may have refreshed
// it already. threshold must be between 0 and 1 (0.8: after 80% of the TTL);
// anything else is an error naming it.
func EagerRefresh(threshold float64) Option {
	return Option{kind: optEagerRefresh, f: threshold}
}

// Jitter extends each written entry's TTL by a random duration in [0, max],
// so that keys written together do not expire together on every instance.
// Zero turns it off. Default: off.
func Jitter(max time.Duration) Option {
	return Option{kind: optJitter, d: max}
}
