// Package keys builds the "prefix:namespace:key" layout that every bento
// driver shares, so that the same namespace means the same keys in L1, L2 and
// on the bus.
package keys

import "strings"

// Separator joins a prefix, namespaces and a key.
const Separator = ":"

// Join appends part to base with [Separator]. An empty base yields part alone,
// so an empty prefix adds nothing to the layout.
func Join(base, part string) string {
	if base == "" {
		return part
	}
	return base + Separator + part
}

// ClearPrefix is the prefix that every key under base starts with: base and a
// separator, or "" (every key) when base is empty. Matching on it keeps a clear
// of "app:users" away from "app:usersX".
func ClearPrefix(base string) string {
	if base == "" {
		return ""
	}
	return base + Separator
}

// Under reports whether key lies under base (see [ClearPrefix]).
func Under(key, base string) bool {
	return strings.HasPrefix(key, ClearPrefix(base))
}
