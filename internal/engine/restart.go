package engine

import (
	"context"
	"time"

	ctypes "github.com/moby/moby/api/types/container"

	"github.com/berth-dev/berth/internal/container"
)

// Restart policy backoff, as dockerd's restartmanager: 100 ms doubling up
// to a minute, back to the start once a run lasted 10 s.
const (
	restartBackoffStart = 100 * time.Millisecond
	restartBackoffMax   = time.Minute
	restartResetAfter   = 10 * time.Second
)

// restartState is a container's restart manager, in memory.
type restartState struct {
	timeout  time.Duration
	count    int  // policy restarts since the last explicit start
	canceled bool // docker stop / rm: no restart on the next exit
	timer    *time.Timer
}

// restartOf returns id's restart state; the caller holds e.rmu.
func (e *Engine) restartOf(id string) *restartState {
	rs := e.restarts[id]
	if rs == nil {
		rs = &restartState{}
		e.restarts[id] = rs
	}
	return rs
}

// resetRestart forgets the restart state (explicit start, removal).
func (e *Engine) resetRestart(id string) {
	e.rmu.Lock()
	defer e.rmu.Unlock()
	if rs := e.restarts[id]; rs != nil && rs.timer != nil {
		rs.timer.Stop()
	}
	delete(e.restarts, id)
}

// cancelNextRestart makes the next exit final (docker stop, rm -f).
func (e *Engine) cancelNextRestart(id string) {
	e.rmu.Lock()
	defer e.rmu.Unlock()
	e.restartOf(id).canceled = true
}

// shouldRestart applies the restart policy to an exit with code and
// returns the delay before the restart.
func (e *Engine) shouldRestart(c *container.Container, code int) (bool, time.Duration) {
	p := c.HostConfig.RestartPolicy
	if p.Name == "" || p.Name == ctypes.RestartPolicyDisabled || c.HostConfig.AutoRemove || e.ctx.Err() != nil {
		return false, 0
	}
	e.rmu.Lock()
	defer e.rmu.Unlock()
	rs := e.restartOf(c.ID)
	if rs.canceled {
		return false, 0
	}
	if !c.State.StartedAt.IsZero() && time.Since(c.State.StartedAt) >= restartResetAfter {
		rs.timeout = 0
	}
	switch {
	case rs.timeout == 0:
		rs.timeout = restartBackoffStart
	case rs.timeout < restartBackoffMax:
		rs.timeout *= 2
	}
	rs.timeout = min(rs.timeout, restartBackoffMax)
	restart := false
	switch {
	case p.IsAlways():
		restart = true
	case p.IsUnlessStopped():
		restart = !c.ManuallyStopped
	case p.IsOnFailure():
		restart = code != 0 && (p.MaximumRetryCount == 0 || rs.count < p.MaximumRetryCount)
	}
	if restart {
		rs.count++
	}
	return restart, rs.timeout
}

// scheduleRestart starts a restarting container after delay.
func (e *Engine) scheduleRestart(ent *container.Entry, delay time.Duration) {
	e.rmu.Lock()
	defer e.rmu.Unlock()
	rs := e.restartOf(ent.ID())
	if rs.timer != nil {
		rs.timer.Stop()
	}
	rs.timer = time.AfterFunc(delay, func() { e.policyRestart(ent) })
}

// policyRestart starts a container its restart policy brings back.
func (e *Engine) policyRestart(ent *container.Entry) {
	if e.ctx.Err() != nil {
		return // the next daemon applies the policy at Restore
	}
	ent.Lock()
	defer ent.Unlock()
	select {
	case <-ent.Removed():
		return
	default:
	}
	if ent.Snapshot().State.Status != ctypes.StateRestarting {
		return // cancelled meanwhile
	}
	if err := e.startLocked(e.ctx, ent); err != nil {
		e.log.WithError(err).WithField("container", ent.ID()).Warn("restart policy: start failed")
		ent.Update(func(c *container.Container) error {
			if c.State.Status == ctypes.StateRestarting {
				c.State.Status = ctypes.StateExited
				c.State.Error = err.Error()
			}
			return nil
		})
	}
}

// cancelRestart turns a container waiting to be restarted into an exited
// one; it reports whether the container was restarting.
func (e *Engine) cancelRestart(ent *container.Entry) bool {
	ent.Lock()
	defer ent.Unlock()
	if ent.Snapshot().State.Status != ctypes.StateRestarting {
		return false
	}
	e.rmu.Lock()
	rs := e.restartOf(ent.ID())
	rs.canceled = true
	if rs.timer != nil {
		rs.timer.Stop()
	}
	e.rmu.Unlock()
	_, err := ent.Update(func(c *container.Container) error {
		c.State.Status = ctypes.StateExited
		return nil
	})
	if err != nil {
		e.log.WithError(err).WithField("container", ent.ID()).Warn("cancel restart")
	}
	return true
}

// restartAtBoot reports whether Restore starts a stopped container, as
// dockerd does at daemon start: always, unless-stopped when not stopped by
// the user, on-failure after a failure; only containers started before.
func restartAtBoot(c *container.Container) bool {
	p := c.HostConfig.RestartPolicy
	if c.State.Running() || c.State.StartedAt.IsZero() || c.HostConfig.AutoRemove {
		return false
	}
	switch {
	case p.IsAlways():
		return true
	case p.IsUnlessStopped():
		return !c.ManuallyStopped
	case p.IsOnFailure():
		return c.State.ExitCode != 0
	}
	return false
}

// restartPolicyContainers starts, at Restore, the containers their policy
// brings back.
func (e *Engine) restartPolicyContainers(ctx context.Context) {
	for _, ent := range e.store.Entries() {
		c := ent.Snapshot()
		if !restartAtBoot(c) && c.State.Status != ctypes.StateRestarting {
			continue
		}
		ent.Lock()
		if c := ent.Snapshot(); !c.State.Running() || c.State.Status == ctypes.StateRestarting {
			if err := e.startLocked(ctx, ent); err != nil {
				e.log.WithError(err).WithField("container", c.ID).Warn("restore: restart policy start")
			}
		}
		ent.Unlock()
	}
}
