package profile

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/moby/moby/api/types/container"
	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/berth-dev/berth/internal/errdefs"
	"github.com/berth-dev/berth/internal/ocispec"
)

func spec() *specs.Spec {
	return &specs.Spec{Process: &specs.Process{Capabilities: &specs.LinuxCapabilities{Bounding: []string{"CAP_CHOWN"}}}, Linux: &specs.Linux{}}
}

func TestSpecOpt(t *testing.T) {
	dir := t.TempDir()
	custom := filepath.Join(dir, "p.json")
	os.WriteFile(custom, []byte(`{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["mkdir"],"action":"SCMP_ACT_ERRNO"}]}`), 0o644)
	bad := filepath.Join(dir, "bad.json")
	os.WriteFile(bad, []byte(`{"defaultAction":"SCMP_ACT_NOPE"}`), 0o644)
	def, _ := LoadDefault("")
	unc, _ := LoadDefault("unconfined")
	cus, err := LoadDefault(custom)
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range []string{bad, filepath.Join(dir, "missing.json")} {
		if _, err := LoadDefault(v); err == nil {
			t.Errorf("LoadDefault(%s) accepted", v)
		}
	}
	if def.SecurityOption() != "name=seccomp,profile=builtin" || unc.SecurityOption() != "name=seccomp,profile=unconfined" || cus.SecurityOption() != "name=seccomp,profile=custom" {
		t.Errorf("security options %s %s %s", def.SecurityOption(), unc.SecurityOption(), cus.SecurityOption())
	}
	for _, c := range []struct {
		d       Default
		opts    []string
		priv    bool
		want    string // "none", "default" (errno default) or "allow" (allow default)
		wantErr bool
	}{
		{d: def, want: "default"},
		{d: def, opts: []string{"seccomp=unconfined"}, want: "none"},
		{d: def, priv: true, want: "none"},
		{d: unc, want: "none"},
		{d: unc, opts: []string{"seccomp=builtin"}, want: "default"},
		{d: cus, want: "allow"},
		{d: def, opts: []string{`seccomp={"defaultAction":"SCMP_ACT_ALLOW"}`}, want: "allow"},
		{d: def, opts: []string{`seccomp={"defaultAction":"SCMP_ACT_BOGUS"}`}, wantErr: true},
		{d: def, opts: []string{`seccomp={not json`}, wantErr: true},
	} {
		s := spec()
		hc := &container.HostConfig{SecurityOpt: c.opts, Privileged: c.priv}
		err := c.d.SpecOpt()(s, &ocispec.Input{HostConfig: hc})
		if c.wantErr {
			if !errdefs.Is(err, errdefs.InvalidArgument) {
				t.Errorf("%v: err %v, want InvalidArgument", c.opts, err)
			}
			continue
		}
		if err != nil {
			t.Errorf("%v: %v", c.opts, err)
			continue
		}
		got := "none"
		if p := s.Linux.Seccomp; p != nil {
			got = "default"
			if p.DefaultAction == specs.ActAllow {
				got = "allow"
			}
		}
		if got != c.want {
			t.Errorf("%+v %v priv=%v: %s, want %s", c.d.Unconfined, c.opts, c.priv, got, c.want)
		}
	}
}
