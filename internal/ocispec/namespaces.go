package ocispec

import (
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// setNamespaces picks the container's namespaces as dockerd does: new
// mount, uts, ipc, pid and network namespaces unless a mode shares the
// host's, and a cgroup namespace when the cgroupns mode is private.
func setNamespaces(s *specs.Spec, in Input) error {
	hc := in.HostConfig
	ns := []specs.LinuxNamespace{{Type: specs.MountNamespace}}

	switch {
	case hc.NetworkMode.IsHost():
	case hc.NetworkMode.IsContainer():
		if in.NetNSPath == "" {
			return errNotSupported("network mode", hc.NetworkMode)
		}
		ns = append(ns, specs.LinuxNamespace{Type: specs.NetworkNamespace, Path: in.NetNSPath})
	default:
		// none, default, bridge and user networks: a namespace of its own,
		// or the one networking prepared.
		ns = append(ns, specs.LinuxNamespace{Type: specs.NetworkNamespace, Path: in.NetNSPath})
	}

	if hc.UTSMode.IsHost() {
		s.Hostname = ""
	} else {
		ns = append(ns, specs.LinuxNamespace{Type: specs.UTSNamespace})
	}

	switch {
	case hc.PidMode.IsHost():
	case hc.PidMode.IsContainer():
		return errNotSupported("PID mode", hc.PidMode)
	default:
		ns = append(ns, specs.LinuxNamespace{Type: specs.PIDNamespace})
	}

	switch {
	case hc.IpcMode.IsHost():
	case hc.IpcMode.IsContainer():
		return errNotSupported("IPC mode", hc.IpcMode)
	default:
		ns = append(ns, specs.LinuxNamespace{Type: specs.IPCNamespace})
	}

	if cgroupnsPrivate(in) {
		ns = append(ns, specs.LinuxNamespace{Type: specs.CgroupNamespace})
	}
	s.Linux.Namespaces = ns
	return nil
}

// cgroupnsPrivate applies dockerd's create-time default when the mode is
// empty: private on cgroup v2, host on v1.
func cgroupnsPrivate(in Input) bool {
	m := in.HostConfig.CgroupnsMode
	if m.IsEmpty() {
		return in.CgroupV2
	}
	return m.IsPrivate()
}
