package e2e

import (
	"bytes"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// TestLogsAndAttach covers docker logs' options and docker attach.
func TestLogsAndAttach(t *testing.T) {
	d := StartDaemon(t)
	d.ImportBusybox()
	d.Docker("", "run", "--name", "logs1", "busybox", "sh", "-c", "for i in 1 2 3 4 5; do echo out$i; echo err$i >&2; done")
	r := d.Docker("", "logs", "logs1")
	if r.Stdout != "out1\nout2\nout3\nout4\nout5\n" || r.Stderr != "err1\nerr2\nerr3\nerr4\nerr5\n" {
		t.Fatalf("logs: %s", r)
	}
	// --tail counts entries across both streams, as Docker does; stdout and
	// stderr interleave as the pipes deliver, so use a stdout-only log.
	d.Docker("", "run", "--name", "tail1", "busybox", "sh", "-c", "for i in 1 2 3 4 5; do echo out$i; done")
	if r := d.Docker("", "logs", "--tail", "2", "tail1"); r.Stdout != "out4\nout5\n" {
		t.Fatalf("tail: %s", r)
	}
	r = d.Docker("", "logs", "-t", "logs1")
	first := strings.SplitN(r.Stdout, " ", 2)[0]
	if ts, err := time.Parse(time.RFC3339Nano, first); err != nil || time.Since(ts) > time.Minute {
		t.Fatalf("timestamps: %q %v", first, err)
	}
	if r := d.Docker("", "logs", "--since", "1h", "--until", "2100-01-01T00:00:00Z", "logs1"); !strings.Contains(r.Stdout, "out1") {
		t.Fatalf("since/until: %s", r)
	}
	if r := d.Docker("", "logs", "--until", "2000-01-01T00:00:00Z", "logs1"); r.Stdout != "" {
		t.Fatalf("until in the past: %s", r)
	}

	// Follow: lines written later arrive; the stream ends with the container.
	d.MustDocker("run", "-d", "--name", "follow1", "busybox", "sh", "-c", "echo a; sleep 1; echo b")
	r = d.Docker("", "logs", "-f", "follow1")
	if r.Code != 0 || r.Stdout != "a\nb\n" {
		t.Fatalf("follow: %s", r)
	}

	// Attach to a running container: see its output, send it input.
	d.MustDocker("run", "-d", "-i", "--name", "cat", "busybox", "sh", "-c", "while read l; do echo got:$l; done")
	cmd := exec.Command("docker", "-H", d.Host, "attach", "cat")
	var out bytes.Buffer
	cmd.Stdout = &out
	stdin, _ := cmd.StdinPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(out.String(), "got:ping") && time.Now().Before(deadline) {
		stdin.Write([]byte("ping\n"))
		time.Sleep(100 * time.Millisecond)
	}
	// run -d -i leaves StdinOnce off: the client's EOF does not close the
	// container's stdin (Docker's rule), so the attach ends with the
	// container.
	stdin.Close()
	d.MustDocker("kill", "cat")
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		cmd.Process.Kill()
		t.Fatalf("attach did not end with the container; out %q", out.String())
	}
	if !strings.Contains(out.String(), "got:ping") {
		t.Fatalf("attach output %q", out.String())
	}
}
