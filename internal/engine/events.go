package engine

import (
	"strconv"
	"strings"
	"syscall"

	eventtypes "github.com/moby/moby/api/types/events"

	"github.com/berth-dev/berth/internal/container"
	"github.com/berth-dev/berth/internal/events"
	"github.com/berth-dev/berth/internal/monitor"
)

// logEvent publishes a container event as dockerd does: the actor's
// attributes are the container's labels, its image and name, then attrs
// (exitCode, signal, execID, oldName, ...), which win over labels.
//
// Exec actions carry the command after a colon, as dockerd's do:
// e.logEvent(c, eventtypes.ActionExecStart+": sh -c true", ...).
func (e *Engine) logEvent(c *container.Container, action eventtypes.Action, attrs map[string]string) {
	a := make(map[string]string, len(c.Config.Labels)+2+len(attrs))
	for k, v := range c.Config.Labels {
		a[k] = v
	}
	a["image"] = c.Config.Image
	a["name"] = strings.TrimPrefix(c.Name, "/")
	for k, v := range attrs {
		a[k] = v
	}
	e.cfg.Events.Publish(events.Message{
		Type:   eventtypes.ContainerEventType,
		Action: action,
		Actor:  eventtypes.Actor{ID: c.ID, Attributes: a},
	})
}

// logKill publishes a kill event with the signal's number, as dockerd.
func (e *Engine) logKill(ent *container.Entry, sig syscall.Signal) {
	e.logEvent(ent.Snapshot(), eventtypes.ActionKill, map[string]string{"signal": strconv.Itoa(int(sig))})
}

// logExit publishes oom (when the kernel killed it) and die with the exit
// code and how long the process ran, as dockerd.
func (e *Engine) logExit(c *container.Container, exit monitor.Exit) {
	if exit.OOMKilled {
		e.logEvent(c, eventtypes.ActionOOM, nil)
	}
	attrs := map[string]string{"exitCode": strconv.Itoa(exit.Code)}
	if !c.State.StartedAt.IsZero() && !exit.At.IsZero() {
		attrs["execDuration"] = strconv.Itoa(int(exit.At.Sub(c.State.StartedAt).Seconds()))
	}
	e.logEvent(c, eventtypes.ActionDie, attrs)
}
