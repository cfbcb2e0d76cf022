package engine

import (
	"context"
	"os"
	"syscall"
	"time"

	ctypes "github.com/moby/moby/api/types/container"

	"github.com/berth-dev/berth/internal/container"
	"github.com/berth-dev/berth/internal/errdefs"
	"github.com/berth-dev/berth/internal/monitor"
)

// Restore loads the records and reconciles them with the monitor:
//
//   - a directory without a record (create crashed) is removed with its layer;
//   - removing or dead containers are removed;
//   - running containers the monitor runs are watched again;
//   - running containers the monitor saw exit get that exit recorded;
//   - running containers the monitor does not know (host reboot) are
//     recorded as exited with code 255 and their rootfs released;
//   - tasks the monitor holds for stopped or unknown containers (a start
//     that crashed half way) are killed and deleted.
//
// Containers with --rm that are found stopped are removed.
func (e *Engine) Restore(ctx context.Context) error {
	res, err := e.store.Load()
	if err != nil {
		return err
	}
	for _, lerr := range res.Errors {
		e.log.WithError(lerr).Warn("skipping unreadable container record")
	}
	for _, id := range res.Orphans {
		e.log.WithField("container", id).Info("removing container left half-created")
		if err := e.cfg.Layers.RemoveRW(ctx, id); err != nil && !errdefs.Is(err, errdefs.NotFound) {
			e.log.WithError(err).WithField("container", id).Warn("remove orphan layer")
			continue
		}
		os.RemoveAll(e.bundleDir(id))
		os.RemoveAll(e.store.Dir(id))
	}
	if l, ok := e.cfg.Layers.(RWLister); ok {
		for _, id := range l.RWLayers() {
			if _, err := e.store.Get(id); err == nil {
				continue
			}
			if _, err := os.Stat(e.store.Dir(id)); err == nil {
				continue // an unreadable record: leave its layer
			}
			e.log.WithField("container", id).Info("removing writable layer without a container")
			if err := e.cfg.Layers.RemoveRW(ctx, id); err != nil {
				e.log.WithError(err).WithField("container", id).Warn("remove stray layer")
			}
		}
	}
	states, err := e.cfg.Monitor.List(ctx)
	if err != nil {
		return err
	}
	tasks := map[string]monitor.State{}
	for _, s := range states {
		tasks[s.ID] = s
	}
	for _, ent := range res.Loaded {
		task, known := tasks[ent.ID()]
		delete(tasks, ent.ID())
		e.restoreVolumes(ctx, ent.Snapshot())
		e.restoreOne(ctx, ent, task, known)
	}
	for id := range tasks {
		e.log.WithField("container", id).Warn("monitor holds a task without a container record; destroying it")
		e.destroyTask(ctx, id)
	}
	e.restartPolicyContainers(ctx)
	return nil
}

func (e *Engine) restoreOne(ctx context.Context, ent *container.Entry, task monitor.State, known bool) {
	c := ent.Snapshot()
	log := e.log.WithField("container", c.ID)
	switch {
	case c.State.Status == ctypes.StateRemoving || c.State.Status == ctypes.StateDead:
		if known {
			e.destroyTask(ctx, c.ID)
		}
		if _, err := ent.Update(func(c *container.Container) error {
			c.State.Status = ctypes.StateDead
			return nil
		}); err != nil {
			log.WithError(err).Warn("restore: mark dead")
		}
		if err := e.remove(ctx, ent, true); err != nil {
			log.WithError(err).Warn("restore: finish removal")
		}
	case c.State.Running() && known && task.Running:
		if task.Pid != c.State.Pid && task.Pid != 0 {
			ent.Update(func(c *container.Container) error { c.State.Pid = task.Pid; return nil })
		}
		e.watch(ent)
		e.startHealth(ent)
	case c.State.Running() && known && task.Exit != nil:
		e.handleExit(ent, *task.Exit)
	case c.State.Running():
		if known { // created but never started: berthd died mid-start
			e.destroyTask(ctx, c.ID)
		}
		e.handleExit(ent, monitor.Exit{Code: exitUnknown, At: time.Now().UTC()})
	default:
		if known {
			log.Info("restore: destroying stale task of a stopped container")
			if task.Running {
				e.cfg.Monitor.Kill(ctx, c.ID, syscall.SIGKILL)
			}
			e.destroyTask(ctx, c.ID)
			e.releaseRuntime(ctx, c.ID)
		}
		if c.HostConfig.AutoRemove && c.State.Status == ctypes.StateExited {
			if err := e.remove(ctx, ent, false); err != nil {
				log.WithError(err).Warn("restore: auto-remove")
			}
		}
	}
}
