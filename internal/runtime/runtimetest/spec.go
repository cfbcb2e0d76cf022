// Package runtimetest is the conformance suite every runtime.Runtime passes
// (berth's own and runc-compatible binaries alike), run as root over a
// busybox rootfs with a Docker-like spec. Because every implementation
// meets the same expectations, it doubles as a differential test.
//
//	func TestConformance(t *testing.T) {
//		runtimetest.Run(t, func(t *testing.T) runtime.Runtime { return linux.New(linux.Options{}) })
//	}
//
// The test binary must be able to reap the containers: Run makes the test
// process a child subreaper and reaps through reaper.Default on SIGCHLD, so
// the test must not wait for children any other way.
package runtimetest

import (
	"os"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// DefaultCaps are Docker's default capabilities (CapEff 00000000a80425fb).
var DefaultCaps = []string{
	"CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FSETID", "CAP_FOWNER", "CAP_MKNOD",
	"CAP_NET_RAW", "CAP_SETGID", "CAP_SETUID", "CAP_SETFCAP", "CAP_SETPCAP",
	"CAP_NET_BIND_SERVICE", "CAP_SYS_CHROOT", "CAP_KILL", "CAP_AUDIT_WRITE",
}

// DefaultCapEff is DefaultCaps as /proc/<pid>/status shows them.
const DefaultCapEff = "00000000a80425fb"

// MaskedPaths and ReadonlyPaths are Docker's defaults.
var (
	MaskedPaths = []string{
		"/proc/acpi", "/proc/asound", "/proc/kcore", "/proc/keys", "/proc/latency_stats",
		"/proc/timer_list", "/proc/timer_stats", "/proc/sched_debug", "/proc/scsi",
		"/sys/firmware", "/sys/devices/virtual/powercap",
	}
	ReadonlyPaths = []string{
		"/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger",
	}
)

func devAllow(typ string, major, minor int64) specs.LinuxDeviceCgroup {
	d := specs.LinuxDeviceCgroup{Allow: true, Type: typ, Access: "rwm"}
	if major >= 0 {
		d.Major = &major
	}
	if minor >= 0 {
		d.Minor = &minor
	}
	return d
}

// Spec returns a spec like the one Docker generates for
// `docker run --network none busybox args...` with a private cgroup
// namespace, over rootfs, in cgroup cgroupsPath.
func Spec(rootfs, cgroupsPath string, args ...string) *specs.Spec {
	var nofile unix.Rlimit
	unix.Getrlimit(unix.RLIMIT_NOFILE, &nofile)
	mknod := specs.LinuxDeviceCgroup{Allow: true, Type: "c", Access: "m"}
	bmknod := specs.LinuxDeviceCgroup{Allow: true, Type: "b", Access: "m"}
	return &specs.Spec{
		// The oldest version every runtime here knows: crun 1.8 refuses
		// "1.3.0" with "unknown version specified".
		Version: "1.0.2",
		Process: &specs.Process{
			Args: args,
			Env:  []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "HOSTNAME=berthbox"},
			Cwd:  "/",
			Capabilities: &specs.LinuxCapabilities{
				Bounding:  DefaultCaps,
				Effective: DefaultCaps,
				Permitted: DefaultCaps,
			},
			// Docker asks for 1048576, which needs CAP_SYS_RESOURCE above
			// the current hard limit; runc fails then, berth clamps.
			Rlimits: []specs.POSIXRlimit{{Type: "RLIMIT_NOFILE", Hard: nofile.Max, Soft: nofile.Max}},
		},
		Root:     &specs.Root{Path: rootfs},
		Hostname: "berthbox",
		Mounts: []specs.Mount{
			{Destination: "/proc", Type: "proc", Source: "proc", Options: []string{"nosuid", "noexec", "nodev"}},
			{Destination: "/dev", Type: "tmpfs", Source: "tmpfs", Options: []string{"nosuid", "strictatime", "mode=755", "size=65536k"}},
			{Destination: "/dev/pts", Type: "devpts", Source: "devpts", Options: []string{"nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"}},
			{Destination: "/sys", Type: "sysfs", Source: "sysfs", Options: []string{"nosuid", "noexec", "nodev", "ro"}},
			{Destination: "/sys/fs/cgroup", Type: "cgroup", Source: "cgroup", Options: []string{"ro", "nosuid", "noexec", "nodev"}},
			{Destination: "/dev/mqueue", Type: "mqueue", Source: "mqueue", Options: []string{"nosuid", "noexec", "nodev"}},
			{Destination: "/dev/shm", Type: "tmpfs", Source: "shm", Options: []string{"nosuid", "noexec", "nodev", "mode=1777", "size=67108864"}},
		},
		Linux: &specs.Linux{
			CgroupsPath: cgroupsPath,
			Resources: &specs.LinuxResources{
				Devices: []specs.LinuxDeviceCgroup{
					{Allow: false, Access: "rwm"}, mknod, bmknod,
					devAllow("c", 1, 3), devAllow("c", 1, 5), devAllow("c", 1, 7), devAllow("c", 1, 8),
					devAllow("c", 1, 9), devAllow("c", 5, 0), devAllow("c", 5, 1), devAllow("c", 5, 2),
					devAllow("c", 136, -1), devAllow("c", 10, 200),
				},
			},
			Namespaces: []specs.LinuxNamespace{
				{Type: specs.MountNamespace}, {Type: specs.NetworkNamespace}, {Type: specs.UTSNamespace},
				{Type: specs.PIDNamespace}, {Type: specs.IPCNamespace}, {Type: specs.CgroupNamespace},
			},
			MaskedPaths:   append([]string(nil), MaskedPaths...),
			ReadonlyPaths: append([]string(nil), ReadonlyPaths...),
		},
	}
}

// Rootfs makes a busybox rootfs in a temporary directory (removed when the
// test ends) and returns its path. It skips the test without busybox-static.
func Rootfs(t *testing.T) string {
	t.Helper()
	const bb = "/bin/busybox"
	if _, err := os.Stat(bb); err != nil {
		t.Skip("busybox-static is not installed (apt-get install -y busybox-static)")
	}
	dir := t.TempDir()
	if err := buildRootfs(dir, bb); err != nil {
		t.Fatal(err)
	}
	return dir
}
