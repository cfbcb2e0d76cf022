package e2e

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// monitorPid is the pid of the daemon's monitor from <exec-root>/monitor.pid,
// checked to be this daemon's monitor, or 0.
func (d *Daemon) monitorPid() int {
	b, err := os.ReadFile(filepath.Join(d.ExecRoot, "monitor.pid"))
	if err != nil {
		return 0
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil || pid <= 1 || !isMonitor(pid, d.ExecRoot) {
		return 0
	}
	return pid
}

// killMonitor SIGKILLs this daemon's monitor (never another process) and
// waits until it is gone.
func (d *Daemon) killMonitor(t *testing.T) int {
	t.Helper()
	pid := d.monitorPid()
	if pid == 0 {
		t.Fatal("no monitor of this daemon found in its exec root")
	}
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	waitFor(t, func() bool {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		return err != nil || strings.Contains(string(b), ") Z ")
	})
	return pid
}

// waitNewMonitor waits until a monitor other than old serves the exec root.
func (d *Daemon) waitNewMonitor(t *testing.T, old int) int {
	t.Helper()
	var pid int
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		if pid = d.monitorPid(); pid != 0 && pid != old {
			if c, err := net.Dial("unix", filepath.Join(d.ExecRoot, "monitor.sock")); err == nil {
				c.Close()
				return pid
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("no new monitor after killing %d; berthd log:\n%s", old, tail(d.Log(), 40))
	return 0
}

// apiExecTTY runs cmd in ctr as `docker exec -it` does, through the Engine
// API (the CLI wants a terminal for -it): stdin is written to the
// process's pty, and its output and exit code are returned.
func (d *Daemon) apiExecTTY(t *testing.T, ctr, stdin string, cmd ...string) (string, int) {
	t.Helper()
	post := func(path string, body any) *http.Response {
		b, _ := json.Marshal(body)
		hc := &http.Client{Transport: &http.Transport{Dial: func(_, _ string) (net.Conn, error) { return net.Dial("unix", d.Sock) }}}
		resp, err := hc.Post("http://berth"+path, "application/json", bytes.NewReader(b))
		if err != nil {
			t.Fatal(err)
		}
		return resp
	}
	resp := post("/containers/"+ctr+"/exec", map[string]any{
		"AttachStdin": true, "AttachStdout": true, "AttachStderr": true, "Tty": true, "Cmd": cmd, "ConsoleSize": []int{24, 80},
	})
	var created struct{ Id, Message string }
	json.NewDecoder(resp.Body).Decode(&created)
	resp.Body.Close()
	if created.Id == "" {
		t.Fatalf("exec create in %s: %d %s", ctr, resp.StatusCode, created.Message)
	}
	conn, err := net.Dial("unix", d.Sock)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	body := `{"Detach":false,"Tty":true}`
	fmt.Fprintf(conn, "POST /exec/%s/start HTTP/1.1\r\nHost: berth\r\nContent-Type: application/json\r\nConnection: Upgrade\r\nUpgrade: tcp\r\nContent-Length: %d\r\n\r\n%s", created.Id, len(body), body)
	br := bufio.NewReader(conn)
	head, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	if head.StatusCode != http.StatusSwitchingProtocols {
		b, _ := io.ReadAll(head.Body)
		t.Fatalf("exec start: %d %s", head.StatusCode, b)
	}
	io.WriteString(conn, stdin)
	conn.SetReadDeadline(time.Now().Add(20 * time.Second))
	out, _ := io.ReadAll(br)
	var code int
	waitFor(t, func() bool {
		resp, err := (&http.Client{Transport: &http.Transport{Dial: func(_, _ string) (net.Conn, error) { return net.Dial("unix", d.Sock) }}}).Get("http://berth/exec/" + created.Id + "/json")
		if err != nil {
			return false
		}
		defer resp.Body.Close()
		var st struct {
			Running  bool
			ExitCode int
		}
		json.NewDecoder(resp.Body).Decode(&st)
		code = st.ExitCode
		return !st.Running
	})
	return string(out), code
}

// checkAdopted drives every operation on a container adopted by a new
// monitor: exec (plain and with a TTY), top, stats, pause/unpause.
func checkAdopted(t *testing.T, d *Daemon, ctr string) {
	t.Helper()
	if r := d.Docker("", "exec", ctr, "echo", "ok"); r.Code != 0 || strings.TrimSpace(r.Stdout) != "ok" {
		t.Errorf("%s: exec echo ok after the monitor restart: %s", ctr, r)
	}
	if r := d.Docker("", "exec", ctr, "sh", "-c", "exit 5"); r.Code != 5 {
		t.Errorf("%s: exec exit 5: %s", ctr, r)
	}
	if r := d.Docker("", "exec", "-t", ctr, "tty"); r.Code != 0 || !strings.HasPrefix(r.Stdout, "/dev/pts/") {
		t.Errorf("%s: exec -t tty: %s", ctr, r)
	}
	out, code := d.apiExecTTY(t, ctr, "echo in-$((40+2)); stty size; exit 3\n", "sh")
	if code != 3 || !strings.Contains(out, "in-42") || !strings.Contains(out, "24 80") {
		t.Errorf("%s: exec -it sh: exit %d, output %q", ctr, code, out)
	}
	if top := d.MustDocker("top", ctr); !strings.Contains(top, "sleep 1000") && !strings.Contains(top, "while") {
		t.Errorf("%s: top: %s", ctr, top)
	}
	if st := d.MustDocker("stats", "--no-stream", "--format", "{{.Name}} {{.PIDs}}", ctr); !strings.HasPrefix(st, ctr+" ") || strings.HasSuffix(st, " 0") {
		t.Errorf("%s: stats: %q", ctr, st)
	}
	d.MustDocker("update", "--cpu-shares", "512", ctr)
	if s := d.MustDocker("inspect", "-f", "{{.HostConfig.CPUShares}}", ctr); s != "512" {
		t.Errorf("%s: cpu shares after update: %s", ctr, s)
	}
	d.MustDocker("pause", ctr)
	if s := d.MustDocker("inspect", "-f", "{{.State.Status}}", ctr); s != "paused" {
		t.Errorf("%s: after pause: %s", ctr, s)
	}
	d.MustDocker("unpause", ctr)
	if r := d.Docker("", "exec", ctr, "true"); r.Code != 0 || d.MustDocker("inspect", "-f", "{{.State.Status}}", ctr) != "running" {
		t.Errorf("%s: after unpause: %s", ctr, r)
	}
}

// TestMonitorRestartExec: containers whose monitor was SIGKILLed are
// adopted by the next one with everything working: exec (plain, -t, -it),
// top, stats, pause, logging, stop with the container's own exit code,
// wait, restart policies and restart; for berth's runtime and runc.
func TestMonitorRestartExec(t *testing.T) {
	d := StartDaemon(t)
	d.ImportBusybox()
	runtimes := []string{""}
	if _, err := exec.LookPath("runc"); err == nil {
		runtimes = append(runtimes, "runc")
	}
	trap := `trap "exit 42" TERM; while :; do sleep 0.1; done`
	waitGo := `while [ ! -e /tmp/go ]; do sleep 0.1; done; rm /tmp/go; exit 7`
	var names []string
	for _, rt := range runtimes {
		var flags []string
		sfx := "berth"
		if rt != "" {
			flags, sfx = []string{"--runtime", rt}, rt
		}
		run := func(name string, args ...string) {
			d.MustDocker(append(append([]string{"run", "-d", "--name", name + "-" + sfx}, flags...), args...)...)
			names = append(names, name+"-"+sfx)
		}
		run("plain", "busybox", "sleep", "1000")
		run("tty", "-t", "busybox", "sleep", "1000")
		run("trap", "busybox", "sh", "-c", trap)
		run("waiter", "busybox", "sh", "-c", waitGo)
		run("policy", "--restart", "on-failure:5", "busybox", "sh", "-c", waitGo)
	}
	pids := map[string]string{}
	for _, n := range names {
		pids[n] = d.MustDocker("inspect", "-f", "{{.State.Pid}}", n)
	}

	old := d.killMonitor(t)
	killed := time.Now()
	// berthd starts the next monitor when it finds the socket dead (its
	// exit watchers poll it); no request is needed.
	d.waitNewMonitor(t, old)
	t.Logf("new monitor serving %v after the old one died", time.Since(killed).Round(time.Millisecond))
	for _, n := range names {
		if s := d.MustDocker("inspect", "-f", "{{.State.Status}} {{.State.Pid}}", n); s != "running "+pids[n] {
			t.Fatalf("%s after the monitor restart: %s (pid was %s)", n, s, pids[n])
		}
	}
	for _, rt := range runtimes {
		sfx := "berth"
		if rt != "" {
			sfx = rt
		}
		t.Run(sfx, func(t *testing.T) {
			for _, n := range []string{"plain", "tty", "trap"} {
				checkAdopted(t, d, n+"-"+sfx)
			}
			// The new monitor reads the init's stdout pipe again: the
			// log goes on.
			d.MustDocker("exec", "plain-"+sfx, "sh", "-c", "echo resumed > /proc/1/fd/1")
			waitFor(t, func() bool { return strings.Contains(d.MustDocker("logs", "plain-"+sfx), "resumed") })
			// docker wait: the exit status of an init whose parent is
			// gone.
			waitc := make(chan Result, 1)
			go func() { waitc <- d.Docker("", "wait", "waiter-"+sfx) }()
			time.Sleep(300 * time.Millisecond)
			d.MustDocker("exec", "waiter-"+sfx, "touch", "/tmp/go")
			select {
			case r := <-waitc:
				if strings.TrimSpace(r.Stdout) != "7" {
					t.Errorf("wait waiter: %s", r)
				}
			case <-time.After(30 * time.Second):
				t.Errorf("docker wait did not return")
			}
			// Restart policy: exit 7 is a failure, so it runs again.
			d.MustDocker("exec", "policy-"+sfx, "touch", "/tmp/go")
			waitFor(t, func() bool {
				s := d.MustDocker("inspect", "-f", "{{.RestartCount}} {{.State.Status}}", "policy-"+sfx)
				return s == "1 running"
			})
			if r := d.Docker("", "exec", "policy-"+sfx, "echo", "again"); strings.TrimSpace(r.Stdout) != "again" {
				t.Errorf("exec after the restart policy's restart: %s", r)
			}
			// stop: SIGTERM, which the trap turns into exit 42; sleep as
			// PID 1 ignores it and gets SIGKILL (137).
			d.MustDocker("stop", "-t", "2", "trap-"+sfx)
			if s := d.MustDocker("inspect", "-f", "{{.State.Status}} {{.State.ExitCode}}", "trap-"+sfx); s != "exited 42" {
				t.Errorf("trap after stop: %s, want exited 42", s)
			}
			d.MustDocker("stop", "-t", "1", "plain-"+sfx)
			if s := d.MustDocker("inspect", "-f", "{{.State.Status}} {{.State.ExitCode}}", "plain-"+sfx); s != "exited 137" {
				t.Errorf("plain after stop: %s, want exited 137", s)
			}
			// restart: a fresh task from the new monitor.
			d.MustDocker("restart", "-t", "1", "tty-"+sfx)
			if s := d.MustDocker("inspect", "-f", "{{.State.Status}}", "tty-"+sfx); s != "running" {
				t.Errorf("tty after restart: %s", s)
			}
			if r := d.Docker("", "exec", "tty-"+sfx, "echo", "ok"); strings.TrimSpace(r.Stdout) != "ok" {
				t.Errorf("exec after restart: %s", r)
			}
		})
	}
}

// TestMonitorAndDaemonKilled: berthd and its monitor SIGKILLed at once;
// the next berthd starts a monitor that adopts the containers, and exec,
// stop (with the container's exit code) and restart work.
func TestMonitorAndDaemonKilled(t *testing.T) {
	d := StartDaemon(t)
	d.ImportBusybox()
	d.MustDocker("run", "-d", "--name", "trap", "busybox", "sh", "-c", `trap "exit 42" TERM; while :; do sleep 0.1; done`)
	d.MustDocker("run", "-d", "-t", "--name", "tty", "busybox", "sleep", "1000")
	pid := d.monitorPid()
	if pid == 0 {
		t.Fatal("no monitor")
	}
	d.cmd.Process.Kill()
	syscall.Kill(pid, syscall.SIGKILL)
	d.cmd.Wait()
	d.cmd = nil
	waitFor(t, func() bool {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		return err != nil || strings.Contains(string(b), ") Z ")
	})
	d.Start()
	d.waitNewMonitor(t, pid)
	for _, n := range []string{"trap", "tty"} {
		checkAdopted(t, d, n)
	}
	d.MustDocker("stop", "-t", "2", "trap")
	if s := d.MustDocker("inspect", "-f", "{{.State.Status}} {{.State.ExitCode}}", "trap"); s != "exited 42" {
		t.Errorf("trap after stop: %s, want exited 42", s)
	}
	d.MustDocker("restart", "-t", "1", "tty")
	if r := d.Docker("", "exec", "tty", "echo", "ok"); strings.TrimSpace(r.Stdout) != "ok" {
		t.Errorf("exec after restart: %s", r)
	}
}

// TestMonitorRestartExecLatency measures `docker exec c true` on a
// container adopted after a monitor restart against one the new monitor
// created, alternating, medians of 20.
func TestMonitorRestartExecLatency(t *testing.T) {
	d := StartDaemon(t)
	d.ImportBusybox()
	d.MustDocker("run", "-d", "--name", "adopted", "busybox", "sleep", "1000")
	old := d.killMonitor(t)
	d.waitNewMonitor(t, old)
	d.MustDocker("run", "-d", "--name", "normal", "busybox", "sleep", "1000")
	times := map[string][]time.Duration{}
	for i := 0; i < 21; i++ {
		for _, n := range []string{"adopted", "normal"} {
			start := time.Now()
			if r := d.Docker("", "exec", n, "true"); r.Code != 0 {
				t.Fatalf("exec %s: %s", n, r)
			}
			if i > 0 { // the first of each warms caches
				times[n] = append(times[n], time.Since(start))
			}
		}
	}
	med := func(ds []time.Duration) time.Duration {
		sort.Slice(ds, func(i, j int) bool { return ds[i] < ds[j] })
		return (ds[len(ds)/2-1] + ds[len(ds)/2]) / 2
	}
	t.Logf("docker exec true, median of 20: adopted %v, normal %v", med(times["adopted"]), med(times["normal"]))
}

// TestMonitorRestartNetNS: a daemon (and so its monitor) in a network
// namespace of its own, containers on the default bridge: adopted after a
// monitor SIGKILL, exec works and stop records the container's own exit
// code (the exit record comes from the initial namespace's taskstats).
func TestMonitorRestartNetNS(t *testing.T) {
	d := StartDaemonNetNS(t)
	d.ImportBusybox()
	d.MustDocker("run", "-d", "--name", "trap", "busybox", "sh", "-c", `trap "exit 42" TERM; while :; do sleep 0.1; done`)
	old := d.killMonitor(t)
	d.waitNewMonitor(t, old)
	if r := d.Docker("", "exec", "trap", "sh", "-c", "ip -o -4 addr show eth0 | grep -c inet"); r.Code != 0 || strings.TrimSpace(r.Stdout) != "1" {
		t.Errorf("exec in the adopted container's network: %s", r)
	}
	d.MustDocker("stop", "-t", "5", "trap")
	if s := d.MustDocker("inspect", "-f", "{{.State.Status}} {{.State.ExitCode}}", "trap"); s != "exited 42" {
		t.Errorf("trap after stop: %s, want exited 42", s)
	}
}
