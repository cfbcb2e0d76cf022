package engine

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	ctypes "github.com/moby/moby/api/types/container"

	"github.com/berth-dev/berth/internal/apiserver/router/containers"
	"github.com/berth-dev/berth/internal/container"
	"github.com/berth-dev/berth/internal/errdefs"
	"github.com/berth-dev/berth/internal/runtime"
)

var bg = context.Background()

func (h *harness) create(name string, cfg *ctypes.Config, hc *ctypes.HostConfig) string {
	h.t.Helper()
	if cfg == nil {
		cfg = &ctypes.Config{Image: "busybox"}
	}
	resp, err := h.Create(bg, containers.CreateRequest{Name: name, Config: cfg, HostConfig: hc})
	if err != nil {
		h.t.Fatalf("create %s: %v", name, err)
	}
	return resp.ID
}

func (h *harness) snap(ref string) *container.Container {
	h.t.Helper()
	ent, err := h.store.Get(ref)
	if err != nil {
		h.t.Fatalf("get %s: %v", ref, err)
	}
	return ent.Snapshot()
}

func (h *harness) run(name string, cfg *ctypes.Config, hc *ctypes.HostConfig) string {
	h.t.Helper()
	id := h.create(name, cfg, hc)
	if err := h.Start(bg, id); err != nil {
		h.t.Fatalf("start %s: %v", name, err)
	}
	return id
}

// containerDirs lists what is under <data-root>/containers.
func (h *harness) containerDirs() []string {
	ents, _ := os.ReadDir(filepath.Join(h.cfg.DataRoot, "containers"))
	var out []string
	for _, e := range ents {
		out = append(out, e.Name())
	}
	return out
}

func TestCreateMergesImageConfig(t *testing.T) {
	h := newHarness(t)
	id := h.create("web", &ctypes.Config{
		Image:  "busybox",
		Env:    []string{"FOO=user", "BAR=1"},
		Labels: map[string]string{"both": "user"},
	}, nil)
	c := h.snap("web")
	if c.ID != id || c.Name != "/web" || c.State.Status != ctypes.StateCreated {
		t.Fatalf("record %+v", c)
	}
	if c.Path != "sh" || len(c.Args) != 0 {
		t.Fatalf("path/args %q %q", c.Path, c.Args)
	}
	if !slices.Equal(c.Config.Env, []string{"FOO=user", "BAR=1", "PATH=/bin"}) {
		t.Fatalf("env %q", c.Config.Env)
	}
	if c.Config.Labels["both"] != "user" || c.Config.Labels["from"] != "image" {
		t.Fatalf("labels %v", c.Config.Labels)
	}
	if c.Config.WorkingDir != "/work" || c.Config.StopSignal != "SIGQUIT" || c.Config.Hostname != id[:12] || c.Config.Image != "busybox" {
		t.Fatalf("config %+v", c.Config)
	}
	if c.HostConfig.Runtime != "berth" || c.HostConfig.LogConfig.Type != "json-file" || c.Driver != "vfs" {
		t.Fatalf("host config %+v driver %q", c.HostConfig, c.Driver)
	}
	if c.LogPath != filepath.Join(h.cfg.DataRoot, "containers", id, id+"-json.log") {
		t.Fatalf("log path %q", c.LogPath)
	}
	b, err := os.ReadFile(filepath.Join(h.cfg.DataRoot, "containers", id, "config.v2.json"))
	if err != nil || !json.Valid(b) {
		t.Fatalf("record on disk: %v", err)
	}
	if h.layers.count() != 1 || h.layers.rw[id] != "sha256:top" {
		t.Fatalf("layer %v", h.layers.rw)
	}
}

func TestCreateEntrypointResetsImageCmd(t *testing.T) {
	h := newHarness(t)
	h.create("a1", &ctypes.Config{Image: "busybox", Entrypoint: []string{"echo"}}, nil)
	if c := h.snap("a1"); c.Path != "echo" || len(c.Args) != 0 {
		t.Fatalf("entrypoint given: path %q args %q", c.Path, c.Args)
	}
	h.create("a2", &ctypes.Config{Image: "busybox", Cmd: []string{"ls", "-l"}}, nil)
	if c := h.snap("a2"); c.Path != "ls" || !slices.Equal(c.Args, []string{"-l"}) {
		t.Fatalf("cmd given: %q %q", c.Path, c.Args)
	}
}

func TestCreateGeneratedNameAndErrors(t *testing.T) {
	h := newHarness(t)
	h.create("", nil, nil)
	cs := h.store.List()
	if len(cs) != 1 || !strings.Contains(cs[0].Name, "_") {
		t.Fatalf("generated name: %+v", cs)
	}
	id := h.create("web", nil, nil)
	_, err := h.Create(bg, containers.CreateRequest{Name: "web", Config: &ctypes.Config{Image: "busybox"}})
	if !errdefs.Is(err, errdefs.Conflict) || !strings.Contains(err.Error(), `The container name "/web" is already in use by container "`+id+`"`) {
		t.Fatalf("conflict: %v", err)
	}
	_, err = h.Create(bg, containers.CreateRequest{Name: "-bad", Config: &ctypes.Config{Image: "busybox"}})
	if !errdefs.Is(err, errdefs.InvalidArgument) {
		t.Fatalf("bad name: %v", err)
	}
	_, err = h.Create(bg, containers.CreateRequest{Name: "x1", Config: &ctypes.Config{Image: "nope"}})
	if !errdefs.Is(err, errdefs.NotFound) || err.Error() != "No such image: nope" {
		t.Fatalf("no image: %v", err)
	}
	_, err = h.Create(bg, containers.CreateRequest{Name: "x2", Config: &ctypes.Config{Image: "busybox"}, HostConfig: &ctypes.HostConfig{Runtime: "kata"}})
	if !errdefs.Is(err, errdefs.InvalidArgument) {
		t.Fatalf("unknown runtime: %v", err)
	}
	_, err = h.Create(bg, containers.CreateRequest{Name: "x3", Config: &ctypes.Config{Image: "busybox"}, HostConfig: &ctypes.HostConfig{LogConfig: ctypes.LogConfig{Type: "syslog"}}})
	if !errdefs.Is(err, errdefs.InvalidArgument) {
		t.Fatalf("log driver: %v", err)
	}
	if len(h.store.List()) != 2 || len(h.containerDirs()) != 2 || h.layers.count() != 2 {
		t.Fatalf("failed creates left something: %d records, dirs %v, %d layers", len(h.store.List()), h.containerDirs(), h.layers.count())
	}
	if err := h.store.ReserveName("/x1", container.NewID()); err != nil {
		t.Fatalf("failed create kept its name: %v", err)
	}
}

func TestCreateUndoesEverythingOnFailure(t *testing.T) {
	for _, step := range []string{"CreateRW", "Metadata"} {
		t.Run(step, func(t *testing.T) {
			h := newHarness(t)
			h.layers.fail[step] = errors.New("injected")
			_, err := h.Create(bg, containers.CreateRequest{Name: "web", Config: &ctypes.Config{Image: "busybox"}})
			if err == nil || !strings.Contains(err.Error(), "injected") {
				t.Fatalf("want injected failure, got %v", err)
			}
			if len(h.store.List()) != 0 || len(h.containerDirs()) != 0 || h.layers.count() != 0 {
				t.Fatalf("left behind: records %d dirs %v layers %d", len(h.store.List()), h.containerDirs(), h.layers.count())
			}
			if _, err := h.store.Get("web"); !errdefs.Is(err, errdefs.NotFound) {
				t.Fatal("name still registered")
			}
			delete(h.layers.fail, step)
			h.create("web", nil, nil) // the name is free again
		})
	}
}

func TestStartRunsAndRecords(t *testing.T) {
	h := newHarness(t)
	id := h.create("web", &ctypes.Config{Image: "busybox", Tty: true, OpenStdin: true}, nil)
	if err := h.Start(bg, "web"); err != nil {
		t.Fatal(err)
	}
	c := h.snap(id)
	if c.State.Status != ctypes.StateRunning || c.State.Pid == 0 || c.State.StartedAt.IsZero() {
		t.Fatalf("state %+v", c.State)
	}
	req := h.mon.tasks[id].req
	if req.Bundle != filepath.Join(h.cfg.ExecRoot, "containers", id) || req.Runtime != "berth" || !req.Terminal || !req.OpenStdin {
		t.Fatalf("create request %+v", req)
	}
	if req.Log.Path != c.LogPath || req.Log.MaxSize != 20<<20 || req.Log.MaxFiles != 5 {
		t.Fatalf("log config %+v", req.Log)
	}
	var spec struct {
		Root    struct{ Path string }
		Process struct{ Args []string }
	}
	b, err := os.ReadFile(filepath.Join(req.Bundle, "config.json"))
	if err != nil || json.Unmarshal(b, &spec) != nil {
		t.Fatalf("bundle: %v", err)
	}
	if spec.Root.Path != filepath.Join(h.layers.root, id) || !slices.Equal(spec.Process.Args, []string{"sh"}) {
		t.Fatalf("spec %+v", spec)
	}
	if fi, err := os.Stat(filepath.Join(h.layers.root, id, "work")); err != nil || !fi.IsDir() {
		t.Fatalf("workdir not created: %v", err)
	}
	if b, _ := os.ReadFile(c.HostnamePath); string(b) != id[:12]+"\n" {
		t.Fatalf("hostname file %q", b)
	}
	if b, _ := os.ReadFile(c.HostsPath); !strings.Contains(string(b), "localhost") {
		t.Fatalf("hosts file %q", b)
	}
	if _, err := os.Stat(c.ResolvConfPath); err != nil {
		t.Fatal(err)
	}
	if err := h.Start(bg, id); !errdefs.Is(err, errdefs.NotModified) {
		t.Fatalf("second start: %v", err)
	}

	// The program ends: exit recorded, task deleted, rootfs unmounted.
	h.mon.exit(id, 3)
	waitFor(t, "exit recorded", func() bool { return h.snap(id).State.Status == ctypes.StateExited })
	c = h.snap(id)
	if c.State.ExitCode != 3 || c.State.Pid != 0 || c.State.FinishedAt.IsZero() {
		t.Fatalf("exit state %+v", c.State)
	}
	waitFor(t, "runtime released", func() bool { return !h.mon.has(id) && h.layers.mounts(id) == 0 })
	if _, err := os.Stat(req.Bundle); !os.IsNotExist(err) {
		t.Fatalf("bundle left: %v", err)
	}
	// And it can start again.
	if err := h.Start(bg, id); err != nil {
		t.Fatal(err)
	}
	if !h.snap(id).State.Running() {
		t.Fatal("restart failed")
	}
}

func TestStartExecNotFound(t *testing.T) {
	for _, tc := range []struct {
		cause error
		code  int
	}{
		{runtime.ErrExecNotFound, 127},
		{runtime.ErrExecPermission, 126},
	} {
		h := newHarness(t)
		id := h.create("web", nil, nil)
		h.mon.fail["Start"] = errors.Join(errors.New(`exec: "nope": executable file not found in $PATH`), tc.cause)
		err := h.Start(bg, id)
		if !errdefs.Is(err, errdefs.InvalidArgument) || !strings.HasPrefix(err.Error(), "failed to create task for container: ") || !errors.Is(err, tc.cause) {
			t.Fatalf("start error %v", err)
		}
		c := h.snap(id)
		if c.State.Status != ctypes.StateCreated || c.State.ExitCode != tc.code || !strings.Contains(c.State.Error, "executable file not found") {
			t.Fatalf("state %+v", c.State)
		}
		if h.mon.has(id) || h.layers.mounts(id) != 0 {
			t.Fatal("failed start left a task or a mount")
		}
		if _, err := os.Stat(h.bundleDir(id)); !os.IsNotExist(err) {
			t.Fatal("bundle left")
		}
	}
}

func TestStartUndoesOnFailure(t *testing.T) {
	h := newHarness(t)
	id := h.create("web", nil, nil)
	h.layers.fail["Mount"] = errors.New("injected mount")
	if err := h.Start(bg, id); err == nil {
		t.Fatal("start succeeded")
	}
	delete(h.layers.fail, "Mount")
	h.mon.fail["Create"] = errors.New("injected create")
	err := h.Start(bg, id)
	if err == nil || !strings.Contains(err.Error(), "injected create") {
		t.Fatalf("start: %v", err)
	}
	if h.layers.mounts(id) != 0 || h.mon.has(id) {
		t.Fatal("mount or task left")
	}
	if _, err := os.Stat(h.bundleDir(id)); !os.IsNotExist(err) {
		t.Fatal("bundle left")
	}
	c := h.snap(id)
	if c.State.Status != ctypes.StateCreated || !strings.Contains(c.State.Error, "injected create") {
		t.Fatalf("state %+v", c.State)
	}
	delete(h.mon.fail, "Create")
	if err := h.Start(bg, id); err != nil {
		t.Fatal(err)
	}
}

func TestStopSignalTimeoutAndKill(t *testing.T) {
	h := newHarness(t)
	id := h.run("web", nil, nil)
	if err := h.Stop(bg, id, containers.StopOptions{}); err != nil {
		t.Fatal(err)
	}
	// The image's StopSignal (SIGQUIT) was used; the fake exits 128+3.
	if c := h.snap(id); c.State.Status != ctypes.StateExited || c.State.ExitCode != 131 {
		t.Fatalf("state %+v", c.State)
	}
	if err := h.Stop(bg, id, containers.StopOptions{}); !errdefs.Is(err, errdefs.NotModified) {
		t.Fatalf("stop stopped: %v", err)
	}

	// A program ignoring the signal is killed after the timeout, and
	// reads do not wait for the stop.
	h.mon.ignoreTerm = true
	id2 := h.run("slow", nil, nil)
	one := 1
	var wg sync.WaitGroup
	wg.Add(1)
	start := time.Now()
	var stopErr error
	go func() {
		defer wg.Done()
		stopErr = h.Stop(bg, id2, containers.StopOptions{Signal: "TERM", Timeout: &one})
	}()
	waitFor(t, "SIGTERM sent", func() bool { return slices.Contains(h.mon.callLog(), "kill-15 "+id2) })
	for i := 0; i < 10; i++ {
		t0 := time.Now()
		if _, err := h.Inspect(bg, id2, false); err != nil {
			t.Fatal(err)
		}
		if _, err := h.List(bg, containers.ListOptions{}); err != nil {
			t.Fatal(err)
		}
		if d := time.Since(t0); d > 200*time.Millisecond {
			t.Fatalf("read waited %v during stop", d)
		}
	}
	if s := h.snap(id2).State; !s.Running() {
		t.Fatal("stopped before timeout")
	}
	wg.Wait()
	if stopErr != nil {
		t.Fatal(stopErr)
	}
	if d := time.Since(start); d < time.Second {
		t.Fatalf("stop returned after %v, before the timeout", d)
	}
	if c := h.snap(id2); c.State.ExitCode != 137 {
		t.Fatalf("state %+v", c.State)
	}
}

func TestKill(t *testing.T) {
	h := newHarness(t)
	id := h.create("web", nil, nil)
	err := h.Kill(bg, id, "")
	if !errdefs.Is(err, errdefs.Conflict) || err.Error() != "Container "+id+" is not running" {
		t.Fatalf("kill created: %v", err)
	}
	if err := h.Start(bg, id); err != nil {
		t.Fatal(err)
	}
	if err := h.Kill(bg, id, "NOPE"); !errdefs.Is(err, errdefs.InvalidArgument) {
		t.Fatalf("bad signal: %v", err)
	}
	if err := h.Kill(bg, id, "SIGUSR1"); err != nil {
		t.Fatal(err)
	}
	if err := h.Kill(bg, id, "10"); err != nil {
		t.Fatal(err)
	}
	if !h.snap(id).State.Running() {
		t.Fatal("SIGUSR1 stopped it")
	}
	if err := h.Kill(bg, id, "KILL"); err != nil {
		t.Fatal(err)
	}
	// Kill with SIGKILL returns once the exit is recorded.
	if c := h.snap(id); c.State.Status != ctypes.StateExited || c.State.ExitCode != 137 {
		t.Fatalf("state after kill %+v", c.State)
	}
}

func TestWaitConditions(t *testing.T) {
	h := newHarness(t)
	id := h.create("web", nil, nil)
	ch, err := h.Wait(bg, id, "")
	if err != nil {
		t.Fatal(err)
	}
	if r := <-ch; r.StatusCode != 0 {
		t.Fatalf("not-running of created: %+v", r)
	}
	if _, err := h.Wait(bg, id, "bogus"); !errdefs.Is(err, errdefs.InvalidArgument) {
		t.Fatalf("bad condition: %v", err)
	}
	if _, err := h.Wait(bg, "nope", ""); !errdefs.Is(err, errdefs.NotFound) {
		t.Fatalf("missing: %v", err)
	}
	next, _ := h.Wait(bg, id, ctypes.WaitConditionNextExit)
	removed, _ := h.Wait(bg, id, ctypes.WaitConditionRemoved)
	if err := h.Start(bg, id); err != nil {
		t.Fatal(err)
	}
	select {
	case r := <-next:
		t.Fatalf("next-exit fired early: %+v", r)
	case <-time.After(50 * time.Millisecond):
	}
	h.mon.exit(id, 42)
	select {
	case r := <-next:
		if r.StatusCode != 42 {
			t.Fatalf("next-exit: %+v", r)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("next-exit never fired")
	}
	select {
	case r := <-removed:
		t.Fatalf("removed fired early: %+v", r)
	case <-time.After(50 * time.Millisecond):
	}
	if err := h.Remove(bg, id, containers.RemoveOptions{}); err != nil {
		t.Fatal(err)
	}
	if r := <-removed; r.StatusCode != 42 {
		t.Fatalf("removed: %+v", r)
	}
	// A cancelled wait closes the channel.
	id2 := h.run("other", nil, nil)
	ctx, cancel := context.WithCancel(bg)
	ch2, _ := h.Wait(ctx, id2, "")
	cancel()
	if _, ok := <-ch2; ok {
		t.Fatal("cancelled wait yielded a result")
	}
}

func TestRemove(t *testing.T) {
	h := newHarness(t)
	id := h.run("web", nil, nil)
	err := h.Remove(bg, "web", containers.RemoveOptions{})
	want := `cannot remove container "/web": container is running: stop the container before removing or force remove`
	if !errdefs.Is(err, errdefs.Conflict) || err.Error() != want {
		t.Fatalf("remove running: %v", err)
	}
	if err := h.Remove(bg, "web", containers.RemoveOptions{Force: true}); err != nil {
		t.Fatal(err)
	}
	if _, err := h.store.Get(id); !errdefs.Is(err, errdefs.NotFound) {
		t.Fatal("still registered")
	}
	if len(h.containerDirs()) != 0 || h.layers.count() != 0 || h.mon.has(id) {
		t.Fatalf("left: dirs %v layers %d task %v", h.containerDirs(), h.layers.count(), h.mon.has(id))
	}
	if _, err := os.Stat(h.bundleDir(id)); !os.IsNotExist(err) {
		t.Fatal("bundle left")
	}
	h.create("web", nil, nil) // name reusable
	if err := h.Remove(bg, "nope", containers.RemoveOptions{}); !errdefs.Is(err, errdefs.NotFound) {
		t.Fatal(err)
	}

	// A failed layer removal leaves the container dead, and a later
	// remove finishes the job.
	h.layers.fail["RemoveRW"] = errors.New("injected busy")
	if err := h.Remove(bg, "web", containers.RemoveOptions{}); err == nil {
		t.Fatal("remove succeeded")
	}
	if s := h.snap("web").State; s.Status != ctypes.StateDead {
		t.Fatalf("state %+v", s)
	}
	delete(h.layers.fail, "RemoveRW")
	if err := h.Remove(bg, "web", containers.RemoveOptions{}); err != nil {
		t.Fatal(err)
	}
}

func TestAutoRemove(t *testing.T) {
	h := newHarness(t)
	id := h.run("web", nil, &ctypes.HostConfig{AutoRemove: true})
	removed, _ := h.Wait(bg, id, ctypes.WaitConditionRemoved)
	h.mon.exit(id, 5)
	select {
	case r := <-removed:
		if r.StatusCode != 5 {
			t.Fatalf("%+v", r)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("not removed")
	}
	if len(h.containerDirs()) != 0 || h.layers.count() != 0 {
		t.Fatal("left behind")
	}
}

func TestRenameAndRestart(t *testing.T) {
	h := newHarness(t)
	id := h.run("web", nil, nil)
	h.create("db", nil, nil)
	if err := h.Rename(bg, "web", "db"); !errdefs.Is(err, errdefs.Conflict) || !strings.HasPrefix(err.Error(), "Error when allocating new name: Conflict.") {
		t.Fatalf("rename conflict: %v", err)
	}
	if err := h.Rename(bg, "web", "web"); !errdefs.Is(err, errdefs.InvalidArgument) {
		t.Fatalf("same name: %v", err)
	}
	if err := h.Rename(bg, "web", "b@d"); !errdefs.Is(err, errdefs.InvalidArgument) {
		t.Fatalf("bad name: %v", err)
	}
	if err := h.Rename(bg, "web", "front"); err != nil {
		t.Fatal(err)
	}
	if h.snap("front").ID != id {
		t.Fatal("rename lost")
	}
	pid := h.snap(id).State.Pid
	if err := h.Restart(bg, "front", containers.StopOptions{}); err != nil {
		t.Fatal(err)
	}
	if s := h.snap(id).State; !s.Running() || s.Pid == pid {
		t.Fatalf("restart: %+v", s)
	}
}

func TestPrune(t *testing.T) {
	h := newHarness(t)
	running := h.run("r1", nil, nil)
	h.create("c1", &ctypes.Config{Image: "busybox", Labels: map[string]string{"keep": "yes"}}, nil)
	c2 := h.create("c2", nil, nil)
	ex := h.run("e1", nil, nil)
	h.mon.exit(ex, 0)
	waitFor(t, "exit", func() bool { return !h.snap(ex).State.Running() })

	rep, err := h.Prune(bg, filtersOf("label!", "keep=yes"))
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(rep.ContainersDeleted)
	want := []string{c2, ex}
	slices.Sort(want)
	if !slices.Equal(rep.ContainersDeleted, want) {
		t.Fatalf("deleted %v want %v", rep.ContainersDeleted, want)
	}
	if _, err := h.store.Get(running); err != nil {
		t.Fatal("running container pruned")
	}
	if _, err := h.Prune(bg, filtersOf("bogus", "1")); !errdefs.Is(err, errdefs.InvalidArgument) {
		t.Fatal("bad filter accepted")
	}
	rep, _ = h.Prune(bg, filtersOf("until", "1h"))
	if len(rep.ContainersDeleted) != 0 {
		t.Fatalf("until 1h pruned new containers: %v", rep.ContainersDeleted)
	}
	rep, _ = h.Prune(bg, filtersOf())
	if len(rep.ContainersDeleted) != 1 {
		t.Fatalf("prune all: %v", rep.ContainersDeleted)
	}
}

// docker rm -f of a --rm container races with its auto-removal; the user's
// remove must still succeed.
func TestForceRemoveAutoRemoveContainer(t *testing.T) {
	for i := 0; i < 20; i++ {
		h := newHarness(t)
		id := h.run("web", nil, &ctypes.HostConfig{AutoRemove: true})
		if err := h.Remove(bg, id, containers.RemoveOptions{Force: true}); err != nil {
			t.Fatalf("iteration %d: %v", i, err)
		}
		waitFor(t, "removed", func() bool { return len(h.containerDirs()) == 0 && h.layers.count() == 0 })
	}
}

// docker run --rm waits for the removal: a failed start must remove.
func TestStartFailureAutoRemoves(t *testing.T) {
	h := newHarness(t)
	id := h.create("web", nil, &ctypes.HostConfig{AutoRemove: true})
	removed, _ := h.Wait(bg, id, ctypes.WaitConditionRemoved)
	h.mon.fail["Start"] = errors.Join(errors.New(`exec: "nope": executable file not found in $PATH`), runtime.ErrExecNotFound)
	if err := h.Start(bg, id); err == nil {
		t.Fatal("start succeeded")
	}
	select {
	case r := <-removed:
		if r.StatusCode != 127 {
			t.Fatalf("%+v", r)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("not removed")
	}
	if len(h.containerDirs()) != 0 || h.layers.count() != 0 {
		t.Fatal("left behind")
	}
}

func TestConcurrentCreateSameNameAndStart(t *testing.T) {
	h := newHarness(t)
	const n = 8
	errs := make(chan error, n)
	for i := 0; i < n; i++ {
		go func() {
			_, err := h.Create(bg, containers.CreateRequest{Name: "web", Config: &ctypes.Config{Image: "busybox"}})
			errs <- err
		}()
	}
	ok := 0
	for i := 0; i < n; i++ {
		if err := <-errs; err == nil {
			ok++
		} else if !errdefs.Is(err, errdefs.Conflict) {
			t.Fatal(err)
		}
	}
	if ok != 1 || len(h.containerDirs()) != 1 || h.layers.count() != 1 {
		t.Fatalf("%d creates succeeded; dirs %v layers %d", ok, h.containerDirs(), h.layers.count())
	}
	for i := 0; i < n; i++ {
		go func() { errs <- h.Start(bg, "web") }()
	}
	started := 0
	for i := 0; i < n; i++ {
		if err := <-errs; err == nil {
			started++
		} else if !errdefs.Is(err, errdefs.NotModified) {
			t.Fatal(err)
		}
	}
	if started != 1 {
		t.Fatalf("%d starts succeeded", started)
	}
}

// A task left behind by a failed cleanup does not block the next start.
func TestStartClearsStaleTask(t *testing.T) {
	h := newHarness(t)
	id := h.create("web", nil, nil)
	os.MkdirAll(h.bundleDir(id), 0o700)
	os.WriteFile(filepath.Join(h.bundleDir(id), "config.json"), []byte("{}"), 0o600)
	if _, err := h.mon.Create(bg, monitorReq(id, h.bundleDir(id))); err != nil {
		t.Fatal(err)
	}
	if err := h.Start(bg, id); err != nil {
		t.Fatal(err)
	}
}
