package e2e

import (
	"encoding/json"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"
)

// TestDockerCLIFoundation runs the foundation issue's docker CLI script
// against berthd, for the real docker CLI and for berth.
func TestDockerCLIFoundation(t *testing.T) {
	d := StartDaemon(t)
	d.ImportBusybox()

	for _, cli := range []string{"docker", "berth"} {
		run := d.Docker
		if cli == "berth" {
			run = d.Berth
		}
		t.Run(cli, func(t *testing.T) {
			t.Run("echo", func(t *testing.T) {
				r := run("", "run", "--rm", "busybox", "echo", "hello")
				if r.Code != 0 || r.Stdout != "hello\n" {
					t.Fatalf("%s", r)
				}
			})
			t.Run("exit code", func(t *testing.T) {
				r := run("", "run", "--rm", "busybox", "sh", "-c", "exit 3")
				if r.Code != 3 {
					t.Fatalf("want 3: %s", r)
				}
			})
			t.Run("stdin", func(t *testing.T) {
				r := run("piped\n", "run", "--rm", "-i", "busybox", "tr", "a-z", "A-Z")
				if r.Code != 0 || r.Stdout != "PIPED\n" {
					t.Fatalf("%s", r)
				}
			})
			t.Run("stderr", func(t *testing.T) {
				r := run("", "run", "--rm", "busybox", "sh", "-c", "echo out; echo err >&2")
				if r.Code != 0 || r.Stdout != "out\n" || r.Stderr != "err\n" {
					t.Fatalf("%s", r)
				}
			})
			t.Run("not found 127", func(t *testing.T) {
				r := run("", "run", "--rm", "busybox", "nosuchcmd")
				if r.Code != 127 || !strings.Contains(r.Stderr, "executable file not found") {
					t.Fatalf("%s", r)
				}
			})
			t.Run("not executable 126", func(t *testing.T) {
				r := run("", "run", "--rm", "busybox", "/etc/passwd")
				if r.Code != 126 {
					t.Fatalf("%s", r)
				}
			})
		})
	}

	t.Run("detached lifecycle", func(t *testing.T) {
		id := d.MustDocker("run", "-d", "--name", "web", "busybox", "sh", "-c", "echo started; exec sleep 300")
		if !regexp.MustCompile(`^[0-9a-f]{64}$`).MatchString(id) {
			t.Fatalf("run -d printed %q", id)
		}
		ps := d.MustDocker("ps")
		if !strings.Contains(ps, "web") || !strings.Contains(ps, "Up ") {
			t.Fatalf("ps:\n%s", ps)
		}
		var insp []map[string]any
		if err := json.Unmarshal([]byte(d.MustDocker("inspect", "web")), &insp); err != nil || len(insp) != 1 {
			t.Fatalf("inspect: %v", err)
		}
		st := insp[0]["State"].(map[string]any)
		if st["Running"] != true || st["Pid"].(float64) <= 0 {
			t.Fatalf("state: %v", st)
		}
		waitFor(t, func() bool { return d.MustDocker("logs", "web") == "started" })
		d.MustDocker("stop", "-t", "1", "web")
		if s := d.MustDocker("inspect", "-f", "{{.State.Status}}", "web"); s != "exited" {
			t.Fatalf("after stop: %s", s)
		}
		d.MustDocker("start", "web")
		if s := d.MustDocker("inspect", "-f", "{{.State.Running}}", "web"); s != "true" {
			t.Fatalf("after start: %s", s)
		}
		d.MustDocker("kill", "-s", "KILL", "web")
		if code := d.MustDocker("wait", "web"); code != "137" {
			t.Fatalf("wait after kill: %s", code)
		}
		d.MustDocker("rm", "web")
		if r := d.Docker("", "inspect", "web"); r.Code == 0 || !strings.Contains(r.Stderr, "No such") {
			t.Fatalf("after rm: %s", r)
		}
	})

	t.Run("create start attach rename prune", func(t *testing.T) {
		d.MustDocker("create", "--name", "c1", "busybox", "echo", "from-c1")
		r := d.Docker("", "start", "-a", "c1")
		if r.Code != 0 || r.Stdout != "from-c1\n" {
			t.Fatalf("start -a: %s", r)
		}
		d.MustDocker("rename", "c1", "c2")
		if out := d.MustDocker("ps", "-a", "--filter", "name=c2", "--format", "{{.Names}} {{.Status}}"); !strings.HasPrefix(out, "c2 Exited (0)") {
			t.Fatalf("ps filter: %q", out)
		}
		if out := d.MustDocker("ps", "-a", "--filter", "status=exited", "-q"); out == "" {
			t.Fatal("status filter found nothing")
		}
		d.MustDocker("run", "-d", "--name", "running1", "busybox", "sleep", "300")
		if r := d.Docker("", "rm", "running1"); r.Code == 0 || !strings.Contains(r.Stderr, "container is running") {
			t.Fatalf("rm running: %s", r)
		}
		d.MustDocker("rm", "-f", "running1")
		out := d.MustDocker("container", "prune", "-f")
		if !strings.Contains(out, "Total reclaimed space") {
			t.Fatalf("prune: %s", out)
		}
		if out := d.MustDocker("ps", "-aq"); out != "" {
			t.Fatalf("left after prune: %s", out)
		}
	})

	t.Run("names", func(t *testing.T) {
		d.MustDocker("create", "--name", "dup", "busybox")
		if r := d.Docker("", "create", "--name", "dup", "busybox"); r.Code == 0 || !strings.Contains(r.Stderr, "is already in use") {
			t.Fatalf("dup: %s", r)
		}
		if r := d.Docker("", "run", "--name", "bad/name", "busybox"); r.Code != 125 || !strings.Contains(r.Stderr, "Invalid container name") {
			t.Fatalf("bad name: %s", r)
		}
		if r := d.Docker("", "run", "--rm", "nosuchimage:1", "true"); r.Code != 125 {
			t.Fatalf("unknown image: %s", r)
		}
		d.MustDocker("rm", "dup")
	})

	t.Run("isolation", func(t *testing.T) {
		out := d.MustDocker("run", "--rm", "busybox", "sh", "-c",
			"echo pid=$$; ps -o pid= | wc -l; hostname; ls /sys/class/net; for n in pid mnt uts ipc net; do readlink /proc/self/ns/$n; done; grep CapEff /proc/self/status")
		lines := strings.Split(out, "\n")
		if lines[0] != "pid=1" {
			t.Fatalf("not PID 1: %s", out)
		}
		host, _ := os.Hostname()
		if lines[2] == host || len(lines[2]) != 12 {
			t.Fatalf("hostname %q (host %q)", lines[2], host)
		}
		if lines[3] != "lo" {
			t.Fatalf("interfaces: %s", out)
		}
		for i, ns := range []string{"pid", "mnt", "uts", "ipc", "net"} {
			self, _ := os.Readlink("/proc/self/ns/" + ns)
			if lines[4+i] == self {
				t.Fatalf("%s namespace shared with host: %s", ns, self)
			}
		}
		if !strings.Contains(out, "CapEff:\t00000000a80425fb") {
			t.Fatalf("caps: %s", out)
		}
		// Writes in one container are invisible to another and to the image.
		d.MustDocker("run", "--name", "writer", "busybox", "sh", "-c", "echo x > /etc/marker")
		if r := d.Docker("", "run", "--rm", "busybox", "cat", "/etc/marker"); r.Code == 0 {
			t.Fatalf("write leaked: %s", r)
		}
		d.MustDocker("rm", "writer")
	})

	t.Run("images", func(t *testing.T) {
		out := d.MustDocker("images", "--format", "{{.Repository}}:{{.Tag}}")
		if !strings.Contains(out, "busybox:latest") {
			t.Fatalf("images: %s", out)
		}
		cmd := d.MustDocker("image", "inspect", "-f", "{{json .Config.Cmd}}", "busybox")
		if cmd != `["sh"]` {
			t.Fatalf("Cmd %s", cmd)
		}
		d.MustDocker("tag", "busybox", "bb2:v1")
		d.MustDocker("rmi", "bb2:v1")
		if r := d.Docker("", "rmi", "nosuch:img"); r.Code == 0 || !strings.Contains(r.Stderr, "No such image") {
			t.Fatalf("rmi unknown: %s", r)
		}
	})
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if cond() {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatal("condition not met within 10s")
}
