package ocispec

import (
	"testing"

	"github.com/moby/moby/api/types/container"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

func TestWithInit(t *testing.T) {
	on, off := true, false
	for _, init := range []*bool{nil, &off} {
		s := &specs.Spec{Process: &specs.Process{Args: []string{"sleep", "1"}}}
		if err := WithInit("/usr/bin/berthd", false)(s, &Input{HostConfig: &container.HostConfig{Init: init}}); err != nil {
			t.Fatal(err)
		}
		if len(s.Mounts) != 0 || len(s.Process.Args) != 2 {
			t.Errorf("init %v changed the spec: %+v", init, s)
		}
	}
	s := &specs.Spec{Process: &specs.Process{Args: []string{"sleep", "1"}}}
	if err := WithInit("/usr/bin/berthd", false)(s, &Input{HostConfig: &container.HostConfig{Init: &on}}); err != nil {
		t.Fatal(err)
	}
	if got := s.Process.Args; len(got) != 4 || got[0] != "/sbin/docker-init" || got[1] != "--" || got[2] != "sleep" {
		t.Errorf("args %v", got)
	}
	if len(s.Mounts) != 1 || s.Mounts[0].Source != "/usr/bin/berthd" || s.Mounts[0].Destination != "/sbin/docker-init" || s.Mounts[0].Options[1] != "ro" {
		t.Errorf("mounts %+v", s.Mounts)
	}
}

func TestWithInitDaemonDefault(t *testing.T) {
	off := false
	for _, c := range []struct {
		init *bool
		want int
	}{{nil, 3}, {&off, 1}} {
		s := &specs.Spec{Process: &specs.Process{Args: []string{"sh"}}}
		if err := WithInit("/b", true)(s, &Input{HostConfig: &container.HostConfig{Init: c.init}}); err != nil {
			t.Fatal(err)
		}
		if len(s.Process.Args) != c.want {
			t.Errorf("init %v: args %v", c.init, s.Process.Args)
		}
	}
}
