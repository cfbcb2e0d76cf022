package e2e

import (
	"bufio"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// pollUntil polls cond every 50 ms until it holds or the timeout passes.
func eventually(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// eventStream runs `docker events` in the background and collects its
// JSON lines.
type eventStream struct {
	cmd  *exec.Cmd
	mu   sync.Mutex
	msgs []map[string]any
	done chan struct{}
}

func (d *Daemon) events(t *testing.T, args ...string) *eventStream {
	t.Helper()
	cmd := exec.Command("docker", append([]string{"-H", d.Host, "events", "--format", "{{json .}}"}, args...)...)
	cmd.Env = append(os.Environ(), "DOCKER_CONFIG="+filepath.Join(d.Root, "dockercfg"))
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	s := &eventStream{cmd: cmd, done: make(chan struct{})}
	go func() {
		defer close(s.done)
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			var m map[string]any
			if json.Unmarshal(sc.Bytes(), &m) == nil {
				s.mu.Lock()
				s.msgs = append(s.msgs, m)
				s.mu.Unlock()
			}
		}
	}()
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	return s
}

func (s *eventStream) actions() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for _, m := range s.msgs {
		out = append(out, m["Action"].(string))
	}
	return out
}

func (s *eventStream) find(action string) map[string]any {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, m := range s.msgs {
		if m["Action"] == action {
			return m
		}
	}
	return nil
}

// replay runs `docker events --since since --until 0s args...` until
// ok accepts its output: the CLI sends until in whole seconds, so the
// events of the current second show once it has passed.
func (d *Daemon) replay(t *testing.T, since string, ok func(string) bool, args ...string) string {
	t.Helper()
	var out string
	eventually(t, 10*time.Second, "events replay "+strings.Join(args, " "), func() bool {
		out = d.MustDocker(append([]string{"events", "--since", since, "--until", "0s"}, args...)...)
		return ok(out)
	})
	return out
}

func outputHas(s string) func(string) bool {
	return func(out string) bool { return strings.Contains(out, s) }
}

func eventAttrs(m map[string]any) map[string]any {
	return m["Actor"].(map[string]any)["Attributes"].(map[string]any)
}

func TestEventsStreamAndReplayAcrossRestart(t *testing.T) {
	d := StartDaemon(t)
	d.ImportBusybox()
	imageID := d.MustDocker("image", "inspect", "-f", "{{.Id}}", "busybox")
	since := strconv.FormatInt(time.Now().Add(-time.Second).Unix(), 10)
	stream := d.events(t, "--filter", "type=container")
	// The stream is connected once the CLI has its response header; give
	// it that by polling a marker container event.
	eventually(t, 10*time.Second, "the events stream to see a marker", func() bool {
		d.Docker("", "create", "--name", "marker", "busybox")
		d.Docker("", "rm", "marker")
		return stream.find("destroy") != nil
	})
	stream.mu.Lock()
	stream.msgs = nil
	stream.mu.Unlock()

	r := d.Docker("", "run", "--name", "ev1", "--label", "app=web", "busybox", "sh", "-c", "exit 3")
	if r.Code != 3 {
		t.Fatalf("run: %s", r)
	}
	id := d.MustDocker("inspect", "-f", "{{.Id}}", "ev1")
	d.MustDocker("rm", "ev1")
	eventually(t, 10*time.Second, "destroy in the stream", func() bool { return stream.find("destroy") != nil })
	if got := strings.Join(stream.actions(), " "); got != "create attach start die destroy" {
		t.Fatalf("streamed actions %q", got)
	}
	die := stream.find("die")
	a := eventAttrs(die)
	if a["exitCode"] != "3" || a["name"] != "ev1" || a["image"] != "busybox" || a["app"] != "web" {
		t.Fatalf("die attributes %v", a)
	}
	if die["id"] != id || die["status"] != "die" || die["from"] != "busybox" || die["scope"] != "local" || die["Type"] != "container" {
		t.Fatalf("die message %v", die)
	}
	if tn, _ := die["timeNano"].(float64); tn == 0 {
		t.Fatalf("no timeNano in %v", die)
	}

	// A second container that stops and is killed, for stop/kill events.
	d.MustDocker("run", "-d", "--name", "ev2", "busybox", "sleep", "300")
	d.MustDocker("stop", "-t", "0", "ev2")
	d.MustDocker("rename", "ev2", "ev3")
	tarball := filepath.Join(d.Root, "bb.tar")
	d.MustDocker("save", "-o", tarball, "busybox")
	d.MustDocker("load", "-i", tarball)
	d.MustDocker("tag", "busybox", "bb:x")
	d.MustDocker("rmi", "bb:x")

	d.Stop()
	d.Start()

	// Replay after the restart: the events come back from disk.
	out := d.replay(t, since, outputHas("destroy"), "--filter", "container=ev1", "--format", "{{.Action}}")
	if got := strings.Join(strings.Fields(out), " "); got != "create attach start die destroy" {
		t.Fatalf("replayed actions %q", got)
	}
	id3 := d.MustDocker("inspect", "-f", "{{.Id}}", "ev3")
	out = d.replay(t, since, outputHas("rename"), "--filter", "container="+id3)
	lines := strings.Split(strings.TrimSpace(out), "\n")
	var acts []string
	for _, l := range lines {
		f := strings.Fields(l)
		if len(f) < 4 || f[1] != "container" {
			t.Fatalf("line %q", l)
		}
		if _, err := time.Parse("2006-01-02T15:04:05.000000000Z07:00", f[0]); err != nil {
			t.Fatalf("timestamp of %q: %v", l, err)
		}
		acts = append(acts, f[2])
	}
	if got := strings.Join(acts, " "); got != "create start kill kill die stop rename" {
		t.Fatalf("ev3 actions %q\n%s", got, out)
	}
	if !strings.Contains(out, "signal=15") || !strings.Contains(out, "oldName=/ev2") || !strings.Contains(out, "exitCode=137") {
		t.Fatalf("attributes missing:\n%s", out)
	}
	// berth events prints the same lines.
	if r := d.Berth("", "events", "--since", since, "--until", "0s", "--filter", "container="+id3); r.Code != 0 || strings.TrimSpace(r.Stdout) != out {
		t.Fatalf("berth events differs from docker's:\n%s\ndocker:\n%s", r, out)
	}
	if r := d.Berth("", "events", "--since", since, "--until", "0s", "--filter", "container="+id3, "--format", "{{.Action}} {{.Actor.Attributes.name}}"); r.Code != 0 || !strings.HasSuffix(r.Stdout, "rename ev3\n") {
		t.Fatalf("berth events --format: %s", r)
	}
	// Filters combine: only die events of ev1, by label.
	out = d.MustDocker("events", "--since", since, "--until", "0s", "--filter", "event=die", "--filter", "label=app=web", "--format", "{{.Actor.Attributes.name}} {{.Actor.Attributes.exitCode}}")
	if strings.TrimSpace(out) != "ev1 3" {
		t.Fatalf("die+label filter: %q", out)
	}
	// Image events, by type.
	out = d.replay(t, since, outputHas("untag"), "--filter", "type=image", "--format", "{{.Type}} {{.Action}} {{.Actor.Attributes.name}}")
	if !strings.HasSuffix(out, "image save "+imageID+"\nimage load "+imageID+"\nimage tag bb:x\nimage untag "+imageID) || strings.Contains(out, "container") {
		t.Fatalf("image events:\n%s", out)
	}
	r = d.Docker("", "events", "--until", "0s", "--filter", "bogus=1")
	if r.Code == 0 || !strings.Contains(r.Stderr, "invalid filter 'bogus'") {
		t.Fatalf("unknown filter: %s", r)
	}
}

func inspectHealth(d *Daemon, name string) (status string, streak int, log []map[string]any) {
	out := d.MustDocker("inspect", "-f", "{{json .State.Health}}", name)
	var h struct {
		Status        string
		FailingStreak int
		Log           []map[string]any
	}
	json.Unmarshal([]byte(out), &h)
	return h.Status, h.FailingStreak, h.Log
}

func TestHealthchecks(t *testing.T) {
	d := StartDaemon(t)
	d.ImportBusybox()
	since := strconv.FormatInt(time.Now().Add(-time.Second).Unix(), 10)

	d.MustDocker("run", "-d", "--name", "good", "--health-cmd", "echo fine", "--health-interval", "100ms", "busybox", "sleep", "300")
	d.MustDocker("run", "-d", "--name", "bad", "--health-cmd", "echo nope; exit 1", "--health-interval", "100ms", "--health-retries", "2", "busybox", "sleep", "300")
	d.MustDocker("run", "-d", "--name", "slow", "--health-cmd", "sleep 30", "--health-interval", "100ms", "--health-timeout", "300ms", "--health-retries", "1", "busybox", "sleep", "300")
	d.MustDocker("run", "-d", "--name", "nohc", "--no-healthcheck", "busybox", "sleep", "300")

	eventually(t, 20*time.Second, "good to become healthy", func() bool { s, _, _ := inspectHealth(d, "good"); return s == "healthy" })
	if _, _, log := inspectHealth(d, "good"); log[len(log)-1]["Output"] != "fine\n" || log[len(log)-1]["ExitCode"].(float64) != 0 {
		t.Fatalf("good log %v", log)
	}
	if st := d.MustDocker("ps", "--filter", "name=good", "--format", "{{.Status}}"); !strings.HasSuffix(st, "(healthy)") {
		t.Fatalf("ps status %q", st)
	}
	eventually(t, 20*time.Second, "bad to become unhealthy", func() bool { s, _, _ := inspectHealth(d, "bad"); return s == "unhealthy" })
	if _, streak, log := inspectHealth(d, "bad"); streak < 2 || len(log) == 0 || log[0]["Output"] != "nope\n" || log[0]["ExitCode"].(float64) != 1 {
		t.Fatalf("bad: streak %d log %v", streak, log)
	}
	eventually(t, 20*time.Second, "slow to time out", func() bool { s, _, _ := inspectHealth(d, "slow"); return s == "unhealthy" })
	if _, _, log := inspectHealth(d, "slow"); log[0]["Output"] != "Health check exceeded timeout (300ms)" || log[0]["ExitCode"].(float64) != -1 {
		t.Fatalf("slow log %v", log)
	}
	// The timed-out checks were killed: after three of them, only the
	// current check's `sleep 30` may run in slow.
	eventually(t, 20*time.Second, "three timed-out checks", func() bool { _, _, log := inspectHealth(d, "slow"); return len(log) >= 3 })
	if top := d.MustDocker("top", "slow"); strings.Count(top+"\n", "sleep 30\n") > 1 {
		t.Fatalf("timed-out checks still run:\n%s", top)
	}
	if out := d.MustDocker("inspect", "-f", "{{.State.Health}}", "nohc"); out != "<nil>" {
		t.Fatalf("--no-healthcheck health %q", out)
	}
	// Log keeps the last five.
	eventually(t, 20*time.Second, "five log entries", func() bool { _, _, log := inspectHealth(d, "bad"); return len(log) == 5 })
	time.Sleep(300 * time.Millisecond) // a few more probes run: the log stays at five
	if _, _, log := inspectHealth(d, "bad"); len(log) != 5 {
		t.Fatalf("log has %d entries", len(log))
	}

	out := d.replay(t, since, outputHas("slow health_status: unhealthy"), "--filter", "event=health_status", "--format", "{{.Actor.Attributes.name}} {{.Action}}")
	for _, want := range []string{"good health_status: healthy", "bad health_status: unhealthy", "slow health_status: unhealthy"} {
		if !strings.Contains(out, want) {
			t.Fatalf("events lack %q:\n%s", want, out)
		}
	}
	// Each check is an exec, published as dockerd does.
	out = d.replay(t, since, outputHas("exec_die"), "--filter", "container=good", "--filter", "event=exec_create", "--filter", "event=exec_die", "--format", "{{.Action}} {{.Actor.Attributes.exitCode}}")
	if !strings.Contains(out, "exec_create: /bin/sh -c echo fine") || !strings.Contains(out, "exec_die 0") {
		t.Fatalf("check exec events:\n%s", out)
	}
	// Stopped: unhealthy, as dockerd.
	d.MustDocker("stop", "-t", "0", "good")
	if s, _, _ := inspectHealth(d, "good"); s != "unhealthy" {
		t.Fatalf("stopped health %q", s)
	}

	// Bad input: Docker's messages.
	r := d.Docker("", "run", "--health-cmd", "true", "--health-interval", "500us", "busybox", "true")
	if r.Code == 0 || !strings.Contains(r.Stderr, "Interval in Healthcheck cannot be less than 1ms") {
		t.Fatalf("short interval: %s", r)
	}
	r = d.Docker("", "run", "--label", "berth.health-on-failure=reboot", "busybox", "true")
	if r.Code == 0 || !strings.Contains(r.Stderr, "berth.health-on-failure") {
		t.Fatalf("bad on-failure label: %s", r)
	}
	if r := d.Docker("", "ps", "--filter", "health=sick"); r.Code == 0 || !strings.Contains(r.Stderr, "Unrecognised filter value for health: sick") {
		t.Fatalf("bad health filter: %s", r)
	}
	if got := d.MustDocker("ps", "--filter", "health=unhealthy", "--format", "{{.Names}}"); got != "slow\nbad" && got != "bad\nslow" {
		t.Fatalf("ps health=unhealthy: %q", got)
	}
	if got := d.MustDocker("ps", "--filter", "health=none", "--format", "{{.Names}}"); got != "nohc" {
		t.Fatalf("ps health=none: %q", got)
	}

	// A HEALTHCHECK kept in an image (commit keeps the container's) runs
	// for its containers; --no-healthcheck turns it off.
	d.MustDocker("create", "--name", "hcsrc", "--health-cmd", "echo from-image", "--health-interval", "100ms", "busybox")
	d.MustDocker("commit", "hcsrc", "hcimg")
	if hc := d.MustDocker("image", "inspect", "-f", "{{json .Config.Healthcheck.Test}}", "hcimg"); hc != `["CMD-SHELL","echo from-image"]` {
		t.Fatalf("image healthcheck %s", hc)
	}
	d.MustDocker("run", "-d", "--name", "fromimg", "hcimg", "sleep", "300")
	eventually(t, 20*time.Second, "fromimg to become healthy", func() bool { s, _, _ := inspectHealth(d, "fromimg"); return s == "healthy" })
	if _, _, log := inspectHealth(d, "fromimg"); log[0]["Output"] != "from-image\n" {
		t.Fatalf("fromimg log %v", log)
	}
	d.MustDocker("run", "-d", "--name", "offimg", "--no-healthcheck", "hcimg", "sleep", "300")
	if out := d.MustDocker("inspect", "-f", "{{.State.Health}}", "offimg"); out != "<nil>" {
		t.Fatalf("--no-healthcheck over the image's: %q", out)
	}
}

func TestHealthOnFailureRestart(t *testing.T) {
	d := StartDaemon(t)
	d.ImportBusybox()
	since := strconv.FormatInt(time.Now().Add(-time.Second).Unix(), 10)
	// The check always fails: each unhealthy turn restarts the container
	// (SIGTERM, which sleep as PID 1 ignores, then SIGKILL after 1s).
	d.MustDocker("run", "-d", "--name", "hr", "--label", "berth.health-on-failure=restart", "--stop-timeout", "1",
		"--health-cmd", "exit 1", "--health-interval", "100ms", "--health-retries", "1", "busybox", "sleep", "300")
	first := d.MustDocker("inspect", "-f", "{{.State.StartedAt}}", "hr")
	eventually(t, 20*time.Second, "a restart by the health action", func() bool {
		return d.MustDocker("inspect", "-f", "{{.State.StartedAt}}", "hr") != first
	})
	out := d.replay(t, since, outputHas("restart"), "--filter", "container=hr", "--filter", "event=health_status",
		"--filter", "event=kill", "--filter", "event=die", "--filter", "event=stop", "--filter", "event=start", "--filter", "event=restart", "--format", "{{.Action}}")
	if !strings.Contains(out, "health_status: unhealthy\nkill\nkill\ndie\nstop\nstart\nrestart") {
		t.Fatalf("events:\n%s", out)
	}
	d.MustDocker("rm", "-f", "hr")

	// berth's --health-on-failure flag sets the label; stop ends it.
	if r := d.Berth("", "run", "-d", "--name", "hs", "--health-on-failure", "stop", "--stop-timeout", "1",
		"--health-cmd", "exit 1", "--health-interval", "100ms", "--health-retries", "1", "busybox", "sleep", "300"); r.Code != 0 {
		t.Fatalf("berth run: %s", r)
	}
	eventually(t, 20*time.Second, "hs to be stopped by its health action", func() bool {
		return d.MustDocker("inspect", "-f", "{{.State.Status}}", "hs") == "exited"
	})
	if l := d.MustDocker("inspect", "-f", `{{index .Config.Labels "berth.health-on-failure"}}`, "hs"); l != "stop" {
		t.Fatalf("label %q", l)
	}
	if r := d.Berth("", "run", "--health-on-failure", "reboot", "busybox", "true"); r.Code == 0 || !strings.Contains(r.Stderr, "invalid --health-on-failure") {
		t.Fatalf("bad --health-on-failure: %s", r)
	}
}

func TestRestartPolicies(t *testing.T) {
	d := StartDaemon(t)
	d.ImportBusybox()

	// on-failure:2: two restarts with backoff (100 ms, 200 ms), then exited.
	d.MustDocker("run", "-d", "--name", "of", "--restart", "on-failure:2", "busybox", "sh", "-c", "exit 5")
	eventually(t, 20*time.Second, "on-failure:2 to give up", func() bool {
		return d.MustDocker("inspect", "-f", "{{.State.Status}} {{.RestartCount}}", "of") == "exited 2"
	})
	if code := d.MustDocker("inspect", "-f", "{{.State.ExitCode}}", "of"); code != "5" {
		t.Fatalf("exit code %s", code)
	}
	since := strconv.FormatInt(time.Now().Add(-time.Minute).Unix(), 10)
	out := d.replay(t, since, func(o string) bool { return len(strings.Fields(o)) >= 3 }, "--filter", "container=of", "--filter", "event=start", "--format", "{{.Action}}")
	if n := len(strings.Fields(out)); n != 3 {
		t.Fatalf("%d starts, want 3:\n%s", n, out)
	}

	// docker stop ends an always loop.
	d.MustDocker("run", "-d", "--name", "loop", "--restart", "always", "busybox", "sh", "-c", "sleep 0.2; exit 1")
	eventually(t, 20*time.Second, "the always loop to restart", func() bool {
		n, _ := strconv.Atoi(d.MustDocker("inspect", "-f", "{{.RestartCount}}", "loop"))
		return n >= 1
	})
	d.MustDocker("stop", "-t", "1", "loop")
	n1 := d.MustDocker("inspect", "-f", "{{.State.Status}} {{.RestartCount}}", "loop")
	time.Sleep(time.Second) // longer than the backoff: no restart may come
	if n2 := d.MustDocker("inspect", "-f", "{{.State.Status}} {{.RestartCount}}", "loop"); n2 != n1 || !strings.HasPrefix(n2, "exited") {
		t.Fatalf("after stop: %q then %q", n1, n2)
	}

	// always comes back after a daemon restart and after a "boot" (the
	// monitor and its containers gone, a fresh exec root); no does not.
	d.MustDocker("run", "-d", "--name", "al", "--restart", "always", "busybox", "sleep", "300")
	d.MustDocker("run", "-d", "--name", "nopol", "busybox", "sleep", "300")
	d.Stop()
	d.Start()
	if s := d.MustDocker("inspect", "-f", "{{.State.Status}}", "al"); s != "running" {
		t.Fatalf("al after daemon restart: %s", s)
	}
	pid := d.MustDocker("inspect", "-f", "{{.State.Pid}}", "al")
	d.Stop()
	bootHost(t, d)
	d.Start()
	eventually(t, 20*time.Second, "al to run again after boot", func() bool {
		return d.MustDocker("inspect", "-f", "{{.State.Status}}", "al") == "running"
	})
	if p := d.MustDocker("inspect", "-f", "{{.State.Pid}}", "al"); p == pid {
		t.Fatalf("al has its old pid %s after boot", p)
	}
	if s := d.MustDocker("inspect", "-f", "{{.State.Status}} {{.State.ExitCode}}", "nopol"); s != "exited 255" {
		t.Fatalf("nopol after boot: %s", s)
	}
}

// bootHost simulates a host reboot for a stopped berthd: the monitor and
// every container process die, mounts go, the exec root starts empty.
func bootHost(t *testing.T, d *Daemon) {
	t.Helper()
	if b, err := os.ReadFile(filepath.Join(d.ExecRoot, "monitor.pid")); err == nil {
		if pid, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil && pid > 1 && isMonitor(pid, d.ExecRoot) {
			syscall.Kill(pid, syscall.SIGKILL)
		}
	}
	// The containers' processes live in cgroups under the daemon's own
	// parent: kill what is left there.
	killCgroupProcs(d.CgroupParent)
	unmountUnder(d.Root)
	os.RemoveAll(d.ExecRoot)
}

// killCgroupProcs SIGKILLs the processes in the cgroups named parent (one
// daemon's own) and waits until they are gone.
func killCgroupProcs(parent string) {
	if parent == "" {
		return
	}
	for try := 0; try < 100; try++ {
		var pids []int
		for depth := 0; depth < 4; depth++ {
			m, _ := filepath.Glob("/sys/fs/cgroup/*/" + strings.Repeat("*/", depth) + parent)
			for _, dir := range m {
				filepath.WalkDir(dir, func(p string, e os.DirEntry, err error) error {
					if err != nil || !e.IsDir() {
						return nil
					}
					b, _ := os.ReadFile(filepath.Join(p, "cgroup.procs"))
					for _, f := range strings.Fields(string(b)) {
						if pid, err := strconv.Atoi(f); err == nil && pid > 1 {
							pids = append(pids, pid)
						}
					}
					return nil
				})
			}
		}
		if len(pids) == 0 {
			return
		}
		for _, pid := range pids {
			syscall.Kill(pid, syscall.SIGKILL)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
