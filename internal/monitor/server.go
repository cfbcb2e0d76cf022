package monitor

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/berth-dev/berth/internal/errdefs"
	"github.com/berth-dev/berth/internal/runtime"
	"github.com/berth-dev/berth/internal/runtime/reaper"
)

// RuntimeFunc returns the runtime to create a container with: name is
// CreateRequest.Runtime ("berth" or the path of a runc-compatible binary)
// and args its RuntimeArgs.
type RuntimeFunc func(name string, args []string) (runtime.Runtime, error)

// Config configures Serve.
type Config struct {
	ExecRoot string // monitor.sock, monitor.pid, containers/<id>/
	DataRoot string // informational; logs go where each CreateRequest says
	Runtimes RuntimeFunc
	// OOMKilled reports whether the OOM killer fired in an exited
	// container's cgroup. It runs before Task.Delete removes the cgroup.
	// nil: a Task that has an OOMKilled() (bool, error) method is asked,
	// else the cgroup of the spec's linux.cgroupsPath (cgroups.New).
	OOMKilled func(id string, spec *specs.Spec) (bool, error)
	// Reaper collects exits; nil means reaper.Default.
	Reaper *reaper.Reaper
	// Logger; nil means slog.Default().
	Logger *slog.Logger
}

// server is one monitor.
type server struct {
	cfg Config
	ctx context.Context // lives as long as Serve
	log *slog.Logger

	mu         sync.Mutex
	containers map[string]*container
	byPid      map[int]*container
	// While a Create is in flight, exits of unknown pids are kept: the
	// init may die before its pid is registered.
	creating  int
	unclaimed map[int]reaper.Exit

	// Exit statuses of adopted inits (see exitWatch): open while any is
	// watched.
	exitWatch       *exitWatch
	exitWatchFailed bool
	watched         map[int]bool
}

// Serve runs the monitor until ctx ends: it becomes a child subreaper,
// reaps on SIGCHLD, and serves the protocol (see the package doc) on
// <exec-root>/monitor.sock. A second monitor on the same exec-root fails
// with an errdefs.Conflict error. Containers keep running when Serve
// returns; their stdio and exit statuses are then lost.
func Serve(ctx context.Context, cfg Config) error {
	if cfg.ExecRoot == "" {
		return errdefs.InvalidArgumentf("monitor: no exec-root")
	}
	if cfg.Reaper == nil {
		cfg.Reaper = reaper.Default
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if err := os.MkdirAll(filepath.Join(cfg.ExecRoot, "containers"), 0o711); err != nil {
		return fmt.Errorf("monitor: %w", err)
	}
	unlock, err := lockPidFile(filepath.Join(cfg.ExecRoot, "monitor.pid"))
	if err != nil {
		return err
	}
	defer unlock()
	if err := unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0); err != nil {
		return fmt.Errorf("monitor: prctl PR_SET_CHILD_SUBREAPER: %w", err)
	}

	s := &server{
		cfg:        cfg,
		ctx:        ctx,
		log:        cfg.Logger,
		containers: map[string]*container{},
		byPid:      map[int]*container{},
		unclaimed:  map[int]reaper.Exit{},
		watched:    map[int]bool{},
	}
	s.recover()

	exits := cfg.Reaper.Subscribe()
	defer cfg.Reaper.Unsubscribe(exits)
	stopReaping := reapOnSIGCHLD(cfg.Reaper)
	defer stopReaping()
	go s.routeExits(ctx, exits)

	sock := filepath.Join(cfg.ExecRoot, "monitor.sock")
	os.Remove(sock) // stale: the pid file lock says no monitor owns it
	l, err := net.Listen("unix", sock)
	if err != nil {
		return fmt.Errorf("monitor: %w", err)
	}
	if err := os.Chmod(sock, 0o600); err != nil {
		l.Close()
		return fmt.Errorf("monitor: %w", err)
	}
	hs := &http.Server{Handler: s.routes(), ReadHeaderTimeout: 10 * time.Second}
	errc := make(chan error, 1)
	go func() { errc <- hs.Serve(l) }()
	s.log.Info("monitor serving", "socket", sock, "pid", os.Getpid())
	select {
	case <-ctx.Done():
		// Hijacked attach streams are not tracked by Close; they end
		// with the process.
		hs.Close()
		<-errc
		os.Remove(sock)
		s.dropStdio()
		return nil
	case err := <-errc:
		return fmt.Errorf("monitor: serve: %w", err)
	}
}

// dropStdio closes the containers' output pipes as the monitor's exit
// would, so that a next monitor (in this process, in tests) is their only
// reader.
func (s *server) dropStdio() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, c := range s.containers {
		for _, f := range c.outputs {
			f.Close()
		}
	}
}

// lockPidFile takes an exclusive lock on the pid file, held until unlock,
// and writes our pid into it.
func lockPidFile(path string) (func(), error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|unix.O_CLOEXEC, 0o644)
	if err != nil {
		return nil, fmt.Errorf("monitor: %w", err)
	}
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, unix.EWOULDBLOCK) {
			return nil, errdefs.Conflictf("monitor: another monitor holds %s", path)
		}
		return nil, fmt.Errorf("monitor: flock %s: %w", path, err)
	}
	if err := f.Truncate(0); err == nil {
		f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0)
	}
	return func() { f.Close() }, nil
}

// reapOnSIGCHLD calls r.Reap on every SIGCHLD (and once now).
func reapOnSIGCHLD(r *reaper.Reaper) (stop func()) {
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, unix.SIGCHLD)
	done := make(chan struct{})
	go func() {
		r.Reap()
		for {
			select {
			case <-sigs:
				r.Reap()
			case <-done:
				return
			}
		}
	}()
	return func() { signal.Stop(sigs); close(done) }
}

// routeExits hands each reaped exit to its container.
func (s *server) routeExits(ctx context.Context, exits chan reaper.Exit) {
	for {
		select {
		case <-ctx.Done():
			return
		case e := <-exits:
			s.mu.Lock()
			c := s.byPid[e.Pid]
			if c != nil {
				delete(s.byPid, e.Pid)
			} else if s.creating > 0 {
				s.unclaimed[e.Pid] = e
			}
			s.mu.Unlock()
			if c != nil {
				go c.exited(e)
			}
		}
	}
}

// register maps the new container's pid, or returns an exit that happened
// before it could be.
func (s *server) register(c *container, since time.Time) (reaper.Exit, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if e, ok := s.unclaimed[c.pid]; ok && !e.At.Before(since) {
		delete(s.unclaimed, c.pid)
		return e, true
	}
	s.byPid[c.pid] = c
	return reaper.Exit{}, false
}

func (s *server) get(id string) (*container, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c := s.containers[id]
	if c == nil {
		return nil, errdefs.NotFoundf("monitor: no such container: %s", id)
	}
	return c, nil
}

func (s *server) containerDir(id string) string {
	return filepath.Join(s.cfg.ExecRoot, "containers", id)
}

// routes is the protocol; see the package doc.
func (s *server) routes() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /_ping", func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("OK")) })
	mux.HandleFunc("GET /containers", s.handleList)
	mux.HandleFunc("POST /containers/{id}/create", s.handleCreate)
	mux.HandleFunc("POST /containers/{id}/start", s.handleStart)
	mux.HandleFunc("POST /containers/{id}/attach", s.handleAttach)
	mux.HandleFunc("POST /containers/{id}/resize", s.handleResize)
	mux.HandleFunc("POST /containers/{id}/kill", s.handleKill)
	mux.HandleFunc("POST /containers/{id}/wait", s.handleWait)
	mux.HandleFunc("GET /containers/{id}", s.handleState)
	mux.HandleFunc("DELETE /containers/{id}", s.handleDelete)
	mux.HandleFunc("POST /containers/{id}/exec", s.handleExec)
	mux.HandleFunc("POST /containers/{id}/execs/{exec}/resize", s.handleExecResize)
	mux.HandleFunc("POST /containers/{id}/execs/{exec}/wait", s.handleExecWait)
	return mux
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(v)
}

// errorBody is the body of every error response.
type errorBody struct {
	Message string `json:"message"`
	// Class is the errdefs class's name ("not found", "conflict", ...): the
	// taxonomy crosses the socket unchanged, and HTTP statuses stay the API
	// server's business (internal/apiserver maps them, once).
	Class string `json:"class,omitempty"`
	// Exec is "not-found" or "permission" when Start failed with
	// runtime.ErrExecNotFound or runtime.ErrExecPermission.
	Exec string `json:"exec,omitempty"`
}

func writeError(w http.ResponseWriter, err error) {
	body := errorBody{Message: err.Error()}
	if c := errdefs.ClassOf(err); c != errdefs.Unknown {
		body.Class = c.String()
	}
	switch {
	case errors.Is(err, runtime.ErrExecNotFound):
		body.Exec = "not-found"
	case errors.Is(err, runtime.ErrExecPermission):
		body.Exec = "permission"
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusInternalServerError)
	json.NewEncoder(w).Encode(body)
}

func (s *server) handleList(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	cs := make([]*container, 0, len(s.containers))
	for _, c := range s.containers {
		cs = append(cs, c)
	}
	s.mu.Unlock()
	out := make([]State, 0, len(cs))
	for _, c := range cs {
		if st, ok := c.state(); ok {
			out = append(out, st)
		}
	}
	writeJSON(w, out)
}

func (s *server) handleState(w http.ResponseWriter, r *http.Request) {
	c, err := s.get(r.PathValue("id"))
	if err != nil {
		writeError(w, err)
		return
	}
	st, ok := c.state()
	if !ok {
		writeError(w, errdefs.NotFoundf("monitor: no such container: %s", c.id))
		return
	}
	writeJSON(w, st)
}

func (s *server) handleCreate(w http.ResponseWriter, r *http.Request) {
	var req CreateRequest
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
		writeError(w, errdefs.InvalidArgumentf("monitor: decode create request: %v", err))
		return
	}
	if req.ID != r.PathValue("id") {
		writeError(w, errdefs.InvalidArgumentf("monitor: create: id %q in body, %q in path", req.ID, r.PathValue("id")))
		return
	}
	pid, err := s.create(req)
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, struct{ Pid int }{pid})
}

func (s *server) handleStart(w http.ResponseWriter, r *http.Request) {
	c, err := s.get(r.PathValue("id"))
	if err == nil {
		err = c.start(r.Context())
	}
	if err != nil {
		writeError(w, err)
	}
}

func (s *server) handleResize(w http.ResponseWriter, r *http.Request) {
	h, err1 := strconv.ParseUint(r.URL.Query().Get("h"), 10, 16)
	wd, err2 := strconv.ParseUint(r.URL.Query().Get("w"), 10, 16)
	if err := errors.Join(err1, err2); err != nil {
		writeError(w, errdefs.InvalidArgumentf("monitor: resize: %v", err))
		return
	}
	c, err := s.get(r.PathValue("id"))
	if err == nil {
		err = c.resize(uint16(h), uint16(wd))
	}
	if err != nil {
		writeError(w, err)
	}
}

func (s *server) handleKill(w http.ResponseWriter, r *http.Request) {
	sig, err := strconv.Atoi(r.URL.Query().Get("signal"))
	if err != nil || sig <= 0 || sig >= 65 {
		writeError(w, errdefs.InvalidArgumentf("monitor: kill: bad signal %q", r.URL.Query().Get("signal")))
		return
	}
	c, err := s.get(r.PathValue("id"))
	if err == nil {
		err = c.kill(r.Context(), unix.Signal(sig))
	}
	if err != nil {
		writeError(w, err)
	}
}

func (s *server) handleWait(w http.ResponseWriter, r *http.Request) {
	c, err := s.get(r.PathValue("id"))
	if err != nil {
		writeError(w, err)
		return
	}
	select {
	case <-c.done:
		writeJSON(w, c.exitStatus())
	case <-r.Context().Done():
	}
}

func (s *server) handleDelete(w http.ResponseWriter, r *http.Request) {
	c, err := s.get(r.PathValue("id"))
	if err == nil {
		err = c.delete(r.Context())
	}
	if err != nil {
		writeError(w, err)
	}
}
