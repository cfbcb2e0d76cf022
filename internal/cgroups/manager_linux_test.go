package cgroups

import (
	"bufio"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/berth-dev/berth/internal/errdefs"
)

// TestMain doubles as a helper process: with BERTH_CGROUPS_HELPER=alloc it
// waits for a line on stdin (so the test can move it into a cgroup first),
// then touches 64 MiB page by page.
func TestMain(m *testing.M) {
	if os.Getenv("BERTH_CGROUPS_HELPER") == "alloc" {
		bufio.NewReader(os.Stdin).ReadString('\n')
		var keep [][]byte
		for range 64 {
			b := make([]byte, 1<<20)
			for i := 0; i < len(b); i += 4096 {
				b[i] = 1
			}
			keep = append(keep, b)
		}
		fmt.Println(len(keep))
		os.Exit(0)
	}
	os.Exit(m.Run())
}

func needRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root")
	}
	if _, err := host(); err != nil {
		t.Skipf("no cgroups: %v", err)
	}
}

func uniqueName(t *testing.T) string {
	b := make([]byte, 4)
	rand.Read(b)
	return "berth-cgtest-" + hex.EncodeToString(b)
}

// newTestCgroup returns a manager for a fresh cgroup under the test's own
// cgroup and registers its teardown: kill what is left inside, then
// Destroy, then check nothing remains.
func newTestCgroup(t *testing.T, sub string) Manager {
	t.Helper()
	top := uniqueName(t)
	p := top
	if sub != "" {
		p = top + "/" + sub
	}
	m, err := New(p)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		killAll(t, m)
		if err := m.Destroy(); err != nil {
			t.Errorf("Destroy: %v", err)
		}
		if sub != "" { // the intermediate directory the test made
			parent, _ := New(top)
			if err := parent.Destroy(); err != nil {
				t.Errorf("Destroy parent: %v", err)
			}
		}
	})
	return m
}

func killAll(t *testing.T, m Manager) {
	_ = m.Thaw()
	for range 100 {
		pids, err := m.Pids()
		if err != nil || len(pids) == 0 {
			return
		}
		for _, p := range pids {
			_ = syscall.Kill(p, syscall.SIGKILL)
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Errorf("processes left in the cgroup")
}

func startSleep(t *testing.T) *exec.Cmd {
	t.Helper()
	cmd := exec.Command("sleep", "60")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	return cmd
}

func readBack(t *testing.T, m Manager, ctrl, file string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(m.Path(ctrl), file))
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(b))
}

func TestApplySetReadBack(t *testing.T) {
	needRoot(t)
	m := newTestCgroup(t, "ctr")
	cmd := startSleep(t)
	if err := m.Apply(cmd.Process.Pid); err != nil {
		t.Fatal(err)
	}
	r := &specs.LinuxResources{
		Memory: &specs.LinuxMemory{Limit: ptr(int64(32 << 20)), Reservation: ptr(int64(16 << 20))},
		CPU:    &specs.LinuxCPU{Shares: ptr(uint64(512)), Quota: ptr(int64(50000)), Period: ptr(uint64(100000)), Cpus: "0"},
		Pids:   &specs.LinuxPids{Limit: ptr(int64(10))},
	}
	if err := m.Set(r); err != nil {
		t.Fatal(err)
	}
	l, _ := host()
	if l.v1For("memory") != nil {
		for _, c := range []struct{ ctrl, file, want string }{
			{"memory", "memory.limit_in_bytes", "33554432"},
			{"memory", "memory.soft_limit_in_bytes", "16777216"},
			{"cpu", "cpu.shares", "512"},
			{"cpu", "cpu.cfs_quota_us", "50000"},
			{"cpu", "cpu.cfs_period_us", "100000"},
			{"cpuset", "cpuset.cpus", "0"},
			{"pids", "pids.max", "10"},
		} {
			if got := readBack(t, m, c.ctrl, c.file); got != c.want {
				t.Errorf("%s = %q, want %q", c.file, got, c.want)
			}
		}
	} else {
		for _, c := range []struct{ file, want string }{
			{"memory.max", "33554432"}, {"cpu.max", "50000 100000"}, {"pids.max", "10"}, {"cpuset.cpus", "0"},
		} {
			if got := readBack(t, m, "", c.file); got != c.want {
				t.Errorf("%s = %q, want %q", c.file, got, c.want)
			}
		}
	}

	pids, err := m.Pids()
	if err != nil || len(pids) != 1 || pids[0] != cmd.Process.Pid {
		t.Fatalf("Pids = %v, %v; want [%d]", pids, err, cmd.Process.Pid)
	}
	// Every hierarchy's line in /proc/<pid>/cgroup names the container's
	// cgroup (v1 and unified alike).
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/cgroup", cmd.Process.Pid))
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		parts := strings.SplitN(line, ":", 3)
		if parts[1] == "" && l.Unified == nil || parts[1] != "" && l.v1For(strings.Split(parts[1], ",")[0]) == nil {
			continue
		}
		if !strings.HasSuffix(parts[2], "/ctr") {
			t.Errorf("/proc/pid/cgroup line %q is not in the container's cgroup", line)
		}
	}

	st, err := m.Stats()
	if err != nil {
		t.Fatal(err)
	}
	if st.Memory.Limit != 32<<20 || st.Pids.Current != 1 || st.Pids.Limit != 10 {
		t.Errorf("Stats = %+v, want memory limit 32 MiB, 1 pid of 10", st)
	}
	if oom, err := m.OOMKilled(); err != nil || oom {
		t.Errorf("OOMKilled = %v, %v; want false", oom, err)
	}

	// Update: raise the limit.
	if err := m.Set(&specs.LinuxResources{Memory: &specs.LinuxMemory{Limit: ptr(int64(64 << 20))}}); err != nil {
		t.Fatal(err)
	}
	if st, _ := m.Stats(); st.Memory.Limit != 64<<20 {
		t.Errorf("after update memory limit = %d, want 64 MiB", st.Memory.Limit)
	}
}

func TestSwapLimit(t *testing.T) {
	needRoot(t)
	m := newTestCgroup(t, "")
	r := &specs.LinuxResources{Memory: &specs.LinuxMemory{Limit: ptr(int64(32 << 20)), Swap: ptr(int64(64 << 20))}}
	err := m.Set(r)
	if !HostCapabilities().SwapLimit {
		var ue *UnsupportedError
		if !errors.As(err, &ue) {
			t.Fatalf("Set swap without swap accounting: err %v, want UnsupportedError", err)
		}
		return
	}
	if err != nil {
		t.Fatal(err)
	}
	// Lowering both needs memory first, raising both memsw first: the
	// executor's retry handles either order.
	for _, lim := range []int64{16 << 20, 128 << 20} {
		r := &specs.LinuxResources{Memory: &specs.LinuxMemory{Limit: ptr(lim), Swap: ptr(lim)}}
		if err := m.Set(r); err != nil {
			t.Fatalf("Set limit=swap=%d: %v", lim, err)
		}
		if Mode() != ModeV2 {
			if got := readBack(t, m, "memory", "memory.memsw.limit_in_bytes"); got != strconv.FormatInt(lim, 10) {
				t.Errorf("memsw = %s, want %d", got, lim)
			}
		}
	}
}

func TestPidsLimitBoundsForks(t *testing.T) {
	needRoot(t)
	m := newTestCgroup(t, "")
	if err := m.Set(&specs.LinuxResources{Pids: &specs.LinuxPids{Limit: ptr(int64(4))}}); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("sh", "-c", `read x; n=0; for i in 1 2 3 4 5 6 7 8 9 10; do sleep 30 & done; echo forked; wait`)
	stdin, _ := cmd.StdinPipe()
	var out strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	if err := m.Apply(cmd.Process.Pid); err != nil {
		t.Fatal(err)
	}
	io.WriteString(stdin, "go\n")
	time.Sleep(300 * time.Millisecond)
	pids, err := m.Pids()
	if err != nil {
		t.Fatal(err)
	}
	if len(pids) > 4 {
		t.Fatalf("%d processes in a cgroup limited to 4", len(pids))
	}
	// pids.current also counts tasks still exiting, so it may exceed what
	// cgroup.procs listed a moment ago, never the limit.
	if st, _ := m.Stats(); st.Pids.Current < uint64(len(pids)) || st.Pids.Current > 4 || st.Pids.Limit != 4 {
		t.Errorf("Stats pids = %+v with %d processes", st.Pids, len(pids))
	}
	killAll(t, m)
	cmd.Wait()
	if !strings.Contains(strings.ToLower(out.String()), "fork") && !strings.Contains(out.String(), "unavailable") {
		t.Errorf("shell output does not show a failed fork: %q", out.String())
	}
}

func TestOOMKillDetected(t *testing.T) {
	needRoot(t)
	m := newTestCgroup(t, "")
	r := &specs.LinuxResources{Memory: &specs.LinuxMemory{Limit: ptr(int64(16 << 20))}}
	if HostCapabilities().SwapLimit {
		r.Memory.Swap = ptr(int64(16 << 20)) // no escaping to swap
	}
	if err := m.Set(r); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), "BERTH_CGROUPS_HELPER=alloc")
	stdin, _ := cmd.StdinPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	if err := m.Apply(cmd.Process.Pid); err != nil {
		t.Fatal(err)
	}
	if oom, _ := m.OOMKilled(); oom {
		t.Fatal("OOMKilled before any allocation")
	}
	io.WriteString(stdin, "go\n")
	err := cmd.Wait()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
		t.Fatalf("helper allocating 64 MiB under a 16 MiB limit: %v, want killed by SIGKILL", err)
	}
	oom, err := m.OOMKilled()
	if err != nil || !oom {
		t.Fatalf("OOMKilled = %v, %v; want true", oom, err)
	}
	// The helper ran into the limit and burnt CPU doing it.
	st, err := m.Stats()
	if err != nil {
		t.Fatal(err)
	}
	if st.Memory.MaxUsage < 15<<20 || st.Memory.MaxUsage > 16<<20 {
		t.Errorf("peak memory %d, want just under the 16 MiB limit", st.Memory.MaxUsage)
	}
	if st.CPU.Usage == 0 {
		t.Errorf("CPU usage 0 after the helper ran")
	}
}

func TestFreezeThaw(t *testing.T) {
	needRoot(t)
	m := newTestCgroup(t, "")
	stamp := filepath.Join(t.TempDir(), "stamp")
	cmd := exec.Command("sh", "-c", `read x; i=0; while :; do i=$((i+1)); echo $i > "$0"; sleep 0.01; done`, stamp)
	stdin, _ := cmd.StdinPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	if err := m.Apply(cmd.Process.Pid); err != nil {
		t.Fatal(err)
	}
	io.WriteString(stdin, "go\n")
	read := func() string { b, _ := os.ReadFile(stamp); return string(b) }
	waitChange := func(what string) {
		t.Helper()
		before := read()
		deadline := time.Now().Add(3 * time.Second)
		for read() == before {
			if time.Now().After(deadline) {
				t.Fatalf("%s: the loop does not advance", what)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	waitChange("before freeze")
	if err := m.Freeze(); err != nil {
		t.Fatal(err)
	}
	frozen := read()
	time.Sleep(200 * time.Millisecond)
	if got := read(); got != frozen {
		t.Fatalf("frozen loop advanced from %q to %q", frozen, got)
	}
	if err := m.Thaw(); err != nil {
		t.Fatal(err)
	}
	waitChange("after thaw")
}

func TestDestroyLeavesNothing(t *testing.T) {
	needRoot(t)
	name := uniqueName(t)
	m, err := New(name)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("sleep", "60")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait(); m.Destroy() })
	if err := m.Apply(cmd.Process.Pid); err != nil {
		t.Fatal(err)
	}
	// A cgroup nested inside (as a container's own runtime would make).
	nested := filepath.Join(m.Path("memory"), "inner")
	if m.Path("memory") == "" {
		nested = filepath.Join(m.Path(""), "inner")
	}
	if err := os.Mkdir(nested, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := m.Destroy(); err == nil {
		t.Fatal("Destroy with a live process inside succeeded")
	}
	cmd.Process.Kill()
	cmd.Wait()
	if err := m.Destroy(); err != nil {
		t.Fatalf("Destroy: %v", err)
	}
	l, _ := host()
	dirs := []string{}
	for _, h := range l.V1 {
		dirs = append(dirs, dirIn(h, name))
	}
	if l.Unified != nil {
		dirs = append(dirs, dirIn(l.Unified, name))
	}
	for _, d := range dirs {
		if _, err := os.Stat(d); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s still exists after Destroy (%v)", d, err)
		}
	}
	if err := m.Destroy(); err != nil {
		t.Fatalf("second Destroy: %v", err)
	}
}

func TestModeOfThisHost(t *testing.T) {
	needRoot(t)
	var st syscall.Statfs_t
	if err := syscall.Statfs("/sys/fs/cgroup", &st); err != nil {
		t.Skip(err)
	}
	const cgroup2Magic = 0x63677270
	want := map[bool]string{true: "2", false: "1"}[st.Type == cgroup2Magic]
	if Version() != want {
		t.Fatalf("Version = %q (mode %q), want %q", Version(), Mode(), want)
	}
	if Driver() != "cgroupfs" {
		t.Fatalf("Driver = %q", Driver())
	}
}

func TestDeviceRulesV1(t *testing.T) {
	needRoot(t)
	if !HostCapabilities().DeviceControl {
		t.Skip("no v1 devices controller")
	}
	m := newTestCgroup(t, "")
	r := &specs.LinuxResources{Devices: []specs.LinuxDeviceCgroup{
		{Allow: false, Access: "rwm"},
		{Allow: true, Type: "c", Major: ptr(int64(1)), Minor: ptr(int64(3)), Access: "rwm"}, // /dev/null
	}}
	if err := m.Set(r); err != nil {
		t.Fatal(err)
	}
	if got := readBack(t, m, "devices", "devices.list"); got != "c 1:3 rwm" {
		t.Fatalf("devices.list = %q, want only /dev/null", got)
	}
	cmd := exec.Command("sh", "-c", `read x; echo hi > /dev/null && echo null-ok; head -c1 /dev/zero >/dev/null 2>&1 || echo zero-denied`)
	stdin, _ := cmd.StdinPipe()
	var out strings.Builder
	cmd.Stdout = &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	if err := m.Apply(cmd.Process.Pid); err != nil {
		t.Fatal(err)
	}
	io.WriteString(stdin, "go\n")
	cmd.Wait()
	if got := strings.Fields(out.String()); strings.Join(got, " ") != "null-ok zero-denied" {
		t.Fatalf("inside the cgroup: %q, want /dev/null usable and /dev/zero denied", out.String())
	}
}

// TestV2MechanicsOnUnified drives the v2 code paths (cgroup.procs,
// cgroup.freeze, cgroup.events, rmdir) on this host's unified hierarchy
// when it has one, with no controllers enabled so nothing outside the
// test's own cgroup changes.
func TestV2MechanicsOnUnified(t *testing.T) {
	needRoot(t)
	hl, _ := host()
	if hl.Unified == nil {
		t.Skip("no unified hierarchy")
	}
	u := *hl.Unified
	l := &layout{Mode: ModeV2, Unified: &u}
	if hl.Mode == ModeV2 {
		l.UnifiedControllers = hl.UnifiedControllers
	}
	name := uniqueName(t)
	m, err := newManager(l, name+"/ctr")
	if err != nil {
		t.Fatal(err)
	}
	parent, _ := newManager(l, name)
	t.Cleanup(func() {
		killAll(t, m)
		if err := m.Destroy(); err != nil {
			t.Error(err)
		}
		if err := parent.Destroy(); err != nil {
			t.Error(err)
		}
	})
	cmd := startSleep(t)
	if err := m.Apply(cmd.Process.Pid); err != nil {
		t.Fatal(err)
	}
	if pids, err := m.Pids(); err != nil || len(pids) != 1 || pids[0] != cmd.Process.Pid {
		t.Fatalf("Pids = %v, %v", pids, err)
	}
	if err := m.Freeze(); err != nil {
		t.Fatal(err)
	}
	if n, _ := readKey(filepath.Join(m.Path(""), "cgroup.events"), "frozen"); n != 1 {
		t.Fatal("cgroup.events does not say frozen")
	}
	if err := m.Thaw(); err != nil {
		t.Fatal(err)
	}
	if n, _ := readKey(filepath.Join(m.Path(""), "cgroup.events"), "frozen"); n != 0 {
		t.Fatal("cgroup.events still says frozen")
	}
	if oom, err := m.OOMKilled(); oom || err != nil && hl.Mode == ModeV2 {
		t.Fatalf("OOMKilled = %v, %v", oom, err)
	}

	// Evacuation: the processes of a busy cgroup move to its leaf.
	busy := parent.Path("")
	other := startSleep(t)
	if err := writeFile(busy, "cgroup.procs", strconv.Itoa(other.Process.Pid)); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { syscall.Rmdir(filepath.Join(busy, evacLeaf)) })
	if err := evacuate(busy); err != nil {
		t.Fatal(err)
	}
	if procs, _ := readFile(filepath.Join(busy, "cgroup.procs")); procs != "" {
		t.Fatalf("after evacuate, %s still holds %q", busy, procs)
	}
	if procs, _ := readFile(filepath.Join(busy, evacLeaf, "cgroup.procs")); procs != strconv.Itoa(other.Process.Pid) {
		t.Fatalf("leaf holds %q, want %d", procs, other.Process.Pid)
	}
	other.Process.Kill()
	other.Wait()
}

// BenchmarkStartCost is what a container start and removal pay here:
// New, Apply of a live process, Set of a typical limit set, Destroy.
func BenchmarkStartCost(b *testing.B) {
	if os.Geteuid() != 0 {
		b.Skip("needs root")
	}
	cmd := exec.Command("sleep", "60")
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	top := "berth-cgbench-" + strconv.Itoa(os.Getpid())
	r := &specs.LinuxResources{
		Memory: &specs.LinuxMemory{Limit: ptr(int64(64 << 20))},
		CPU:    &specs.LinuxCPU{Shares: ptr(uint64(512))},
		Pids:   &specs.LinuxPids{Limit: ptr(int64(100))},
	}
	home, _ := New(top + "/home")
	if err := home.Apply(-1); err != nil {
		b.Fatal(err)
	}
	defer func() {
		cmd.Process.Kill()
		cmd.Wait()
		if err := home.Destroy(); err != nil {
			b.Error(err)
		}
		p, _ := New(top)
		if err := p.Destroy(); err != nil {
			b.Error(err)
		}
	}()
	var destroy time.Duration
	for i := 0; b.Loop(); i++ {
		m, err := New(top + "/" + strconv.Itoa(i))
		if err != nil {
			b.Fatal(err)
		}
		if err := m.Apply(cmd.Process.Pid); err != nil {
			b.Fatal(err)
		}
		if err := m.Set(r); err != nil {
			b.Fatal(err)
		}
		if err := home.Apply(cmd.Process.Pid); err != nil {
			b.Fatal(err)
		}
		t0 := time.Now()
		if err := m.Destroy(); err != nil {
			b.Fatal(err)
		}
		destroy += time.Since(t0)
	}
	b.ReportMetric(float64(destroy.Nanoseconds())/float64(b.N), "destroy-ns/op")
}

func TestDestroyKilledWhileFrozen(t *testing.T) {
	needRoot(t)
	name := uniqueName(t)
	m, err := New(name)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("sleep", "60")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	t.Cleanup(func() { m.Thaw(); cmd.Process.Kill(); <-exited; m.Destroy() })
	if err := m.Apply(cmd.Process.Pid); err != nil {
		t.Fatal(err)
	}
	if err := m.Freeze(); err != nil {
		t.Fatal(err)
	}
	cmd.Process.Kill()
	// On v1 the killed task stays until thawed; Destroy thaws it.
	deadline := time.Now().Add(5 * time.Second)
	for {
		err := m.Destroy()
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("Destroy of a killed, frozen cgroup: %v", err)
		}
	}
	select {
	case <-exited:
	case <-time.After(5 * time.Second):
		t.Fatal("killed process did not exit")
	}
}

func TestSetUnsupportedOnThisHost(t *testing.T) {
	needRoot(t)
	m := newTestCgroup(t, "")
	err := m.Set(&specs.LinuxResources{BlockIO: &specs.LinuxBlockIO{Weight: ptr(uint16(200))}})
	var ue *UnsupportedError
	if HostCapabilities().BlkioWeight {
		if err != nil {
			t.Fatalf("blkio weight on a host that has it: %v", err)
		}
		return
	}
	if !errors.As(err, &ue) || ue.Setting != "blockIO.weight" {
		t.Fatalf("blkio weight without CFQ/BFQ: err %v, want UnsupportedError", err)
	}
}

func TestMissingCgroupIsNotFound(t *testing.T) {
	needRoot(t)
	m, err := New(uniqueName(t))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := m.Pids(); !errdefs.Is(err, errdefs.NotFound) {
		t.Errorf("Pids of a missing cgroup: %v, want not found", err)
	}
	if _, err := m.Stats(); !errdefs.Is(err, errdefs.NotFound) {
		t.Errorf("Stats of a missing cgroup: %v, want not found", err)
	}
	if err := m.Destroy(); err != nil {
		t.Errorf("Destroy of a missing cgroup: %v", err)
	}
}

// TestDeviceFilterV2 attaches the eBPF device filter to a cgroup of the
// unified hierarchy (present on v2 and hybrid hosts; the kernel consults
// it whatever the v1 devices controller says) and checks what a process
// inside may open.
func TestDeviceFilterV2(t *testing.T) {
	needRoot(t)
	hl, _ := host()
	if hl.Unified == nil {
		t.Skip("no unified hierarchy")
	}
	u := *hl.Unified
	l := &layout{Mode: ModeV2, Unified: &u}
	m, err := newManager(l, uniqueName(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		killAll(t, m)
		if err := m.Destroy(); err != nil {
			t.Error(err)
		}
	})
	if err := m.Apply(-1); err != nil {
		t.Fatal(err)
	}
	rules := []specs.LinuxDeviceCgroup{
		{Allow: false, Access: "rwm"},
		{Allow: true, Type: "c", Major: ptr(int64(1)), Minor: ptr(int64(3)), Access: "rwm"}, // /dev/null
	}
	if err := m.Set(&specs.LinuxResources{Devices: rules}); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("sh", "-c", `read x; echo hi > /dev/null && echo null-ok; head -c1 /dev/zero >/dev/null 2>&1 || echo zero-denied`)
	stdin, _ := cmd.StdinPipe()
	var out strings.Builder
	cmd.Stdout = &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	if err := m.Apply(cmd.Process.Pid); err != nil {
		t.Fatal(err)
	}
	io.WriteString(stdin, "go\n")
	cmd.Wait()
	if got := strings.Join(strings.Fields(out.String()), " "); got != "null-ok zero-denied" {
		t.Fatalf("inside the cgroup: %q, want /dev/null usable and /dev/zero denied", out.String())
	}
}
