package ocispec

import (
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// InitPath is where --init's process is mounted, as Docker mounts
// docker-init.
const InitPath = "/sbin/docker-init"

// WithInit runs a container created with --init (or, when it says
// nothing, under a daemon started with --init: byDefault) under the init
// binary at hostPath (berth's own, see internal/dockerinit): hostPath is
// bind-mounted read-only at InitPath and the process becomes
// `/sbin/docker-init -- ARGS...`, as dockerd does.
func WithInit(hostPath string, byDefault bool) SpecOpt {
	return func(s *specs.Spec, in *Input) error {
		init := byDefault
		if in.HostConfig != nil && in.HostConfig.Init != nil {
			init = *in.HostConfig.Init
		}
		if !init || s.Process == nil {
			return nil
		}
		s.Mounts = append(s.Mounts, specs.Mount{
			Destination: InitPath, Type: "bind", Source: hostPath, Options: []string{"bind", "ro"},
		})
		s.Process.Args = append([]string{InitPath, "--"}, s.Process.Args...)
		return nil
	}
}
