package redis

import (
	"strconv"
	"strings"
	"testing"

	goredis "github.com/redis/go-redis/v9"

	"github.com/bentocache/bento/internal/testenv"
)

func TestSlot_KnownValues(t *testing.T) {
	tests := []struct {
		key  string
		want int
	}{
		{"123456789", 12739}, // the CRC16/XMODEM check value, 0x31C3
		{"foo", 12182},
		{"somekey", 11058},
		{"foo{hash_tag}", 2515},
		{"hash_tag", 2515},
		{"{user1000}.following", 3443},
		{"{user1000}.followers", 3443},
		{"", 0},
	}
	for _, tt := range tests {
		if got := slot(tt.key); got != tt.want {
			t.Errorf("slot(%q) = %d; want %d", tt.key, got, tt.want)
		}
	}
}

// TestSlot_MatchesCluster compares slot with what a real Redis Cluster
// answers to CLUSTER KEYSLOT, hash tag corner cases and binary keys
// included.
func TestSlot_MatchesCluster(t *testing.T) {
	addrs := testenv.RedisCluster(t)
	node := goredis.NewClient(&goredis.Options{Addr: addrs[0]})
	t.Cleanup(func() { _ = node.Close() })
	keys := []string{
		"", "k", "{", "}", "{}", "}{", "{}a", "a{}", "a{}b", "{a}", "{a}b", "a{b}c", "a{b}{c}", "{}{a}",
		"a{b", "a}b{c}", "{{a}}", "{a{b}}", "bt_x:{user42}:k", "\x00", "k\x00{x}", "\xff\xfe", "日本語{語}",
		strings.Repeat("x", 10<<10),
	}
	for i := range 500 {
		keys = append(keys, "key:"+strconv.Itoa(i))
	}
	for _, k := range keys {
		want, err := node.ClusterKeySlot(t.Context(), k).Result()
		if err != nil {
			t.Fatalf("CLUSTER KEYSLOT %q: %v", k, err)
		}
		if got := slot(k); got != int(want) {
			t.Errorf("slot(%q) = %d; CLUSTER KEYSLOT says %d", k, got, want)
		}
	}
}
