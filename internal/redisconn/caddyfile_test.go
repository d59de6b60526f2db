package redisconn

import (
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
)

// fieldsOf is a module's connection fields, as a module binds them.
type fieldsOf struct {
	addrs              []string
	cluster            bool
	username, password string
	db                 int
	dialTimeout        caddy.Duration
	tls                bool
	tlsServerName      string
	tlsInsecure        bool
}

func (m *fieldsOf) fields() Fields {
	return Fields{
		Addrs: &m.addrs, Cluster: &m.cluster, Username: &m.username, Password: &m.password, DB: &m.db,
		DialTimeout: &m.dialTimeout, TLS: &m.tls, TLSServerName: &m.tlsServerName, TLSInsecureSkipVerify: &m.tlsInsecure,
	}
}

func TestFields_UnmarshalCaddyfile(t *testing.T) {
	tests := []struct {
		name  string
		input string
		want  Config
	}{
		{name: "Bare", input: `redis`, want: Config{}},
		{name: "ShortForm", input: `redis 10.0.0.1:6379`, want: Config{Addrs: []string{"10.0.0.1:6379"}}},
		{name: "ShortFormSeveral", input: `redis a:1 b:1 c:1`, want: Config{Addrs: []string{"a:1", "b:1", "c:1"}}},
		{name: "EmptyBlock", input: "redis {\n}", want: Config{}},
		{name: "EveryOption", input: `redis {
			addrs a:1 b:1
			cluster
			username app
			password "p w"
			db 0
			dial_timeout 2s
			tls
			tls_server_name redis.example
			tls_insecure_skip_verify
		}`, want: Config{
			Addrs: []string{"a:1", "b:1"}, Cluster: true, Username: "app", Password: "p w",
			DialTimeout: 2 * time.Second, TLS: true, TLSServerName: "redis.example", TLSInsecureSkipVerify: true,
		}},
		{name: "DB", input: "redis {\n db 3\n}", want: Config{DB: 3}},
		{name: "ArgsAndAddrsAddUp", input: "redis a:1 {\n addrs b:1\n addrs c:1\n}", want: Config{Addrs: []string{"a:1", "b:1", "c:1"}}},
		{name: "EmptyPassword", input: "redis {\n password \"\"\n}", want: Config{}},
		{name: "Placeholder", input: `redis {env.REDIS_ADDR}`, want: Config{Addrs: []string{"{env.REDIS_ADDR}"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var m fieldsOf
			d := caddyfile.NewTestDispenser(tt.input)
			if err := m.fields().UnmarshalCaddyfile(d, "redis driver", nil); err != nil {
				t.Fatalf("UnmarshalCaddyfile(%q) = %v; want <nil>", tt.input, err)
			}
			if got := m.fields().Config(); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("UnmarshalCaddyfile(%q) gave %+v; want %+v", tt.input, got, tt.want)
			}
		})
	}
}

func TestFields_UnmarshalCaddyfileErrors(t *testing.T) {
	tests := []struct {
		name, input, wantErr string
	}{
		{name: "AddrsWithoutValue", input: "redis {\n addrs\n}", wantErr: "addrs needs at least one address"},
		{name: "ClusterWithValue", input: "redis {\n cluster yes\n}", wantErr: `cluster takes no value, got "yes"`},
		{name: "TLSWithValue", input: "redis {\n tls on\n}", wantErr: `tls takes no value, got "on"`},
		{name: "SkipVerifyWithValue", input: "redis {\n tls_insecure_skip_verify true\n}", wantErr: "tls_insecure_skip_verify takes no value"},
		{name: "UsernameWithoutValue", input: "redis {\n username\n}", wantErr: "username takes one value, got 0"},
		{name: "PasswordTwoValues", input: "redis {\n password a b\n}", wantErr: "password takes one value, got 2"},
		{name: "DBWithoutValue", input: "redis {\n db\n}", wantErr: "db takes one value, got 0"},
		{name: "DBNotANumber", input: "redis {\n db one\n}", wantErr: `db: "one" is not a whole number`},
		{name: "DialTimeoutWithoutValue", input: "redis {\n dial_timeout\n}", wantErr: "dial_timeout takes one value"},
		{name: "DialTimeoutInvalid", input: "redis {\n dial_timeout soon\n}", wantErr: `dial_timeout: invalid duration "soon"`},
		{name: "ServerNameWithoutValue", input: "redis {\n tls_server_name\n}", wantErr: "tls_server_name takes one value"},
		{name: "Unknown", input: "redis {\n adress a:1\n}", wantErr: `unknown redis driver option "adress"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var m fieldsOf
			err := m.fields().UnmarshalCaddyfile(caddyfile.NewTestDispenser(tt.input), "redis driver", nil)
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("UnmarshalCaddyfile(%q) = %v; want an error containing %q", tt.input, err, tt.wantErr)
			}
			if err != nil && !strings.Contains(err.Error(), "Testfile:") {
				t.Errorf("UnmarshalCaddyfile(%q) = %v; want the file and line in the error", tt.input, err)
			}
		})
	}
}

func TestFields_UnmarshalCaddyfileMore(t *testing.T) {
	var m fieldsOf
	var extra string
	more := func(d *caddyfile.Dispenser) (bool, error) {
		if d.Val() != "prefix" {
			return false, nil
		}
		return true, OneArg(d, &extra)
	}
	d := caddyfile.NewTestDispenser("redis a:1 {\n prefix app\n db 1\n}")
	if err := m.fields().UnmarshalCaddyfile(d, "redis driver", more); err != nil {
		t.Fatalf("UnmarshalCaddyfile = %v; want <nil>", err)
	}
	if extra != "app" || m.db != 1 || len(m.addrs) != 1 {
		t.Errorf("UnmarshalCaddyfile gave prefix %q, db %d, addrs %q; want app, 1, [a:1]", extra, m.db, m.addrs)
	}
	d = caddyfile.NewTestDispenser("redis {\n prefix a b\n}")
	if err := m.fields().UnmarshalCaddyfile(d, "redis driver", more); err == nil || !strings.Contains(err.Error(), "prefix takes one value, got 2") {
		t.Errorf("UnmarshalCaddyfile with a bad module option = %v; want the module's error", err)
	}
	d = caddyfile.NewTestDispenser("redis {\n nope\n}")
	if err := m.fields().UnmarshalCaddyfile(d, "redis bus", more); err == nil || !strings.Contains(err.Error(), `unknown redis bus option "nope"`) {
		t.Errorf("UnmarshalCaddyfile with an option neither knows = %v; want unknown redis bus option", err)
	}
}
