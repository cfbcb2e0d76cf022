package engine

import (
	"context"
	"fmt"
	"strings"

	eventtypes "github.com/moby/moby/api/types/events"

	"github.com/berth-dev/berth/internal/container"
	"github.com/berth-dev/berth/internal/errdefs"
)

// Rename gives a container a new name.
func (e *Engine) Rename(ctx context.Context, ref, newName string) error {
	if ref == "" || newName == "" {
		return errdefs.InvalidArgumentf("Neither old nor new names may be empty")
	}
	// dockerd's order: the container first, then the new name.
	ent, err := e.store.Get(ref)
	if err != nil {
		return err
	}
	if ent.Snapshot().Name == "/"+strings.TrimPrefix(newName, "/") {
		return errdefs.InvalidArgumentf("Renaming a container with the same name as its current name")
	}
	name, err := container.NormalizeName(newName)
	if err != nil {
		return errdefs.With(errdefs.InvalidArgument, fmt.Errorf("Error when allocating new name: %w", err))
	}
	if ent.Snapshot().Name == name {
		return errdefs.InvalidArgumentf("Renaming a container with the same name as its current name")
	}
	oldName := ent.Snapshot().Name
	if err := e.store.Rename(ent, name); err != nil {
		if errdefs.Is(err, errdefs.Conflict) {
			return errdefs.Conflictf("Error when allocating new name: %w", err)
		}
		return err
	}
	e.logEvent(ent.Snapshot(), eventtypes.ActionRename, map[string]string{"oldName": oldName})
	return nil
}
