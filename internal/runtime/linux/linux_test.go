package linux_test

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	goruntime "runtime"
	"strconv"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/berth-dev/berth/internal/errdefs"

	"github.com/berth-dev/berth/internal/runtime"
	"github.com/berth-dev/berth/internal/runtime/linux"
	"github.com/berth-dev/berth/internal/runtime/runtimetest"
)

func TestMain(m *testing.M) {
	// The runtime re-executes this test binary as the container init.
	if len(os.Args) > 1 && os.Args[1] == "init" {
		linux.InitMain()
	}
	os.Exit(m.Run())
}

// TestConformance runs the suite with this test binary as init, or with
// $BERTH_INIT_BINARY (say, a built berthd) to measure the real thing.
func TestConformance(t *testing.T) {
	init := os.Getenv("BERTH_INIT_BINARY")
	runtimetest.Run(t, func(t *testing.T) runtime.Runtime { return linux.New(linux.Options{InitPath: init}) })
}

func newSpec(args ...string) *specs.Spec {
	s := runtimetest.Spec("", "berth-test-"+strconv.Itoa(os.Getpid())+"/x", args...)
	return s
}

func TestRlimitsAreClampedToTheHardLimit(t *testing.T) {
	var cur unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_NOFILE, &cur); err != nil {
		t.Fatal(err)
	}
	spec := newSpec("sh", "-c", "ulimit -n; ulimit -Hn")
	spec.Process.Rlimits = []specs.POSIXRlimit{{Type: "RLIMIT_NOFILE", Soft: 1 << 20, Hard: 1 << 20}} // Docker's ask
	out, errOut, code, err := runtimetest.RunSpec(t, linux.New(linux.Options{}), spec, "")
	if err != nil {
		t.Fatal(err)
	}
	want := fmt.Sprintf("%d\n%d\n", cur.Max, cur.Max)
	if cur.Max >= 1<<20 {
		want = fmt.Sprintf("%d\n%d\n", 1<<20, 1<<20)
	}
	if out != want || code != 0 {
		t.Errorf("got %q exit %d (stderr %q), want %q", out, code, errOut, want)
	}
}

// TestJoinNetworkNamespaceByPath joins a namespace made the way network
// setup makes them: held open by a bind mount of its nsfs file.
func TestJoinNetworkNamespaceByPath(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root")
	}
	nsFile := filepath.Join(t.TempDir(), "netns")
	if err := os.WriteFile(nsFile, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	errc := make(chan error, 1)
	go func() {
		goruntime.LockOSThread() // never unlocked: the thread dies with its namespace
		if err := unix.Unshare(unix.CLONE_NEWNET); err != nil {
			errc <- err
			return
		}
		errc <- unix.Mount(fmt.Sprintf("/proc/self/task/%d/ns/net", unix.Gettid()), nsFile, "", unix.MS_BIND, "")
	}()
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
	defer unix.Unmount(nsFile, unix.MNT_DETACH)
	var st unix.Stat_t
	if err := unix.Stat(nsFile, &st); err != nil {
		t.Fatal(err)
	}
	spec := newSpec("readlink", "/proc/self/ns/net")
	for i, n := range spec.Linux.Namespaces {
		if n.Type == specs.NetworkNamespace {
			spec.Linux.Namespaces[i].Path = nsFile
		}
	}
	out, errOut, _, err := runtimetest.RunSpec(t, linux.New(linux.Options{}), spec, "")
	if err != nil {
		t.Fatal(err)
	}
	if want := fmt.Sprintf("net:[%d]\n", st.Ino); out != want {
		t.Errorf("container's netns %q (stderr %q), want %q", out, errOut, want)
	}
}

func TestCreateFailsCleanly(t *testing.T) {
	rt := linux.New(linux.Options{InitPath: "/nonexistent/berthd"})
	_, _, _, err := runtimetest.RunSpec(t, rt, newSpec("true"), "")
	if err == nil || !strings.Contains(err.Error(), "/nonexistent/berthd") {
		t.Errorf("got %v, want an error naming the init binary", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	bundle := t.TempDir()
	spec := newSpec("true")
	spec.Root.Path = runtimetest.Rootfs(t)
	b, _ := json.Marshal(spec)
	os.WriteFile(filepath.Join(bundle, "config.json"), b, 0o644)
	if _, err := linux.New(linux.Options{}).Create(ctx, "canceled", runtime.CreateOpts{Bundle: bundle}); !errors.Is(err, context.Canceled) {
		t.Errorf("create with a canceled context: %v", err)
	}
}

// A new user namespace needs its mappings; joining one by path is not
// supported. (Remapped containers run in the conformance suite.)
func TestUserNamespaceRefusals(t *testing.T) {
	spec := newSpec("true")
	spec.Linux.Namespaces = append(spec.Linux.Namespaces, specs.LinuxNamespace{Type: specs.UserNamespace})
	_, _, _, err := runtimetest.RunSpec(t, linux.New(linux.Options{}), spec, "")
	if !errdefs.Is(err, errdefs.InvalidArgument) {
		t.Errorf("user namespace without mappings: %v, want InvalidArgument", err)
	}
	spec = newSpec("true")
	spec.Linux.Namespaces = append(spec.Linux.Namespaces, specs.LinuxNamespace{Type: specs.UserNamespace, Path: "/proc/self/ns/user"})
	_, _, _, err = runtimetest.RunSpec(t, linux.New(linux.Options{}), spec, "")
	if !errdefs.Is(err, errdefs.NotImplemented) {
		t.Errorf("user namespace by path: %v, want NotImplemented", err)
	}
}

func TestHooksAreRefused(t *testing.T) {
	spec := newSpec("true")
	spec.Hooks = &specs.Hooks{Poststart: []specs.Hook{{Path: "/bin/true"}}}
	_, _, _, err := runtimetest.RunSpec(t, linux.New(linux.Options{}), spec, "")
	if !errdefs.Is(err, errdefs.NotImplemented) {
		t.Errorf("hooks: %v, want NotImplemented", err)
	}
}

// TestJoinPidNamespaceByPath runs a container in the pid namespace of
// another, created one (whose init is that namespace's PID 1).
func TestJoinPidNamespaceByPath(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root")
	}
	rt := linux.New(linux.Options{})
	rootfs := runtimetest.Rootfs(t)
	bundle := t.TempDir()
	first := runtimetest.Spec(rootfs, "", "true")
	b, _ := json.Marshal(first)
	if err := os.WriteFile(filepath.Join(bundle, "config.json"), b, 0o644); err != nil {
		t.Fatal(err)
	}
	task, err := rt.Create(context.Background(), "pidns-holder", runtime.CreateOpts{Bundle: bundle})
	if err != nil {
		t.Fatal(err)
	}
	defer task.Delete(context.Background())

	spec := runtimetest.Spec(rootfs, "berth-test-pidns/x", "sh", "-c", "echo $$; ps -o pid,comm; true")
	for i, n := range spec.Linux.Namespaces {
		if n.Type == specs.PIDNamespace {
			spec.Linux.Namespaces[i].Path = fmt.Sprintf("/proc/%d/ns/pid", task.Pid())
		}
	}
	out, errOut, _, err := runtimetest.RunSpec(t, rt, spec, "")
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) < 3 || lines[0] == "1" || strings.Join(strings.Fields(lines[2]), " ") != "1 exe" {
		t.Errorf("got %q (stderr %q): want to be a non-1 pid next to the holder's init as 1", out, errOut)
	}
}

// TestPrivilegedGetsWhatTheRuntimeHas asks for every capability, as
// --privileged does; berth itself lacks some here (CAP_SYS_RESOURCE), and
// the container gets the rest instead of a capset failure.
func TestPrivilegedGetsWhatTheRuntimeHas(t *testing.T) {
	status, err := os.ReadFile("/proc/self/status")
	if err != nil {
		t.Fatal(err)
	}
	var ours string
	for _, l := range strings.Split(string(status), "\n") {
		if v, ok := strings.CutPrefix(l, "CapBnd:\t"); ok {
			ours = v
		}
	}
	var all []string
	for i := 0; i <= 40; i++ {
		all = append(all, capName(i))
	}
	spec := newSpec("grep", "CapEff", "/proc/self/status")
	spec.Process.Capabilities = &specs.LinuxCapabilities{Bounding: all, Effective: all, Permitted: all}
	out, errOut, code, err := runtimetest.RunSpec(t, linux.New(linux.Options{}), spec, "")
	if err != nil {
		t.Fatal(err)
	}
	if out != "CapEff:\t"+ours+"\n" || code != 0 {
		t.Errorf("got %q exit %d (stderr %q), want CapEff %s", out, code, errOut, ours)
	}
}

func capName(i int) string {
	names := []string{"CHOWN", "DAC_OVERRIDE", "DAC_READ_SEARCH", "FOWNER", "FSETID", "KILL", "SETGID", "SETUID",
		"SETPCAP", "LINUX_IMMUTABLE", "NET_BIND_SERVICE", "NET_BROADCAST", "NET_ADMIN", "NET_RAW", "IPC_LOCK",
		"IPC_OWNER", "SYS_MODULE", "SYS_RAWIO", "SYS_CHROOT", "SYS_PTRACE", "SYS_PACCT", "SYS_ADMIN", "SYS_BOOT",
		"SYS_NICE", "SYS_RESOURCE", "SYS_TIME", "SYS_TTY_CONFIG", "MKNOD", "LEASE", "AUDIT_WRITE", "AUDIT_CONTROL",
		"SETFCAP", "MAC_OVERRIDE", "MAC_ADMIN", "SYSLOG", "WAKE_ALARM", "BLOCK_SUSPEND", "AUDIT_READ", "PERFMON",
		"BPF", "CHECKPOINT_RESTORE"}
	return "CAP_" + names[i]
}

func TestOOMKilled(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root")
	}
	rt := linux.New(linux.Options{})
	bundle := t.TempDir()
	cgParent := "berth-test-oom-" + strconv.Itoa(os.Getpid())
	spec := runtimetest.Spec(runtimetest.Rootfs(t), cgParent+"/c", "sh", "-c", "dd if=/dev/zero of=/dev/null bs=64M count=1; echo survived")
	limit := int64(16 << 20)
	spec.Linux.Resources.Memory = &specs.LinuxMemory{Limit: &limit, Swap: &limit}
	b, _ := json.Marshal(spec)
	os.WriteFile(filepath.Join(bundle, "config.json"), b, 0o644)
	task, err := rt.Create(context.Background(), "oom", runtime.CreateOpts{Bundle: bundle})
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		task.Delete(context.Background())
		runtimetest.RemoveCgroups(t, cgParent)
	}()
	if err := task.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	runtimetest.WaitExit(t, task.Pid())
	oom, err := task.(interface{ OOMKilled() (bool, error) }).OOMKilled()
	if err != nil || !oom {
		t.Errorf("OOMKilled = %v, %v; want true after dd needed 64 MiB under a 16 MiB limit", oom, err)
	}
}

// TestConformanceExecInit runs the suite with cmd/berth-init, the lean
// twin of "berthd init", as the binary of containers' inits and exec'd
// processes (what berthd's monitor runs when berth-init is installed), or
// with $BERTH_INIT_BINARY as the containers' init.
func TestConformanceExecInit(t *testing.T) {
	bin := filepath.Join(t.TempDir(), linux.ExecInitName)
	if out, err := exec.Command("go", "build", "-o", bin, "../../../cmd/berth-init").CombinedOutput(); err != nil {
		t.Fatalf("build berth-init: %v\n%s", err, out)
	}
	init := cmp.Or(os.Getenv("BERTH_INIT_BINARY"), bin)
	runtimetest.Run(t, func(t *testing.T) runtime.Runtime {
		return linux.New(linux.Options{InitPath: init, ExecInitPath: bin})
	})
}
