package archive

import (
	"archive/tar"
	"context"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"

	pathrs "github.com/cyphar/filepath-securejoin/pathrs-lite"
	"golang.org/x/sys/unix"
)

// WriteTarRebased writes src (a path inside root; a file, a symlink or a
// directory tree, never followed) as a tar whose names start with name
// instead of src's own base name: the docker cp read side. File contents
// are opened in root's scope (openat2 RESOLVE_IN_ROOT where the kernel has
// it), so a path swapped for a symlink while the tar is written never
// reads a file outside root.
func WriteTarRebased(ctx context.Context, w io.Writer, root, src, name string) error {
	rootf, err := os.Open(root)
	if err != nil {
		return err
	}
	defer rootf.Close()
	tw := tar.NewWriter(w)
	wr := &tarWriter{tw: tw, links: map[uint64]string{}, open: func(p string) (*os.File, error) {
		rel, err := filepath.Rel(root, p)
		if err != nil {
			return nil, err
		}
		h, err := pathrs.OpenatInRoot(rootf, rel)
		if err != nil {
			return nil, err
		}
		defer h.Close()
		f, err := pathrs.Reopen(h, unix.O_RDONLY|unix.O_CLOEXEC)
		if err != nil {
			return nil, err
		}
		var st unix.Stat_t
		if err := unix.Fstat(int(f.Fd()), &st); err != nil || st.Mode&unix.S_IFMT != unix.S_IFREG {
			f.Close()
			return nil, fmt.Errorf("%s: changed while being copied", p)
		}
		return f, nil
	}}
	err = filepath.WalkDir(src, func(p string, e fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		rel, err := filepath.Rel(src, p)
		if err != nil {
			return err
		}
		n := name
		if rel != "." {
			n = path.Join(name, filepath.ToSlash(rel))
		}
		fi, err := e.Info()
		if err != nil {
			return err
		}
		return wr.entry(p, n, fi)
	})
	if err != nil {
		return fmt.Errorf("tar %s: %w", src, err)
	}
	return tw.Close()
}
