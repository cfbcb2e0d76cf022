// Package volumes routes the /volumes endpoints of the Engine API.
package volumes

import (
	"context"
	"errors"
	"net/http"

	vtypes "github.com/moby/moby/api/types/volume"

	"github.com/berth-dev/berth/internal/apiserver/router"
	"github.com/berth-dev/berth/internal/filters"
)

// Backend is what the volume routes need from the volume service
// (*volume.Service provides it).
type Backend interface {
	// List filters on dangling, name, label and driver.
	List(ctx context.Context, f filters.Args) (vtypes.ListResponse, error)
	// Create returns the existing volume when the name is taken.
	Create(ctx context.Context, req vtypes.CreateRequest) (vtypes.Volume, error)
	Inspect(ctx context.Context, name string) (vtypes.Volume, error)
	// Remove refuses (Conflict) a volume a container refers to; force
	// only silences an unknown name.
	Remove(ctx context.Context, name string, force bool) error
	// Prune removes unused volumes; onlyAnonymous (API >= 1.42) keeps
	// named ones unless the filters say all=true.
	Prune(ctx context.Context, f filters.Args, onlyAnonymous bool) (vtypes.PruneReport, error)
}

type volumeRouter struct{ b Backend }

// NewRouter returns the /volumes routes served by b.
func NewRouter(b Backend) router.Router { return &volumeRouter{b: b} }

func (v *volumeRouter) Routes() []router.Route {
	return []router.Route{
		{Method: http.MethodGet, Path: "/volumes", Handler: v.list},
		{Method: http.MethodPost, Path: "/volumes/create", Handler: v.create},
		{Method: http.MethodPost, Path: "/volumes/prune", Handler: v.prune},
		{Method: http.MethodGet, Path: "/volumes/{name}", Handler: v.inspect},
		{Method: http.MethodDelete, Path: "/volumes/{name}", Handler: v.remove},
	}
}

func (v *volumeRouter) list(w http.ResponseWriter, r *http.Request) error {
	f, err := filters.Parse(r.URL.Query().Get("filters"))
	if err != nil {
		return err
	}
	resp, err := v.b.List(r.Context(), f)
	if err != nil {
		return err
	}
	return router.WriteJSON(w, http.StatusOK, resp)
}

func (v *volumeRouter) create(w http.ResponseWriter, r *http.Request) error {
	var req vtypes.CreateRequest
	if err := router.DecodeJSON(r, &req); err != nil && !errors.Is(err, router.ErrEmptyBody) {
		return err
	}
	vol, err := v.b.Create(r.Context(), req)
	if err != nil {
		return err
	}
	return router.WriteJSON(w, http.StatusCreated, vol)
}

func (v *volumeRouter) inspect(w http.ResponseWriter, r *http.Request) error {
	vol, err := v.b.Inspect(r.Context(), r.PathValue("name"))
	if err != nil {
		return err
	}
	return router.WriteJSON(w, http.StatusOK, vol)
}

func (v *volumeRouter) remove(w http.ResponseWriter, r *http.Request) error {
	if err := v.b.Remove(r.Context(), r.PathValue("name"), router.BoolValue(r, "force")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (v *volumeRouter) prune(w http.ResponseWriter, r *http.Request) error {
	f, err := filters.Parse(r.URL.Query().Get("filters"))
	if err != nil {
		return err
	}
	rep, err := v.b.Prune(r.Context(), f, router.VersionAtLeast(r.Context(), "1.42"))
	if err != nil {
		return err
	}
	if rep.VolumesDeleted == nil {
		rep.VolumesDeleted = []string{}
	}
	return router.WriteJSON(w, http.StatusOK, rep)
}
