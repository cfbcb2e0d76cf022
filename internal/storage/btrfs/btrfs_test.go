package btrfs_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/moby/sys/mountinfo"
	"golang.org/x/sys/unix"

	"github.com/berth-dev/berth/internal/storage"
	"github.com/berth-dev/berth/internal/storage/btrfs"
	"github.com/berth-dev/berth/internal/storage/storagetest"
)

// loopBtrfs makes a btrfs filesystem in a sparse file, loop-mounts it and
// registers its teardown (unmount, detach the loop device) even when the
// test fails. It skips without root, mkfs.btrfs or loop devices.
func loopBtrfs(t *testing.T) string {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root")
	}
	mkfs, err := exec.LookPath("mkfs.btrfs")
	if err != nil {
		t.Skip("mkfs.btrfs not installed (apt-get install btrfs-progs)")
	}
	dir := t.TempDir()
	img := filepath.Join(dir, "btrfs.img")
	f, err := os.Create(img)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Truncate(256 << 20); err != nil {
		t.Fatal(err)
	}
	f.Close()
	if out, err := exec.Command(mkfs, "-q", "-f", img).CombinedOutput(); err != nil {
		t.Fatalf("mkfs.btrfs: %v\n%s", err, out)
	}
	out, err := exec.Command("losetup", "--find", "--show", img).CombinedOutput()
	if err != nil {
		t.Skipf("no loop device: %v\n%s", err, out)
	}
	dev := strings.TrimSpace(string(out))
	mnt := filepath.Join(dir, "mnt")
	if err := os.Mkdir(mnt, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		// Whatever the suite left mounted below the filesystem first.
		if ms, err := mountinfo.GetMounts(mountinfo.PrefixFilter(mnt)); err == nil {
			for i := len(ms) - 1; i >= 0; i-- {
				_ = unix.Unmount(ms[i].Mountpoint, unix.MNT_DETACH)
			}
		}
		_ = exec.Command("losetup", "-d", dev).Run()
	})
	if err := unix.Mount(dev, mnt, "btrfs", 0, ""); err != nil {
		t.Fatalf("mount %s: %v", dev, err)
	}
	return mnt
}

func TestConformance(t *testing.T) {
	fsRoot := loopBtrfs(t)
	storagetest.Run(t, func(t *testing.T, dataRoot string) storage.Driver {
		// The suite's data root is a temp dir: its btrfs/ is bound from the
		// same path inside the loop filesystem (once per data root), so
		// that mountinfo's roots of bind mounts name the real paths.
		home := filepath.Join(dataRoot, btrfs.Name)
		if ok, _ := mountinfo.Mounted(home); !ok {
			src := filepath.Join(fsRoot, home)
			if err := os.MkdirAll(src, 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.MkdirAll(home, 0o755); err != nil {
				t.Fatal(err)
			}
			if err := unix.Mount(src, home, "", unix.MS_BIND, ""); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = unix.Unmount(home, unix.MNT_DETACH) })
		}
		d, err := btrfs.New(dataRoot)
		if err != nil {
			t.Fatal(err)
		}
		return d
	})
}

// Off btrfs the driver refuses to start, naming the filesystem.
func TestNotBtrfs(t *testing.T) {
	dir := t.TempDir()
	var st unix.Statfs_t
	if err := unix.Statfs(dir, &st); err != nil || st.Type == unix.BTRFS_SUPER_MAGIC {
		t.Skip("temp dir is on btrfs")
	}
	if _, err := btrfs.New(dir); err == nil || !strings.Contains(err.Error(), "not btrfs") {
		t.Fatalf("New on %s: %v", storage.FSName(dir), err)
	}
}
