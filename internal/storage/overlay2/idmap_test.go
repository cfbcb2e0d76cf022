package overlay2_test

import (
	"archive/tar"
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/moby/sys/mountinfo"

	"github.com/berth-dev/berth/internal/errdefs"
	"github.com/berth-dev/berth/internal/storage"
	"github.com/berth-dev/berth/internal/storage/overlay2"
	"github.com/berth-dev/berth/internal/storage/vfs"
	"github.com/berth-dev/berth/internal/userns"
)

func owner(t *testing.T, path string) [2]uint32 {
	t.Helper()
	var st syscall.Stat_t
	if err := syscall.Lstat(path, &st); err != nil {
		t.Fatal(err)
	}
	return [2]uint32{st.Uid, st.Gid}
}

// A remapped writable layer: image files (root-owned on disk) show as the
// map's root through the mount, the upper dir's root is the map's root,
// a file written through the mount is owned by that on disk, a copied-up
// file too, and unmounting the overlay leaves no idmapped mount behind.
func TestIDMappedLayers(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root")
	}
	ctx := context.Background()
	root := t.TempDir()
	d, err := overlay2.New(root)
	if err != nil {
		t.Fatal(err)
	}
	up, _, err := d.UpperDir(ctx, mustPrepare(t, d, "base", ""))
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(up, "image-file"), []byte("x"), 0o644)
	os.Mkdir(filepath.Join(up, "etc"), 0o755)
	if err := d.Commit(ctx, "base", "base"); err != nil {
		t.Fatal(err)
	}
	idm := userns.IDMap{UIDs: []userns.Range{{ContainerID: 0, HostID: 100000, Size: 65536}}, GIDs: []userns.Range{{ContainerID: 0, HostID: 200000, Size: 65536}}}
	ms, err := d.Prepare(ctx, "ctr", "base", storage.WithIDMap(idm), storage.WithVolatile())
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(strings.Join(ms[0].Options, ","), "uidmap=0:100000:65536") {
		t.Fatalf("mount options lack the map: %v", ms[0].Options)
	}
	target := d.Mountpoint("ctr")
	if err := storage.MountAll(ms, target); err != nil {
		t.Fatal(err)
	}
	mounted := true
	defer func() {
		if mounted {
			storage.Unmount(target)
		}
	}()
	want := [2]uint32{100000, 200000}
	if got := owner(t, filepath.Join(target, "image-file")); got != want {
		t.Errorf("image file through the mount: %v, want %v", got, want)
	}
	if got := owner(t, filepath.Join(root, "overlay2/ctr/diff")); got != want {
		t.Errorf("upper dir root: %v, want %v", got, want)
	}
	if err := os.WriteFile(filepath.Join(target, "etc/new"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Lchown(filepath.Join(target, "etc/new"), 100005, 200005); err != nil {
		t.Fatal(err)
	}
	if got := owner(t, filepath.Join(root, "overlay2/ctr/diff/etc/new")); got != [2]uint32{100005, 200005} {
		t.Errorf("new file on disk: %v", got)
	}
	if got := owner(t, filepath.Join(root, "overlay2/ctr/diff/etc")); got != want {
		t.Errorf("copied-up dir on disk: %v, want %v", got, want)
	}
	// The layer's tar records the container's view of ownership.
	var buf bytes.Buffer
	if err := d.Diff(ctx, "ctr", &buf); err != nil {
		t.Fatal(err)
	}
	owners := map[string][2]int{}
	tr := tar.NewReader(&buf)
	for {
		h, err := tr.Next()
		if err != nil {
			break
		}
		owners[h.Name] = [2]int{h.Uid, h.Gid}
	}
	if owners["etc/new"] != [2]int{5, 5} || owners["etc/"] != [2]int{0, 0} {
		t.Errorf("diff owners: %v", owners)
	}
	if err := storage.Unmount(target); err != nil {
		t.Fatal(err)
	}
	mounted = false
	left, _ := mountinfo.GetMounts(func(m *mountinfo.Info) (bool, bool) {
		return !strings.HasPrefix(m.Mountpoint, root) && !strings.Contains(m.VFSOptions, root), false
	})
	if len(left) > 0 {
		t.Errorf("mounts left: %+v", left[0])
	}
	// Reopened, the driver still knows the map.
	d2, err := overlay2.New(root)
	if err != nil {
		t.Fatal(err)
	}
	ms2, err := d2.Mounts(ctx, "ctr")
	if err != nil || !strings.Contains(strings.Join(ms2[0].Options, ","), "gidmap=0:200000:65536") {
		t.Errorf("after reopen: %v, %v", ms2, err)
	}
}

func mustPrepare(t *testing.T, d storage.Driver, key, parent string) string {
	t.Helper()
	if _, err := d.Prepare(context.Background(), key, parent); err != nil {
		t.Fatal(err)
	}
	return key
}

func TestVFSRefusesIDMap(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root")
	}
	d, err := vfs.New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	idm := userns.IDMap{UIDs: []userns.Range{{ContainerID: 0, HostID: 100000, Size: 65536}}, GIDs: []userns.Range{{ContainerID: 0, HostID: 100000, Size: 65536}}}
	_, err = d.Prepare(context.Background(), "x", "", storage.WithIDMap(idm))
	if !errdefs.Is(err, errdefs.NotImplemented) {
		t.Errorf("vfs Prepare with an id map: %v, want NotImplemented", err)
	}
}
