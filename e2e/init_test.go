package e2e

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// zombieChildren lists the zombie children of pid, over all its threads
// (a Go init forks from whichever thread runs the exec).
func zombieChildren(t *testing.T, pid int) []string {
	t.Helper()
	var zombies []string
	tasks, _ := filepath.Glob("/proc/" + strconv.Itoa(pid) + "/task/*/children")
	for _, f := range tasks {
		b, _ := os.ReadFile(f)
		for _, c := range strings.Fields(string(b)) {
			st, err := os.ReadFile("/proc/" + c + "/stat")
			if err != nil {
				continue
			}
			s := string(st)
			if i := strings.LastIndexByte(s, ')'); i > 0 && strings.HasPrefix(s[i+1:], " Z") {
				zombies = append(zombies, c)
			}
		}
	}
	return zombies
}

// TestInit checks --init: PID 1 is berth's docker-init, an orphan that
// dies is reaped (without --init it stays a zombie of the command), the
// exit status passes through, and docker stop's SIGTERM reaches a command
// that, as PID 1, would ignore it.
func TestInit(t *testing.T) {
	d := StartDaemon(t)
	d.ImportBusybox()
	orphan := `(sleep 0.1 &); exec sleep 300`
	d.MustDocker("run", "-d", "--name", "with", "--init", "busybox", "sh", "-c", orphan)
	d.MustDocker("run", "-d", "--name", "without", "busybox", "sh", "-c", orphan)
	with, without := d.initPid(t, "with"), d.initPid(t, "without")
	cmdline, _ := os.ReadFile("/proc/" + strconv.Itoa(with) + "/cmdline")
	if got := strings.ReplaceAll(string(cmdline), "\x00", " "); !strings.HasPrefix(got, "/sbin/docker-init -- sh -c") {
		t.Fatalf("pid 1 runs %q", got)
	}
	waitFor(t, func() bool { return len(zombieChildren(t, without)) == 1 })
	time.Sleep(200 * time.Millisecond) // the orphan exited well before; give the init a moment more
	if z := zombieChildren(t, with); len(z) != 0 {
		t.Errorf("--init left zombies %v", z)
	}

	start := time.Now()
	d.MustDocker("stop", "with")
	if el := time.Since(start); el > 5*time.Second {
		t.Errorf("stop with --init took %v: SIGTERM not forwarded", el)
	}
	if code := d.MustDocker("inspect", "-f", "{{.State.ExitCode}}", "with"); code != "143" {
		t.Errorf("exit code after stop %s, want 143", code)
	}
	if r := d.Docker("", "run", "--rm", "--init", "busybox", "sh", "-c", "echo hi; exit 7"); r.Code != 7 || r.Stdout != "hi\n" {
		t.Errorf("exit status through init: %s", r)
	}
	if r := d.Docker("", "run", "--rm", "--init", "busybox", "nosuchcmd"); r.Code != 127 {
		t.Errorf("missing command under init: %s", r)
	}
	if r := d.Docker("", "run", "--rm", "--init", "busybox", "ls", "-l", "/sbin/docker-init"); r.Code != 0 || !strings.HasPrefix(r.Stdout, "-r") && !strings.Contains(r.Stdout, "docker-init") {
		t.Errorf("docker-init in the container: %s", r)
	}
}

// TestDaemonInit: berthd --init runs every container under docker-init
// unless it says --init=false, as dockerd --init.
func TestDaemonInit(t *testing.T) {
	d := StartDaemon(t, "--init")
	d.ImportBusybox()
	d.MustDocker("run", "-d", "--name", "dflt", "busybox", "sleep", "300")
	d.MustDocker("run", "-d", "--name", "noinit", "--init=false", "busybox", "sleep", "300")
	for name, want := range map[string]string{"dflt": "/sbin/docker-init -- sleep 300", "noinit": "sleep 300"} {
		b, _ := os.ReadFile("/proc/" + strconv.Itoa(d.initPid(t, name)) + "/cmdline")
		if got := strings.TrimSpace(strings.ReplaceAll(string(b), "\x00", " ")); got != want {
			t.Errorf("%s: pid 1 runs %q, want %q", name, got, want)
		}
	}
}
