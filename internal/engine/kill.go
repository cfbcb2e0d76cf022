package engine

import (
	"context"
	"syscall"
	"time"

	"github.com/moby/sys/signal"

	"github.com/berth-dev/berth/internal/errdefs"
)

// killWait bounds how long Kill with SIGKILL waits for the exit to be
// recorded, so that ps right after kill shows the container exited.
const killWait = 10 * time.Second

// Kill sends a signal (name, "SIGNAME" or number; "" is SIGKILL).
func (e *Engine) Kill(ctx context.Context, ref string, sigName string) error {
	sig := syscall.SIGKILL
	if sigName != "" {
		s, err := signal.ParseSignal(sigName)
		if err != nil {
			return errdefs.InvalidArgumentf("%v", err)
		}
		sig = s
	}
	ent, err := e.store.Get(ref)
	if err != nil {
		return err
	}
	c := ent.Snapshot()
	if !c.State.Running() {
		return errNotRunning(c.ID)
	}
	if e.cancelRestart(ent) {
		return nil
	}
	e.markManuallyStopped(ent)
	// Published before the signal, so that it precedes the die event the
	// signal may cause.
	e.logKill(ent, sig)
	if err := e.signal(ctx, ent, sig); err != nil {
		if gone(err) {
			return errNotRunning(c.ID)
		}
		return err
	}
	if sig == syscall.SIGKILL {
		waitStopped(ctx, ent, killWait)
	}
	return nil
}
