package bento

import "runtime/debug"

// Version returns "bento <version>", the version of the bento module in the
// binary's build information: "(devel)" for a build inside bento's own
// repository, "(local checkout)" when a replace points bento at a
// directory (its path is left out: it says nothing to whoever reads the
// version elsewhere), and the replacement's module and version when a
// replace names another module. The bento command sets it, followed by
// "; caddy", as caddy.CustomVersion, before which Caddy prints nothing and
// after which it prints its own version: "bento v1.2.0; caddy v2.11.9 h1:…".
func Version() string {
	bentoVersion := "(devel)"
	if bi, ok := debug.ReadBuildInfo(); ok {
		if bi.Main.Path == "github.com/bentocache/bento" && bi.Main.Version != "" {
			bentoVersion = bi.Main.Version
		}
		for _, dep := range bi.Deps {
			if dep.Path != "github.com/bentocache/bento" {
				continue
			}
			switch r := dep.Replace; {
			case r == nil:
				bentoVersion = dep.Version
			case r.Version == "":
				bentoVersion = "(local checkout)"
			default:
				bentoVersion = r.Path + "@" + r.Version
			}
		}
	}
	return "bento " + bentoVersion
}
