package redis_test

import (
	"bytes"
	"context"
	"strconv"
	"testing"

	goredis "github.com/redis/go-redis/v9"

	"github.com/bentocache/bento"
	"github.com/bentocache/bento/internal/testenv"
	"github.com/bentocache/bento/modules/drivers/redis"
)

// benchValue is the value the Get benchmarks read: 1 KiB, the size of a
// small encoded entry.
var benchValue = bytes.Repeat([]byte("0123456789abcdef"), 64)

// BenchmarkGet compares Driver.Get with a bare go-redis GET of the same key
// and the same 1 KiB value, on one client, in the same run: the driver's
// cost is the full key it builds, the copy of the reply it returns (go-redis
// StringCmd.Bytes shares the reply's memory) and the miss check. Both are
// dominated by the round trip to the server.
func BenchmarkGet(b *testing.B) {
	client := newClient(b, testenv.Redis(b))
	prefix := testenv.Prefix(b)
	b.Cleanup(func() { removeKeys(b, client, prefix) })
	dr := redis.New(redis.Options{Client: client, Prefix: prefix})
	ctx := context.Background()
	if err := dr.Set(ctx, "users:42", benchValue, 0); err != nil {
		b.Fatal(err)
	}
	full := prefix + ":users:42"
	impls := []struct {
		name string
		get  func() ([]byte, error)
	}{
		{"impl=goredis", func() ([]byte, error) { return client.Get(ctx, full).Bytes() }},
		{"impl=bento", func() ([]byte, error) { v, _, err := dr.Get(ctx, "users:42"); return v, err }},
	}
	for _, impl := range impls {
		b.Run(impl.name, func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(benchValue)))
			for b.Loop() {
				if v, err := impl.get(); err != nil || len(v) != len(benchValue) {
					b.Fatalf("get = %d bytes, %v; want %d, <nil>", len(v), err, len(benchValue))
				}
			}
		})
		b.Run(impl.name+"/parallel=true", func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(benchValue)))
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if v, err := impl.get(); err != nil || len(v) != len(benchValue) {
						b.Errorf("get = %d bytes, %v; want %d, <nil>", len(v), err, len(benchValue))
						return
					}
				}
			})
		})
	}
}

// BenchmarkGetMany reads 100 keys of 100 bytes: GetMany against a bare
// go-redis MGET of the same keys on a single node, then GetMany on the test
// cluster, where the keys spread over about 100 slots of three masters. It
// reports the round trips per read, counted by a go-redis hook (on a
// cluster, on the node clients: one per node the pipeline reached).
func BenchmarkGetMany(b *testing.B) {
	const n = 100
	kvs := make([]bento.KeyValue, n)
	ks := make([]string, n)
	for i := range kvs {
		ks[i] = "k" + strconv.Itoa(i)
		kvs[i] = bento.KeyValue{Key: ks[i], Value: benchValue[:100]}
	}
	ctx := context.Background()
	run := func(b *testing.B, rec *recorder, getMany func() ([][]byte, error)) {
		b.ReportAllocs()
		rec.take()
		for b.Loop() {
			if vs, err := getMany(); err != nil || len(vs) != n || vs[n-1] == nil {
				b.Fatalf("GetMany = %d values, %v; want %d, <nil>", len(vs), err, n)
			}
		}
		_, trips := rec.take()
		b.ReportMetric(float64(trips)/float64(b.N), "roundtrips/op")
	}

	b.Run("topology=single", func(b *testing.B) {
		client := newClient(b, testenv.Redis(b))
		rec := &recorder{}
		client.AddHook(rec)
		prefix := testenv.Prefix(b)
		b.Cleanup(func() { removeKeys(b, client, prefix) })
		dr := redis.New(redis.Options{Client: client, Prefix: prefix})
		if err := dr.SetMany(ctx, kvs, 0); err != nil {
			b.Fatal(err)
		}
		full := make([]string, n)
		for i, k := range ks {
			full[i] = prefix + ":" + k
		}
		b.Run("keys=100/impl=goredis", func(b *testing.B) {
			run(b, rec, func() ([][]byte, error) {
				vs, err := client.MGet(ctx, full...).Result()
				out := make([][]byte, len(vs))
				for i, v := range vs {
					if s, ok := v.(string); ok {
						out[i] = []byte(s)
					}
				}
				return out, err
			})
		})
		b.Run("keys=100/impl=bento", func(b *testing.B) {
			run(b, rec, func() ([][]byte, error) { return dr.GetMany(ctx, ks) })
		})
	})

	b.Run("topology=cluster", func(b *testing.B) {
		rec := &recorder{}
		client := goredis.NewClusterClient(&goredis.ClusterOptions{Addrs: testenv.RedisCluster(b)})
		client.OnNewNode(func(node *goredis.Client) { node.AddHook(rec) })
		b.Cleanup(func() { _ = client.Close() })
		prefix := testenv.Prefix(b)
		b.Cleanup(func() { removeKeys(b, client, prefix) })
		dr := redis.New(redis.Options{Client: client, Prefix: prefix})
		if err := dr.SetMany(ctx, kvs, 0); err != nil {
			b.Fatal(err)
		}
		b.Run("keys=100/impl=bento", func(b *testing.B) {
			run(b, rec, func() ([][]byte, error) { return dr.GetMany(ctx, ks) })
		})
	})
}
