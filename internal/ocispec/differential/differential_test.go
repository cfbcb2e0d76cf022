// Package differential runs the specs ocispec builds under berth's own
// runtime and under runc and compares what the container sees, so that a
// `docker run` behaves the same whichever runtime executes it. It needs
// root, runc and busybox, and skips without them.
package differential

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/moby/moby/api/types/container"
	"golang.org/x/sys/unix"

	"github.com/berth-dev/berth/internal/ocispec"
	"github.com/berth-dev/berth/internal/runtime"
	"github.com/berth-dev/berth/internal/runtime/linux"
	"github.com/berth-dev/berth/internal/runtime/ocicli"
	"github.com/berth-dev/berth/internal/runtime/reaper"
)

func TestMain(m *testing.M) {
	// berth's runtime re-executes this binary as the container's init.
	if len(os.Args) > 1 && os.Args[1] == "init" {
		linux.InitMain()
	}
	os.Exit(m.Run())
}

var (
	reaperOnce sync.Once
	exitsMu    sync.Mutex
	exited     = map[int]chan int{}
)

// exitChan returns the channel that receives pid's exit status.
func exitChan(pid int) chan int {
	exitsMu.Lock()
	defer exitsMu.Unlock()
	ch, ok := exited[pid]
	if !ok {
		ch = make(chan int, 1)
		exited[pid] = ch
	}
	return ch
}

// startReaper makes the test a child subreaper that reaps every child;
// runtimes leave the container's init to their caller to reap.
func startReaper() {
	reaperOnce.Do(func() {
		unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)
		sub := reaper.Default.Subscribe()
		go func() {
			for e := range sub {
				exitChan(e.Pid) <- e.Status
			}
		}()
		sig := make(chan os.Signal, 16)
		signal.Notify(sig, unix.SIGCHLD)
		go func() {
			reaper.Default.Reap()
			for range sig {
				reaper.Default.Reap()
			}
		}()
	})
}

func randHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}

const passwd = "root:x:0:0:root:/root:/bin/sh\nalice:x:1000:1000:Alice:/home/alice:/bin/sh\n"
const group = "root:x:0:root\nwheel:x:10:root,alice\naudio:x:29:alice\nalice:x:1000:\n"

// rootfs makes a busybox rootfs shared by the runs of one test.
func rootfs(t *testing.T) string {
	bb, err := exec.LookPath("busybox")
	if err != nil {
		t.Skip("busybox not installed")
	}
	root := t.TempDir()
	if err := os.Chmod(root, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, d := range []string{"bin", "etc", "proc", "sys", "dev", "tmp", "root", "home/alice"} {
		if err := os.MkdirAll(filepath.Join(root, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	data, err := os.ReadFile(bb)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(root, "bin/busybox"), data, 0o755); err != nil {
		t.Fatal(err)
	}
	list, err := exec.Command(bb, "--list").Output()
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range strings.Fields(string(list)) {
		if a != "busybox" {
			if err := os.Symlink("busybox", filepath.Join(root, "bin", a)); err != nil {
				t.Fatal(err)
			}
		}
	}
	for name, content := range map[string]string{"etc/passwd": passwd, "etc/group": group} {
		if err := os.WriteFile(filepath.Join(root, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return root
}

// probe prints, sorted where order is the runtime's business, what a
// container sees of its process, files, mounts, devices and limits.
const probe = `grep -E '^(Cap(Inh|Prm|Eff|Bnd|Amb)|NoNewPrivs):' /proc/self/status
id; hostname; pwd; echo "umask $(umask)"; echo "nofile $(ulimit -n)"
env | grep -v -E '^(PWD|SHLVL|_)=' | sort
cat /etc/hostname /etc/hosts /etc/resolv.conf
echo mounts:; awk '{for (i = 7; i <= NF; i++) if ($i == "-") { print $5, $6, $(i+1); break }}' /proc/self/mountinfo | sort
echo dev:; ls -A /dev | sort
echo shm: $(stat -c '%a' /dev/shm 2>&1)
echo masked: $(wc -c < /proc/interrupts) $(ls /sys/firmware | wc -l)
echo 1 > /proc/sys/kernel/domainname 2>/dev/null && echo proc-sys-rw || echo proc-sys-ro
touch /probe-write 2>/dev/null && echo rootfs-rw || echo rootfs-ro
echo domainname: $(cat /proc/sys/kernel/domainname)
echo sysctl: $(cat /proc/sys/net/ipv4/ping_group_range /proc/sys/net/ipv4/ip_unprivileged_port_start 2>&1)
echo links: $(ip -o link | awk -F': ' '{print $2}')
echo cgroup: $(cat /sys/fs/cgroup/memory/memory.limit_in_bytes /sys/fs/cgroup/pids/pids.max 2>&1)
`

// run builds the spec of in, runs it with rt and returns the output.
func run(t *testing.T, rt runtime.Runtime, in ocispec.Input) string {
	t.Helper()
	startReaper()
	in.ID = "diff-" + randHex(6)
	files := t.TempDir()
	in.Files = ocispec.Files{
		Hostname:   filepath.Join(files, "hostname"),
		Hosts:      filepath.Join(files, "hosts"),
		ResolvConf: filepath.Join(files, "resolv.conf"),
	}
	for p, b := range map[string][]byte{
		in.Files.Hostname:   ocispec.HostnameFile(in.Config.Hostname),
		in.Files.Hosts:      ocispec.HostsFile(in.Config.Hostname, []string{"db:10.1.2.3"}),
		in.Files.ResolvConf: ocispec.ResolvConf([]byte("nameserver 127.0.0.53\nsearch example.org\n"), nil, nil, nil, false),
	} {
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	parent := "berth-ocispec-diff-" + randHex(4)
	in.CgroupParent = parent
	defer func() {
		dirs, _ := filepath.Glob("/sys/fs/cgroup/*/" + parent)
		for _, d := range dirs {
			if err := os.Remove(d); err != nil {
				t.Errorf("remove cgroup %s: %v", d, err)
			}
		}
	}()
	spec, err := ocispec.Build(in)
	if err != nil {
		t.Fatalf("Build: %v", err)
	}
	bundle := t.TempDir()
	b, _ := json.Marshal(spec)
	if err := os.WriteFile(filepath.Join(bundle, "config.json"), b, 0o600); err != nil {
		t.Fatal(err)
	}
	state := filepath.Join(bundle, "state")
	if err := os.Mkdir(state, 0o700); err != nil {
		t.Fatal(err)
	}
	out, err := os.CreateTemp(t.TempDir(), "out")
	if err != nil {
		t.Fatal(err)
	}
	defer out.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	task, err := rt.Create(ctx, in.ID, runtime.CreateOpts{Bundle: bundle, Stdout: out, Stderr: out, StateDir: state})
	if err != nil {
		t.Fatalf("%s create: %v", rt.Name(), err)
	}
	defer func() {
		if err := task.Delete(context.Background()); err != nil {
			t.Errorf("%s delete: %v", rt.Name(), err)
		}
	}()
	ch := exitChan(task.Pid())
	if err := task.Start(ctx); err != nil {
		task.Kill(ctx, unix.SIGKILL, true)
		<-ch
		t.Fatalf("%s start: %v", rt.Name(), err)
	}
	select {
	case status := <-ch:
		if status != 0 {
			got, _ := os.ReadFile(out.Name())
			t.Fatalf("%s: probe exited %d:\n%s", rt.Name(), status, got)
		}
	case <-ctx.Done():
		task.Kill(context.Background(), unix.SIGKILL, true)
		<-ch
		t.Fatalf("%s: probe did not exit", rt.Name())
	}
	got, err := os.ReadFile(out.Name())
	if err != nil {
		t.Fatal(err)
	}
	return string(got)
}

func TestBerthMatchesRunc(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root")
	}
	runcBin, err := exec.LookPath("runc")
	if err != nil {
		t.Skip("runc not installed")
	}
	bnd, err := ocispec.CurrentCapBounding()
	if err != nil {
		t.Fatal(err)
	}
	root := rootfs(t)
	pids := int64(50)
	cases := map[string]func(*ocispec.Input){
		"default": func(*ocispec.Input) {},
		"user read-only tmpfs nnp": func(in *ocispec.Input) {
			in.Config.User = "alice"
			in.Config.WorkingDir = "/tmp"
			in.HostConfig.ReadonlyRootfs = true
			in.HostConfig.Tmpfs = map[string]string{"/run": "size=1m"}
			in.HostConfig.SecurityOpt = []string{"no-new-privileges"}
		},
		"limits caps": func(in *ocispec.Input) {
			in.HostConfig.Memory = 32 << 20
			in.HostConfig.PidsLimit = &pids
			in.HostConfig.ShmSize = 8 << 20
			in.HostConfig.CapDrop = []string{"ALL"}
			in.HostConfig.CapAdd = []string{"chown", "net_admin"}
			in.HostConfig.Ulimits = []*container.Ulimit{{Name: "nofile", Soft: 512, Hard: 1024}}
			in.Config.Env = []string{"FOO=bar"}
			in.Config.Domainname = "example.org"
		},
		"privileged":   func(in *ocispec.Input) { in.HostConfig.Privileged = true },
		"host network": func(in *ocispec.Input) { in.HostConfig.NetworkMode = "host" },
	}
	// What each case must show besides agreeing with runc.
	expect := map[string][]string{
		"default": {"CapEff:\t00000000a80425fb", "uid=0(root) gid=0(root) groups=0(root),10(wheel)\n",
			"/proc/sys ro,", "masked: 0 0\n", "rootfs-rw\n", "links: lo\n", "sysctl: 0 2147483647 0\n", "domainname: (none)\n"},
		"user read-only tmpfs nnp": {"uid=1000(alice) gid=1000(alice) groups=10(wheel),29(audio),1000(alice)\n",
			"NoNewPrivs:\t1", "rootfs-ro\n", "/run rw,nosuid,nodev,noexec,relatime tmpfs\n", "/etc/hosts ro,"},
		"limits caps": {"CapEff:\t0000000000001001", "nofile 512\n", "FOO=bar\n", "domainname: example.org\n",
			fmt.Sprintf("cgroup: %d 50\n", 32<<20)},
		"privileged": {fmt.Sprintf("CapEff:\t%016x", bnd), "proc-sys-rw\n"},
	}
	for name, mod := range cases {
		t.Run(name, func(t *testing.T) {
			mk := func() ocispec.Input {
				in := ocispec.Input{
					Config:          &container.Config{Hostname: "probe", Cmd: []string{"sh", "-c", probe}},
					HostConfig:      &container.HostConfig{},
					Rootfs:          root,
					HostCapBounding: bnd,
				}
				mod(&in)
				return in
			}
			want := run(t, ocicli.New("runc", runcBin, t.TempDir(), nil), mk())
			got := run(t, linux.New(linux.Options{}), mk())
			if d := diff(want, got); d != "" {
				t.Errorf("berth and runc differ (-runc +berth):\n%s", d)
			}
			for _, w := range expect[name] {
				if !strings.Contains(got, w) {
					t.Errorf("output lacks %q:\n%s", w, got)
				}
			}
		})
	}
}

// knownDiff reports output lines where berth's runtime is known to differ
// from runc 1.1 for reasons that are the runtime's, not the spec's: on a
// hybrid cgroup host runc leaves the /sys/fs/cgroup tmpfs writable and does
// not mount the unified hierarchy.
func knownDiff(line string) bool {
	return strings.HasPrefix(line, "/sys/fs/cgroup ") || strings.HasPrefix(line, "/sys/fs/cgroup/unified ")
}

// diff lists the lines only one output has, less the known differences.
func diff(a, b string) string {
	count := map[string]int{}
	for _, l := range strings.Split(a, "\n") {
		count[l]++
	}
	for _, l := range strings.Split(b, "\n") {
		count[l]--
	}
	var out strings.Builder
	for _, l := range strings.Split(a, "\n") {
		if count[l] > 0 && !knownDiff(l) {
			out.WriteString("- " + l + "\n")
			count[l]--
		}
	}
	for _, l := range strings.Split(b, "\n") {
		if count[l] < 0 && !knownDiff(l) {
			out.WriteString("+ " + l + "\n")
			count[l]++
		}
	}
	return out.String()
}
