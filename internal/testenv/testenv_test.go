package testenv

import (
	"net"
	"strings"
	"testing"
)

func TestPrefix_Unique(t *testing.T) {
	a, b := Prefix(t), Prefix(t)
	if a == b || !strings.HasPrefix(a, "bt_") {
		t.Errorf("Prefix() = %q, %q; want two different values starting with bt_", a, b)
	}
}

func TestReachable_SkipsWithTheVariable(t *testing.T) {
	if Required() {
		t.Skip("BENTO_REQUIRE_SERVICES=1 turns the skip into a failure, which this test cannot observe")
	}
	// A port nothing listens on: bind one, note it, close it.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	t.Setenv(RedisVar, addr)
	ran := t.Run("probe", func(t *testing.T) {
		Redis(t)
		t.Error("Redis() returned for a closed port; want a skip")
	})
	if !ran {
		t.Error("the probe failed instead of skipping")
	}
}
