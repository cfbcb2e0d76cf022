package networks

import (
	"errors"
	"net/http"

	"github.com/moby/moby/api/types/network"

	"github.com/berth-dev/berth/internal/apiserver/router"
	"github.com/berth-dev/berth/internal/errdefs"
	"github.com/berth-dev/berth/internal/filters"
)

type networkRouter struct{ b Backend }

// NewRouter returns the /networks routes served by b.
func NewRouter(b Backend) router.Router { return &networkRouter{b: b} }

func (n *networkRouter) Routes() []router.Route {
	return []router.Route{
		{Method: http.MethodGet, Path: "/networks", Handler: n.list},
		{Method: http.MethodGet, Path: "/networks/{$}", Handler: n.list},
		{Method: http.MethodPost, Path: "/networks/create", Handler: n.create},
		{Method: http.MethodPost, Path: "/networks/prune", Handler: n.prune},
		{Method: http.MethodGet, Path: "/networks/{id}", Handler: n.inspect},
		{Method: http.MethodDelete, Path: "/networks/{id}", Handler: n.remove},
		{Method: http.MethodPost, Path: "/networks/{id}/connect", Handler: n.connect},
		{Method: http.MethodPost, Path: "/networks/{id}/disconnect", Handler: n.disconnect},
	}
}

func queryFilters(r *http.Request) (filters.Args, error) {
	return filters.Parse(r.URL.Query().Get("filters"))
}

func (n *networkRouter) list(w http.ResponseWriter, r *http.Request) error {
	f, err := queryFilters(r)
	if err != nil {
		return err
	}
	l, err := n.b.NetworkList(r.Context(), f)
	if err != nil {
		return err
	}
	return router.WriteJSON(w, http.StatusOK, l)
}

func (n *networkRouter) inspect(w http.ResponseWriter, r *http.Request) error {
	v, err := n.b.NetworkInspect(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	return router.WriteJSON(w, http.StatusOK, v)
}

func (n *networkRouter) create(w http.ResponseWriter, r *http.Request) error {
	var req CreateRequest
	if err := router.DecodeJSON(r, &req); err != nil {
		if errors.Is(err, router.ErrEmptyBody) {
			return errdefs.InvalidArgumentf("invalid JSON: network create request is empty")
		}
		return err
	}
	resp, err := n.b.NetworkCreate(r.Context(), req)
	if err != nil {
		return err
	}
	return router.WriteJSON(w, http.StatusCreated, resp)
}

func (n *networkRouter) remove(w http.ResponseWriter, r *http.Request) error {
	if err := n.b.NetworkRemove(r.Context(), r.PathValue("id")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (n *networkRouter) prune(w http.ResponseWriter, r *http.Request) error {
	f, err := queryFilters(r)
	if err != nil {
		return err
	}
	names, err := n.b.NetworkPrune(r.Context(), f)
	if err != nil {
		return err
	}
	if names == nil {
		names = []string{}
	}
	return router.WriteJSON(w, http.StatusOK, map[string][]string{"NetworksDeleted": names})
}

func (n *networkRouter) connect(w http.ResponseWriter, r *http.Request) error {
	var req network.ConnectRequest
	if err := router.DecodeJSON(r, &req); err != nil {
		return err
	}
	if err := n.b.NetworkConnect(r.Context(), r.PathValue("id"), req.Container, req.EndpointConfig); err != nil {
		return err
	}
	w.WriteHeader(http.StatusOK)
	return nil
}

func (n *networkRouter) disconnect(w http.ResponseWriter, r *http.Request) error {
	var req network.DisconnectRequest
	if err := router.DecodeJSON(r, &req); err != nil {
		return err
	}
	if err := n.b.NetworkDisconnect(r.Context(), r.PathValue("id"), req.Container, req.Force); err != nil {
		return err
	}
	w.WriteHeader(http.StatusOK)
	return nil
}
