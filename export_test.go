package bento

// Hooks for the tests of package bento_test, which may import the driver
// modules (an internal test could not: they import this package).

// NamespaceCount returns how many namespace entries the default store of b
// holds.
func NamespaceCount(b *Bento) int {
	n := 0
	b.def.namespaces.Range(func(_, _ any) bool { n++; return true })
	return n
}

// TagStateCount returns how many tag states the namespace c keeps.
func TagStateCount(c *Cache) int64 { return c.tags.n.Load() }

// MaxTagStates is maxTagStates, for the tests.
const MaxTagStates = maxTagStates
