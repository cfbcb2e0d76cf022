package monitor

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

func statesByID(t *testing.T, c Client) map[string]State {
	t.Helper()
	list, err := c.List(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]State{}
	for _, st := range list {
		out[st.ID] = st
	}
	return out
}

// A monitor that stops while containers run leaves them as orphans for
// the next one, which reports and controls them.
func TestMonitorRestartAdoptsOrphans(t *testing.T) {
	execRoot := t.TempDir()
	a := startMonitor(t, execRoot)
	ctx := context.Background()
	a.create(t, "orphan", ctrOpts{}, "sleep", "60")
	a.create(t, "idle", ctrOpts{}, "sleep", "60")
	a.create(t, "gone", ctrOpts{}, "sleep", "60")
	for _, id := range []string{"orphan", "gone"} {
		if err := a.client.Start(ctx, id); err != nil {
			t.Fatal(err)
		}
	}
	before := statesByID(t, a.client)
	a.stop()

	// "gone" dies while no monitor runs (reaped here: this test process
	// is its parent and no reaper runs now).
	gonePid := before["gone"].Pid
	syscall.Kill(gonePid, syscall.SIGKILL)
	// ECHILD: the process-wide reaper (its SIGCHLD handler outlives
	// monitor a in this test process) got there first; dead either way.
	var ws syscall.WaitStatus
	if _, err := syscall.Wait4(gonePid, &ws, 0, nil); err != nil && err != syscall.ECHILD {
		t.Fatal(err)
	}

	b := startMonitor(t, execRoot)
	after := statesByID(t, b.client)
	if st := after["orphan"]; !st.Running || st.Exit != nil || st.Pid != before["orphan"].Pid {
		t.Errorf("orphan = %+v", st)
	}
	if st := after["idle"]; st.Running || st.Exit != nil {
		t.Errorf("idle = %+v", st)
	}
	if ex := waitExit(t, b.client, "gone"); ex.Code != UnknownExitCode {
		t.Errorf("gone exit %+v, want %d", ex, UnknownExitCode)
	}
	// The orphan's output is resumed: what its stdout pipe gets now
	// reaches an attached client.
	conn, err := b.client.Attach(ctx, "orphan", AttachOptions{Stdout: true})
	if err != nil {
		t.Fatal(err)
	}
	out, err := os.OpenFile("/proc/"+strconv.Itoa(after["orphan"].Pid)+"/fd/1", os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	out.WriteString("resumed\n")
	out.Close()
	conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	frame := make([]byte, 8+len("resumed\n"))
	if _, err := io.ReadFull(conn, frame); err != nil || frame[0] != 1 || string(frame[8:]) != "resumed\n" {
		t.Errorf("orphan attach read %q, %v; want a stdout frame of %q", frame, err, "resumed\n")
	}
	conn.Close()
	// Signals reach it; being its reaper too, b gets the real status.
	if err := b.client.Kill(ctx, "orphan", syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if ex := waitExit(t, b.client, "orphan"); ex.Code != 143 {
		t.Errorf("orphan exit %+v, want 143", ex)
	}
	idlePid := after["idle"].Pid
	if err := b.client.Delete(ctx, "idle"); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Kill(idlePid, 0); err != syscall.ESRCH {
		t.Errorf("idle pid %d alive after Delete: %v", idlePid, err)
	}
	for _, id := range []string{"orphan", "gone"} {
		if err := b.client.Delete(ctx, id); err != nil {
			t.Errorf("Delete %s: %v", id, err)
		}
		if _, err := os.Stat(filepath.Join(execRoot, "containers", id, "state.json")); !os.IsNotExist(err) {
			t.Errorf("%s state.json after Delete: %v", id, err)
		}
	}
}

// A monitor process that is SIGKILLed: the next one adopts the orphan,
// which is no longer its child; its exit status comes from taskstats
// (see exitWatch), or is unknown (255) where that is unavailable.
func TestMonitorCrashLeavesOrphansToTheNext(t *testing.T) {
	execRoot := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	self, _ := os.Executable()
	monitorPid := func() int {
		data, _ := os.ReadFile(filepath.Join(execRoot, "monitor.pid"))
		pid, _ := strconv.Atoi(strings.TrimSpace(string(data)))
		return pid
	}
	killMonitor := func(pid int, sig syscall.Signal) {
		syscall.Kill(pid, sig)
		for i := 0; i < 300 && syscall.Kill(pid, 0) == nil; i++ {
			if isZombie(pid) {
				var ws syscall.WaitStatus
				syscall.Wait4(pid, &ws, syscall.WNOHANG, nil) // we may be its subreaper
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	c, err := Ensure(ctx, execRoot, "", self)
	if err != nil {
		t.Fatal(err)
	}
	first := monitorPid()
	m := &testMonitor{execRoot: execRoot, client: c}
	m.create(t, "survivor", ctrOpts{}, "sh", "-c", `trap "exit 42" TERM; while :; do sleep 0.05; done`)
	if err := c.Start(ctx, "survivor"); err != nil {
		t.Fatal(err)
	}
	st, _ := c.State(ctx, "survivor")
	t.Cleanup(func() {
		syscall.Kill(st.Pid, syscall.SIGKILL)
		var ws syscall.WaitStatus
		syscall.Wait4(st.Pid, &ws, syscall.WNOHANG, nil)
	})
	c.Close()
	killMonitor(first, syscall.SIGKILL)

	c2, err := Ensure(ctx, execRoot, "", self)
	if err != nil {
		t.Fatal(err)
	}
	m.client = c2
	second := monitorPid()
	t.Cleanup(func() { c2.Close(); killMonitor(second, syscall.SIGTERM) })
	if second == first {
		t.Fatalf("no new monitor (pid %d)", second)
	}
	got, err := c2.State(ctx, "survivor")
	if err != nil || !got.Running || got.Pid != st.Pid {
		t.Fatalf("survivor after crash = %+v, %v", got, err)
	}
	want := 42
	if w, err := newExitWatch(); err != nil {
		t.Logf("taskstats unavailable (%v): the exit status is unknown", err)
		want = UnknownExitCode
	} else {
		w.stop()
	}
	if err := c2.Kill(ctx, "survivor", syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if ex := waitExit(t, c2, "survivor"); ex.Code != want {
		t.Errorf("exit %+v, want %d", ex, want)
	}
}
