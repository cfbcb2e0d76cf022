// Package build routes POST /build (the classic builder), POST
// /build/prune (its build cache) and POST /build/cancel.
//
// The router decodes every query parameter dockerd's build router reads
// into Options, refuses what the classic builder cannot do (squash
// without experimental mode, version=2 BuildKit builds, remote contexts
// while offline) before any byte is written, and turns the builder's
// Output calls into the classic builder's JSON stream, one message per
// call, flushed at once:
//
//	{"stream":"Step 1/3 : FROM busybox\n"}
//	{"aux":{"ID":"sha256:..."}}            (API >= 1.30)
//	{"errorDetail":{"code":3,"message":M},"error":M}
//
// An error before the first message is an HTTP error with its errdefs
// status; after it, an in-band errorDetail message.
package build

import (
	"context"
	"io"

	"github.com/moby/moby/api/types/build"
	"github.com/moby/moby/api/types/container"

	"github.com/berth-dev/berth/internal/filters"
)

// Backend runs a classic build. The builder (internal/builder) is adapted
// to it at wiring: the API layer links no builder code.
type Backend interface {
	// Build builds body (the build context as a tar, perhaps
	// compressed) and returns the built image's ID ("sha256:..."). A
	// failed RUN is returned as a *StepError (or an error wrapping one).
	Build(ctx context.Context, body io.Reader, opts Options, out Output) (string, error)
}

// CachePruner serves POST /build/prune.
type CachePruner interface {
	Prune(ctx context.Context, opts PruneOptions) (build.CachePruneReport, error)
}

// Options are /build's query parameters. The field list is the same as
// builder.Options (converted at wiring), so the two stay in step.
type Options struct {
	Dockerfile  string             // dockerfile: path in the context; "" = "Dockerfile"
	Tags        []string           // t (several), checked and normalised ("name:tag")
	BuildArgs   map[string]*string // buildargs; a nil value: --build-arg NAME with NAME unset on the client
	Labels      map[string]string  // labels
	Target      string             // target
	NoCache     bool               // nocache
	Pull        bool               // pull
	Quiet       bool               // q: the router already buffers the stream and prints only the ID
	Remove      bool               // rm (default true; forcerm implies it)
	ForceRemove bool               // forcerm
	CacheFrom   []string           // cachefrom
	Platform    string             // platform (API >= 1.32)
	// HostConfig carries networkmode, shmsize, memory, memswap,
	// cpushares, cpuquota, cpuperiod, cpusetcpus, cpusetmems,
	// cgroupparent, ulimits, extrahosts and isolation for RUN containers.
	HostConfig container.HostConfig
}

// Output receives the build's progress: each call is one JSON message.
type Output interface {
	Stream(text string) error // {"stream": text}
	Aux(id string) error      // {"aux":{"ID": id}}
}

// StepError is a failed RUN step, reported as
// {"errorDetail":{"code":Code,"message":Message},"error":Message}.
type StepError struct {
	Code    int
	Message string
}

func (e *StepError) Error() string { return e.Message }

// PruneOptions are /build/prune's query parameters.
type PruneOptions struct {
	All     bool         // all: every record, not only the dangling ones
	Filters filters.Args // until (unused-for), id, parent, type, description, inuse, shared, private; label, label! accepted and ignored
	// ReservedSpace (reserved-space, keep-storage before 1.48): keep at
	// least this many bytes of the most recently used cache.
	ReservedSpace int64
	MaxUsedSpace  int64 // max-used-space: prune until the cache is at most this
	MinFreeSpace  int64 // min-free-space: prune until the disk has this much free
}
