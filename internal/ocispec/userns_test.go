package ocispec

import (
	"slices"
	"strings"
	"testing"

	"github.com/moby/moby/api/types/container"
	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/berth-dev/berth/internal/errdefs"
	"github.com/berth-dev/berth/internal/userns"
)

var testRemap = userns.IDMap{
	UIDs: []userns.Range{{ContainerID: 0, HostID: 100000, Size: 65536}},
	GIDs: []userns.Range{{ContainerID: 0, HostID: 200000, Size: 65536}},
}

func hasNS(s *specs.Spec, t specs.LinuxNamespaceType) bool {
	return slices.ContainsFunc(s.Linux.Namespaces, func(n specs.LinuxNamespace) bool { return n.Type == t })
}

func TestWithUserns(t *testing.T) {
	in := baseInput(t)
	in.Opts = []SpecOpt{WithUserns(testRemap, "berth")}
	in.HostConfig.Runtime = "berth"
	in.NetNSPath = "/run/netns/x"
	s, err := Build(in)
	if err != nil {
		t.Fatal(err)
	}
	if !hasNS(s, specs.UserNamespace) || len(s.Linux.UIDMappings) != 1 || s.Linux.UIDMappings[0].HostID != 100000 || s.Linux.GIDMappings[0].HostID != 200000 {
		t.Errorf("namespaces %v, maps %v %v", s.Linux.Namespaces, s.Linux.UIDMappings, s.Linux.GIDMappings)
	}
	for _, m := range s.Mounts {
		if m.Type == "cgroup" && slices.Contains(m.Options, "ro") {
			t.Errorf("cgroup mount still ro: %v", m.Options)
		}
		if m.Type == "sysfs" != (m.Destination == "/sys") {
			t.Errorf("berth's runtime keeps sysfs: %+v", m)
		}
	}
	if s.Linux.Sysctl["net.ipv4.ping_group_range"] != "0 65535" {
		t.Errorf("ping_group_range %q, want the mapped gids", s.Linux.Sysctl["net.ipv4.ping_group_range"])
	}
	if s.Linux.Sysctl["net.ipv4.ip_unprivileged_port_start"] != "0" {
		t.Errorf("berth's runtime keeps the net sysctls: %v", s.Linux.Sysctl)
	}

	// runc in a prepared network namespace: /sys bound, no net.* sysctls.
	in.HostConfig.Runtime = "runc"
	s, err = Build(in)
	if err != nil {
		t.Fatal(err)
	}
	for k := range s.Linux.Sysctl {
		if strings.HasPrefix(k, "net.") {
			t.Errorf("runc gets %s", k)
		}
	}
	for _, m := range s.Mounts {
		if m.Destination == "/sys" && (m.Type != "bind" || m.Source != "/sys") {
			t.Errorf("runc's /sys: %+v", m)
		}
	}

	// --userns=host runs as today.
	in.HostConfig.UsernsMode = "host"
	in.HostConfig.Privileged = true
	if s, err = Build(in); err != nil || hasNS(s, specs.UserNamespace) || s.Linux.UIDMappings != nil {
		t.Errorf("--userns=host: %v, %v", err, s.Linux.Namespaces)
	}
}

func TestValidateUserns(t *testing.T) {
	if err := ValidateUserns(&container.HostConfig{UsernsMode: "private"}, false); !errdefs.Is(err, errdefs.InvalidArgument) {
		t.Errorf("--userns=private: %v", err)
	}
	for _, tc := range []struct {
		hc   container.HostConfig
		want string
	}{
		{container.HostConfig{Privileged: true}, "privileged mode is incompatible with user namespaces"},
		{container.HostConfig{NetworkMode: "host"}, "cannot share the host's network namespace"},
		{container.HostConfig{PidMode: "host"}, "cannot share the host PID namespace"},
	} {
		err := ValidateUserns(&tc.hc, true)
		if !errdefs.Is(err, errdefs.InvalidArgument) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: %v", tc.hc, err)
		}
		tc.hc.UsernsMode = "host"
		if err := ValidateUserns(&tc.hc, true); err != nil {
			t.Errorf("with --userns=host: %v", err)
		}
		tc.hc.UsernsMode = ""
		if err := ValidateUserns(&tc.hc, false); err != nil {
			t.Errorf("without remapping: %v", err)
		}
	}
}
