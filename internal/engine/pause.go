package engine

import (
	"context"
	"fmt"
	"syscall"

	ctypes "github.com/moby/moby/api/types/container"
	eventtypes "github.com/moby/moby/api/types/events"

	"github.com/berth-dev/berth/internal/cgroups"
	"github.com/berth-dev/berth/internal/container"
	"github.com/berth-dev/berth/internal/errdefs"
)

// Pause and unpause use the cgroup freezer of the container's cgroup,
// found from its init's /proc/<pid>/cgroup (cgroups.Load), for berth's
// runtime and runc alike: runc puts the container in the spec's
// cgroupsPath too, and freezing it from outside is what `runc pause` does
// (runc's state then still says "running", which berth never asks).

// Pause freezes every process of the container.
func (e *Engine) Pause(ctx context.Context, ref string) error {
	ent, err := e.store.Get(ref)
	if err != nil {
		return err
	}
	ent.Lock()
	defer ent.Unlock()
	c := ent.Snapshot()
	switch c.State.Status {
	case ctypes.StateRunning:
	case ctypes.StatePaused:
		return errdefs.Conflictf("Container %s is already paused", c.ID)
	case ctypes.StateRestarting:
		return errRestarting(c.ID)
	default:
		return errNotRunning(c.ID)
	}
	cg, err := cgroups.Load(c.State.Pid)
	if err != nil {
		return e.goneOr(c.ID, err)
	}
	if err := cg.Freeze(); err != nil {
		return fmt.Errorf("cannot pause container %s: %w", c.ID, err)
	}
	if _, err := ent.Update(func(c *container.Container) error {
		c.State.Status = ctypes.StatePaused
		return nil
	}); err != nil {
		_ = cg.Thaw()
		return err
	}
	e.logEvent(c, eventtypes.ActionPause, nil)
	return nil
}

// Unpause thaws the container's processes.
func (e *Engine) Unpause(ctx context.Context, ref string) error {
	ent, err := e.store.Get(ref)
	if err != nil {
		return err
	}
	ent.Lock()
	defer ent.Unlock()
	c := ent.Snapshot()
	if c.State.Status != ctypes.StatePaused {
		return errdefs.Conflictf("Container %s is not paused", c.ID)
	}
	return e.thawLocked(ent, c)
}

// thawLocked thaws a paused container and records it running; the
// caller holds ent's lock.
func (e *Engine) thawLocked(ent *container.Entry, c *container.Container) error {
	cg, err := cgroups.Load(c.State.Pid)
	if err != nil {
		return e.goneOr(c.ID, err)
	}
	if err := cg.Thaw(); err != nil {
		return fmt.Errorf("cannot unpause container %s: %w", c.ID, err)
	}
	_, err = ent.Update(func(c *container.Container) error {
		if c.State.Status == ctypes.StatePaused {
			c.State.Status = ctypes.StateRunning
		}
		return nil
	})
	if err == nil {
		e.logEvent(c, eventtypes.ActionUnPause, nil)
	}
	return err
}

// signal sends sig to the container's init and, if the container is
// paused, thaws it so that the signal is delivered, as dockerd does for
// stop and kill (a paused container that is signalled runs again).
func (e *Engine) signal(ctx context.Context, ent *container.Entry, sig syscall.Signal) error {
	err := e.cfg.Monitor.Kill(ctx, ent.ID(), sig)
	if ent.Snapshot().State.Status == ctypes.StatePaused {
		ent.Lock()
		if c := ent.Snapshot(); c.State.Status == ctypes.StatePaused {
			if terr := e.thawLocked(ent, c); terr != nil {
				e.log.WithError(terr).WithField("container", c.ID).Warn("unpause after signal")
			}
		}
		ent.Unlock()
	}
	return err
}

// goneOr maps a cgroup lookup error of a process that has exited to
// dockerd's not-running conflict.
func (e *Engine) goneOr(id string, err error) error {
	if errdefs.Is(err, errdefs.NotFound) {
		return errNotRunning(id)
	}
	return err
}

func errRestarting(id string) error {
	return errdefs.Conflictf("Container %s is restarting, wait until the container is running", id)
}
