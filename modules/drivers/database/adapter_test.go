package database_test

import (
	"strings"
	"testing"

	"github.com/bentocache/bento/modules/drivers/database"
)

func TestValidateTableName(t *testing.T) {
	tests := []struct {
		name string
		ok   bool
	}{
		{"bentocache", true},
		{"_", true},
		{"Bento_Cache_2", true},
		{strings.Repeat("a", 63), true},
		{"", false},
		{strings.Repeat("a", 64), false},
		{"2bento", false},
		{"bento-cache", false},
		{"bento cache", false},
		{"public.bento", false},
		{`bento"`, false},
		{"bento`", false},
		{"bento'", false},
		{"bento;", false},
		{"bento\x00", false},
		{"bento\n", false},
		{"béntö", false},
		{"bento\u200b", false},
	}
	for _, tt := range tests {
		if err := database.ValidateTableName(tt.name); (err == nil) != tt.ok {
			t.Errorf("ValidateTableName(%q) = %v; want ok %t", tt.name, err, tt.ok)
		}
	}
}

func TestEscapeLike(t *testing.T) {
	tests := []struct {
		prefix string
		escape byte
		want   string
	}{
		{"", '\\', ""},
		{"users:", '\\', "users:"},
		{"a%b_c\\d", '\\', `a\%b\_c\\d`},
		{"a%b_c!d\\", '!', `a!%b!_c!!d\`},
		{"\xff\x00%", '!', "\xff\x00!%"},
	}
	for _, tt := range tests {
		if got := database.EscapeLike(tt.prefix, tt.escape); got != tt.want {
			t.Errorf("EscapeLike(%q, %q) = %q; want %q", tt.prefix, tt.escape, got, tt.want)
		}
	}
}
