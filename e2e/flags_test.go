package e2e

import (
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
)

// TestRunFlags checks docker run's security, user and resource flags from
// inside the container, under berth's runtime and under runc (the same
// checks; differential).
func TestRunFlags(t *testing.T) {
	d := StartDaemon(t)
	d.ImportBusybox()
	runtimes := []string{"berth"}
	if _, err := exec.LookPath("runc"); err == nil {
		runtimes = append(runtimes, "runc")
	}
	for _, rt := range runtimes {
		t.Run(rt, func(t *testing.T) {
			run := func(args ...string) Result {
				return d.Docker("", append([]string{"run", "--rm", "--runtime", rt}, args...)...)
			}
			must := func(args ...string) string {
				t.Helper()
				r := run(args...)
				if r.Code != 0 {
					t.Fatalf("run %v: %s", args, r)
				}
				return strings.TrimSpace(r.Stdout)
			}
			if out := must("busybox", "grep", "CapEff", "/proc/self/status"); out != "CapEff:\t00000000a80425fb" {
				t.Errorf("default caps: %q", out)
			}
			if out := must("--cap-drop", "ALL", "busybox", "grep", "CapEff", "/proc/self/status"); out != "CapEff:\t0000000000000000" {
				t.Errorf("cap-drop ALL: %q", out)
			}
			if out := must("--cap-add", "SYS_ADMIN", "busybox", "grep", "CapEff", "/proc/self/status"); out != "CapEff:\t00000000a82425fb" {
				t.Errorf("cap-add SYS_ADMIN: %q", out)
			}
			var bnd string
			for _, l := range strings.Split(readFile(t, "/proc/self/status"), "\n") {
				if strings.HasPrefix(l, "CapBnd:") {
					bnd = strings.TrimSpace(strings.TrimPrefix(l, "CapBnd:"))
				}
			}
			if out := must("--privileged", "busybox", "grep", "CapEff", "/proc/self/status"); out != "CapEff:\t"+bnd {
				t.Errorf("privileged: %q, daemon bounding set %s", out, bnd)
			}
			if r := run("--read-only", "busybox", "touch", "/x"); r.Code == 0 || !strings.Contains(r.Stderr, "Read-only file system") {
				t.Errorf("read-only: %s", r)
			}
			if out := must("--security-opt", "no-new-privileges", "busybox", "grep", "NoNewPrivs", "/proc/self/status"); out != "NoNewPrivs:\t1" {
				t.Errorf("no-new-privileges: %q", out)
			}
			if out := must("-u", "www-data", "busybox", "id"); out != "uid=33(www-data) gid=33(www-data) groups=33(www-data),50(staff)" {
				t.Errorf("-u www-data: %q", out)
			}
			if out := must("-u", "1000:1000", "busybox", "id", "-u"); out != "1000" {
				t.Errorf("-u 1000:1000: %q", out)
			}
			if out := must("-w", "/new/dir", "busybox", "pwd"); out != "/new/dir" {
				t.Errorf("-w: %q", out)
			}
			if out := must("--hostname", "myhost", "busybox", "hostname"); out != "myhost" {
				t.Errorf("--hostname: %q", out)
			}
			if out := must("-e", "FOO=bar", "busybox", "sh", "-c", "echo $FOO $HOME $PATH"); out != "bar /root /usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin" {
				t.Errorf("env: %q", out)
			}
			// /proc/timer_list masked, /proc/sys read-only.
			if out := must("busybox", "sh", "-c", "wc -c < /proc/timer_list; echo 1 > /proc/sys/kernel/domainname 2>/dev/null && echo writable || echo ro"); out != "0\nro" {
				t.Errorf("masked/readonly paths: %q", out)
			}
			// Resource limits land in the container's cgroup.
			cg := must("-m", "64m", "--pids-limit", "50", "--cpus", "0.5", "busybox", "cat", "/proc/self/cgroup")
			if !strings.Contains(cg, "memory:") {
				t.Fatalf("cgroup: %s", cg)
			}
			name := fmt.Sprintf("lim-%s", rt)
			d.MustDocker("run", "-d", "--name", name, "--runtime", rt, "-m", "64m", "--pids-limit", "50", "--cpus", "0.5", "busybox", "sleep", "60")
			pid := d.MustDocker("inspect", "-f", "{{.State.Pid}}", name)
			for ctrl, want := range map[string]string{"memory/memory.limit_in_bytes": "67108864", "pids/pids.max": "50", "cpu/cpu.cfs_quota_us": "50000"} {
				path := cgroupFile(t, pid, ctrl)
				if got := strings.TrimSpace(readFile(t, path)); got != want {
					t.Errorf("%s = %q, want %q", path, got, want)
				}
			}
			d.MustDocker("rm", "-f", name)
			// OOM: exit 137 and OOMKilled.
			oom := "oom-" + rt
			r := d.Docker("", "run", "--name", oom, "--runtime", rt, "-m", "16m", "--memory-swap", "16m", "busybox", "sh", "-c", "x=a; while true; do x=$x$x; done")
			if r.Code != 137 {
				t.Errorf("oom exit: %s", r)
			}
			if s := d.MustDocker("inspect", "-f", "{{.State.OOMKilled}} {{.State.ExitCode}}", oom); s != "true 137" {
				t.Errorf("OOMKilled: %s", s)
			}
			d.MustDocker("rm", oom)
		})
	}
}

func readFile(t *testing.T, p string) string {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// cgroupFile finds a v1 controller file of pid's cgroup ("memory/memory.max").
func cgroupFile(t *testing.T, pid, ctrlFile string) string {
	t.Helper()
	ctrl, file, _ := strings.Cut(ctrlFile, "/")
	for _, l := range strings.Split(readFile(t, "/proc/"+pid+"/cgroup"), "\n") {
		parts := strings.SplitN(l, ":", 3)
		if len(parts) == 3 && parts[1] == ctrl {
			return "/sys/fs/cgroup/" + ctrl + parts[2] + "/" + file
		}
	}
	t.Fatalf("no %s cgroup for %s", ctrl, pid)
	return ""
}
