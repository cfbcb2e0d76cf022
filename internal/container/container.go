package container

import (
	"fmt"
	"time"

	ctypes "github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/network"

	"github.com/berth-dev/berth/internal/errdefs"
	"github.com/berth-dev/berth/internal/image"
)

// SchemaVersion is the version of the config.v2.json format written by
// this package.
const SchemaVersion = 1

// Container is one container's record. Values published by an Entry are
// immutable; Config and HostConfig are fixed at create.
type Container struct {
	SchemaVersion int
	ID            string // 64 lower-case hex
	Name          string // with the leading slash: "/web"
	Created       time.Time
	Path          string   // the program: first word of Entrypoint+Cmd
	Args          []string // the rest
	// Config is the user's config merged with the image's; Config.Image is
	// the image reference as the user gave it.
	Config     *ctypes.Config
	HostConfig *ctypes.HostConfig
	ImageID    image.ID
	Driver     string // storage driver of the writable layer
	Runtime    string // runtime name ("berth", "runc", ...)
	State      State
	// RestartCount counts restarts done by a restart policy.
	RestartCount int
	// ManuallyStopped is set by docker stop and kill, cleared by start:
	// the unless-stopped policy does not restart such a container.
	ManuallyStopped bool

	// Mounts are the resolved mounts (see MountPoint); nil in records
	// written before volumes existed.
	Mounts []MountPoint `json:",omitempty"`

	// Networks are the networks the container is connected to, by
	// network name; the addresses are set while it runs (networking).
	Networks map[string]*network.EndpointSettings `json:",omitempty"`
	// Ports are the host ports published while it runs.
	Ports network.PortMap `json:",omitempty"`
	// SandboxID and SandboxKey (the network namespace file) name the
	// network sandbox while it runs.
	SandboxID  string `json:",omitempty"`
	SandboxKey string `json:",omitempty"`

	LogPath        string
	HostnamePath   string
	HostsPath      string
	ResolvConfPath string
}

// State is a container's run state.
type State struct {
	Status     ctypes.ContainerState
	Pid        int
	ExitCode   int
	Error      string
	StartedAt  time.Time
	FinishedAt time.Time
	OOMKilled  bool
	// Health is the healthcheck's state (nil without a healthcheck).
	Health *ctypes.Health `json:",omitempty"`
}

// Running reports whether the container's process is alive (running,
// paused or restarting count as running, as Docker counts them).
func (s State) Running() bool {
	switch s.Status {
	case ctypes.StateRunning, ctypes.StatePaused, ctypes.StateRestarting:
		return true
	}
	return false
}

// transitions lists, for each status, the statuses it may move to. A
// status may always be rewritten to itself (pid, error updates).
var transitions = map[ctypes.ContainerState][]ctypes.ContainerState{
	"":                     {ctypes.StateCreated},
	ctypes.StateCreated:    {ctypes.StateRunning, ctypes.StateExited, ctypes.StateRemoving, ctypes.StateDead},
	ctypes.StateRunning:    {ctypes.StateExited, ctypes.StatePaused, ctypes.StateRestarting, ctypes.StateDead},
	ctypes.StatePaused:     {ctypes.StateRunning, ctypes.StateExited, ctypes.StateDead},
	ctypes.StateRestarting: {ctypes.StateRunning, ctypes.StateExited, ctypes.StateRemoving, ctypes.StateDead},
	ctypes.StateExited:     {ctypes.StateRunning, ctypes.StateRestarting, ctypes.StateRemoving, ctypes.StateDead},
	ctypes.StateRemoving:   {ctypes.StateDead, ctypes.StateExited, ctypes.StateCreated},
	ctypes.StateDead:       {ctypes.StateRemoving},
}

// CanTransition reports whether a container may move from one status to
// another.
func CanTransition(from, to ctypes.ContainerState) bool {
	if from == to && from != "" {
		return true
	}
	for _, s := range transitions[from] {
		if s == to {
			return true
		}
	}
	return false
}

func checkTransition(from, to ctypes.ContainerState) error {
	if !CanTransition(from, to) {
		return errdefs.Conflictf("container state cannot change from %q to %q", from, to)
	}
	return nil
}

// SetRunning moves s to running with pid.
func (s *State) SetRunning(pid int, at time.Time) {
	s.Status = ctypes.StateRunning
	s.Pid = pid
	s.ExitCode = 0
	s.Error = ""
	s.OOMKilled = false
	s.StartedAt = at
}

// SetExited moves s to exited.
func (s *State) SetExited(code int, oom bool, at time.Time, errText string) {
	s.Status = ctypes.StateExited
	s.Pid = 0
	s.ExitCode = code
	s.OOMKilled = oom
	s.FinishedAt = at
	s.Error = errText
	s.Health = healthStopped(s.Health)
}

// SetRestarting records an exit after which a restart policy will start
// the container again; it still counts as running, as in Docker.
func (s *State) SetRestarting(code int, oom bool, at time.Time) {
	s.Status = ctypes.StateRestarting
	s.Pid = 0
	s.ExitCode = code
	s.OOMKilled = oom
	s.FinishedAt = at
	s.Error = ""
	s.Health = healthStopped(s.Health)
}

// Command is the command line as ps shows it.
func (c *Container) Command() string {
	cmd := c.Path
	for _, a := range c.Args {
		cmd += " " + a
	}
	return cmd
}

// ShortID is the 12-character id docker prints.
func (c *Container) ShortID() string { return c.ID[:12] }

func (c *Container) String() string { return fmt.Sprintf("%s (%s)", c.Name, c.ShortID()) }
