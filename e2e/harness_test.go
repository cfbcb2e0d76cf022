// Package e2e drives the real docker CLI (and berth's own CLI) against a
// private berthd started on temporary data and exec roots. The tests need
// root; they skip otherwise. Everything a test daemon creates (containers,
// the monitor, mounts, cgroups, directories) is removed when it stops.
package e2e

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/berth-dev/berth/internal/runtime/runtimetest"
)

var (
	binDir    string
	buildOnce sync.Once
	buildErr  error
	rootfsTar string
)

func TestMain(m *testing.M) {
	code := m.Run()
	if binDir != "" && os.Getenv("BERTH_BIN_DIR") == "" {
		os.RemoveAll(binDir)
	}
	if rootfsTar != "" {
		os.Remove(rootfsTar)
	}
	os.Exit(code)
}

// binaries returns the directory holding berthd and berth: $BERTH_BIN_DIR
// (make test sets it) or a fresh build.
func binaries(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		binDir = os.Getenv("BERTH_BIN_DIR")
		if binDir == "" {
			if binDir, buildErr = os.MkdirTemp("", "berth-e2e-bin-"); buildErr != nil {
				return
			}
			for _, c := range []string{"berthd", "berth", "berth-init"} {
				// Static, as make build: a dynamic berthd as --init in
				// the busybox rootfs finds no libc.
				cmd := exec.Command("go", "build", "-trimpath", "-o", filepath.Join(binDir, c), "../cmd/"+c)
				cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
				out, err := cmd.CombinedOutput()
				if err != nil {
					buildErr = fmt.Errorf("build %s: %v\n%s", c, err, out)
					return
				}
			}
		}
		f, err := os.CreateTemp("", "busybox-rootfs-*.tar")
		if err != nil {
			buildErr = err
			return
		}
		f.Close()
		rootfsTar = f.Name()
		if out, err := exec.Command("sh", "../hack/busybox-rootfs.sh", rootfsTar).CombinedOutput(); err != nil {
			buildErr = fmt.Errorf("busybox rootfs: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return binDir
}

// Daemon is a private berthd.
type Daemon struct {
	t        *testing.T
	Root     string // temp dir holding data/, exec/, berth.sock
	DataRoot string
	ExecRoot string
	Sock     string
	Host     string // unix://...
	// CgroupParent is relative: nested under berthd's own cgroup.
	CgroupParent string
	bin          string
	cmd          *exec.Cmd
	logBuf       *bytes.Buffer
	extra        []string
	// NetNS, when set, is the network namespace berthd runs in
	// (StartDaemonNetNS); without it berthd runs with --bridge=none so
	// that it makes no network objects on the host.
	NetNS string
	// Wrap, when set, is a command line berthd runs under (its last
	// word followed by berthd's path and arguments): StartDaemonWrapped.
	Wrap []string
}

func needRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root")
	}
}

// StartDaemon starts a berthd on fresh temporary roots and registers its
// full cleanup.
func StartDaemon(t *testing.T, args ...string) *Daemon {
	t.Helper()
	return startDaemon(t, "", args...)
}

// StartDaemonWrapped is StartDaemon with berthd run under wrap (say,
// nsenter into a mount namespace of the test's), on every (re)start.
func StartDaemonWrapped(t *testing.T, wrap []string, args ...string) *Daemon {
	t.Helper()
	return startDaemonWith(t, "", wrap, args...)
}

func startDaemon(t *testing.T, netns string, args ...string) *Daemon {
	t.Helper()
	return startDaemonWith(t, netns, nil, args...)
}

func startDaemonWith(t *testing.T, netns string, wrap []string, args ...string) *Daemon {
	t.Helper()
	needRoot(t)
	bin := binaries(t)
	root, err := os.MkdirTemp("", "berth-e2e-")
	if err != nil {
		t.Fatal(err)
	}
	d := &Daemon{t: t, Root: root, DataRoot: filepath.Join(root, "data"), ExecRoot: filepath.Join(root, "exec"),
		Sock: filepath.Join(root, "berth.sock"), bin: bin, extra: args}
	d.Host = "unix://" + d.Sock
	// A cgroup parent of its own, so that Destroy can remove every cgroup
	// this daemon made and nothing else.
	d.CgroupParent = filepath.Base(root)
	d.extra = append([]string{"--cgroup-parent", d.CgroupParent}, d.extra...)
	d.NetNS = netns
	d.Wrap = wrap
	if netns == "" {
		d.extra = append([]string{"--bridge=none"}, d.extra...)
	}
	t.Cleanup(d.Destroy)
	if err := os.WriteFile(filepath.Join(root, "daemon.json"), []byte("{}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	d.Start()
	return d
}

// Start (re)starts berthd on the daemon's roots.
func (d *Daemon) Start() {
	d.t.Helper()
	args := append([]string{"--data-root", d.DataRoot, "--exec-root", d.ExecRoot, "-H", d.Host,
		"--pidfile", filepath.Join(d.Root, "berthd.pid"), "--config-file", filepath.Join(d.Root, "daemon.json"), "--log-level", "debug"}, d.extra...)
	d.cmd = exec.Command(filepath.Join(d.bin, "berthd"), args...)
	if d.NetNS != "" {
		// nsenter, unlike ip netns exec, keeps the mount namespace, so a
		// restarted berthd sees the mounts of the one before.
		d.cmd = exec.Command("nsenter", append([]string{"--net=/run/netns/" + d.NetNS, filepath.Join(d.bin, "berthd")}, args...)...)
	}
	if len(d.Wrap) > 0 {
		d.cmd = exec.Command(d.Wrap[0], append(append(d.Wrap[1:len(d.Wrap):len(d.Wrap)], filepath.Join(d.bin, "berthd")), args...)...)
	}
	d.logBuf = &bytes.Buffer{}
	lf, err := os.OpenFile(filepath.Join(d.Root, "berthd.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		d.t.Fatal(err)
	}
	d.cmd.Stdout, d.cmd.Stderr = lf, lf
	if err := d.cmd.Start(); err != nil {
		d.t.Fatal(err)
	}
	lf.Close()
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		if out, err := exec.Command("docker", "-H", d.Host, "version", "--format", "{{.Server.APIVersion}}").CombinedOutput(); err == nil && len(out) > 0 {
			return
		}
		if d.cmd.ProcessState != nil {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	d.t.Fatalf("berthd did not come up; log:\n%s", d.Log())
}

// Log returns berthd's log so far.
func (d *Daemon) Log() string {
	b, _ := os.ReadFile(filepath.Join(d.Root, "berthd.log"))
	return string(b)
}

// Stop sends SIGTERM and waits for berthd to exit (containers keep running).
func (d *Daemon) Stop() {
	if d.cmd == nil || d.cmd.Process == nil {
		return
	}
	d.cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan struct{})
	go func() { d.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(20 * time.Second):
		d.cmd.Process.Kill()
		<-done
		d.t.Errorf("berthd did not stop on SIGTERM within 20s")
	}
	d.cmd = nil
}

// Kill kills berthd with SIGKILL.
func (d *Daemon) Kill() {
	if d.cmd == nil {
		return
	}
	d.cmd.Process.Kill()
	d.cmd.Wait()
	d.cmd = nil
}

// Destroy removes every container, stops berthd and the monitor, and removes
// the roots, unmounting anything left below them.
func (d *Daemon) Destroy() {
	if d.cmd != nil {
		if out, err := exec.Command("docker", "-H", d.Host, "ps", "-aq").Output(); err == nil {
			ids := strings.Fields(string(out))
			if len(ids) > 0 {
				exec.Command("docker", append([]string{"-H", d.Host, "rm", "-f"}, ids...)...).Run()
			}
		}
		d.Stop()
	}
	if b, err := os.ReadFile(filepath.Join(d.ExecRoot, "monitor.pid")); err == nil {
		if pid, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil && pid > 1 && isMonitor(pid, d.ExecRoot) {
			syscall.Kill(pid, syscall.SIGKILL)
		}
	}
	unmountUnder(d.Root)
	runtimetest.RemoveCgroupTree(d.CgroupParent)
	if d.t.Failed() {
		d.t.Logf("berthd log:\n%s", tail(d.Log(), 80))
	}
	os.RemoveAll(d.Root)
}

// isMonitor checks that pid is this daemon's monitor (never kill a stranger).
func isMonitor(pid int, execRoot string) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	return err == nil && bytes.Contains(b, []byte("monitor")) && bytes.Contains(b, []byte(execRoot))
}

func unmountUnder(root string) {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return
	}
	var mps []string
	s := bufio.NewScanner(f)
	for s.Scan() {
		fields := strings.Fields(s.Text())
		if len(fields) > 4 && strings.HasPrefix(fields[4], root+"/") {
			mps = append(mps, fields[4])
		}
	}
	f.Close()
	for i := len(mps) - 1; i >= 0; i-- {
		syscall.Unmount(mps[i], syscall.MNT_DETACH)
	}
}

func tail(s string, n int) string {
	lines := strings.Split(s, "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// Result of a CLI run.
type Result struct {
	Stdout, Stderr string
	Code           int
}

func (r Result) String() string {
	return fmt.Sprintf("exit %d\nstdout: %s\nstderr: %s", r.Code, r.Stdout, r.Stderr)
}

// Docker runs the real docker CLI against the daemon.
func (d *Daemon) Docker(stdin string, args ...string) Result {
	return d.cli("docker", stdin, args...)
}

// Berth runs berth's CLI against the daemon.
func (d *Daemon) Berth(stdin string, args ...string) Result {
	return d.cli(filepath.Join(d.bin, "berth"), stdin, args...)
}

func (d *Daemon) cli(bin, stdin string, args ...string) Result {
	d.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, append([]string{"-H", d.Host}, args...)...)
	cmd.Env = append(os.Environ(), "DOCKER_CONFIG="+filepath.Join(d.Root, "dockercfg"), "DOCKER_BUILDKIT=0")
	if stdin != "" {
		cmd.Stdin = strings.NewReader(stdin)
	}
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	err := cmd.Run()
	r := Result{Stdout: o.String(), Stderr: e.String()}
	if ee, ok := err.(*exec.ExitError); ok {
		r.Code = ee.ExitCode()
	} else if err != nil {
		d.t.Fatalf("%s %v: %v", bin, args, err)
	}
	return r
}

// MustDocker runs docker and fails the test on a non-zero exit.
func (d *Daemon) MustDocker(args ...string) string {
	d.t.Helper()
	r := d.Docker("", args...)
	if r.Code != 0 {
		d.t.Fatalf("docker %s: %s", strings.Join(args, " "), r)
	}
	return strings.TrimSpace(r.Stdout)
}

// ImportBusybox imports the busybox rootfs as busybox:latest with CMD sh.
func (d *Daemon) ImportBusybox() {
	d.t.Helper()
	d.MustDocker("import", "--change", `CMD ["sh"]`, rootfsTar, "busybox:latest")
}
