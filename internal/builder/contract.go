// This file is the contract between the builder and the rest of berth:
// the router decodes Options, the engine adapter provides Backend, the
// cache store provides Cache. (The package doc is in doc.go.)

package builder

import (
	"context"
	"io"

	dockerspec "github.com/moby/docker-image-spec/specs-go/v1"
	ctypes "github.com/moby/moby/api/types/container"

	"github.com/berth-dev/berth/internal/image"

	// the parser the builder uses (kept in go.mod by this import)
	_ "github.com/moby/buildkit/frontend/dockerfile/instructions"
)

// Options are POST /build's query parameters, decoded by the router.
type Options struct {
	Dockerfile  string             // path of the Dockerfile in the context; "" = "Dockerfile"
	Tags        []string           // t (several)
	BuildArgs   map[string]*string // buildargs (nil value = take it from the daemon's environment? no: docker: unset)
	Labels      map[string]string  // labels, set on the final image
	Target      string             // target stage
	NoCache     bool               // nocache
	Pull        bool               // pull: offline berth only checks the image is local
	Quiet       bool               // q: suppress step output, print only the ID
	Remove      bool               // rm: remove intermediate containers after a successful step (default true)
	ForceRemove bool               // forcerm: remove them always
	CacheFrom   []string           // cachefrom: images whose history may serve as cache
	Platform    string             // platform: "" or linux[/arch]
	// HostConfig carries networkmode, shmsize, memory, memswap,
	// cpushares, cpuquota, cpuperiod, cpusetcpus, cpusetmems, ulimits,
	// extrahosts (and isolation, ignored) for RUN containers.
	HostConfig ctypes.HostConfig
}

// Output receives the build's progress. The router turns each call into
// one JSON message of the classic builder's stream.
type Output interface {
	Stream(text string) error // {"stream": text}; text ends with "\n" when it is a whole line
	Aux(id string) error      // {"aux":{"ID": id}} (the built image's ID, once, at the end)
}

// StepError is a failed RUN: the router reports it as
// {"errorDetail":{"code":Code,"message":Message},"error":Message}.
// Message is dockerd's: "The command '/bin/sh -c exit 3' returned a
// non-zero code: 3".
type StepError struct {
	Code    int
	Message string
}

func (e *StepError) Error() string { return e.Message }

// RunRequest is one RUN step's container.
type RunRequest struct {
	Image image.ID // the step's parent image ("" = scratch)
	// Config: Cmd = the command to run (Entrypoint is cleared), and the
	// stage's Env, User, WorkingDir, Shell, Labels and Volumes. The
	// backend mounts Volumes as anonymous volumes (seeded from the
	// image, removed with the container), so what RUN writes under them
	// never reaches the committed layer, as with dockerd.
	Config     ctypes.Config
	HostConfig ctypes.HostConfig // Options.HostConfig
	Out        io.Writer         // stdout and stderr, interleaved, as the process writes them
	// Stderr, when the backend can keep the streams apart, takes the
	// process's stderr instead of Out (the builder shows it in dockerd's
	// red, "\033[91m...\033[0m"). A backend that cannot ignores it.
	Stderr io.Writer
	// Created, when set, is called once with the container's ID after
	// the container is created and before it starts (so the builder
	// prints " ---> Running in <id>" ahead of the command's output).
	Created func(containerID string)
}

// CommitRequest makes one step's image.
type CommitRequest struct {
	Parent    image.ID                        // "" = scratch
	Config    dockerspec.DockerOCIImageConfig // the new image's config, exactly (no merging with the parent)
	CreatedBy string                          // history entry: "/bin/sh -c #(nop)  ENV A=b", "|1 X=y /bin/sh -c make"
	Comment   string                          // history comment ("" = none)
	Author    string                          // the image's author (MAINTAINER; "" = none)
}

// WorkLayer is a writable layer on an image's layers with no container
// around it: COPY and ADD write into Path, then Commit makes the step's
// image from its changes. Release unmounts and removes it (after Commit
// too); it is safe to call twice.
type WorkLayer interface {
	Path() string
	Commit(ctx context.Context, req CommitRequest) (image.ID, error)
	Release(ctx context.Context) error
}

// Backend is what the builder needs from the engine. Errors carry the
// errdefs classes (NotFound for missing images, ...).
type Backend interface {
	// Image resolves a local image (name[:tag], ID, ID prefix).
	Image(ctx context.Context, ref string) (*image.Image, error)
	// Run creates a container for req, starts it, copies its output to
	// req.Out until it exits, and returns its ID (the stopped container,
	// kept for CommitContainer) and exit code. err is for failures to run
	// at all; a nonzero exit is not an error here.
	Run(ctx context.Context, req RunRequest) (containerID string, exitCode int, err error)
	// CommitContainer makes an image of a stopped container's writable
	// layer on req.Parent (the container's image).
	CommitContainer(ctx context.Context, containerID string, req CommitRequest) (image.ID, error)
	// RemoveContainer removes a build container and its layer.
	RemoveContainer(ctx context.Context, containerID string) error
	// NewWorkLayer makes a WorkLayer on parent's layers ("" = empty).
	NewWorkLayer(ctx context.Context, parent image.ID) (WorkLayer, error)
	// CommitConfig makes a metadata-only image (no new layer) on parent.
	CommitConfig(ctx context.Context, req CommitRequest) (image.ID, error)
	// Tag points ref ("name[:tag]") at id.
	Tag(ctx context.Context, id image.ID, ref string) error
	// ReadOnlyRootfs mounts id's layers read-only for COPY --from and
	// returns the path and its release.
	ReadOnlyRootfs(ctx context.Context, id image.ID) (path string, release func(), err error)
}

// ImageRemover is an optional Backend capability. After a failed build
// (unless opts.Remove is false: the user keeps intermediates) the
// builder calls RemoveBuildImage for each image the build made, newest
// first, so a failure leaves no dangling half images (issue 7; dockerd
// leaves them). RemoveBuildImage deletes id only if it is untagged, has
// no child image and no container uses it; otherwise, or if id is
// already gone, it does nothing and returns nil. Its cache entries then
// simply miss (the builder checks a hit still exists).
type ImageRemover interface {
	RemoveBuildImage(ctx context.Context, id image.ID) error
}

// CacheEntry describes a cached step for `docker system df -v` and
// `docker builder prune`.
type CacheEntry struct {
	Parent      image.ID // the step's parent image
	Description string   // the instruction, e.g. "RUN make" or "COPY . /src"
}

// Cache is the build cache: step cache key -> the image the step made.
// It is persistent (it survives a daemon restart). Get counts a use.
// The builder checks the image still exists before trusting a hit.
type Cache interface {
	Get(ctx context.Context, key string) (image.ID, bool)
	Put(ctx context.Context, key string, id image.ID, e CacheEntry) error
}
