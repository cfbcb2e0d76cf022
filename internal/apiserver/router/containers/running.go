package containers

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"

	"github.com/moby/moby/api/types/container"

	"github.com/berth-dev/berth/internal/apiserver/router"
	"github.com/berth-dev/berth/internal/errdefs"
)

// RunningBackend is what the routes acting on a running container's
// processes and cgroup need: pause, top, stats, update.
type RunningBackend interface {
	// Pause freezes every process of the container (cgroup freezer);
	// Unpause thaws them. Not running / already paused / not paused are
	// errdefs.Conflict with Docker's messages.
	Pause(ctx context.Context, idOrName string) error
	Unpause(ctx context.Context, idOrName string) error
	// Top lists the container's processes with the host's ps and psArgs
	// ("" is "-ef").
	Top(ctx context.Context, idOrName, psArgs string) (container.TopResponse, error)
	// Stats calls emit with one sample (Stream false) or one per second
	// until ctx ends, emit fails, or the container is removed. A container
	// that is not running yields samples with only its ID and name.
	Stats(ctx context.Context, idOrName string, opts StatsOptions, emit func(*container.StatsResponse) error) error
	// Update changes the resources and restart policy of a container,
	// applying the resources to its cgroup when it runs.
	Update(ctx context.Context, idOrName string, cfg container.UpdateConfig) (container.UpdateResponse, error)
}

// StatsOptions for GET /containers/{id}/stats.
type StatsOptions struct {
	Stream bool
	// OneShot (with Stream false) answers at once, without the second
	// sample that fills precpu_stats.
	OneShot bool
}

func (c *containerRouter) pause(w http.ResponseWriter, r *http.Request) error {
	if err := c.b.Pause(r.Context(), r.PathValue("id")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (c *containerRouter) unpause(w http.ResponseWriter, r *http.Request) error {
	if err := c.b.Unpause(r.Context(), r.PathValue("id")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (c *containerRouter) top(w http.ResponseWriter, r *http.Request) error {
	resp, err := c.b.Top(r.Context(), r.PathValue("id"), r.URL.Query().Get("ps_args"))
	if err != nil {
		return err
	}
	return router.WriteJSON(w, http.StatusOK, resp)
}

// stats writes one JSON document per sample, flushing each; the header
// goes out with the first, so an early error keeps its status.
func (c *containerRouter) stats(w http.ResponseWriter, r *http.Request) error {
	opts := StatsOptions{Stream: router.BoolValueOr(r, "stream", true)}
	if router.VersionAtLeast(r.Context(), "1.41") {
		opts.OneShot = router.BoolValueOr(r, "one-shot", false)
	}
	if opts.Stream && opts.OneShot {
		return errdefs.InvalidArgumentf("cannot have stream=true and one-shot=true")
	}
	ctx, cancel := router.StreamContext(r)
	defer cancel()
	started := false
	enc := json.NewEncoder(w)
	return c.b.Stats(ctx, r.PathValue("id"), opts, func(s *container.StatsResponse) error {
		if !started {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusOK)
			started = true
		}
		if err := enc.Encode(s); err != nil {
			return err
		}
		if f, ok := w.(http.Flusher); ok {
			f.Flush()
		}
		return nil
	})
}

func (c *containerRouter) update(w http.ResponseWriter, r *http.Request) error {
	var cfg container.UpdateConfig
	if err := router.DecodeJSON(r, &cfg); err != nil {
		if errors.Is(err, router.ErrEmptyBody) {
			return errdefs.InvalidArgumentf("invalid JSON: %v", err)
		}
		return err
	}
	resp, err := c.b.Update(r.Context(), r.PathValue("id"), cfg)
	if err != nil {
		return err
	}
	return router.WriteJSON(w, http.StatusOK, resp)
}
