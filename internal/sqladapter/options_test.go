package sqladapter

import (
	"errors"
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
)

func TestSource_Validate(t *testing.T) {
	parse := func(dsn string) error {
		if dsn == "bad" {
			return errors.New("unparsable")
		}
		return nil
	}
	tests := []struct {
		name string
		s    Source
		want string
	}{
		{"DSN", Source{DSN: "ok"}, ""},
		{"Client", Source{HasClient: true}, ""},
		{"ModuleMissing", Source{Module: true}, "pg: dsn is required"},
		{"Neither", Source{}, "pg: set pool or dsn"},
		{"Both", Source{HasClient: true, DSN: "ok"}, "pg: set pool or dsn, not both"},
		{"BadDSN", Source{DSN: "bad"}, "pg: dsn: unparsable"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.s.Adapter, tt.s.Client = "pg", "pool"
			err := tt.s.Validate(parse)
			if (tt.want == "") != (err == nil) || (err != nil && err.Error() != tt.want) {
				t.Errorf("Validate() = %v; want %q (none if empty)", err, tt.want)
			}
		})
	}
}

func TestUnmarshalCaddyfile(t *testing.T) {
	tests := []struct{ input, want, says string }{
		{"x a", "a", ""},
		{"x {\n\tpath a\n}", "a", ""},
		{"x", "", ""},
		{"x a b", "", "wrong argument count"},
		{"x a {\n\tpath b\n}", "", "path is already set"},
		{"x {\n\tpath\n}", "", "wrong argument count"},
		{"x {\n\tpath a b\n}", "", "wrong argument count"},
		{"x {\n\tfile a\n}", "", `unknown x adapter option "file"`},
	}
	for _, tt := range tests {
		var v string
		err := UnmarshalCaddyfile(caddyfile.NewTestDispenser(tt.input), "x", "path", &v)
		switch {
		case tt.says == "" && (err != nil || v != tt.want):
			t.Errorf("UnmarshalCaddyfile(%q) = %v, %q; want <nil>, %q", tt.input, err, v, tt.want)
		case tt.says != "" && (err == nil || !strings.Contains(err.Error(), tt.says) || !strings.Contains(err.Error(), "Testfile:")):
			t.Errorf("UnmarshalCaddyfile(%q) = %v; want an error at Testfile:<line> saying %q", tt.input, err, tt.says)
		}
	}
}
