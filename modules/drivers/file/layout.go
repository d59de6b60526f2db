package file

import (
	"crypto/sha256"
	"encoding/hex"
	"math/rand/v2"
	"os"
	"strconv"
	"strings"

	"github.com/bentocache/bento/internal/keys"
)

// The on-disk layout. A full key ("prefix:namespace:key") is split on
// keys.Separator; each segment but the last becomes a directory, down to
// maxDepth directories, and what is left of the key names the file:
//
//	"app:users:42"       → _app/_users/=42
//	"app:Users:a/b"      → _app/_%55sers/=a%2fb
//	"app:users:<10 KiB>" → _app/_users/#<sha256 of the segment>
//
// Every name starts with a mark that says what it is, followed by the
// segment escaped into [a-z0-9_-] and %xx (lower-case hex), or by the SHA-256
// of the segment in lower-case hex when the escaped form is longer than
// maxName. A name is therefore at most 65 bytes of lower-case ASCII, never
// "." or "..", with no separator, NUL, colon, trailing dot or space: it is
// the same name on every file system, case-insensitive and normalising ones
// included, and a key cannot name a path outside the directory. Names
// starting with "." are the driver's bookkeeping (temporary files, claimed
// files, the trash), which no key maps to.
//
// A namespace is a directory: every key under "app:users:" lies in _app/_users
// and nothing else does, so clearing a namespace removes one subtree.
const (
	// maxDepth bounds the directories taken from a key, so that a key with
	// many separators stays within PATH_MAX (1024 bytes on macOS): at most
	// maxDepth×66+65 bytes are added to the directory.
	maxDepth = 8
	// maxName is the longest escaped segment kept readable; a longer one
	// is hashed.
	maxName = 64

	dirMark         = '_' // a directory of a segment, escaped
	hashedDirMark   = '~' // a directory of a segment, hashed
	entryMark       = '=' // an entry file, the rest of the key escaped
	hashedEntryMark = '#' // an entry file, the rest of the key hashed

	// tempPrefix starts the name of a file being written by Set, in the
	// directory of its entry: ".tmp-<unix ms>-<random>".
	tempPrefix = ".tmp-"
	// claimPrefix starts the name an entry is renamed to by Pull and
	// Delete, so that only one caller takes it: ".del-<unix ms>-<random>".
	claimPrefix = ".del-"
	// trashDir, at the top of the directory, holds what Clear is removing,
	// one "<unix ms>-<random>" directory per Clear.
	trashDir = ".trash"
)

// entryPath returns the file of full key k under root, and its directory.
func entryPath(root, k string) (dir, path string) {
	b := make([]byte, 0, len(root)+len(k)+32)
	b = append(b, root...)
	rest := k
	for range maxDepth {
		seg, after, ok := strings.Cut(rest, keys.Separator)
		if !ok {
			break
		}
		b = append(b, os.PathSeparator)
		b = appendName(b, seg, dirMark, hashedDirMark)
		rest = after
	}
	n := len(b)
	b = append(b, os.PathSeparator)
	b = appendName(b, rest, entryMark, hashedEntryMark)
	path = string(b)
	return path[:n], path
}

// namespaceDir returns the directory under root that holds the keys under
// keys.ClearPrefix(base), for a non-empty base. When exact is true it holds
// those keys and no other, in any subdirectory; when base has more than
// maxDepth segments it is false, and dir holds those keys among others, all
// as files directly in dir.
func namespaceDir(root, base string) (dir string, exact bool) {
	b := make([]byte, 0, len(root)+len(base)+16)
	b = append(b, root...)
	rest := base
	for range maxDepth {
		seg, after, ok := strings.Cut(rest, keys.Separator)
		b = append(b, os.PathSeparator)
		b = appendName(b, seg, dirMark, hashedDirMark)
		if !ok {
			return string(b), true
		}
		rest = after
	}
	return string(b), false
}

// appendName appends the file name of segment s to b: mark and s escaped,
// or hashedMark and the SHA-256 of s when s escaped is longer than maxName.
func appendName(b []byte, s string, mark, hashedMark byte) []byte {
	if escapedLen(s) > maxName {
		sum := sha256.Sum256([]byte(s))
		return hex.AppendEncode(append(b, hashedMark), sum[:])
	}
	b = append(b, mark)
	for i := range len(s) {
		c := s[i]
		if plain(c) {
			b = append(b, c)
			continue
		}
		b = append(b, '%', hexDigits[c>>4], hexDigits[c&0xf])
	}
	return b
}

const hexDigits = "0123456789abcdef"

// plain reports whether c stands for itself in a name. Upper-case letters
// are escaped, so that names differing only in case never meet on a
// case-insensitive file system.
func plain(c byte) bool {
	return 'a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-' || c == '_'
}

// escapedLen returns the length of s escaped by appendName.
func escapedLen(s string) int {
	n := 0
	for i := range len(s) {
		if plain(s[i]) {
			n++
		} else {
			n += 3
		}
	}
	return n
}

// isDirName and isEntryName report whether a name is one the layout gives
// to a directory or to an entry file. Anything else under the directory
// that does not start with "." is not the driver's, and is left alone.
func isDirName(name string) bool {
	return name != "" && (name[0] == dirMark || name[0] == hashedDirMark)
}

func isEntryName(name string) bool {
	return name != "" && (name[0] == entryMark || name[0] == hashedEntryMark)
}

// stampedName returns a fresh "<prefix><unix ms>-<random>" name. The time
// lets Prune tell leftovers of a crash from files in use.
func stampedName(prefix string, nowMs int64) string {
	b := make([]byte, 0, len(prefix)+32)
	b = append(b, prefix...)
	b = strconv.AppendInt(b, nowMs, 10)
	b = append(b, '-')
	b = strconv.AppendUint(b, rand.Uint64(), 36)
	return string(b)
}

// stampOf returns the time in a name made by stampedName with prefix.
func stampOf(name, prefix string) (ms int64, ok bool) {
	rest, ok := strings.CutPrefix(name, prefix)
	if !ok {
		return 0, false
	}
	stamp, _, ok := strings.Cut(rest, "-")
	if !ok {
		return 0, false
	}
	ms, err := strconv.ParseInt(stamp, 10, 64)
	return ms, err == nil
}
