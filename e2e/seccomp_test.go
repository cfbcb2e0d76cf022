package e2e

import (
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestSeccomp: Docker's default profile is applied by berth's runtime and
// by runc; unconfined and custom profiles; docker info lists it.
func TestSeccomp(t *testing.T) {
	d := StartDaemon(t)
	d.ImportBusybox()

	if out := d.MustDocker("info", "--format", "{{json .SecurityOptions}}"); !strings.Contains(out, "name=seccomp,profile=builtin") {
		t.Errorf("info SecurityOptions: %s", out)
	}
	for _, rt := range []string{"", "runc"} {
		var rtArgs []string
		if rt != "" {
			if _, err := os.Stat("/usr/sbin/runc"); err != nil {
				continue
			}
			rtArgs = []string{"--runtime", rt}
		}
		run := func(args ...string) Result {
			return d.Docker("", append(append([]string{"run", "--rm"}, rtArgs...), args...)...)
		}
		if r := run("busybox", "grep", "^Seccomp:", "/proc/self/status"); r.Code != 0 || !strings.Contains(r.Stdout, "2") {
			t.Errorf("%s: default: %v", rt, r)
		}
		// unshare(CLONE_NEWUSER) needs no capability: only seccomp stops it.
		if r := run("busybox", "unshare", "-U", "true"); r.Code == 0 || !strings.Contains(r.Stderr, "Operation not permitted") {
			t.Errorf("%s: unshare -U under the default profile: %v", rt, r)
		}
		// keyctl(2) through busybox is not available; the kernel keyring's
		// add_key is what `keyctl` would call: covered by the compiler test.
		if r := run("--security-opt", "seccomp=unconfined", "busybox", "sh", "-c", "grep ^Seccomp: /proc/self/status && unshare -U true && echo ok"); r.Code != 0 || !strings.Contains(r.Stdout, "0") || !strings.Contains(r.Stdout, "ok") {
			t.Errorf("%s: unconfined: %v", rt, r)
		}
		// The profile follows the capabilities, as Docker's.
		if r := run("--cap-add", "SYS_ADMIN", "busybox", "unshare", "-U", "true"); r.Code != 0 {
			t.Errorf("%s: unshare with CAP_SYS_ADMIN: %v", rt, r)
		}
		if r := run("--privileged", "busybox", "grep", "^Seccomp:", "/proc/self/status"); r.Code != 0 || !strings.Contains(r.Stdout, "0") {
			t.Errorf("%s: privileged: %v", rt, r)
		}
		// docker exec gets the container's profile too (as runc exec does).
		name := "sc-exec" + rt
		d.MustDocker(append(append([]string{"run", "-d", "--name", name}, rtArgs...), "busybox", "sleep", "60")...)
		if r := d.Docker("", "exec", name, "unshare", "-U", "true"); r.Code == 0 || !strings.Contains(r.Stderr, "Operation not permitted") {
			t.Errorf("%s: exec unshare -U under the default profile: %v", rt, r)
		}
		if r := d.Docker("", "exec", name, "grep", "^Seccomp:", "/proc/self/status"); r.Code != 0 || !strings.Contains(r.Stdout, "2") {
			t.Errorf("%s: exec seccomp mode: %v", rt, r)
		}
		d.MustDocker("rm", "-f", name)
		d.MustDocker(append(append([]string{"run", "-d", "--name", name, "--security-opt", "seccomp=unconfined"}, rtArgs...), "busybox", "sleep", "60")...)
		if r := d.Docker("", "exec", name, "unshare", "-U", "true"); r.Code != 0 {
			t.Errorf("%s: exec unshare -U unconfined: %v", rt, r)
		}
		d.MustDocker("rm", "-f", name)
	}

	// A custom profile: everything allowed but mkdir/mkdirat (EACCES).
	prof := filepath.Join(d.Root, "profile.json")
	os.WriteFile(prof, []byte(`{"defaultAction": "SCMP_ACT_ALLOW",
		"architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"],
		"syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO", "errnoRet": 13}]}`), 0o644)
	r := d.Docker("", "run", "--rm", "--security-opt", "seccomp="+prof, "busybox", "sh", "-c", "touch /tmp/f && echo touched && mkdir /tmp/d")
	if r.Code == 0 || !strings.Contains(r.Stdout, "touched") || !strings.Contains(r.Stderr, "Permission denied") {
		t.Errorf("custom profile: %v", r)
	}
	// A profile the compiler refuses: a clear error, the container does not run.
	os.WriteFile(prof, []byte(`{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["mkdir"], "action": "SCMP_ACT_BOGUS"}]}`), 0o644)
	r = d.Docker("", "run", "--rm", "--security-opt", "seccomp="+prof, "busybox", "echo", "ran")
	if r.Code == 0 || strings.Contains(r.Stdout, "ran") || !strings.Contains(r.Stderr, "SCMP_ACT_BOGUS") {
		t.Errorf("bad profile: %v", r)
	}
}

// TestSeccompStartLatency measures docker run --rm busybox true with the
// default profile and unconfined (median of 20 each). Set
// BERTH_MEASURE=1 to run it.
func TestSeccompStartLatency(t *testing.T) {
	if os.Getenv("BERTH_MEASURE") == "" {
		t.Skip("set BERTH_MEASURE=1")
	}
	d := StartDaemon(t)
	d.ImportBusybox()
	// Interleaved, so that drift in the machine's load hits both alike.
	var def, unc []time.Duration
	timeRun := func(args ...string) time.Duration {
		start := time.Now()
		d.MustDocker(append([]string{"run", "--rm"}, append(args, "busybox", "true")...)...)
		return time.Since(start)
	}
	d.MustDocker("run", "--rm", "busybox", "true") // warm up
	for range 20 {
		def = append(def, timeRun())
		unc = append(unc, timeRun("--security-opt", "seccomp=unconfined"))
	}
	med := func(ds []time.Duration) time.Duration {
		sort.Slice(ds, func(i, j int) bool { return ds[i] < ds[j] })
		return ds[len(ds)/2]
	}
	t.Logf("docker run --rm busybox true, median of 20 (interleaved): default profile %v, unconfined %v", med(def), med(unc))
	// Per-syscall cost of the filter: 2 million read/write syscalls by dd
	// inside one container, default profile vs unconfined, best of 3.
	ddTime := func(args ...string) time.Duration {
		best := time.Duration(0)
		for range 3 {
			out := d.MustDocker(append(append([]string{"run", "--rm"}, args...), "busybox", "sh", "-c",
				"u() { cut -d' ' -f1 /proc/uptime | tr -d .; }; s=$(u); dd if=/dev/zero of=/dev/null bs=1 count=1000000 2>/dev/null; e=$(u); echo $((e-s))")...)
			cs, _ := strconv.ParseInt(strings.TrimSpace(out), 10, 64) // centiseconds
			if dd := time.Duration(cs) * 10 * time.Millisecond; best == 0 || dd < best {
				best = dd
			}
		}
		return best
	}
	t.Logf("dd 1M x (read+write): default profile %v, unconfined %v", ddTime(), ddTime("--security-opt", "seccomp=unconfined"))
}

// TestSeccompDaemonDefault: berthd --seccomp-profile unconfined (dockerd's
// flag) changes the default; a container can still ask for the builtin
// profile; info says which.
func TestSeccompDaemonDefault(t *testing.T) {
	d := StartDaemon(t, "--seccomp-profile", "unconfined")
	d.ImportBusybox()
	if out := d.MustDocker("info", "--format", "{{json .SecurityOptions}}"); !strings.Contains(out, "name=seccomp,profile=unconfined") {
		t.Errorf("info SecurityOptions: %s", out)
	}
	if out := d.MustDocker("run", "--rm", "busybox", "grep", "^Seccomp:", "/proc/self/status"); !strings.Contains(out, "0") {
		t.Errorf("daemon default unconfined: %s", out)
	}
	if out := d.MustDocker("run", "--rm", "--security-opt", "seccomp=builtin", "busybox", "grep", "^Seccomp:", "/proc/self/status"); !strings.Contains(out, "2") {
		t.Errorf("seccomp=builtin: %s", out)
	}
}
