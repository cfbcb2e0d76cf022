package engine

import (
	"bytes"
	"context"
	"errors"
	"net"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/moby/moby/api/pkg/stdcopy"
	ctypes "github.com/moby/moby/api/types/container"

	"github.com/berth-dev/berth/internal/apiserver/stream"
	"github.com/berth-dev/berth/internal/container"
	"github.com/berth-dev/berth/internal/errdefs"
	"github.com/berth-dev/berth/internal/monitor"
	"github.com/berth-dev/berth/internal/runtime"
)

// The fake monitor's side of exec (monitor.ExecClient): each exec gets a
// pipe whose far end the test writes output to, and exits with the code
// the test sets.

type fakeExec struct {
	req    monitor.ExecRequest
	pid    int
	server net.Conn // the monitor's end of the stream
	done   chan struct{}
	code   int
	// dies ends ExecWait calls with a lost connection (the monitor died);
	// forgotten: the next monitor does not know the exec.
	dies      chan struct{}
	forgotten bool
}

var fakeExecs = struct {
	sync.Mutex
	m    map[*fakeMonitor]map[string]*fakeExec
	fail map[*fakeMonitor]error
}{m: map[*fakeMonitor]map[string]*fakeExec{}, fail: map[*fakeMonitor]error{}}

var _ monitor.ExecClient = (*fakeMonitor)(nil)

func (m *fakeMonitor) Exec(_ context.Context, id string, req monitor.ExecRequest) (int, net.Conn, error) {
	m.mu.Lock()
	t, err := m.task(id)
	running := err == nil && t.started && t.exit == nil
	m.nextPid++
	pid := m.nextPid
	m.mu.Unlock()
	if err != nil {
		return 0, nil, err
	}
	if !running {
		return 0, nil, errdefs.Conflictf("container %s is not running", id)
	}
	fakeExecs.Lock()
	defer fakeExecs.Unlock()
	if err := fakeExecs.fail[m]; err != nil {
		return 0, nil, err
	}
	x := &fakeExec{req: req, pid: pid, done: make(chan struct{}), dies: make(chan struct{})}
	if fakeExecs.m[m] == nil {
		fakeExecs.m[m] = map[string]*fakeExec{}
	}
	fakeExecs.m[m][req.ID] = x
	if req.Attach == nil {
		return pid, nil, nil
	}
	client, server := net.Pipe()
	x.server = server
	return pid, client, nil
}

func (m *fakeMonitor) ExecResize(_ context.Context, id, execID string, h, w uint) error {
	if m.exec(execID) == nil {
		return errdefs.NotFoundf("monitor: no such exec: %s", execID)
	}
	return nil
}

func (m *fakeMonitor) ExecWait(ctx context.Context, id, execID string) (monitor.Exit, error) {
	x := m.exec(execID)
	fakeExecs.Lock()
	var dies chan struct{}
	if x != nil && x.forgotten {
		x = nil
	}
	if x != nil {
		dies = x.dies
	}
	fakeExecs.Unlock()
	if x == nil {
		return monitor.Exit{}, errdefs.NotFoundf("monitor: no such exec: %s", execID)
	}
	select {
	case <-x.done:
		return monitor.Exit{Code: x.code}, nil
	case <-dies:
		return monitor.Exit{}, errors.New("read unix @->monitor.sock: read: connection reset by peer")
	case <-ctx.Done():
		return monitor.Exit{}, ctx.Err()
	}
}

// monitorDies ends the ExecWait calls now waiting with a lost connection;
// with forget, the monitor answering the next ones never knew the exec.
func (x *fakeExec) monitorDies(forget bool) {
	fakeExecs.Lock()
	defer fakeExecs.Unlock()
	x.forgotten = forget
	close(x.dies)
	x.dies = make(chan struct{})
}

func (m *fakeMonitor) exec(execID string) *fakeExec {
	fakeExecs.Lock()
	defer fakeExecs.Unlock()
	return fakeExecs.m[m][execID]
}

// finish makes the exec's process write out (stdcopy-framed, stdout) and
// exit with code.
func (x *fakeExec) finish(t *testing.T, out string, code int) {
	t.Helper()
	if out != "" {
		w := stream.NewStdWriter(x.server, stdcopy.Stdout)
		if _, err := w.Write([]byte(out)); err != nil {
			t.Fatal(err)
		}
	}
	x.code = code
	close(x.done)
	if x.server != nil {
		x.server.Close()
	}
}

func TestExecCreateChecksTheContainer(t *testing.T) {
	h := newHarness(t)
	created := h.create("created", nil, nil)
	if _, err := h.ExecCreate(bg, "created", ctypes.ExecCreateRequest{Cmd: []string{"true"}}); !errdefs.Is(err, errdefs.Conflict) || err.Error() != "container "+created+" is not running" {
		t.Errorf("exec into created: %v", err)
	}
	if _, err := h.ExecCreate(bg, "nosuch", ctypes.ExecCreateRequest{Cmd: []string{"true"}}); !errdefs.Is(err, errdefs.NotFound) {
		t.Errorf("exec into unknown: %v", err)
	}
	id := h.run("running", nil, nil)
	if _, err := h.ExecCreate(bg, id, ctypes.ExecCreateRequest{}); !errdefs.Is(err, errdefs.InvalidArgument) {
		t.Errorf("no command: %v", err)
	}
	if _, err := h.ExecCreate(bg, id, ctypes.ExecCreateRequest{Cmd: []string{"true"}, DetachKeys: "ctrl-"}); !errdefs.Is(err, errdefs.InvalidArgument) {
		t.Errorf("bad detach keys: %v", err)
	}
	ent, _ := h.store.Get(id)
	if _, err := ent.Update(func(c *container.Container) error { c.State.Status = ctypes.StatePaused; return nil }); err != nil {
		t.Fatal(err)
	}
	_, err := h.ExecCreate(bg, id, ctypes.ExecCreateRequest{Cmd: []string{"true"}})
	if !errdefs.Is(err, errdefs.Conflict) || err.Error() != "container "+id+" is paused, unpause the container before exec" {
		t.Errorf("exec into paused: %v", err)
	}
	if _, err := h.ExecInspect(bg, "nosuch"); !errdefs.Is(err, errdefs.NotFound) || err.Error() != "No such exec instance: nosuch" {
		t.Errorf("inspect unknown exec: %v", err)
	}
}

func TestExecStartStreamsAndRecordsTheExit(t *testing.T) {
	h := newHarness(t)
	id := h.run("box", &ctypes.Config{Image: "busybox", Env: []string{"FROMRUN=1"}, User: "0"}, nil)
	execID, err := h.ExecCreate(bg, "box", ctypes.ExecCreateRequest{
		Cmd: []string{"sh", "-c", "echo hi"}, Env: []string{"X=1"}, WorkingDir: "/tmp",
		AttachStdout: true, AttachStderr: true,
	})
	if err != nil {
		t.Fatal(err)
	}
	if ids := h.snapInspect(id).ExecIDs; !slices.Equal(ids, []string{execID}) {
		t.Errorf("container's ExecIDs %v, want [%s]", ids, execID)
	}
	var stdout, stderr bytes.Buffer
	errc := make(chan error, 1)
	go func() {
		errc <- h.ExecStart(bg, execID, ExecStartOptions{Stdout: &stdout, Stderr: &stderr})
	}()
	var x *fakeExec
	waitFor(t, "the monitor's exec", func() bool { x = h.mon.exec(execID); return x != nil })
	p := x.req.Process
	if !slices.Equal(p.Args, []string{"sh", "-c", "echo hi"}) || p.Cwd != "/tmp" || x.req.Attach == nil || x.req.Attach.Stdin || !x.req.Attach.Stdout {
		t.Errorf("exec request %+v, process %+v", x.req, p)
	}
	if !slices.Contains(p.Env, "FROMRUN=1") || !slices.Contains(p.Env, "X=1") {
		t.Errorf("env %v lacks the container's and the exec's variables", p.Env)
	}
	insp, _ := h.ExecInspect(bg, execID)
	if !insp.Running || insp.Pid != x.pid || insp.ExitCode != nil {
		t.Errorf("while running: %+v", insp)
	}
	if err := h.ExecResize(bg, execID, 10, 20); err != nil {
		t.Errorf("resize while running: %v", err)
	}
	x.finish(t, "hi\n", 3)
	select {
	case err := <-errc:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("ExecStart did not return after the output ended")
	}
	if stdout.String() != "hi\n" {
		t.Errorf("stdout %q", stdout.String())
	}
	// The exit is recorded before ExecStart returns: the CLI inspects next.
	insp, err = h.ExecInspect(bg, execID)
	if err != nil || insp.Running || insp.ExitCode == nil || *insp.ExitCode != 3 || insp.ContainerID != id ||
		insp.ProcessConfig.Entrypoint != "sh" || !slices.Equal(insp.ProcessConfig.Arguments, []string{"-c", "echo hi"}) {
		t.Errorf("after exit: %+v %v", insp, err)
	}
	if err := h.ExecResize(bg, execID, 10, 20); !errdefs.Is(err, errdefs.Conflict) {
		t.Errorf("resize after the exit: %v, want Conflict", err)
	}
	if err := h.ExecStart(bg, execID, ExecStartOptions{Detach: true}); !errdefs.Is(err, errdefs.Conflict) || !strings.Contains(err.Error(), "has already run") {
		t.Errorf("second start: %v", err)
	}
	if ids := h.snapInspect(id).ExecIDs; ids != nil {
		t.Errorf("ExecIDs after the exit: %v", ids)
	}
}

func TestExecStartFailuresGetDockersCodes(t *testing.T) {
	h := newHarness(t)
	h.run("box", nil, nil)
	for _, tc := range []struct {
		err  error
		code int
		text string
	}{
		{&wrappedErr{`exec: "nope": executable file not found in $PATH`, runtime.ErrExecNotFound}, 127,
			`OCI runtime exec failed: exec failed: unable to start container process: exec: "nope": executable file not found in $PATH: unknown`},
		{&wrappedErr{`exec: "/etc": is a directory`, runtime.ErrExecPermission}, 126, "OCI runtime exec failed"},
	} {
		fakeExecs.Lock()
		fakeExecs.fail[h.mon] = tc.err
		fakeExecs.Unlock()
		execID, err := h.ExecCreate(bg, "box", ctypes.ExecCreateRequest{Cmd: []string{"nope"}, AttachStdout: true})
		if err != nil {
			t.Fatal(err)
		}
		err = h.ExecStart(bg, execID, ExecStartOptions{Stdout: &bytes.Buffer{}})
		if err == nil || !strings.Contains(err.Error(), tc.text) {
			t.Errorf("start: %v, want %q", err, tc.text)
		}
		insp, _ := h.ExecInspect(bg, execID)
		if insp.Running || insp.ExitCode == nil || *insp.ExitCode != tc.code {
			t.Errorf("%v: inspect %+v, want exit %d", tc.err, insp, tc.code)
		}
	}
	fakeExecs.Lock()
	delete(fakeExecs.fail, h.mon)
	fakeExecs.Unlock()
	// An unknown user fails before the monitor is asked: 126.
	execID, _ := h.ExecCreate(bg, "box", ctypes.ExecCreateRequest{Cmd: []string{"true"}, User: "nosuchuser"})
	if err := h.ExecStart(bg, execID, ExecStartOptions{Detach: true}); err == nil || !strings.Contains(err.Error(), "nosuchuser") {
		t.Errorf("unknown user: %v", err)
	}
	if insp, _ := h.ExecInspect(bg, execID); insp.ExitCode == nil || *insp.ExitCode != 126 {
		t.Errorf("unknown user: %+v", insp)
	}
}

func TestExecRecordsGoWithTheContainer(t *testing.T) {
	h := newHarness(t)
	id := h.run("box", nil, nil)
	execID, err := h.ExecCreate(bg, "box", ctypes.ExecCreateRequest{Cmd: []string{"sleep", "9"}})
	if err != nil {
		t.Fatal(err)
	}
	if err := h.ExecStart(bg, execID, ExecStartOptions{Detach: true}); err != nil {
		t.Fatal(err)
	}
	x := h.mon.exec(execID)
	if x == nil || x.req.Attach != nil {
		t.Fatalf("detached exec request: %+v", x)
	}
	h.mon.exit(id, 0)
	x.finish(t, "", 137)
	waitFor(t, "the exec records to go", func() bool {
		_, err := h.ExecInspect(bg, execID)
		return errdefs.Is(err, errdefs.NotFound)
	})
}

// A monitor that dies while an exec runs: the wait is asked again; the
// same monitor (a lost connection) still reports the real code, a new one
// (which never knew the exec) gets it recorded as ended, code unknown,
// not "Running" forever.
func TestExecSurvivesTheMonitorDying(t *testing.T) {
	h := newHarness(t)
	h.run("box", nil, nil)
	start := func() (string, *fakeExec) {
		t.Helper()
		execID, err := h.ExecCreate(bg, "box", ctypes.ExecCreateRequest{Cmd: []string{"sleep", "9"}})
		if err != nil {
			t.Fatal(err)
		}
		if err := h.ExecStart(bg, execID, ExecStartOptions{Detach: true}); err != nil {
			t.Fatal(err)
		}
		var x *fakeExec
		waitFor(t, "the monitor's exec", func() bool { x = h.mon.exec(execID); return x != nil })
		return execID, x
	}
	ended := func(execID string, code int) {
		t.Helper()
		waitFor(t, "the exec's exit "+strconv.Itoa(code), func() bool {
			insp, err := h.ExecInspect(bg, execID)
			return err == nil && !insp.Running && insp.ExitCode != nil && *insp.ExitCode == code
		})
	}

	execID, x := start()
	time.Sleep(20 * time.Millisecond) // watchExec waits
	x.monitorDies(false)
	time.Sleep(100 * time.Millisecond)
	if insp, _ := h.ExecInspect(bg, execID); !insp.Running {
		t.Errorf("running exec after a lost connection: %+v", insp)
	}
	x.finish(t, "", 4)
	ended(execID, 4)

	execID, x = start()
	time.Sleep(20 * time.Millisecond)
	x.monitorDies(true)
	ended(execID, exitUnknown)
}

type wrappedErr struct {
	msg string
	err error
}

func (w *wrappedErr) Error() string { return w.msg }
func (w *wrappedErr) Unwrap() error { return w.err }

func (h *harness) snapInspect(ref string) ctypes.InspectResponse {
	h.t.Helper()
	in, err := h.Inspect(bg, ref, false)
	if err != nil {
		h.t.Fatal(err)
	}
	return in
}
