package cli

import (
	"context"
	"io"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/creack/pty"
	"golang.org/x/sys/unix"
)

func echoOn(t *testing.T, f *os.File) bool {
	t.Helper()
	tio, err := unix.IoctlGetTermios(int(f.Fd()), unix.TCGETS)
	if err != nil {
		t.Fatalf("tcgets: %v", err)
	}
	return tio.Lflag&unix.ECHO != 0
}

// TestRunInteractiveTTY runs `run -it` on a real pseudo-terminal: the
// terminal goes raw for the session and is restored after, the container
// is resized to the terminal at start and again on SIGWINCH, and the raw
// TTY stream reaches the terminal.
func TestRunInteractiveTTY(t *testing.T) {
	master, slave, err := pty.Open()
	if err != nil {
		t.Skipf("no pty: %v", err)
	}
	defer master.Close()
	defer slave.Close()
	if err := pty.Setsize(master, &pty.Winsize{Rows: 30, Cols: 100}); err != nil {
		t.Fatal(err)
	}
	got := &syncBuffer{}
	drained := make(chan struct{})
	go func() {
		defer close(drained)
		buf := make([]byte, 4096)
		for {
			n, err := master.Read(buf)
			got.Write(buf[:n])
			if err != nil {
				return
			}
		}
	}()

	hold := make(chan struct{})
	e := newFakeEngine(t, func(e *fakeEngine) {
		e.stdout = "tty-output\r\n"
		e.exitCode = 6
		e.hold = hold
	})
	if !echoOn(t, slave) {
		t.Fatal("fresh pty should echo")
	}

	c := New(slave, slave, slave)
	c.Getenv = func(k string) string {
		if k == "BERTH_HOST" {
			return e.host
		}
		return ""
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	done := make(chan int, 1)
	go func() { done <- c.Run(ctx, []string{"run", "-it", "busybox", "sh"}) }()

	waitFor := func(what string, cond func() bool) {
		t.Helper()
		for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
			if cond() {
				return
			}
		}
		t.Fatalf("timed out waiting for %s (calls %v, resizes %v)", what, e.callList(), e.resizeList())
	}
	waitFor("initial resize", func() bool { return len(e.resizeList()) >= 1 })
	if r := e.resizeList()[0]; r != "30x100" {
		t.Errorf("initial resize = %s, want 30x100", r)
	}
	waitFor("raw mode", func() bool { return !echoOn(t, slave) })

	if err := pty.Setsize(master, &pty.Winsize{Rows: 40, Cols: 120}); err != nil {
		t.Fatal(err)
	}
	_ = syscall.Kill(os.Getpid(), syscall.SIGWINCH)
	waitFor("resize on SIGWINCH", func() bool {
		r := e.resizeList()
		return len(r) > 0 && r[len(r)-1] == "40x120"
	})

	close(hold)
	select {
	case code := <-done:
		if code != 6 {
			t.Errorf("exit = %d, want 6", code)
		}
	case <-ctx.Done():
		t.Fatal("run -it did not finish")
	}
	if !echoOn(t, slave) {
		t.Error("terminal left in raw mode")
	}
	req := e.created()[0]
	if !req.Tty || !req.OpenStdin || !req.AttachStdin {
		t.Errorf("-it request: %+v", req.Config)
	}
	if req.HostConfig.ConsoleSize != [2]uint{30, 100} {
		t.Errorf("ConsoleSize = %v, want the terminal's [30 100]", req.HostConfig.ConsoleSize)
	}
	waitFor("output on the terminal", func() bool { return strings.Contains(got.String(), "tty-output") })
	// Like docker, the CLI leaves its stdin reader blocked on the terminal;
	// a keystroke releases it so the pty can be torn down.
	_, _ = master.Write([]byte("\n"))
	slave.Close()
	select {
	case <-drained:
	case <-time.After(2 * time.Second):
	}
}

func TestRunTTYNeedsTerminal(t *testing.T) {
	e := newFakeEngine(t)
	code, _, errOut := e.run(t, "", "run", "-it", "busybox")
	if code != 1 || errOut != "the input device is not a TTY\n" {
		t.Errorf("-it without a terminal: %d %q", code, errOut)
	}
	if len(e.callList()) != 0 {
		t.Errorf("should fail before any request: %v", e.callList())
	}
}

// TestRunTTYDetachKeys: the detach sequence ends the session with status 0
// while the container keeps running (its output is never released here).
func TestRunTTYDetachKeys(t *testing.T) {
	master, slave, err := pty.Open()
	if err != nil {
		t.Skipf("no pty: %v", err)
	}
	defer master.Close()
	defer slave.Close()
	go func() { _, _ = io.Copy(io.Discard, master) }()

	hold := make(chan struct{})
	defer close(hold)
	e := newFakeEngine(t, func(e *fakeEngine) { e.hold = hold })
	c := New(slave, slave, slave)
	c.Getenv = func(k string) string {
		if k == "BERTH_HOST" {
			return e.host
		}
		return ""
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	done := make(chan int, 1)
	go func() { done <- c.Run(ctx, []string{"run", "-it", "--detach-keys", "ctrl-a,x", "busybox", "sh"}) }()
	for deadline := time.Now().Add(10 * time.Second); echoOn(t, slave); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("terminal never went raw")
		}
	}
	_, _ = master.Write([]byte("ls\x01x"))
	select {
	case code := <-done:
		if code != 0 {
			t.Errorf("detach exit = %d, want 0", code)
		}
	case <-ctx.Done():
		t.Fatal("detach keys did not end the session")
	}
	if !echoOn(t, slave) {
		t.Error("terminal left raw after detach")
	}
	if q := e.attachQuery(); !strings.Contains(q, "detachKeys=ctrl-a%2Cx") {
		t.Errorf("attach query %q lacks the detach keys", q)
	}
}
