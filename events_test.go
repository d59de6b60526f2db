package bento_test

import (
	"errors"
	"sync/atomic"
	"testing"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/bentocache/bento"
	"github.com/bentocache/bento/internal/faultl2"
	"github.com/bentocache/bento/internal/mapstore"
)

func TestLogging(t *testing.T) {
	core, logs := observer.New(zapcore.InfoLevel)
	l2 := faultl2.Wrap(mapstore.NewL2(mapstore.L2Options{}))
	b, err := bento.New(bento.Config{
		Logger: zap.New(core),
		Stores: map[string]*bento.Store{"orders": bento.NewStore().UseL1(newL1()).UseL2(l2)},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	c := b.Default()
	ctx := t.Context()

	var runs atomic.Int32
	for range 100 {
		if _, err := bento.GetOrSet(ctx, c, "k", constant(1, &runs)); err != nil {
			t.Fatal(err)
		}
	}
	if n := logs.Len(); n != 0 {
		t.Errorf("100 reads logged %d lines at info level; want 0 (no log line per hit)", n)
	}

	l2.Fail(errors.New("connection reset"))
	if err := c.Set(ctx, "k", 2); err != nil {
		t.Fatalf("Set with a failing L2 and an L1 = %v; want the error suppressed", err)
	}
	warned := logs.FilterMessage("l2 error suppressed").All()
	if len(warned) != 1 {
		t.Fatalf("a suppressed L2 error logged %d lines; want 1", len(warned))
	}
	fields := warned[0].ContextMap()
	if fields["store"] != "orders" || fields["key"] != "k" || fields["op"] != "set" {
		t.Errorf("suppressed L2 error logged with fields %v; want store=orders key=k op=set", fields)
	}
}

func TestEvents_Off(t *testing.T) {
	b := newBento(t, layers[0].store())
	var n atomic.Int32
	off := b.On(func(bento.Event) { n.Add(1) })
	_ = b.Default().Set(t.Context(), "k", 1)
	if n.Load() == 0 {
		t.Fatal("a listener saw no event for a Set")
	}
	off()
	before := n.Load()
	_ = b.Default().Set(t.Context(), "k", 2)
	if n.Load() != before {
		t.Error("a removed listener still received events")
	}
}

func TestEvents_Fields(t *testing.T) {
	b := newBento(t, layers[2].store())
	rec := record(b)
	c := b.Namespace("users")
	ctx := t.Context()
	_ = c.Set(ctx, "42", 1)
	_, _, _ = bento.Get[int](ctx, c, "42")
	_, _ = c.Delete(ctx, "42")
	_ = c.Clear(ctx)
	for _, want := range []bento.EventKind{bento.EventWritten, bento.EventHit, bento.EventDeleted, bento.EventCleared} {
		n := rec.count(want, func(e bento.Event) bool { return e.Store == "main" && e.Namespace == "users" })
		if n != 1 {
			t.Errorf("%d %s events with store main and namespace users; want 1", n, want)
		}
	}
	if rec.count(bento.EventHit, func(e bento.Event) bool { return e.Key == "42" && e.Layer == bento.LayerL1 }) != 1 {
		t.Error("the hit event does not name key 42 and layer l1")
	}
}

func TestEvents_PanickingListener(t *testing.T) {
	core, logs := observer.New(zapcore.InfoLevel)
	b, err := bento.New(bento.Config{Logger: zap.New(core), Stores: map[string]*bento.Store{"main": layers[0].store()}})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	var after atomic.Int32
	b.On(func(bento.Event) { panic("listener bug") })
	b.On(func(bento.Event) { after.Add(1) })
	if err := b.Default().Set(t.Context(), "k", 1); err != nil {
		t.Fatalf("Set with a panicking listener = %v", err)
	}
	if after.Load() == 0 {
		t.Error("a panicking listener stopped the listeners after it")
	}
	if n := logs.FilterMessage("event listener panicked").Len(); n == 0 {
		t.Error("a panicking listener was not logged")
	}
}

func TestLayer_String(t *testing.T) {
	tests := []struct {
		layer bento.Layer
		want  string
	}{
		{bento.LayerNone, "none"},
		{bento.LayerL1, "l1"},
		{bento.LayerL2, "l2"},
		{bento.LayerBus, "bus"},
		{bento.Layer(200), "unknown"},
	}
	for _, tt := range tests {
		if got := tt.layer.String(); got != tt.want {
			t.Errorf("Layer(%d).String() = %q; want %q", uint8(tt.layer), got, tt.want)
		}
	}
}

func TestEventKind_String(t *testing.T) {
	tests := []struct {
		kind bento.EventKind
		want string
	}{
		{bento.EventHit, "hit"},
		{bento.EventMiss, "miss"},
		{bento.EventBusPublished, "bus_published"},
		{bento.EventError, "error"},
		{bento.EventKind(200), "unknown"},
	}
	for _, tt := range tests {
		if got := tt.kind.String(); got != tt.want {
			t.Errorf("EventKind(%d).String() = %q; want %q", uint8(tt.kind), got, tt.want)
		}
	}
}
