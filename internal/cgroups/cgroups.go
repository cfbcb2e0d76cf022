// Package cgroups manages one cgroup per container on cgroup v1 (all
// mounted hierarchies, as on hybrid hosts) and v2 (the unified hierarchy).
//
// It writes cgroupfs directly (Driver "cgroupfs"); there is no systemd
// driver. The host's layout is read once per process from
// /proc/self/mountinfo and /proc/self/cgroup (plus a statfs of
// /sys/fs/cgroup), so a container start costs a mkdir and a few small
// writes per hierarchy.
//
// # Modes
//
//	v1      every mounted v1 hierarchy: cpu, cpuacct, cpuset, memory, pids,
//	        devices, freezer, blkio, net_cls,net_prio, perf_event, hugetlb,
//	        misc, rdma, name=systemd (whichever are mounted, each joined)
//	hybrid  v1 as above, plus the unified hierarchy (/sys/fs/cgroup/unified),
//	        joined too so /proc/<pid>/cgroup agrees on every line, as runc
//	        does; a controller bound to no v1 hierarchy but offered by the
//	        unified one (hugetlb, on some hosts) is used there, enabled on
//	        first use
//	v2      /sys/fs/cgroup is the unified hierarchy
//
// For a container with cgroupsPath "berth/<id>" and a caller living in
// /daemon.slice in every hierarchy, the tree is:
//
//	/sys/fs/cgroup/<hierarchy>/daemon.slice/berth/<id>/   (v1, one per hierarchy)
//	/sys/fs/cgroup/unified/daemon.slice/berth/<id>/       (hybrid)
//	/sys/fs/cgroup/daemon.slice/berth/<id>/               (v2)
//
// # Delegation on v2
//
// v2 lets a cgroup enable controllers for its children only while it holds
// no processes itself (the root excepted). berth enables every offered
// controller from the root down to the container's parent. With a relative
// cgroupsPath, one of those is the caller's own cgroup, which holds the
// daemon: berth then moves every process of it into a leaf child named
// "berth-daemon" (as docker-in-docker's entrypoint does) and a caller found
// living in such a leaf later nests containers under the leaf's parent, so
// restarts keep one layout. Other busy ancestors (an absolute cgroup parent
// with processes) are an error naming the cgroup.
//
// # Finding a container's cgroup
//
// New resolves a cgroupsPath against the caller's cgroup; Load(pid) reads
// /proc/<pid>/cgroup instead, line by hierarchy, so the daemon finds a
// container's cgroup even when the runtime resolved a relative path
// against another process's cgroup (the monitor's, runc's).
//
// # Devices
//
// With a v1 devices controller, device rules are written to devices.allow
// and devices.deny. Without one (v2), Set compiles them into an eBPF
// BPF_PROG_TYPE_CGROUP_DEVICE program and attaches it to the unified
// cgroup with BPF_F_ALLOW_MULTI (devices_bpf.go has the semantics).
//
// Settings a host cannot honour fail Set with an *UnsupportedError rather
// than being dropped; HostCapabilities tells which those are beforehand.
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
	// Stats reads the cgroup's memory, CPU and pids usage.
	Stats() (*Stats, error)
}
