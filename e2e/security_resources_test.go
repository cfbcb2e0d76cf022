package e2e

import (
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"
)

// hasCap reports whether this process has capability bit c in CapEff.
func hasCap(t *testing.T, c uint) bool {
	for _, l := range strings.Split(readFile(t, "/proc/self/status"), "\n") {
		if v, ok := strings.CutPrefix(l, "CapEff:\t"); ok {
			n, err := strconv.ParseUint(v, 16, 64)
			return err == nil && n&(1<<c) != 0
		}
	}
	return false
}

func cgroupV2() bool {
	_, err := os.Stat("/sys/fs/cgroup/cgroup.controllers")
	return err == nil
}

// TestSecurityResourceFlags: every resource flag of docker run, seen from
// inside the container through its cgroup files (cgroup v1 or v2 names)
// and /proc, then enforced where a process can notice.
func TestSecurityResourceFlags(t *testing.T) {
	d := StartDaemon(t)
	d.ImportBusybox()
	v2 := cgroupV2()
	// inside runs the container and prints "file=content" for each file.
	inside := func(t *testing.T, flags []string, files ...string) map[string]string {
		t.Helper()
		script := `for f in "$@"; do printf '%s=%s\n' "$f" "$(cat "$f" 2>&1 | tr '\n' ' ' | sed 's/ $//')"; done`
		args := append(append([]string{"run", "--rm"}, flags...), "busybox", "sh", "-c", script, "sh")
		r := d.Docker("", append(args, files...)...)
		if r.Code != 0 {
			t.Fatalf("run %v: %s", flags, r)
		}
		got := map[string]string{}
		for _, l := range strings.Split(strings.TrimSpace(r.Stdout), "\n") {
			k, v, _ := strings.Cut(l, "=")
			got[k] = v
		}
		return got
	}
	const cg = "/sys/fs/cgroup/"
	type want struct{ file, value string } // value "~x": contains x
	cases := []struct {
		name   string
		flags  []string
		v1, v2 []want // nil: nothing to observe on that version
	}{
		{"memory", []string{"-m", "64m"},
			[]want{{cg + "memory/memory.limit_in_bytes", "67108864"}}, []want{{cg + "memory.max", "67108864"}}},
		{"memory-swap", []string{"-m", "64m", "--memory-swap", "128m"},
			[]want{{cg + "memory/memory.memsw.limit_in_bytes", "134217728"}}, []want{{cg + "memory.swap.max", "67108864"}}},
		{"memory-reservation", []string{"--memory-reservation", "32m"},
			[]want{{cg + "memory/memory.soft_limit_in_bytes", "33554432"}}, []want{{cg + "memory.low", "33554432"}}},
		// Ignored, as dockerd does since API 1.42: no kmem limit is set.
		{"kernel-memory", []string{"--kernel-memory", "64m"},
			[]want{{cg + "memory/memory.kmem.limit_in_bytes", "9223372036854771712"}}, nil},
		{"oom-kill-disable", []string{"-m", "32m", "--oom-kill-disable"},
			[]want{{cg + "memory/memory.oom_control", "~oom_kill_disable 1"}}, nil},
		{"oom-score-adj", []string{"--oom-score-adj", "500"},
			[]want{{"/proc/self/oom_score_adj", "500"}}, []want{{"/proc/self/oom_score_adj", "500"}}},
		{"cpus", []string{"--cpus", "0.5"},
			[]want{{cg + "cpu/cpu.cfs_quota_us", "50000"}, {cg + "cpu/cpu.cfs_period_us", "100000"}}, []want{{cg + "cpu.max", "50000 100000"}}},
		{"cpu-period/quota", []string{"--cpu-period", "50000", "--cpu-quota", "25000"},
			[]want{{cg + "cpu/cpu.cfs_quota_us", "25000"}, {cg + "cpu/cpu.cfs_period_us", "50000"}}, []want{{cg + "cpu.max", "25000 50000"}}},
		{"cpu-shares", []string{"--cpu-shares", "512"},
			[]want{{cg + "cpu/cpu.shares", "512"}}, []want{{cg + "cpu.weight", "20"}}},
		{"cpuset-mems", []string{"--cpuset-mems", "0"},
			[]want{{cg + "cpuset/cpuset.mems", "0"}}, []want{{cg + "cpuset.mems", "0"}}},
		{"pids-limit", []string{"--pids-limit", "20"},
			[]want{{cg + "pids/pids.max", "20"}}, []want{{cg + "pids.max", "20"}}},
		{"device-cgroup-rule", []string{"--device-cgroup-rule", "c 10:237 rwm"},
			[]want{{cg + "devices/devices.list", "~c 10:237 rwm"}}, nil},
	}
	if hasCap(t, 24) { // CAP_SYS_RESOURCE lowers a score (runc needs it too)
		cases = append(cases, struct {
			name   string
			flags  []string
			v1, v2 []want
		}{"oom-score-adj negative", []string{"--oom-score-adj", "-500"},
			[]want{{"/proc/self/oom_score_adj", "-500"}}, []want{{"/proc/self/oom_score_adj", "-500"}}})
	}
	if runtime.NumCPU() >= 2 {
		cases = append(cases, struct {
			name   string
			flags  []string
			v1, v2 []want
		}{"cpuset-cpus", []string{"--cpuset-cpus", "1"},
			[]want{{cg + "cpuset/cpuset.cpus", "1"}, {"/proc/self/status", "~Cpus_allowed_list:\t1 "}},
			[]want{{cg + "cpuset.cpus", "1"}, {"/proc/self/status", "~Cpus_allowed_list:\t1 "}}})
	}
	if _, err := os.Stat("/sys/fs/cgroup/blkio/blkio.weight"); err == nil && !v2 {
		cases = append(cases, struct {
			name   string
			flags  []string
			v1, v2 []want
		}{"blkio-weight", []string{"--blkio-weight", "300"}, []want{{cg + "blkio/blkio.weight", "300"}}, nil})
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ws := c.v1
			if v2 {
				ws = c.v2
			}
			if ws == nil {
				t.Skip("nothing to observe on this cgroup version")
			}
			var files []string
			for _, w := range ws {
				files = append(files, w.file)
			}
			got := inside(t, c.flags, files...)
			for _, w := range ws {
				v := got[w.file]
				if ok := v == w.value || strings.HasPrefix(w.value, "~") && strings.Contains(v+" ", w.value[1:]); !ok {
					t.Errorf("%v: %s = %q, want %q", c.flags, w.file, v, w.value)
				}
			}
		})
	}

	run := func(flags []string, script string) Result {
		return d.Docker("", append(append([]string{"run", "--rm"}, flags...), "busybox", "sh", "-c", script)...)
	}
	t.Run("pids-limit fork bomb", func(t *testing.T) {
		d.MustDocker("run", "-d", "--name", "bomb", "--pids-limit", "20", "busybox", "sh", "-c", "b() { b | b & }; b; sleep 100")
		pid := d.initPid(t, "bomb")
		ctrl, file := "pids", "pids.current"
		if v2 {
			ctrl = ""
		}
		var peak int
		for end := time.Now().Add(2 * time.Second); time.Now().Before(end); time.Sleep(50 * time.Millisecond) {
			n, _ := strconv.Atoi(ctrCgroupFile(t, pid, ctrl, file))
			peak = max(peak, n)
		}
		events := ctrCgroupFile(t, pid, ctrl, "pids.events")
		if peak > 20 || peak < 10 || !strings.HasPrefix(events, "max ") || events == "max 0" {
			t.Errorf("fork bomb under --pids-limit 20: peak pids.current %d, pids.events %q", peak, events)
		}
		start := time.Now()
		d.MustDocker("rm", "-f", "bomb")
		t.Logf("fork bomb: peak %d pids, %s; removed in %v", peak, events, time.Since(start))
	})
	t.Run("cpus throttled", func(t *testing.T) {
		stat := cg + "cpu/cpu.stat"
		if v2 {
			stat = cg + "cpu.stat"
		}
		r := run([]string{"--cpus", "0.1"}, "timeout 1 sh -c 'while :; do :; done'; cat "+stat)
		throttled := -1
		for _, l := range strings.Split(r.Stdout, "\n") {
			if v, ok := strings.CutPrefix(l, "nr_throttled "); ok {
				throttled, _ = strconv.Atoi(v)
			}
		}
		if throttled <= 0 {
			t.Errorf("a busy loop under --cpus 0.1 was never throttled: %s", r)
		}
	})
	t.Run("oom-kill-disable holds", func(t *testing.T) {
		if v2 {
			t.Skip("cgroup v2 has no oom_kill_disable")
		}
		d.MustDocker("run", "-d", "--name", "nooom", "-m", "16m", "--memory-swap", "16m", "--oom-kill-disable", "busybox", "sh", "-c", "x=a; while :; do x=$x$x; done")
		pid := d.initPid(t, "nooom")
		waitFor(t, func() bool {
			return strings.Contains(ctrCgroupFile(t, pid, "memory", "memory.oom_control"), "under_oom 1")
		})
		if s := d.MustDocker("inspect", "-f", "{{.State.Running}} {{.State.OOMKilled}}", "nooom"); s != "true false" {
			t.Errorf("under OOM with the killer disabled: running, OOMKilled = %s", s)
		}
		d.MustDocker("rm", "-f", "nooom")
	})
	t.Run("ulimits", func(t *testing.T) {
		r := run([]string{"--ulimit", "nofile=100:200"}, "ulimit -n; ulimit -Hn; exec 150</dev/null && echo opened-fd-150")
		if !strings.HasPrefix(r.Stdout, "100\n200\n") || strings.Contains(r.Stdout, "opened-fd-150") {
			t.Errorf("--ulimit nofile=100:200: %s", r)
		}
	})
	t.Run("shm-size", func(t *testing.T) {
		r := run([]string{"--shm-size", "16m"}, "df -k /dev/shm | tail -1; dd if=/dev/zero of=/dev/shm/x bs=1M count=20 2>&1 | head -1")
		f := strings.Fields(r.Stdout)
		if len(f) < 2 || f[1] != "16384" || !strings.Contains(r.Stdout, "No space left on device") {
			t.Errorf("--shm-size 16m: %s", r)
		}
	})
	// /dev/loop-control (10:237) is in no default rule, so the device's
	// own permissions decide.
	if _, err := os.Stat("/dev/loop-control"); err != nil {
		t.Log("no /dev/loop-control: --device and --device-cgroup-rule are not enforced here")
		return
	}
	t.Run("device", func(t *testing.T) {
		r := run([]string{"--device", "/dev/loop-control:/dev/lc:r"}, "stat -c %t:%T /dev/lc; exec 3</dev/lc && echo read; exec 4>/dev/lc && echo wrote")
		if out := strings.Fields(r.Stdout); len(out) != 2 || out[0] != "a:ed" || out[1] != "read" || !strings.Contains(r.Stderr, "Operation not permitted") {
			t.Errorf("--device /dev/loop-control:/dev/lc:r (read yes, write no): %s", r)
		}
	})
	t.Run("device-cgroup-rule enforced", func(t *testing.T) {
		script := "mknod /dev/lc c 10 237 && exec 3</dev/lc && echo opened"
		if r := run([]string{"--device-cgroup-rule", "c 10:237 rwm"}, script); strings.TrimSpace(r.Stdout) != "opened" {
			t.Errorf("with the rule: %s", r)
		}
		if r := run(nil, script); strings.Contains(r.Stdout, "opened") || !strings.Contains(r.Stderr, "Operation not permitted") {
			t.Errorf("without the rule: %s", r)
		}
	})
	t.Run("update", func(t *testing.T) {
		d.MustDocker("run", "-d", "--name", "upd", "busybox", "sleep", "300")
		flags := []string{"--cpu-period", "50000", "--cpu-quota", "20000", "--memory-reservation", "16m", "--pids-limit", "30", "--cpu-shares", "256"}
		files := []want{{cg + "cpu/cpu.cfs_quota_us", "20000"}, {cg + "cpu/cpu.cfs_period_us", "50000"},
			{cg + "memory/memory.soft_limit_in_bytes", "16777216"}, {cg + "pids/pids.max", "30"}, {cg + "cpu/cpu.shares", "256"}}
		if v2 {
			files = []want{{cg + "cpu.max", "20000 50000"}, {cg + "memory.low", "16777216"}, {cg + "pids.max", "30"}, {cg + "cpu.weight", "10"}}
		}
		if runtime.NumCPU() >= 2 {
			flags = append(flags, "--cpuset-cpus", "1")
			files = append(files, want{"/proc/1/status", "~Cpus_allowed_list:\t1"})
		}
		d.MustDocker(append(append([]string{"update"}, flags...), "upd")...)
		for _, w := range files {
			out := d.MustDocker("exec", "upd", "cat", w.file)
			if ok := out == w.value || strings.HasPrefix(w.value, "~") && strings.Contains(out, w.value[1:]); !ok {
				t.Errorf("after update %v: %s = %q, want %q", flags, w.file, out, w.value)
			}
		}
		d.MustDocker("rm", "-f", "upd")
	})
}

// TestSecurityResourceFlagsInvalid: values dockerd refuses are refused at
// create with dockerd's message, and nothing is created or started.
func TestSecurityResourceFlagsInvalid(t *testing.T) {
	d := StartDaemon(t)
	d.ImportBusybox()
	n := runtime.NumCPU()
	avail := "0"
	if n > 1 {
		avail = fmt.Sprintf("0-%d", n-1)
	}
	for _, c := range []struct {
		flags []string
		msg   string
	}{
		{[]string{"--cpus", "99"}, fmt.Sprintf("Range of CPUs is from 0.01 to %d.00, as there are only %d CPUs available", n, n)},
		{[]string{"--cpuset-cpus", "7"}, "Requested CPUs are not available - requested 7, available: " + avail},
		{[]string{"--cpuset-cpus", "1-0"}, "Invalid value 1-0 for cpuset cpus: invalid format: 1-0"},
		{[]string{"--cpuset-mems", "63"}, "Requested memory nodes are not available - requested 63, available: "},
		{[]string{"-m", "4m"}, "Minimum memory limit allowed is 6MB"},
		{[]string{"--memory-reservation", "4m"}, "Minimum memory reservation allowed is 6MB"},
		{[]string{"-m", "64m", "--memory-swap", "32m"}, "Minimum memoryswap limit should be larger than memory limit, see usage"},
		{[]string{"--memory-swap", "32m"}, "You should always set the Memory limit when using Memoryswap limit, see usage"},
		{[]string{"-m", "32m", "--memory-reservation", "64m"}, "Minimum memory limit can not be less than memory reservation limit, see usage"},
		{[]string{"--cpu-period", "500"}, "CPU cfs period can not be less than 1ms (i.e. 1000) or larger than 1s (i.e. 1000000)"},
		{[]string{"--cpu-period", "2000000"}, "CPU cfs period can not be less than 1ms (i.e. 1000) or larger than 1s (i.e. 1000000)"},
		{[]string{"--cpu-quota", "500"}, "CPU cfs quota can not be less than 1ms (i.e. 1000)"},
		{[]string{"--cpus", "0.5", "--cpu-period", "50000"}, "Conflicting options: Nano CPUs and CPU Period cannot both be set"},
		{[]string{"--cpus", "0.5", "--cpu-quota", "50000"}, "Conflicting options: Nano CPUs and CPU Quota cannot both be set"},
		{[]string{"--cpu-shares", "-2"}, "invalid CPU shares (-2): value must be a positive integer"},
		{[]string{"--blkio-weight", "5"}, "Range of blkio weight is from 10 to 1000"},
		{[]string{"--oom-score-adj", "1001"}, "Invalid value 1001, range for oom score adj is [-1000, 1000]"},
		{[]string{"--oom-score-adj", "-1001"}, "Invalid value -1001, range for oom score adj is [-1000, 1000]"},
		{[]string{"--ulimit", "nofile=200:100"}, "ulimit soft limit must be less than or equal to hard limit: 200 > 100"},
	} {
		for _, verb := range []string{"run", "create"} {
			r := d.Docker("", append(append([]string{verb}, c.flags...), "busybox", "true")...)
			if r.Code == 0 || !strings.Contains(r.Stderr, c.msg) {
				t.Errorf("%s %v: want %q, got %s", verb, c.flags, c.msg, r)
			}
		}
		if ids := d.MustDocker("ps", "-aq"); ids != "" {
			t.Errorf("%v: containers left: %s", c.flags, ids)
			d.MustDocker("rm", "-f", ids)
		}
	}
	// Negative values only the API can send.
	for _, c := range []struct {
		hostConfig map[string]any
		msg        string
	}{
		{map[string]any{"NanoCpus": -1}, fmt.Sprintf("Range of CPUs is from 0.01 to %d.00, as there are only %d CPUs available", n, n)},
		{map[string]any{"Memory": -1}, "Minimum memory limit allowed is 6MB"},
		{map[string]any{"CpuShares": -1}, "invalid CPU shares (-1): value must be a positive integer"},
		{map[string]any{"ShmSize": -1}, "SHM size can not be less than 0"},
		{map[string]any{"MemorySwappiness": 101}, "Invalid value: 101, valid memory swappiness range is 0-100"},
	} {
		resp, body := d.call(t, "POST", "/containers/create", map[string]any{"Image": "busybox", "Cmd": []string{"true"}, "HostConfig": c.hostConfig})
		if resp.StatusCode != 400 || !strings.Contains(string(body), c.msg) {
			t.Errorf("create with %v: %d %s, want 400 %q", c.hostConfig, resp.StatusCode, body, c.msg)
		}
	}
	if ids := d.MustDocker("ps", "-aq"); ids != "" {
		t.Errorf("containers left after refused creates: %s", ids)
	}

	// A device that is not there fails the start, as with dockerd (whose
	// create accepts it too): its message, and nothing runs.
	r := d.Docker("", "run", "--name", "nodev", "--device", "/nonexistent/berth-dev", "busybox", "true")
	if want := `error gathering device information while adding custom device "/nonexistent/berth-dev": no such file or directory`; r.Code == 0 || !strings.Contains(r.Stderr, want) {
		t.Errorf("--device /nonexistent/berth-dev: want %q, got %s", want, r)
	}
	if out := d.MustDocker("ps", "-q"); out != "" {
		t.Errorf("running after a missing device: %s", out)
	}
	d.MustDocker("rm", "-f", "nodev")

	// docker update refuses the same values and changes nothing.
	d.MustDocker("run", "-d", "--name", "upd", "--cpu-shares", "512", "busybox", "sleep", "60")
	before := d.MustDocker("inspect", "-f", "{{json .HostConfig.Resources}}", "upd")
	for _, c := range []struct {
		flags []string
		msg   string
	}{
		{[]string{"--cpus", "99"}, fmt.Sprintf("Range of CPUs is from 0.01 to %d.00, as there are only %d CPUs available", n, n)},
		{[]string{"--cpuset-cpus", "7"}, "Requested CPUs are not available - requested 7, available: " + avail},
		{[]string{"--cpuset-mems", "63"}, "Requested memory nodes are not available - requested 63, available: "},
		{[]string{"--blkio-weight", "5"}, "Range of blkio weight is from 10 to 1000"},
		{[]string{"--memory-reservation", "1m"}, "Minimum memory reservation allowed is 6MB"},
		{[]string{"--cpu-quota", "500"}, "CPU cfs quota can not be less than 1ms (i.e. 1000)"},
	} {
		r := d.Docker("", append(append([]string{"update"}, c.flags...), "upd")...)
		if r.Code == 0 || !strings.Contains(r.Stderr, c.msg) {
			t.Errorf("update %v: want %q, got %s", c.flags, c.msg, r)
		}
	}
	if after := d.MustDocker("inspect", "-f", "{{json .HostConfig.Resources}}", "upd"); after != before {
		t.Errorf("refused updates changed the container:\n%s\n%s", before, after)
	}
	d.MustDocker("rm", "-f", "upd")
}
