package containers

import (
	"encoding/json"
	"fmt"
	"net/http"

	"github.com/moby/moby/api/types/container"

	"github.com/berth-dev/berth/internal/apiserver/router"
	"github.com/berth-dev/berth/internal/errdefs"
)

func (c *containerRouter) start(w http.ResponseWriter, r *http.Request) error {
	// A HostConfig body on start was removed in API 1.24; "{}" or "null"
	// from old clients is tolerated, as by dockerd.
	if r.ContentLength > 7 || r.ContentLength == -1 {
		return errdefs.InvalidArgumentf("starting container with non-empty request body was deprecated since API v1.22 and removed in v1.24")
	}
	if err := c.b.Start(r.Context(), r.PathValue("id")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func stopOptions(r *http.Request) (StopOptions, error) {
	var opts StopOptions
	if router.VersionAtLeast(r.Context(), "1.42") {
		opts.Signal = r.URL.Query().Get("signal")
	}
	t, ok, err := router.IntValue(r, "t")
	if err != nil {
		return opts, err
	}
	if ok {
		opts.Timeout = &t
	}
	return opts, nil
}

func (c *containerRouter) stop(w http.ResponseWriter, r *http.Request) error {
	opts, err := stopOptions(r)
	if err != nil {
		return err
	}
	if err := c.b.Stop(r.Context(), r.PathValue("id"), opts); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (c *containerRouter) restart(w http.ResponseWriter, r *http.Request) error {
	opts, err := stopOptions(r)
	if err != nil {
		return err
	}
	if err := c.b.Restart(r.Context(), r.PathValue("id"), opts); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (c *containerRouter) kill(w http.ResponseWriter, r *http.Request) error {
	id := r.PathValue("id")
	if err := c.b.Kill(r.Context(), id, r.URL.Query().Get("signal")); err != nil {
		return fmt.Errorf("cannot kill container: %s: %w", id, err) // dockerd's wording
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// wait sends the header as soon as the wait is set up: the docker CLI
// waits for it before starting the container (docker run), so holding it
// back until the exit would deadlock the client.
func (c *containerRouter) wait(w http.ResponseWriter, r *http.Request) error {
	cond := container.WaitConditionNotRunning
	// Before 1.30 there were no conditions and the header came with the
	// result.
	legacy := !router.VersionAtLeast(r.Context(), "1.30")
	if v := r.URL.Query().Get("condition"); v != "" && !legacy {
		switch container.WaitCondition(v) {
		case container.WaitConditionNotRunning, container.WaitConditionNextExit, container.WaitConditionRemoved:
			cond = container.WaitCondition(v)
		default:
			return errdefs.InvalidArgumentf("invalid condition: %q", v)
		}
	}
	ctx, cancel := router.StreamContext(r)
	defer cancel()
	ch, err := c.b.Wait(ctx, r.PathValue("id"), cond)
	if err != nil {
		return err
	}
	w.Header().Set("Content-Type", "application/json")
	if !legacy {
		w.WriteHeader(http.StatusOK)
		_ = http.NewResponseController(w).Flush()
	}
	select {
	case res, ok := <-ch:
		if !ok {
			res = container.WaitResponse{StatusCode: -1, Error: &container.WaitExitError{Message: "wait ended without a result"}}
		}
		return json.NewEncoder(w).Encode(res)
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (c *containerRouter) remove(w http.ResponseWriter, r *http.Request) error {
	err := c.b.Remove(r.Context(), r.PathValue("id"), RemoveOptions{
		Force:         router.BoolValue(r, "force"),
		RemoveVolumes: router.BoolValue(r, "v"),
		RemoveLink:    router.BoolValue(r, "link"),
	})
	if err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (c *containerRouter) resize(w http.ResponseWriter, r *http.Request) error {
	h, _, err := router.IntValue(r, "h")
	if err != nil {
		return err
	}
	wd, _, err := router.IntValue(r, "w")
	if err != nil {
		return err
	}
	if h < 0 || wd < 0 {
		return errdefs.InvalidArgumentf("invalid terminal size %dx%d: must not be negative", h, wd)
	}
	if err := c.b.Resize(r.Context(), r.PathValue("id"), uint(h), uint(wd)); err != nil {
		return err
	}
	w.WriteHeader(http.StatusOK)
	return nil
}

func (c *containerRouter) rename(w http.ResponseWriter, r *http.Request) error {
	name := r.URL.Query().Get("name")
	if name == "" {
		return errdefs.InvalidArgumentf("rename: new name is required")
	}
	if err := c.b.Rename(r.Context(), r.PathValue("id"), name); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}
