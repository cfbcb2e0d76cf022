package system

import (
	"net/http"

	"github.com/berth-dev/berth/internal/apiserver/router"
)

type systemRouter struct {
	b Backend
}

// NewRouter returns the system routes. With a nil backend only /_ping is
// served.
func NewRouter(b Backend) router.Router { return &systemRouter{b: b} }

func (s *systemRouter) Routes() []router.Route {
	routes := []router.Route{
		{Method: http.MethodGet, Path: "/_ping", Handler: ping}, // GET also serves HEAD
	}
	if s.b != nil {
		routes = append(routes,
			router.Route{Method: http.MethodGet, Path: "/version", Handler: s.version},
			router.Route{Method: http.MethodGet, Path: "/info", Handler: s.info},
			router.Route{Method: http.MethodGet, Path: "/system/df", Handler: s.diskUsage},
			router.Route{Method: http.MethodPost, Path: "/system/check", Handler: s.check},
		)
	}
	return routes
}

// ping answers as dockerd does; the docker CLI reads Api-Version from it to
// negotiate, and Builder-Version to pick the builder (1: classic).
func ping(w http.ResponseWriter, r *http.Request) error {
	h := w.Header()
	h.Set("Cache-Control", "no-cache, no-store, must-revalidate")
	h.Set("Pragma", "no-cache")
	h.Set("Builder-Version", "1")
	h.Set("Swarm", "inactive")
	h.Set("Content-Type", "text/plain; charset=utf-8")
	if r.Method == http.MethodHead {
		h.Set("Content-Length", "0")
		w.WriteHeader(http.StatusOK)
		return nil
	}
	_, err := w.Write([]byte("OK"))
	return err
}

func (s *systemRouter) version(w http.ResponseWriter, r *http.Request) error {
	v, err := s.b.Version(r.Context())
	if err != nil {
		return err
	}
	if v.APIVersion == "" {
		v.APIVersion = router.APIVersion
	}
	if v.MinAPIVersion == "" {
		v.MinAPIVersion = router.MinAPIVersion
	}
	return router.WriteJSON(w, http.StatusOK, v)
}

func (s *systemRouter) info(w http.ResponseWriter, r *http.Request) error {
	info, err := s.b.Info(r.Context())
	if err != nil {
		return err
	}
	return router.WriteJSON(w, http.StatusOK, info)
}
