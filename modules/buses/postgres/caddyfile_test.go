package postgres

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
)

func TestUnmarshalCaddyfile(t *testing.T) {
	t.Parallel()
	const dsn = "postgres://app@db:5432/app?sslmode=disable"
	tests := []struct {
		name  string
		input string
		want  *Bus
	}{
		{
			name:  "ShortForm",
			input: `postgres ` + dsn,
			want:  &Bus{DSN: dsn},
		},
		{
			name:  "Block",
			input: "postgres {\n dsn " + dsn + "\n}",
			want:  &Bus{DSN: dsn},
		},
		{
			name: "BlockAllOptions",
			input: `postgres {
				dsn                 ` + dsn + `
				connect_timeout     2s
				reconnect_delay     50ms
				max_reconnect_delay 1m
				ping_interval       10s
			}`,
			want: &Bus{
				DSN:               dsn,
				ConnectTimeout:    caddy.Duration(2 * time.Second),
				ReconnectDelay:    caddy.Duration(50 * time.Millisecond),
				MaxReconnectDelay: caddy.Duration(time.Minute),
				PingInterval:      caddy.Duration(10 * time.Second),
			},
		},
		{
			name:  "ShortFormWithBlock",
			input: "postgres " + dsn + " {\n ping_interval 1d\n}",
			want:  &Bus{DSN: dsn, PingInterval: caddy.Duration(24 * time.Hour)},
		},
		{
			name:  "QuotedKeyValueDSN",
			input: `postgres "host=db user=app dbname=app"`,
			want:  &Bus{DSN: "host=db user=app dbname=app"},
		},
		{
			name:  "Placeholder",
			input: "postgres {\n dsn {env.DATABASE_URL}\n}",
			want:  &Bus{DSN: "{env.DATABASE_URL}"},
		},
		{
			name:  "ShortFormPlaceholder",
			input: "postgres {env.DATABASE_URL} {\n ping_interval 5s\n}",
			want:  &Bus{DSN: "{env.DATABASE_URL}", PingInterval: caddy.Duration(5 * time.Second)},
		},
		{
			name:  "ZeroDuration",
			input: "postgres " + dsn + " {\n connect_timeout 0\n}",
			want:  &Bus{DSN: dsn},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var got Bus
			if err := got.UnmarshalCaddyfile(caddyfile.NewTestDispenser(tt.input)); err != nil {
				t.Fatalf("UnmarshalCaddyfile(%q) = %v; want <nil>", tt.input, err)
			}
			if g, w := config(&got), config(tt.want); g != w {
				t.Errorf("UnmarshalCaddyfile(%q) gave %s; want %s", tt.input, g, w)
			}
		})
	}
}

func TestUnmarshalCaddyfile_Errors(t *testing.T) {
	t.Parallel()
	const dsn = "postgres://app@db:5432/app"
	tests := []struct {
		name  string
		input string
		says  string
	}{
		{"NoDSN", `postgres`, "needs a dsn"},
		{"EmptyBlock", "postgres {\n}", "needs a dsn"},
		{"BlockWithoutDSN", "postgres {\n ping_interval 1s\n}", "needs a dsn"},
		{"TwoArguments", `postgres ` + dsn + ` extra`, "wrong argument count"},
		{"DSNTwice", "postgres " + dsn + " {\n dsn " + dsn + "\n}", "dsn is given twice"},
		{"DSNWithoutValue", "postgres {\n dsn\n}", "wrong argument count"},
		{"DSNTwoValues", "postgres {\n dsn host=db user=app\n}", "wrong argument count"},
		{"DurationWithoutValue", "postgres " + dsn + " {\n connect_timeout\n}", "wrong argument count"},
		{"DurationTwoValues", "postgres " + dsn + " {\n reconnect_delay 1s 2s\n}", "wrong argument count"},
		{"BadDuration", "postgres " + dsn + " {\n max_reconnect_delay soon\n}", "max_reconnect_delay"},
		{"NegativeDuration", "postgres " + dsn + " {\n ping_interval -1s\n}", "ping_interval must not be negative"},
		{"UnknownOption", "postgres " + dsn + " {\n pool_size 4\n}", `unknown postgres bus option "pool_size"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var b Bus
			err := b.UnmarshalCaddyfile(caddyfile.NewTestDispenser(tt.input))
			if err == nil || !strings.Contains(err.Error(), tt.says) {
				t.Errorf("UnmarshalCaddyfile(%q) = %v; want an error saying %q", tt.input, err, tt.says)
			}
		})
	}
}

// config returns the JSON of the bus's config fields, to compare them.
func config(b *Bus) string {
	out, err := json.Marshal(b)
	if err != nil {
		return "<" + err.Error() + ">"
	}
	return string(out)
}
