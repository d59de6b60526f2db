package natskv_test

import (
	"context"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	natsgo "github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"

	"github.com/bentocache/bento"
	"github.com/bentocache/bento/drivertest"
	"github.com/bentocache/bento/internal/caddyfiletest"
	"github.com/bentocache/bento/internal/configtest"
	"github.com/bentocache/bento/internal/testenv"
	_ "github.com/bentocache/bento/modules/drivers/memory"
	"github.com/bentocache/bento/modules/drivers/natskv"
)

// testBucket is the bucket the tests share; each test has prefixes of its
// own.
const testBucket = "bento_test"

// connect returns a connection of the test's own, closed when t ends.
func connect(t *testing.T) *natsgo.Conn {
	t.Helper()
	url := testenv.NATS(t)
	nc, err := natsgo.Connect(url)
	if err != nil {
		t.Fatalf("nats.Connect(%q) = %v", url, err)
	}
	t.Cleanup(nc.Close)
	return nc
}

// opener returns an open function for drivertest.L2: a driver built by mk
// on a fresh prefix, disconnected when the subtest ends, whose keys are
// then removed through a driver on keeper, which outlives it.
func opener(keeper *natsgo.Conn, mk func(prefix string) natskv.Options) func(t *testing.T) bento.L2Driver {
	return func(t *testing.T) bento.L2Driver {
		prefix := testenv.Prefix(t)
		dr := natskv.New(mk(prefix))
		if err := dr.Validate(); err != nil {
			t.Fatalf("Validate() = %v; want <nil>", err)
		}
		t.Cleanup(func() {
			if err := dr.Disconnect(); err != nil {
				t.Errorf("Disconnect() = %v; want <nil>", err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			if err := natskv.New(natskv.Options{Conn: keeper, Bucket: testBucket, Prefix: prefix}).Clear(ctx); err != nil {
				t.Errorf("removing the keys under %q: %v", prefix, err)
			}
		})
		return dr
	}
}

func TestDriver_L2(t *testing.T) {
	nc := connect(t)
	drivertest.L2(t, opener(nc, func(prefix string) natskv.Options {
		return natskv.Options{Conn: nc, Bucket: testBucket, Prefix: prefix}
	}), drivertest.Options{AtomicPull: true})
	if nc.IsClosed() {
		t.Errorf("the application's connection is closed after the drivers on it disconnected")
	}
}

func TestDriver_L2_OwnedConn(t *testing.T) {
	nc := connect(t)
	url := testenv.NATS(t)
	drivertest.L2(t, opener(nc, func(prefix string) natskv.Options {
		return natskv.Options{Servers: []string{url}, Bucket: testBucket, Prefix: prefix}
	}), drivertest.Options{AtomicPull: true})
}

// TestDriver_EmptyPrefix runs the suite on the root of a bucket of its own
// with no prefix: Clear on the root then removes every key of the bucket.
func TestDriver_EmptyPrefix(t *testing.T) {
	nc := connect(t)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	var n atomic.Int32
	drivertest.L2(t, func(t *testing.T) bento.L2Driver {
		bucket := fmt.Sprintf("%s_%d", testenv.Prefix(t), n.Add(1))
		dr := natskv.New(natskv.Options{Conn: nc, Bucket: bucket, MemoryStorage: true})
		t.Cleanup(func() {
			_ = dr.Disconnect()
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			if err := js.DeleteKeyValue(ctx, bucket); err != nil && !strings.Contains(err.Error(), "not found") {
				t.Errorf("deleting bucket %q: %v", bucket, err)
			}
		})
		return dr
	}, drivertest.Options{})
}

func TestEncodeKey(t *testing.T) {
	tests := []struct{ key, want string }{
		{"app:users:42", "app.users.42"},
		{"users:posts:key1", "users.posts.key1"},
		{"a.b", "a=2Eb"},
		{"", "="},
		{"a::b", "a.=.b"},
		{":a:", "=.a.="},
		{"x=y", "x=3Dy"},
		{"a b*>", "a=20b=2A=3E"},
		{"é/_-", "=C3=A9/_-"},
	}
	for _, tt := range tests {
		got := natskv.EncodeKey(tt.key)
		if got != tt.want {
			t.Errorf("EncodeKey(%q) = %q; want %q", tt.key, got, tt.want)
		}
		back, err := natskv.DecodeKey(got)
		if err != nil || back != tt.key {
			t.Errorf("DecodeKey(%q) = %q, %v; want %q, <nil>", got, back, err, tt.key)
		}
	}
	long := "app:users:" + strings.Repeat("x.", 2000)
	nk := natskv.EncodeKey(long)
	if len(nk) > 1024 || !strings.HasPrefix(nk, "app.users.=H") {
		t.Errorf("EncodeKey(a %d-byte key under app:users) = %q (%d bytes); want at most 1024 bytes, \"app.users.=H\" and a hash", len(long), nk, len(nk))
	}
	if other := natskv.EncodeKey(long + "y"); other == nk {
		t.Errorf("EncodeKey gives two long keys the same NATS key %q", nk)
	}
	if _, err := natskv.DecodeKey(nk); err == nil {
		t.Errorf("DecodeKey(%q) = <nil> error; want one: a hashed key cannot be decoded", nk)
	}
	for _, bad := range []string{"a..b", "a=4", "a=ZZ", "."} {
		if got, err := natskv.DecodeKey(bad); err == nil {
			t.Errorf("DecodeKey(%q) = %q, <nil>; want an error", bad, got)
		}
	}
}

func FuzzEncodeKey(f *testing.F) {
	for _, s := range []string{"", "a:b", "::", "x=y.z", "\x00\xff"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, key string) {
		nk := natskv.EncodeKey(key)
		for i := 0; i < len(nk); i++ {
			c := nk[i]
			if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte("-/_=.", c) >= 0) {
				t.Fatalf("EncodeKey(%q) = %q holds %q, which NATS does not allow in a key", key, nk, c)
			}
		}
		if nk[0] == '.' || nk[len(nk)-1] == '.' {
			t.Fatalf("EncodeKey(%q) = %q starts or ends with a dot", key, nk)
		}
		if len(nk) > 1024 {
			t.Fatalf("EncodeKey(%q) = %d bytes; want at most 1024", key, len(nk))
		}
		if strings.Contains(nk, "=H") {
			return // a hashed long key
		}
		if back, err := natskv.DecodeKey(nk); err != nil || back != key {
			t.Fatalf("DecodeKey(EncodeKey(%q)) = %q, %v", key, back, err)
		}
	})
}

// TestDriver_ExpiredIsGone sets an entry that expires, then reads the
// bucket directly once it has: the driver's read deleted it.
func TestDriver_ExpiredIsGone(t *testing.T) {
	nc := connect(t)
	prefix := testenv.Prefix(t)
	dr := natskv.New(natskv.Options{Conn: nc, Bucket: testBucket, Prefix: prefix})
	t.Cleanup(func() { _ = dr.Clear(context.Background()) })
	ctx := t.Context()
	if err := dr.Set(ctx, "k", []byte("v"), 50*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		_, found, err := dr.Get(ctx, "k")
		if err != nil {
			t.Fatal(err)
		}
		if !found {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("Get(ctx, %q) still finds an entry set with a 50ms TTL after 5s", "k")
		}
		time.Sleep(10 * time.Millisecond) // polling a real server
	}
	js, _ := jetstream.New(nc)
	kv, err := js.KeyValue(ctx, testBucket)
	if err != nil {
		t.Fatal(err)
	}
	if e, err := kv.Get(ctx, natskv.EncodeKey(prefix+":k")); err == nil {
		t.Errorf("the bucket still holds %q (revision %d) after a read found it expired; want it deleted", prefix+":k", e.Revision())
	}
}

func TestDriver_UnmarshalCaddyfile(t *testing.T) {
	tests := []caddyfiletest.Case{
		{Name: "Bare", Input: `natskv`, Want: `{}`},
		{Name: "ShortForm", Input: `natskv nats://a:4222`, Want: `{"servers":["nats://a:4222"]}`},
		{Name: "Block", Input: `natskv {
			servers nats://a:4222
			token t
			bucket cache
			prefix app
			replicas 3
			storage memory
			max_age 24h
		}`, Want: `{"servers":["nats://a:4222"],"token":"t","bucket":"cache","prefix":"app","replicas":3,"storage":"memory","max_age":86400000000000}`},
	}
	caddyfiletest.JSON(t, func() *natskv.Driver { return new(natskv.Driver) }, tests)
	for _, tt := range []struct{ input, wantErr string }{
		{"natskv {\n\treplicas three\n}", `replicas: "three" is not a whole number`},
		{"natskv {\n\tmax_age soon\n}", `max_age: invalid duration "soon"`},
		{"natskv {\n\thealth 1\n}", `unknown natskv driver option "health"`},
	} {
		err := new(natskv.Driver).UnmarshalCaddyfile(caddyfile.NewTestDispenser(tt.input))
		if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
			t.Errorf("UnmarshalCaddyfile(%q) = %v; want an error containing %q", tt.input, err, tt.wantErr)
		}
	}
}

func TestDriver_ConfigErrors(t *testing.T) {
	tests := []struct {
		name, l2 string
		wantErr  []string
	}{
		{name: "Bucket", l2: `{"driver": "natskv", "bucket": "my.cache"}`,
			wantErr: []string{`stores.main.l2`, "bento.drivers.natskv", `natskv: bucket is "my.cache"`}},
		{name: "Replicas", l2: `{"driver": "natskv", "replicas": 7}`, wantErr: []string{"bento.drivers.natskv", "natskv: replicas is 7"}},
		{name: "Storage", l2: `{"driver": "natskv", "storage": "disk"}`, wantErr: []string{`natskv: storage is "disk"`}},
		{name: "MaxAge", l2: `{"driver": "natskv", "max_age": "-1h"}`, wantErr: []string{"natskv: max_age is -1h0m0s"}},
		{name: "Auth", l2: `{"driver": "natskv", "token": "t", "creds_file": "/x"}`, wantErr: []string{"natskv: more than one of"}},
		{name: "Unknown", l2: `{"driver": "natskv", "bukket": "x"}`, wantErr: []string{"bento.drivers.natskv", "bukket"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := fmt.Sprintf(`{"stores": {"main": {"l1": {"driver": "memory"}, "l2": %s}}}`, tt.l2)
			configtest.LoadFails(t, cfg, tt.wantErr...)
		})
	}
}

// TestLoadJSON_Driver loads a store whose L2 is the natskv driver on a
// bucket it creates, and reads through it what another instance wrote.
func TestLoadJSON_Driver(t *testing.T) {
	url := testenv.NATS(t)
	nc := connect(t)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	bucket := testenv.Prefix(t)
	t.Cleanup(func() { _ = js.DeleteKeyValue(context.Background(), bucket) })
	load := func(store string) *bento.Bento {
		cfg := fmt.Sprintf(`{"stores": {%q: {"prefix": "p", "l1": {"driver": "memory"},
			"l2": {"driver": "natskv", "servers": [%q], "bucket": %q, "storage": "memory"}}}}`, store, url, bucket)
		return configtest.Load(t, cfg)
	}
	a, b := load("a"), load("b")
	if err := a.Default().Set(t.Context(), "k", "v"); err != nil {
		t.Fatalf("Set through the natskv L2 = %v; want <nil>", err)
	}
	v, found, err := bento.Get[string](t.Context(), b.Default(), "k")
	if err != nil || !found || v != "v" {
		t.Errorf("Get on a second instance = %q, %v, %v; want \"v\", true, <nil>: it reads the shared bucket", v, found, err)
	}
	st, err := js.KeyValue(t.Context(), bucket)
	if err != nil {
		t.Fatalf("the driver did not create bucket %q: %v", bucket, err)
	}
	status, err := st.Status(t.Context())
	if err != nil || status.BackingStore() != "JetStream" {
		t.Errorf("bucket status = %v, %v", status, err)
	}
}
