package abridge

import (
	"strings"
	"testing"
)

func TestQuote(t *testing.T) {
	tests := []struct{ in, want string }{
		{"", `""`},
		{"max_size", `"max_size"`},
		{strings.Repeat("a", Max), `"` + strings.Repeat("a", Max) + `"`},
		{strings.Repeat("a", 1<<20), `"` + strings.Repeat("a", Max) + `"… (1048576 bytes)`},
		{strings.Repeat("a", Max-1) + "é" + "tail", `"` + strings.Repeat("a", Max-1) + `"… (69 bytes)`},
	}
	for _, tt := range tests {
		if got := Quote(tt.in); got != tt.want {
			t.Errorf("Quote(%d bytes) = %s; want %s", len(tt.in), got, tt.want)
		}
	}
}
