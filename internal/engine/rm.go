package engine

import (
	"context"
	"fmt"
	"os"
	"syscall"

	ctypes "github.com/moby/moby/api/types/container"
	eventtypes "github.com/moby/moby/api/types/events"

	"github.com/berth-dev/berth/internal/apiserver/router/containers"
	"github.com/berth-dev/berth/internal/container"
	"github.com/berth-dev/berth/internal/errdefs"
)

// Remove deletes a container: writable layer, record directory, bundle.
// A running container needs force, which kills it first.
func (e *Engine) Remove(ctx context.Context, ref string, opts containers.RemoveOptions) error {
	ent, err := e.store.Get(ref)
	if err != nil {
		return err
	}
	return e.removeContainer(ctx, ent, opts.Force, opts.RemoveVolumes)
}

// remove removes a container for the engine itself (--rm, prune,
// restore); a --rm container's anonymous volumes go with it, as in dockerd.
func (e *Engine) remove(ctx context.Context, ent *container.Entry, force bool) error {
	return e.removeContainer(ctx, ent, force, ent.Snapshot().HostConfig.AutoRemove)
}

func (e *Engine) removeContainer(ctx context.Context, ent *container.Entry, force, removeVolumes bool) (err error) {
	id := ent.ID()
	killed := false
	for {
		ent.Lock()
		select {
		case <-ent.Removed():
			ent.Unlock()
			if killed {
				return nil // its --rm removed it while we waited for the exit
			}
			return errdefs.NotFoundf("No such container: %s", id)
		default:
		}
		c := ent.Snapshot()
		if !c.State.Running() {
			break
		}
		ent.Unlock()
		if !force {
			return errdefs.Conflictf("cannot remove container %q: container is running: stop the container before removing or force remove", c.Name)
		}
		e.cancelNextRestart(id)
		if e.cancelRestart(ent) {
			continue
		}
		if err := e.signal(ctx, ent, syscall.SIGKILL); err != nil && !gone(err) {
			return fmt.Errorf("could not kill container %s: %w", id, err)
		}
		killed = true
		if !waitStopped(ctx, ent, -1) {
			return ctx.Err()
		}
	}
	defer ent.Unlock()
	if ent.Snapshot().State.Status == ctypes.StateRemoving {
		return errdefs.Conflictf("removal of container %s is already in progress", id)
	}
	if _, err := ent.Update(func(c *container.Container) error {
		c.State.Status = ctypes.StateRemoving
		return nil
	}); err != nil {
		return err
	}
	e.cancelAttaches(id)
	cctx := cleanupCtx(ctx)
	if err := e.cfg.Monitor.Delete(cctx, id); err != nil && !errdefs.Is(err, errdefs.NotFound) {
		return e.markDead(ent, fmt.Errorf("delete task of %s: %w", id, err))
	}
	if err := e.cfg.Layers.RemoveRW(cctx, id); err != nil && !errdefs.Is(err, errdefs.NotFound) {
		return e.markDead(ent, fmt.Errorf("remove writable layer of %s: %w", id, err))
	}
	if err := os.RemoveAll(e.bundleDir(id)); err != nil {
		return e.markDead(ent, fmt.Errorf("remove bundle of %s: %w", id, err))
	}
	if err := os.RemoveAll(ent.Dir()); err != nil {
		return e.markDead(ent, fmt.Errorf("remove container %s: %w", id, err))
	}
	e.releaseVolumes(cctx, id, ent.Snapshot().Mounts, removeVolumes)
	e.store.Delete(id)
	e.execs.drop(id)
	e.resetRestart(id)
	e.logEvent(ent.Snapshot(), eventtypes.ActionDestroy, nil)
	return nil
}

// markDead records a removal that failed half way; the next remove (or
// Restore) tries again.
func (e *Engine) markDead(ent *container.Entry, cause error) error {
	if _, err := ent.Update(func(c *container.Container) error {
		c.State.Status = ctypes.StateDead
		c.State.Error = cause.Error()
		return nil
	}); err != nil {
		e.log.WithError(err).WithField("container", ent.ID()).Error("mark dead")
	}
	return cause
}
