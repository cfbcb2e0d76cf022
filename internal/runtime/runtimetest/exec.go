package runtimetest

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/berth-dev/berth/internal/runtime"
)

// testExec runs processes in a running container through runtime.Execer
// (skipped for a runtime whose tasks lack it): the exec'd process must be
// in every namespace and the cgroup of the container's init, with the
// process spec's user, env, cwd and terminal, and its own exit code.
func testExec(t *testing.T, s *suite) {
	spec := s.spec("sh", "-c", "echo ready; exec sleep 100")
	c, ex := s.startForExec(t, spec)
	proc := func(args ...string) *specs.Process {
		p := *spec.Process
		p.Args = args
		return &p
	}

	t.Run("NamespacesAndCgroup", func(t *testing.T) {
		p, out := s.exec(t, c, ex, proc("sh", "-c", "echo up; exec sleep 100"))
		defer func() { p.Kill(context.Background(), unix.SIGKILL); s.reap(t, p) }()
		if l := <-out.line; l != "up\n" {
			t.Fatalf("first line %q", l)
		}
		for _, ns := range []string{"pid", "mnt", "uts", "ipc", "net", "cgroup"} {
			want, err1 := os.Readlink(fmt.Sprintf("/proc/%d/ns/%s", c.task.Pid(), ns))
			got, err2 := os.Readlink(fmt.Sprintf("/proc/%d/ns/%s", p.Pid(), ns))
			if err := errors.Join(err1, err2); err != nil {
				t.Fatal(err)
			}
			if got != want {
				t.Errorf("exec's %s namespace %s, container's %s", ns, got, want)
			}
		}
		want, err1 := os.ReadFile(fmt.Sprintf("/proc/%d/cgroup", c.task.Pid()))
		got, err2 := os.ReadFile(fmt.Sprintf("/proc/%d/cgroup", p.Pid()))
		if err := errors.Join(err1, err2); err != nil {
			t.Fatal(err)
		}
		if string(got) != string(want) {
			t.Errorf("exec's cgroups\n%s\ncontainer's\n%s", got, want)
		}
		// Its root is the container's: the rootfs's busybox is its /bin/sh.
		if root, err := os.Readlink(fmt.Sprintf("/proc/%d/root", p.Pid())); err != nil || root != "/" {
			t.Errorf("exec's root %q (%v), want / of the container's mount namespace", root, err)
		}
		if _, err := os.Stat(fmt.Sprintf("/proc/%d/root/noexec", p.Pid())); err != nil {
			t.Errorf("the container's files are not under the exec's root: %v", err)
		}
	})

	t.Run("UserEnvCwdExitCode", func(t *testing.T) {
		pr := proc("sh", "-c", `id -u; id -g; pwd; echo "$FOO"; cat /proc/self/status | grep CapEff; exit 7`)
		pr.User = specs.User{UID: 1000, GID: 1000}
		pr.Env = []string{"PATH=/bin", "FOO=bar"}
		pr.Cwd = "/tmp"
		p, out := s.exec(t, c, ex, pr)
		code := s.reap(t, p)
		got := out.all(t)
		if code != 7 || !strings.HasPrefix(got, "1000\n1000\n/tmp\nbar\nCapEff:\t0000000000000000\n") {
			t.Errorf("exit %d, output %q", code, got)
		}
	})

	t.Run("NotFound", func(t *testing.T) {
		_, err := ex.Exec(context.Background(), "nope", runtime.ExecOpts{Process: proc("nope-not-here")})
		if !errors.Is(err, runtime.ErrExecNotFound) || !strings.Contains(err.Error(), "nope-not-here") {
			t.Errorf("got %v, want ErrExecNotFound naming the program", err)
		}
		_, err = ex.Exec(context.Background(), "noexec", runtime.ExecOpts{Process: proc("/noexec")})
		if !errors.Is(err, runtime.ErrExecPermission) {
			t.Errorf("non-executable: got %v, want ErrExecPermission", err)
		}
	})

	t.Run("Terminal", func(t *testing.T) {
		pr := proc("sh", "-c", "tty; [ -t 0 ] && echo stdin-tty; stty size")
		pr.Terminal = true
		pr.ConsoleSize = &specs.Box{Height: 30, Width: 90}
		p, err := ex.Exec(context.Background(), "tty", runtime.ExecOpts{Process: pr})
		if err != nil {
			t.Fatal(err)
		}
		con := p.Console()
		if con == nil {
			p.Delete(context.Background())
			t.Fatal("no console")
		}
		out := make(chan string, 1)
		go func() {
			var b []byte
			buf := make([]byte, 4096)
			for {
				n, err := con.Read(buf)
				b = append(b, buf[:n]...)
				if err != nil {
					break
				}
			}
			out <- string(b)
		}()
		if err := p.Start(context.Background()); err != nil {
			t.Error(err)
		}
		// The console is read to its end before Delete closes it (a
		// runtime that starts the process at Exec may be done already).
		var text string
		select {
		case text = <-out:
		case <-time.After(10 * time.Second):
			t.Error("console not closed after the exit")
		}
		code := s.reap(t, p)
		if code != 0 || !strings.Contains(text, "/dev/pts/") || !strings.Contains(text, "stdin-tty") || !strings.Contains(text, "30 90") {
			t.Errorf("exit %d, console output %q", code, text)
		}
	})
}

// startForExec creates and starts a container from spec, whose process
// prints "ready" and stays up, for processes to be exec'd in it; the
// test is skipped if the runtime's tasks lack runtime.Execer. The
// container is killed and deleted when the test ends.
func (s *suite) startForExec(t *testing.T, spec *specs.Spec) (*container, runtime.Execer) {
	t.Helper()
	c, err := s.create(t, spec, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		c.task.Kill(context.Background(), unix.SIGKILL, true)
		c.wait(t)
		s.delete(t, c)
	})
	ex, ok := c.task.(runtime.Execer)
	if !ok {
		t.Skip("the runtime's tasks do not implement runtime.Execer")
	}
	startAndWaitReady(t, c)
	return c, ex
}

// exec starts pr in c with its stdout and stderr collected (stdout is
// returned; stderr is logged on failure).
func (s *suite) exec(t *testing.T, c *container, ex runtime.Execer, pr *specs.Process) (runtime.Process, *bytesPipe) {
	t.Helper()
	stdout, stderr := newBytesPipe(t), newBytesPipe(t)
	stateDir := filepath.Join(c.bundle, "exec-"+randHex(3))
	os.Mkdir(stateDir, 0o700)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	p, err := ex.Exec(ctx, "exec-"+randHex(3), runtime.ExecOpts{Process: pr, Stdout: stdout.w, Stderr: stderr.w, StateDir: stateDir})
	stdout.w.Close()
	stderr.w.Close()
	if err != nil {
		t.Fatalf("exec %q: %v (stderr %q)", pr.Args, err, stderr.all(t))
	}
	if err := p.Start(ctx); err != nil {
		p.Delete(context.Background())
		t.Fatalf("start exec %q: %v", pr.Args, err)
	}
	return p, stdout
}

// reap waits for an exec'd process's exit, deletes it and returns its
// status.
func (s *suite) reap(t *testing.T, p runtime.Process) int {
	t.Helper()
	e, ok := exits.wait(p.Pid(), 20*time.Second)
	if !ok {
		p.Kill(context.Background(), unix.SIGKILL)
		t.Fatalf("exec'd pid %d did not exit within 20s", p.Pid())
	}
	if err := p.Delete(context.Background()); err != nil {
		t.Errorf("delete exec: %v", err)
	}
	return e.Status
}
