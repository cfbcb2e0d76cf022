package runtimetest

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/berth-dev/berth/internal/runtime"
)

// Run runs the conformance suite against the runtime newRuntime returns.
// It needs root and skips without it.
func Run(t *testing.T, newRuntime func(t *testing.T) runtime.Runtime) {
	if os.Geteuid() != 0 {
		t.Skip("needs root")
	}
	startReaper()
	s := &suite{rt: newRuntime(t), newRT: newRuntime, rootfs: Rootfs(t), cgParent: "berth-test-" + randHex(4)}
	t.Cleanup(func() {
		for _, d := range cgroupDirs(t, s.cgParent) {
			os.Remove(d)
		}
	})
	cases := []struct {
		name string
		f    func(*testing.T, *suite)
	}{
		{"ExitCodes", testExitCodes},
		{"ExecErrors", testExecErrors},
		{"Stdio", testStdio},
		{"PID1", testPID1},
		{"Ps", testPs},
		{"Hostname", testHostname},
		{"Namespaces", testNamespaces},
		{"NetworkLoopbackOnly", testNetwork},
		{"Capabilities", testCaps},
		{"MaskedPaths", testMasked},
		{"ReadonlyPaths", testReadonly},
		{"Devices", testDevices},
		{"ReadonlyRootfs", testReadonlyRootfs},
		{"User", testUser},
		{"Cwd", testCwd},
		{"Cgroup", testCgroup},
		{"HostCgroupNamespace", testHostCgroupns},
		{"Terminal", testTerminal},
		{"Signal", testSignal},
		{"KillAll", testKillAll},
		{"DeleteBeforeStart", testDeleteBeforeStart},
		{"StartAfterKill", testStartAfterKill},
		{"BindMounts", testBindMounts},
		{"SymlinkEscape", testSymlinkEscape},
		{"Sysctl", testSysctl},
		{"Env", testEnv},
		{"NoNewPrivileges", testNoNewPrivs},
		{"UmaskAndOOMScore", testUmaskOOM},
		{"CreateFailureLeavesNothing", testCreateFailure},
		{"HostNamespaces", testHostNamespaces},
		{"Concurrent", testConcurrent},
		{"LargeSpec", testLargeSpec},
		{"NoFdLeak", testNoFdLeak},
		{"Exec", testExec},
		{"ExecAfterReadoption", testExecAfterAdoption},
		{"UserNamespace", testUserNamespace},
		{"UserNamespaceNetByPath", testUserNamespaceNetByPath},
		{"UserNamespaceExec", testUserNamespaceExec},
		{"UserNamespaceLatency", testUserNamespaceLatency},
		{"StartLatency", testLatency},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) { c.f(t, s) })
	}
}

func (s *suite) spec(args ...string) *specs.Spec {
	return Spec(s.rootfs, "set-by-create", args...)
}

func testExitCodes(t *testing.T, s *suite) {
	for _, tc := range []struct {
		args []string
		want int
	}{
		{[]string{"true"}, 0},
		{[]string{"sh", "-c", "exit 3"}, 3},
		{[]string{"sh", "-c", "exit 255"}, 255},
	} {
		if got := s.mustRun(t, s.spec(tc.args...), ""); got.code != tc.want {
			t.Errorf("%q: exit %d, want %d (stderr %q)", tc.args, got.code, tc.want, got.stderr)
		}
	}
}

func testExecErrors(t *testing.T, s *suite) {
	for _, tc := range []struct {
		arg  string
		want error
		text string
	}{
		{"nosuchcmd", runtime.ErrExecNotFound, `exec: "nosuchcmd": executable file not found in $PATH`},
		{"/nosuch/cmd", runtime.ErrExecNotFound, `/nosuch/cmd`},
		{"/noexec", runtime.ErrExecPermission, `/noexec`},
		{"/etc", runtime.ErrExecPermission, `/etc`},
	} {
		_, err := s.run(t, s.spec(tc.arg), "")
		if !errors.Is(err, tc.want) {
			t.Errorf("%s: error %v, want one wrapping %v", tc.arg, err, tc.want)
			continue
		}
		if !strings.Contains(err.Error(), tc.text) {
			t.Errorf("%s: error %q does not say %q", tc.arg, err, tc.text)
		}
	}
}

func testStdio(t *testing.T, s *suite) {
	got := s.mustRun(t, s.spec("sh", "-c", "cat; echo to-stderr >&2; exit 5"), "hello\nworld\n")
	if got.stdout != "hello\nworld\n" || got.stderr != "to-stderr\n" || got.code != 5 {
		t.Errorf("got stdout %q stderr %q exit %d; want %q %q 5", got.stdout, got.stderr, got.code, "hello\nworld\n", "to-stderr\n")
	}
	// No stdin given: /dev/null, not a closed fd.
	got = s.mustRun(t, s.spec("sh", "-c", "cat; echo rc=$?; readlink /proc/self/fd/0"), "")
	if got.stdout != "rc=0\n/dev/null\n" {
		t.Errorf("without stdin: got %q (stderr %q), want rc=0 and /dev/null", got.stdout, got.stderr)
	}
}

func testPID1(t *testing.T, s *suite) {
	if got := s.mustRun(t, s.spec("sh", "-c", "echo $$"), ""); got.stdout != "1\n" {
		t.Errorf("echo $$ = %q, want 1 (stderr %q)", got.stdout, got.stderr)
	}
}

func testPs(t *testing.T, s *suite) {
	got := s.mustRun(t, s.spec("sh", "-c", "ps -o pid,comm; true"), "")
	lines := strings.Split(strings.TrimSpace(got.stdout), "\n")
	if len(lines) != 3 || strings.Join(strings.Fields(lines[1]), " ") != "1 sh" || !strings.HasSuffix(lines[2], "ps") {
		t.Errorf("ps shows %q, want a header, 1 sh and ps only (stderr %q)", got.stdout, got.stderr)
	}
}

func testHostname(t *testing.T, s *suite) {
	spec := s.spec("hostname")
	spec.Hostname = "berth-host-x"
	if got := s.mustRun(t, spec, ""); got.stdout != "berth-host-x\n" {
		t.Errorf("hostname = %q (stderr %q)", got.stdout, got.stderr)
	}
}

func testNamespaces(t *testing.T, s *suite) {
	kinds := []string{"pid", "mnt", "uts", "ipc", "net", "cgroup"}
	got := s.mustRun(t, s.spec("sh", "-c", "for n in "+strings.Join(kinds, " ")+"; do readlink /proc/self/ns/$n; done"), "")
	lines := strings.Split(strings.TrimSpace(got.stdout), "\n")
	if len(lines) != len(kinds) {
		t.Fatalf("got %q (stderr %q)", got.stdout, got.stderr)
	}
	for i, k := range kinds {
		host, err := os.Readlink("/proc/self/ns/" + k)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(lines[i], k+":[") || lines[i] == host {
			t.Errorf("%s namespace %q, host's %q: want a new one", k, lines[i], host)
		}
	}
}

func testNetwork(t *testing.T, s *suite) {
	got := s.mustRun(t, s.spec("ls", "/sys/class/net"), "")
	if got.stdout != "lo\n" {
		t.Errorf("/sys/class/net holds %q, want lo only (stderr %q)", got.stdout, got.stderr)
	}
}

func testCaps(t *testing.T, s *suite) {
	got := s.mustRun(t, s.spec("grep", "^Cap", "/proc/self/status"), "")
	for _, want := range []string{"CapPrm:\t" + DefaultCapEff, "CapEff:\t" + DefaultCapEff, "CapBnd:\t" + DefaultCapEff, "CapInh:\t0000000000000000", "CapAmb:\t0000000000000000"} {
		if !strings.Contains(got.stdout, want+"\n") {
			t.Errorf("status lacks %q:\n%s", want, got.stdout)
		}
	}
}

func testMasked(t *testing.T, s *suite) {
	script := `for p in "$@"; do if [ -d $p ]; then echo $p $(ls -A $p | wc -l); elif [ -e $p ]; then echo $p $(cat $p | wc -c); else echo $p missing; fi; done`
	got := s.mustRun(t, s.spec(append([]string{"sh", "-c", script, "sh"}, MaskedPaths...)...), "")
	for _, p := range MaskedPaths {
		if _, err := os.Stat(p); err != nil {
			continue // not on this kernel, nothing to mask
		}
		if !strings.Contains(got.stdout, p+" 0\n") {
			t.Errorf("%s not masked (want empty):\n%s%s", p, got.stdout, got.stderr)
		}
	}
}

// mountOptions returns, for each mount point in a mountinfo text, the
// per-mount options of the topmost mount.
func mountOptions(mountinfo string) map[string]string {
	m := map[string]string{}
	for _, line := range strings.Split(mountinfo, "\n") {
		f := strings.Fields(line)
		if len(f) > 5 {
			m[f[4]] = f[5]
		}
	}
	return m
}

func testReadonly(t *testing.T, s *suite) {
	got := s.mustRun(t, s.spec("sh", "-c", "cat /proc/self/mountinfo; echo x > /proc/sysrq-trigger && echo WROTE"), "")
	opts := mountOptions(got.stdout)
	for _, p := range ReadonlyPaths {
		if _, err := os.Stat(p); err != nil {
			continue
		}
		if o, ok := opts[p]; !ok || !strings.HasPrefix(o, "ro") {
			t.Errorf("%s: mount options %q (mounted: %v), want read-only", p, o, ok)
		}
	}
	if strings.Contains(got.stdout, "WROTE") {
		t.Error("/proc/sysrq-trigger is writable")
	}
	if o := opts["/sys"]; !strings.HasPrefix(o, "ro") {
		t.Errorf("/sys: mount options %q, want read-only", o)
	}
	n := 0
	for _, line := range strings.Split(got.stdout, "\n") {
		pre, post, _ := strings.Cut(line, " - ")
		f, g := strings.Fields(pre), strings.Fields(post)
		if len(f) > 5 && len(g) > 0 && strings.HasPrefix(g[0], "cgroup") {
			n++
			if !strings.HasPrefix(f[5], "ro") {
				t.Errorf("cgroup mount %s: options %q, want read-only", f[4], f[5])
			}
		}
	}
	if n == 0 {
		t.Errorf("no cgroup mounted in the container:\n%s", got.stdout)
	}
}

func testDevices(t *testing.T, s *suite) {
	devs := []string{"/dev/null 1:3", "/dev/zero 1:5", "/dev/full 1:7", "/dev/random 1:8", "/dev/urandom 1:9", "/dev/tty 5:0"}
	var paths []string
	for _, d := range devs {
		paths = append(paths, strings.Fields(d)[0])
	}
	script := `stat -c '%n %F %t:%T %a' "$@"; for l in fd stdin stdout stderr ptmx; do echo $l $(readlink /dev/$l); done; echo hi > /dev/null && head -c 4 /dev/zero | wc -c`
	got := s.mustRun(t, s.spec(append([]string{"sh", "-c", script, "sh"}, paths...)...), "")
	want := []string{}
	for _, d := range devs {
		f := strings.Fields(d)
		want = append(want, f[0]+" character special file "+f[1]+" 666")
	}
	want = append(want, "fd /proc/self/fd", "stdin /proc/self/fd/0", "stdout /proc/self/fd/1", "stderr /proc/self/fd/2", "ptmx pts/ptmx", "4")
	if g := strings.TrimSpace(got.stdout); g != strings.Join(want, "\n") {
		t.Errorf("devices:\n%s\nwant:\n%s\nstderr %q", g, strings.Join(want, "\n"), got.stderr)
	}
}

func testReadonlyRootfs(t *testing.T, s *suite) {
	spec := s.spec("sh", "-c", "touch /x 2>/dev/null && echo writable || echo ro; touch /dev/shm/x && echo shm-ok")
	spec.Root.Readonly = true
	if got := s.mustRun(t, spec, ""); got.stdout != "ro\nshm-ok\n" {
		t.Errorf("got %q (stderr %q), want ro, shm-ok", got.stdout, got.stderr)
	}
	if _, err := os.Stat(filepath.Join(s.rootfs, "x")); err == nil {
		t.Error("/x was created in a read-only rootfs")
	}
}

func testUser(t *testing.T, s *suite) {
	spec := s.spec("sh", "-c", `grep -E "^(Uid|Gid|Groups|CapEff)" /proc/self/status; echo HOME=$HOME; touch /root/x 2>/dev/null || echo denied`)
	spec.Process.User = specs.User{UID: 1000, GID: 1000, AdditionalGids: []uint32{1000, 10}}
	got := s.mustRun(t, spec, "")
	want := "Uid:\t1000\t1000\t1000\t1000\nGid:\t1000\t1000\t1000\t1000\nGroups:\t10 1000 \nCapEff:\t0000000000000000\nHOME=/home/user\ndenied\n"
	if got.stdout != want {
		t.Errorf("got:\n%q\nwant:\n%q\nstderr %q", got.stdout, want, got.stderr)
	}
}

func testCwd(t *testing.T, s *suite) {
	dir := "/made/by/" + randHex(3)
	spec := s.spec("pwd")
	spec.Process.Cwd = dir
	if got := s.mustRun(t, spec, ""); got.stdout != dir+"\n" {
		t.Errorf("pwd = %q, want %s (stderr %q)", got.stdout, dir, got.stderr)
	}
}

func testCgroup(t *testing.T, s *suite) {
	spec := s.spec("sh", "-c", "cat /proc/self/cgroup; cat /sys/fs/cgroup/pids/pids.max 2>/dev/null || cat /sys/fs/cgroup/pids.max")
	limit := int64(77)
	spec.Linux.Resources.Pids = &specs.LinuxPids{Limit: &limit}
	got := s.mustRun(t, spec, "")
	lines := strings.Split(strings.TrimSpace(got.stdout), "\n")
	if len(lines) < 2 || lines[len(lines)-1] != "77" {
		t.Errorf("pids.max not 77 in %q (stderr %q)", got.stdout, got.stderr)
	}
	for _, l := range lines[:len(lines)-1] {
		if !strings.HasSuffix(l, ":/") {
			t.Errorf("in a cgroup namespace, want every cgroup at its root; got %q", l)
		}
	}
}

func testHostCgroupns(t *testing.T, s *suite) {
	spec := s.spec("cat", "/proc/self/cgroup")
	var nss []specs.LinuxNamespace
	for _, n := range spec.Linux.Namespaces {
		if n.Type != specs.CgroupNamespace {
			nss = append(nss, n)
		}
	}
	spec.Linux.Namespaces = nss
	got := s.mustRun(t, spec, "")
	lines := strings.Split(strings.TrimSpace(got.stdout), "\n")
	for _, l := range lines {
		if strings.Contains(l, "name=") && strings.Contains(l, "systemd") {
			continue // runc leaves name= hierarchies it does not manage alone
		}
		if !strings.Contains(l, s.cgParent+"/rt-") {
			t.Errorf("cgroup line %q is not under %s", l, s.cgParent)
		}
	}
}

func testTerminal(t *testing.T, s *suite) {
	spec := s.spec("sh", "-c", "stty size; tty; [ -t 0 ] && echo stdin-tty")
	spec.Process.Terminal = true
	text, code := s.runTerminal(t, spec)
	if code != 0 || !strings.Contains(text, "41 103\r\n") || !strings.Contains(text, "/dev/pts/0\r\n") || !strings.Contains(text, "stdin-tty") {
		t.Errorf("exit %d, console output %q; want 41 103, /dev/pts/0, stdin-tty", code, text)
	}
	// A user's terminal must be theirs to write to and reopen.
	spec = s.spec("sh", "-c", "id -u; echo reopened > $(tty)")
	spec.Process.Terminal = true
	spec.Process.User = specs.User{UID: 1000, GID: 1000}
	text, code = s.runTerminal(t, spec)
	if code != 0 || text != "1000\r\nreopened\r\n" {
		t.Errorf("as uid 1000: exit %d, console output %q", code, text)
	}
}

// runTerminal runs a terminal container, sizing its pty to 41x103 before
// the start, and returns what the pty master read.
func (s *suite) runTerminal(t *testing.T, spec *specs.Spec) (string, int) {
	t.Helper()
	c, err := s.create(t, spec, nil)
	if err != nil {
		t.Fatal(err)
	}
	con := c.task.Console()
	if con == nil {
		c.task.Kill(context.Background(), unix.SIGKILL, true)
		c.wait(t)
		s.delete(t, c)
		t.Fatal("no console for a terminal container")
	}
	if err := unix.IoctlSetWinsize(int(con.Fd()), unix.TIOCSWINSZ, &unix.Winsize{Row: 41, Col: 103}); err != nil {
		t.Error(err)
	}
	out := make(chan string, 1)
	go func() {
		var b []byte
		buf := make([]byte, 4096)
		for {
			n, err := con.Read(buf)
			b = append(b, buf[:n]...)
			if err != nil {
				break
			}
		}
		out <- string(b)
	}()
	if err := c.task.Start(context.Background()); err != nil {
		t.Error(err)
	}
	code := c.wait(t)
	var text string
	select {
	case text = <-out:
	case <-time.After(5 * time.Second):
		t.Error("console not closed after the exit")
	}
	s.delete(t, c)
	return text, code
}

// startAndWaitReady starts c and waits for "ready" on its stdout.
func startAndWaitReady(t *testing.T, c *container) {
	t.Helper()
	if err := c.task.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	select {
	case l := <-c.stdout.line:
		if l != "ready\n" {
			t.Fatalf("first line %q, want ready", l)
		}
	case <-time.After(10 * time.Second):
		t.Fatalf("no ready line; stderr %q", c.stderr.String())
	}
}

func testSignal(t *testing.T, s *suite) {
	spec := s.spec("sh", "-c", `trap "echo got TERM; exit 42" TERM; echo ready; while :; do sleep 0.05; done`)
	c, err := s.create(t, spec, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.delete(t, c)
	startAndWaitReady(t, c)
	if err := c.task.Kill(context.Background(), syscall.SIGTERM, false); err != nil {
		t.Fatal(err)
	}
	if code := c.wait(t); code != 42 {
		t.Errorf("exit %d, want 42 from the trap", code)
	}
	if out := c.stdout.all(t); !strings.Contains(out, "got TERM") {
		t.Errorf("stdout %q lacks the trap's output", out)
	}
}

func testKillAll(t *testing.T, s *suite) {
	spec := s.spec("sh", "-c", `trap "" TERM; sleep 60 & sleep 60 & echo ready; wait`)
	c, err := s.create(t, spec, nil)
	if err != nil {
		t.Fatal(err)
	}
	startAndWaitReady(t, c)
	if err := c.task.Kill(context.Background(), syscall.SIGKILL, true); err != nil {
		t.Fatal(err)
	}
	if code := c.wait(t); code != 137 {
		t.Errorf("exit %d, want 137", code)
	}
	c.stdout.all(t) // EOF: every holder of the pipe is gone
	s.delete(t, c)
}

func testDeleteBeforeStart(t *testing.T, s *suite) {
	c, err := s.create(t, s.spec("true"), nil)
	if err != nil {
		t.Fatal(err)
	}
	pid := c.task.Pid()
	s.delete(t, c)
	if _, ok := exits.wait(pid, 10*time.Second); !ok {
		t.Errorf("init %d still running after Delete", pid)
	}
}

func testLatency(t *testing.T, s *suite) {
	if testing.Short() {
		t.Skip("short mode")
	}
	const n = 20
	var total, create, run, del []time.Duration
	for i := 0; i < n; i++ {
		spec := s.spec("true")
		c, err := s.create(t, spec, nil)
		if err != nil {
			t.Fatal(err)
		}
		created := time.Now()
		if err := c.task.Start(context.Background()); err != nil {
			t.Fatal(err)
		}
		c.wait(t)
		exited := time.Now()
		s.delete(t, c)
		total = append(total, exited.Sub(c.created))
		create = append(create, created.Sub(c.created))
		run = append(run, exited.Sub(created))
		del = append(del, time.Since(exited))
	}
	t.Logf("%s: create+start+exit of true, median of %d: %v (min %v, max %v); create %v, start to exit %v, delete %v",
		s.rt.Name(), n, median(total), minOf(total), maxOf(total), median(create), median(run), median(del))
}

func median(ds []time.Duration) time.Duration {
	s := append([]time.Duration(nil), ds...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	return s[len(s)/2]
}

func minOf(ds []time.Duration) time.Duration {
	m := ds[0]
	for _, d := range ds {
		m = min(m, d)
	}
	return m
}

func maxOf(ds []time.Duration) time.Duration {
	m := ds[0]
	for _, d := range ds {
		m = max(m, d)
	}
	return m
}

// Probe runs `true` in a default container and reports whether that
// worked, for runtimes that may not support the host (it needs root).
func Probe(t *testing.T, rt runtime.Runtime) error {
	if os.Geteuid() != 0 {
		t.Skip("needs root")
	}
	startReaper()
	s := &suite{rt: rt, rootfs: Rootfs(t), cgParent: "berth-probe-" + randHex(4)}
	defer func() {
		for _, d := range cgroupDirs(t, s.cgParent) {
			os.Remove(d)
		}
	}()
	res, err := s.run(t, s.spec("true"), "")
	if err == nil && res.code != 0 {
		err = fmt.Errorf("true exited %d: %s", res.code, res.stderr)
	}
	return err
}

func testBindMounts(t *testing.T, s *suite) {
	ro, rw := t.TempDir(), t.TempDir()
	if err := os.WriteFile(filepath.Join(ro, "hello"), []byte("from host\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(t.TempDir(), "hostname")
	if err := os.WriteFile(file, []byte("bound-file\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	spec := s.spec("sh", "-c", "cat /data/hello /etc/hostname; touch /data/x 2>/dev/null && echo data-writable; echo hi > /rw/out")
	spec.Mounts = append(spec.Mounts,
		specs.Mount{Destination: "/data", Type: "bind", Source: ro, Options: []string{"rbind", "ro", "rprivate"}},
		specs.Mount{Destination: "/rw", Type: "bind", Source: rw, Options: []string{"rbind", "rw"}},
		specs.Mount{Destination: "/etc/hostname", Type: "bind", Source: file, Options: []string{"rbind", "ro"}},
	)
	got := s.mustRun(t, spec, "")
	if got.stdout != "from host\nbound-file\n" || got.code != 0 {
		t.Errorf("got %q exit %d (stderr %q)", got.stdout, got.code, got.stderr)
	}
	if b, err := os.ReadFile(filepath.Join(rw, "out")); err != nil || string(b) != "hi\n" {
		t.Errorf("rw bind: host sees %q, %v", b, err)
	}
	if _, err := os.Stat(filepath.Join(ro, "x")); err == nil {
		t.Error("wrote through a read-only bind mount")
	}
}

func testSymlinkEscape(t *testing.T, s *suite) {
	outside := t.TempDir()
	link := filepath.Join(s.rootfs, "escape-"+randHex(3))
	if err := os.Symlink("/../../../../.."+outside, link); err != nil {
		t.Fatal(err)
	}
	defer os.Remove(link)
	spec := s.spec("true")
	spec.Mounts = append(spec.Mounts, specs.Mount{Destination: "/" + filepath.Base(link) + "/sub", Type: "tmpfs", Source: "tmpfs"})
	s.mustRun(t, spec, "")
	if _, err := os.Stat(filepath.Join(outside, "sub")); err == nil {
		t.Errorf("a mount destination followed a symlink out of the rootfs into %s", outside)
	}
	os.RemoveAll(filepath.Join(s.rootfs, outside))
	os.Remove(filepath.Join(s.rootfs, strings.Split(strings.TrimPrefix(outside, "/"), "/")[0]))
}

func testSysctl(t *testing.T, s *suite) {
	spec := s.spec("cat", "/proc/sys/kernel/shm_rmid_forced", "/proc/sys/net/ipv4/ip_unprivileged_port_start")
	spec.Linux.Sysctl = map[string]string{"kernel.shm_rmid_forced": "1", "net.ipv4.ip_unprivileged_port_start": "80"}
	if got := s.mustRun(t, spec, ""); got.stdout != "1\n80\n" {
		t.Errorf("sysctls read %q, want 1 and 80 (stderr %q)", got.stdout, got.stderr)
	}
}

func testEnv(t *testing.T, s *suite) {
	got := s.mustRun(t, s.spec("env"), "")
	lines := strings.Split(strings.TrimSpace(got.stdout), "\n")
	sort.Strings(lines)
	want := []string{"HOME=/root", "HOSTNAME=berthbox", "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"}
	if strings.Join(lines, "\n") != strings.Join(want, "\n") {
		t.Errorf("env:\n%s\nwant:\n%s", got.stdout, strings.Join(want, "\n"))
	}
}

func testNoNewPrivs(t *testing.T, s *suite) {
	spec := s.spec("grep", "NoNewPrivs", "/proc/self/status")
	spec.Process.NoNewPrivileges = true
	if got := s.mustRun(t, spec, ""); got.stdout != "NoNewPrivs:\t1\n" {
		t.Errorf("got %q", got.stdout)
	}
}

func testCreateFailure(t *testing.T, s *suite) {
	spec := s.spec("true")
	missing := "/nonexistent-" + randHex(4)
	spec.Mounts = append(spec.Mounts, specs.Mount{Destination: "/data", Type: "bind", Source: missing, Options: []string{"rbind"}})
	_, err := s.run(t, spec, "") // create checks that nothing is left
	if err == nil || !strings.Contains(err.Error(), missing) {
		t.Errorf("create with a missing bind source: %v, want an error naming %s", err, missing)
	}
}

// RunSpec runs spec in a new container of rt, over a rootfs made by
// Rootfs when spec.Root.Path is "", and returns its output and exit status.
// It is for runtime-specific tests next to the conformance suite.
func RunSpec(t *testing.T, rt runtime.Runtime, spec *specs.Spec, stdin string) (stdout, stderr string, code int, err error) {
	if os.Geteuid() != 0 {
		t.Skip("needs root")
	}
	startReaper()
	if spec.Root.Path == "" {
		spec.Root.Path = Rootfs(t)
	}
	s := &suite{rt: rt, rootfs: spec.Root.Path, cgParent: "berth-test-" + randHex(4)}
	defer func() {
		for _, d := range cgroupDirs(t, s.cgParent) {
			os.Remove(d)
		}
	}()
	res, err := s.run(t, spec, stdin)
	return res.stdout, res.stderr, res.code, err
}

func testUmaskOOM(t *testing.T, s *suite) {
	got := s.mustRun(t, s.spec("sh", "-c", "umask; cat /proc/self/oom_score_adj"), "")
	if !strings.HasPrefix(got.stdout, "0022\n") {
		t.Errorf("default umask: %q, want 0022 (stderr %q)", got.stdout, got.stderr)
	}
	spec := s.spec("sh", "-c", "umask; cat /proc/self/oom_score_adj")
	adj, mask := 123, uint32(0o077)
	spec.Process.OOMScoreAdj = &adj
	spec.Process.User.Umask = &mask
	if got := s.mustRun(t, spec, ""); got.stdout != "0077\n123\n" {
		t.Errorf("got %q, want umask 0077 and oom_score_adj 123 (stderr %q)", got.stdout, got.stderr)
	}
}

func testStartAfterKill(t *testing.T, s *suite) {
	c, err := s.create(t, s.spec("true"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.delete(t, c)
	if err := c.task.Kill(context.Background(), syscall.SIGKILL, false); err != nil {
		t.Fatal(err)
	}
	if code := c.wait(t); code != 137 {
		t.Errorf("killed before start: exit %d, want 137", code)
	}
	if err := c.task.Start(context.Background()); err == nil {
		t.Error("start of a container whose init was killed succeeded")
	}
}

func testConcurrent(t *testing.T, s *suite) {
	const n = 6
	errs := make(chan string, n)
	for i := 0; i < n; i++ {
		go func() {
			res, err := s.run(t, s.spec("sh", "-c", "echo $$; hostname"), "")
			switch {
			case err != nil:
				errs <- err.Error()
			case res.stdout != "1\nberthbox\n":
				errs <- fmt.Sprintf("stdout %q stderr %q", res.stdout, res.stderr)
			default:
				errs <- ""
			}
		}()
	}
	for i := 0; i < n; i++ {
		if e := <-errs; e != "" {
			t.Errorf("concurrent run: %s", e)
		}
	}
}

func testLargeSpec(t *testing.T, s *suite) {
	// Larger than a unix socket's default send buffer, in variables that
	// each fit execve's per-string limit (128 KiB).
	spec := s.spec("sh", "-c", `echo $((${#BIG1} + ${#BIG2} + ${#BIG3}))`)
	big := strings.Repeat("x", 100<<10)
	spec.Process.Env = append(spec.Process.Env, "BIG1="+big, "BIG2="+big, "BIG3="+big)
	if got := s.mustRun(t, spec, ""); got.stdout != fmt.Sprintf("%d\n", 3*len(big)) {
		t.Errorf("got %q (stderr %q), want the variables' total length", got.stdout, got.stderr)
	}
}

// testHostNamespaces is --network host --pid host --ipc host --uts host:
// only the mount namespace is new.
func testHostNamespaces(t *testing.T, s *suite) {
	kinds := []string{"pid", "net", "ipc", "uts"}
	spec := s.spec("sh", "-c", "for n in "+strings.Join(kinds, " ")+"; do readlink /proc/self/ns/$n; done; hostname; echo $$")
	spec.Linux.Namespaces = []specs.LinuxNamespace{{Type: specs.MountNamespace}}
	spec.Hostname = ""
	got := s.mustRun(t, spec, "")
	lines := strings.Split(strings.TrimSpace(got.stdout), "\n")
	host, _ := os.Hostname()
	if len(lines) != len(kinds)+2 {
		t.Fatalf("got %q (stderr %q)", got.stdout, got.stderr)
	}
	for i, k := range kinds {
		if h, _ := os.Readlink("/proc/self/ns/" + k); lines[i] != h {
			t.Errorf("%s namespace %q, want the host's %q", k, lines[i], h)
		}
	}
	if lines[len(kinds)] != host || lines[len(kinds)+1] == "1" {
		t.Errorf("hostname %q (want %q), pid %s (want not 1)", lines[len(kinds)], host, lines[len(kinds)+1])
	}
}

func openFds(t *testing.T) int {
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	return len(ents)
}

// testNoFdLeak runs successful, failing and terminal containers and checks
// that the caller's process holds no more fds after than before.
func testNoFdLeak(t *testing.T, s *suite) {
	s.mustRun(t, s.spec("true"), "") // warm up lazily opened fds
	before := openFds(t)
	for i := 0; i < 3; i++ {
		s.mustRun(t, s.spec("true"), "in")
		s.run(t, s.spec("nosuchcmd"), "")
		spec := s.spec("true")
		spec.Process.Terminal = true
		c, err := s.create(t, spec, nil)
		if err != nil {
			t.Fatal(err)
		}
		if err := c.task.Start(context.Background()); err != nil {
			t.Fatal(err)
		}
		c.wait(t)
		s.delete(t, c)
	}
	time.Sleep(50 * time.Millisecond) // pipe readers close at EOF, asynchronously
	if after := openFds(t); after > before {
		t.Errorf("%d fds open before, %d after", before, after)
	}
}
