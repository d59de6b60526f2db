package file

import (
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/bentocache/bento/internal/keys"
)

// nameRE matches every name the layout gives to a directory or an entry.
var nameRE = regexp.MustCompile(`^([_=][a-z0-9_%-]{0,64}|[~#][0-9a-f]{64})$`)

func hashed(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])
}

func TestEntryPath(t *testing.T) {
	long := strings.Repeat("x", 65)
	tests := []struct {
		key  string
		want string // relative to the root, with "/"
	}{
		{"k", "=k"},
		{"", "="},
		{":", "_/="},
		{"app:users:42", "_app/_users/=42"},
		{"app:", "_app/="},
		{"app::k", "_app/_/=k"},
		{"Users", "=%55sers"},
		{"a/b", "=a%2fb"},
		{"a\\b", "=a%5cb"},
		{"../k", "=%2e%2e%2fk"},
		{"..", "=%2e%2e"},
		{"/abs", "=%2fabs"},
		{"k\x00", "=k%00"},
		{"é", "=%c3%a9"},
		{"a%2fb", "=a%252fb"},
		{"a.b ", "=a%2eb%20"},
		{"a:b:c:d:e:f:g:h:i", "_a/_b/_c/_d/_e/_f/_g/_h/=i"},
		{"a:b:c:d:e:f:g:h:i:j", "_a/_b/_c/_d/_e/_f/_g/_h/=i%3aj"},
		{strings.Repeat("x", 64), "=" + strings.Repeat("x", 64)},
		{long, "#" + hashed(long)},
		{long + ":k", "~" + hashed(long) + "/=k"},
		{strings.Repeat("\xff", 21), "=" + strings.Repeat("%ff", 21)},
		{strings.Repeat("\xff", 22), "#" + hashed(strings.Repeat("\xff", 22))},
		{"a:b:c:d:e:f:g:h:" + long + ":k", "_a/_b/_c/_d/_e/_f/_g/_h/#" + hashed(long+":k")},
	}
	root := filepath.Join("r", "oot")
	for _, tt := range tests {
		dir, path := entryPath(root, tt.key)
		want := filepath.Join(root, filepath.FromSlash(tt.want))
		if path != want || dir != filepath.Dir(want) {
			t.Errorf("entryPath(%q, %q) = %q, %q; want %q, %q", root, tt.key, dir, path, filepath.Dir(want), want)
		}
	}
}

func TestNamespaceDir(t *testing.T) {
	tests := []struct {
		base  string
		want  string
		exact bool
	}{
		{"app", "_app", true},
		{"app:users", "_app/_users", true},
		{"app:", "_app/_", true},
		{"a:b:c:d:e:f:g:h", "_a/_b/_c/_d/_e/_f/_g/_h", true},
		{"a:b:c:d:e:f:g:h:i", "_a/_b/_c/_d/_e/_f/_g/_h", false},
		{"a:b:c:d:e:f:g:h:i:j", "_a/_b/_c/_d/_e/_f/_g/_h", false},
	}
	for _, tt := range tests {
		dir, exact := namespaceDir("root", tt.base)
		if want := filepath.Join("root", filepath.FromSlash(tt.want)); dir != want || exact != tt.exact {
			t.Errorf("namespaceDir(%q, %q) = %q, %t; want %q, %t", "root", tt.base, dir, exact, want, tt.exact)
		}
	}
}

// checkLayout checks what the layout promises of every path: under root, at
// most maxDepth+1 names, each a name of the layout.
func checkLayout(t *testing.T, root, key, path string) {
	t.Helper()
	rel, err := filepath.Rel(root, path)
	if err != nil || !filepath.IsLocal(rel) {
		t.Fatalf("entryPath(%q, %q) = %q: not under the root", root, key, path)
	}
	names := strings.Split(rel, string(os.PathSeparator))
	if len(names) > maxDepth+1 {
		t.Errorf("entryPath(%q, %q) = %q: %d names; want at most %d", root, key, path, len(names), maxDepth+1)
	}
	for i, n := range names {
		isDir := i < len(names)-1
		if !nameRE.MatchString(n) || isDir != isDirName(n) || !isDir != isEntryName(n) {
			t.Errorf("entryPath(%q, %q) = %q: name %q is not a %s name of the layout", root, key, path, n, map[bool]string{true: "directory", false: "file"}[isDir])
		}
	}
}

// FuzzLayout checks that entryPath stays under its root, is injective, and
// puts every key under a namespace in that namespace's directory and no
// other key there.
func FuzzLayout(f *testing.F) {
	for _, s := range [][3]string{
		{"app:users", "42", "app:usersAbc:42"},
		{"", "k", "K"},
		{"a:b:c:d:e:f:g:h:i", "k", "a:b:c:d:e:f:g:h:j:k"},
		{"..", "../../etc/passwd", "/abs"},
		{strings.Repeat("y", 256), "k\x00", "\xff\xfe"},
	} {
		f.Add(s[0], s[1], s[2])
	}
	const root = "root"
	f.Fuzz(func(t *testing.T, base, rest, other string) {
		k := keys.ClearPrefix(base) + rest
		kdir, kpath := entryPath(root, k)
		odir, opath := entryPath(root, other)
		checkLayout(t, root, k, kpath)
		checkLayout(t, root, other, opath)
		if k != other && kpath == opath {
			t.Errorf("entryPath(%q) = entryPath(%q) = %q; want distinct paths", k, other, kpath)
		}
		if base == "" {
			return
		}
		dir, exact := namespaceDir(root, base)
		under := func(d string) bool { return d == dir || strings.HasPrefix(d, dir+string(os.PathSeparator)) }
		if exact && !under(kdir) || !exact && kdir != dir {
			t.Errorf("entryPath(%q) is in %q; want it in namespaceDir(%q) = %q, %t", k, kdir, base, dir, exact)
		}
		if exact && under(odir) && !keys.Under(other, base) {
			t.Errorf("entryPath(%q) is in %q, under namespaceDir(%q) = %q; want only keys under %q there", other, odir, base, dir, keys.ClearPrefix(base))
		}
	})
}

func TestStampedName(t *testing.T) {
	a, b := stampedName(tempPrefix, 1234), stampedName(tempPrefix, 1234)
	if a == b {
		t.Errorf("stampedName(%q, 1234) twice = %q; want distinct names", tempPrefix, a)
	}
	if ms, ok := stampOf(a, tempPrefix); !ok || ms != 1234 {
		t.Errorf("stampOf(%q, %q) = %d, %t; want 1234, true", a, tempPrefix, ms, ok)
	}
	for _, name := range []string{"=k", ".tmp-", ".tmp-x-1", ".del-1-2", "1234"} {
		if ms, ok := stampOf(name, tempPrefix); ok {
			t.Errorf("stampOf(%q, %q) = %d, true; want false", name, tempPrefix, ms)
		}
	}
}
