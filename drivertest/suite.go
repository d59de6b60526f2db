package drivertest

import (
	"context"
	"testing"
)

// suiteCase is one case of a suite whose cases work with an env E.
type suiteCase[E any] struct {
	name string
	// rootOnly cases are not re-run on a namespace.
	rootOnly bool
	run      func(t *testing.T, e E)
}

// env is what a case of a suite on drivers D works with, each driver seen
// through its checks C.
type env[D, C any] struct {
	ctx  context.Context // cancelled by the watchdog
	o    Options
	open func(t *testing.T) D
	// kind names D in messages: "bento.L2Driver".
	kind string
	// check wraps a driver that a case opened, named in messages by name
	// ("" for the only driver of a case).
	check func(t *testing.T, e *env[D, C], d D, name string) C
}

// driver opens a driver for t, named in messages by name ("" for the only
// driver of a case), and ends the subtest if open returned none.
func (e *env[D, C]) driver(t *testing.T, name string) C {
	t.Helper()
	d := e.open(t)
	if any(d) == nil {
		t.Fatalf("open returned a nil %s", e.kind)
	}
	return e.check(t, e, d, name)
}

// dotted returns name followed by a dot, the way messages prefix a named
// driver's calls, or "" for the only driver of a case.
func dotted(name string) string {
	if name == "" {
		return ""
	}
	return name + "."
}

// suite is a suite of cases on drivers D, seen through checks C.
type suite[D, C any] struct {
	kind  string
	cases []suiteCase[*env[D, C]]
	check func(t *testing.T, e *env[D, C], d D, name string) C
}

// run runs each case as a parallel subtest of t with its own watchdog,
// named prefix and the case's name, on drivers from open. With a prefix
// (a namespace's run of the suite) the rootOnly cases are left out.
func (s suite[D, C]) run(t *testing.T, o Options, prefix string, open func(t *testing.T) D) {
	t.Helper()
	for _, c := range s.cases {
		if prefix != "" && c.rootOnly {
			continue
		}
		subtest(t, o, prefix+c.name, func(t *testing.T, ctx context.Context) {
			c.run(t, &env[D, C]{ctx: ctx, o: o, open: open, kind: s.kind, check: s.check})
		})
	}
}
