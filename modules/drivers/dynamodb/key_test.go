package dynamodb

import (
	"strings"
	"testing"
	"unicode/utf8"
)

func TestEncodeKey(t *testing.T) {
	t.Parallel()
	tests := []struct{ key, pk, sk string }{
		{"app:users:42", "app", "users:42"},
		{"app", "app", "%"},
		{"app:", "app", "%_"},
		{"", "%", "%"},
		{":", "%", "%_"},
		{":k", "%", "k"},
		{"a::b", "a", ":b"},
		{"50%:x%y", "50%25", "x%25y"},
		{"\xff:\xc3\x28", "%FF", "%C3("},
		{"é:日本語", "é", "日本語"},
	}
	for _, tt := range tests {
		pk, sk := EncodeKey(tt.key)
		if pk != tt.pk || sk != tt.sk {
			t.Errorf("EncodeKey(%q) = %q, %q; want %q, %q", tt.key, pk, sk, tt.pk, tt.sk)
		}
	}
	long := "app:users:" + strings.Repeat("x", 2000)
	pk, sk := EncodeKey(long)
	if pk != "app" || len(sk) > maxSortKey || !strings.HasPrefix(sk, "users:%H") {
		t.Errorf("EncodeKey(a %d-byte key under app:users) = %q, %q (%d bytes); want \"app\" and a sort key of at most %d bytes starting \"users:%%H\"", len(long), pk, sk, len(sk), maxSortKey)
	}
	if _, other := EncodeKey(long + "y"); other == sk {
		t.Errorf("EncodeKey gives two long keys the same sort key %q", sk)
	}
	if pk, _ := EncodeKey(strings.Repeat("p", 3000) + ":k"); len(pk) > maxPartitionKey || !strings.HasPrefix(pk, "%H") {
		t.Errorf("EncodeKey(a key whose first part is 3000 bytes) has the partition key %q; want %%H and a hash", pk)
	}
}

func TestClearRange(t *testing.T) {
	t.Parallel()
	tests := []struct {
		base, pk, prefix string
		all              bool
	}{
		{"", "", "", true},
		{"app", "app", "", false},
		{"app:users", "app", "users:", false},
		{"app:u%", "app", "u%25:", false},
		{"users", "users", "", false},
	}
	for _, tt := range tests {
		pk, prefix, all := clearRange(tt.base)
		if pk != tt.pk || prefix != tt.prefix || all != tt.all {
			t.Errorf("clearRange(%q) = %q, %q, %t; want %q, %q, %t", tt.base, pk, prefix, all, tt.pk, tt.prefix, tt.all)
		}
	}
}

// FuzzEncodeKey checks that encoded keys are valid UTF-8 within
// DynamoDB's limits, and that a clear of a namespace reaches the keys
// under it: their item is in the clear's partition, and their sort key
// starts with the clear's prefix.
func FuzzEncodeKey(f *testing.F) {
	for _, s := range [][2]string{{"app:users", "k"}, {"", ""}, {"a\xc3", "\xa9"}, {"%", "%41"}, {"x:y:z", ":"}} {
		f.Add(s[0], s[1])
	}
	f.Fuzz(func(t *testing.T, base, key string) {
		k := encodeKey(base + ":" + key)
		for _, s := range []string{k.pk, k.sk} {
			if s == "" || !utf8.ValidString(s) {
				t.Fatalf("encodeKey(%q) = %q: a key attribute must be non-empty UTF-8", base+":"+key, k)
			}
		}
		if len(k.pk) > maxPartitionKey || len(k.sk) > maxSortKey {
			t.Fatalf("encodeKey(%q) = %d and %d bytes; want at most %d and %d", base+":"+key, len(k.pk), len(k.sk), maxPartitionKey, maxSortKey)
		}
		if base == "" {
			return // the root of an empty prefix: every item
		}
		pk, prefix, _ := clearRange(base)
		if pk != k.pk {
			t.Fatalf("encodeKey(%q) is in partition %q; a clear of %q queries %q", base+":"+key, k.pk, base, pk)
		}
		if strings.Contains(k.sk, "%H") || strings.HasPrefix(k.sk, prefix) && (prefix != "" || k.sk != noSeparator) {
			return
		}
		t.Fatalf("encodeKey(%q) has the sort key %q; a clear of %q deletes sort keys starting %q", base+":"+key, k.sk, base, prefix)
	})
}
