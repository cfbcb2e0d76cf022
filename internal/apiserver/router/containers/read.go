package containers

import (
	"net/http"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/storage"

	"github.com/berth-dev/berth/internal/apiserver/router"
	"github.com/berth-dev/berth/internal/filters"
)

func (c *containerRouter) list(w http.ResponseWriter, r *http.Request) error {
	f, err := filters.Parse(r.URL.Query().Get("filters"))
	if err != nil {
		return err
	}
	limit, _, err := router.IntValue(r, "limit")
	if err != nil {
		return err
	}
	list, err := c.b.List(r.Context(), ListOptions{
		All:     router.BoolValue(r, "all"),
		Limit:   limit,
		Size:    router.BoolValue(r, "size"),
		Filters: f,
	})
	if err != nil {
		return err
	}
	if list == nil {
		list = []container.Summary{}
	}
	// Fields newer than the client's API version are left out, as dockerd
	// does.
	for i := range list {
		if !router.VersionAtLeast(r.Context(), "1.46") {
			list[i].HostConfig.Annotations = nil
		}
		if !router.VersionAtLeast(r.Context(), "1.48") {
			list[i].ImageManifestDescriptor = nil
		}
	}
	return router.WriteJSON(w, http.StatusOK, list)
}

func (c *containerRouter) inspect(w http.ResponseWriter, r *http.Request) error {
	resp, err := c.b.Inspect(r.Context(), r.PathValue("id"), router.BoolValue(r, "size"))
	if err != nil {
		return err
	}
	if !router.VersionAtLeast(r.Context(), "1.48") {
		resp.ImageManifestDescriptor = nil
	}
	// Storage replaced GraphDriver in API 1.52; older clients (all that
	// berth serves) get GraphDriver, as from dockerd.
	if st := resp.Storage; st != nil {
		if resp.GraphDriver == nil && st.RootFS != nil && st.RootFS.Snapshot != nil {
			resp.GraphDriver = &storage.DriverData{Name: st.RootFS.Snapshot.Name, Data: map[string]string{}}
		}
		resp.Storage = nil
	}
	if !router.VersionAtLeast(r.Context(), "1.52") && resp.NetworkSettings != nil {
		ns, err := legacyNetworkSettings(resp.NetworkSettings)
		if err != nil {
			return err
		}
		return router.WriteJSONWithFields(w, http.StatusOK, resp, map[string]any{"NetworkSettings": ns})
	}
	return router.WriteJSON(w, http.StatusOK, resp)
}

func (c *containerRouter) prune(w http.ResponseWriter, r *http.Request) error {
	f, err := filters.Parse(r.URL.Query().Get("filters"))
	if err != nil {
		return err
	}
	rep, err := c.b.Prune(r.Context(), f)
	if err != nil {
		return err
	}
	if rep.ContainersDeleted == nil {
		rep.ContainersDeleted = []string{}
	}
	return router.WriteJSON(w, http.StatusOK, rep)
}
