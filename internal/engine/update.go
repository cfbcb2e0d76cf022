package engine

import (
	"context"
	"fmt"

	ctypes "github.com/moby/moby/api/types/container"
	eventtypes "github.com/moby/moby/api/types/events"

	"github.com/berth-dev/berth/internal/cgroups"
	"github.com/berth-dev/berth/internal/container"
	"github.com/berth-dev/berth/internal/errdefs"
	"github.com/berth-dev/berth/internal/ocispec"
)

// Update merges the update into the container's HostConfig as dockerd's
// UpdateContainer does (a zero field keeps the current value), writes the
// record, and, when the container's process is alive (running or
// paused), writes the merged resources to its cgroup. A failed cgroup
// write leaves the record as it was.
func (e *Engine) Update(ctx context.Context, ref string, upd ctypes.UpdateConfig) (ctypes.UpdateResponse, error) {
	hc := &ctypes.HostConfig{Resources: upd.Resources, RestartPolicy: upd.RestartPolicy}
	if err := ocispec.ValidateUpdate(hc); err != nil {
		return ctypes.UpdateResponse{}, err
	}
	ent, err := e.store.Get(ref)
	if err != nil {
		return ctypes.UpdateResponse{}, err
	}
	ent.Lock()
	defer ent.Unlock()
	c := ent.Snapshot()
	next := *c.HostConfig
	if err := mergeUpdate(&next, upd); err != nil {
		return ctypes.UpdateResponse{}, errdefs.With(errdefs.InvalidArgument, fmt.Errorf("Cannot update container %s: %w", c.ID, err))
	}
	warnings, err := ocispec.DropUnsupported(&next.Resources, cgroups.HostCapabilities())
	if err != nil {
		return ctypes.UpdateResponse{Warnings: warnings}, err
	}
	if s := c.State.Status; s == ctypes.StateRunning || s == ctypes.StatePaused {
		cg, err := cgroups.Load(c.State.Pid)
		if err == nil {
			err = cg.Set(ocispec.UpdateResources(next.Resources))
		}
		if err != nil && !errdefs.Is(err, errdefs.NotFound) {
			return ctypes.UpdateResponse{Warnings: warnings}, fmt.Errorf("Cannot update container %s: %w", c.ID, err)
		}
	}
	if _, err := ent.Update(func(c *container.Container) error {
		c.HostConfig = &next // a new value: published snapshots stay immutable
		return nil
	}); err != nil {
		return ctypes.UpdateResponse{Warnings: warnings}, err
	}
	e.logEvent(c, eventtypes.ActionUpdate, nil)
	return ctypes.UpdateResponse{Warnings: warnings}, nil
}

// mergeUpdate is dockerd's container.UpdateContainer: the checks between
// the update and what is set, then the non-zero fields copied over.
func mergeUpdate(hc *ctypes.HostConfig, upd ctypes.UpdateConfig) error {
	r, cur := upd.Resources, &hc.Resources
	switch {
	case r.NanoCPUs > 0 && cur.CPUPeriod > 0:
		return fmt.Errorf("Conflicting options: Nano CPUs cannot be updated as CPU Period has already been set")
	case r.NanoCPUs > 0 && cur.CPUQuota > 0:
		return fmt.Errorf("Conflicting options: Nano CPUs cannot be updated as CPU Quota has already been set")
	case r.CPUPeriod > 0 && cur.NanoCPUs > 0:
		return fmt.Errorf("Conflicting options: CPU Period cannot be updated as NanoCPUs has already been set")
	case r.CPUQuota > 0 && cur.NanoCPUs > 0:
		return fmt.Errorf("Conflicting options: CPU Quota cannot be updated as NanoCPUs has already been set")
	}
	if r.BlkioWeight != 0 {
		cur.BlkioWeight = r.BlkioWeight
	}
	if r.CPUShares != 0 {
		cur.CPUShares = r.CPUShares
	}
	if r.NanoCPUs != 0 {
		cur.NanoCPUs = r.NanoCPUs
	}
	if r.CPUPeriod != 0 {
		cur.CPUPeriod = r.CPUPeriod
	}
	if r.CPUQuota != 0 {
		cur.CPUQuota = r.CPUQuota
	}
	if r.CpusetCpus != "" {
		cur.CpusetCpus = r.CpusetCpus
	}
	if r.CpusetMems != "" {
		cur.CpusetMems = r.CpusetMems
	}
	if r.Memory != 0 {
		// A memory limit above the swap limit already set needs the swap
		// limit raised in the same update.
		if cur.MemorySwap > 0 && r.Memory > cur.MemorySwap && r.MemorySwap == 0 {
			return fmt.Errorf("Memory limit should be smaller than already set memoryswap limit, update the memoryswap at the same time")
		}
		cur.Memory = r.Memory
	}
	if r.MemorySwap != 0 {
		cur.MemorySwap = r.MemorySwap
	}
	if r.MemoryReservation != 0 {
		cur.MemoryReservation = r.MemoryReservation
	}
	if r.CPURealtimePeriod != 0 {
		cur.CPURealtimePeriod = r.CPURealtimePeriod
	}
	if r.CPURealtimeRuntime != 0 {
		cur.CPURealtimeRuntime = r.CPURealtimeRuntime
	}
	if r.PidsLimit != nil {
		l := *r.PidsLimit
		cur.PidsLimit = &l
	}
	if upd.RestartPolicy.Name != "" {
		if !upd.RestartPolicy.IsNone() && hc.AutoRemove {
			return fmt.Errorf("Restart policy cannot be updated because AutoRemove is enabled for the container")
		}
		hc.RestartPolicy = upd.RestartPolicy
	}
	return nil
}
