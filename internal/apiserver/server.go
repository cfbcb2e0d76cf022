// Package apiserver serves the Docker Engine API: listeners (unix socket,
// TCP, TLS later), the API version prefix, common response headers,
// request logging, and the one error -> status map (statusFor).
//
// Request path through the server:
//
//	listener -> ServeHTTP: common headers, debug log,
//	            strip /v{version} (400 if out of [MinAPIVersion, APIVersion]),
//	            version into the context
//	         -> http.ServeMux ("GET /containers/{id}/json", ...)
//	         -> router.HandlerFunc; a returned error is written as
//	            {"message": ...} with statusFor(err), unless the handler
//	            already sent its header or hijacked the connection
//
// Unknown paths get 404 {"message":"page not found"}; a known path with
// the wrong method gets 405.
package apiserver

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"regexp"
	"sync"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/berth-dev/berth/internal/apiserver/router"
	buildrouter "github.com/berth-dev/berth/internal/apiserver/router/build"
	"github.com/berth-dev/berth/internal/apiserver/router/containers"
	eventsrouter "github.com/berth-dev/berth/internal/apiserver/router/events"
	execrouter "github.com/berth-dev/berth/internal/apiserver/router/exec"
	"github.com/berth-dev/berth/internal/apiserver/router/images"
	"github.com/berth-dev/berth/internal/apiserver/router/networks"
	"github.com/berth-dev/berth/internal/apiserver/router/system"
	"github.com/berth-dev/berth/internal/apiserver/router/volumes"
	"github.com/berth-dev/berth/internal/errdefs"
)

// API version bounds (see router).
const (
	MinAPIVersion = router.MinAPIVersion
	APIVersion    = router.APIVersion
)

// Config configures the server.
type Config struct {
	// Version is berth's version, sent as "Server: Berth/<Version> (linux)".
	Version string
	// TLSConfig, when set, wraps the tcp:// listeners opened by
	// Server.Listen (the seam for --tlsverify; unix sockets stay plain).
	TLSConfig *tls.Config
}

// Backends are the services the routers call. A nil backend leaves its
// routes out (404), except /_ping, which is always served.
type Backends struct {
	Containers containers.Backend
	Images     images.Backend
	Registry   images.Distributor // pull, push and login, on the images router
	System     system.Backend
	Events     eventsrouter.Backend
	Exec       execrouter.Backend
	Networks   networks.Backend
	Volumes    volumes.Backend
	Build      buildrouter.Backend     // nil: POST /build answers 501
	BuildCache buildrouter.CachePruner // nil: POST /build/prune deletes nothing
}

// Server is the Engine API HTTP server.
type Server struct {
	cfg      Config
	mux      *http.ServeMux
	srv      *http.Server
	stopping chan struct{} // closed when Shutdown starts; ends streams
	stopOnce sync.Once
	errLog   *io.PipeWriter
}

// New builds the server and its routes.
func New(cfg Config, b Backends) *Server {
	if cfg.Version == "" {
		cfg.Version = "dev"
	}
	s := &Server{cfg: cfg, mux: http.NewServeMux()}
	routers := []router.Router{system.NewRouter(b.System), buildrouter.NewRouter(b.Build, b.BuildCache)}
	if b.Containers != nil {
		routers = append(routers, containers.NewRouter(b.Containers))
	}
	if b.Images != nil {
		routers = append(routers, images.NewRouterWithDistributor(b.Images, b.Registry))
	}
	if b.Networks != nil {
		routers = append(routers, networks.NewRouter(b.Networks))
	}
	if b.Events != nil {
		routers = append(routers, eventsrouter.NewRouter(b.Events))
	}
	if b.Exec != nil {
		routers = append(routers, execrouter.NewRouter(b.Exec))
	}
	if b.Volumes != nil {
		routers = append(routers, volumes.NewRouter(b.Volumes))
	}
	for _, rt := range routers {
		for _, route := range rt.Routes() {
			s.mux.HandleFunc(route.Method+" "+route.Path, s.wrap(route.Handler))
		}
	}
	s.stopping = make(chan struct{})
	// net/http's own complaints (TLS handshakes of plain-HTTP clients,
	// ...) go to the debug log rather than stderr.
	s.errLog = logrus.StandardLogger().WriterLevel(logrus.DebugLevel)
	s.srv = &http.Server{
		Handler:           readOnlyFilter(s), // see readonly.go
		ConnContext:       connContext,
		ReadHeaderTimeout: 30 * time.Second,
		ErrorLog:          log.New(s.errLog, "", 0),
	}
	return s
}

// Listen opens the -H addresses with the server's TLS configuration (see
// ListenAll).
func (s *Server) Listen(addrs ...string) ([]net.Listener, error) {
	return ListenAll(addrs, s.cfg.TLSConfig)
}

// Serve serves the listeners until Shutdown (nil) or until one of them
// fails (that error, at once; the caller then shuts the server down).
func (s *Server) Serve(listeners ...net.Listener) error {
	if len(listeners) == 0 {
		return errdefs.InvalidArgumentf("serve: no listeners")
	}
	errCh := make(chan error, len(listeners))
	for _, l := range listeners {
		go func(l net.Listener) {
			logrus.Infof("API listen on %s", l.Addr())
			err := s.srv.Serve(l)
			if errors.Is(err, http.ErrServerClosed) {
				err = nil
			} else if err != nil {
				err = fmt.Errorf("serve %s: %w", l.Addr(), err)
			}
			errCh <- err
		}(l)
	}
	for range listeners {
		if err := <-errCh; err != nil {
			return err
		}
	}
	return nil
}

// Shutdown stops accepting connections, ends long-lived streams (wait,
// logs follow, attach: see router.StreamContext), lets ordinary requests
// finish until ctx ends, then closes what is left.
func (s *Server) Shutdown(ctx context.Context) error {
	s.stopOnce.Do(func() { close(s.stopping) })
	err := s.srv.Shutdown(ctx)
	if err != nil {
		_ = s.srv.Close()
	}
	_ = s.errLog.Close()
	return err
}

// Handler returns the server's HTTP handler (for tests and embedding).
func (s *Server) Handler() http.Handler { return s }

var versionPrefix = regexp.MustCompile(`^/v([0-9][0-9.]*)(/.*)$`)

// ServeHTTP applies the common headers and version handling, then routes.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	rw := &responseWriter{ResponseWriter: w}
	h := rw.Header()
	h.Set("Api-Version", APIVersion)
	h.Set("Docker-Experimental", "false")
	h.Set("Ostype", "linux")
	h.Set("Server", "Berth/"+s.cfg.Version+" (linux)")
	defer func() {
		if !logrus.IsLevelEnabled(logrus.DebugLevel) {
			return
		}
		f := logrus.Fields{"method": r.Method, "path": r.URL.Path, "status": rw.status, "duration": time.Since(start)}
		if rw.hijacked {
			f["status"] = "hijacked"
		}
		logrus.WithFields(f).Debug("api request")
	}()

	version := APIVersion
	if m := versionPrefix.FindStringSubmatch(r.URL.Path); m != nil {
		version = m[1]
		r2 := new(http.Request)
		*r2 = *r
		u := *r.URL
		u.Path = m[2]
		if u.RawPath != "" {
			if rm := versionPrefix.FindStringSubmatch(u.RawPath); rm != nil {
				u.RawPath = rm[2]
			} else {
				u.RawPath = ""
			}
		}
		r2.URL = &u
		r = r2
	}
	if router.CompareVersions(version, MinAPIVersion) < 0 {
		// Plain text, as from dockerd: clients that old print a JSON
		// error body as it is.
		http.Error(rw, fmt.Sprintf("client version %s is too old. Minimum supported API version is %s, please upgrade your client to a newer version", version, MinAPIVersion), http.StatusBadRequest)
		return
	}
	if router.CompareVersions(version, APIVersion) > 0 {
		writeErrorStatus(rw, http.StatusBadRequest, fmt.Sprintf("client version %s is too new. Maximum supported API version is %s", version, APIVersion))
		return
	}
	r = r.WithContext(router.WithStopping(router.WithVersion(r.Context(), version), s.stopping))

	if _, pattern := s.mux.Handler(r); pattern == "" {
		s.noRoute(rw, r)
		return
	}
	s.mux.ServeHTTP(rw, r)
}

// noRoute answers a request no pattern matched: 404, 405 for a known path
// with another method (with Allow), or the mux's redirect for unclean paths.
func (s *Server) noRoute(w http.ResponseWriter, r *http.Request) {
	h, _ := s.mux.Handler(r)
	rec := &statusRecorder{header: http.Header{}}
	h.ServeHTTP(rec, r)
	switch rec.status {
	case http.StatusMethodNotAllowed:
		if a := rec.header.Get("Allow"); a != "" {
			w.Header().Set("Allow", a)
		}
		writeErrorStatus(w, http.StatusMethodNotAllowed, "method not allowed")
	case http.StatusNotFound, 0:
		writeErrorStatus(w, http.StatusNotFound, "page not found")
	default: // redirects of unclean paths
		for k, v := range rec.header {
			w.Header()[k] = v
		}
		w.WriteHeader(rec.status)
	}
}

// wrap turns a router handler into an http.HandlerFunc that writes a
// returned error, unless the response has already started.
func (s *Server) wrap(h router.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		err := h(w, r)
		if err == nil {
			return
		}
		rw, ok := w.(*responseWriter)
		if ok && (rw.hijacked || rw.status != 0) {
			logrus.WithError(err).Debugf("handler for %s %s failed after its response started", r.Method, r.URL.Path)
			return
		}
		if statusFor(err) >= 500 {
			logrus.WithError(err).Errorf("handler for %s %s returned error", r.Method, r.URL.Path)
		}
		writeError(w, err)
	}
}

// responseWriter records the status and whether the connection was
// hijacked, and passes Flush/Hijack through.
type responseWriter struct {
	http.ResponseWriter
	status   int
	hijacked bool
}

func (w *responseWriter) WriteHeader(code int) {
	if w.status == 0 && code >= 200 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *responseWriter) Write(p []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(p)
}

func (w *responseWriter) Flush() {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	if f, ok := w.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

func (w *responseWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	c, brw, err := http.NewResponseController(w.ResponseWriter).Hijack()
	if err == nil {
		w.hijacked = true
	}
	return c, brw, err
}

func (w *responseWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

type statusRecorder struct {
	header http.Header
	status int
}

func (r *statusRecorder) Header() http.Header { return r.header }
func (r *statusRecorder) WriteHeader(code int) {
	if r.status == 0 {
		r.status = code
	}
}
func (r *statusRecorder) Write(p []byte) (int, error) {
	if r.status == 0 {
		r.status = http.StatusOK
	}
	return len(p), nil
}
