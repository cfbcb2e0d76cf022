package archive

import (
	"archive/tar"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"syscall"
)

// WriteDiff writes, as an OCI layer tar, what turns the tree lower into
// the tree upper: entries new or changed in upper (type, mode, owner,
// size, mtime, device or link target differ), and ".wh.<name>" whiteouts
// for names upper lacks. It is the diff of drivers that keep full copies
// (vfs); overlay2 writes its upper dir with WriteTar instead.
func WriteDiff(ctx context.Context, w io.Writer, lower, upper string) error {
	tw := tar.NewWriter(w)
	wr := &tarWriter{tw: tw, links: map[uint64]string{}}
	err := filepath.WalkDir(upper, func(p string, e fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		rel, err := filepath.Rel(upper, p)
		if err != nil || rel == "." {
			return err
		}
		rel = filepath.ToSlash(rel)
		fi, err := e.Info()
		if err != nil {
			return err
		}
		lfi, lerr := os.Lstat(filepath.Join(lower, rel))
		if errors.Is(lerr, syscall.ENOTDIR) {
			lerr = fs.ErrNotExist // a parent was a file below
		}
		if lerr != nil && !errors.Is(lerr, fs.ErrNotExist) {
			return lerr
		}
		if lerr == nil && sameEntry(filepath.Join(lower, rel), p, lfi, fi) {
			if fi.IsDir() {
				return wr.whiteouts(lower, upper, rel)
			}
			return nil
		}
		if err := wr.entry(p, rel, fi); err != nil {
			return err
		}
		if fi.IsDir() && lerr == nil && lfi.IsDir() {
			return wr.whiteouts(lower, upper, rel)
		}
		return nil
	})
	if err == nil {
		err = wr.whiteouts(lower, upper, "")
	}
	if err != nil {
		return fmt.Errorf("diff %s against %s: %w", upper, lower, err)
	}
	return tw.Close()
}

// whiteouts writes a whiteout for each entry of lower/rel missing from
// upper/rel.
func (w *tarWriter) whiteouts(lower, upper, rel string) error {
	ents, err := os.ReadDir(filepath.Join(lower, rel))
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENOTDIR) {
			return nil
		}
		return err
	}
	for _, e := range ents {
		name := path.Join(rel, e.Name())
		if _, err := os.Lstat(filepath.Join(upper, name)); errors.Is(err, fs.ErrNotExist) {
			if err := w.tw.WriteHeader(&tar.Header{Name: path.Join(rel, WhiteoutPrefix+e.Name()), Typeflag: tar.TypeReg, Mode: 0o644, Format: tar.FormatPAX}); err != nil {
				return err
			}
		} else if err != nil {
			return err
		}
	}
	return nil
}

// sameEntry compares what a layer records of a path.
func sameEntry(lp, up string, l, u fs.FileInfo) bool {
	ls, us := l.Sys().(*syscall.Stat_t), u.Sys().(*syscall.Stat_t)
	if ls.Mode != us.Mode || ls.Uid != us.Uid || ls.Gid != us.Gid || ls.Rdev != us.Rdev {
		return false
	}
	if u.IsDir() {
		return true // a directory's changes are its children's
	}
	if ls.Size != us.Size || ls.Mtim != us.Mtim {
		return false
	}
	if u.Mode()&fs.ModeSymlink != 0 {
		a, err1 := os.Readlink(lp)
		b, err2 := os.Readlink(up)
		return err1 == nil && err2 == nil && a == b
	}
	return true
}
