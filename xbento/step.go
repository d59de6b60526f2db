package xbento

// Step is one stage of a build. A failed build returns a [*StepError] that
// names the step.
type Step string

// The steps of [Builder.Build], in order, and of the xbento command.
const (
	// StepPrepare checks the Builder: the output path, the modules, the
	// replacements (a local replacement must be a directory with a go.mod)
	// and the bento version.
	StepPrepare Step = "prepare"
	// StepWriteMain creates the temporary folder and writes main.go in it.
	StepWriteMain Step = "write-main"
	// StepModInit runs go mod init.
	StepModInit Step = "mod-init"
	// StepReplace runs go mod edit with the replacements, and requires the
	// replaced modules that go get then skips.
	StepReplace Step = "replace"
	// StepGetBento runs go get for bento, unless bento is replaced.
	StepGetBento Step = "get-bento"
	// StepGetModules runs go get for each module that is not replaced.
	StepGetModules Step = "get-modules"
	// StepTidy runs go mod tidy.
	StepTidy Step = "tidy"
	// StepBuild runs go build.
	StepBuild Step = "build"
	// StepCleanup removes the temporary folder.
	StepCleanup Step = "cleanup"
	// StepRun runs the binary that xbento run built; only the xbento
	// command reports it.
	StepRun Step = "run"
)

// StepError is the error of a build: the step that failed and why. Its
// message reads "step <name>: <cause>".
type StepError struct {
	Step Step
	Err  error
}

func (e *StepError) Error() string { return "step " + string(e.Step) + ": " + e.Err.Error() }

// Unwrap returns the cause.
func (e *StepError) Unwrap() error { return e.Err }
