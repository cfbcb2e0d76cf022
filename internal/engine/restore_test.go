package engine

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	ctypes "github.com/moby/moby/api/types/container"

	"github.com/berth-dev/berth/internal/container"
	"github.com/berth-dev/berth/internal/monitor"
)

func TestRestoreReconciles(t *testing.T) {
	h := newHarness(t)
	alive := h.run("alive", nil, nil)
	exitedAway := h.run("exited-away", nil, nil)
	stopped := h.create("stopped", nil, nil)
	removing := h.create("removing", nil, nil)
	h.Close() // berthd goes away; the containers keep running

	// While berthd is away: one program exits; a record is left in
	// "removing"; a create crashed after making its layer and directory;
	// the monitor holds a stale task for a stopped container and one for
	// a container without a record.
	h.mon.exit(exitedAway, 7)
	ent, _ := h.store.Get(removing)
	ent.Update(func(c *container.Container) error { c.State.Status = ctypes.StateRemoving; return nil })
	orphan := container.NewID()
	h.layers.CreateRW(bg, orphan, "")
	os.MkdirAll(filepath.Join(h.cfg.DataRoot, "containers", orphan), 0o700)
	os.MkdirAll(h.bundleDir(stopped), 0o700)
	os.WriteFile(filepath.Join(h.bundleDir(stopped), "config.json"), []byte("{}"), 0o600)
	h.mon.Create(bg, monitor.CreateRequest{ID: stopped, Bundle: h.bundleDir(stopped)})
	strayLayer := container.NewID() // a layer whose record never existed
	h.layers.CreateRW(bg, strayLayer, "")
	stray := container.NewID()
	os.MkdirAll(h.bundleDir(stray), 0o700)
	os.WriteFile(filepath.Join(h.bundleDir(stray), "config.json"), []byte("{}"), 0o600)
	h.mon.Create(bg, monitor.CreateRequest{ID: stray, Bundle: h.bundleDir(stray)})
	h.mon.Start(bg, stray)

	h2 := newHarnessAt(t, h.cfg.DataRoot, h.cfg.ExecRoot, h.layers, h.mon)
	if err := h2.Restore(bg); err != nil {
		t.Fatal(err)
	}
	if s := h2.snap(alive).State; s.Status != ctypes.StateRunning {
		t.Fatalf("alive: %+v", s)
	}
	if s := h2.snap(exitedAway).State; s.Status != ctypes.StateExited || s.ExitCode != 7 {
		t.Fatalf("exited-away: %+v", s)
	}
	if h2.mon.has(exitedAway) || h2.layers.mounts(exitedAway) != 0 {
		t.Fatal("exited-away: runtime not released")
	}
	if _, err := h2.store.Get(removing); err == nil {
		t.Fatal("removing container was not removed")
	}
	if _, err := os.Stat(filepath.Join(h.cfg.DataRoot, "containers", orphan)); !os.IsNotExist(err) {
		t.Fatal("orphan dir left")
	}
	if _, ok := h.layers.rw[orphan]; ok {
		t.Fatal("orphan layer left")
	}
	if _, ok := h.layers.rw[strayLayer]; ok {
		t.Fatal("stray layer left")
	}
	if h2.mon.has(stopped) || h2.mon.has(stray) {
		t.Fatal("stale tasks left")
	}
	if s := h2.snap(stopped).State; s.Status != ctypes.StateCreated {
		t.Fatalf("stopped: %+v", s)
	}

	// The re-adopted container's exit is recorded by the new engine.
	h2.mon.exit(alive, 9)
	waitFor(t, "adopted exit", func() bool { return h2.snap(alive).State.Status == ctypes.StateExited })
	if s := h2.snap(alive).State; s.ExitCode != 9 {
		t.Fatalf("alive exit: %+v", s)
	}
}

// After a host reboot the monitor knows nothing: running containers are
// recorded exited with 255, and --rm ones are removed.
func TestRestoreAfterReboot(t *testing.T) {
	h := newHarness(t)
	a := h.run("a1", nil, nil)
	rm := h.run("rm1", nil, &ctypes.HostConfig{AutoRemove: true})
	h.Close()
	fresh := newFakeMonitor()
	h.layers.mounted = map[string]int{} // mounts are gone after a reboot
	h2 := newHarnessAt(t, h.cfg.DataRoot, t.TempDir(), h.layers, fresh)
	before := time.Now().UTC()
	if err := h2.Restore(bg); err != nil {
		t.Fatal(err)
	}
	s := h2.snap(a).State
	if s.Status != ctypes.StateExited || s.ExitCode != 255 || s.FinishedAt.Before(before) {
		t.Fatalf("state %+v", s)
	}
	if _, err := h2.store.Get(rm); err == nil {
		t.Fatal("--rm container kept")
	}
	if _, ok := h.layers.rw[rm]; ok {
		t.Fatal("--rm layer kept")
	}
	if err := h2.Start(bg, a); err != nil {
		t.Fatalf("start after reboot: %v", err)
	}
}
