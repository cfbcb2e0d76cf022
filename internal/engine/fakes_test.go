package engine

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"

	dockerspec "github.com/moby/docker-image-spec/specs-go/v1"
	ocispecv1 "github.com/opencontainers/image-spec/specs-go/v1"
	"github.com/sirupsen/logrus"

	"github.com/berth-dev/berth/internal/errdefs"
	"github.com/berth-dev/berth/internal/image"
	"github.com/berth-dev/berth/internal/monitor"
	"github.com/berth-dev/berth/internal/storage"
)

// ---- images ----

type fakeImages struct{ m map[string]*image.Image }

func (f *fakeImages) Get(_ context.Context, ref string) (*image.Image, error) {
	if img, ok := f.m[ref]; ok {
		return img, nil
	}
	return nil, errdefs.NotFoundf("No such image: %s", ref)
}

func (f *fakeImages) Count(context.Context) (int, error) { return len(f.m), nil }

func busyboxImage() *image.Image {
	var cfg dockerspec.DockerOCIImage
	cfg.Config.ImageConfig = ocispecv1.ImageConfig{
		Env:        []string{"PATH=/bin", "FOO=image"},
		Cmd:        []string{"sh"},
		WorkingDir: "/work",
		Labels:     map[string]string{"from": "image", "both": "image"},
		StopSignal: "SIGQUIT",
	}
	return &image.Image{ID: image.ID("sha256:" + fmt.Sprintf("%064x", 1)), Config: cfg, TopLayer: "sha256:top"}
}

// ---- layers ----

type fakeLayers struct {
	root string
	mu   sync.Mutex
	rw   map[string]image.ChainID
	// mounted counts Mount minus Unmount per id.
	mounted map[string]int
	fail    map[string]error // method name -> error
}

func newFakeLayers(t *testing.T) *fakeLayers {
	return &fakeLayers{root: t.TempDir(), rw: map[string]image.ChainID{}, mounted: map[string]int{}, fail: map[string]error{}}
}

func (f *fakeLayers) failing(m string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.fail[m]
}

func (f *fakeLayers) CreateRW(_ context.Context, id string, parent image.ChainID, _ ...storage.Opt) error {
	if err := f.failing("CreateRW"); err != nil {
		return err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, ok := f.rw[id]; ok {
		return errdefs.Conflictf("layer %s exists", id)
	}
	f.rw[id] = parent
	return os.MkdirAll(filepath.Join(f.root, id, "etc"), 0o755)
}

func (f *fakeLayers) Mount(_ context.Context, id string) (string, error) {
	if err := f.failing("Mount"); err != nil {
		return "", err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, ok := f.rw[id]; !ok {
		return "", errdefs.NotFoundf("no layer %s", id)
	}
	f.mounted[id]++
	return filepath.Join(f.root, id), nil
}

func (f *fakeLayers) Unmount(_ context.Context, id string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.mounted[id] == 0 {
		return errors.New("not mounted")
	}
	f.mounted[id]--
	return nil
}

func (f *fakeLayers) RemoveRW(_ context.Context, id string) error {
	if err := f.failing("RemoveRW"); err != nil {
		return err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, ok := f.rw[id]; !ok {
		return errdefs.NotFoundf("no layer %s", id)
	}
	delete(f.rw, id)
	delete(f.mounted, id)
	return os.RemoveAll(filepath.Join(f.root, id))
}

func (f *fakeLayers) Metadata(_ context.Context, id string) (string, map[string]string, error) {
	if err := f.failing("Metadata"); err != nil {
		return "", nil, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, ok := f.rw[id]; !ok {
		return "", nil, errdefs.NotFoundf("no layer %s", id)
	}
	return "vfs", map[string]string{"Dir": filepath.Join(f.root, id)}, nil
}

func (f *fakeLayers) count() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.rw)
}

func (f *fakeLayers) mounts(id string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.mounted[id]
}

// ---- monitor ----

type fakeTask struct {
	req     monitor.CreateRequest
	pid     int
	started bool
	exit    *monitor.Exit
	done    chan struct{}
	signals []syscall.Signal
	// ignore lists signals the program ignores.
	ignore map[syscall.Signal]bool
	conns  []net.Conn // the monitor's ends of attach streams
}

type fakeMonitor struct {
	mu      sync.Mutex
	tasks   map[string]*fakeTask
	nextPid int
	calls   []string // "create id", "attach id", "start id", ...
	fail    map[string]error
	// ignoreTerm makes new tasks ignore SIGTERM (slow stop).
	ignoreTerm bool
}

func newFakeMonitor() *fakeMonitor {
	return &fakeMonitor{tasks: map[string]*fakeTask{}, nextPid: 1000, fail: map[string]error{}}
}

func (m *fakeMonitor) log(call, id string) { m.calls = append(m.calls, call+" "+id) }

func (m *fakeMonitor) task(id string) (*fakeTask, error) {
	t, ok := m.tasks[id]
	if !ok {
		return nil, errdefs.NotFoundf("monitor: no such container: %s", id)
	}
	return t, nil
}

func (m *fakeMonitor) Create(_ context.Context, req monitor.CreateRequest) (int, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.log("create", req.ID)
	if err := m.fail["Create"]; err != nil {
		return 0, err
	}
	if _, err := os.Stat(filepath.Join(req.Bundle, "config.json")); err != nil {
		return 0, fmt.Errorf("fake monitor: bundle: %w", err)
	}
	if _, ok := m.tasks[req.ID]; ok {
		return 0, errdefs.Conflictf("exists")
	}
	m.nextPid++
	t := &fakeTask{req: req, pid: m.nextPid, done: make(chan struct{}), ignore: map[syscall.Signal]bool{}}
	if m.ignoreTerm {
		t.ignore[syscall.SIGTERM] = true
	}
	m.tasks[req.ID] = t
	return t.pid, nil
}

func (m *fakeMonitor) Start(_ context.Context, id string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.log("start", id)
	t, err := m.task(id)
	if err != nil {
		return err
	}
	if err := m.fail["Start"]; err != nil {
		m.exitLocked(t, 127)
		return err
	}
	t.started = true
	return nil
}

// exitLocked ends t's program with code.
func (m *fakeMonitor) exitLocked(t *fakeTask, code int) {
	if t.exit != nil {
		return
	}
	t.exit = &monitor.Exit{Code: code, At: time.Now().UTC()}
	for _, c := range t.conns {
		c.Close()
	}
	close(t.done)
}

// exit makes the program of id exit with code (as if it ended itself).
func (m *fakeMonitor) exit(id string, code int) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.exitLocked(m.tasks[id], code)
}

func (m *fakeMonitor) Attach(_ context.Context, id string, _ monitor.AttachOptions) (net.Conn, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.log("attach", id)
	t, err := m.task(id)
	if err != nil {
		return nil, err
	}
	client, server := net.Pipe()
	t.conns = append(t.conns, server)
	return client, nil
}

func (m *fakeMonitor) conn(id string, i int) net.Conn {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.tasks[id].conns[i]
}

func (m *fakeMonitor) Resize(_ context.Context, id string, h, w uint) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	_, err := m.task(id)
	return err
}

func (m *fakeMonitor) Kill(_ context.Context, id string, sig syscall.Signal) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.log(fmt.Sprintf("kill-%d", sig), id)
	t, err := m.task(id)
	if err != nil {
		return err
	}
	if t.exit != nil {
		return errdefs.Conflictf("monitor: container %s is not running", id)
	}
	t.signals = append(t.signals, sig)
	if !t.ignore[sig] && sig != syscall.SIGUSR1 && sig != syscall.SIGWINCH {
		m.exitLocked(t, 128+int(sig))
	}
	return nil
}

func (m *fakeMonitor) Wait(ctx context.Context, id string) (monitor.Exit, error) {
	m.mu.Lock()
	t, err := m.task(id)
	m.mu.Unlock()
	if err != nil {
		return monitor.Exit{}, err
	}
	select {
	case <-t.done:
		m.mu.Lock()
		defer m.mu.Unlock()
		return *t.exit, nil
	case <-ctx.Done():
		return monitor.Exit{}, ctx.Err()
	}
}

func (m *fakeMonitor) State(_ context.Context, id string) (monitor.State, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	t, err := m.task(id)
	if err != nil {
		return monitor.State{}, err
	}
	return monitor.State{ID: id, Pid: t.pid, Running: t.exit == nil && t.started, Exit: t.exit}, nil
}

func (m *fakeMonitor) List(ctx context.Context) ([]monitor.State, error) {
	m.mu.Lock()
	ids := make([]string, 0, len(m.tasks))
	for id := range m.tasks {
		ids = append(ids, id)
	}
	m.mu.Unlock()
	var out []monitor.State
	for _, id := range ids {
		s, _ := m.State(ctx, id)
		out = append(out, s)
	}
	return out, nil
}

func (m *fakeMonitor) Delete(_ context.Context, id string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.log("delete", id)
	t, err := m.task(id)
	if err != nil {
		return err
	}
	if t.exit == nil && t.started {
		return errdefs.Conflictf("monitor: cannot delete running container %s", id)
	}
	if t.exit == nil {
		m.exitLocked(t, 137)
	}
	delete(m.tasks, id)
	return nil
}

func (m *fakeMonitor) Close() error { return nil }

func (m *fakeMonitor) has(id string) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	_, ok := m.tasks[id]
	return ok
}

func (m *fakeMonitor) callLog() []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]string(nil), m.calls...)
}

// ---- harness ----

type harness struct {
	*Engine
	t      *testing.T
	cfg    Config
	images *fakeImages
	layers *fakeLayers
	mon    *fakeMonitor
}

func newHarness(t *testing.T) *harness {
	t.Helper()
	return newHarnessAt(t, t.TempDir(), t.TempDir(), newFakeLayers(t), newFakeMonitor())
}

func newHarnessAt(t *testing.T, dataRoot, execRoot string, layers *fakeLayers, mon *fakeMonitor) *harness {
	t.Helper()
	images := &fakeImages{m: map[string]*image.Image{"busybox": busyboxImage()}}
	logger := logrus.New()
	logger.SetOutput(os.Stderr)
	logger.SetLevel(logrus.ErrorLevel)
	cfg := Config{
		DataRoot: dataRoot, ExecRoot: execRoot,
		Runtimes:      map[string]string{"runc": "/usr/bin/runc"},
		LogDefaults:   DefaultLogDefaults,
		StorageDriver: "vfs",
		Images:        images, ImageCounter: images, Layers: layers, Monitor: mon,
		HostCapBounding: 1<<41 - 1,
		Logger:          logger,
	}
	e, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Close() })
	return &harness{Engine: e, t: t, cfg: cfg, images: images, layers: layers, mon: mon}
}

// waitFor polls cond for up to 5 s.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// RWSize is the bytes of files in the fake layer's directory.
func (f *fakeLayers) RWSize(_ context.Context, id string) (int64, error) {
	var n int64
	err := filepath.Walk(filepath.Join(f.root, id), func(_ string, fi os.FileInfo, err error) error {
		if err == nil && !fi.IsDir() {
			n += fi.Size()
		}
		return err
	})
	return n, err
}

func (f *fakeLayers) RWLayers() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	var ids []string
	for id := range f.rw {
		ids = append(ids, id)
	}
	return ids
}

func monitorReq(id, bundle string) monitor.CreateRequest {
	return monitor.CreateRequest{ID: id, Bundle: bundle}
}
