package container

import (
	"slices"

	ctypes "github.com/moby/moby/api/types/container"
)

// CloneHealth copies h so that an Update can change it without touching
// published snapshots.
func CloneHealth(h *ctypes.Health) *ctypes.Health {
	if h == nil {
		return nil
	}
	c := *h
	c.Log = slices.Clone(h.Log)
	return &c
}

// healthStopped is the health of a container whose process exited:
// unhealthy, as dockerd records it when its monitor stops.
func healthStopped(h *ctypes.Health) *ctypes.Health {
	if h == nil {
		return nil
	}
	c := CloneHealth(h)
	c.Status = ctypes.Unhealthy
	return c
}

// healthText is ps's suffix for a running container's health, as
// dockerd's: " (health: starting)", " (healthy)", " (unhealthy)".
func healthText(h *ctypes.Health) string {
	switch {
	case h == nil || h.Status == "" || h.Status == ctypes.NoHealthcheck:
		return ""
	case h.Status == ctypes.Starting:
		return " (health: starting)"
	}
	return " (" + string(h.Status) + ")"
}
