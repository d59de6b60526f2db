package bento

import (
	"sync"
	"sync/atomic"

	"go.uber.org/zap"
)

// EventKind says what happened.
type EventKind uint8

// The kinds of [Event].
const (
	EventHit          EventKind = iota + 1 // a read found a value (Layer, Graced)
	EventMiss                              // a read found nothing usable
	EventWritten                           // a value was written
	EventDeleted                           // a key was deleted
	EventCleared                           // a namespace was cleared (Key is "")
	EventExpired                           // a key was made stale
	EventBusPublished                      // a bus message was published
	EventBusReceived                       // a bus message from another instance was applied
	EventError                             // something failed and was handled (Err)
)

var eventKindNames = [...]string{"", "hit", "miss", "written", "deleted", "cleared", "expired", "bus_published", "bus_received", "error"}

// String returns the kind's lowercase name, as the events documentation
// lists it: "hit", "miss", "bus_published", … ("unknown" for a value that is
// not a kind).
func (k EventKind) String() string {
	if int(k) < len(eventKindNames) {
		return eventKindNames[k]
	}
	return "unknown"
}

// Layer is the tier an event concerns.
type Layer uint8

// The layers.
const (
	LayerNone Layer = iota // the event concerns no one layer: a miss, a write, a delete
	LayerL1
	LayerL2
	LayerBus
)

// String returns the layer's lowercase name: "l1", "l2", "bus", and "none"
// for [LayerNone], so that a printed event always shows a layer ("unknown"
// for a value that is not a layer).
func (l Layer) String() string {
	switch l {
	case LayerNone:
		return "none"
	case LayerL1:
		return "l1"
	case LayerL2:
		return "l2"
	case LayerBus:
		return "bus"
	}
	return "unknown"
}

// Event describes one thing the cache did. Listeners registered with
// [Bento.On] receive it synchronously, on the goroutine that did it: a listener
// must be quick and must not call the cache.
type Event struct {
	Kind      EventKind
	Store     string // the store's name
	Namespace string // the namespace path, "" for the root
	Key       string // the key within Namespace; "" for namespace-wide events
	Keys      []string
	Layer     Layer
	Graced    bool  // a hit on a stale value served under grace
	Err       error // for EventError
}

// listeners is a copy-on-write list, so that emitting reads one atomic
// pointer and allocates nothing when nobody listens.
type listeners struct {
	mu   sync.Mutex
	list atomic.Pointer[[]*func(Event)]
}

func (l *listeners) add(f func(Event)) (remove func()) {
	p := &f
	l.mu.Lock()
	defer l.mu.Unlock()
	var cur []*func(Event)
	if old := l.list.Load(); old != nil {
		cur = *old
	}
	next := append(cur[:len(cur):len(cur)], p)
	l.list.Store(&next)
	return func() {
		l.mu.Lock()
		defer l.mu.Unlock()
		cur := *l.list.Load()
		next := make([]*func(Event), 0, len(cur))
		for _, q := range cur {
			if q != p {
				next = append(next, q)
			}
		}
		l.list.Store(&next)
	}
}

func (l *listeners) active() bool {
	p := l.list.Load()
	return p != nil && len(*p) > 0
}

// emit calls every listener with e. A panicking listener is logged to
// logger and does not stop the others.
func (l *listeners) emit(e Event, logger *zap.Logger) {
	p := l.list.Load()
	if p == nil {
		return
	}
	for _, f := range *p {
		callListener(*f, e, logger)
	}
}

func callListener(f func(Event), e Event, logger *zap.Logger) {
	defer func() {
		if r := recover(); r != nil {
			logger.Error("event listener panicked", zap.Stringer("event", e.Kind), zap.Any("panic", r))
		}
	}()
	f(e)
}
