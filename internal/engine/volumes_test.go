package engine

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	ctypes "github.com/moby/moby/api/types/container"
	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/berth-dev/berth/internal/apiserver/router/containers"
	"github.com/berth-dev/berth/internal/errdefs"
	"github.com/berth-dev/berth/internal/filters"
	"github.com/berth-dev/berth/internal/volume"
)

func withVolumes(t *testing.T, h *harness, root string) *volume.Service {
	t.Helper()
	l, err := volume.NewLocal(root)
	if err != nil {
		t.Fatal(err)
	}
	svc := volume.NewService(h.cfg.Logger, l)
	h.Engine.cfg.Volumes = svc
	return svc
}

func volumeNames(t *testing.T, svc *volume.Service) []string {
	t.Helper()
	l, err := svc.List(bg, filters.NewArgs())
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, v := range l.Volumes {
		out = append(out, v.Name)
	}
	return out
}

// A container's volumes: created at create (named if missing, anonymous
// for -v /path and image VOLUMEs), held while the container exists,
// bound into the spec at start, anonymous ones removed by rm -v.
func TestVolumesLifecycle(t *testing.T) {
	h := newHarness(t)
	vroot := t.TempDir()
	svc := withVolumes(t, h, vroot)
	cfg := &ctypes.Config{Image: "busybox", Volumes: map[string]struct{}{"/imgvol": {}}}
	id := h.create("vols", cfg, &ctypes.HostConfig{Binds: []string{"named:/data:ro", "/anon"}})
	mps := h.snap(id).Mounts
	if len(mps) != 3 || mps[0].Name != "named" || mps[0].RW || mps[0].Mode != "ro" || !mps[1].Anonymous || !mps[2].Anonymous || mps[2].Destination != "/imgvol" {
		t.Fatalf("mounts %+v", mps)
	}
	if err := svc.Remove(bg, "named", true); !errdefs.Is(err, errdefs.Conflict) || !strings.Contains(err.Error(), "volume is in use - ["+id+"]") {
		t.Fatalf("remove in use: %v", err)
	}
	if err := h.Start(bg, id); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(h.bundleDir(id), "config.json"))
	if err != nil {
		t.Fatal(err)
	}
	var spec specs.Spec
	json.Unmarshal(b, &spec)
	found := map[string]string{}
	for _, m := range spec.Mounts {
		found[m.Destination] = m.Source + " " + strings.Join(m.Options, ",")
	}
	if found["/data"] != filepath.Join(vroot, "named/_data")+" rbind,ro" || !strings.HasPrefix(found["/imgvol"], mps[2].Source) || !strings.HasPrefix(found["/anon"], mps[1].Source) {
		t.Fatalf("spec mounts %v", found)
	}
	h.mon.exit(id, 0)
	waitFor(t, "exit", func() bool { return !h.snap(id).State.Running() })
	if err := h.Remove(bg, id, containers.RemoveOptions{RemoveVolumes: true}); err != nil {
		t.Fatal(err)
	}
	if got := volumeNames(t, svc); len(got) != 1 || got[0] != "named" {
		t.Fatalf("after rm -v: %v", got)
	}
	if err := svc.Remove(bg, "named", false); err != nil {
		t.Fatalf("remove after the container went: %v", err)
	}
}

// A create that fails after getting volumes gives back what it took and
// deletes the anonymous volumes it made (a named one it made stays, with
// nothing deleted, as in dockerd).
func TestVolumesFailedCreate(t *testing.T) {
	h := newHarness(t)
	svc := withVolumes(t, h, t.TempDir())
	_, err := h.Create(bg, containers.CreateRequest{Config: &ctypes.Config{Image: "busybox"},
		HostConfig: &ctypes.HostConfig{Binds: []string{"kept:/a", "/anon", h.cfg.DataRoot + ":/root"}}})
	if !errdefs.Is(err, errdefs.InvalidArgument) || !strings.Contains(err.Error(), "bind source path is the daemon's data root") {
		t.Fatalf("create: %v", err)
	}
	if got := volumeNames(t, svc); len(got) != 1 || got[0] != "kept" {
		t.Fatalf("volumes after a failed create: %v", got)
	}
	if err := svc.Remove(bg, "kept", false); err != nil {
		t.Fatalf("failed create still holds the volume: %v", err)
	}
	if dirs := h.containerDirs(); len(dirs) != 0 {
		t.Fatalf("container dirs left: %v", dirs)
	}
	_, err = h.Create(bg, containers.CreateRequest{Config: &ctypes.Config{Image: "busybox"},
		HostConfig: &ctypes.HostConfig{VolumesFrom: []string{"nosuch"}}})
	if !errdefs.Is(err, errdefs.InvalidArgument) || err.Error() != "No such container: nosuch" {
		t.Fatalf("volumes-from a missing container: %v", err)
	}
}

// References come back when berthd restarts; --volumes-from users hold
// the volumes too.
func TestVolumesRestoreAndVolumesFrom(t *testing.T) {
	h := newHarness(t)
	vroot := t.TempDir()
	withVolumes(t, h, vroot)
	src := h.create("src", nil, &ctypes.HostConfig{Binds: []string{"shared:/s", "/host:/h:ro"}})
	user := h.create("user", nil, &ctypes.HostConfig{VolumesFrom: []string{"src:ro"}})
	mps := h.snap(user).Mounts
	if len(mps) != 2 || mps[0].From != src || mps[0].RW || mps[1].Source != "/host" {
		t.Fatalf("volumes-from mounts: %+v", mps)
	}
	h.Close()
	h2 := newHarnessAt(t, h.cfg.DataRoot, h.cfg.ExecRoot, h.layers, h.mon)
	svc := withVolumes(t, h2, vroot)
	if err := h2.Restore(bg); err != nil {
		t.Fatal(err)
	}
	if err := h2.Remove(bg, src, containers.RemoveOptions{}); err != nil {
		t.Fatal(err)
	}
	err := svc.Remove(bg, "shared", false)
	if !errdefs.Is(err, errdefs.Conflict) || !strings.Contains(err.Error(), user) {
		t.Fatalf("after restore, remove of a volume --volumes-from holds: %v", err)
	}
}
