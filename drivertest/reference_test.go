package drivertest_test

import (
	"crypto/rand"
	"testing"

	"github.com/bentocache/bento"
	"github.com/bentocache/bento/drivertest"
	"github.com/bentocache/bento/internal/mapstore"
	membus "github.com/bentocache/bento/modules/buses/memory"
	"github.com/bentocache/bento/modules/drivers/memory"
)

// The reference run: bento's in-process implementations pass every suite.

func TestReference_L1(t *testing.T) {
	drivertest.L1(t, openMemoryL1, drivertest.Options{})
}

func TestReference_L2(t *testing.T) {
	drivertest.L2(t, openMapstoreL2(), drivertest.Options{AtomicPull: true})
}

func TestReference_Bus(t *testing.T) {
	drivertest.Bus(t, openMemoryBus(), drivertest.Options{})
}

func TestReference_Adapter(t *testing.T) {
	drivertest.Adapter(t, openMapstoreAdapter, drivertest.Options{})
}

func prefix() string { return "test-" + rand.Text() }

func openMemoryL1(t *testing.T) bento.L1Driver {
	dr := memory.New(memory.Options{Prefix: prefix()})
	t.Cleanup(func() { dr.Disconnect() })
	return dr
}

// openMapstoreL2 returns an open function whose drivers share one map, on
// prefixes of their own, like drivers of one Redis server.
func openMapstoreL2() func(t *testing.T) bento.L2Driver {
	backend := mapstore.NewL2(mapstore.L2Options{})
	return func(t *testing.T) bento.L2Driver {
		dr := backend.WithPrefix(prefix())
		t.Cleanup(func() { dr.Disconnect() })
		return dr
	}
}

// openMemoryBus returns an open function whose buses share one hub.
func openMemoryBus() func(t *testing.T) bento.Bus {
	hub := membus.NewHub()
	return func(t *testing.T) bento.Bus {
		b := membus.New(membus.Options{Hub: hub})
		t.Cleanup(func() { b.Disconnect() })
		return b
	}
}

func openMapstoreAdapter(t *testing.T) bento.DatabaseAdapter {
	a := mapstore.NewAdapter()
	a.SetTableName("bento_" + rand.Text())
	t.Cleanup(func() { a.Disconnect() })
	return a
}
