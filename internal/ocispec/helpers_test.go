package ocispec

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/moby/moby/api/types/container"
	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/berth-dev/berth/internal/errdefs"
)

const (
	testID = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
	// hostBnd is this kind of host's bounding set: everything up to
	// CAP_CHECKPOINT_RESTORE except CAP_SYS_RESOURCE.
	hostBnd = 0x000001fffeffffff
)

const fixturePasswd = `root:x:0:0:root:/root:/bin/sh
daemon:x:1:1:daemon:/usr/sbin:/bin/false
alice:x:1000:1000:Alice:/home/alice:/bin/sh
`

const fixtureGroup = `root:x:0:root
daemon:x:1:
wheel:x:10:root,alice
audio:x:29:alice
alice:x:1000:
`

// fixtureRootfs makes a rootfs holding only /etc/passwd and /etc/group.
func fixtureRootfs(t *testing.T) string {
	t.Helper()
	root := t.TempDir()
	if err := os.MkdirAll(filepath.Join(root, "etc"), 0o755); err != nil {
		t.Fatal(err)
	}
	for name, content := range map[string]string{"passwd": fixturePasswd, "group": fixtureGroup} {
		if err := os.WriteFile(filepath.Join(root, "etc", name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return root
}

var fakeDevices = []specs.LinuxDevice{
	{Path: "/dev/null", Type: "c", Major: 1, Minor: 3},
	{Path: "/dev/sda", Type: "b", Major: 8, Minor: 0},
}

// baseInput is `docker run busybox sh` on a fixture rootfs.
func baseInput(t *testing.T) Input {
	return Input{
		ID:         testID,
		Config:     &container.Config{Hostname: testID[:12], Cmd: []string{"sh"}, Image: "busybox"},
		HostConfig: &container.HostConfig{},
		Rootfs:     fixtureRootfs(t),
		Files: Files{
			Hostname:   "/var/lib/berth/containers/x/hostname",
			Hosts:      "/var/lib/berth/containers/x/hosts",
			ResolvConf: "/var/lib/berth/containers/x/resolv.conf",
		},
		HostCapBounding: hostBnd,
		HostDevices:     func() ([]specs.LinuxDevice, error) { return slices.Clone(fakeDevices), nil },
		SysctlExists:    func(string) bool { return true },
	}
}

func mustBuild(t *testing.T, in Input) *specs.Spec {
	t.Helper()
	s, err := Build(in)
	if err != nil {
		t.Fatalf("Build: %v", err)
	}
	return s
}

func findMount(s *specs.Spec, dest string) *specs.Mount {
	for i := range s.Mounts {
		if s.Mounts[i].Destination == dest {
			return &s.Mounts[i]
		}
	}
	return nil
}

func destinations(s *specs.Spec) []string {
	var d []string
	for _, m := range s.Mounts {
		d = append(d, m.Destination)
	}
	return d
}

func nsTypes(s *specs.Spec) []string {
	var out []string
	for _, n := range s.Linux.Namespaces {
		out = append(out, string(n.Type))
	}
	return out
}

func envValue(env []string, key string) (string, bool) {
	for _, e := range env {
		if v, ok := strings.CutPrefix(e, key+"="); ok {
			return v, true
		}
	}
	return "", false
}

// wantErr checks err has class c and message msg.
func wantErr(t *testing.T, err error, c errdefs.Class, msg string) {
	t.Helper()
	if err == nil {
		t.Fatalf("no error, want %v %q", c, msg)
	}
	if got := errdefs.ClassOf(err); got != c {
		t.Errorf("class %v, want %v (%v)", got, c, err)
	}
	if err.Error() != msg {
		t.Errorf("error\n got %q\nwant %q", err.Error(), msg)
	}
}
