package ocispec

import (
	"slices"
	"strconv"
	"strings"

	"github.com/moby/moby/api/types/container"
	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/berth-dev/berth/internal/errdefs"
	"github.com/berth-dev/berth/internal/userns"
)

// ValidateUserns makes dockerd's create-time checks of a container under
// a remapping daemon (remapped): --privileged, --network=host and
// --pid=host need --userns=host. Messages are dockerd's. A mode other
// than "" and "host" is refused either way (the docker CLI's check).
func ValidateUserns(hc *container.HostConfig, remapped bool) error {
	if hc != nil && !hc.UsernsMode.Valid() {
		return errdefs.InvalidArgumentf("invalid USER mode: %s", hc.UsernsMode)
	}
	if !remapped || hc == nil || hc.UsernsMode.IsHost() {
		return nil
	}
	switch {
	case hc.Privileged:
		return errdefs.InvalidArgumentf("privileged mode is incompatible with user namespaces.  You must run the container in the host namespace when running privileged mode")
	case hc.NetworkMode.IsHost():
		return errdefs.InvalidArgumentf("cannot share the host's network namespace when user namespaces are enabled")
	case hc.PidMode.IsHost():
		return errdefs.InvalidArgumentf("cannot share the host PID namespace when user namespaces are enabled")
	}
	return nil
}

// WithUserns runs every container in a user namespace with the daemon's
// maps (--userns-remap), unless it asks for --userns=host or idm is empty,
// as dockerd does: a "user" namespace, linux.uidMappings/gidMappings, and
// the cgroup mount read-write (dockerd clears its "ro": a remount cannot
// make it read-only in a user namespace on every kernel). For a runtime
// other than berth's joining a network namespace networking prepared
// (owned by the host's user namespace), where runc can neither mount
// sysfs nor write net.* sysctls, /sys is the host's bound read-only and
// the net.* sysctls are dropped; berth's runtime does both from its
// parent.
func WithUserns(idm userns.IDMap, builtinRuntime string) SpecOpt {
	return func(s *specs.Spec, in *Input) error {
		hc := in.HostConfig
		if idm.Empty() || hc.UsernsMode.IsHost() {
			return nil
		}
		if err := ValidateUserns(hc, true); err != nil {
			return err
		}
		s.Linux.Namespaces = append(s.Linux.Namespaces, specs.LinuxNamespace{Type: specs.UserNamespace})
		s.Linux.UIDMappings = specIDMaps(idm.UIDs)
		s.Linux.GIDMappings = specIDMaps(idm.GIDs)
		// Docker's default ICMP group range names gids a user namespace
		// does not map (the kernel refuses it there): the mapped ones.
		if s.Linux.Sysctl["net.ipv4.ping_group_range"] == defaultPingGroupRange && hc.Sysctls["net.ipv4.ping_group_range"] == "" {
			var n uint64
			for _, r := range idm.GIDs {
				n += uint64(r.Size)
			}
			s.Linux.Sysctl["net.ipv4.ping_group_range"] = "0 " + strconv.FormatUint(n-1, 10)
		}
		for i, m := range s.Mounts {
			if m.Type == "cgroup" || m.Type == "cgroup2" {
				s.Mounts[i].Options = slices.DeleteFunc(slices.Clone(m.Options), func(o string) bool { return o == "ro" })
			}
		}
		if in.NetNSPath == "" || hc.Runtime == "" || hc.Runtime == builtinRuntime {
			return nil
		}
		for k := range s.Linux.Sysctl {
			if strings.HasPrefix(k, "net.") {
				delete(s.Linux.Sysctl, k)
			}
		}
		for i, m := range s.Mounts {
			if m.Type == "sysfs" {
				s.Mounts[i] = specs.Mount{Destination: m.Destination, Type: "bind", Source: "/sys",
					Options: []string{"rbind", "nosuid", "noexec", "nodev", "ro"}}
			}
		}
		return nil
	}
}

const defaultPingGroupRange = "0 2147483647"

func specIDMaps(rs []userns.Range) []specs.LinuxIDMapping {
	out := make([]specs.LinuxIDMapping, len(rs))
	for i, r := range rs {
		out[i] = specs.LinuxIDMapping{ContainerID: r.ContainerID, HostID: r.HostID, Size: r.Size}
	}
	return out
}
