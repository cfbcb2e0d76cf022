package e2e

import (
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/creack/pty"
)

// ptySession runs a CLI on a pty and collects its output.
type ptySession struct {
	cmd  *exec.Cmd
	ptmx *os.File
	out  *ptyOutput
	done chan struct{}
}

func startPTY(t *testing.T, d *Daemon, cli string, args ...string) *ptySession {
	t.Helper()
	cmd := exec.Command(cli, append([]string{"-H", d.Host}, args...)...)
	cmd.Env = append(os.Environ(), "DOCKER_CONFIG="+d.Root+"/dockercfg")
	ptmx, err := pty.StartWithSize(cmd, &pty.Winsize{Rows: 24, Cols: 80})
	if err != nil {
		t.Fatal(err)
	}
	s := &ptySession{cmd: cmd, ptmx: ptmx, out: &ptyOutput{}, done: make(chan struct{})}
	go func() { _, _ = ioCopy(s.out, ptmx) }()
	go func() { cmd.Wait(); close(s.done) }()
	t.Cleanup(func() {
		select {
		case <-s.done:
		default:
			cmd.Process.Kill()
			<-s.done
		}
		ptmx.Close()
	})
	return s
}

// exitCode waits for the CLI to end.
func (s *ptySession) exitCode(t *testing.T) int {
	t.Helper()
	select {
	case <-s.done:
		return s.cmd.ProcessState.ExitCode()
	case <-time.After(10 * time.Second):
		t.Fatalf("the CLI did not exit; output:\n%q", s.out.String())
		return -1
	}
}

// TestDetachKeys detaches from run -it and attach with the default and
// custom keys, with both CLIs: the container runs on, run -it exits 0.
func TestDetachKeys(t *testing.T) {
	d := StartDaemon(t)
	d.ImportBusybox()
	for _, cli := range []string{"docker", d.bin + "/berth"} {
		name := "dk-" + strings.TrimPrefix(cli[strings.LastIndex(cli, "/")+1:], "/")
		t.Run(name, func(t *testing.T) {
			s := startPTY(t, d, cli, "run", "-it", "--name", name, "--detach-keys", "ctrl-x,x", "busybox", "sh")
			s.ptmx.Write([]byte("echo rea''dy\r"))
			s.out.waitFor(t, "ready")
			s.ptmx.Write([]byte{0x18, 'x'})
			if code := s.exitCode(t); code != 0 {
				t.Fatalf("run -it detach: exit %d; output %q", code, s.out.String())
			}
			if st := d.MustDocker("inspect", "-f", "{{.State.Status}}", name); st != "running" {
				t.Fatalf("after detach: %s", st)
			}

			a := startPTY(t, d, cli, "attach", name)
			a.ptmx.Write([]byte("echo ag''ain\r"))
			a.out.waitFor(t, "again")
			a.ptmx.Write([]byte{0x10, 0x11}) // ctrl-p ctrl-q
			// docker 28's attach reports the detach as its error, exit 1.
			if code := a.exitCode(t); code != 1 {
				t.Fatalf("attach detach: exit %d; output %q", code, a.out.String())
			}
			a.out.waitFor(t, "read escape sequence")
			if st := d.MustDocker("inspect", "-f", "{{.State.Status}}", name); st != "running" {
				t.Fatalf("after attach detach: %s", st)
			}

			b := startPTY(t, d, cli, "attach", "--detach-keys", "bogus", name)
			if code := b.exitCode(t); code == 0 {
				t.Errorf("bad keys: exit %d; output %q", code, b.out.String())
			}
			// dockerd refuses them before the upgrade; the client says so.
			b.out.waitFor(t, "unable to upgrade to tcp, received 400")
			if st := d.MustDocker("inspect", "-f", "{{.State.Status}}", name); st != "running" {
				t.Fatalf("after a refused attach: %s", st)
			}
		})
	}
}
