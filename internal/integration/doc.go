// Package integration holds cross-package tests against real servers: several
// bento managers in one test process, each with its own in-process L1,
// sharing a real L2 and a real bus, as the instances of one service would.
// They check what no single package's tests can, such as the coherence of
// every instance's L1 after a write on one, and what happens to it when an
// instance loses its bus and gets it back. TestBentoCache also runs
// BentoCache, the Node.js library bento ports, in a child process
// (testdata/bentocache, installed with npm ci) beside a bento manager.
//
// The package has no code of its own, only tests. They need the servers that
// internal/testenv names (BENTO_POSTGRES_DSN, …) and skip without them, or
// fail with BENTO_REQUIRE_SERVICES=1:
//
//	BENTO_REQUIRE_SERVICES=1 go test -race ./internal/integration
package integration
