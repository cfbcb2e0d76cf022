// Package profile puts a seccomp profile into a container's OCI spec as
// dockerd does: Docker's default profile (github.com/moby/profiles/seccomp,
// filtered by the container's capabilities, so --cap-add SYS_ADMIN allows
// mount/unshare as in Docker) unless the container is privileged or says
// --security-opt seccomp=unconfined; a profile given as
// --security-opt seccomp=<json> (the docker CLI sends the file's content)
// replaces it.
package profile

import (
	"fmt"
	"os"

	mobyseccomp "github.com/moby/profiles/seccomp"
	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/berth-dev/berth/internal/errdefs"
	"github.com/berth-dev/berth/internal/ocispec"
	"github.com/berth-dev/berth/internal/seccomp"
)

// Names of the special --security-opt seccomp= values.
const (
	Unconfined = "unconfined"
	Builtin    = "builtin"
)

// SecurityOption is the docker info SecurityOptions entry.
const SecurityOption = "name=seccomp,profile=" + Builtin

// Default is the daemon's --seccomp-profile: "" or "builtin" (Docker's
// default profile), "unconfined", or a profile file's JSON.
type Default struct {
	JSON       string
	Unconfined bool
}

// LoadDefault reads the daemon's --seccomp-profile value and checks that
// a profile file parses and compiles, so a bad one stops berthd at start.
func LoadDefault(value string) (Default, error) {
	switch value {
	case "", Builtin:
		return Default{}, nil
	case Unconfined:
		return Default{Unconfined: true}, nil
	}
	b, err := os.ReadFile(value)
	if err != nil {
		return Default{}, fmt.Errorf("seccomp-profile: %w", err)
	}
	spec := &specs.Spec{Process: &specs.Process{Capabilities: &specs.LinuxCapabilities{}}}
	p, err := mobyseccomp.LoadProfile(string(b), spec)
	if err != nil {
		return Default{}, fmt.Errorf("seccomp-profile %s: %w", value, err)
	}
	if p != nil {
		if _, err := seccomp.Prepare(p); err != nil {
			return Default{}, fmt.Errorf("seccomp-profile %s: %w", value, err)
		}
	}
	return Default{JSON: string(b)}, nil
}

// SecurityOption is the docker info SecurityOptions entry for d, as
// dockerd's: profile=builtin, unconfined or custom.
func (d Default) SecurityOption() string {
	switch {
	case d.Unconfined:
		return "name=seccomp,profile=" + Unconfined
	case d.JSON != "":
		return "name=seccomp,profile=custom"
	}
	return SecurityOption
}

// SpecOpt sets spec.Linux.Seccomp for one container with Docker's default
// profile as the daemon's default.
func SpecOpt() ocispec.SpecOpt { return Default{}.SpecOpt() }

// SpecOpt sets spec.Linux.Seccomp for one container; a container's
// --security-opt seccomp= wins over the daemon's default.
func (d Default) SpecOpt() ocispec.SpecOpt {
	return func(s *specs.Spec, in *ocispec.Input) error {
		if in.HostConfig != nil && in.HostConfig.Privileged {
			return nil
		}
		var opt string
		if in.HostConfig != nil {
			opt = ocispec.SeccompProfile(in.HostConfig)
		}
		if s.Process == nil {
			s.Process = &specs.Process{}
		}
		if s.Process.Capabilities == nil {
			s.Process.Capabilities = &specs.LinuxCapabilities{}
		}
		var (
			p   *specs.LinuxSeccomp
			err error
		)
		if opt == "" {
			switch {
			case d.Unconfined:
				return nil
			case d.JSON != "":
				opt = d.JSON
			}
		}
		switch opt {
		case Unconfined:
			return nil
		case "", Builtin:
			p, err = mobyseccomp.GetDefaultProfile(s)
		default:
			p, err = mobyseccomp.LoadProfile(opt, s)
			if err == nil && p != nil {
				// Check it compiles now, so a bad profile fails here with
				// a clear 400 rather than in the runtime.
				if _, cerr := seccomp.Prepare(p); cerr != nil {
					return errdefs.InvalidArgumentf("seccomp profile: %v", cerr)
				}
			}
			if err != nil {
				return errdefs.InvalidArgumentf("%v", err)
			}
		}
		if err != nil {
			return fmt.Errorf("seccomp default profile: %w", err)
		}
		if s.Linux == nil {
			s.Linux = &specs.Linux{}
		}
		s.Linux.Seccomp = p
		return nil
	}
}
