package engine

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"sync"

	"github.com/moby/moby/api/types/registry"
	"github.com/sirupsen/logrus"

	"github.com/berth-dev/berth/internal/apiserver/router/containers"
	"github.com/berth-dev/berth/internal/apiserver/router/system"
	"github.com/berth-dev/berth/internal/container"
	"github.com/berth-dev/berth/internal/errdefs"
	"github.com/berth-dev/berth/internal/events"
	"github.com/berth-dev/berth/internal/image"
	"github.com/berth-dev/berth/internal/ocispec"
	"github.com/berth-dev/berth/internal/userns"
)

// BuiltinRuntime is the name of berth's own runtime; the monitor runs it
// in-process rather than through a runc-compatible binary.
const BuiltinRuntime = "berth"

// LogDefaults bound the json-file log of containers that set no log-opts.
type LogDefaults struct {
	MaxSize  int64 // bytes per file; 0 = unbounded
	MaxFiles int   // files kept, >= 1
}

// DefaultLogDefaults are 20 MiB x 5 files.
var DefaultLogDefaults = LogDefaults{MaxSize: 20 << 20, MaxFiles: 5}

// Config configures an Engine.
type Config struct {
	DataRoot string // containers live in <DataRoot>/containers
	ExecRoot string // bundles live in <ExecRoot>/containers
	// DefaultRuntime names the runtime used when a container names none
	// ("" = "berth").
	DefaultRuntime string
	// Runtimes maps extra runtime names to runc-compatible binaries
	// ("runc" -> "/usr/bin/runc"). "berth" is always available.
	Runtimes map[string]string
	// CgroupParent is the daemon's --cgroup-parent ("" = relative berth/<id>).
	CgroupParent string
	// LogDefaults applies to json-file logs without max-size/max-file.
	LogDefaults LogDefaults
	// HostCapBounding is the daemon's capability bounding set (0: read it).
	HostCapBounding uint64
	// NoNewPrivileges is the daemon's --no-new-privileges default.
	NoNewPrivileges bool
	// SpecOpts amend every container's spec (the seccomp profile, ...).
	SpecOpts []ocispec.SpecOpt
	// Remap is the daemon's --userns-remap maps (empty: none). A container
	// created while it is set, that does not ask for --userns=host, gets an
	// idmapped writable layer (storage.WithIDMap) and a directory its
	// remapped root can traverse, and runs in a user namespace with the
	// maps its layer was made with (ocispec.WithUserns at start).
	Remap userns.IDMap
	// StorageDriver is the layer store's driver name for docker info.
	StorageDriver string
	// SecurityOptions are shown by docker info ("name=seccomp,profile=builtin").
	SecurityOptions []string
	// Registry is docker info's RegistryConfig (mirrors, insecure registries).
	Registry *registry.ServiceConfig

	Images       Images
	ImageCounter ImageCounter // optional
	Layers       Layers
	Monitor      Monitor
	Networks     Networks           // optional
	Volumes      Volumes            // optional: without it volume mounts are refused
	Logger       logrus.FieldLogger // optional
	// Events receives container events (optional: discarded).
	Events events.Publisher
}

// Engine runs containers. It implements containers.Backend and
// system.Backend.
type Engine struct {
	cfg   Config
	store *container.Store
	log   logrus.FieldLogger

	// ctx bounds the exit watchers; Close cancels it (containers keep
	// running: live restore).
	ctx    context.Context
	cancel context.CancelFunc
	wgMu   sync.Mutex // orders watch's wg.Add before Close's wg.Wait
	closed bool
	wg     sync.WaitGroup

	attachMu sync.Mutex
	pending  map[string][]*pendingAttach // attaches waiting for the next start

	rmu      sync.Mutex
	restarts map[string]*restartState

	execs execStore // exec records (exec.go)

	health healthRunners // healthcheck monitors (health.go)
}

var (
	_ containers.Backend = (*Engine)(nil)
	_ system.Backend     = (*Engine)(nil)
)

// New returns an engine over cfg. Call Restore before serving.
func New(cfg Config) (*Engine, error) {
	if cfg.DataRoot == "" || cfg.ExecRoot == "" {
		return nil, errors.New("engine: DataRoot and ExecRoot are required")
	}
	if cfg.Images == nil || cfg.Layers == nil || cfg.Monitor == nil {
		return nil, errors.New("engine: Images, Layers and Monitor are required")
	}
	if cfg.DefaultRuntime == "" {
		cfg.DefaultRuntime = BuiltinRuntime
	}
	if cfg.LogDefaults.MaxFiles < 1 {
		cfg.LogDefaults.MaxFiles = 1
	}
	if cfg.Logger == nil {
		cfg.Logger = logrus.StandardLogger()
	}
	if cfg.Events == nil {
		cfg.Events = events.Nop{}
	}
	store, err := container.NewStore(filepath.Join(cfg.DataRoot, "containers"))
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(filepath.Join(cfg.ExecRoot, "containers"), 0o700); err != nil {
		return nil, fmt.Errorf("create bundle root: %w", err)
	}
	e := &Engine{cfg: cfg, store: store, log: cfg.Logger, pending: map[string][]*pendingAttach{}, restarts: map[string]*restartState{}}
	if _, err := e.runtimePath(cfg.DefaultRuntime); err != nil {
		return nil, fmt.Errorf("default runtime: %w", err)
	}
	e.ctx, e.cancel = context.WithCancel(context.Background())
	return e, nil
}

// Close stops watching containers; they keep running and the next
// Restore adopts them again.
func (e *Engine) Close() error {
	e.wgMu.Lock()
	e.closed = true
	e.wgMu.Unlock()
	e.cancel()
	e.rmu.Lock()
	for _, rs := range e.restarts {
		if rs.timer != nil {
			rs.timer.Stop()
		}
	}
	e.rmu.Unlock()
	e.wg.Wait()
	return nil
}

// Store is the container registry (read-only use: image removal checks).
func (e *Engine) Store() *container.Store { return e.store }

// ImageUser reports a container created from image id, preferring a
// running one; it matches image.InUseFunc (image.Store.SetInUse). It reads
// snapshots only, so it may run under the image store's lock.
func (e *Engine) ImageUser(id image.ID) (containerID string, running bool, ok bool) {
	for _, c := range e.store.List() {
		if c.ImageID != id {
			continue
		}
		if c.State.Running() {
			return c.ID, true, true
		}
		if !ok {
			containerID, ok = c.ID, true
		}
	}
	return containerID, false, ok
}

func (e *Engine) bundleDir(id string) string {
	return filepath.Join(e.cfg.ExecRoot, "containers", id)
}

// runtimePath resolves a runtime name to what monitor.CreateRequest wants.
func (e *Engine) runtimePath(name string) (string, error) {
	if name == BuiltinRuntime {
		return BuiltinRuntime, nil
	}
	if p, ok := e.cfg.Runtimes[name]; ok && p != "" {
		return p, nil
	}
	return "", errdefs.InvalidArgumentf("Unknown runtime specified %s", name)
}

func (e *Engine) runtimeNames() []string {
	names := []string{BuiltinRuntime}
	for n := range e.cfg.Runtimes {
		if n != BuiltinRuntime {
			names = append(names, n)
		}
	}
	sort.Strings(names[1:])
	return names
}

// rwSize is the size of id's writable layer, if the layer store tells.
func (e *Engine) rwSize(ctx context.Context, id string) (int64, bool) {
	s, ok := e.cfg.Layers.(RWSizer)
	if !ok {
		return 0, false
	}
	n, err := s.RWSize(ctx, id)
	if err != nil {
		e.log.WithError(err).WithField("container", id).Debug("writable layer size")
		return 0, false
	}
	return n, true
}

func errNotRunning(id string) error {
	return errdefs.Conflictf("Container %s is not running", id)
}

// cleanupCtx is for undo work that must finish even when the request that
// started it has gone.
func cleanupCtx(ctx context.Context) context.Context { return context.WithoutCancel(ctx) }
