package engine

import (
	"context"
	"os"
	"time"

	ctypes "github.com/moby/moby/api/types/container"

	"github.com/berth-dev/berth/internal/container"
	"github.com/berth-dev/berth/internal/errdefs"
	"github.com/berth-dev/berth/internal/monitor"
)

// exitUnknown is the exit code of a container whose exit status was lost
// (the monitor no longer knows it: the host rebooted), as dockerd uses.
const exitUnknown = 255

// watch starts the goroutine that waits for a running container's exit
// and records it.
func (e *Engine) watch(ent *container.Entry) {
	e.wgMu.Lock()
	defer e.wgMu.Unlock()
	if e.closed {
		return // the next Restore adopts it
	}
	e.wg.Add(1)
	go func() {
		defer e.wg.Done()
		exit, ok := e.waitExit(ent.ID())
		if !ok {
			return // engine closing: the next Restore adopts it
		}
		e.handleExit(ent, exit)
	}()
}

// waitExit waits on the monitor, riding out transient failures of its
// connection. ok is false when the engine is closing.
func (e *Engine) waitExit(id string) (monitor.Exit, bool) {
	backoff := 100 * time.Millisecond
	for {
		exit, err := e.cfg.Monitor.Wait(e.ctx, id)
		if err == nil {
			return exit, true
		}
		if e.ctx.Err() != nil {
			return monitor.Exit{}, false
		}
		if errdefs.Is(err, errdefs.NotFound) {
			return monitor.Exit{Code: exitUnknown, At: time.Now().UTC()}, true
		}
		e.log.WithError(err).WithField("container", id).Warn("wait for container exit; retrying")
		select {
		case <-time.After(backoff):
		case <-e.ctx.Done():
			return monitor.Exit{}, false
		}
		backoff = min(2*backoff, 5*time.Second)
	}
}

// handleExit records the exit, releases the runtime's resources and
// honours --rm.
func (e *Engine) handleExit(ent *container.Entry, exit monitor.Exit) {
	ctx := context.Background()
	e.stopHealth(ent.ID())
	ent.Lock()
	c := ent.Snapshot()
	restart, delay := false, time.Duration(0)
	if c.State.Running() {
		at := exit.At
		if at.IsZero() {
			at = time.Now().UTC()
		}
		restart, delay = e.shouldRestart(c, exit.Code)
		// Before the state changes, so that a stop waiting for it
		// publishes its stop event after this die, as dockerd orders them.
		e.logExit(c, exit)
		if _, err := ent.Update(func(c *container.Container) error {
			if restart {
				c.State.SetRestarting(exit.Code, exit.OOMKilled, at.UTC())
				c.RestartCount++
			} else {
				c.State.SetExited(exit.Code, exit.OOMKilled, at.UTC(), "")
			}
			clearNetworksLive(c)
			return nil
		}); err != nil {
			restart = false
			e.log.WithError(err).WithField("container", c.ID).Error("record exit")
		}
	}
	e.releaseRuntime(ctx, c.ID)
	ent.Unlock()
	if restart {
		e.scheduleRestart(ent, delay)
		return
	}
	if c.HostConfig.AutoRemove {
		if err := e.remove(ctx, ent, false); err != nil && !errdefs.Is(err, errdefs.NotFound) {
			e.log.WithError(err).WithField("container", c.ID).Warn("auto-remove")
		}
	}
}

// releaseRuntime deletes the monitor's task, unmounts the rootfs and
// removes the bundle of a container that is not running.
func (e *Engine) releaseRuntime(ctx context.Context, id string) {
	e.execs.drop(id) // as dockerd: a stopped container's execs are gone
	if err := e.cfg.Monitor.Delete(ctx, id); err != nil && !errdefs.Is(err, errdefs.NotFound) {
		e.log.WithError(err).WithField("container", id).Warn("delete task")
	}
	e.detachNetworks(ctx, id)
	if err := e.cfg.Layers.Unmount(ctx, id); err != nil {
		e.log.WithError(err).WithField("container", id).Debug("unmount rootfs")
	}
	e.unmountVolumes(ctx, id)
	if err := os.RemoveAll(e.bundleDir(id)); err != nil {
		e.log.WithError(err).WithField("container", id).Warn("remove bundle")
	}
}

// waitStopped blocks until the container's process has exited, timeout passes
// (negative: no limit), ctx ends or it is removed. It reports whether the
// container stopped.
func waitStopped(ctx context.Context, ent *container.Entry, timeout time.Duration) bool {
	var expired <-chan time.Time
	if timeout >= 0 {
		t := time.NewTimer(timeout)
		defer t.Stop()
		expired = t.C
	}
	for {
		c, changed := ent.Watch()
		if s := c.State.Status; s != ctypes.StateRunning && s != ctypes.StatePaused {
			return true // exited (a restarting container's process has exited too)
		}
		select {
		case <-changed:
		case <-ent.Removed():
			return true
		case <-expired:
			return false
		case <-ctx.Done():
			return false
		}
	}
}
