package dynamodb

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/bentocache/bento/internal/keys"
)

const (
	// maxPartitionKey and maxSortKey are DynamoDB's limits on the UTF-8
	// length of a string partition key and sort key.
	maxPartitionKey = 2048
	maxSortKey      = 1024
	// hashedLen is the length of a hashed tail: "%H" and 64 hex digits.
	hashedLen = 66
	// noSeparator is the sort key of a key that has no separator (its
	// whole is the partition key), and emptyRest the sort key of a key
	// whose part after the first separator is empty. Neither is an
	// encoding: [encode] writes "%" only followed by two hex digits.
	noSeparator = "%"
	emptyRest   = "%_"
)

// itemKey is the primary key of an item: its partition and sort key.
type itemKey struct{ pk, sk string }

// EncodeKey returns the partition key and the sort key of the item that
// holds the bento key key. The partition key is the key's first
// ":"-separated part (the driver's prefix, or the store's), the sort key
// is the rest; both are encoded so that DynamoDB takes them as strings:
// "%" is written "%25" and every byte that is not part of valid UTF-8 is
// written %XX (two upper-case hex digits). An empty part is written "%",
// the sort key of a key with no ":" is "%" and that of a key ending in its
// first ":" is "%_", which no encoded part can be, so that the mapping is
// one to one.
//
// A sort key whose encoding would pass DynamoDB's 1024 bytes keeps its
// leading parts that fit, followed by "%H" and the SHA-256 of the whole
// rest, in hex; a partition key past 2048 bytes becomes "%H" and the
// SHA-256 of the part. A clear of a namespace whose own name was hashed
// away (about a kilobyte long) does not reach the keys under it.
func EncodeKey(key string) (partitionKey, sortKey string) {
	k := encodeKey(key)
	return k.pk, k.sk
}

// encodeKey is [EncodeKey] as an itemKey.
func encodeKey(key string) itemKey {
	first, rest, found := strings.Cut(key, keys.Separator)
	k := itemKey{pk: encodePartition(first)}
	switch {
	case !found:
		k.sk = noSeparator
	case rest == "":
		k.sk = emptyRest
	default:
		k.sk = encodeSort(rest)
	}
	return k
}

// encodePartition encodes the first part of a key.
func encodePartition(part string) string {
	if part == "" {
		return noSeparator
	}
	e := encode(part)
	if len(e) > maxPartitionKey {
		return hashed("", part)
	}
	return e
}

// encodeSort encodes the rest of a key after its first separator, hashing
// the parts that do not fit.
func encodeSort(rest string) string {
	e := encode(rest)
	if len(e) <= maxSortKey {
		return e
	}
	// Keep the leading parts, each with its separator, that leave room
	// for the hash.
	head := 0
	for i := 0; i < len(e); i++ {
		if e[i] == keys.Separator[0] {
			if i+1 > maxSortKey-hashedLen {
				break
			}
			head = i + 1
		}
	}
	return hashed(e[:head], rest)
}

// hashed is head followed by the hash of s.
func hashed(head, s string) string {
	sum := sha256.Sum256([]byte(s))
	return head + "%H" + hex.EncodeToString(sum[:])
}

// clearRange returns what a clear of the keys under base reads: the
// partition to query, and the encoded prefix that their sort keys start
// with ("" for the whole partition). all reports that base is empty: every
// item of the table is under it.
func clearRange(base string) (pk, skPrefix string, all bool) {
	if base == "" {
		return "", "", true
	}
	first, rest, found := strings.Cut(base, keys.Separator)
	pk = encodePartition(first)
	if found {
		skPrefix = encode(rest + keys.Separator)
	}
	return pk, skPrefix, false
}

// encode writes s as valid UTF-8: "%" as "%25", and every byte that does
// not start a valid UTF-8 sequence as %XX. It works rune by rune, so the
// encoding of a prefix of s that ends in a separator is a prefix of the
// encoding of s.
func encode(s string) string {
	var b strings.Builder
	b.Grow(len(s))
	for i := 0; i < len(s); {
		r, n := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && n == 1:
			fmt.Fprintf(&b, "%%%02X", s[i])
		case r == '%':
			b.WriteString("%25")
		default:
			b.WriteString(s[i : i+n])
		}
		i += n
	}
	return b.String()
}
