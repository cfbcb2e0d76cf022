package ocispec

import (
	"strings"
	"testing"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/mount"

	"github.com/berth-dev/berth/internal/errdefs"
)

func TestParseMountVolumeOptions(t *testing.T) {
	m, err := ParseMount(mount.Mount{Type: mount.TypeVolume, Source: "vol", Target: "/d", VolumeOptions: &mount.VolumeOptions{
		NoCopy: true, Subpath: "a/b", Labels: map[string]string{"l": "1"},
		DriverConfig: &mount.Driver{Name: "local", Options: map[string]string{"type": "tmpfs"}},
	}})
	if err != nil || !m.NoCopy || m.Subpath != "a/b" || m.VolumeLabels["l"] != "1" || m.VolumeDriver != "local" || m.VolumeOpts["type"] != "tmpfs" {
		t.Fatalf("%+v %v", m, err)
	}
	for _, tc := range []struct {
		mnt mount.Mount
		msg string
	}{
		{mount.Mount{Type: mount.TypeVolume, Source: "vol", Target: "/d", VolumeOptions: &mount.VolumeOptions{Subpath: "../x"}},
			`invalid mount config for type "volume": subpath must be a relative path within the volume`},
		{mount.Mount{Type: mount.TypeVolume, Source: "vol", Target: "/d", VolumeOptions: &mount.VolumeOptions{Subpath: "/etc"}},
			`invalid mount config for type "volume": subpath must be a relative path within the volume`},
		{mount.Mount{Type: mount.TypeVolume, Target: "/d", VolumeOptions: &mount.VolumeOptions{Subpath: "x"}},
			`invalid mount config for type "volume": must not set Subpath when using anonymous volumes`},
		{mount.Mount{Type: mount.TypeVolume, Source: "a/b", Target: "/d"},
			`create a/b: "a/b" includes invalid characters for a local volume name, only "[a-zA-Z0-9][a-zA-Z0-9_.-]" are allowed. If you intended to pass a host directory, use absolute path`},
	} {
		_, err := ParseMount(tc.mnt)
		wantErr(t, err, errdefs.InvalidArgument, tc.msg)
	}
}

func TestProcMountsRejected(t *testing.T) {
	for dest, want := range map[string]string{
		"/proc":        `"/proc" cannot be mounted because it is not of type proc`,
		"/proc/sys":    `"/proc/sys" cannot be mounted because it is inside /proc`,
		"/proc/uptime": "",
		"/sys":         "", // dockerd (runc) accepts it
	} {
		in := baseInput(t)
		in.HostConfig = &container.HostConfig{Binds: []string{"/tmp:" + dest}}
		_, err := Build(in)
		if want == "" {
			if err != nil {
				t.Errorf("%s: %v", dest, err)
			}
		} else if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: got %v, want %q", dest, err, want)
		}
	}
}

func TestExtraMountsAndVolumeSources(t *testing.T) {
	in := baseInput(t)
	in.HostConfig = &container.HostConfig{Binds: []string{"named:/data", "/h:/data/sub"}}
	in.VolumeSources = map[string]string{"/data": "/vols/named/_data"}
	in.ExtraMounts = []UserMount{
		{Kind: KindBind, Source: "/vols/other/_data", Destination: "/from", ReadOnly: true},
		{Kind: KindBind, Source: "/ignored", Destination: "/data"}, // the user's mount wins
	}
	s := mustBuild(t, in)
	if m := findMount(s, "/data"); m == nil || m.Source != "/vols/named/_data" {
		t.Fatalf("/data: %+v", m)
	}
	if m := findMount(s, "/from"); m == nil || m.Source != "/vols/other/_data" || !strings.Contains(strings.Join(m.Options, ","), "ro") {
		t.Fatalf("/from: %+v", m)
	}
	// Parents before children.
	di, si := -1, -1
	for i, m := range s.Mounts {
		switch m.Destination {
		case "/data":
			di = i
		case "/data/sub":
			si = i
		}
	}
	if di < 0 || si < di {
		t.Fatalf("order: /data at %d, /data/sub at %d", di, si)
	}
}
