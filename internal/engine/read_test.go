package engine

import (
	"bytes"
	"context"
	"encoding/binary"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	ctypes "github.com/moby/moby/api/types/container"

	"github.com/berth-dev/berth/internal/apiserver/router/containers"
	"github.com/berth-dev/berth/internal/containerlog"
	"github.com/berth-dev/berth/internal/errdefs"
	"github.com/berth-dev/berth/internal/filters"
)

func filtersOf(kv ...string) filters.Args {
	f := filters.NewArgs()
	for i := 0; i+1 < len(kv); i += 2 {
		f.Add(kv[i], kv[i+1])
	}
	return f
}

func names(sums []ctypes.Summary) []string {
	var out []string
	for _, s := range sums {
		out = append(out, s.Names[0])
	}
	return out
}

func TestListFilters(t *testing.T) {
	h := newHarness(t)
	a := h.create("alpha", &ctypes.Config{Image: "busybox", Labels: map[string]string{"tier": "web"}}, nil)
	time.Sleep(2 * time.Millisecond)
	b := h.run("beta", nil, nil)
	time.Sleep(2 * time.Millisecond)
	g := h.run("gamma", &ctypes.Config{Image: "busybox", Labels: map[string]string{"tier": "db"}}, nil)
	h.mon.exit(g, 3)
	waitFor(t, "exit", func() bool { return !h.snap(g).State.Running() })

	cases := []struct {
		opts containers.ListOptions
		want []string
	}{
		{containers.ListOptions{}, []string{"/beta"}},
		{containers.ListOptions{All: true}, []string{"/gamma", "/beta", "/alpha"}},
		{containers.ListOptions{Limit: 2}, []string{"/gamma", "/beta"}},
		{containers.ListOptions{Filters: filtersOf("status", "exited")}, []string{"/gamma"}},
		{containers.ListOptions{Filters: filtersOf("status", "created")}, []string{"/alpha"}},
		{containers.ListOptions{All: true, Filters: filtersOf("label", "tier")}, []string{"/gamma", "/alpha"}},
		{containers.ListOptions{All: true, Filters: filtersOf("label", "tier=db")}, []string{"/gamma"}},
		{containers.ListOptions{All: true, Filters: filtersOf("name", "^/al")}, []string{"/alpha"}},
		{containers.ListOptions{All: true, Filters: filtersOf("name", "mm")}, []string{"/gamma"}},
		{containers.ListOptions{All: true, Filters: filtersOf("id", a[:8])}, []string{"/alpha"}},
		{containers.ListOptions{All: true, Filters: filtersOf("exited", "3")}, []string{"/gamma"}},
		{containers.ListOptions{All: true, Filters: filtersOf("exited", "0")}, nil},
		{containers.ListOptions{All: true, Filters: filtersOf("ancestor", "busybox")}, []string{"/gamma", "/beta", "/alpha"}},
		{containers.ListOptions{All: true, Filters: filtersOf("ancestor", "other")}, nil},
		{containers.ListOptions{All: true, Filters: filtersOf("before", "gamma")}, []string{"/beta", "/alpha"}},
		{containers.ListOptions{All: true, Filters: filtersOf("since", "alpha")}, []string{"/gamma", "/beta"}},
	}
	for _, c := range cases {
		got, err := h.List(bg, c.opts)
		if err != nil {
			t.Fatalf("%+v: %v", c.opts, err)
		}
		if !slices.Equal(names(got), c.want) {
			t.Errorf("%+v: got %v want %v", c.opts, names(got), c.want)
		}
	}
	for _, bad := range []filters.Args{filtersOf("bogus", "x"), filtersOf("status", "sleeping"), filtersOf("exited", "x"), filtersOf("before", "nope")} {
		if _, err := h.List(bg, containers.ListOptions{Filters: bad}); err == nil {
			t.Errorf("filter %v accepted", bad)
		}
	}
	sums, _ := h.List(bg, containers.ListOptions{Filters: filtersOf("id", b)})
	s := sums[0]
	if s.ID != b || s.Image != "busybox" || s.ImageID != string(busyboxImage().ID) || s.Command != "sh" || s.State != "running" ||
		!strings.HasPrefix(s.Status, "Up ") || s.Ports == nil || s.Labels == nil || s.NetworkSettings == nil {
		t.Fatalf("summary %+v", s)
	}
}

func TestInspectShape(t *testing.T) {
	h := newHarness(t)
	id := h.run("web", &ctypes.Config{Image: "busybox", Cmd: []string{"sleep", "9"}}, &ctypes.HostConfig{Binds: []string{"/tmp:/data:ro"}})
	in, err := h.Inspect(bg, "web", false)
	if err != nil {
		t.Fatal(err)
	}
	if in.ID != id || in.Name != "/web" || in.Path != "sleep" || !slices.Equal(in.Args, []string{"9"}) || in.Image != string(busyboxImage().ID) {
		t.Fatalf("inspect %+v", in)
	}
	if in.State == nil || !in.State.Running || in.State.Status != "running" || in.State.Pid == 0 || in.State.FinishedAt != "0001-01-01T00:00:00Z" {
		t.Fatalf("state %+v", in.State)
	}
	if _, err := time.Parse(time.RFC3339Nano, in.State.StartedAt); err != nil {
		t.Fatalf("StartedAt %q", in.State.StartedAt)
	}
	if in.GraphDriver == nil || in.GraphDriver.Name != "vfs" || in.GraphDriver.Data["Dir"] == "" {
		t.Fatalf("graph driver %+v", in.GraphDriver)
	}
	if len(in.Mounts) != 1 || in.Mounts[0].Destination != "/data" || in.Mounts[0].RW || in.Mounts[0].Type != "bind" {
		t.Fatalf("mounts %+v", in.Mounts)
	}
	if in.Config == nil || in.HostConfig == nil || in.NetworkSettings == nil || in.NetworkSettings.Networks == nil {
		t.Fatal("missing sections")
	}
	if in.HostnamePath == "" || in.LogPath == "" || in.Driver != "vfs" || in.Platform != "linux" {
		t.Fatalf("paths %+v", in)
	}
	if _, err := h.Inspect(bg, "nope", false); !errdefs.Is(err, errdefs.NotFound) || err.Error() != "No such container: nope" {
		t.Fatal(err)
	}
	tty, err := h.ContainerTTY(bg, id)
	if err != nil || tty {
		t.Fatal(tty, err)
	}
}

// demux splits stdcopy frames.
func demux(t *testing.T, b []byte) (out, errOut string) {
	t.Helper()
	for len(b) > 0 {
		if len(b) < 8 {
			t.Fatalf("short frame %q", b)
		}
		n := binary.BigEndian.Uint32(b[4:8])
		p := string(b[8 : 8+n])
		switch b[0] {
		case 1:
			out += p
		case 2:
			errOut += p
		default:
			t.Fatalf("stream %d", b[0])
		}
		b = b[8+n:]
	}
	return out, errOut
}

func writeLog(t *testing.T, path string, msgs ...containerlog.Message) {
	t.Helper()
	w, err := containerlog.NewWriter(containerlog.Config{Path: path, MaxFiles: 1})
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range msgs {
		if err := w.WriteMessage(m); err != nil {
			t.Fatal(err)
		}
	}
	w.Close()
}

func TestLogs(t *testing.T) {
	h := newHarness(t)
	id := h.create("web", nil, nil)
	c := h.snap(id)
	t0 := time.Date(2026, 1, 2, 3, 4, 5, 6, time.UTC)
	writeLog(t, c.LogPath,
		containerlog.Message{Stream: "stdout", Line: []byte("one\n"), Time: t0},
		containerlog.Message{Stream: "stderr", Line: []byte("two\n"), Time: t0.Add(time.Second)},
		containerlog.Message{Stream: "stdout", Line: []byte("three\n"), Time: t0.Add(2 * time.Second)},
	)
	var buf bytes.Buffer
	if err := h.Logs(bg, id, containers.LogsOptions{Stdout: true, Stderr: true, Tail: "all"}, &buf); err != nil {
		t.Fatal(err)
	}
	out, errOut := demux(t, buf.Bytes())
	if out != "one\nthree\n" || errOut != "two\n" {
		t.Fatalf("out %q err %q", out, errOut)
	}
	buf.Reset()
	h.Logs(bg, id, containers.LogsOptions{Stdout: true, Tail: "1", Timestamps: true}, &buf)
	out, _ = demux(t, buf.Bytes())
	if out != "2026-01-02T03:04:07.000000006Z three\n" {
		t.Fatalf("tail+timestamps %q", out)
	}
	buf.Reset()
	h.Logs(bg, id, containers.LogsOptions{Stderr: true}, &buf)
	if _, errOut := demux(t, buf.Bytes()); errOut != "two\n" {
		t.Fatalf("stderr only %q", errOut)
	}
	// Follow of a stopped container returns at the end of the log.
	buf.Reset()
	ctx, cancel := context.WithTimeout(bg, 5*time.Second)
	defer cancel()
	if err := h.Logs(ctx, id, containers.LogsOptions{Stdout: true, Follow: true}, &buf); err != nil {
		t.Fatal(err)
	}
	if out, _ := demux(t, buf.Bytes()); out != "one\nthree\n" {
		t.Fatalf("follow %q", out)
	}
	// --log-driver none cannot be read.
	n := h.create("nolog", &ctypes.Config{Image: "busybox"}, &ctypes.HostConfig{LogConfig: ctypes.LogConfig{Type: "none"}})
	if err := h.Logs(bg, n, containers.LogsOptions{Stdout: true}, &buf); !errdefs.Is(err, errdefs.NotImplemented) {
		t.Fatal(err)
	}
}

func TestLogsFollowEndsAtExit(t *testing.T) {
	h := newHarness(t)
	id := h.run("web", &ctypes.Config{Image: "busybox", Tty: true}, nil)
	c := h.snap(id)
	writeLog(t, c.LogPath, containerlog.Message{Stream: "stdout", Line: []byte("raw\n"), Time: time.Now()})
	done := make(chan error, 1)
	var buf bytes.Buffer
	go func() { done <- h.Logs(bg, id, containers.LogsOptions{Stdout: true, Follow: true}, &buf) }()
	select {
	case err := <-done:
		t.Fatalf("follow returned while running: %v", err)
	case <-time.After(100 * time.Millisecond):
	}
	h.mon.exit(id, 0)
	select {
	case err := <-done:
		if err != nil || buf.String() != "raw\n" {
			t.Fatalf("follow: %v %q", err, buf.String())
		}
	case <-time.After(5 * time.Second):
		t.Fatal("follow did not end at exit")
	}
}

// The client attaches to a created container, then starts it: it must be
// connected before the program runs.
func TestAttachBeforeStart(t *testing.T) {
	h := newHarness(t)
	id := h.create("web", &ctypes.Config{Image: "busybox", OpenStdin: true}, nil)
	stdinR, stdinW := io.Pipe()
	var stdout, stderr bytes.Buffer
	done := make(chan error, 1)
	go func() {
		done <- h.Attach(bg, id, containers.AttachOptions{Stdin: stdinR, Stdout: &stdout, Stderr: &stderr, Stream: true})
	}()
	waitFor(t, "attach registered", func() bool {
		h.attachMu.Lock()
		defer h.attachMu.Unlock()
		return len(h.pending[id]) == 1
	})
	if err := h.Start(bg, id); err != nil {
		t.Fatal(err)
	}
	calls := h.mon.callLog()
	ia, is := slices.Index(calls, "attach "+id), slices.Index(calls, "start "+id)
	if ia < 0 || is < 0 || ia > is {
		t.Fatalf("attach must precede start: %v", calls)
	}
	// The monitor side: read stdin, write framed output.
	srv := h.mon.conn(id, 0)
	go func() {
		stdinW.Write([]byte("ping"))
	}()
	got := make([]byte, 4)
	if _, err := io.ReadFull(srv, got); err != nil || string(got) != "ping" {
		t.Fatalf("stdin %q %v", got, err)
	}
	srv.Write(append(frame(1, []byte("out\n")), frame(2, []byte("err\n"))...))
	h.mon.exit(id, 0) // closes the stream
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("attach did not end")
	}
	if stdout.String() != "out\n" || stderr.String() != "err\n" {
		t.Fatalf("stdout %q stderr %q", stdout.String(), stderr.String())
	}
}

func TestAttachPendingCancelledByRemove(t *testing.T) {
	h := newHarness(t)
	id := h.create("web", nil, nil)
	done := make(chan error, 1)
	go func() { done <- h.Attach(bg, id, containers.AttachOptions{Stdout: io.Discard, Stream: true}) }()
	waitFor(t, "attach registered", func() bool {
		h.attachMu.Lock()
		defer h.attachMu.Unlock()
		return len(h.pending[id]) == 1
	})
	if err := h.Remove(bg, id, containers.RemoveOptions{}); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if !errdefs.Is(err, errdefs.NotFound) {
			t.Fatal(err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("attach not released")
	}
}

func TestResize(t *testing.T) {
	h := newHarness(t)
	id := h.create("web", nil, nil)
	if err := h.Resize(bg, id, 24, 80); !errdefs.Is(err, errdefs.Conflict) {
		t.Fatal(err)
	}
	h.Start(bg, id)
	if err := h.Resize(bg, id, 24, 80); err != nil {
		t.Fatal(err)
	}
}

func TestInfoAndVersion(t *testing.T) {
	h := newHarness(t)
	h.run("r1", nil, nil)
	h.create("c1", nil, nil)
	info, err := h.Info(bg)
	if err != nil {
		t.Fatal(err)
	}
	if info.Containers != 2 || info.ContainersRunning != 1 || info.ContainersStopped != 1 || info.Images != 1 {
		t.Fatalf("counts %+v", info)
	}
	if info.Driver != "vfs" || info.DockerRootDir != h.cfg.DataRoot || info.OSType != "linux" || info.KernelVersion == "" ||
		info.NCPU < 1 || info.MemTotal <= 0 || info.DefaultRuntime != "berth" || info.ID == "" || info.CgroupDriver != "cgroupfs" {
		t.Fatalf("info %+v", info)
	}
	if _, ok := info.Runtimes["runc"]; !ok {
		t.Fatalf("runtimes %v", info.Runtimes)
	}
	info2, _ := h.Info(bg)
	if info2.ID != info.ID {
		t.Fatal("engine ID not stable")
	}
	v, err := h.Version(bg)
	if err != nil || v.APIVersion != "1.51" || v.MinAPIVersion != "1.24" || v.Os != "linux" || v.GoVersion == "" || len(v.Components) != 1 {
		t.Fatalf("version %+v %v", v, err)
	}
}

func TestParseOSRelease(t *testing.T) {
	m := parseOSRelease([]byte("NAME=\"Debian GNU/Linux\"\nPRETTY_NAME=\"Debian GNU/Linux 13 (trixie)\"\n# c\nVERSION_ID='13'\n"))
	if m["PRETTY_NAME"] != "Debian GNU/Linux 13 (trixie)" || m["VERSION_ID"] != "13" {
		t.Fatalf("%v", m)
	}
}

func TestRecordSurvivesRestart(t *testing.T) {
	h := newHarness(t)
	id := h.create("web", nil, nil)
	h.Close()
	h2 := newHarnessAt(t, h.cfg.DataRoot, h.cfg.ExecRoot, h.layers, h.mon)
	if err := h2.Restore(bg); err != nil {
		t.Fatal(err)
	}
	if c := h2.snap("web"); c.ID != id || c.State.Status != ctypes.StateCreated {
		t.Fatalf("%+v", c)
	}
	if _, err := os.Stat(filepath.Join(h.cfg.DataRoot, "containers", id)); err != nil {
		t.Fatal(err)
	}
}

func TestImageUser(t *testing.T) {
	h := newHarness(t)
	img := busyboxImage().ID
	if _, _, ok := h.ImageUser(img); ok {
		t.Fatal("unused image reported in use")
	}
	c1 := h.create("c1", nil, nil)
	if id, running, ok := h.ImageUser(img); !ok || running || id != c1 {
		t.Fatalf("stopped user: %s %v %v", id, running, ok)
	}
	r := h.run("r1", nil, nil)
	if id, running, ok := h.ImageUser(img); !ok || !running || id != r {
		t.Fatalf("running user: %s %v %v", id, running, ok)
	}
}

// With a TTY, ctrl-p ctrl-q detaches the client; the container runs on.
func TestAttachDetachKeys(t *testing.T) {
	h := newHarness(t)
	id := h.run("web", &ctypes.Config{Image: "busybox", Tty: true, OpenStdin: true}, nil)
	done := make(chan error, 1)
	go func() {
		done <- h.Attach(bg, id, containers.AttachOptions{Stdin: strings.NewReader("ab\x10\x11cd"), Stdout: io.Discard, Stream: true})
	}()
	waitFor(t, "attached", func() bool {
		h.mon.mu.Lock()
		defer h.mon.mu.Unlock()
		return len(h.mon.tasks[id].conns) == 1
	})
	srv := h.mon.conn(id, 0)
	got := make([]byte, 2)
	if _, err := io.ReadFull(srv, got); err != nil || string(got) != "ab" {
		t.Fatalf("stdin %q %v", got, err)
	}
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no detach")
	}
	if !h.snap(id).State.Running() {
		t.Fatal("detach stopped the container")
	}
	if err := h.Attach(bg, id, containers.AttachOptions{Stdin: strings.NewReader(""), Stdout: io.Discard, Stream: true, DetachKeys: "ctrl-"}); !errdefs.Is(err, errdefs.InvalidArgument) {
		t.Fatalf("bad keys: %v", err)
	}
}

func TestSizes(t *testing.T) {
	h := newHarness(t)
	id := h.create("web", nil, nil)
	os.WriteFile(filepath.Join(h.layers.root, id, "data"), make([]byte, 1000), 0o644)
	in, _ := h.Inspect(bg, id, true)
	if in.SizeRw == nil || *in.SizeRw != 1000 {
		t.Fatalf("SizeRw %v", in.SizeRw)
	}
	if in, _ := h.Inspect(bg, id, false); in.SizeRw != nil {
		t.Fatal("size without size=1")
	}
	sums, _ := h.List(bg, containers.ListOptions{All: true, Size: true})
	if sums[0].SizeRw != 1000 {
		t.Fatalf("ps -s %d", sums[0].SizeRw)
	}
	rep, _ := h.Prune(bg, filtersOf())
	if rep.SpaceReclaimed != 1000 {
		t.Fatalf("reclaimed %d", rep.SpaceReclaimed)
	}
}

// Attaching to a container that exits at that moment ends quietly.
func TestAttachRacingExit(t *testing.T) {
	h := newHarness(t)
	id := h.run("web", nil, nil)
	h.mon.mu.Lock()
	delete(h.mon.tasks, id) // the monitor forgot it; the record still says running
	h.mon.mu.Unlock()
	if err := h.Attach(bg, id, containers.AttachOptions{Stdout: io.Discard, Stream: true}); err != nil {
		t.Fatal(err)
	}
}
