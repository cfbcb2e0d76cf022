package archive

import (
	"archive/tar"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// TarOptions tune WriteTar.
type TarOptions struct {
	// OverlayWhiteouts reads dir as an overlay upper directory: 0:0
	// character devices become ".wh.<name>" entries and directories marked
	// trusted.overlay.opaque=y get a ".wh..wh..opq" entry (the inverse of
	// Apply with WhiteoutOverlay).
	OverlayWhiteouts bool
}

// WriteTar writes the tree under dir to w as an uncompressed layer tar, in
// lexical order, with ownership, modes, mtimes, xattrs (not overlay's own)
// and hardlinks. It is how a container's changes become a layer (commit)
// and how a rootfs is exported.
func WriteTar(ctx context.Context, w io.Writer, dir string, opts TarOptions) error {
	tw := tar.NewWriter(w)
	wr := &tarWriter{tw: tw, links: map[uint64]string{}, overlay: opts.OverlayWhiteouts}
	err := filepath.WalkDir(dir, func(p string, e fs.DirEntry, err error) error {
		if err != nil {
			if p != dir && errors.Is(err, fs.ErrNotExist) {
				return nil // gone since its directory was listed (a running container's tree)
			}
			return err
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		rel, err := filepath.Rel(dir, p)
		if err != nil || rel == "." {
			return err
		}
		fi, err := e.Info()
		if errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		if err != nil {
			return err
		}
		return wr.entry(p, filepath.ToSlash(rel), fi)
	})
	if err != nil {
		return fmt.Errorf("tar %s: %w", dir, err)
	}
	return tw.Close()
}

// tarWriter writes tree entries as tar entries.
type tarWriter struct {
	tw      *tar.Writer
	links   map[uint64]string // inode -> first name written, for hardlinks
	overlay bool              // translate overlay whiteouts and opaque dirs
	// open opens a regular file's content (nil: os.Open).
	open func(p string) (*os.File, error)
}

func (w *tarWriter) entry(p, rel string, fi fs.FileInfo) error {
	st := fi.Sys().(*syscall.Stat_t)
	if w.overlay && fi.Mode()&fs.ModeCharDevice != 0 && st.Rdev == 0 {
		return writeWhiteout(w.tw, rel, fi)
	}
	if fi.Mode()&fs.ModeSocket != 0 {
		return nil // not content
	}
	hdr, err := tar.FileInfoHeader(noNames{fi}, "")
	if err != nil {
		return fmt.Errorf("%s: %w", p, err)
	}
	hdr.Name = rel
	hdr.Uid, hdr.Gid = int(st.Uid), int(st.Gid)
	hdr.Uname, hdr.Gname = "", ""
	hdr.Mode = int64(st.Mode & 0o7777)
	hdr.ModTime = fi.ModTime()
	hdr.AccessTime, hdr.ChangeTime = time.Time{}, time.Time{}
	hdr.Format = tar.FormatPAX
	if fi.IsDir() {
		hdr.Name += "/"
	}
	switch {
	case fi.Mode()&fs.ModeSymlink != 0:
		if hdr.Linkname, err = os.Readlink(p); err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil // gone meanwhile
			}
			return err
		}
	case fi.Mode()&(fs.ModeDevice|fs.ModeCharDevice) != 0:
		hdr.Devmajor, hdr.Devminor = int64(unix.Major(st.Rdev)), int64(unix.Minor(st.Rdev))
	case fi.Mode().IsRegular() && st.Nlink > 1:
		if first, ok := w.links[st.Ino]; ok {
			hdr.Typeflag, hdr.Linkname, hdr.Size = tar.TypeLink, first, 0
		} else {
			w.links[st.Ino] = rel
		}
	}
	if err := readXattrs(p, hdr); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil // gone meanwhile
		}
		return err
	}
	// A file's content is opened before its header is written, so that a
	// file removed meanwhile is left out rather than failing the tar.
	var content *os.File
	if hdr.Typeflag == tar.TypeReg && hdr.Size > 0 {
		open := os.Open
		if w.open != nil {
			open = w.open
		}
		f, err := open(p)
		if errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		if err != nil {
			return err
		}
		defer f.Close()
		content = f
		// In a running container's tree the name may be another file
		// by now (removed and made again, still empty): the header
		// says what is read.
		if cur, err := f.Stat(); err == nil {
			hdr.Size = cur.Size()
		}
	}
	if err := w.tw.WriteHeader(hdr); err != nil {
		return err
	}
	if content != nil {
		n, err := io.CopyN(w.tw, content, hdr.Size)
		if errors.Is(err, io.EOF) {
			// Truncated while read: padded, so that the tar stays whole.
			_, err = io.CopyN(w.tw, zeros{}, hdr.Size-n)
		}
		if err != nil {
			return fmt.Errorf("%s: %w", p, err)
		}
	}
	if fi.IsDir() && w.overlay && isOpaque(p) {
		return w.tw.WriteHeader(&tar.Header{Name: rel + "/" + WhiteoutOpaque, Typeflag: tar.TypeReg, Mode: 0o644, ModTime: fi.ModTime(), Format: tar.FormatPAX})
	}
	return nil
}

type zeros struct{}

func (zeros) Read(p []byte) (int, error) {
	clear(p)
	return len(p), nil
}

// noNames keeps tar.FileInfoHeader from looking owners up in
// /etc/passwd and /etc/group: the entries carry numeric ids only, and a
// walk chrooted into a container (WriteTarInRoot) must not read the
// container's files for the lookup.
type noNames struct{ fs.FileInfo }

func (noNames) Uname() (string, error) { return "", nil }
func (noNames) Gname() (string, error) { return "", nil }

func writeWhiteout(tw *tar.Writer, rel string, fi fs.FileInfo) error {
	d, base := "", rel
	if i := strings.LastIndexByte(rel, '/'); i >= 0 {
		d, base = rel[:i+1], rel[i+1:]
	}
	return tw.WriteHeader(&tar.Header{Name: d + WhiteoutPrefix + base, Typeflag: tar.TypeReg, Mode: 0o644, ModTime: fi.ModTime(), Format: tar.FormatPAX})
}

func isOpaque(p string) bool {
	buf := make([]byte, 2)
	n, err := unix.Lgetxattr(p, "trusted.overlay.opaque", buf)
	return err == nil && n == 1 && buf[0] == 'y'
}

func readXattrs(p string, hdr *tar.Header) error {
	size, err := unix.Llistxattr(p, nil)
	if err != nil {
		if errors.Is(err, unix.ENOTSUP) {
			return nil
		}
		return &os.PathError{Op: "llistxattr", Path: p, Err: err}
	}
	if size == 0 {
		return nil
	}
	buf := make([]byte, size)
	if size, err = unix.Llistxattr(p, buf); err != nil {
		return &os.PathError{Op: "llistxattr", Path: p, Err: err}
	}
	for _, name := range strings.Split(strings.TrimRight(string(buf[:size]), "\x00"), "\x00") {
		if name == "" || strings.HasPrefix(name, "trusted.overlay.") {
			continue
		}
		vsz, err := unix.Lgetxattr(p, name, nil)
		if err != nil {
			continue
		}
		val := make([]byte, vsz)
		if vsz, err = unix.Lgetxattr(p, name, val); err != nil {
			continue
		}
		if hdr.PAXRecords == nil {
			hdr.PAXRecords = map[string]string{}
		}
		hdr.PAXRecords["SCHILY.xattr."+name] = string(val[:vsz])
	}
	return nil
}
