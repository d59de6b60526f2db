package postgres_test

import (
	"context"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/bentocache/bento"
	"github.com/bentocache/bento/drivertest"
	"github.com/bentocache/bento/internal/testenv"
	pglocker "github.com/bentocache/bento/modules/lockers/postgres"
)

func TestLocker_Suite(t *testing.T) {
	dsn := testenv.Postgres(t)
	pool, err := pgxpool.New(context.Background(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	drivertest.Locker(t, func(t *testing.T) bento.Locker {
		return pglocker.New(pglocker.Options{Pool: pool, Lease: 300 * time.Millisecond})
	})
}
