// Package runtime defines the seam between berth and an OCI runtime.
//
// A Runtime takes an OCI runtime bundle (a directory holding config.json, per
// the OCI runtime spec) and turns it into a Task: a container whose init
// process exists (namespaces, cgroup, rootfs set up) but has not yet executed
// the user's program. Task.Start lets it run. Two implementations sit behind
// this seam:
//
//   - runtime/linux: berth's own runtime, which forks a re-executed copy of the
//     calling binary ("<self> init") with the namespaces' clone flags and
//     finishes setup there (the fast path; no external binary).
//   - runtime/ocicli: any runc-compatible binary (runc, crun), driven through
//     its create/start/kill/delete commands, for differential tests and for
//     users who choose --runtime.
//
// A Task that can run further processes in its running container (docker
// exec) implements Execer: the process joins every namespace of the
// container's init and its cgroup and gets the process spec's user,
// capabilities, env, cwd and terminal. Berth's runtime does this in pure
// Go (see runtime/linux, "Exec"); ocicli uses the binary's exec command.
//
// Process exits are collected by the caller (the monitor is a child
// subreaper and reaps every child with wait4(-1)); runtimes never call
// Wait on the container process, and helper binaries they exec are waited
// for through the reaper package so that the reaper does not steal their
// exit statuses.
package runtime

import (
	"context"
	"errors"
	"os"
	"syscall"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// Runtime creates tasks from OCI bundles.
type Runtime interface {
	// Name is the runtime's name as shown in docker info ("berth", "runc", ...).
	Name() string
	// Create sets up the container described by <opts.Bundle>/config.json.
	// On return the container's init process exists, is in its namespaces
	// and cgroup, and waits for Start. On error nothing is left behind
	// (no process, cgroup, mount or state directory), except the exited
	// init's zombie, which the caller's reaper collects.
	//
	// The program is looked up in the container (its PATH, as its user)
	// during Create, as runc does: an error wrapping ErrExecNotFound or
	// ErrExecPermission from Create means the program cannot be run, just
	// as from Start.
	Create(ctx context.Context, id string, opts CreateOpts) (Task, error)
}

// CreateOpts are the per-task inputs that are not part of the OCI spec.
type CreateOpts struct {
	// Bundle is the bundle directory (config.json; spec.Root.Path is
	// absolute or relative to it).
	Bundle string
	// Stdin, Stdout and Stderr become fds 0, 1 and 2 of the container
	// process when spec.Process.Terminal is false. nil means /dev/null.
	Stdin, Stdout, Stderr *os.File
	// StateDir is where the runtime may keep per-task state (pid file,
	// sockets). It is created by the caller and removed by Task.Delete, or
	// by Create when it fails.
	StateDir string
}

// Task is one created container.
type Task interface {
	ID() string
	// Pid is the host pid of the container's init (PID 1 in its namespace).
	Pid() int
	// Console is the pty master when spec.Process.Terminal is set, else nil.
	// The slave end is the container's stdio and /dev/console. The task
	// owns the file: Delete closes it, so drain it before deleting.
	Console() *os.File
	// Start makes the init execute the user's program. An error that wraps
	// ErrExecNotFound or ErrExecPermission means the program could not be
	// executed; the error text carries the path, as Docker's does
	// (`exec: "x": executable file not found in $PATH`).
	Start(ctx context.Context) error
	// Kill sends sig to the init (all: to every process in the container).
	Kill(ctx context.Context, sig syscall.Signal, all bool) error
	// Delete releases everything the runtime holds for the task (cgroup,
	// state dir) after the process has exited. It is idempotent.
	Delete(ctx context.Context) error
}

// Errors a Task's Start wraps so callers can pick Docker's exit codes
// (127 not found, 126 not executable).
var (
	ErrExecNotFound   = errors.New("executable file not found")
	ErrExecPermission = errors.New("permission denied")
)

// Execer is implemented by a Task that can run further processes in its
// running container (docker exec). Callers type-assert for it.
type Execer interface {
	// Exec creates a process in the task's container, as runc exec does:
	// it is in all of the init's namespaces (pid, mount, uts, ipc, net,
	// cgroup) and its cgroup, sees the container's root, and has the
	// spec's user, capabilities, rlimits, cwd, env and terminal. On return
	// the process exists and waits for Process.Start (a runtime that
	// cannot hold it back starts it at once; its output then flows
	// before Start). The program is looked up here: an error wrapping
	// ErrExecNotFound or ErrExecPermission means it cannot run. On error
	// nothing is left but a zombie for the caller's reaper.
	Exec(ctx context.Context, execID string, opts ExecOpts) (Process, error)
}

// ExecOpts are the inputs of Execer.Exec.
type ExecOpts struct {
	// Process is the exec's process (ocispec.ExecProcess builds it from
	// the container's spec). Process.Terminal asks for a pty.
	Process *specs.Process
	// Stdin, Stdout and Stderr become fds 0-2 without a terminal; nil
	// means /dev/null.
	Stdin, Stdout, Stderr *os.File
	// StateDir may hold per-process state; created by the caller, removed
	// by Process.Delete.
	StateDir string
}

// Adopter is implemented by a Runtime that can rebuild the Task of a
// container it created earlier, in this process or in one that is gone (a
// monitor that restarted while its containers ran on), from the bundle and
// what Create kept in the state directory. Callers type-assert for it.
type Adopter interface {
	// Adopt returns the task of the running container id, created by
	// this runtime (the same name and arguments) with opts.Bundle and
	// opts.StateDir. The task is started; it has no console (the pty
	// master died with the process that held it); Kill, Delete and, if
	// the runtime's tasks implement Execer, Exec work as for a task from
	// Create. The caller still reaps: the init is usually not its child,
	// and learns of its exit some other way (Pidfd turns readable).
	Adopt(ctx context.Context, id string, opts AdoptOpts) (Task, error)
}

// AdoptOpts are the inputs of Adopter.Adopt.
type AdoptOpts struct {
	Bundle, StateDir string
	// Pid is the init's host pid and Pidfd a pidfd of it that the caller
	// checked against pid reuse (start time). Adopt duplicates what it
	// keeps; the caller keeps Pidfd.
	Pid   int
	Pidfd *os.File
}

// Process is one exec'd process of a task.
type Process interface {
	// Pid is the process's host pid; the caller reaps it.
	Pid() int
	// Console is the pty master with a terminal, else nil; owned by the
	// Process (Delete closes it).
	Console() *os.File
	// Start lets the process execute its program.
	Start(ctx context.Context) error
	// Kill signals the process (ESRCH once it has exited).
	Kill(ctx context.Context, sig syscall.Signal) error
	// Delete releases what the runtime holds for it; idempotent. A
	// process that has not exited is killed first.
	Delete(ctx context.Context) error
}
