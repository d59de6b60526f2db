package redis_test

import (
	"fmt"
	"testing"

	goredis "github.com/redis/go-redis/v9"

	"github.com/bentocache/bento/drivertest"
	"github.com/bentocache/bento/internal/testenv"
	redisbus "github.com/bentocache/bento/modules/buses/redis"
)

func TestBus_Cluster(t *testing.T) {
	client := goredis.NewClusterClient(&goredis.ClusterOptions{Addrs: testenv.RedisCluster(t)})
	t.Cleanup(func() { _ = client.Close() })
	drivertest.Bus(t, opener(t, func() redisbus.Options {
		return redisbus.Options{Client: client}
	}), drivertest.Options{})
}

func TestBus_ClusterOwnedClient(t *testing.T) {
	addrs := testenv.RedisCluster(t)
	drivertest.Bus(t, opener(t, func() redisbus.Options {
		return redisbus.Options{Addrs: addrs}
	}), drivertest.Options{})
}

// TestBus_ClusterAcrossNodes subscribes through a bus seeded with the third
// node only, on channels of every slot range, and publishes on each through
// every node and through a bus seeded with the first node: a PUBLISH on a
// cluster reaches the subscribers of every node.
func TestBus_ClusterAcrossNodes(t *testing.T) {
	addrs := testenv.RedisCluster(t)
	sub := redisbus.New(redisbus.Options{Addrs: addrs[2:], Cluster: true})
	pub := redisbus.New(redisbus.Options{Addrs: addrs[:1], Cluster: true})
	for _, b := range []*redisbus.Bus{sub, pub} {
		t.Cleanup(func() { _ = b.Disconnect() })
	}
	prefix := testenv.Prefix(t)
	const channels = 30
	inboxes := make([]*inbox, channels)
	for i := range inboxes {
		inboxes[i] = newInbox()
		if err := sub.Subscribe(t.Context(), fmt.Sprintf("%s:%d", prefix, i), inboxes[i].handle); err != nil {
			t.Fatal(err)
		}
	}
	nodes := make([]*goredis.Client, len(addrs))
	for i, a := range addrs {
		nodes[i] = newClient(t, a)
	}
	for i, in := range inboxes {
		ch := fmt.Sprintf("%s:%d", prefix, i)
		for n, node := range nodes {
			if err := node.Publish(t.Context(), ch, fmt.Sprintf("node %d", n)).Err(); err != nil {
				t.Fatal(err)
			}
		}
		if err := pub.Publish(t.Context(), ch, []byte("bus")); err != nil {
			t.Fatalf("Publish(ctx, %q, …) through %s = %v", ch, addrs[0], err)
		}
		for _, want := range []string{"node 0", "node 1", "node 2", "bus"} {
			if !in.waitFor(t, want) {
				t.Errorf("the subscription to %q through %s got %q; want %q", ch, addrs[2], in.payloads(), want)
			}
		}
	}
}
