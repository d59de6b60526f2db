package bento

import "context"

// Tracer traces the calls that go past L1: the package otelbento
// (modules/otel) implements it with OpenTelemetry, so that the root package
// links none of it. Set one with [Bento.SetTracer].
//
// An L1 hit is never traced: it starts no span and allocates nothing. A
// traced call starts a span for the call, then one child per step it takes:
// the L2 read, the cluster-wide lock wait, the factory and the L2 write.
type Tracer interface {
	// Start begins a span for op, a child of ctx's span if it carries one,
	// and returns the context that carries the new span. The steps of op
	// run under that context: the factory gets it.
	Start(ctx context.Context, op Op, info SpanInfo) (context.Context, Span)
}

// Span is a span started by a [Tracer].
type Span interface {
	// Found records the outcome of a one-key read: the layer that served the
	// value, LayerNone when none did (the value came from a factory, or
	// there is none), and whether it was stale, served under grace.
	Found(layer Layer, graced bool)
	// FoundMany records the outcome of a many-key read: how many keys a
	// layer served (fresh or stale) and how many none did.
	FoundMany(hits, misses int)
	// End ends the span; a non-nil err is the error the step ended with.
	End(err error)
}

// Op is what a traced span covers.
type Op uint8

// The operations traced.
const (
	OpGetOrSet     Op = iota + 1 // a GetOrSet past L1
	OpGet                        // a Get (or GetEntry) past L1
	OpGetMany                    // a GetMany with a key past L1
	OpGetOrSetMany               // a GetOrSetMany with a key past L1
	OpL2Read                     // an L2 read, of one key or a batch
	OpLockWait                   // taking the cluster-wide lock, or waiting for its holder
	OpFactory                    // a factory run
	OpL2Write                    // writing a factory's value(s) to the layers
)

var opNames = [...]string{"unknown", "get_or_set", "get", "get_many", "get_or_set_many", "l2_read", "lock_wait", "factory", "l2_write"}

// String returns the operation's snake_case name, as "get_or_set" or
// "l2_read" ("unknown" for a value that is not an operation).
func (op Op) String() string {
	if int(op) < len(opNames) {
		return opNames[op]
	}
	return opNames[0]
}

// SpanInfo says what a span is about.
type SpanInfo struct {
	// Store is the store's name.
	Store string
	// Namespace is the namespace's path; empty for the store's root.
	Namespace string
	// Key is the key of a one-key operation; empty for a batch.
	Key string
	// Keys are the keys of a batch (GetMany, GetOrSetMany, their L2 read and
	// write, their factory); nil for a one-key operation. Do not change them.
	Keys []string
}

// SetTracer makes t trace the manager's calls from now on; nil stops the
// tracing. It is safe to call while the manager is in use.
func (b *Bento) SetTracer(t Tracer) {
	if t == nil {
		b.tracer.Store(nil)
		return
	}
	b.tracer.Store(&t)
}

// trace starts a span for op when the manager has a tracer; it returns ctx
// and a nil Span when it has none.
func (c *Cache) trace(ctx context.Context, op Op, key string, keys []string) (context.Context, Span) {
	t := c.st.b.tracer.Load()
	if t == nil {
		return ctx, nil
	}
	return (*t).Start(ctx, op, SpanInfo{Store: c.st.name, Namespace: c.path, Key: key, Keys: keys})
}

// traceWrite starts an L2 write span, when the write goes to L2.
func (c *Cache) traceWrite(ctx context.Context, o *options, key string, keys []string) (context.Context, Span) {
	if c.l2 == nil || o.skipL2Write {
		return ctx, nil
	}
	return c.trace(ctx, OpL2Write, key, keys)
}

// spanFound records a one-key outcome on s, if any.
func spanFound(s Span, layer Layer, graced bool) {
	if s != nil {
		s.Found(layer, graced)
	}
}

// spanEnd ends s, if any, with err.
func spanEnd(s Span, err error) {
	if s != nil {
		s.End(err)
	}
}
