package buildctx

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
	"strings"
	"syscall"

	securejoin "github.com/cyphar/filepath-securejoin"
	"github.com/moby/go-archive/compression"
	"golang.org/x/sys/unix"

	"github.com/berth-dev/berth/internal/archive"
	"github.com/berth-dev/berth/internal/errdefs"
)

// CopyOptions are COPY/ADD's flags, resolved.
type CopyOptions struct {
	UID, GID int          // owner of everything copied (classic COPY: 0:0 unless --chown)
	Mode     *os.FileMode // --chmod (nil = keep the source's)
	// PreserveOwner keeps each copied entry's owner (uid:gid as the
	// source tree has them) instead of UID:GID, as dockerd's COPY
	// --from without --chown; the directories Copy makes (parents, a
	// directory source's new dest) are then root's.
	PreserveOwner bool
	// Extract: ADD of a local tar (plain, gzip, bzip2, xz) unpacks it
	// into dest instead of copying the file.
	Extract bool
}

// Copy copies srcs into the rootfs at dest (absolute in the container;
// relative dest is taken from workdir), following Docker's rules:
// a directory source copies its contents; several sources or a dest
// ending in "/" need dest to be a directory (created, with parents, as
// needed: "When using COPY with more than one source file, the
// destination must be a directory and end with a /"); dest symlinks are
// resolved inside rootfs (securejoin), never out of it.
//
// Details, as dockerd's classic builder (checked side by side with
// dockerd 20.10): a file goes to dest, or to dest/<its name> when dest
// ends in "/" or is a directory, and its missing parents are made 0755
// owned by UID:GID; a directory's missing parents are made 0755 owned
// by root and dest itself 0755 owned by UID:GID (an existing dest keeps
// its owner and mode); inside a copied directory, whatever is at an
// entry's place is replaced unless both are directories (a symlink there
// is never followed); symlinks are copied as symlinks, hardlinks inside
// one directory source stay hardlinks, modes (unless Mode) and mtimes
// are kept, everything copied is owned by UID:GID. One difference on
// purpose: setuid/setgid bits are kept (dockerd's chown after copying
// clears them; BuildKit keeps them). With PreserveOwner, UID:GID above
// reads "each source entry's own owner" for what is copied and "root"
// for what Copy makes. With Extract, a source that is a
// tar (any compression) is unpacked into dest (made a directory, with
// root-owned parents) with internal/archive's path rules; its entries
// keep the tar's owners and modes whatever UID, GID and Mode say.
func Copy(rootfs, workdir string, srcs []Source, dest string, opts CopyOptions) error {
	if len(srcs) == 0 {
		return nil
	}
	// Only a trailing "/" says "directory" ("." or "/x/." do not, as in
	// dockerd: they name a file unless a directory is there).
	toDir := strings.HasSuffix(dest, "/")
	if len(srcs) > 1 && !strings.HasSuffix(dest, "/") {
		cmd := "COPY"
		if opts.Extract {
			cmd = "ADD"
		}
		return errdefs.InvalidArgumentf("When using %s with more than one source file, the destination must be a directory and end with a /", cmd)
	}
	d := dest
	if !path.IsAbs(d) {
		d = path.Join("/", workdir, d)
	}
	destPath, err := securejoin.SecureJoin(rootfs, d)
	if err != nil {
		return errdefs.InvalidArgumentf("copy to %s: %w", dest, err)
	}
	c := &copier{rootfs: rootfs, opts: opts}
	for _, s := range srcs {
		if err := c.copySource(s, destPath, toDir); err != nil {
			return fmt.Errorf("copy %s to %s: %w", s.Rel, dest, err)
		}
	}
	return nil
}

type copier struct {
	rootfs string
	opts   CopyOptions
	links  map[fileID]string // within one source: a multiply linked file's first copy
}

type fileID struct{ dev, ino uint64 }

func (c *copier) copySource(s Source, destPath string, toDir bool) error {
	c.links = nil
	srcPath := filepath.Join(s.Root, filepath.FromSlash(s.Rel))
	fi, err := os.Lstat(srcPath)
	if err != nil {
		return err
	}
	if fi.IsDir() {
		return c.copyDirInto(s, srcPath, destPath)
	}
	if c.opts.Extract && fi.Mode().IsRegular() && isArchive(srcPath) {
		return c.extract(srcPath, destPath)
	}
	target := destPath
	if !toDir {
		if di, err := os.Stat(destPath); err == nil && di.IsDir() {
			toDir = true
		}
	}
	if toDir {
		// Resolve's names are one element; a hand-made one must not
		// climb out of dest either.
		name := path.Base(path.Clean("/" + s.name()))
		if name == "/" {
			return errdefs.InvalidArgumentf("cannot name a copy of %q in %s", s.name(), c.inRootfs(destPath))
		}
		target = filepath.Join(destPath, name)
	}
	puid, pgid := c.opts.UID, c.opts.GID
	if c.opts.PreserveOwner {
		puid, pgid = 0, 0 // dockerd: a plain MkdirAll
	}
	if err := c.mkdirAll(filepath.Dir(target), puid, pgid); err != nil {
		return err
	}
	return c.copyEntry(s, "", srcPath, fi, target)
}

// copyDirInto copies the contents of directory srcPath into destPath.
func (c *copier) copyDirInto(s Source, srcPath, destPath string) error {
	di, err := os.Lstat(destPath)
	switch {
	case err == nil && !di.IsDir():
		return errdefs.InvalidArgumentf("cannot copy a directory to %s: not a directory", c.inRootfs(destPath))
	case errors.Is(err, os.ErrNotExist):
		// As dockerd's tar copy: parents are made root's, the
		// directory itself 0755 (the source directory's own mode is
		// not carried) and then owned like the copy.
		if err := c.mkdirAll(destPath, 0, 0); err != nil {
			return err
		}
		if !c.opts.PreserveOwner {
			if err := os.Lchown(destPath, c.opts.UID, c.opts.GID); err != nil {
				return err
			}
		}
	case err != nil:
		return err
	}
	return c.copyChildren(s, ".", srcPath, destPath)
}

func (c *copier) copyChildren(s Source, rel, srcDir, destDir string) error {
	return s.eachChild(rel, srcDir, func(childRel, src string, fi fs.FileInfo) error {
		return c.copyEntry(s, childRel, src, fi, filepath.Join(destDir, path.Base(childRel)))
	})
}

// copyEntry copies one entry (recursively for a directory) to dst,
// whose parent is a real directory inside the rootfs. What is at dst is
// replaced, never followed, unless both are directories.
func (c *copier) copyEntry(s Source, rel, src string, fi fs.FileInfo, dst string) error {
	if di, err := os.Lstat(dst); err == nil {
		if !(di.IsDir() && fi.IsDir()) {
			if err := os.RemoveAll(dst); err != nil {
				return err
			}
		}
	} else if !errors.Is(err, os.ErrNotExist) {
		return err
	}
	mode := fi.Mode()
	switch {
	case mode.IsDir():
		if err := os.Mkdir(dst, 0o700); err != nil && !errors.Is(err, os.ErrExist) {
			return err
		}
		if err := c.copyChildren(s, rel, src, dst); err != nil {
			return err
		}
		return c.attrs(dst, fi, true)
	case mode.IsRegular():
		st, ok := fi.Sys().(*syscall.Stat_t)
		if !ok || st.Nlink < 2 {
			return c.copyFile(src, fi, dst)
		}
		id := fileID{uint64(st.Dev), st.Ino}
		if first, ok := c.links[id]; ok {
			return os.Link(first, dst)
		}
		if c.links == nil {
			c.links = map[fileID]string{}
		}
		c.links[id] = dst
		return c.copyFile(src, fi, dst)
	case mode&os.ModeSymlink != 0:
		target, err := os.Readlink(src)
		if err != nil {
			return err
		}
		if err := os.Symlink(target, dst); err != nil {
			return err
		}
		uid, gid := c.owner(fi)
		if err := os.Lchown(dst, uid, gid); err != nil {
			return err
		}
		return setTimes(dst, fi.ModTime())
	case mode&(os.ModeDevice|os.ModeNamedPipe) != 0:
		st, ok := fi.Sys().(*syscall.Stat_t)
		if !ok {
			return nil
		}
		if err := unix.Mknod(dst, st.Mode, int(st.Rdev)); err != nil {
			return &os.PathError{Op: "mknod", Path: dst, Err: err}
		}
		return c.attrs(dst, fi, true)
	}
	return nil // sockets: nothing to copy
}

func (c *copier) copyFile(src string, fi fs.FileInfo, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL|syscall.O_NOFOLLOW|syscall.O_CLOEXEC, 0o600)
	if err != nil {
		return err
	}
	// *os.File to *os.File: copy_file_range (reflinks where the
	// filesystem has them), else sendfile/splice.
	_, err = io.Copy(out, in)
	if err == nil {
		uid, gid := c.owner(fi)
		err = out.Chown(uid, gid)
	}
	if err == nil {
		err = out.Chmod(c.mode(fi.Mode()))
	}
	if err == nil {
		err = copyCapability(in, out)
	}
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	return setTimes(dst, fi.ModTime())
}

// copyCapability carries in's file capabilities over to out.
func copyCapability(in, out *os.File) error {
	buf := make([]byte, 128)
	n, err := unix.Fgetxattr(int(in.Fd()), capabilityXattr, buf)
	if err != nil || n == 0 {
		return nil // none (ENODATA), or no xattrs on the source's filesystem
	}
	return setCapability(out, buf[:n])
}

// attrs gives a copied entry its owner, mode and mtime (owner first:
// chown clears setuid bits).
func (c *copier) attrs(p string, fi fs.FileInfo, times bool) error {
	uid, gid := c.owner(fi)
	if err := os.Lchown(p, uid, gid); err != nil {
		return err
	}
	if err := os.Chmod(p, c.mode(fi.Mode())); err != nil {
		return err
	}
	if times {
		return setTimes(p, fi.ModTime())
	}
	return nil
}

// owner is who owns the copy of the entry fi describes.
func (c *copier) owner(fi fs.FileInfo) (uid, gid int) {
	if c.opts.PreserveOwner {
		if st, ok := fi.Sys().(*syscall.Stat_t); ok {
			return int(st.Uid), int(st.Gid)
		}
	}
	return c.opts.UID, c.opts.GID
}

func (c *copier) mode(m os.FileMode) os.FileMode {
	if c.opts.Mode != nil {
		return *c.opts.Mode & modeBits
	}
	return m & modeBits
}

// mkdirAll makes the missing directories of p (a path securejoin
// resolved inside the rootfs, or one below such a path that Copy made)
// 0755, owned by uid:gid, as dockerd's MkdirAllAndChownNew. A component
// that is not a directory is an error, never followed.
func (c *copier) mkdirAll(p string, uid, gid int) error {
	rel, err := filepath.Rel(c.rootfs, p)
	if err != nil || rel == ".." || strings.HasPrefix(rel, "../") {
		return errdefs.InvalidArgumentf("%s is outside the rootfs", p)
	}
	if rel == "." {
		return nil
	}
	cur := c.rootfs
	for _, e := range strings.Split(rel, string(filepath.Separator)) {
		cur = filepath.Join(cur, e)
		fi, err := os.Lstat(cur)
		if err == nil {
			if !fi.IsDir() {
				return errdefs.InvalidArgumentf("mkdir %s: not a directory", c.inRootfs(cur))
			}
			continue
		}
		if !errors.Is(err, os.ErrNotExist) {
			return err
		}
		if err := os.Mkdir(cur, 0o755); err != nil {
			return err
		}
		if err := os.Lchown(cur, uid, gid); err != nil {
			return err
		}
	}
	return nil
}

// inRootfs is p as the container sees it, for messages.
func (c *copier) inRootfs(p string) string {
	rel, err := filepath.Rel(c.rootfs, p)
	if err != nil {
		return p
	}
	return path.Join("/", filepath.ToSlash(rel))
}

// isArchive reports whether the file is a tar (any compression), as
// dockerd's ADD decides whether to unpack.
func isArchive(p string) bool {
	f, err := os.Open(p)
	if err != nil {
		return false
	}
	defer f.Close()
	r, err := compression.DecompressStream(f)
	if err != nil {
		return false
	}
	defer r.Close()
	_, err = tar.NewReader(r).Next()
	return err == nil
}

// extract unpacks the tar at src into the directory destPath.
func (c *copier) extract(src, destPath string) error {
	if di, err := os.Lstat(destPath); err == nil && !di.IsDir() {
		return errdefs.InvalidArgumentf("cannot extract an archive to %s: not a directory", c.inRootfs(destPath))
	}
	if err := c.mkdirAll(destPath, 0, 0); err != nil { // dockerd's untar makes them root's
		return err
	}
	f, err := os.Open(src)
	if err != nil {
		return err
	}
	defer f.Close()
	r, err := compression.DecompressStream(f)
	if err != nil {
		return err
	}
	defer r.Close()
	// The tar's owners stay, --chown or not (dockerd's UntarPath).
	_, err = archive.Apply(context.Background(), destPath, r, archive.Options{Whiteouts: archive.WhiteoutNone})
	return err
}
