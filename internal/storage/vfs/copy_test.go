package vfs

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

func TestCopyTreeKeepsEverything(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root")
	}
	src := filepath.Join(t.TempDir(), "src")
	os.MkdirAll(filepath.Join(src, "d"), 0o750)
	os.WriteFile(filepath.Join(src, "d/f"), []byte("data"), 0o4711)
	os.Chown(filepath.Join(src, "d/f"), 1234, 5678)
	unix.Chmod(filepath.Join(src, "d/f"), 0o4711) // chown cleared setuid
	os.Link(filepath.Join(src, "d/f"), filepath.Join(src, "hard"))
	os.Symlink("/nowhere", filepath.Join(src, "link"))
	os.Lchown(filepath.Join(src, "link"), 42, 43)
	unix.Mknod(filepath.Join(src, "null"), unix.S_IFCHR|0o666, int(unix.Mkdev(1, 3)))
	unix.Mkfifo(filepath.Join(src, "fifo"), 0o600)
	unix.Lsetxattr(filepath.Join(src, "d/f"), "user.k", []byte("v"), 0)
	old := time.Unix(1_500_000_000, 0)
	os.Chtimes(filepath.Join(src, "d"), old, old)

	dst := filepath.Join(t.TempDir(), "dst")
	if err := CopyTree(context.Background(), src, dst); err != nil {
		t.Fatal(err)
	}
	var st, st2 unix.Stat_t
	unix.Lstat(filepath.Join(dst, "d/f"), &st)
	if st.Uid != 1234 || st.Gid != 5678 || st.Mode&0o7777 != 0o4711 {
		t.Fatalf("file: %d:%d %o", st.Uid, st.Gid, st.Mode&0o7777)
	}
	unix.Lstat(filepath.Join(dst, "hard"), &st2)
	if st.Ino != st2.Ino {
		t.Fatal("hardlink not kept")
	}
	if l, _ := os.Readlink(filepath.Join(dst, "link")); l != "/nowhere" {
		t.Fatalf("symlink %q", l)
	}
	unix.Lstat(filepath.Join(dst, "link"), &st)
	if st.Uid != 42 {
		t.Fatal("symlink owner")
	}
	unix.Lstat(filepath.Join(dst, "null"), &st)
	if st.Mode&unix.S_IFMT != unix.S_IFCHR || st.Rdev != unix.Mkdev(1, 3) {
		t.Fatal("device node")
	}
	unix.Lstat(filepath.Join(dst, "fifo"), &st)
	if st.Mode&unix.S_IFMT != unix.S_IFIFO {
		t.Fatal("fifo")
	}
	buf := make([]byte, 4)
	if n, err := unix.Lgetxattr(filepath.Join(dst, "d/f"), "user.k", buf); err != nil || string(buf[:n]) != "v" {
		t.Fatalf("xattr: %v", err)
	}
	if fi, _ := os.Stat(filepath.Join(dst, "d")); !fi.ModTime().Equal(old) || fi.Mode().Perm() != 0o750 {
		t.Fatalf("dir: %v %v", fi.ModTime(), fi.Mode())
	}
}
