package containers

import (
	"net/http"

	"github.com/berth-dev/berth/internal/apiserver/router"
)

type containerRouter struct {
	b Backend
}

// NewRouter returns the /containers routes served by b.
func NewRouter(b Backend) router.Router { return &containerRouter{b: b} }

func (c *containerRouter) Routes() []router.Route {
	return []router.Route{
		{Method: http.MethodPost, Path: "/containers/create", Handler: c.create},
		{Method: http.MethodGet, Path: "/containers/json", Handler: c.list},
		{Method: http.MethodPost, Path: "/containers/prune", Handler: c.prune},
		{Method: http.MethodGet, Path: "/containers/{id}/json", Handler: c.inspect},
		{Method: http.MethodPost, Path: "/containers/{id}/start", Handler: c.start},
		{Method: http.MethodPost, Path: "/containers/{id}/stop", Handler: c.stop},
		{Method: http.MethodPost, Path: "/containers/{id}/restart", Handler: c.restart},
		{Method: http.MethodPost, Path: "/containers/{id}/kill", Handler: c.kill},
		{Method: http.MethodPost, Path: "/containers/{id}/wait", Handler: c.wait},
		{Method: http.MethodDelete, Path: "/containers/{id}", Handler: c.remove},
		{Method: http.MethodGet, Path: "/containers/{id}/logs", Handler: c.logs},
		{Method: http.MethodPost, Path: "/containers/{id}/attach", Handler: c.attach},
		{Method: http.MethodPost, Path: "/containers/{id}/resize", Handler: c.resize},
		{Method: http.MethodPost, Path: "/containers/{id}/rename", Handler: c.rename},
		{Method: http.MethodPost, Path: "/containers/{id}/pause", Handler: c.pause},
		{Method: http.MethodPost, Path: "/containers/{id}/unpause", Handler: c.unpause},
		{Method: http.MethodGet, Path: "/containers/{id}/top", Handler: c.top},
		{Method: http.MethodGet, Path: "/containers/{id}/stats", Handler: c.stats},
		{Method: http.MethodPost, Path: "/containers/{id}/update", Handler: c.update},
		{Method: http.MethodPost, Path: "/commit", Handler: c.commit},
		{Method: http.MethodGet, Path: "/containers/{id}/changes", Handler: c.changes},
		{Method: http.MethodGet, Path: "/containers/{id}/export", Handler: c.export},
		{Method: http.MethodGet, Path: "/containers/{id}/archive", Handler: c.archive}, // and HEAD
		{Method: http.MethodPut, Path: "/containers/{id}/archive", Handler: c.putArchive},
	}
}
