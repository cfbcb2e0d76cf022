// Package containers routes the /containers endpoints of the Engine API.
package containers

import (
	"context"
	"io"
	"time"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/network"

	"github.com/berth-dev/berth/internal/filters"
)

// Backend is what the container routes need from the engine. Errors carry
// an errdefs class; the router never inspects them.
type Backend interface {
	RunningBackend // running.go
	Create(ctx context.Context, req CreateRequest) (container.CreateResponse, error)
	Start(ctx context.Context, idOrName string) error
	// Stop sends the stop signal (signal, or the container's StopSignal),
	// waits up to timeout (nil: the container's StopTimeout, default 10s;
	// negative: forever), then kills. Already stopped: errdefs.NotModified.
	Stop(ctx context.Context, idOrName string, opts StopOptions) error
	Restart(ctx context.Context, idOrName string, opts StopOptions) error
	Kill(ctx context.Context, idOrName string, signal string) error
	// Wait returns a channel that yields one result when cond is met. The
	// error is immediate (not found, bad condition).
	Wait(ctx context.Context, idOrName string, cond container.WaitCondition) (<-chan container.WaitResponse, error)
	Remove(ctx context.Context, idOrName string, opts RemoveOptions) error
	List(ctx context.Context, opts ListOptions) ([]container.Summary, error)
	Inspect(ctx context.Context, idOrName string, size bool) (container.InspectResponse, error)
	// Logs writes the selected log entries to w, framed as Docker does
	// (stdcopy frames unless the container has a TTY; see
	// apiserver/stream.NewStdWriter), following if asked, until ctx ends.
	// An error before the first write gets its own HTTP status.
	Logs(ctx context.Context, idOrName string, opts LogsOptions, w io.Writer) error
	// ContainerTTY reports whether the container was created with a TTY
	// (the router needs it to pick the attach/log content type).
	ContainerTTY(ctx context.Context, idOrName string) (bool, error)
	// Attach connects the hijacked client streams to the container. It
	// returns when the container's output ends, the client goes away, or
	// (stdin only) the client closes stdin with StdinOnce.
	Attach(ctx context.Context, idOrName string, opts AttachOptions) error
	Resize(ctx context.Context, idOrName string, height, width uint) error
	Rename(ctx context.Context, idOrName, newName string) error
	Prune(ctx context.Context, f filters.Args) (container.PruneReport, error)
}

// CreateRequest is POST /containers/create decoded.
type CreateRequest struct {
	Name             string
	Platform         string
	Config           *container.Config
	HostConfig       *container.HostConfig
	NetworkingConfig *network.NetworkingConfig
	APIVersion       string // the version the client asked for ("1.51")
}

// StopOptions for stop and restart.
type StopOptions struct {
	Signal  string
	Timeout *int // seconds
}

// RemoveOptions for DELETE /containers/{id}.
type RemoveOptions struct {
	Force         bool
	RemoveVolumes bool
	RemoveLink    bool
}

// ListOptions for GET /containers/json.
type ListOptions struct {
	All     bool
	Limit   int
	Size    bool
	Filters filters.Args
}

// LogsOptions for GET /containers/{id}/logs.
type LogsOptions struct {
	Stdout, Stderr bool
	Follow         bool
	Timestamps     bool
	Tail           string // "all" or a number
	Since, Until   time.Time
	Details        bool
}

// AttachOptions carries the hijacked connection's streams.
//
// Stdin reads what the client sends. It returns io.EOF when the client
// half-closes its side (docker CLI: stdin reached EOF): pass that on by
// CloseWrite on the monitor's attach conn (StdinOnce semantics are the
// monitor's). Any other read error means the client went away.
//
// Stdout and Stderr already frame for the client: without a TTY each Write
// becomes one stdcopy frame of its stream (so an engine reading the
// monitor's multiplexed stream demuxes it with stdcopy.StdCopy(Stdout,
// Stderr, conn)); with a TTY both write raw bytes to the same connection.
// They may be written from different goroutines. A write error means the
// client went away. The router closes the connection after Attach returns.
type AttachOptions struct {
	Stdin          io.Reader // nil unless stdin=1
	Stdout, Stderr io.Writer // nil unless asked; with a TTY only Stdout is used
	Logs           bool      // replay the log before streaming
	Stream         bool
	DetachKeys     string
	// Ready, when set, must be called once the attach is in place (bound to
	// a running container, or registered for the next start) and before
	// anything is written: the router answers the hijack then, and the
	// docker CLI starts the container as soon as it has that answer.
	Ready func()
}
