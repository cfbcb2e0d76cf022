package e2e

import (
	"bytes"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/creack/pty"
)

// ptyOutput collects what a pty master yields.
type ptyOutput struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (p *ptyOutput) Write(b []byte) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.buf.Write(b)
}

func (p *ptyOutput) String() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.buf.String()
}

func (p *ptyOutput) waitFor(t *testing.T, s string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if strings.Contains(p.String(), s) {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("never saw %q in:\n%q", s, p.String())
}

// TestInteractiveTTY runs `docker run -it busybox sh` on a real pty: the
// shell echoes, sees a terminal, follows a resize and exits with its code.
func TestInteractiveTTY(t *testing.T) {
	d := StartDaemon(t)
	d.ImportBusybox()
	for _, cli := range []string{"docker", d.bin + "/berth"} {
		t.Run(cli, func(t *testing.T) {
			cmd := exec.Command(cli, "-H", d.Host, "run", "-it", "--rm", "busybox", "sh")
			cmd.Env = append(os.Environ(), "DOCKER_CONFIG="+d.Root+"/dockercfg")
			ptmx, err := pty.StartWithSize(cmd, &pty.Winsize{Rows: 24, Cols: 80})
			if err != nil {
				t.Fatal(err)
			}
			defer ptmx.Close()
			out := &ptyOutput{}
			go func() { _, _ = ioCopy(out, ptmx) }()
			ptmx.Write([]byte("tty; stty size\r"))
			out.waitFor(t, "/dev/pts/0")
			out.waitFor(t, "24 80")
			if err := pty.Setsize(ptmx, &pty.Winsize{Rows: 40, Cols: 132}); err != nil {
				t.Fatal(err)
			}
			time.Sleep(300 * time.Millisecond) // SIGWINCH -> client -> resize API
			ptmx.Write([]byte("stty size\r"))
			out.waitFor(t, "40 132")
			ptmx.Write([]byte("exit 5\r"))
			done := make(chan error, 1)
			go func() { done <- cmd.Wait() }()
			select {
			case <-done:
			case <-time.After(15 * time.Second):
				cmd.Process.Kill()
				t.Fatalf("client did not exit; output:\n%q", out.String())
			}
			if cmd.ProcessState.ExitCode() != 5 {
				t.Fatalf("exit %d; output:\n%q", cmd.ProcessState.ExitCode(), out.String())
			}
		})
	}
}

func ioCopy(w *ptyOutput, r *os.File) (int64, error) {
	buf := make([]byte, 4096)
	var n int64
	for {
		k, err := r.Read(buf)
		if k > 0 {
			w.Write(buf[:k])
			n += int64(k)
		}
		if err != nil {
			return n, err
		}
	}
}

// TestLiveRestore: containers keep running across a berthd SIGKILL and
// restart, are re-adopted (stop works, logs intact), and a container that
// exits while berthd is down gets its exit code recorded.
func TestLiveRestore(t *testing.T) {
	d := StartDaemon(t)
	d.ImportBusybox()
	d.MustDocker("run", "-d", "--name", "long", "busybox", "sh", "-c", "echo one; exec sleep 300")
	d.MustDocker("run", "-d", "--name", "short", "busybox", "sh", "-c", "sleep 1; exit 7")
	pid := d.MustDocker("inspect", "-f", "{{.State.Pid}}", "long")
	d.Kill()
	time.Sleep(1500 * time.Millisecond) // "short" exits while berthd is down
	if _, err := os.Stat("/proc/" + pid); err != nil {
		t.Fatalf("container died with berthd: %v", err)
	}
	d.Start()
	if s := d.MustDocker("inspect", "-f", "{{.State.Running}} {{.State.Pid}}", "long"); s != "true "+pid {
		t.Fatalf("long after restart: %s (pid was %s)", s, pid)
	}
	waitFor(t, func() bool {
		return d.MustDocker("inspect", "-f", "{{.State.Status}} {{.State.ExitCode}}", "short") == "exited 7"
	})
	if logs := d.MustDocker("logs", "long"); logs != "one" {
		t.Fatalf("logs after restart: %q", logs)
	}
	d.MustDocker("stop", "-t", "1", "long")
	if s := d.MustDocker("inspect", "-f", "{{.State.Status}}", "long"); s != "exited" {
		t.Fatalf("stop after restart: %s", s)
	}
}

// TestSecondDaemonRefused: one data root, one berthd.
func TestSecondDaemonRefused(t *testing.T) {
	d := StartDaemon(t)
	cmd := exec.Command(d.bin+"/berthd", "--data-root", d.DataRoot, "--exec-root", d.ExecRoot+"2",
		"-H", "unix://"+d.Root+"/other.sock", "--pidfile", d.Root+"/other.pid", "--config-file", d.Root+"/daemon.json")
	out, err := cmd.CombinedOutput()
	defer os.RemoveAll(d.ExecRoot + "2")
	if err == nil || !strings.Contains(string(out), "already") {
		t.Fatalf("second berthd on the same data root: err=%v out=%s", err, out)
	}
}
