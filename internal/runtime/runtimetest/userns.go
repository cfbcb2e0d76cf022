package runtimetest

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// The user namespace cases run with container IDs 0-65535 mapped to host
// 100000-165535, over a copy of the rootfs chowned to that range (the
// runtime does no idmapping: the engine's storage does), in a directory
// the mapped root can reach.
const usernsHostID = 100000

func usernsSpec(t *testing.T, args ...string) (*specs.Spec, string) {
	t.Helper()
	dir, err := os.MkdirTemp("", "berth-userns-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o711); err != nil {
		t.Fatal(err)
	}
	rootfs := filepath.Join(dir, "rootfs")
	if err := buildRootfs(rootfs, "/bin/busybox"); err != nil {
		t.Fatal(err)
	}
	err = filepath.Walk(rootfs, func(p string, fi os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		st := fi.Sys().(*syscall.Stat_t)
		return os.Lchown(p, usernsHostID+int(st.Uid), usernsHostID+int(st.Gid))
	})
	if err != nil {
		t.Fatal(err)
	}
	spec := Spec(rootfs, "set-by-create", args...)
	spec.Linux.Namespaces = append(spec.Linux.Namespaces, specs.LinuxNamespace{Type: specs.UserNamespace})
	spec.Linux.UIDMappings = []specs.LinuxIDMapping{{ContainerID: 0, HostID: usernsHostID, Size: 65536}}
	spec.Linux.GIDMappings = []specs.LinuxIDMapping{{ContainerID: 0, HostID: usernsHostID, Size: 65536}}
	return spec, rootfs
}

// A remapped container: root inside is the range's first ID outside,
// with the default capabilities in its namespace; /proc, /sys, /dev and
// its devices, /dev/pts, mqueue and the cgroup mount work; what it writes
// is owned by the mapped IDs on the host.
func testUserNamespace(t *testing.T, s *suite) {
	script := `cat /proc/self/uid_map /proc/self/gid_map; id -u; id -g; stat -c %u:%g /;
echo x > /dev/null && head -c 1 /dev/zero | wc -c; ls /sys/kernel >/dev/null && echo sys;
ls /dev/pts/ptmx >/dev/null && echo pts; grep -c . /proc/self/cgroup >/dev/null && echo cgroup;
touch /tmp/made; readlink /proc/self/ns/user; grep ^CapEff /proc/self/status`
	spec, rootfs := usernsSpec(t, "sh", "-c", script)
	if s.rt.Name() == "berth" {
		// A device under another name than the host's (--device
		// /dev/zero:/dev/extra) is bound from the host's node; runc 1.1
		// binds the container path from the host and fails.
		spec.Linux.Devices = append(spec.Linux.Devices, specs.LinuxDevice{Path: "/dev/extra", Type: "c", Major: 1, Minor: 5})
		spec.Process.Args[2] = strings.Replace(script, "head -c 1 /dev/zero", "head -c 1 /dev/extra", 1)
	}
	got := s.mustRun(t, spec, "")
	host, _ := os.Readlink("/proc/self/ns/user")
	lines := strings.Split(strings.TrimSpace(got.stdout), "\n")
	want := []string{"0 100000 65536", "0 100000 65536", "0", "0", "0:0", "1", "sys", "pts", "cgroup"}
	if len(lines) < len(want)+2 {
		t.Fatalf("got %q (stderr %q)", got.stdout, got.stderr)
	}
	for i, w := range want {
		if strings.Join(strings.Fields(lines[i]), " ") != w {
			t.Errorf("line %d: %q, want %q (stdout %q, stderr %q)", i, lines[i], w, got.stdout, got.stderr)
		}
	}
	if ns := lines[len(want)]; !strings.HasPrefix(ns, "user:[") || ns == host {
		t.Errorf("user namespace %q, host's %q: want a new one", ns, host)
	}
	if eff := lines[len(want)+1]; eff != "CapEff:\t"+DefaultCapEff {
		t.Errorf("%q, want the default capabilities", eff)
	}
	var st syscall.Stat_t
	if err := syscall.Stat(filepath.Join(rootfs, "tmp/made"), &st); err != nil || st.Uid != usernsHostID || st.Gid != usernsHostID {
		t.Errorf("file made in the container: owner %d:%d (%v), want %d", st.Uid, st.Gid, err, usernsHostID)
	}
}

// A remapped container joining a network namespace the host's user
// namespace owns (as berth's networking prepares them): the namespace is
// joined, its net.* sysctls are set, and berth's runtime shows that
// namespace's devices in /sys (the container's root may not mount sysfs
// for it: berth's parent mounts it). runc 1.1 fails such a sysfs mount
// and the sysctl writes with EPERM/EACCES, so for other runtimes both are
// left out.
func testUserNamespaceNetByPath(t *testing.T, s *suite) {
	name := "berth-rt-userns-" + randHex(3)
	if out, err := exec.Command("ip", "netns", "add", name).CombinedOutput(); err != nil {
		t.Skipf("ip netns add: %v: %s", err, out)
	}
	defer exec.Command("ip", "netns", "delete", name).Run()
	path := "/run/netns/" + name
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	want := fmt.Sprintf("net:[%d]", fi.Sys().(*syscall.Stat_t).Ino)
	spec, _ := usernsSpec(t, "sh", "-c", "readlink /proc/self/ns/net; cat /proc/sys/net/ipv4/ip_unprivileged_port_start; ls /sys/class/net")
	for i, n := range spec.Linux.Namespaces {
		if n.Type == specs.NetworkNamespace {
			spec.Linux.Namespaces[i].Path = path
		}
	}
	spec.Linux.Sysctl = map[string]string{"net.ipv4.ip_unprivileged_port_start": "80"}
	want += "\n80\nlo\n"
	if s.rt.Name() != "berth" {
		for i, m := range spec.Mounts {
			if m.Type == "sysfs" {
				spec.Mounts = append(spec.Mounts[:i], spec.Mounts[i+1:]...)
				break
			}
		}
		spec.Process.Args[2] = "readlink /proc/self/ns/net"
		spec.Linux.Sysctl = nil
		want = strings.TrimSuffix(want, "80\nlo\n")
	}
	got := s.mustRun(t, spec, "")
	if got.stdout != want {
		t.Errorf("got %q, want %q (stderr %q)", got.stdout, want, got.stderr)
	}
}

// An exec'd process joins the container's user namespace (and its other
// namespaces and cgroup), as its root with the container's capabilities.
func testUserNamespaceExec(t *testing.T, s *suite) {
	spec, rootfs := usernsSpec(t, "sh", "-c", "echo ready; exec sleep 100")
	spec.Linux.Seccomp = nil
	c, ex := s.startForExec(t, spec)
	pr := *spec.Process
	pr.Args = []string{"sh", "-c", "id -u; cat /proc/self/uid_map; touch /tmp/by-exec; grep ^CapEff /proc/self/status; for n in user net mnt; do readlink /proc/self/ns/$n; done"}
	p, out := s.exec(t, c, ex, &pr)
	if code := s.reap(t, p); code != 0 {
		t.Errorf("exec exit %d", code)
	}
	got := strings.Fields(out.all(t))
	var want []string
	for _, ns := range []string{"user", "net", "mnt"} {
		l, err := os.Readlink(fmt.Sprintf("/proc/%d/ns/%s", c.task.Pid(), ns))
		if err != nil {
			t.Fatal(err)
		}
		want = append(want, l)
	}
	want = append([]string{"0", "0", "100000", "65536", "CapEff:", DefaultCapEff}, want...)
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("exec printed %q, want %q", got, want)
	}
	var st syscall.Stat_t
	if err := syscall.Stat(filepath.Join(rootfs, "tmp/by-exec"), &st); err != nil || st.Uid != usernsHostID {
		t.Errorf("file made by exec: owner %d (%v), want %d", st.Uid, err, usernsHostID)
	}
}

// testUserNamespaceLatency logs create+start+exit of `true` with and
// without a user namespace, interleaved (so that the host's load weighs on
// both alike).
func testUserNamespaceLatency(t *testing.T, s *suite) {
	if testing.Short() {
		t.Skip("short mode")
	}
	const n = 20
	remapped, _ := usernsSpec(t, "true")
	var with, without []time.Duration
	for i := 0; i < 2*n; i++ {
		spec := s.spec("true")
		if i%2 == 1 {
			cp := *remapped
			spec = &cp
		}
		c, err := s.create(t, spec, nil)
		if err != nil {
			t.Fatal(err)
		}
		if err := c.task.Start(context.Background()); err != nil {
			t.Fatal(err)
		}
		c.wait(t)
		d := time.Since(c.created)
		s.delete(t, c)
		if i%2 == 1 {
			with = append(with, d)
		} else {
			without = append(without, d)
		}
	}
	t.Logf("%s: create+start+exit of true, median of %d: %v without a user namespace, %v with one (min %v / %v)",
		s.rt.Name(), n, median(without), median(with), minOf(without), minOf(with))
}
