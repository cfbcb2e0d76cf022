// Package exec routes the exec endpoints of the Engine API: creating an
// exec in a container, starting it (a hijacked stream, like attach, unless
// detached), resizing its terminal and inspecting it.
package exec

import (
	"context"
	"errors"
	"io"
	"net/http"
	"strconv"

	"github.com/moby/moby/api/pkg/stdcopy"
	"github.com/moby/moby/api/types/container"

	"github.com/berth-dev/berth/internal/apiserver/router"
	"github.com/berth-dev/berth/internal/apiserver/stream"
	"github.com/berth-dev/berth/internal/errdefs"
)

// Backend is what the exec routes need. Unknown exec ids are
// errdefs.NotFound "No such exec instance: <id>".
type Backend interface {
	// ExecCreate records an exec in a running container and returns its id.
	ExecCreate(ctx context.Context, containerRef string, cfg container.ExecCreateRequest) (string, error)
	// ExecInfo tells whether the exec has a TTY, before the connection is
	// hijacked (so an unknown id still gets its 404).
	ExecInfo(ctx context.Context, id string) (tty bool, err error)
	// ExecStart runs the exec; see StartOptions. Attached, it returns when
	// the process's output has ended (and its exit is recorded) or the
	// client detached or went away.
	ExecStart(ctx context.Context, id string, opts StartOptions) error
	ExecResize(ctx context.Context, id string, height, width uint) error
	ExecInspect(ctx context.Context, id string) (container.ExecInspectResponse, error)
}

// StartOptions are a start's options and, unless Detach, the hijacked
// client streams, with the contract of containers.AttachOptions: Stdin
// reads io.EOF at the client's half-close; Stdout and Stderr frame each
// write (stdcopy) unless the exec has a TTY, when only Stdout is set and
// writes raw bytes.
type StartOptions struct {
	Detach         bool
	ConsoleSize    *[2]uint // [height, width], TTY only
	Stdin          io.Reader
	Stdout, Stderr io.Writer
}

type execRouter struct{ b Backend }

// NewRouter returns the exec routes served by b.
func NewRouter(b Backend) router.Router { return &execRouter{b: b} }

func (e *execRouter) Routes() []router.Route {
	return []router.Route{
		{Method: http.MethodPost, Path: "/containers/{id}/exec", Handler: e.create},
		{Method: http.MethodPost, Path: "/exec/{id}/start", Handler: e.start},
		{Method: http.MethodPost, Path: "/exec/{id}/resize", Handler: e.resize},
		{Method: http.MethodGet, Path: "/exec/{id}/json", Handler: e.inspect},
	}
}

func (e *execRouter) create(w http.ResponseWriter, r *http.Request) error {
	var cfg container.ExecCreateRequest
	if err := router.DecodeJSON(r, &cfg); err != nil && !errors.Is(err, router.ErrEmptyBody) {
		return err
	}
	if len(cfg.Cmd) == 0 {
		return errdefs.InvalidArgumentf("No exec command specified")
	}
	id, err := e.b.ExecCreate(r.Context(), r.PathValue("id"), cfg)
	if err != nil {
		return err
	}
	return router.WriteJSON(w, http.StatusCreated, container.ExecCreateResponse{ID: id})
}

func (e *execRouter) start(w http.ResponseWriter, r *http.Request) error {
	var req container.ExecStartRequest
	if err := router.DecodeJSON(r, &req); err != nil && !errors.Is(err, router.ErrEmptyBody) {
		return err
	}
	id := r.PathValue("id")
	tty, err := e.b.ExecInfo(r.Context(), id)
	if err != nil {
		return err
	}
	opts := StartOptions{Detach: req.Detach, ConsoleSize: req.ConsoleSize}
	if !router.VersionAtLeast(r.Context(), "1.42") || !tty {
		opts.ConsoleSize = nil // as dockerd
	}
	if req.Detach {
		// The process runs on; this request does not wait for it.
		if err := e.b.ExecStart(context.WithoutCancel(r.Context()), id, opts); err != nil {
			return err
		}
		w.WriteHeader(http.StatusOK)
		return nil
	}
	conn, err := stream.Hijack(w, r, stream.HijackContentType(tty, router.VersionAtLeast(r.Context(), "1.42")))
	if err != nil {
		return err
	}
	defer conn.Close()
	opts.Stdin = conn
	if tty {
		opts.Stdout = conn
	} else {
		opts.Stdout = stream.NewStdWriter(conn, stdcopy.Stdout)
		opts.Stderr = stream.NewStdWriter(conn, stdcopy.Stderr)
	}
	ctx, cancel := router.StreamContext(r)
	defer cancel()
	go conn.WatchHangup(cancel)
	if err := e.b.ExecStart(ctx, id, opts); err != nil {
		// As dockerd: the error goes to the client's stdout; the exit
		// code (126, 127) is for the client to inspect.
		_, _ = opts.Stdout.Write([]byte(err.Error() + "\r\n"))
		return err
	}
	_ = conn.CloseWrite()
	return nil
}

func (e *execRouter) resize(w http.ResponseWriter, r *http.Request) error {
	h, err1 := strconv.ParseUint(r.URL.Query().Get("h"), 10, 16)
	wd, err2 := strconv.ParseUint(r.URL.Query().Get("w"), 10, 16)
	if err1 != nil || err2 != nil {
		return errdefs.InvalidArgumentf("invalid resize parameters: h=%q w=%q", r.URL.Query().Get("h"), r.URL.Query().Get("w"))
	}
	if err := e.b.ExecResize(r.Context(), r.PathValue("id"), uint(h), uint(wd)); err != nil {
		return err
	}
	w.WriteHeader(http.StatusOK)
	return nil
}

func (e *execRouter) inspect(w http.ResponseWriter, r *http.Request) error {
	resp, err := e.b.ExecInspect(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	return router.WriteJSON(w, http.StatusOK, resp)
}
