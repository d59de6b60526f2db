// Package caddyfiletest checks what a module's Caddyfile block sets up, by
// the JSON the module then marshals to: the form Caddy hands it in a config.
package caddyfiletest

import (
	"encoding/json"
	"testing"

	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
)

// Case is one Caddyfile block, Input, and the JSON, Want, that the module
// it sets up marshals to.
type Case struct {
	Name, Input, Want string
}

// JSON runs each case as a subtest of t: a fresh module from newModule,
// set up by UnmarshalCaddyfile from the case's Input, must marshal to its
// Want.
func JSON[M caddyfile.Unmarshaler](t *testing.T, newModule func() M, cases []Case) {
	t.Helper()
	for _, tt := range cases {
		t.Run(tt.Name, func(t *testing.T) {
			m := newModule()
			if err := m.UnmarshalCaddyfile(caddyfile.NewTestDispenser(tt.Input)); err != nil {
				t.Fatalf("UnmarshalCaddyfile(%q) = %v; want <nil>", tt.Input, err)
			}
			got, err := json.Marshal(m)
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != tt.Want {
				t.Errorf("UnmarshalCaddyfile(%q) gave JSON %s; want %s", tt.Input, got, tt.Want)
			}
		})
	}
}
