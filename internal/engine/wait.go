package engine

import (
	"context"

	ctypes "github.com/moby/moby/api/types/container"

	"github.com/berth-dev/berth/internal/container"
	"github.com/berth-dev/berth/internal/errdefs"
)

// Wait returns a channel yielding one result when cond is met:
// not-running (default; at once if the container is not running),
// next-exit (the next exit from now) or removed. The channel is closed
// without a value if ctx ends first.
func (e *Engine) Wait(ctx context.Context, ref string, cond ctypes.WaitCondition) (<-chan ctypes.WaitResponse, error) {
	switch cond {
	case "":
		cond = ctypes.WaitConditionNotRunning
	case ctypes.WaitConditionNotRunning, ctypes.WaitConditionNextExit, ctypes.WaitConditionRemoved:
	default:
		return nil, errdefs.InvalidArgumentf("invalid condition: %q", cond)
	}
	ent, err := e.store.Get(ref)
	if err != nil {
		return nil, err
	}
	start := ent.Snapshot()
	out := make(chan ctypes.WaitResponse, 1)
	go func() {
		defer close(out)
		for {
			c, changed := ent.Watch()
			removed := false
			select {
			case <-ent.Removed():
				removed = true
			default:
			}
			if met(cond, start, c, removed) {
				out <- waitResponse(c)
				return
			}
			select {
			case <-changed:
			case <-ctx.Done():
				return
			}
		}
	}()
	return out, nil
}

func met(cond ctypes.WaitCondition, start, c *container.Container, removed bool) bool {
	switch cond {
	case ctypes.WaitConditionRemoved:
		return removed
	}
	// An exit the restart policy follows with a restart also counts, as
	// dockerd notifies waiters when it sets a container restarting.
	exited := c.State.Status != ctypes.StateRunning && c.State.FinishedAt.After(start.State.FinishedAt)
	if cond == ctypes.WaitConditionNextExit {
		return removed || exited
	}
	return removed || exited || !c.State.Running()
}

func waitResponse(c *container.Container) ctypes.WaitResponse {
	r := ctypes.WaitResponse{StatusCode: int64(c.State.ExitCode)}
	if c.State.Error != "" {
		r.Error = &ctypes.WaitExitError{Message: c.State.Error}
	}
	return r
}
