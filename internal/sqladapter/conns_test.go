package sqladapter

import (
	"errors"
	"testing"

	"github.com/caddyserver/caddy/v2"

	"github.com/bentocache/bento/internal/lease"
	"github.com/bentocache/bento/modules/drivers/database"
)

type conn struct{ n int }

func (*conn) Destruct() error { return nil }

type queries struct{ Table }

func TestConns_OpensOnceAndCloses(t *testing.T) {
	var cs Conns[*conn, *queries]
	opened := 0
	cs.Init(&queries{NewTable("x", "t")}, func() (*conn, bool, error) {
		opened++
		return &conn{opened}, true, nil
	})
	if cs.Held() != nil {
		t.Fatal("Init opened a connection; want it opened on first Get")
	}
	c1, q, err := cs.Get()
	c2, _, _ := cs.Get()
	if err != nil || c1 == nil || c1 != c2 || opened != 1 || q.Name() != "t" {
		t.Fatalf("two Gets = %v, %v (opened %d, table %q), %v; want one connection, opened once, on table t", c1, c2, opened, q.Name(), err)
	}
	c, owned, l, q := cs.Close()
	if c != c1 || !owned || l != nil || q.Name() != "t" {
		t.Errorf("Close() = %v, %t, %v, %q; want the connection, owned, no lease, table t", c, owned, l, q.Name())
	}
	if _, _, err := cs.Get(); !errors.Is(err, database.ErrDisconnected) {
		t.Errorf("Get after Close = %v; want database.ErrDisconnected", err)
	}
	if c, owned, _, _ := cs.Close(); c != nil || owned {
		t.Errorf("second Close() = %v, %t; want nothing held", c, owned)
	}
}

func TestConns_Errors(t *testing.T) {
	var cs Conns[*conn, *queries]
	cs.Init(&queries{NewTable("x", "t")}, func() (*conn, bool, error) { return nil, false, errors.New("no dsn") })
	if _, q, err := cs.Get(); err == nil || err.Error() != "no dsn" || q == nil {
		t.Errorf("Get with a failing open = %v, queries %v; want its error and the queries", err, q)
	}
	cs.SetQueries(&queries{NewTable("x", "bad name")})
	if _, _, err := cs.Get(); err == nil || err.Error() != database.ValidateTableName("bad name").Error() {
		t.Errorf("Get on an invalid table = %v; want the table name's error", err)
	}
}

func TestConns_Share(t *testing.T) {
	pool := caddy.NewUsagePool()
	shared, l, err := lease.Acquire(pool, "k", func() (*conn, error) { return &conn{}, nil })
	if err != nil {
		t.Fatal(err)
	}
	var cs Conns[*conn, *queries]
	cs.Init(&queries{NewTable("x", "t")}, func() (*conn, bool, error) { t.Fatal("open called on a shared connection"); return nil, false, nil })
	cs.Share(shared, l)
	if c, _, err := cs.Get(); c != shared || err != nil {
		t.Errorf("Get after Share = %v, %v; want the shared connection", c, err)
	}
	if c, owned, got, _ := cs.Close(); c != shared || owned || got != l {
		t.Errorf("Close after Share = %v, %t, %v; want the shared connection, not owned, its lease", c, owned, got)
	}
	_ = l.Release()
}
