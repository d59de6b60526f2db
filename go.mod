module github.com/bentocache/bento

go 1.26

require (
	github.com/maypok86/otter/v2 v2.4.0
	go.uber.org/zap v1.28.0
)

require go.uber.org/multierr v1.10.0 // indirect
