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

// BenchmarkGetOrSetMany compares reading 100 keys from Redis through
// GetOrSetMany (one L2 round trip) with 100 GetOrSet calls (one each), in
// one run; L1 is off, so every op reads L2.
func BenchmarkGetOrSetMany(b *testing.B) {
	addr := testenv.Redis(b)
	client := goredis.NewClient(&goredis.Options{Addr: addr})
	b.Cleanup(func() { client.Close() })
	m, err := bento.New(bento.Config{Stores: map[string]*bento.Store{
		"main": bento.NewStore(bento.Prefix(testenv.Prefix(b))).UseL2(redis.New(redis.Options{Client: client})),
	}})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { m.Close() })
	c := m.Default()
	ctx := context.Background()
	const n = 100
	keys := make([]string, n)
	for i := range keys {
		keys[i] = strconv.Itoa(i)
		if err := c.Set(ctx, keys[i], benchUser{ID: int64(i), Name: "Ada Lovelace"}); err != nil {
			b.Fatal(err)
		}
	}
	b.Cleanup(func() { _ = c.Clear(context.Background()) })
	b.Run("impl=GetOrSetMany", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			got, err := bento.GetOrSetMany(ctx, c, keys, func(context.Context, []string) (map[string]benchUser, error) {
				b.Fatal("factory ran: the benchmark must only hit L2")
				return nil, nil
			})
			if err != nil || len(got) != n {
				b.Fatalf("GetOrSetMany = %d values, %v", len(got), err)
			}
		}
	})
	b.Run("impl=GetOrSet", func(b *testing.B) {
		b.ReportAllocs()
		factory := func(context.Context, *bento.FactoryContext[benchUser]) (benchUser, error) {
			b.Fatal("factory ran: the benchmark must only hit L2")
			return benchUser{}, nil
		}
		for b.Loop() {
			for _, k := range keys {
				if _, err := bento.GetOrSet(ctx, c, k, factory); err != nil {
					b.Fatal(err)
				}
			}
		}
	})
}
