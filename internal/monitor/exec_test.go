package monitor

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/moby/moby/api/pkg/stdcopy"
	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/berth-dev/berth/internal/errdefs"
	"github.com/berth-dev/berth/internal/runtime"
	"github.com/berth-dev/berth/internal/runtime/runtimetest"
)

// TestExec runs processes in a busybox container through the monitor with
// berth's runtime: output and exit code, stdin half-close, a terminal,
// detached execs, and the errors.
func TestExec(t *testing.T) {
	needRoot(t)
	m := startMonitorWith(t, "", testRuntimes)
	ctx := context.Background()
	spec := runtimetest.Spec(runtimetest.Rootfs(t), "berth-montest-exec-"+randSuffix(), "sleep", "100")
	m.createBerth(t, "ctr", spec, CreateRequest{})
	ec := m.client.(ExecClient)
	if _, _, err := ec.Exec(ctx, "ctr", ExecRequest{ID: "early", Process: proc(spec, "true"), Attach: &AttachOptions{Stdout: true}}); !errdefs.Is(err, errdefs.Conflict) || err.Error() != "container ctr is not running" {
		t.Errorf("exec before start: %v, want Conflict 'container ctr is not running'", err)
	}
	if err := m.client.Start(ctx, "ctr"); err != nil {
		t.Fatal(err)
	}
	st, _ := m.client.State(ctx, "ctr")

	t.Run("output and exit code", func(t *testing.T) {
		pid, conn, err := ec.Exec(ctx, "ctr", ExecRequest{ID: "x1", Process: proc(spec, "sh", "-c", "echo out; echo err >&2; readlink /proc/$$/ns/pid; exit 7"), Attach: &AttachOptions{Stdout: true, Stderr: true}})
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		var stdout, stderr bytes.Buffer
		stdcopy.StdCopy(&stdout, &stderr, bytes.NewReader(readWithTimeout(t, conn, 10*time.Second)))
		ns, _ := os.Readlink(fmt.Sprintf("/proc/%d/ns/pid", st.Pid))
		if stdout.String() != "out\n"+ns+"\n" || stderr.String() != "err\n" || pid <= 0 {
			t.Errorf("stdout %q stderr %q pid %d; want out, the container's pid ns %s, err", stdout.String(), stderr.String(), pid, ns)
		}
		ex, err := ec.ExecWait(ctx, "ctr", "x1")
		if err != nil || ex.Code != 7 {
			t.Errorf("wait: %+v %v, want code 7", ex, err)
		}
		if _, err := ec.ExecWait(ctx, "ctr", "x1"); !errdefs.Is(err, errdefs.NotFound) {
			t.Errorf("second wait: %v, want NotFound", err)
		}
	})

	t.Run("stdin half-close", func(t *testing.T) {
		_, conn, err := ec.Exec(ctx, "ctr", ExecRequest{ID: "x2", OpenStdin: true, Process: proc(spec, "sh", "-c", "cat; echo done"), Attach: &AttachOptions{Stdin: true, Stdout: true}})
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		io.WriteString(conn, "piped\n")
		conn.(*net.UnixConn).CloseWrite()
		var stdout bytes.Buffer
		stdcopy.StdCopy(&stdout, io.Discard, bytes.NewReader(readWithTimeout(t, conn, 10*time.Second)))
		if stdout.String() != "piped\ndone\n" {
			t.Errorf("stdout %q", stdout.String())
		}
		if ex, err := ec.ExecWait(ctx, "ctr", "x2"); err != nil || ex.Code != 0 {
			t.Errorf("wait: %+v %v", ex, err)
		}
	})

	t.Run("terminal", func(t *testing.T) {
		p := proc(spec, "sh", "-c", "read line; echo got $line; stty size")
		p.Terminal = true
		p.ConsoleSize = &specs.Box{Height: 20, Width: 70}
		_, conn, err := ec.Exec(ctx, "ctr", ExecRequest{ID: "x3", OpenStdin: true, Process: p, Attach: &AttachOptions{Stdin: true, Stdout: true}})
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		if err := ec.ExecResize(ctx, "ctr", "x3", 25, 81); err != nil {
			t.Error(err)
		}
		io.WriteString(conn, "hello\r")
		out := string(readWithTimeout(t, conn, 10*time.Second))
		// The pty echoes the input; the output is raw.
		if !strings.Contains(out, "hello\r\n") || !strings.Contains(out, "got hello\r\n") || !strings.Contains(out, "25 81\r\n") {
			t.Errorf("terminal output %q", out)
		}
		if ex, err := ec.ExecWait(ctx, "ctr", "x3"); err != nil || ex.Code != 0 {
			t.Errorf("wait: %+v %v", ex, err)
		}
	})

	t.Run("detached", func(t *testing.T) {
		pid, conn, err := ec.Exec(ctx, "ctr", ExecRequest{ID: "x4", Process: proc(spec, "sh", "-c", "exit 3")})
		if err != nil || conn != nil || pid <= 0 {
			t.Fatalf("pid %d conn %v err %v", pid, conn, err)
		}
		if ex, err := ec.ExecWait(ctx, "ctr", "x4"); err != nil || ex.Code != 3 {
			t.Errorf("wait: %+v %v", ex, err)
		}
	})

	t.Run("errors", func(t *testing.T) {
		_, _, err := ec.Exec(ctx, "ctr", ExecRequest{ID: "x5", Process: proc(spec, "nope"), Attach: &AttachOptions{Stdout: true}})
		if !errors.Is(err, runtime.ErrExecNotFound) || !strings.Contains(err.Error(), `exec: "nope": executable file not found in $PATH`) {
			t.Errorf("missing binary: %v", err)
		}
		if _, _, err := ec.Exec(ctx, "nosuch", ExecRequest{ID: "x6", Process: proc(spec, "true")}); !errdefs.Is(err, errdefs.NotFound) {
			t.Errorf("unknown container: %v", err)
		}
		if err := ec.ExecResize(ctx, "ctr", "nosuch", 1, 1); !errdefs.Is(err, errdefs.NotFound) {
			t.Errorf("resize unknown exec: %v", err)
		}
	})

	// An exec outlives nothing: killing the container ends it too.
	_, conn, err := ec.Exec(ctx, "ctr", ExecRequest{ID: "x7", Process: proc(spec, "sleep", "100"), Attach: &AttachOptions{Stdout: true}})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	m.client.Kill(ctx, "ctr", 9)
	if ex, err := ec.ExecWait(ctx, "ctr", "x7"); err != nil || ex.Code != 137 {
		t.Errorf("exec in a killed container: %+v %v, want 137", ex, err)
	}
}

func proc(spec *specs.Spec, args ...string) *specs.Process {
	p := *spec.Process
	p.Args = args
	return &p
}
