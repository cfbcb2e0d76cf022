package ocispec

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/moby/moby/api/types/container"
)

// busyboxRootfs makes a rootfs of the static busybox with its applets,
// the fixture passwd and group, and the mount points.
func busyboxRootfs(t *testing.T) string {
	t.Helper()
	bb, err := exec.LookPath("busybox")
	if err != nil {
		t.Skip("busybox not installed (apt-get install -y busybox-static)")
	}
	root := fixtureRootfs(t)
	if err := os.Chmod(root, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, d := range []string{"bin", "proc", "sys", "dev", "tmp"} {
		if err := os.MkdirAll(filepath.Join(root, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	data, err := os.ReadFile(bb)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(root, "bin", "busybox"), data, 0o755); err != nil {
		t.Fatal(err)
	}
	list, err := exec.Command(bb, "--list").Output()
	if err != nil {
		t.Fatalf("busybox --list: %v", err)
	}
	for _, applet := range strings.Fields(string(list)) {
		if applet == "busybox" {
			continue
		}
		if err := os.Symlink("busybox", filepath.Join(root, "bin", applet)); err != nil {
			t.Fatal(err)
		}
	}
	return root
}

func randomHex(t *testing.T, n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b)
}

// runcRun builds the spec for in, runs it with `runc run` and returns
// its output. Everything it makes (state, bundle, cgroups) is removed.
func runcRun(t *testing.T, in Input) string {
	t.Helper()
	runc, err := exec.LookPath("runc")
	if err != nil {
		t.Skip("runc not installed (apt-get install -y runc)")
	}
	files := t.TempDir()
	in.Files = Files{
		Hostname:   filepath.Join(files, "hostname"),
		Hosts:      filepath.Join(files, "hosts"),
		ResolvConf: filepath.Join(files, "resolv.conf"),
	}
	writes := map[string][]byte{
		in.Files.Hostname:   HostnameFile(in.Config.Hostname),
		in.Files.Hosts:      HostsFile(in.Config.Hostname, []string{"db:10.1.2.3"}),
		in.Files.ResolvConf: ResolvConf([]byte("nameserver 127.0.0.53\n"), nil, nil, nil, false),
	}
	for p, b := range writes {
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	parent := "berth-ocispec-test-" + randomHex(t, 4)
	in.CgroupParent = parent
	t.Cleanup(func() {
		// runc removed the container's own cgroups; the parent is ours.
		dirs, _ := filepath.Glob("/sys/fs/cgroup/*/" + parent)
		for _, d := range dirs {
			if err := os.Remove(d); err != nil {
				t.Errorf("remove cgroup %s: %v", d, err)
			}
		}
	})
	s, err := Build(in)
	if err != nil {
		t.Fatalf("Build: %v", err)
	}
	bundle := t.TempDir()
	b, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(bundle, "config.json"), b, 0o600); err != nil {
		t.Fatal(err)
	}
	state := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	t.Cleanup(func() {
		_ = exec.Command(runc, "--root", state, "delete", "--force", in.ID).Run()
	})
	cmd := exec.CommandContext(ctx, runc, "--root", state, "run", "--bundle", bundle, in.ID)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("runc run: %v\n%s\nspec:\n%s", err, out, b)
	}
	return string(out)
}

// runcInput is `docker run <flags> busybox sh -c script`.
func runcInput(t *testing.T, script string) Input {
	bnd, err := CurrentCapBounding()
	if err != nil {
		t.Fatal(err)
	}
	id := "ocispec-" + randomHex(t, 8)
	return Input{
		ID:              id,
		Config:          &container.Config{Hostname: "ctr-" + id[8:14], Cmd: []string{"sh", "-c", script}},
		HostConfig:      &container.HostConfig{},
		Rootfs:          busyboxRootfs(t),
		HostCapBounding: bnd,
	}
}

func statusField(t *testing.T, out, field string) string {
	t.Helper()
	for _, line := range strings.Split(out, "\n") {
		if v, ok := strings.CutPrefix(line, field+":"); ok {
			return strings.TrimSpace(v)
		}
	}
	t.Fatalf("no %s in output:\n%s", field, out)
	return ""
}

func TestRuncRunsDefaultSpec(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root")
	}
	in := runcInput(t, `grep -E '^Cap(Eff|Bnd|Prm|Inh|Amb):' /proc/self/status; id; hostname; echo "cwd=$(pwd)";
		echo "HOME=$HOME"; cat /etc/hosts /etc/resolv.conf; echo "interrupts=$(wc -c < /proc/interrupts) firmware=$(ls /sys/firmware | wc -l)";
		echo 1 > /proc/sys/kernel/domainname 2>/dev/null || echo proc-sys-ro; touch /x && echo rootfs-rw;
		cat /sys/fs/cgroup/pids/pids.max /sys/fs/cgroup/memory/memory.limit_in_bytes; cat /proc/sys/net/ipv4/ip_unprivileged_port_start;
		ip -o link | cut -d: -f2`)
	in.HostConfig.Resources.Memory = 64 << 20
	pids := int64(77)
	in.HostConfig.Resources.PidsLimit = &pids
	in.Config.WorkingDir = "/tmp"
	out := runcRun(t, in)
	for field, want := range map[string]string{
		"CapEff": "00000000a80425fb", "CapBnd": "00000000a80425fb", "CapPrm": "00000000a80425fb",
		"CapInh": "0000000000000000", "CapAmb": "0000000000000000",
	} {
		if got := statusField(t, out, field); got != want {
			t.Errorf("%s = %s, want %s", field, got, want)
		}
	}
	for _, want := range []string{
		"uid=0(root) gid=0(root) groups=0(root),10(wheel)\n",
		in.Config.Hostname + "\n",
		"cwd=/tmp\n", "HOME=/root\n",
		"127.0.0.1\tlocalhost\n", "10.1.2.3\tdb\n",
		"nameserver 8.8.8.8\n",
		"interrupts=0 firmware=0\n", // masked
		"proc-sys-ro\n",
		"rootfs-rw\n",
		"\n77\n", fmt.Sprintf("\n%d\n", 64<<20),
		" lo\n",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "eth0") {
		t.Errorf("container sees a host interface:\n%s", out)
	}
}

func TestRuncRunsUserAndReadonly(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root")
	}
	in := runcInput(t, `id; echo "HOME=$HOME"; grep CapEff /proc/self/status; touch /x 2>/dev/null || echo rootfs-ro;
		touch /etc/hosts 2>/dev/null || echo hosts-ro; touch /run/ok && echo tmpfs-rw; cat /proc/self/status | grep NoNewPrivs`)
	in.Config.User = "alice"
	in.HostConfig.ReadonlyRootfs = true
	in.HostConfig.Tmpfs = map[string]string{"/run": "size=1m,mode=1777"}
	in.HostConfig.SecurityOpt = []string{"no-new-privileges"}
	out := runcRun(t, in)
	for _, want := range []string{
		"uid=1000(alice) gid=1000(alice) groups=10(wheel),29(audio),1000(alice)\n",
		"HOME=/home/alice\n",
		"CapEff:\t0000000000000000\n",
		"rootfs-ro\n", "hosts-ro\n", "tmpfs-rw\n",
		"NoNewPrivs:\t1\n",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
}

func TestRuncRunsPrivileged(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root")
	}
	in := runcInput(t, `grep CapEff /proc/self/status; echo "interrupts=$(wc -c < /proc/interrupts)"; test -b /dev/vda && echo has-vda; true`)
	in.HostConfig.Privileged = true
	out := runcRun(t, in)
	if got, want := statusField(t, out, "CapEff"), fmt.Sprintf("%016x", in.HostCapBounding); got != want {
		t.Errorf("CapEff %s, want the daemon's bounding set %s", got, want)
	}
	if strings.Contains(out, "interrupts=0\n") {
		t.Errorf("/proc/interrupts masked in a privileged container:\n%s", out)
	}
	if _, err := os.Stat("/dev/vda"); err == nil && !strings.Contains(out, "has-vda\n") {
		t.Errorf("host device /dev/vda missing in a privileged container:\n%s", out)
	}
}
