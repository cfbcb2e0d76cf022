// Package cgroups manages one cgroup per container on cgroup v1 (all
// mounted hierarchies, as on hybrid hosts) and v2 (the unified hierarchy).
package cgroups

import specs "github.com/opencontainers/runtime-spec/specs-go"

// Manager applies and removes one container's cgroup.
//
// Paths follow runc's cgroupfs semantics so that berth's own runtime and
// runc place a container in the same place for the same spec: an absolute
// cgroupsPath ("/x/id") is taken from the root of every hierarchy; a
// relative one ("berth/id") from the calling process's own cgroup in that
// hierarchy (read from /proc/self/cgroup).
type Manager interface {
	// Apply creates the cgroup (in every hierarchy) and moves pid into it.
	Apply(pid int) error
	// Set writes the resource limits. nil is a no-op.
	Set(r *specs.LinuxResources) error
	// Pids lists the processes in the cgroup.
	Pids() ([]int, error)
	// OOMKilled reports whether the kernel's OOM killer killed a process
	// in this cgroup (v1 memory.oom_control oom_kill, v2 memory.events).
	OOMKilled() (bool, error)
	// Freeze and Thaw pause and resume every process (freezer).
	Freeze() error
	Thaw() error
	// Destroy removes the cgroup from every hierarchy once empty. It is
	// idempotent.
	Destroy() error
	// Path returns the cgroup's directory in the hierarchy holding the
	// given controller ("memory", "pids", ...; "" for v2's unified dir).
	Path(controller string) string
}
