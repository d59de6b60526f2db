package keys

import "testing"

func TestJoin(t *testing.T) {
	tests := []struct{ base, part, want string }{
		{"", "k", "k"},
		{"app", "k", "app:k"},
		{"app:users", "k", "app:users:k"},
		{"", "", ""},
	}
	for _, tt := range tests {
		if got := Join(tt.base, tt.part); got != tt.want {
			t.Errorf("Join(%q, %q) = %q; want %q", tt.base, tt.part, got, tt.want)
		}
	}
}

func TestUnder(t *testing.T) {
	tests := []struct {
		key, base string
		want      bool
	}{
		{"app:users:k", "app:users", true},
		{"app:usersX:k", "app:users", false},
		{"app:users", "app:users", false},
		{"anything", "", true},
		{"app:users:posts:k", "app:users", true},
	}
	for _, tt := range tests {
		if got := Under(tt.key, tt.base); got != tt.want {
			t.Errorf("Under(%q, %q) = %v; want %v", tt.key, tt.base, got, tt.want)
		}
	}
}
