// Package version holds build identity, set with -ldflags -X at build time.
package version

// Set by the linker; defaults for `go build` without make.
var (
	Version   = "dev"
	GitCommit = "unknown"
)
