// This file is the contract berthd codes against; see doc.go for the
// design and the protocol.

package monitor

import (
	"context"
	"net"
	"syscall"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
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

// ExecRequest describes a process to run in a running container.
type ExecRequest struct {
	ID string // the exec's id (unique within the container)
	// Process is the exec's OCI process (ocispec.ExecProcess);
	// Process.Terminal asks for a pty, whose output is raw.
	Process *specs.Process
	// OpenStdin keeps a stdin pipe (docker exec -i); the attached
	// client's EOF closes it.
	OpenStdin bool
	// Attach, if set, makes Exec return a stream connected before the
	// process runs; nil runs it detached (its output is drained).
	Attach *AttachOptions
}

// ExecClient runs processes in running containers. The monitor's Client
// implements it; berthd type-asserts for it.
type ExecClient interface {
	// Exec creates and starts req's process in container id and returns
	// its host pid, and with req.Attach its stream (as Attach's; it ends
	// when the process's output does). A stopped container is an
	// errdefs.Conflict "container <id> is not running"; a program that
	// cannot run wraps runtime.ErrExecNotFound or ErrExecPermission.
	Exec(ctx context.Context, id string, req ExecRequest) (pid int, stream net.Conn, err error)
	// ExecResize sets the exec's terminal size.
	ExecResize(ctx context.Context, id, execID string, height, width uint) error
	// ExecWait blocks until the process has exited and returns how; the
	// monitor then forgets it (a second call is NotFound).
	ExecWait(ctx context.Context, id, execID string) (Exit, error)
}
