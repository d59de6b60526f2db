package bento

import "runtime/debug"

// Version returns "bento <version>", the version of the bento module in the
// binary's build information ("(devel)" for a build inside bento's own
// repository; a replaced module shows its replacement). The bento command
// sets it as caddy.CustomVersion, which Caddy puts before its own version.
func Version() string {
	bentoVersion := "(devel)"
	if bi, ok := debug.ReadBuildInfo(); ok {
		if bi.Main.Path == "github.com/bentocache/bento" && bi.Main.Version != "" {
			bentoVersion = bi.Main.Version
		}
		for _, dep := range bi.Deps {
			if dep.Path == "github.com/bentocache/bento" {
				bentoVersion = dep.Version
				if dep.Replace != nil {
					bentoVersion += " => " + dep.Replace.Path
				}
			}
		}
	}
	return "bento " + bentoVersion
}
