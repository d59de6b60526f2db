package redisconn

import (
	"crypto/tls"
	"errors"
	"strings"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"
)

func TestOptions_Validate(t *testing.T) {
	client := goredis.NewClient(&goredis.Options{Addr: "127.0.0.1:1"})
	t.Cleanup(func() { _ = client.Close() })
	tests := []struct {
		name    string
		o       Options
		client  goredis.UniversalClient
		wantErr string // the whole message; "" for none
	}{
		{name: "Zero", o: Options{}},
		{name: "Client", client: client},
		{name: "OneAddr", o: Options{Addrs: []string{"127.0.0.1:6379"}, DB: 3, DialTimeout: time.Second}},
		{name: "Cluster", o: Options{Addrs: []string{"a:1", "b:1"}}},
		{name: "ClientAndAddrs", o: Options{Addrs: []string{"a:1"}}, client: client,
			wantErr: "client and addrs are both set: connection options apply only to a client the driver opens, configure the client instead"},
		{name: "ClientAndCluster", o: Options{Cluster: true}, client: client, wantErr: "client and cluster are both set"},
		{name: "ClientAndUsername", o: Options{Username: "u"}, client: client, wantErr: "client and username are both set"},
		{name: "ClientAndPassword", o: Options{Password: "p"}, client: client, wantErr: "client and password are both set"},
		{name: "ClientAndDB", o: Options{DB: 1}, client: client, wantErr: "client and db are both set"},
		{name: "ClientAndTLS", o: Options{TLS: &tls.Config{}}, client: client, wantErr: "client and tls are both set"},
		{name: "ClientAndDialTimeout", o: Options{DialTimeout: 1}, client: client, wantErr: "client and dial_timeout are both set"},
		{name: "EmptyAddr", o: Options{Addrs: []string{"a:1", "\t"}}, wantErr: "addrs[1] is empty"},
		{name: "NegativeDB", o: Options{DB: -1}, wantErr: "db is -1: it must not be negative"},
		{name: "DBWithSeveralAddrs", o: Options{Addrs: []string{"a:1", "b:1"}, DB: 2},
			wantErr: "db is 2 with a cluster (several addrs or cluster set): a Redis Cluster has only database 0"},
		{name: "DBWithCluster", o: Options{Cluster: true, DB: 2}, wantErr: "db is 2 with a cluster"},
		{name: "NegativeDialTimeout", o: Options{DialTimeout: -time.Second}, wantErr: "dial_timeout is -1s: it must not be negative"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.o.Validate(tt.client, "driver")
			switch {
			case tt.wantErr == "" && err != nil:
				t.Errorf("Validate() = %v; want <nil>", err)
			case tt.wantErr != "" && (err == nil || !strings.HasPrefix(err.Error(), tt.wantErr)):
				t.Errorf("Validate() = %v; want an error starting with %q", err, tt.wantErr)
			}
		})
	}
}

func TestOptions_NewClient(t *testing.T) {
	tests := []struct {
		name        string
		o           Options
		wantCluster bool
		wantAddrs   []string
	}{
		{name: "Default", o: Options{}, wantAddrs: []string{DefaultAddr}},
		{name: "OneAddr", o: Options{Addrs: []string{"10.0.0.1:6379"}, DB: 2}, wantAddrs: []string{"10.0.0.1:6379"}},
		{name: "SeveralAddrs", o: Options{Addrs: []string{"a:1", "b:1"}}, wantCluster: true, wantAddrs: []string{"a:1", "b:1"}},
		{name: "ClusterFlag", o: Options{Addrs: []string{"a:1"}, Cluster: true}, wantCluster: true, wantAddrs: []string{"a:1"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tlsConfig := &tls.Config{ServerName: "redis.example"}
			tt.o.TLS = tlsConfig
			tt.o.DialTimeout = 2 * time.Second
			tt.o.Username, tt.o.Password = "u", "p"
			client := tt.o.NewClient()
			t.Cleanup(func() { _ = client.Close() })
			switch c := client.(type) {
			case *goredis.ClusterClient:
				if !tt.wantCluster {
					t.Fatalf("NewClient() = %T; want *goredis.Client", client)
				}
				co := c.Options()
				if strings.Join(co.Addrs, ",") != strings.Join(tt.wantAddrs, ",") || co.Username != "u" || co.Password != "p" ||
					co.DialTimeout != 2*time.Second || !co.ContextTimeoutEnabled || co.TLSConfig == nil || co.TLSConfig == tlsConfig ||
					co.TLSConfig.ServerName != "redis.example" {
					t.Errorf("NewClient().Options() = %+v; want addrs %q, the credentials, the dial timeout, context deadlines and a clone of the TLS config", co, tt.wantAddrs)
				}
				if co.DialerRetries != 1 || co.MaxRetries != 1 {
					t.Errorf("NewClient(): %d dial attempts, %d command retries; want 1 and 1", co.DialerRetries, co.MaxRetries)
				}
			case *goredis.Client:
				if tt.wantCluster {
					t.Fatalf("NewClient() = %T; want *goredis.ClusterClient", client)
				}
				co := c.Options()
				if co.Addr != tt.wantAddrs[0] || co.DB != tt.o.DB || co.Username != "u" || co.Password != "p" ||
					co.DialTimeout != 2*time.Second || !co.ContextTimeoutEnabled || co.TLSConfig == nil || co.TLSConfig == tlsConfig ||
					co.TLSConfig.ServerName != "redis.example" {
					t.Errorf("NewClient().Options() = %+v; want addr %q, db %d, the credentials, the dial timeout, context deadlines and a clone of the TLS config", co, tt.wantAddrs[0], tt.o.DB)
				}
				if co.DialerRetries != 1 || co.MaxRetries != 1 {
					t.Errorf("NewClient(): %d dial attempts, %d command retries; want 1 and 1", co.DialerRetries, co.MaxRetries)
				}
			default:
				t.Fatalf("NewClient() = %T; want a *goredis.Client or a *goredis.ClusterClient", client)
			}
		})
	}
}

func TestConfig_Options(t *testing.T) {
	o := Config{Addrs: []string{"a:1"}, TLS: true, TLSServerName: "r.example", TLSInsecureSkipVerify: true}.Options()
	if o.TLS == nil || o.TLS.ServerName != "r.example" || !o.TLS.InsecureSkipVerify || o.TLS.MinVersion != tls.VersionTLS12 {
		t.Errorf("Options().TLS = %+v; want server name r.example, verification skipped, TLS 1.2 at least", o.TLS)
	}
	if o := (Config{}).Options(); o.TLS != nil {
		t.Errorf("Options().TLS of a config without tls = %+v; want nil", o.TLS)
	}
}

func TestConfig_Validate(t *testing.T) {
	tests := []struct {
		name    string
		c       Config
		wantErr string
	}{
		{name: "Zero", c: Config{}},
		{name: "TLS", c: Config{TLS: true, TLSServerName: "r", TLSInsecureSkipVerify: true}},
		{name: "ServerNameWithoutTLS", c: Config{TLSServerName: "r"}, wantErr: "tls_server_name is set but tls is off"},
		{name: "SkipVerifyWithoutTLS", c: Config{TLSInsecureSkipVerify: true}, wantErr: "tls_insecure_skip_verify is set but tls is off"},
		{name: "OptionsChecked", c: Config{DB: -1}, wantErr: "db is -1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.c.Validate()
			switch {
			case tt.wantErr == "" && err != nil:
				t.Errorf("Validate() = %v; want <nil>", err)
			case tt.wantErr != "" && (err == nil || !strings.HasPrefix(err.Error(), tt.wantErr)):
				t.Errorf("Validate() = %v; want an error starting with %q", err, tt.wantErr)
			}
		})
	}
}

func TestConfig_Key(t *testing.T) {
	same := []struct{ a, b Config }{
		{Config{}, Config{Addrs: []string{DefaultAddr}}},
		{Config{Addrs: []string{"a:1", "b:1"}}, Config{Addrs: []string{"b:1", "a:1"}}},
	}
	for _, p := range same {
		if p.a.key() != p.b.key() {
			t.Errorf("key(%+v) != key(%+v); want equal: they open identical clients", p.a, p.b)
		}
	}
	base := Config{Addrs: []string{"a:1"}}
	differ := []Config{
		{Addrs: []string{"b:1"}},
		{Addrs: []string{"a:1"}, Cluster: true},
		{Addrs: []string{"a:1"}, Username: "u"},
		{Addrs: []string{"a:1"}, Password: "p"},
		{Addrs: []string{"a:1"}, DB: 1},
		{Addrs: []string{"a:1"}, DialTimeout: time.Second},
		{Addrs: []string{"a:1"}, TLS: true},
		{Addrs: []string{"a:1"}, TLS: true, TLSServerName: "x"},
		{Addrs: []string{"a:1"}, TLS: true, TLSInsecureSkipVerify: true},
	}
	seen := map[string]Config{base.key(): base}
	for _, c := range differ {
		if prev, dup := seen[c.key()]; dup {
			t.Errorf("key(%+v) == key(%+v); want different keys for different clients", c, prev)
		}
		seen[c.key()] = c
	}
	if k := (Config{Password: "s3cret-pw"}).key(); strings.Contains(k, "s3cret-pw") {
		t.Errorf("key() = %q; want no password in a pool key", k)
	}
}

func TestAcquire_SharedUntilLastRelease(t *testing.T) {
	// An address nothing listens on: Acquire does no I/O, and a closed
	// client reports ErrClosed without dialing.
	c := Config{Addrs: []string{"127.0.0.1:1"}, DialTimeout: 123 * time.Millisecond}
	a, la, err := Acquire(c)
	if err != nil {
		t.Fatalf("Acquire() = %v", err)
	}
	b, lb, err := Acquire(Config{Addrs: []string{"127.0.0.1:1"}, DialTimeout: 123 * time.Millisecond})
	if err != nil {
		t.Fatalf("Acquire() = %v", err)
	}
	if a != b {
		t.Fatal("two Acquires of equal configs returned two clients; want one shared")
	}
	if got, refs := Pooled(c); got != a || refs != 2 {
		t.Errorf("Pooled() = %p, %d; want the shared client %p, 2", got, refs, a)
	}
	other, lo, _ := Acquire(Config{Addrs: []string{"127.0.0.1:1"}, DialTimeout: 124 * time.Millisecond})
	if other == a {
		t.Error("Acquire of another config returned the same client; want its own")
	}
	_ = lo.Release()

	_ = la.Release()
	_ = la.Release() // twice: one share given back
	if _, refs := Pooled(c); refs != 1 {
		t.Errorf("Pooled() after one holder released (twice) = %d holders; want 1", refs)
	}
	if err := a.Ping(t.Context()).Err(); errors.Is(err, goredis.ErrClosed) {
		t.Error("the client was closed while a lease still held it")
	}
	if err := lb.Release(); err != nil {
		t.Errorf("last Release() = %v; want <nil>", err)
	}
	if got, refs := Pooled(c); got != nil || refs != 0 {
		t.Errorf("Pooled() after the last release = %v, %d; want nil, 0", got, refs)
	}
	if err := a.Ping(t.Context()).Err(); !errors.Is(err, goredis.ErrClosed) {
		t.Errorf("Ping after the last release = %v; want goredis.ErrClosed: the last release closes the client", err)
	}
}
