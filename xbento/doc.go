// Package xbento builds custom bento binaries: Caddy, bento with its standard
// modules, and the extra packages a [Builder] names, each of which registers
// its modules (drivers, adapters, buses, serializers, Caddy plugins) in init.
// It is the builder behind the xbento command, as package xcaddy is behind
// xcaddy, and it writes main.go from the template that cmd/bento's main.go
// comes from, so a custom binary differs from the stock one only by its
// extra imports.
//
// [Builder.Build] works in a temporary module: go mod init, go mod edit for
// the replacements, go get for bento and for every module that is not
// replaced (a module replaced by a local directory is never fetched, so a
// module path that no proxy serves builds offline), go mod tidy, go build.
// Progress goes to [Builder.Log] as [INFO] lines, every go command with its
// timeout; a failure is a [*StepError] that names the [Step].
//
//	b := xbento.Builder{
//		Modules: []xbento.Dependency{
//			{PackagePath: "github.com/you/bento-driver", Version: "v1.2.0"},
//		},
//		Replacements: []xbento.Replace{
//			{Old: xbento.BentoModule, New: "../bento"}, // a checkout
//		},
//	}
//	if err := b.Build(ctx, "./bento"); err != nil {
//		return err // "step get-modules: go get -v …: exit status 1: …"
//	}
package xbento
