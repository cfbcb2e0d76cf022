package archive

import (
	"archive/tar"
	"bytes"
	"context"
	"io"
	"os"
	"path/filepath"
	"testing"
)

// WriteTarInRoot writes what WriteTar writes, symlinks out of the tree
// included as links, and leaves the process's root alone.
func TestWriteTarInRoot(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root (chroot)")
	}
	dir := t.TempDir()
	os.MkdirAll(filepath.Join(dir, "d/e"), 0o755)
	os.WriteFile(filepath.Join(dir, "d/f"), []byte("content"), 0o640)
	os.Link(filepath.Join(dir, "d/f"), filepath.Join(dir, "d/hard"))
	os.Symlink("/", filepath.Join(dir, "up"))
	os.Symlink("../../../..", filepath.Join(dir, "d/rel"))
	var want, got bytes.Buffer
	if err := WriteTar(context.Background(), &want, dir, TarOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := WriteTarInRoot(context.Background(), &got, dir, TarOptions{}); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got.Bytes(), want.Bytes()) {
		t.Errorf("WriteTarInRoot wrote %d bytes unlike WriteTar's %d", got.Len(), want.Len())
	}
	if _, err := os.Stat("/proc/self/exe"); err != nil {
		t.Errorf("the process's root changed: %v", err)
	}
	if err := WriteTarInRoot(context.Background(), &got, filepath.Join(dir, "missing"), TarOptions{}); err == nil {
		t.Error("a missing root: no error")
	}
}

// A file that vanishes between its directory's listing and its reading
// is left out (a running container's tree), not an error.
func TestWriteTarSkipsVanished(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "a"), []byte("a"), 0o644)
	os.WriteFile(filepath.Join(dir, "b"), []byte("b"), 0o644)
	os.Symlink("a", filepath.Join(dir, "c"))
	tw := &tarWriter{links: map[uint64]string{}}
	var buf bytes.Buffer
	tw.tw = tar.NewWriter(&buf)
	for _, name := range []string{"b", "c"} {
		fi, err := os.Lstat(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		os.Remove(filepath.Join(dir, name))
		if err := tw.entry(filepath.Join(dir, name), name, fi); err != nil {
			t.Errorf("%s removed after its listing: %v", name, err)
		}
	}
	tw.tw.Close()
	if h, err := tar.NewReader(&buf).Next(); err != io.EOF {
		t.Errorf("vanished files written: %v %v", h, err)
	}
}
