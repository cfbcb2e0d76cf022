package ocispec

import (
	"path/filepath"
	"slices"

	"github.com/moby/moby/api/types/container"
	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/berth-dev/berth/internal/errdefs"
)

// ExecInput describes a `docker exec` into a running container.
type ExecInput struct {
	// Spec is the container's spec, as Build made it at start.
	Spec *specs.Spec
	// Config is the container's config (for its environment and workdir);
	// HostConfig its host config (for --group-add), may be nil.
	Config     *container.Config
	HostConfig *container.HostConfig
	// Cmd is the exec's command; User, Env, WorkingDir, Tty and
	// Privileged are the exec's options.
	Cmd        []string
	User       string
	Env        []string
	WorkingDir string
	Tty        bool
	Privileged bool
	// ConsoleSize is the initial (height, width) of the exec's tty.
	ConsoleSize [2]uint
	// HostCapBounding is the daemon's bounding set (for --privileged);
	// 0 means read /proc/self/status.
	HostCapBounding uint64
}

// ExecProcess describes an exec's process as dockerd does: the
// container's process (capabilities, rlimits, no-new-privileges, OOM score)
// with the exec's args, a fresh environment (PATH, HOSTNAME, TERM for a
// tty, the container's variables, then the exec's), its working directory
// (else the container's, else "/"), its user resolved in the container's
// rootfs (else the container's user), and every daemon capability for
// --privileged.
func ExecProcess(in ExecInput) (*specs.Process, error) {
	if in.Spec == nil || in.Spec.Process == nil || in.Spec.Root == nil || in.Config == nil {
		return nil, errdefs.InvalidArgumentf("exec: missing container spec")
	}
	if len(in.Cmd) == 0 {
		return nil, errdefs.InvalidArgumentf("No exec command specified")
	}
	p := *in.Spec.Process
	p.Args = slices.Clone(in.Cmd)
	p.Terminal = in.Tty
	p.ConsoleSize = nil
	if in.Tty && (in.ConsoleSize[0] > 0 || in.ConsoleSize[1] > 0) {
		p.ConsoleSize = &specs.Box{Height: in.ConsoleSize[0], Width: in.ConsoleSize[1]}
	}

	userSpec := in.User
	if userSpec == "" {
		userSpec = in.Config.User
	}
	var groupAdd []string
	if in.HostConfig != nil {
		groupAdd = in.HostConfig.GroupAdd
	}
	usr, home, err := resolveUser(in.Spec.Root.Path, userSpec, groupAdd)
	if err != nil {
		return nil, err
	}
	if in.User == "" {
		// The container's user keeps its --group-add groups and umask.
		usr = in.Spec.Process.User
	}
	p.User = usr

	cfg := *in.Config
	cfg.Tty = in.Tty
	cfg.Env = append(slices.Clone(in.Config.Env), in.Env...)
	p.Env = Env(&cfg, home)

	switch {
	case in.WorkingDir != "":
		p.Cwd = filepath.Clean(in.WorkingDir)
	case in.Config.WorkingDir != "":
		p.Cwd = filepath.Clean(in.Config.WorkingDir)
	default:
		p.Cwd = "/"
	}
	if !filepath.IsAbs(p.Cwd) {
		return nil, errdefs.InvalidArgumentf("the working directory '%s' is invalid, it needs to be an absolute path", in.WorkingDir)
	}

	if c := in.Spec.Process.Capabilities; c != nil {
		cc := *c
		p.Capabilities = &cc
	}
	if in.Privileged {
		all := capsFromMask(bounding(in.HostCapBounding))
		p.Capabilities = &specs.LinuxCapabilities{Bounding: all, Effective: slices.Clone(all), Permitted: slices.Clone(all)}
	}
	return &p, nil
}
