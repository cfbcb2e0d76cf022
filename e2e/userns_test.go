package e2e

import (
	"archive/tar"
	"context"
	"crypto/rand"
	"encoding/hex"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// remapNS makes a mount namespace (pinned by a file, so that a restarted
// berthd enters the same one) in which /etc/passwd, /etc/group,
// /etc/subuid and /etc/subgid are the host's plus test lines: the host's
// files are never changed. It returns the namespace file.
func remapNS(t *testing.T, passwd, group, subuid, subgid string) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "berth-userns-e2e-")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(dir, 0o711); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	files := map[string]string{"passwd": passwd, "group": group, "subuid": subuid, "subgid": subgid}
	var binds []string
	for name, extra := range files {
		host, _ := os.ReadFile("/etc/" + name)
		if _, err := os.Stat("/etc/" + name); err != nil {
			t.Skipf("/etc/%s: %v (the test binds over it)", name, err)
		}
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, append(host, extra...), 0o644); err != nil {
			t.Fatal(err)
		}
		binds = append(binds, "mount --bind "+p+" /etc/"+name)
	}
	nsDir := filepath.Join(dir, "ns")
	os.Mkdir(nsDir, 0o700)
	// A namespace file can only be bound on a private mount.
	for _, args := range [][]string{{"--bind", nsDir, nsDir}, {"--make-private", nsDir}} {
		if out, err := exec.Command("mount", args...).CombinedOutput(); err != nil {
			t.Fatalf("mount %v: %v: %s", args, err, out)
		}
	}
	t.Cleanup(func() { syscall.Unmount(nsDir, syscall.MNT_DETACH) })
	nsFile := filepath.Join(nsDir, "mnt")
	os.WriteFile(nsFile, nil, 0o600)
	out, err := exec.Command("unshare", "--mount="+nsFile, "--propagation", "slave", "sh", "-c", strings.Join(binds, " && ")).CombinedOutput()
	if err != nil {
		t.Fatalf("unshare: %v: %s", err, out)
	}
	t.Cleanup(func() { syscall.Unmount(nsFile, syscall.MNT_DETACH) })
	return nsFile
}

// remapWrap runs berthd in the namespace, its roots' parent opened to the
// remapped root first (berthd refuses a data root it cannot reach, as
// dockerd; the harness makes that parent 0700).
func remapWrap(nsFile string) []string {
	return []string{"sh", "-c", `chmod 711 "$(dirname "$2")" && exec nsenter --mount=` + nsFile + ` -- "$0" "$@"`}
}

const (
	remapUser = "berthremap:x:59999:59999::/nonexistent:/bin/false\nberthnorange:x:59998:59998::/nonexistent:/bin/false\n"
	remapGrp  = "berthremap:x:59999:\nberthnorange:x:59998:\n"
	remapIDs  = "berthremap:231072:65536\n"
	remapRoot = 231072
)

func hostOwner(t *testing.T, path string) int {
	t.Helper()
	var st syscall.Stat_t
	if err := syscall.Stat(path, &st); err != nil {
		t.Fatalf("stat %s: %v", path, err)
	}
	if st.Uid != st.Gid {
		t.Errorf("%s owned by %d:%d", path, st.Uid, st.Gid)
	}
	return int(st.Uid)
}

func TestUsernsRemap(t *testing.T) {
	needRoot(t)
	ns := remapNS(t, remapUser, remapGrp, remapIDs, remapIDs)
	d := StartDaemonWrapped(t, remapWrap(ns), "--userns-remap", "berthremap")
	d.ImportBusybox()

	if got := d.MustDocker("info", "--format", "{{json .SecurityOptions}}"); !strings.Contains(got, "name=userns") {
		t.Errorf("SecurityOptions %s lack name=userns", got)
	}
	if got := d.MustDocker("run", "--rm", "busybox", "id"); got != "uid=0(root) gid=0(root) groups=0(root),10(wheel)" && !strings.HasPrefix(got, "uid=0(root) gid=0(root)") {
		t.Errorf("id: %q", got)
	}
	if got := strings.Fields(d.MustDocker("run", "--rm", "busybox", "cat", "/proc/self/uid_map", "/proc/self/gid_map")); strings.Join(got, " ") != "0 231072 65536 0 231072 65536" {
		t.Errorf("maps: %q", got)
	}
	// Image files are root's inside; what the container writes is the
	// remapped root's on the host, in its writable layer and in a volume.
	if got := d.MustDocker("run", "--rm", "busybox", "stat", "-c", "%u:%g", "/bin/busybox", "/etc", "/"); got != "0:0\n0:0\n0:0" {
		t.Errorf("image files owned %q inside, want 0:0", got)
	}
	d.MustDocker("run", "--name", "wl", "busybox", "sh", "-c", "echo hi > /made && mkdir /etc/newdir && touch /bin/busybox")
	upper := d.MustDocker("inspect", "--format", "{{.GraphDriver.Data.UpperDir}}", "wl")
	for _, p := range []string{"made", "etc/newdir", "etc", "bin/busybox", "."} {
		if got := hostOwner(t, filepath.Join(upper, p)); got != remapRoot {
			t.Errorf("writable layer %s owned by %d on the host, want %d", p, got, remapRoot)
		}
	}
	// Committed, the layer records the container's view: root's files.
	d.MustDocker("commit", "wl", "remapped-commit")
	if got := d.MustDocker("run", "--rm", "--userns=host", "remapped-commit", "stat", "-c", "%u:%g", "/made", "/etc/newdir"); got != "0:0\n0:0" {
		t.Errorf("committed files owned %q, want 0:0", got)
	}
	d.MustDocker("rm", "wl")
	if got := d.MustDocker("run", "--rm", "-v", "vol1:/data", "busybox", "sh", "-c", "touch /data/f && stat -c %u:%g /data /data/f"); got != "0:0\n0:0" {
		t.Errorf("volume owned %q inside", got)
	}
	mp := d.MustDocker("volume", "inspect", "--format", "{{.Mountpoint}}", "vol1")
	if hostOwner(t, mp) != remapRoot || hostOwner(t, filepath.Join(mp, "f")) != remapRoot {
		t.Errorf("volume files not owned by %d on the host", remapRoot)
	}
	// A bind of a host directory is not remapped: root's files are
	// nobody's inside, as with dockerd.
	hostDir := filepath.Join(filepath.Dir(filepath.Dir(ns)), "hostdir")
	os.Mkdir(hostDir, 0o755)
	os.WriteFile(filepath.Join(hostDir, "rootfile"), nil, 0o644)
	if got := d.MustDocker("run", "--rm", "-v", hostDir+":/h", "busybox", "stat", "-c", "%u", "/h/rootfile"); got != "65534" {
		t.Errorf("host root's file shows as %q inside, want 65534", got)
	}

	// Read-only rootfs, tmpfs, read-only volume, a private cgroup
	// namespace, a device and a terminal work remapped.
	dev := "/dev/fuse"
	if _, err := os.Stat(dev); err != nil {
		dev = "/dev/zero"
	}
	if got := d.MustDocker("run", "--rm", "--read-only", "--tmpfs", "/t", "-v", "vol1:/ro:ro", "--cgroupns", "private", "--device", dev+":/dev/extra",
		"busybox", "sh", "-c", "touch /t/x && ! touch /ro/y 2>/dev/null && ! touch /z 2>/dev/null && ls /sys/fs/cgroup >/dev/null && test -c /dev/extra && echo ok"); got != "ok" {
		t.Errorf("flags remapped: %q", got)
	}
	if got := d.MustDocker("run", "--rm", "-t", "busybox", "sh", "-c", "stat -c %u $(tty)"); strings.TrimSpace(got) != "0" {
		t.Errorf("tty owner %q", got)
	}

	// --userns=host runs as without remapping; --privileged needs it.
	if got := strings.Fields(d.MustDocker("run", "--rm", "--userns=host", "busybox", "cat", "/proc/self/uid_map")); strings.Join(got, " ") != "0 0 4294967295" {
		t.Errorf("--userns=host map: %q", got)
	}
	if r := d.Docker("", "run", "--rm", "--privileged", "busybox", "true"); r.Code == 0 || !strings.Contains(r.Stderr, "privileged mode is incompatible with user namespaces") {
		t.Errorf("--privileged with remapping: %s", r)
	}
	if r := d.Docker("", "run", "--rm", "--network=host", "busybox", "true"); r.Code == 0 || !strings.Contains(r.Stderr, "cannot share the host's network namespace") {
		t.Errorf("--network=host with remapping: %s", r)
	}
	d.MustDocker("run", "--rm", "--privileged", "--userns=host", "busybox", "true")

	// docker exec joins the container's user namespace.
	d.MustDocker("run", "-d", "--name", "rc", "busybox", "sleep", "1000")
	if got := d.MustDocker("exec", "rc", "sh", "-c", "id -u; cat /proc/self/uid_map; touch /tmp/by-exec; stat -c %u /tmp/by-exec"); strings.Join(strings.Fields(got), " ") != "0 0 231072 65536 0" {
		t.Errorf("exec: %q", got)
	}
	// docker cp in (without -a) gives files to the container's root; out,
	// the tar shows the container's IDs; /etc/hosts is root's to edit.
	in := filepath.Join(filepath.Dir(filepath.Dir(ns)), "cp-in")
	os.WriteFile(in, []byte("x"), 0o644)
	d.MustDocker("cp", in, "rc:/tmp/cp-in")
	if got := d.MustDocker("exec", "rc", "sh", "-c", "stat -c %u:%g /tmp/cp-in; echo '10.9.8.7 extra' >> /etc/hosts && stat -c %u /etc/hosts"); got != "0:0\n0" {
		t.Errorf("cp in / hosts: %q", got)
	}
	if hostOwner(t, filepath.Join(d.MustDocker("inspect", "--format", "{{.GraphDriver.Data.UpperDir}}", "rc"), "tmp/cp-in")) != remapRoot {
		t.Errorf("copied-in file not the remapped root's on the host")
	}
	// cp -a keeps the tar's IDs as the container's: on disk, its host IDs.
	os.Lchown(in, 1000, 1000)
	d.MustDocker("cp", "-a", in, "rc:/tmp/cp-a")
	if got := d.MustDocker("exec", "rc", "stat", "-c", "%u:%g", "/tmp/cp-a"); got != "1000:1000" {
		t.Errorf("cp -a: %q inside", got)
	}
	if got := hostOwner(t, filepath.Join(d.MustDocker("inspect", "--format", "{{.GraphDriver.Data.UpperDir}}", "rc"), "tmp/cp-a")); got != remapRoot+1000 {
		t.Errorf("cp -a: %d on the host", got)
	}
	r := d.Docker("", "cp", "rc:/tmp/by-exec", "-")
	if h, err := tar.NewReader(strings.NewReader(r.Stdout)).Next(); err != nil || h.Uid != 0 || h.Gid != 0 {
		t.Errorf("cp out: %+v, %v (%s)", h, err, r.Stderr)
	}

	// A running remapped container survives berthd's SIGKILL.
	pid := d.MustDocker("inspect", "--format", "{{.State.Pid}}", "rc")
	d.Kill()
	d.Start()
	if got := d.MustDocker("inspect", "--format", "{{.State.Running}} {{.State.Pid}}", "rc"); got != "true "+pid {
		t.Errorf("after restart: %q, want running pid %s", got, pid)
	}
	if m, err := os.ReadFile("/proc/" + pid + "/uid_map"); err != nil || strings.Join(strings.Fields(string(m)), " ") != "0 231072 65536" {
		t.Errorf("restored container's map %q, %v", m, err)
	}
	if got := d.MustDocker("exec", "rc", "id", "-u"); got != "0" {
		t.Errorf("exec after restart: %q", got)
	}
	// Restarted by the new berthd, its rootfs is mounted again, remapped.
	d.MustDocker("stop", "-t", "1", "rc")
	d.MustDocker("start", "rc")
	if got := d.MustDocker("exec", "rc", "stat", "-c", "%u", "/bin/busybox", "/tmp/by-exec"); got != "0\n0" {
		t.Errorf("after stop and start: %q", got)
	}
	d.MustDocker("rm", "-f", "rc")

	// Nothing stays mounted under the data root once containers are gone
	// (the idmapped layers are never mounted on their own).
	mi, err := os.ReadFile("/proc/" + strconv.Itoa(d.cmd.Process.Pid) + "/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(string(mi), "\n") {
		if strings.Contains(l, d.DataRoot) {
			t.Errorf("mount left: %s", l)
		}
	}
}

// Bad remap settings stop berthd at start with an error naming the file.
func TestUsernsRemapBadInput(t *testing.T) {
	needRoot(t)
	bin := binaries(t)
	run := func(ns string, remap string) string {
		t.Helper()
		root := t.TempDir()
		os.WriteFile(filepath.Join(root, "daemon.json"), []byte("{}\n"), 0o644)
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		out, err := exec.CommandContext(ctx, "nsenter", "--mount="+ns, "--", filepath.Join(bin, "berthd"),
			"--data-root", filepath.Join(root, "data"), "--exec-root", filepath.Join(root, "exec"),
			"-H", "unix://"+filepath.Join(root, "s.sock"), "--pidfile", filepath.Join(root, "pid"),
			"--config-file", filepath.Join(root, "daemon.json"), "--userns-remap", remap).CombinedOutput()
		if err == nil || ctx.Err() != nil {
			t.Errorf("berthd --userns-remap %s started (err %v): %s", remap, err, out)
		}
		if _, err := os.Stat(filepath.Join(root, "data")); err == nil {
			t.Errorf("berthd --userns-remap %s made its data root before failing", remap)
		}
		return string(out)
	}
	ns := remapNS(t, remapUser, remapGrp, remapIDs, remapIDs)
	if out := run(ns, "berthnorange"); !strings.Contains(out, `no subordinate ID ranges found for user "berthnorange" in /etc/subuid`) {
		t.Errorf("missing range: %s", out)
	}
	if out := run(ns, "default"); !strings.Contains(out, "dockremap") || !strings.Contains(out, "/etc/passwd") {
		t.Errorf("missing default user: %s", out)
	}
	bad := remapNS(t, remapUser, remapGrp, remapIDs, "berthremap:231072\n")
	if out := run(bad, "berthremap"); !strings.Contains(out, "/etc/subgid line") {
		t.Errorf("malformed subgid: %s", out)
	}
}

// A container keeps the remapping it was created with when berthd's
// --userns-remap is turned on or off afterwards.
func TestUsernsRemapToggle(t *testing.T) {
	needRoot(t)
	ns := remapNS(t, remapUser, remapGrp, remapIDs, remapIDs)
	d := StartDaemonWrapped(t, remapWrap(ns))
	d.ImportBusybox()
	script := "cat /proc/self/uid_map; stat -c %u /bin/busybox"
	d.MustDocker("create", "--name", "before", "busybox", "sh", "-c", script)
	extra := d.extra
	d.Stop()
	d.extra = append(extra, "--userns-remap", "berthremap")
	d.Start()
	if got := strings.Fields(d.MustDocker("start", "-a", "before")); strings.Join(got, " ") != "0 0 4294967295 0" {
		t.Errorf("created before remapping: %q", got)
	}
	d.MustDocker("create", "--name", "during", "busybox", "sh", "-c", script)
	d.Stop()
	d.extra = extra
	d.Start()
	if got := strings.Fields(d.MustDocker("start", "-a", "during")); strings.Join(got, " ") != "0 231072 65536 0" {
		t.Errorf("created while remapping, started after: %q", got)
	}
	if got := strings.Fields(d.MustDocker("run", "--rm", "busybox", "cat", "/proc/self/uid_map")); strings.Join(got, " ") != "0 0 4294967295" {
		t.Errorf("new container without remapping: %q", got)
	}
}

// On the default bridge, a remapped container joins the network namespace
// berthd prepared (owned by the host's user namespace): it has its
// interfaces in /sys, Docker's network sysctls and a working network.
func TestUsernsRemapBridge(t *testing.T) {
	needRoot(t)
	var b [4]byte
	rand.Read(b[:])
	netns := "berth-t-" + hex.EncodeToString(b[:])
	if out, err := exec.Command("ip", "netns", "add", netns).CombinedOutput(); err != nil {
		t.Skipf("ip netns add: %v: %s", err, out)
	}
	t.Cleanup(func() { exec.Command("ip", "netns", "del", netns).Run() })
	exec.Command("ip", "-n", netns, "link", "set", "lo", "up").Run()
	ns := remapNS(t, remapUser, remapGrp, remapIDs, remapIDs)
	wrap := []string{"sh", "-c", `chmod 711 "$(dirname "$2")" && exec nsenter --mount=` + ns + ` --net=/run/netns/` + netns + ` -- "$0" "$@"`}
	d := startDaemonWith(t, netns, wrap, "--userns-remap", "berthremap")
	d.ImportBusybox()
	got := d.MustDocker("run", "--rm", "busybox", "sh", "-c",
		"id -u; cat /proc/sys/net/ipv4/ip_unprivileged_port_start /proc/sys/net/ipv4/ping_group_range; ls /sys/class/net; ip -4 addr show eth0 | grep -c inet; nc -l -p 80 & sleep 0.2; kill $! && echo bound")
	want := "0\n0\n0\t65535\neth0\nlo\n1\nbound"
	if got != want {
		t.Errorf("bridge container printed %q, want %q", got, want)
	}
}
