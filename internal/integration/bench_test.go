package integration_test

import (
	"context"
	"strconv"
	"testing"

	goredis "github.com/redis/go-redis/v9"

	"github.com/bentocache/bento"
	"github.com/bentocache/bento/internal/testenv"
	"github.com/bentocache/bento/modules/drivers/redis"
)

type benchUser struct {
	ID   int64  `json:"id"`
	Name string `json:"name"`
}

// BenchmarkL2Hit compares a bento read that misses L1 and hits Redis (one
// GET, decoded) with a bare go-redis GET of the same bytes, in one run.
func BenchmarkL2Hit(b *testing.B) {
	addr := testenv.Redis(b)
	client := goredis.NewClient(&goredis.Options{Addr: addr})
	b.Cleanup(func() { client.Close() })
	prefix := testenv.Prefix(b)
	m, err := bento.New(bento.Config{Stores: map[string]*bento.Store{
		"main": bento.NewStore(bento.Prefix(prefix)).UseL2(redis.New(redis.Options{Client: client})),
	}})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { m.Close() })
	c := m.Default()
	ctx := context.Background()
	const n = 256
	for i := range n {
		if err := c.Set(ctx, strconv.Itoa(i), benchUser{ID: int64(i), Name: "Ada Lovelace"}); err != nil {
			b.Fatal(err)
		}
	}
	b.Cleanup(func() { _ = c.Clear(context.Background()) })
	factory := func(context.Context, *bento.FactoryContext[benchUser]) (benchUser, error) {
		b.Fatal("factory ran: the benchmark must only hit L2")
		return benchUser{}, nil
	}
	b.Run("impl=bento", func(b *testing.B) {
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			if _, err := bento.GetOrSet(ctx, c, strconv.Itoa(i%n), factory); err != nil {
				b.Fatal(err)
			}
			i++
		}
	})
	b.Run("impl=goredis", func(b *testing.B) {
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			if _, err := client.Get(ctx, prefix+":"+strconv.Itoa(i%n)).Bytes(); err != nil {
				b.Fatal(err)
			}
			i++
		}
	})
}
