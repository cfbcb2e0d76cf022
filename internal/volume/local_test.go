package volume_test

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/berth-dev/berth/internal/errdefs"
	"github.com/berth-dev/berth/internal/volume"
	"github.com/berth-dev/berth/internal/volume/volumetest"
	"golang.org/x/sys/unix"
)

func openLocal(root string) (volume.Driver, error) { return volume.NewLocal(root) }

func needRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root")
	}
}

func TestLocalPlain(t *testing.T) {
	volumetest.Run(t, openLocal, volumetest.Case{Name: "plain"})
}

func TestLocalOwner(t *testing.T) {
	needRoot(t)
	volumetest.Run(t, openLocal, volumetest.Case{Name: "uid-gid", Opts: map[string]string{"uid": "1000", "gid": "1001"}})
	d, _ := volume.NewLocal(t.TempDir())
	info, err := d.Create(context.Background(), "own", map[string]string{"uid": "1000", "gid": "1001"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	var st unix.Stat_t
	if err := unix.Stat(info.Mountpoint, &st); err != nil || st.Uid != 1000 || st.Gid != 1001 {
		t.Fatalf("owner of a fresh volume: %d:%d %v", st.Uid, st.Gid, err)
	}
}

func TestLocalTmpfs(t *testing.T) {
	needRoot(t)
	volumetest.Run(t, openLocal, volumetest.Case{Name: "tmpfs", Mounted: true, Ephemeral: true,
		Opts: map[string]string{"type": "tmpfs", "device": "tmpfs", "o": "size=4m"}})
	// uid/gid give the tmpfs root its owner.
	d, _ := volume.NewLocal(t.TempDir())
	ctx := context.Background()
	if _, err := d.Create(ctx, "t", map[string]string{"type": "tmpfs", "device": "tmpfs", "o": "size=1m", "uid": "42", "gid": "43"}, nil); err != nil {
		t.Fatal(err)
	}
	p, err := d.Mount(ctx, "t", "c")
	if err != nil {
		t.Fatal(err)
	}
	defer d.Unmount(ctx, "t", "c")
	var st unix.Stat_t
	unix.Stat(p, &st)
	var sfs unix.Statfs_t
	unix.Statfs(p, &sfs)
	if st.Uid != 42 || st.Gid != 43 || sfs.Type != unix.TMPFS_MAGIC || sfs.Blocks*uint64(sfs.Bsize) != 1<<20 {
		t.Fatalf("tmpfs volume root %d:%d type %x size %d", st.Uid, st.Gid, sfs.Type, sfs.Blocks*uint64(sfs.Bsize))
	}
}

func TestLocalBind(t *testing.T) {
	needRoot(t)
	host := t.TempDir()
	os.WriteFile(filepath.Join(host, "hostfile"), []byte("h"), 0o644)
	volumetest.Run(t, openLocal, volumetest.Case{Name: "bind", Mounted: true,
		Opts: map[string]string{"type": "none", "o": "bind", "device": host}})
	// Removing every volume backed by host never touched the host dir.
	if b, err := os.ReadFile(filepath.Join(host, "hostfile")); err != nil || string(b) != "h" {
		t.Fatalf("host dir of a bind volume after its removal: %q %v", b, err)
	}
}

// loopDevice makes a file-backed loop device with fs on it; cleanup
// detaches it.
func loopDevice(t *testing.T, fs string) string {
	t.Helper()
	mkfs, err := exec.LookPath("mkfs." + fs)
	if err != nil {
		t.Skipf("no mkfs.%s", fs)
	}
	img := filepath.Join(t.TempDir(), fs+".img")
	if err := os.WriteFile(img, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	size := int64(128 << 20)
	if fs == "xfs" {
		size = 320 << 20 // mkfs.xfs refuses less than 300 MB (the file is sparse)
	}
	if err := os.Truncate(img, size); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(mkfs, "-q", img).CombinedOutput(); err != nil {
		if out2, err2 := exec.Command(mkfs, img).CombinedOutput(); err2 != nil {
			t.Fatalf("mkfs.%s: %v %s %s", fs, err, out, out2)
		}
	}
	out, err := exec.Command("losetup", "--find", "--show", img).Output()
	if err != nil {
		t.Skipf("losetup: %v", err)
	}
	dev := strings.TrimSpace(string(out))
	t.Cleanup(func() { exec.Command("losetup", "-d", dev).Run() })
	return dev
}

func TestLocalDevice(t *testing.T) {
	needRoot(t)
	for _, fs := range []string{"ext4", "btrfs", "xfs"} {
		t.Run(fs, func(t *testing.T) {
			dev := loopDevice(t, fs)
			volumetest.Run(t, openLocal, volumetest.Case{Name: fs, Mounted: true,
				Opts: map[string]string{"type": fs, "device": dev}})
		})
	}
}

func TestLocalOptionErrors(t *testing.T) {
	d, err := volume.NewLocal(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		opts map[string]string
		msg  string
	}{
		{map[string]string{"foo": "bar"}, `invalid option: "foo"`},
		{map[string]string{"type": "tmpfs"}, `missing required option: "device"`},
		{map[string]string{"o": "bind"}, `missing required option: "device"`},
		{map[string]string{"device": "/tmp"}, `missing required option: "type"`},
		{map[string]string{"size": "1g"}, "quota size requested but no quota support"},
		{map[string]string{"uid": "x"}, `invalid option: uid="x" is not a valid id`},
		{map[string]string{"type": "none", "device": "/tmp"}, "invalid option: type=none needs o=bind (or rbind)"},
	} {
		_, err := d.Create(context.Background(), "v", tc.opts, nil)
		if !errdefs.Is(err, errdefs.InvalidArgument) || err.Error() != tc.msg {
			t.Errorf("%v: got %v, want %q", tc.opts, err, tc.msg)
		}
	}
	if l, _ := d.List(context.Background()); len(l) != 0 {
		t.Fatalf("failed creates left %v", l)
	}
}

func TestLocalMissingDevice(t *testing.T) {
	needRoot(t)
	root := t.TempDir()
	d, _ := volume.NewLocal(root)
	ctx := context.Background()
	if _, err := d.Create(ctx, "v", map[string]string{"type": "ext4", "device": "/dev/berth-nonexistent"}, nil); err != nil {
		t.Fatalf("create (dockerd accepts it): %v", err)
	}
	_, err := d.Mount(ctx, "v", "c")
	want := "failed to mount local volume: mount /dev/berth-nonexistent:" + filepath.Join(root, "v", "_data") + ": no such file or directory"
	if err == nil || err.Error() != want {
		t.Fatalf("mount: got %v, want %q", err, want)
	}
	if err := d.Remove(ctx, "v"); err != nil {
		t.Fatal(err)
	}
}

// A crash mid-create or mid-remove leaves temp directories: reopening
// deletes them and keeps complete volumes, adopting one without metadata.
func TestLocalCrashLeftovers(t *testing.T) {
	root := t.TempDir()
	for _, p := range []string{".creating-1/_data", ".removing-x-1/_data", "handmade/_data"} {
		os.MkdirAll(filepath.Join(root, p), 0o755)
	}
	os.WriteFile(filepath.Join(root, "handmade/_data/f"), []byte("x"), 0o644)
	d, err := volume.NewLocal(root)
	if err != nil {
		t.Fatal(err)
	}
	l, _ := d.List(context.Background())
	if len(l) != 1 || l[0].Name != "handmade" {
		t.Fatalf("volumes after reopen: %+v", l)
	}
	for _, p := range []string{".creating-1", ".removing-x-1"} {
		if _, err := os.Stat(filepath.Join(root, p)); !os.IsNotExist(err) {
			t.Errorf("%s left: %v", p, err)
		}
	}
	if b, _ := os.ReadFile(filepath.Join(root, "handmade/_data/f")); string(b) != "x" {
		t.Fatal("adopted volume lost its data")
	}
}

func TestCopyUp(t *testing.T) {
	needRoot(t)
	src, dst := t.TempDir(), t.TempDir()
	os.MkdirAll(filepath.Join(src, "sub/deep"), 0o750)
	os.WriteFile(filepath.Join(src, "sub/file"), []byte("content"), 0o640)
	os.Chown(filepath.Join(src, "sub/file"), 1234, 5678)
	os.Chown(filepath.Join(src, "sub"), 1000, 1000)
	unix.Chmod(filepath.Join(src, "sub/file"), 0o4751)
	os.Symlink("/etc/passwd", filepath.Join(src, "link"))
	os.Lchown(filepath.Join(src, "link"), 7, 8)
	os.Link(filepath.Join(src, "sub/file"), filepath.Join(src, "hard"))
	unix.Mkfifo(filepath.Join(src, "fifo"), 0o600)
	os.Chown(src, 99, 98)
	unix.Chmod(src, 0o1777)
	xattrOK := unix.Lsetxattr(filepath.Join(src, "sub/file"), "user.berth", []byte("v"), 0) == nil
	if err := volume.CopyUp(src, dst); err != nil {
		t.Fatal(err)
	}
	stat := func(p string) *syscall.Stat_t {
		fi, err := os.Lstat(filepath.Join(dst, p))
		if err != nil {
			t.Fatal(err)
		}
		return fi.Sys().(*syscall.Stat_t)
	}
	if st := stat("sub/file"); st.Uid != 1234 || st.Gid != 5678 || st.Mode&07777 != 0o4751 {
		t.Errorf("file: %d:%d %o", st.Uid, st.Gid, st.Mode&07777)
	}
	if st := stat("sub"); st.Uid != 1000 || st.Mode&07777 != 0o750 {
		t.Errorf("dir: %d %o", st.Uid, st.Mode&07777)
	}
	if st := stat("."); st.Uid != 99 || st.Gid != 98 || st.Mode&07777 != 0o1777 {
		t.Errorf("root: %d:%d %o", st.Uid, st.Gid, st.Mode&07777)
	}
	if l, _ := os.Readlink(filepath.Join(dst, "link")); l != "/etc/passwd" || stat("link").Uid != 7 {
		t.Errorf("symlink: %q uid %d", l, stat("link").Uid)
	}
	if stat("hard").Ino != stat("sub/file").Ino {
		t.Error("hard link became a copy")
	}
	if stat("fifo").Mode&unix.S_IFMT != unix.S_IFIFO {
		t.Error("fifo not kept")
	}
	if b, _ := os.ReadFile(filepath.Join(dst, "sub/file")); string(b) != "content" {
		t.Errorf("content %q", b)
	}
	if xattrOK {
		v := make([]byte, 8)
		if n, err := unix.Lgetxattr(filepath.Join(dst, "sub/file"), "user.berth", v); err != nil || string(v[:n]) != "v" {
			t.Errorf("xattr: %q %v", v[:n], err)
		}
	}
}

// A remapping daemon's new volumes belong to the containers' root.
func TestLocalRemappedRoot(t *testing.T) {
	needRoot(t)
	d, err := volume.NewLocal(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	d.SetRootOwner(100000, 200000)
	info, err := d.Create(context.Background(), "remapped", nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	var st unix.Stat_t
	if err := unix.Stat(info.Mountpoint, &st); err != nil || st.Uid != 100000 || st.Gid != 200000 {
		t.Errorf("_data owner %d:%d (%v), want 100000:200000", st.Uid, st.Gid, err)
	}
}
