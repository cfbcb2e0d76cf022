package engine

import (
	"context"
	"syscall"
	"time"

	eventtypes "github.com/moby/moby/api/types/events"
	"github.com/moby/sys/signal"

	"github.com/berth-dev/berth/internal/apiserver/router/containers"
	"github.com/berth-dev/berth/internal/container"
	"github.com/berth-dev/berth/internal/errdefs"
)

// defaultStopTimeout is dockerd's grace period before SIGKILL.
const defaultStopTimeout = 10

// Stop sends the stop signal, waits up to the timeout, then kills.
// Already stopped: errdefs.NotModified. No lock is held while waiting, so
// kill, inspect and ps proceed during a slow stop.
func (e *Engine) Stop(ctx context.Context, ref string, opts containers.StopOptions) error {
	ent, err := e.store.Get(ref)
	if err != nil {
		return err
	}
	c := ent.Snapshot()
	if !c.State.Running() {
		return errdefs.NotModifiedf("container %s is already stopped", c.ID)
	}
	sig, timeout, err := stopParams(c, opts)
	if err != nil {
		return err
	}
	if err := e.stop(ctx, ent, sig, timeout); err != nil {
		return err
	}
	e.logEvent(ent.Snapshot(), eventtypes.ActionStop, nil)
	return nil
}

// Restart stops the container if it runs, then starts it.
func (e *Engine) Restart(ctx context.Context, ref string, opts containers.StopOptions) error {
	ent, err := e.store.Get(ref)
	if err != nil {
		return err
	}
	c := ent.Snapshot()
	if c.State.Running() {
		sig, timeout, err := stopParams(c, opts)
		if err != nil {
			return err
		}
		if err := e.stop(ctx, ent, sig, timeout); err != nil {
			return err
		}
		e.logEvent(ent.Snapshot(), eventtypes.ActionStop, nil)
	}
	if err := e.Start(ctx, c.ID); err != nil && !errdefs.Is(err, errdefs.NotModified) {
		return err
	}
	e.logEvent(ent.Snapshot(), eventtypes.ActionRestart, nil)
	return nil
}

func stopParams(c *container.Container, opts containers.StopOptions) (syscall.Signal, time.Duration, error) {
	sigName := opts.Signal
	if sigName == "" {
		sigName = c.Config.StopSignal
	}
	sig := syscall.SIGTERM
	if sigName != "" {
		s, err := signal.ParseSignal(sigName)
		if err != nil {
			return 0, 0, errdefs.InvalidArgumentf("%v", err)
		}
		sig = s
	}
	secs := defaultStopTimeout
	if c.Config.StopTimeout != nil {
		secs = *c.Config.StopTimeout
	}
	if opts.Timeout != nil {
		secs = *opts.Timeout
	}
	if secs < 0 {
		return sig, -1, nil
	}
	return sig, time.Duration(secs) * time.Second, nil
}

// stop signals, waits, then kills and waits for the exit to be recorded.
func (e *Engine) stop(ctx context.Context, ent *container.Entry, sig syscall.Signal, timeout time.Duration) error {
	id := ent.ID()
	e.cancelNextRestart(id)
	if e.cancelRestart(ent) {
		return nil
	}
	e.markManuallyStopped(ent)
	if sig != syscall.SIGKILL {
		e.logKill(ent, sig) // before the signal: it precedes the die
		if err := e.signal(ctx, ent, sig); err != nil && !gone(err) {
			return err
		}
		if waitStopped(ctx, ent, timeout) {
			return nil
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
	}
	e.logKill(ent, syscall.SIGKILL)
	if err := e.signal(ctx, ent, syscall.SIGKILL); err != nil && !gone(err) {
		return err
	}
	if !waitStopped(ctx, ent, -1) {
		return ctx.Err()
	}
	return nil
}

// markManuallyStopped records a user's stop or kill (unless-stopped).
func (e *Engine) markManuallyStopped(ent *container.Entry) {
	if _, err := ent.Update(func(c *container.Container) error {
		c.ManuallyStopped = true
		return nil
	}); err != nil {
		e.log.WithError(err).WithField("container", ent.ID()).Warn("record manual stop")
	}
}

// gone reports a signal error that means the process has already exited.
func gone(err error) bool {
	return errdefs.Is(err, errdefs.NotFound) || errdefs.Is(err, errdefs.Conflict)
}
