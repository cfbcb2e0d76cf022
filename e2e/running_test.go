package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// ctrCgroupFile reads file from the v1 hierarchy holding ctrl (or the unified
// one on a v2 host) of the container's init, as /proc/<pid>/cgroup says.
func ctrCgroupFile(t *testing.T, pid int, ctrl, file string) string {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/cgroup", pid))
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		parts := strings.SplitN(line, ":", 3)
		var dir string
		switch {
		case parts[1] == "" && parts[0] == "0":
			dir = filepath.Join("/sys/fs/cgroup", parts[2])
			if _, err := os.Stat("/sys/fs/cgroup/cgroup.controllers"); err != nil {
				continue // hybrid: use the v1 hierarchy
			}
		default:
			found := false
			for _, c := range strings.Split(parts[1], ",") {
				found = found || c == ctrl
			}
			if !found {
				continue
			}
			dir = filepath.Join("/sys/fs/cgroup", parts[1], parts[2])
			if _, err := os.Stat(dir); err != nil {
				dir = filepath.Join("/sys/fs/cgroup", ctrl, parts[2])
			}
		}
		if b, err := os.ReadFile(filepath.Join(dir, file)); err == nil {
			return strings.TrimSpace(string(b))
		}
	}
	t.Fatalf("no %s in the cgroups of %d", file, pid)
	return ""
}

func (d *Daemon) initPid(t *testing.T, name string) int {
	t.Helper()
	pid, err := strconv.Atoi(d.MustDocker("inspect", "-f", "{{.State.Pid}}", name))
	if err != nil || pid <= 0 {
		t.Fatalf("pid of %s: %v %d", name, err, pid)
	}
	return pid
}

// apiGet GETs path from berthd's socket and decodes the JSON answer.
func (d *Daemon) apiGet(t *testing.T, path string, out any) int {
	t.Helper()
	c := &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		return (&net.Dialer{}).DialContext(ctx, "unix", d.Sock)
	}}, Timeout: 10 * time.Second}
	resp, err := c.Get("http://berth" + path)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
	return resp.StatusCode
}

func TestPauseUnpause(t *testing.T) {
	d := StartDaemon(t)
	d.ImportBusybox()
	d.MustDocker("run", "-d", "--name", "pc", "busybox", "sh", "-c", `i=0; while :; do i=$((i+1)); echo $i > /tmp/c; sleep 0.02; done`)
	merged := d.MustDocker("inspect", "-f", "{{.GraphDriver.Data.MergedDir}}", "pc")
	counter := func() string { b, _ := os.ReadFile(filepath.Join(merged, "tmp/c")); return string(b) }
	advances := func() bool {
		a := counter()
		time.Sleep(300 * time.Millisecond)
		return counter() != a
	}
	waitFor(t, func() bool { return counter() != "" })
	if !advances() {
		t.Fatal("the counter does not advance before pause")
	}
	d.MustDocker("pause", "pc")
	if advances() {
		t.Fatal("the counter advances while paused")
	}
	pid := d.initPid(t, "pc")
	if got := d.MustDocker("inspect", "-f", "{{.State.Status}} {{.State.Paused}} {{.State.Running}}", "pc"); got != "paused true true" {
		t.Errorf("inspect: %q", got)
	}
	if ps := d.MustDocker("ps", "--format", "{{.Status}}"); !strings.HasSuffix(ps, "(Paused)") {
		t.Errorf("ps status %q", ps)
	}
	if _, err := os.Stat("/sys/fs/cgroup/cgroup.controllers"); err != nil {
		if s := ctrCgroupFile(t, pid, "freezer", "freezer.state"); s != "FROZEN" {
			t.Errorf("freezer.state %q", s)
		}
	} else if s := ctrCgroupFile(t, pid, "", "cgroup.freeze"); s != "1" {
		t.Errorf("cgroup.freeze %q", s)
	}
	r := d.Docker("", "pause", "pc")
	if r.Code != 1 || !strings.Contains(r.Stderr, "is already paused") {
		t.Errorf("pause twice: %s", r)
	}
	d.MustDocker("unpause", "pc")
	if !advances() {
		t.Fatal("the counter does not advance after unpause")
	}
	r = d.Docker("", "unpause", "pc")
	if r.Code != 1 || !strings.Contains(r.Stderr, "is not paused") {
		t.Errorf("unpause running: %s", r)
	}

	// stop, kill and rm -f of a paused container work; a signal that does
	// not end it leaves it running, unpaused, as dockerd does.
	d.MustDocker("pause", "pc")
	start := time.Now()
	d.MustDocker("stop", "-t", "1", "pc")
	if s := d.MustDocker("inspect", "-f", "{{.State.Status}}", "pc"); s != "exited" || time.Since(start) > 8*time.Second {
		t.Errorf("stop of a paused container: %s after %v", s, time.Since(start))
	}
	r = d.Docker("", "pause", "pc")
	if r.Code != 1 || !strings.Contains(r.Stderr, "is not running") {
		t.Errorf("pause of a stopped container: %s", r)
	}
	d.MustDocker("run", "-d", "--name", "kc", "busybox", "sleep", "300")
	d.MustDocker("pause", "kc")
	d.MustDocker("kill", "-s", "USR1", "kc") // pid 1 ignores it
	if s := d.MustDocker("inspect", "-f", "{{.State.Status}}", "kc"); s != "running" {
		t.Errorf("after kill -s USR1 of a paused container: %s", s)
	}
	d.MustDocker("pause", "kc")
	d.MustDocker("kill", "kc")
	if s := d.MustDocker("inspect", "-f", "{{.State.Status}} {{.State.ExitCode}}", "kc"); s != "exited 137" {
		t.Errorf("after kill of a paused container: %s", s)
	}
	d.MustDocker("run", "-d", "--name", "rc", "busybox", "sleep", "300")
	d.MustDocker("pause", "rc")
	d.MustDocker("rm", "-f", "rc")
	if r := d.Docker("", "inspect", "rc"); r.Code == 0 {
		t.Errorf("rm -f of a paused container left it: %s", r)
	}
}

func TestTop(t *testing.T) {
	d := StartDaemon(t)
	d.ImportBusybox()
	d.MustDocker("run", "-d", "--name", "tc", "busybox", "sh", "-c", "sleep 301 & exec sleep 302")
	waitFor(t, func() bool { return strings.Contains(d.MustDocker("top", "tc"), "sleep 301") })
	out := d.MustDocker("top", "tc")
	lines := strings.Split(out, "\n")
	if f := strings.Fields(lines[0]); strings.Join(f, " ") != "UID PID PPID C STIME TTY TIME CMD" {
		t.Errorf("top header %q", lines[0])
	}
	if len(lines) != 3 || !strings.Contains(out, "sleep 302") {
		t.Errorf("top: want the container's two processes only:\n%s", out)
	}
	aux := d.MustDocker("top", "tc", "aux")
	if f := strings.Fields(strings.Split(aux, "\n")[0]); len(f) < 3 || f[0] != "USER" || f[2] != "%CPU" {
		t.Errorf("top aux:\n%s", aux)
	}
	d.MustDocker("kill", "tc")
	r := d.Docker("", "top", "tc")
	if r.Code != 1 || !strings.Contains(r.Stderr, "is not running") {
		t.Errorf("top of a stopped container: %s", r)
	}
}

func TestStats(t *testing.T) {
	d := StartDaemon(t)
	d.ImportBusybox()
	d.MustDocker("run", "-d", "--name", "sc", "--memory", "64m", "busybox", "sh", "-c", "while :; do :; done")
	var st map[string]any
	if code := d.apiGet(t, "/containers/sc/stats?stream=false", &st); code != 200 {
		t.Fatalf("status %d", code)
	}
	num := func(path ...string) float64 {
		var v any = st
		for _, p := range path {
			m, _ := v.(map[string]any)
			v = m[p]
		}
		f, _ := v.(float64)
		return f
	}
	if st["name"] != "/sc" || len(st["id"].(string)) != 64 {
		t.Errorf("name/id: %v %v", st["name"], st["id"])
	}
	for _, p := range [][]string{
		{"cpu_stats", "cpu_usage", "total_usage"}, {"cpu_stats", "system_cpu_usage"}, {"cpu_stats", "online_cpus"},
		{"precpu_stats", "cpu_usage", "total_usage"}, {"precpu_stats", "system_cpu_usage"},
		{"memory_stats", "usage"}, {"pids_stats", "current"},
	} {
		if num(p...) <= 0 {
			t.Errorf("%s = %v", strings.Join(p, "."), num(p...))
		}
	}
	if num("memory_stats", "limit") != 64<<20 {
		t.Errorf("memory limit %v", num("memory_stats", "limit"))
	}
	// A busy loop uses up to one CPU between the two samples a second apart.
	cpuDelta := num("cpu_stats", "cpu_usage", "total_usage") - num("precpu_stats", "cpu_usage", "total_usage")
	if cpuDelta < 0.05e9 || cpuDelta > 2.5e9 { // loose: CI machines are busy
		t.Errorf("cpu delta over a second: %v ns", cpuDelta)
	}
	if _, ok := st["blkio_stats"].(map[string]any); !ok {
		t.Errorf("no blkio_stats")
	}

	out := d.MustDocker("stats", "--no-stream", "--format", "{{.Name}} {{.CPUPerc}} {{.MemUsage}} {{.PIDs}}", "sc")
	f := strings.Fields(out)
	if len(f) < 6 || f[0] != "sc" || f[1] == "0.00%" || f[4] != "64MiB" || f[5] != "1" {
		t.Errorf("docker stats --no-stream: %q", out)
	}

	d.MustDocker("kill", "sc")
	st = nil
	if code := d.apiGet(t, "/containers/sc/stats?stream=false", &st); code != 200 || st["name"] != "/sc" || num("memory_stats", "usage") != 0 {
		t.Errorf("stats of a stopped container: %d %v", code, st)
	}
}

func TestUpdate(t *testing.T) {
	d := StartDaemon(t)
	d.ImportBusybox()
	d.MustDocker("run", "-d", "--name", "uc", "--memory", "32m", "busybox", "sleep", "300") // swap limit 64m
	d.MustDocker("update", "--memory", "64m", "--cpus", "0.5", "--pids-limit", "50", "--cpu-shares", "512", "--restart", "on-failure:3", "uc")
	got := d.MustDocker("inspect", "-f", "{{.HostConfig.Memory}} {{.HostConfig.NanoCpus}} {{.HostConfig.PidsLimit}} {{.HostConfig.CpuShares}} {{.HostConfig.RestartPolicy.Name}}:{{.HostConfig.RestartPolicy.MaximumRetryCount}}", "uc")
	if got != "67108864 500000000 50 512 on-failure:3" {
		t.Errorf("inspect after update: %q", got)
	}
	pid := d.initPid(t, "uc")
	v2 := false
	if _, err := os.Stat("/sys/fs/cgroup/cgroup.controllers"); err == nil {
		v2 = true
	}
	if v2 {
		if m := ctrCgroupFile(t, pid, "", "memory.max"); m != "67108864" {
			t.Errorf("memory.max %q", m)
		}
		if c := ctrCgroupFile(t, pid, "", "cpu.max"); c != "50000 100000" {
			t.Errorf("cpu.max %q", c)
		}
	} else {
		if m := ctrCgroupFile(t, pid, "memory", "memory.limit_in_bytes"); m != "67108864" {
			t.Errorf("memory.limit_in_bytes %q", m)
		}
		if c := ctrCgroupFile(t, pid, "cpu", "cpu.cfs_quota_us"); c != "50000" {
			t.Errorf("cpu.cfs_quota_us %q", c)
		}
		if s := ctrCgroupFile(t, pid, "cpu", "cpu.shares"); s != "512" {
			t.Errorf("cpu.shares %q", s)
		}
	}
	if p := ctrCgroupFile(t, pid, "pids", "pids.max"); p != "50" {
		t.Errorf("pids.max %q", p)
	}
	for _, c := range []struct {
		args []string
		msg  string
	}{
		{[]string{"--memory", "1m"}, "Minimum memory limit allowed is 6MB"},
		{[]string{"--cpu-period", "50000"}, "Conflicting options: CPU Period cannot be updated as NanoCPUs has already been set"},
		{[]string{"--memory", "200m"}, "Memory limit should be smaller than already set memoryswap limit"},
	} {
		r := d.Docker("", append(append([]string{"update"}, c.args...), "uc")...)
		if r.Code == 0 || !strings.Contains(r.Stderr, c.msg) {
			t.Errorf("update %v: %s", c.args, r)
		}
	}
	// The restart policy set by update governs the next exit.
	d.MustDocker("run", "-d", "--name", "upol", "busybox", "sh", "-c", "sleep 1; exit 3")
	d.MustDocker("update", "--restart", "on-failure:1", "upol")
	waitFor(t, func() bool { return d.MustDocker("inspect", "-f", "{{.RestartCount}}", "upol") == "1" })

	// A stopped container's update is kept and applied at the next start.
	d.MustDocker("kill", "uc")
	d.MustDocker("update", "--memory", "96m", "--memory-swap", "200m", "uc")
	d.MustDocker("start", "uc")
	if v2 {
		if m := ctrCgroupFile(t, d.initPid(t, "uc"), "", "memory.max"); m != strconv.Itoa(96<<20) {
			t.Errorf("memory.max after restart %q", m)
		}
	} else if m := ctrCgroupFile(t, d.initPid(t, "uc"), "memory", "memory.limit_in_bytes"); m != strconv.Itoa(96<<20) {
		t.Errorf("memory.limit_in_bytes after restart %q", m)
	}
}

func TestPortPlaceholder(t *testing.T) {
	d := StartDaemon(t)
	d.ImportBusybox()
	d.MustDocker("run", "-d", "--name", "nc", "busybox", "sleep", "300")
	for _, run := range []func(string, ...string) Result{d.Docker, d.Berth} {
		if r := run("", "port", "nc"); r.Code != 0 || r.Stdout != "" || r.Stderr != "" {
			t.Errorf("port: %s", r)
		}
		if r := run("", "port", "nc", "80"); r.Code != 1 || !strings.Contains(r.Stderr, "No public port '80") {
			t.Errorf("port n 80: %s", r)
		}
	}
}

// TestRunningBerthCLI drives pause, top, stats, update and port through
// berth's own CLI, with docker's output.
func TestRunningBerthCLI(t *testing.T) {
	d := StartDaemon(t)
	d.ImportBusybox()
	d.MustDocker("run", "-d", "--name", "bc", "busybox", "sleep", "300")
	must := func(args ...string) string {
		t.Helper()
		r := d.Berth("", args...)
		if r.Code != 0 {
			t.Fatalf("berth %v: %s", args, r)
		}
		return r.Stdout
	}
	if out := must("pause", "bc"); out != "bc\n" {
		t.Errorf("pause printed %q", out)
	}
	if s := d.MustDocker("inspect", "-f", "{{.State.Status}}", "bc"); s != "paused" {
		t.Errorf("status %q", s)
	}
	if r := d.Berth("", "pause", "bc"); r.Code != 1 || !strings.Contains(r.Stderr, "is already paused") {
		t.Errorf("pause twice: %s", r)
	}
	must("unpause", "bc")
	top := must("top", "bc")
	dtop := d.MustDocker("top", "bc")
	// Same layout as docker's; the C (CPU) column may tick between calls.
	strip := func(s string) string {
		var out []string
		for _, l := range strings.Split(strings.TrimSpace(s), "\n") {
			if f := strings.Fields(l); len(f) > 4 {
				out = append(out, strings.Join(append(f[:3:3], f[4:]...), " "))
			}
		}
		return strings.Join(out, "\n")
	}
	if strip(top) != strip(dtop) || len(strings.Split(top, "\n")[0]) != len(strings.Split(dtop, "\n")[0]) {
		t.Errorf("berth top:\n%s\ndocker top:\n%s", top, dtop)
	}
	if aux := must("top", "bc", "aux"); !strings.HasPrefix(aux, "USER") {
		t.Errorf("top aux:\n%s", aux)
	}
	st := must("stats", "--no-stream", "bc")
	lines := strings.Split(strings.TrimSpace(st), "\n")
	if len(lines) != 2 || strings.Join(strings.Fields(lines[0]), " ") != "CONTAINER ID NAME CPU % MEM USAGE / LIMIT MEM % NET I/O BLOCK I/O PIDS" {
		t.Fatalf("stats table:\n%s", st)
	}
	if f := strings.Fields(lines[1]); len(f) < 12 || f[1] != "bc" || f[3] == "0B" || f[len(f)-1] != "1" {
		t.Errorf("stats row %q", lines[1])
	}
	js := must("stats", "--no-stream", "--format", "json", "bc")
	var row map[string]string
	if err := json.Unmarshal([]byte(js), &row); err != nil || row["Name"] != "bc" || row["PIDs"] != "1" {
		t.Errorf("stats json %q: %v", js, err)
	}
	if out := must("update", "--memory", "48m", "--pids-limit", "20", "bc"); out != "bc\n" {
		t.Errorf("update printed %q", out)
	}
	if got := d.MustDocker("inspect", "-f", "{{.HostConfig.Memory}} {{.HostConfig.PidsLimit}}", "bc"); got != "50331648 20" {
		t.Errorf("after berth update: %q", got)
	}
	if r := d.Berth("", "update", "bc"); r.Code != 1 || !strings.Contains(r.Stderr, "you must provide one or more flags") {
		t.Errorf("update without flags: %s", r)
	}
}

// TestStatsFiftyContainers times one `docker stats --no-stream` over 50
// running containers: each answer waits the one-second priming sample, in
// parallel, and the daemon reads cgroup files only (no process spawned).
func TestStatsFiftyContainers(t *testing.T) {
	d := StartDaemon(t)
	d.ImportBusybox()
	const n = 50
	errs := make(chan error, n)
	sem := make(chan struct{}, 8)
	for i := range n {
		go func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			if r := d.Docker("", "run", "-d", "--name", fmt.Sprintf("fifty%d", i), "busybox", "sleep", "300"); r.Code != 0 {
				errs <- fmt.Errorf("run %d: %s", i, r)
				return
			}
			errs <- nil
		}()
	}
	for range n {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	cpu := func() int {
		b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/stat", d.cmd.Process.Pid))
		s := string(b)
		f := strings.Fields(s[strings.LastIndexByte(s, ')')+2:])
		u, _ := strconv.Atoi(f[11])
		k, _ := strconv.Atoi(f[12])
		return (u + k) * 10 // ms at USER_HZ 100
	}
	c0, start := cpu(), time.Now()
	out := d.MustDocker("stats", "--no-stream", "--format", "{{.Name}} {{.PIDs}} {{.MemUsage}}")
	el, used := time.Since(start), cpu()-c0
	t.Logf("docker stats --no-stream over %d containers: %v wall, berthd CPU %d ms", n, el.Round(time.Millisecond), used)
	lines := strings.Split(out, "\n")
	if len(lines) != n {
		t.Fatalf("%d rows:\n%s", len(lines), out)
	}
	for _, l := range lines {
		if f := strings.Fields(l); len(f) < 2 || f[1] != "1" || strings.HasPrefix(f[2], "0B") {
			t.Errorf("row %q", l)
		}
	}
	if el > 5*time.Second {
		t.Errorf("stats over %d containers took %v", n, el)
	}
}

// TestPauseRunc pauses, updates and tops a runc container: berth freezes
// the same cgroup runc placed it in (found from its init's
// /proc/<pid>/cgroup), not through `runc pause`.
func TestPauseRunc(t *testing.T) {
	d := StartDaemon(t)
	if !strings.Contains(d.MustDocker("info", "--format", "{{json .Runtimes}}"), `"runc"`) {
		t.Skip("no runc runtime")
	}
	d.ImportBusybox()
	d.MustDocker("run", "-d", "--runtime", "runc", "--name", "rcp", "busybox", "sleep", "300")
	d.MustDocker("pause", "rcp")
	pid := d.initPid(t, "rcp")
	st, _ := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if !strings.Contains(string(st), "State:\tD") && !strings.Contains(string(st), "State:\tS") {
		t.Errorf("paused init state:\n%s", st)
	}
	if _, err := os.Stat("/sys/fs/cgroup/cgroup.controllers"); err != nil {
		if s := ctrCgroupFile(t, pid, "freezer", "freezer.state"); s != "FROZEN" {
			t.Errorf("freezer.state %q", s)
		}
	}
	if out := d.MustDocker("top", "rcp"); !strings.Contains(out, "sleep 300") {
		t.Errorf("top:\n%s", out)
	}
	d.MustDocker("update", "--pids-limit", "30", "rcp")
	if p := ctrCgroupFile(t, pid, "pids", "pids.max"); p != "30" {
		t.Errorf("pids.max %q", p)
	}
	d.MustDocker("unpause", "rcp")
	d.MustDocker("pause", "rcp")
	d.MustDocker("rm", "-f", "rcp")
}

// TestPauseAcrossRestart: a paused container stays paused while berthd
// restarts (live restore) and unpauses afterwards; stats and top resume.
func TestPauseAcrossRestart(t *testing.T) {
	d := StartDaemon(t)
	d.ImportBusybox()
	d.MustDocker("run", "-d", "--name", "pr", "busybox", "sleep", "300")
	d.MustDocker("pause", "pr")
	d.Stop()
	d.Start()
	if s := d.MustDocker("inspect", "-f", "{{.State.Status}} {{.State.Paused}}", "pr"); s != "paused true" {
		t.Fatalf("after restart: %s", s)
	}
	d.MustDocker("unpause", "pr")
	if out := d.MustDocker("top", "pr"); !strings.Contains(out, "sleep 300") {
		t.Errorf("top after restart:\n%s", out)
	}
	if out := d.MustDocker("stats", "--no-stream", "--format", "{{.PIDs}}", "pr"); out != "1" {
		t.Errorf("stats after restart: %q", out)
	}
}
