// This file is the contract berthd codes against; see doc.go for the
// design and the protocol.

package monitor

import (
	"context"
	"net"
	"syscall"
	"time"
)

// CreateRequest describes a container for the monitor to create.
type CreateRequest struct {
	ID     string
	Bundle string // OCI bundle dir (config.json)
	// Runtime is "berth" for the built-in runtime or the path of a
	// runc-compatible binary; RuntimeArgs are passed before the command.
	Runtime     string
	RuntimeArgs []string
	Terminal    bool // spec.Process.Terminal; output is raw, not multiplexed
	OpenStdin   bool // keep a stdin pipe (docker -i)
	StdinOnce   bool // close the container's stdin when the first attached client closes its stdin
	Log         LogConfig
}

// LogConfig configures the json-file log the monitor writes.
type LogConfig struct {
	Path     string // "<data-root>/containers/<id>/<id>-json.log"; "" disables logging
	MaxSize  int64  // bytes per file before rotation; 0 = unbounded
	MaxFiles int    // files kept including the current one; >= 1
}

// Exit is how a container's init ended.
type Exit struct {
	Code      int       // exit status, or 128+signal
	OOMKilled bool      // the cgroup's OOM killer fired
	At        time.Time // when the monitor reaped it
}

// State is the monitor's view of one container.
type State struct {
	ID      string
	Pid     int
	Running bool
	Exit    *Exit // set once exited
}

// AttachOptions selects the streams of an attach.
type AttachOptions struct {
	Stdin, Stdout, Stderr bool
}

// Client is berthd's handle on the monitor. Every method fails with an
// errdefs.NotFound error for an id the monitor does not know.
type Client interface {
	// Create creates the container's task (process exists, user program
	// not yet running) and returns its host pid.
	Create(ctx context.Context, req CreateRequest) (pid int, err error)
	// Start lets a created container run its program. When the program
	// cannot be executed the error wraps runtime.ErrExecNotFound or
	// runtime.ErrExecPermission (for Docker's exit codes 127 and 126).
	Start(ctx context.Context, id string) error
	// Attach returns a stream connected to the container's stdio. Reads
	// yield output: raw bytes with a terminal, else Docker's stdcopy frames
	// (8-byte header: stream, 0,0,0, big-endian uint32 length). Writes go to
	// the container's stdin; CloseWrite on the returned conn (it is a
	// *net.UnixConn) ends this client's stdin. Closing the conn detaches.
	// Attach before Start to see all output. A client that falls more than
	// 1 MiB behind is disconnected; the stream ends when the container's
	// output does.
	Attach(ctx context.Context, id string, opts AttachOptions) (net.Conn, error)
	// Resize sets the terminal size; InvalidArgument without a terminal.
	// Called before Start it sets the size the program starts with.
	Resize(ctx context.Context, id string, height, width uint) error
	// Kill signals the container's init; Conflict once it has exited.
	Kill(ctx context.Context, id string, sig syscall.Signal) error
	// Wait blocks until the container has exited (or ctx ends).
	Wait(ctx context.Context, id string) (Exit, error)
	State(ctx context.Context, id string) (State, error)
	// List returns every container the monitor knows, exited ones
	// included until Delete (also across a monitor restart).
	List(ctx context.Context) ([]State, error)
	// Delete releases the runtime's resources of an exited container and
	// forgets it. Deleting a running container is a Conflict; a created
	// container that was never started is killed first.
	Delete(ctx context.Context, id string) error
	Close() error
}
