package runtimetest

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/berth-dev/berth/internal/runtime"
)

// testExecAfterAdoption re-adopts a running container with a second
// runtime value (runtime.Adopter; skipped for a runtime without it), as a
// restarted monitor does, having only the bundle, the state dir and a
// pidfd of the init: the adopted task must exec into the container (in
// its namespaces and cgroup), kill it and delete everything its creator
// made.
func testExecAfterAdoption(t *testing.T, s *suite) {
	ad, ok := s.newRT(t).(runtime.Adopter)
	if !ok {
		t.Skip("the runtime does not implement runtime.Adopter")
	}
	spec := s.spec("sh", "-c", "echo ready; exec sleep 100")
	c, err := s.create(t, spec, nil)
	if err != nil {
		t.Fatal(err)
	}
	creator := c.task
	defer func() {
		c.task.Kill(context.Background(), unix.SIGKILL, true)
		c.wait(t)
		s.delete(t, c)
	}()
	if _, ok := creator.(runtime.Execer); !ok {
		t.Skip("the runtime's tasks do not implement runtime.Execer")
	}
	startAndWaitReady(t, c)
	// From here on the creator's task is abandoned, as by a monitor that
	// died: everything goes through the adopted one.
	fd, err := unix.PidfdOpen(creator.Pid(), 0)
	if err != nil {
		t.Fatal(err)
	}
	pidfd := os.NewFile(uintptr(fd), "pidfd")
	defer pidfd.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	task, err := ad.Adopt(ctx, c.id, runtime.AdoptOpts{Bundle: c.bundle, StateDir: filepath.Join(c.bundle, "state"), Pid: creator.Pid(), Pidfd: pidfd})
	if err != nil {
		t.Fatal(err)
	}
	c.task = task
	if task.Pid() != creator.Pid() || task.ID() != c.id {
		t.Errorf("adopted task: pid %d id %s, want %d %s", task.Pid(), task.ID(), creator.Pid(), c.id)
	}
	ex, ok := task.(runtime.Execer)
	if !ok {
		t.Fatal("the adopted task does not implement runtime.Execer, the created one does")
	}
	pr := *spec.Process
	pr.Args = []string{"sh", "-c", "echo ok; exec sleep 100"}
	p, out := s.exec(t, c, ex, &pr)
	if l := <-out.line; l != "ok\n" {
		t.Errorf("exec's first line %q, want ok", l)
	}
	for _, ns := range []string{"pid", "mnt", "net", "cgroup"} {
		want, _ := os.Readlink(fmt.Sprintf("/proc/%d/ns/%s", task.Pid(), ns))
		if got, _ := os.Readlink(fmt.Sprintf("/proc/%d/ns/%s", p.Pid(), ns)); got != want || got == "" {
			t.Errorf("exec's %s namespace %q, container's %q", ns, got, want)
		}
	}
	want, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cgroup", task.Pid()))
	if got, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cgroup", p.Pid())); string(got) != string(want) {
		t.Errorf("exec's cgroups\n%s\ncontainer's\n%s", got, want)
	}
	p.Kill(context.Background(), unix.SIGKILL)
	if code := s.reap(t, p); code != 128+int(unix.SIGKILL) {
		t.Errorf("exec's exit %d after SIGKILL", code)
	}
	pr.Args = []string{"sh", "-c", "exit 3"}
	p, _ = s.exec(t, c, ex, &pr)
	if code := s.reap(t, p); code != 3 {
		t.Errorf("exec's exit %d, want 3", code)
	}
	// The deferred Kill and Delete go through the adopted task: the
	// container's cgroup and state dir must be gone after.
}
