package e2e

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestLiveRestoreUnderLoad: 20 running containers — some with a TTY, some
// with a client attached, some logging continuously — survive a berthd
// SIGKILL and restart: all keep running with the same pids, the logs lose no
// line, attach and exec work again, and stats resume.
func TestLiveRestoreUnderLoad(t *testing.T) {
	d := StartDaemon(t)
	d.ImportBusybox()
	var names []string
	pids := map[string]string{}
	start := func(name string, args ...string) {
		d.MustDocker(append([]string{"run", "-d", "--name", name}, args...)...)
		names = append(names, name)
	}
	for i := 0; i < 8; i++ { // a counter line every 20 ms
		start(fmt.Sprintf("logger%d", i), "busybox", "sh", "-c", "i=0; while true; do echo line$i; i=$((i+1)); usleep 20000; done")
	}
	for i := 0; i < 6; i++ {
		start(fmt.Sprintf("tty%d", i), "-t", "-i", "busybox", "sh")
	}
	for i := 0; i < 6; i++ {
		start(fmt.Sprintf("att%d", i), "-i", "busybox", "sh", "-c", "while read l; do echo got:$l; done")
	}
	for _, n := range names {
		pids[n] = d.MustDocker("inspect", "-f", "{{.State.Pid}}", n)
	}
	// Attached clients on the att* containers, kept across the restart.
	type attached struct {
		cmd *exec.Cmd
		out *syncBuffer
		in  interface{ Write([]byte) (int, error) }
	}
	var clients []attached
	for i := 0; i < 6; i++ {
		cmd := exec.Command("docker", "-H", d.Host, "attach", fmt.Sprintf("att%d", i))
		out := &syncBuffer{}
		cmd.Stdout = out
		in, _ := cmd.StdinPipe()
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		clients = append(clients, attached{cmd, out, in})
	}
	defer func() {
		for _, c := range clients {
			c.cmd.Process.Kill()
			c.cmd.Wait()
		}
	}()
	time.Sleep(500 * time.Millisecond)

	d.Kill()
	time.Sleep(700 * time.Millisecond) // the loggers write on while berthd is down
	d.Start()

	for _, n := range names {
		got := d.MustDocker("inspect", "-f", "{{.State.Running}} {{.State.Pid}}", n)
		if got != "true "+pids[n] {
			t.Errorf("%s after restart: %s (pid was %s)", n, got, pids[n])
		}
	}
	// No line lost: each logger's counter runs without a gap.
	time.Sleep(300 * time.Millisecond)
	for i := 0; i < 8; i++ {
		r := d.Docker("", "logs", fmt.Sprintf("logger%d", i))
		lines := strings.Fields(r.Stdout)
		if len(lines) < 50 {
			t.Fatalf("logger%d: only %d lines", i, len(lines))
		}
		for j, l := range lines {
			if l != "line"+strconv.Itoa(j) {
				t.Fatalf("logger%d: line %d is %q: a gap in the log", i, j, l)
			}
		}
	}
	// Attach works again (a new client), and exec.
	for i := 0; i < 6; i++ {
		name := fmt.Sprintf("att%d", i)
		cmd := exec.Command("docker", "-H", d.Host, "attach", name)
		out := &syncBuffer{}
		cmd.Stdout = out
		in, _ := cmd.StdinPipe()
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		deadline := time.Now().Add(10 * time.Second)
		for !strings.Contains(out.String(), "got:again") && time.Now().Before(deadline) {
			in.Write([]byte("again\n"))
			time.Sleep(100 * time.Millisecond)
		}
		cmd.Process.Kill()
		cmd.Wait()
		if !strings.Contains(out.String(), "got:again") {
			t.Errorf("%s: attach after restart saw %q", name, out.String())
		}
		if out := d.MustDocker("exec", name, "echo", "exec-ok"); out != "exec-ok" {
			t.Errorf("%s: exec after restart: %q", name, out)
		}
	}
	if out := d.MustDocker("exec", "tty0", "readlink", "/proc/1/fd/0"); !strings.HasPrefix(out, "/dev/pts/") {
		t.Errorf("tty container lost its terminal: %q", out)
	}
	// Stats resume: every container reports memory in use.
	stats := d.MustDocker("stats", "--no-stream", "--format", "{{.Name}} {{.MemUsage}}")
	if n := len(strings.Split(stats, "\n")); n != len(names) {
		t.Errorf("stats lists %d containers, want %d:\n%s", n, len(names), stats)
	}
	for _, l := range strings.Split(stats, "\n") {
		if strings.Contains(l, " 0B /") {
			t.Errorf("no memory usage after restart: %s", l)
		}
	}
	if _, err := os.Stat("/proc/" + pids["logger0"]); err != nil {
		t.Fatal(err)
	}
}

// syncBuffer is a bytes.Buffer safe for a writer and a reader goroutine.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
