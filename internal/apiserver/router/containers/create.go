package containers

import (
	"errors"
	"net/http"

	"github.com/moby/moby/api/types/container"

	"github.com/berth-dev/berth/internal/apiserver/router"
	"github.com/berth-dev/berth/internal/errdefs"
)

func (c *containerRouter) create(w http.ResponseWriter, r *http.Request) error {
	var body container.CreateRequest
	if err := router.DecodeJSON(r, &body); err != nil {
		if errors.Is(err, router.ErrEmptyBody) {
			return errdefs.InvalidArgumentf("config cannot be empty in order to create a container")
		}
		return err
	}
	if body.Config == nil {
		return errdefs.InvalidArgumentf("config cannot be empty in order to create a container")
	}
	q := r.URL.Query()
	resp, err := c.b.Create(r.Context(), CreateRequest{
		Name:             q.Get("name"),
		Platform:         q.Get("platform"),
		Config:           body.Config,
		HostConfig:       body.HostConfig,
		NetworkingConfig: body.NetworkingConfig,
		APIVersion:       router.VersionFromContext(r.Context()),
	})
	if err != nil {
		return err
	}
	if resp.Warnings == nil {
		resp.Warnings = []string{}
	}
	return router.WriteJSON(w, http.StatusCreated, resp)
}
