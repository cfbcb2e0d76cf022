package engine

import (
	"testing"
	"time"

	ctypes "github.com/moby/moby/api/types/container"

	"github.com/berth-dev/berth/internal/apiserver/router/containers"
)

func policy(name string, max int) *ctypes.HostConfig {
	return &ctypes.HostConfig{RestartPolicy: ctypes.RestartPolicy{Name: ctypes.RestartPolicyMode(name), MaximumRetryCount: max}}
}

func (h *harness) waitRunningAgain(id string, oldPid int) {
	h.t.Helper()
	waitFor(h.t, "restart", func() bool {
		s := h.snap(id).State
		return s.Status == ctypes.StateRunning && s.Pid != oldPid
	})
}

func TestRestartAlways(t *testing.T) {
	h := newHarness(t)
	id := h.run("web", nil, policy("always", 0))
	pid := h.snap(id).State.Pid
	next, _ := h.Wait(bg, id, ctypes.WaitConditionNextExit)
	h.mon.exit(id, 0)
	select {
	case r := <-next:
		if r.StatusCode != 0 {
			t.Fatalf("%+v", r)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("next-exit did not fire on a policy restart")
	}
	h.waitRunningAgain(id, pid)
	if c := h.snap(id); c.RestartCount != 1 {
		t.Fatalf("restart count %d", c.RestartCount)
	}
	// docker kill does not stop an always container for good...
	pid = h.snap(id).State.Pid
	if err := h.Kill(bg, id, "KILL"); err != nil {
		t.Fatal(err)
	}
	h.waitRunningAgain(id, pid)
	// ...docker stop does.
	if err := h.Stop(bg, id, containers.StopOptions{}); err != nil {
		t.Fatal(err)
	}
	time.Sleep(300 * time.Millisecond)
	if s := h.snap(id).State; s.Status != ctypes.StateExited {
		t.Fatalf("restarted after stop: %+v", s)
	}
	// rm -f of a running always container removes it.
	h.Start(bg, id)
	if err := h.Remove(bg, id, containers.RemoveOptions{Force: true}); err != nil {
		t.Fatal(err)
	}
	time.Sleep(300 * time.Millisecond)
	if len(h.containerDirs()) != 0 || h.layers.count() != 0 {
		t.Fatal("came back after rm -f")
	}
}

func TestRestartOnFailureMaxRetries(t *testing.T) {
	h := newHarness(t)
	id := h.run("web", nil, policy("on-failure", 2))
	for i := 1; i <= 2; i++ {
		pid := h.snap(id).State.Pid
		h.mon.exit(id, 1)
		h.waitRunningAgain(id, pid)
	}
	h.mon.exit(id, 1)
	waitFor(t, "final exit", func() bool { return h.snap(id).State.Status == ctypes.StateExited })
	time.Sleep(300 * time.Millisecond)
	if c := h.snap(id); c.State.Status != ctypes.StateExited || c.RestartCount != 2 {
		t.Fatalf("after max retries: %+v count %d", c.State, c.RestartCount)
	}
	// An explicit start resets the count; exit 0 is not a failure.
	h.Start(bg, id)
	h.mon.exit(id, 0)
	waitFor(t, "exit 0", func() bool { return h.snap(id).State.Status == ctypes.StateExited })
}

func TestRestartUnlessStoppedAndKill(t *testing.T) {
	h := newHarness(t)
	id := h.run("web", nil, policy("unless-stopped", 0))
	if err := h.Kill(bg, id, ""); err != nil {
		t.Fatal(err)
	}
	time.Sleep(300 * time.Millisecond)
	if c := h.snap(id); c.State.Status != ctypes.StateExited || !c.ManuallyStopped {
		t.Fatalf("unless-stopped restarted after kill: %+v", c.State)
	}
}

func TestRestoreAppliesRestartPolicy(t *testing.T) {
	h := newHarness(t)
	always := h.run("always", nil, policy("always", 0))
	unless := h.run("unless", nil, policy("unless-stopped", 0))
	h.Stop(bg, unless, containers.StopOptions{})
	stoppedAlways := h.run("stopped-always", nil, policy("always", 0))
	h.Stop(bg, stoppedAlways, containers.StopOptions{})
	never := h.create("never-started", nil, policy("always", 0))
	h.Close()

	h2 := newHarnessAt(t, h.cfg.DataRoot, t.TempDir(), h.layers, newFakeMonitor()) // host reboot
	if err := h2.Restore(bg); err != nil {
		t.Fatal(err)
	}
	for id, want := range map[string]ctypes.ContainerState{
		always:        ctypes.StateRunning,
		stoppedAlways: ctypes.StateRunning, // dockerd restarts "always" even after docker stop
		unless:        ctypes.StateExited,
		never:         ctypes.StateCreated,
	} {
		if s := h2.snap(id).State.Status; s != want {
			t.Errorf("%s: %s, want %s", h2.snap(id).Name, s, want)
		}
	}
}
