package lease

import (
	"testing"

	"github.com/caddyserver/caddy/v2"
)

type res struct{ destructed int }

func (r *res) Destruct() error { r.destructed++; return nil }

func TestLease_SharedUntilLastRelease(t *testing.T) {
	pool := caddy.NewUsagePool()
	built := 0
	construct := func() (*res, error) { built++; return &res{}, nil }
	a, la, err := Acquire(pool, "k", construct)
	if err != nil {
		t.Fatal(err)
	}
	b, lb, _ := Acquire(pool, "k", construct)
	if a != b || built != 1 {
		t.Fatalf("two acquires of one key built %d resources (same: %v); want 1 shared", built, a == b)
	}
	_ = la.Release()
	_ = la.Release() // twice: still one reference given back
	if a.destructed != 0 {
		t.Fatal("the resource was destructed while a lease still holds it")
	}
	_ = lb.Release()
	if a.destructed != 1 {
		t.Errorf("after the last release the resource was destructed %d times; want 1", a.destructed)
	}
}
