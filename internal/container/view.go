package container

import (
	"encoding/json"
	"fmt"
	"maps"
	"sort"
	"strconv"
	"strings"
	"time"

	units "github.com/docker/go-units"
	ctypes "github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/mount"
	"github.com/moby/moby/api/types/network"
	"github.com/moby/moby/api/types/storage"
)

// StatusText is the human status ps shows ("Up 5 minutes",
// "Exited (0) 3 seconds ago"), as Docker words it.
func (s State) StatusText(now time.Time) string {
	switch s.Status {
	case ctypes.StateRunning:
		return "Up " + units.HumanDuration(now.Sub(s.StartedAt)) + healthText(s.Health)
	case ctypes.StatePaused:
		return "Up " + units.HumanDuration(now.Sub(s.StartedAt)) + " (Paused)"
	case ctypes.StateRestarting:
		return fmt.Sprintf("Restarting (%d) %s ago", s.ExitCode, units.HumanDuration(now.Sub(s.FinishedAt)))
	case ctypes.StateRemoving:
		return "Removal In Progress"
	case ctypes.StateDead:
		return "Dead"
	}
	if s.StartedAt.IsZero() && s.FinishedAt.IsZero() {
		return "Created"
	}
	if s.FinishedAt.IsZero() {
		return ""
	}
	return fmt.Sprintf("Exited (%d) %s ago", s.ExitCode, units.HumanDuration(now.Sub(s.FinishedAt)))
}

// MountPoints lists the container's bind and explicit mounts as inspect
// and ps show them.
func (c *Container) MountPoints() []ctypes.MountPoint {
	out := []ctypes.MountPoint{}
	if c.Mounts != nil {
		for _, m := range c.Mounts {
			out = append(out, m.API())
		}
		return out
	}
	if c.HostConfig == nil {
		return out
	}
	for _, b := range c.HostConfig.Binds {
		parts := strings.Split(b, ":")
		if len(parts) < 2 {
			continue
		}
		mp := ctypes.MountPoint{Type: mount.TypeBind, Source: parts[0], Destination: parts[1], RW: true, Propagation: mount.PropagationRPrivate}
		if len(parts) > 2 {
			mp.Mode = parts[2]
			for _, o := range strings.Split(parts[2], ",") {
				switch o {
				case "ro":
					mp.RW = false
				case "private", "rprivate", "shared", "rshared", "slave", "rslave":
					mp.Propagation = mount.Propagation(o)
				}
			}
		}
		out = append(out, mp)
	}
	for _, m := range c.HostConfig.Mounts {
		mp := ctypes.MountPoint{Type: m.Type, Source: m.Source, Destination: m.Target, RW: !m.ReadOnly}
		if m.Type == mount.TypeBind {
			mp.Propagation = mount.PropagationRPrivate
			if m.BindOptions != nil && m.BindOptions.Propagation != "" {
				mp.Propagation = m.BindOptions.Propagation
			}
		}
		out = append(out, mp)
	}
	return out
}

func (c *Container) networks() map[string]*network.EndpointSettings {
	nets := map[string]*network.EndpointSettings{}
	for name, es := range c.Networks {
		nets[name] = es.Copy()
	}
	if len(nets) == 0 && c.HostConfig != nil && c.HostConfig.NetworkMode == "none" {
		nets["none"] = &network.EndpointSettings{}
	}
	return nets
}

// portMap is the published ports, with the exposed but unpublished
// ones mapped to nil, as docker inspect shows them.
func (c *Container) portMap() network.PortMap {
	pm := network.PortMap{}
	if c.State.Running() && c.Config != nil {
		for p := range c.Config.ExposedPorts {
			pm[p] = nil
		}
	}
	for p, b := range c.Ports {
		pm[p] = append([]network.PortBinding(nil), b...)
	}
	return pm
}

func (c *Container) portSummaries() []ctypes.PortSummary {
	out := []ctypes.PortSummary{}
	for p, bs := range c.portMap() {
		if len(bs) == 0 {
			out = append(out, ctypes.PortSummary{PrivatePort: p.Num(), Type: string(p.Proto())})
		}
		for _, b := range bs {
			hp, _ := strconv.ParseUint(b.HostPort, 10, 16)
			out = append(out, ctypes.PortSummary{IP: b.HostIP, PrivatePort: p.Num(), PublicPort: uint16(hp), Type: string(p.Proto())})
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].PrivatePort != out[j].PrivatePort {
			return out[i].PrivatePort < out[j].PrivatePort
		}
		return out[i].PublicPort < out[j].PublicPort
	})
	return out
}

// Summary is the container as GET /containers/json shows it.
func (c *Container) Summary(now time.Time) ctypes.Summary {
	s := ctypes.Summary{
		ID:      c.ID,
		Names:   []string{c.Name},
		Image:   c.Config.Image,
		ImageID: string(c.ImageID),
		Command: c.Command(),
		Created: c.Created.Unix(),
		Ports:   c.portSummaries(),
		Labels:  maps.Clone(c.Config.Labels),
		State:   c.State.Status,
		Status:  c.State.StatusText(now),
		Mounts:  c.MountPoints(),
	}
	if s.Labels == nil {
		s.Labels = map[string]string{}
	}
	if c.HostConfig != nil {
		s.HostConfig.NetworkMode = string(c.HostConfig.NetworkMode)
		s.HostConfig.Annotations = c.HostConfig.Annotations
	}
	s.NetworkSettings = &ctypes.NetworkSettingsSummary{Networks: c.networks()}
	return s
}

// Inspect is the container as GET /containers/{id}/json shows it;
// graph describes the writable layer (nil when unknown).
func (c *Container) Inspect(graph *storage.DriverData) ctypes.InspectResponse {
	st := c.State
	return ctypes.InspectResponse{
		ID:      c.ID,
		Created: c.Created.UTC().Format(time.RFC3339Nano),
		Path:    c.Path,
		Args:    nonNil(c.Args),
		State: &ctypes.State{
			Status:     st.Status,
			Running:    st.Running(),
			Paused:     st.Status == ctypes.StatePaused,
			Restarting: st.Status == ctypes.StateRestarting,
			OOMKilled:  st.OOMKilled,
			Dead:       st.Status == ctypes.StateDead,
			Pid:        st.Pid,
			ExitCode:   st.ExitCode,
			Error:      st.Error,
			StartedAt:  st.StartedAt.UTC().Format(time.RFC3339Nano),
			FinishedAt: st.FinishedAt.UTC().Format(time.RFC3339Nano),
			Health:     deepCopy(st.Health),
		},
		Image:           string(c.ImageID),
		ResolvConfPath:  c.ResolvConfPath,
		HostnamePath:    c.HostnamePath,
		HostsPath:       c.HostsPath,
		LogPath:         c.LogPath,
		Name:            c.Name,
		RestartCount:    c.RestartCount,
		Driver:          c.Driver,
		Platform:        "linux",
		HostConfig:      deepCopy(c.HostConfig),
		GraphDriver:     graph,
		Mounts:          c.MountPoints(),
		Config:          deepCopy(c.Config),
		NetworkSettings: &ctypes.NetworkSettings{SandboxID: c.SandboxID, SandboxKey: c.SandboxKey, Ports: c.portMap(), Networks: c.networks()},
	}
}

// deepCopy gives callers a copy they may change without touching the
// shared, immutable snapshot.
func deepCopy[T any](v *T) *T {
	if v == nil {
		return nil
	}
	b, err := json.Marshal(v)
	if err != nil {
		return v
	}
	var out T
	if err := json.Unmarshal(b, &out); err != nil {
		return v
	}
	return &out
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}
