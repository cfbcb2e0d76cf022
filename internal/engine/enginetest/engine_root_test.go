package enginetest

import (
	"archive/tar"
	"bytes"
	"context"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	ctypes "github.com/moby/moby/api/types/container"
	"github.com/sirupsen/logrus"

	"github.com/berth-dev/berth/internal/apiserver/router/containers"
	"github.com/berth-dev/berth/internal/engine"
	"github.com/berth-dev/berth/internal/errdefs"
	"github.com/berth-dev/berth/internal/image"
	"github.com/berth-dev/berth/internal/layer"
	"github.com/berth-dev/berth/internal/monitor"
	"github.com/berth-dev/berth/internal/runtime"
	"github.com/berth-dev/berth/internal/runtime/linux"
	"github.com/berth-dev/berth/internal/runtime/runtimetest"
	"github.com/berth-dev/berth/internal/storage/vfs"
)

func TestMain(m *testing.M) {
	if len(os.Args) > 1 && os.Args[1] == "init" {
		linux.InitMain()
	}
	os.Exit(m.Run())
}

// busyboxTar is a rootfs tar: the host's static busybox, a few applets,
// /etc/passwd and /etc/group.
func busyboxTar(t *testing.T) io.Reader {
	t.Helper()
	bb, err := os.ReadFile("/bin/busybox")
	if err != nil {
		t.Skip("no /bin/busybox (apt-get install busybox-static)")
	}
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	dir := func(name string) {
		tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: name + "/", Mode: 0o755})
	}
	file := func(name string, mode int64, data []byte) {
		tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: name, Mode: mode, Size: int64(len(data))})
		tw.Write(data)
	}
	for _, d := range []string{"bin", "etc", "tmp", "proc", "sys", "dev"} {
		dir(d)
	}
	file("bin/busybox", 0o755, bb)
	for _, a := range []string{"sh", "echo", "sleep", "cat", "true", "ls", "hostname"} {
		tw.WriteHeader(&tar.Header{Typeflag: tar.TypeSymlink, Name: "bin/" + a, Linkname: "busybox", Mode: 0o777})
	}
	file("etc/passwd", 0o644, []byte("root:x:0:0:root:/root:/bin/sh\n"))
	file("etc/group", 0o644, []byte("root:x:0:\n"))
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return &buf
}

type env struct {
	*engine.Engine
	layers *layer.Store
	images *image.Store
	mon    monitor.Client
	cfg    engine.Config
}

func setup(t *testing.T) *env {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root")
	}
	ctx := context.Background()
	dataRoot := t.TempDir()
	execRoot, err := os.MkdirTemp("/tmp", "berth-eng-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(execRoot) })
	// A cgroup parent of this test's own, removed at the end.
	cgroupParent := filepath.Base(execRoot)
	t.Cleanup(func() { runtimetest.RemoveCgroupTree(cgroupParent) })

	drv, err := vfs.New(dataRoot)
	if err != nil {
		t.Fatal(err)
	}
	ls, err := layer.NewStore(dataRoot, drv)
	if err != nil {
		t.Fatal(err)
	}
	is, err := image.NewStore(dataRoot, ls)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := is.Import(ctx, busyboxTar(t), "busybox", "latest", []string{`CMD ["sh"]`}, "", io.Discard); err != nil {
		t.Fatal(err)
	}

	mctx, stopMonitor := context.WithCancel(ctx)
	served := make(chan error, 1)
	go func() {
		served <- monitor.Serve(mctx, monitor.Config{
			ExecRoot: execRoot,
			Runtimes: func(name string, _ []string) (runtime.Runtime, error) {
				if name != "berth" {
					return nil, errdefs.NotImplementedf("runtime %s", name)
				}
				return linux.New(linux.Options{}), nil
			},
			Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
		})
	}()
	var mon monitor.Client
	deadline := time.Now().Add(5 * time.Second)
	for {
		if mon, err = monitor.Dial(execRoot); err == nil {
			break
		}
		if time.Now().After(deadline) {
			stopMonitor()
			t.Fatalf("monitor: %v", err)
		}
		time.Sleep(10 * time.Millisecond)
	}
	logger := logrus.New()
	logger.SetOutput(io.Discard)
	cfg := engine.Config{
		DataRoot: dataRoot, ExecRoot: execRoot,
		CgroupParent:  cgroupParent,
		LogDefaults:   engine.DefaultLogDefaults,
		StorageDriver: ls.DriverName(),
		Images:        is, Layers: ls, Monitor: mon,
		Logger: logger,
	}
	e, err := engine.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	is.SetInUse(e.ImageUser)
	if err := e.Restore(ctx); err != nil {
		t.Fatal(err)
	}
	v := &env{Engine: e, layers: ls, images: is, mon: mon, cfg: cfg}
	t.Cleanup(func() {
		// Remove whatever a failed test left running, then stop.
		e := v.Engine
		cs, _ := e.List(ctx, containers.ListOptions{All: true})
		for _, c := range cs {
			if err := e.Remove(ctx, c.ID, containers.RemoveOptions{Force: true}); err != nil {
				t.Errorf("cleanup remove %s: %v", c.ID, err)
			}
		}
		e.Close()
		mon.Close()
		stopMonitor()
		select {
		case <-served:
		case <-time.After(10 * time.Second):
			t.Error("monitor did not stop")
		}
	})
	return v
}

// restart closes the engine and opens a new one on the same
// configuration, restored from disk, as a daemon restart does.
func (v *env) restart(t *testing.T) {
	t.Helper()
	v.Engine.Close()
	e2, err := engine.New(v.cfg)
	if err != nil {
		t.Fatal(err)
	}
	v.Engine = e2
	if err := e2.Restore(context.Background()); err != nil {
		t.Fatal(err)
	}
}

func (v *env) create(t *testing.T, name string, cfg *ctypes.Config, hc *ctypes.HostConfig) string {
	t.Helper()
	cfg.Image = "busybox"
	r, err := v.Create(context.Background(), containers.CreateRequest{Name: name, Config: cfg, HostConfig: hc})
	if err != nil {
		t.Fatal(err)
	}
	return r.ID
}

// docker run: attach, start, wait for the exit; output is not lost.
func TestRunAttachedOutputAndExitCode(t *testing.T) {
	v := setup(t)
	ctx := context.Background()
	id := v.create(t, "run1", &ctypes.Config{Cmd: []string{"sh", "-c", "echo hello; echo oops >&2; hostname; exit 3"}}, nil)
	var stdout, stderr bytes.Buffer
	attached := make(chan error, 1)
	go func() {
		attached <- v.Attach(ctx, id, containers.AttachOptions{Stdout: &stdout, Stderr: &stderr, Stream: true})
	}()
	time.Sleep(50 * time.Millisecond) // let the attach register (docker CLI: attach, then start)
	waitc, err := v.Wait(ctx, id, ctypes.WaitConditionNextExit)
	if err != nil {
		t.Fatal(err)
	}
	if err := v.Start(ctx, id); err != nil {
		t.Fatal(err)
	}
	select {
	case r := <-waitc:
		if r.StatusCode != 3 {
			t.Fatalf("exit %+v", r)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("no exit")
	}
	select {
	case err := <-attached:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("attach did not end")
	}
	if stdout.String() != "hello\n"+id[:12]+"\n" || stderr.String() != "oops\n" {
		t.Fatalf("stdout %q stderr %q", stdout.String(), stderr.String())
	}
	var logs bytes.Buffer
	if err := v.Logs(ctx, id, containers.LogsOptions{Stdout: true, Stderr: true}, &logs); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(logs.String(), "hello") || !strings.Contains(logs.String(), "oops") {
		t.Fatalf("logs %q", logs.String())
	}
	in, err := v.Inspect(ctx, id, false)
	if err != nil || in.State.Status != "exited" || in.State.ExitCode != 3 || in.GraphDriver == nil || in.GraphDriver.Name != "vfs" {
		t.Fatalf("inspect %+v %v", in.State, err)
	}
	if err := v.Remove(ctx, id, containers.RemoveOptions{}); err != nil {
		t.Fatal(err)
	}
	if rws := v.layers.RWLayers(); len(rws) != 0 {
		t.Fatalf("writable layers left: %v", rws)
	}
}

func TestExecNotFound(t *testing.T) {
	v := setup(t)
	ctx := context.Background()
	id := v.create(t, "nf", &ctypes.Config{Cmd: []string{"nope"}}, nil)
	err := v.Start(ctx, id)
	if err == nil || !strings.Contains(err.Error(), "executable file not found") || !errdefs.Is(err, errdefs.InvalidArgument) {
		t.Fatalf("start: %v", err)
	}
	in, _ := v.Inspect(ctx, id, false)
	if in.State.Status != "created" || in.State.ExitCode != 127 || !strings.Contains(in.State.Error, "executable file not found") {
		t.Fatalf("state %+v", in.State)
	}
}

// sleep as PID 1 ignores SIGTERM: stop waits the timeout, then kills.
func TestStopEscalatesToKill(t *testing.T) {
	v := setup(t)
	ctx := context.Background()
	id := v.create(t, "slow", &ctypes.Config{Cmd: []string{"sleep", "100"}}, &ctypes.HostConfig{AutoRemove: true})
	if err := v.Start(ctx, id); err != nil {
		t.Fatal(err)
	}
	in, _ := v.Inspect(ctx, id, false)
	if !in.State.Running || in.State.Pid == 0 {
		t.Fatalf("state %+v", in.State)
	}
	if _, err := os.Stat(filepath.Join("/proc", strconv.Itoa(in.State.Pid))); err != nil {
		t.Fatalf("pid %d not alive: %v", in.State.Pid, err)
	}
	removed, _ := v.Wait(ctx, id, ctypes.WaitConditionRemoved)
	one := 1
	start := time.Now()
	if err := v.Stop(ctx, id, containers.StopOptions{Timeout: &one}); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d < time.Second {
		t.Fatalf("stopped in %v: SIGTERM should have been ignored", d)
	}
	select {
	case r := <-removed:
		if r.StatusCode != 137 {
			t.Fatalf("exit %+v", r)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("--rm container not removed")
	}
}

// docker run -i with stdin closed after one line: the program sees EOF.
func TestAttachStdinEOF(t *testing.T) {
	v := setup(t)
	ctx := context.Background()
	id := v.create(t, "cat", &ctypes.Config{Cmd: []string{"cat"}, OpenStdin: true, StdinOnce: true, AttachStdin: true}, nil)
	var stdout bytes.Buffer
	attached := make(chan error, 1)
	go func() {
		attached <- v.Attach(ctx, id, containers.AttachOptions{Stdin: strings.NewReader("hi there\n"), Stdout: &stdout, Stream: true})
	}()
	time.Sleep(50 * time.Millisecond)
	if err := v.Start(ctx, id); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-attached:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("cat did not end at stdin EOF")
	}
	if stdout.String() != "hi there\n" {
		t.Fatalf("stdout %q", stdout.String())
	}
	waitc, _ := v.Wait(ctx, id, "")
	if r := <-waitc; r.StatusCode != 0 {
		t.Fatalf("exit %+v", r)
	}
}

// berthd restarts while a container runs: the new engine adopts it and
// records its exit.
func TestRestoreAdoptsRunningContainer(t *testing.T) {
	v := setup(t)
	ctx := context.Background()
	id := v.create(t, "long", &ctypes.Config{Cmd: []string{"sleep", "100"}}, nil)
	if err := v.Start(ctx, id); err != nil {
		t.Fatal(err)
	}
	before, _ := v.Inspect(ctx, id, false)
	v.restart(t)
	in, err := v.Inspect(ctx, id, false)
	if err != nil || !in.State.Running || in.State.Pid != before.State.Pid {
		t.Fatalf("after restore %+v %v", in.State, err)
	}
	if err := v.Kill(ctx, id, "KILL"); err != nil {
		t.Fatal(err)
	}
	in, _ = v.Inspect(ctx, id, false)
	if in.State.Status != "exited" || in.State.ExitCode != 137 {
		t.Fatalf("exit not recorded by the new engine: %+v", in.State)
	}
}

// With a TTY the output is raw (no frames) and goes to Stdout.
func TestAttachTTY(t *testing.T) {
	v := setup(t)
	ctx := context.Background()
	id := v.create(t, "tty", &ctypes.Config{Cmd: []string{"sh", "-c", "echo in-a-tty; [ -t 1 ] && echo yes"}, Tty: true}, &ctypes.HostConfig{ConsoleSize: [2]uint{30, 100}})
	var out bytes.Buffer
	attached := make(chan error, 1)
	go func() {
		attached <- v.Attach(ctx, id, containers.AttachOptions{Stdout: &out, Stderr: &out, Stream: true})
	}()
	time.Sleep(50 * time.Millisecond)
	if err := v.Start(ctx, id); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-attached:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("attach did not end")
	}
	if out.String() != "in-a-tty\r\nyes\r\n" {
		t.Fatalf("tty output %q", out.String())
	}
	var logs bytes.Buffer
	v.Logs(ctx, id, containers.LogsOptions{Stdout: true}, &logs)
	if logs.String() != "in-a-tty\r\nyes\r\n" {
		t.Fatalf("tty logs %q", logs.String())
	}
}
