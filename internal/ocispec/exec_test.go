package ocispec

import (
	"slices"
	"testing"

	"github.com/berth-dev/berth/internal/errdefs"
)

func TestExecProcess(t *testing.T) {
	in := baseInput(t)
	in.Config.Env = []string{"FOO=1"}
	in.Config.WorkingDir = "/app"
	in.HostConfig.GroupAdd = []string{"audio"}
	in.HostConfig.SecurityOpt = []string{"no-new-privileges"}
	spec := mustBuild(t, in)

	p, err := ExecProcess(ExecInput{Spec: spec, Config: in.Config, Cmd: []string{"ps", "aux"}})
	if err != nil {
		t.Fatal(err)
	}
	wantEnv := []string{"PATH=" + DefaultPathEnv, "HOSTNAME=" + testID[:12], "FOO=1", "HOME=/root"}
	if !slices.Equal(p.Args, []string{"ps", "aux"}) || p.Cwd != "/app" || p.Terminal || !slices.Equal(p.Env, wantEnv) {
		t.Errorf("args %q cwd %q terminal %v env %q", p.Args, p.Cwd, p.Terminal, p.Env)
	}
	if !slices.Equal(p.User.AdditionalGids, []uint32{0, 10, 29}) || !p.NoNewPrivileges || CapMask(p.Capabilities.Effective) != 0xa80425fb {
		t.Errorf("user %+v nnp %v caps %x", p.User, p.NoNewPrivileges, CapMask(p.Capabilities.Effective))
	}
	// The container's process is untouched.
	if !slices.Equal(spec.Process.Args, []string{"sh"}) {
		t.Errorf("container args changed to %q", spec.Process.Args)
	}

	p, err = ExecProcess(ExecInput{Spec: spec, Config: in.Config, HostConfig: in.HostConfig, Cmd: []string{"sh"}, User: "1000:1000", Env: []string{"FOO=2", "BAR=3"},
		WorkingDir: "/tmp", Tty: true, Privileged: true, HostCapBounding: hostBnd, ConsoleSize: [2]uint{24, 80}})
	if err != nil {
		t.Fatal(err)
	}
	wantEnv = []string{"PATH=" + DefaultPathEnv, "HOSTNAME=" + testID[:12], "TERM=xterm", "FOO=2", "BAR=3", "HOME=/home/alice"}
	if p.User.UID != 1000 || !slices.Equal(p.User.AdditionalGids, []uint32{1000, 29}) || p.Cwd != "/tmp" || !p.Terminal || !slices.Equal(p.Env, wantEnv) || p.ConsoleSize.Width != 80 {
		t.Errorf("user %+v cwd %q env %q console %+v", p.User, p.Cwd, p.Env, p.ConsoleSize)
	}
	if CapMask(p.Capabilities.Bounding) != hostBnd || CapMask(spec.Process.Capabilities.Bounding) != 0xa80425fb {
		t.Errorf("privileged exec caps %x, container's %x", CapMask(p.Capabilities.Bounding), CapMask(spec.Process.Capabilities.Bounding))
	}

	_, err = ExecProcess(ExecInput{Spec: spec, Config: in.Config, Cmd: []string{"sh"}, User: "bob"})
	wantErr(t, err, errdefs.InvalidArgument, "unable to find user bob: no matching entries in passwd file")
	_, err = ExecProcess(ExecInput{Spec: spec, Config: in.Config})
	wantErr(t, err, errdefs.InvalidArgument, "No exec command specified")
}
