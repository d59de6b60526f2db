package file

import (
	"strings"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
)

func TestDriver_UnmarshalCaddyfile(t *testing.T) {
	tests := []struct {
		name, input string
		want        Driver
	}{
		{"ShortForm", `file /var/cache/bento`, Driver{Directory: "/var/cache/bento"}},
		{"ShortFormWithBlock", "file /var/cache/bento {\n\tprefix app\n}", Driver{Directory: "/var/cache/bento", Prefix: "app"}},
		{"EmptyBlock", "file {\n}", Driver{}},
		{"Bare", "file", Driver{}},
		{"Block", `file {
			directory      /var/cache/bento
			prefix         app
			prune_interval 1h30m
			file_mode      0640
			dir_mode       0o750
			sync
		}`, Driver{
			Directory:     "/var/cache/bento",
			Prefix:        "app",
			PruneInterval: caddy.Duration(90 * time.Minute),
			FileMode:      "0640",
			DirMode:       "0o750",
			Sync:          true,
		}},
		{"DayDuration", "file /d {\n\tprune_interval 1d\n}", Driver{Directory: "/d", PruneInterval: caddy.Duration(24 * time.Hour)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var dr Driver
			if err := dr.UnmarshalCaddyfile(caddyfile.NewTestDispenser(tt.input)); err != nil {
				t.Fatalf("UnmarshalCaddyfile(%q) = %v; want <nil>", tt.input, err)
			}
			if dr != tt.want {
				t.Errorf("UnmarshalCaddyfile(%q) set %+v; want %+v", tt.input, dr, tt.want)
			}
		})
	}
}

func TestDriver_UnmarshalCaddyfileErrors(t *testing.T) {
	tests := []struct {
		name, input string
		says        []string
	}{
		{"TwoDirectories", `file /a /b`, []string{"Testfile:1", "wrong argument count"}},
		{"DirectoryTwice", "file /a {\n\tdirectory /b\n}", []string{"Testfile:2", `directory is already set to "/a"`}},
		{"DirectoryNoArg", "file {\n\tdirectory\n}", []string{"Testfile:2", "wrong argument count"}},
		{"DirectoryTwoArgs", "file {\n\tdirectory /a /b\n}", []string{"Testfile:2", "wrong argument count"}},
		{"PrefixNoArg", "file /a {\n\tprefix\n}", []string{"Testfile:2", "wrong argument count"}},
		{"PrefixTwoArgs", "file /a {\n\tprefix a b\n}", []string{"Testfile:2", "wrong argument count"}},
		{"PruneIntervalNoArg", "file /a {\n\tprune_interval\n}", []string{"Testfile:2", "wrong argument count"}},
		{"PruneIntervalBad", "file /a {\n\tprune_interval soon\n}", []string{"Testfile:2", `prune_interval: invalid duration "soon"`}},
		{"FileModeNoArg", "file /a {\n\tfile_mode\n}", []string{"Testfile:2", "wrong argument count"}},
		{"FileModeBad", "file /a {\n\tfile_mode rw-r-----\n}", []string{"Testfile:2", `file_mode: "rw-r-----" is not an octal permission`}},
		{"FileModeZero", "file /a {\n\tfile_mode 0000\n}", []string{"Testfile:2", `file_mode: "0000" grants no permission at all`}},
		{"DirModeBad", "file /a {\n\tdir_mode 0789\n}", []string{"Testfile:2", `dir_mode: "0789" is not an octal permission`}},
		{"SyncArg", "file /a {\n\tsync true\n}", []string{"Testfile:2", "wrong argument count"}},
		{"UnknownOption", "file /a {\n\tdirectroy /b\n}", []string{"Testfile:2", `unknown file driver option "directroy"`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var dr Driver
			err := dr.UnmarshalCaddyfile(caddyfile.NewTestDispenser(tt.input))
			if err == nil {
				t.Fatalf("UnmarshalCaddyfile(%q) = <nil>; want an error saying %q", tt.input, tt.says)
			}
			for _, s := range tt.says {
				if !strings.Contains(err.Error(), s) {
					t.Errorf("UnmarshalCaddyfile(%q) = %q; want it to say %q", tt.input, err, s)
				}
			}
		})
	}
}

func TestParseMode(t *testing.T) {
	tests := []struct {
		in   string
		want uint32
		ok   bool
	}{
		{"", 0, true},
		{"0640", 0o640, true},
		{"640", 0o640, true},
		{"0o750", 0o750, true},
		{"0O700", 0o700, true},
		{"7777", 0o7777, true}, // parses; Validate rejects the bits
		{"0x1ff", 0, false},
		{"rw", 0, false},
		{"-600", 0, false},
		{"8", 0, false},
		{"0000", 0, false}, // no permission at all: not the default
		{"0o0", 0, false},
		{"077777777777", 0, false}, // past 32 bits
	}
	for _, tt := range tests {
		got, err := parseMode(tt.in)
		if (err == nil) != tt.ok || uint32(got) != tt.want {
			t.Errorf("parseMode(%q) = %#o, %v; want %#o, ok %t", tt.in, uint32(got), err, tt.want, tt.ok)
		}
	}
}
