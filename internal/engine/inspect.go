package engine

import (
	"context"

	ctypes "github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/storage"
)

// Inspect returns the container's full inspect view, from a snapshot.
func (e *Engine) Inspect(ctx context.Context, ref string, size bool) (ctypes.InspectResponse, error) {
	ent, err := e.store.Get(ref)
	if err != nil {
		return ctypes.InspectResponse{}, err
	}
	c := ent.Snapshot()
	var graph *storage.DriverData
	if name, data, err := e.cfg.Layers.Metadata(ctx, c.ID); err == nil {
		graph = &storage.DriverData{Name: name, Data: data}
	} else {
		e.log.WithError(err).WithField("container", c.ID).Debug("layer metadata")
	}
	in := c.Inspect(graph)
	in.ExecIDs = e.execs.running(c.ID)
	if size {
		if n, ok := e.rwSize(ctx, c.ID); ok {
			in.SizeRw = &n
		}
	}
	return in, nil
}

// ContainerTTY reports whether the container has a terminal.
func (e *Engine) ContainerTTY(ctx context.Context, ref string) (bool, error) {
	ent, err := e.store.Get(ref)
	if err != nil {
		return false, err
	}
	return ent.Snapshot().Config.Tty, nil
}
