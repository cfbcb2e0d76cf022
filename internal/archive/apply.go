package archive

import (
	"archive/tar"
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"hash"
	"io"
	"os"
	"path"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	securejoin "github.com/cyphar/filepath-securejoin"
	"github.com/opencontainers/go-digest"
	"golang.org/x/sys/unix"

	"github.com/berth-dev/berth/internal/errdefs"
)

// WhiteoutFormat says how whiteout entries are written.
type WhiteoutFormat int

const (
	// WhiteoutDelete removes whited-out paths from the tree being written.
	WhiteoutDelete WhiteoutFormat = iota
	// WhiteoutOverlay writes overlayfs's native whiteouts and opaque markers.
	WhiteoutOverlay
	// WhiteoutNone treats ".wh." names as ordinary files (docker cp: the
	// tar is a user's files, not a layer).
	WhiteoutNone
)

// Whiteout vocabulary of the OCI image spec.
const (
	WhiteoutPrefix = ".wh."
	WhiteoutOpaque = ".wh..wh..opq"
)

// Options tune Apply.
type Options struct {
	Whiteouts WhiteoutFormat
	// Owner, if set, owns every entry instead of the tar's uid/gid
	// (docker cp without -a: files belong to the container's root).
	Owner *Owner
	// NoOverwriteDirNonDir refuses to replace a directory with a
	// non-directory or the reverse (docker cp's safety default).
	NoOverwriteDirNonDir bool
	// Split, if set, records the stream for WriteSplit.
	Split *Split
	// Durable says the caller syncs the tree after Apply (a registered
	// layer): large files then start their writeback while they are
	// still streaming in, so that the final sync has little left to do.
	Durable bool
}

// Owner is a uid/gid pair.
type Owner struct{ UID, GID int }

// Result describes an applied layer.
type Result struct {
	DiffID digest.Digest // sha256 of the uncompressed tar stream
	Size   int64         // bytes of regular file content written
}

// Apply reads a layer tar (plain or gzip) from r and writes it under root.
// See the package doc for the rules.
func Apply(ctx context.Context, root string, r io.Reader, opts Options) (Result, error) {
	root, err := filepath.Abs(root)
	if err != nil {
		return Result{}, err
	}
	br := bufio.NewReaderSize(r, 64<<10)
	var stream io.Reader = br
	magic, err := br.Peek(4)
	if err != nil && !errors.Is(err, io.EOF) {
		return Result{}, fmt.Errorf("apply layer: read: %w", err)
	}
	switch {
	case bytes.HasPrefix(magic, []byte{0x1f, 0x8b}):
		gz, err := gzip.NewReader(br)
		if err != nil {
			return Result{}, errdefs.InvalidArgumentf("apply layer: gzip: %w", err)
		}
		defer gz.Close()
		stream = gz
	case bytes.Equal(magic, []byte{0x28, 0xb5, 0x2f, 0xfd}):
		return Result{}, errdefs.InvalidArgumentf("apply layer: zstd-compressed layers are not supported")
	case bytes.HasPrefix(magic, []byte("BZh")), bytes.HasPrefix(magic, []byte{0xfd, '7', 'z', 'X'}):
		return Result{}, errdefs.InvalidArgumentf("apply layer: bzip2/xz-compressed layers are not supported")
	}
	stream = opts.Split.wrap(stream)
	h := sha256.New()
	a := &applier{
		root:     root,
		opts:     opts,
		unpacked: map[string]bool{},
		isRoot:   os.Geteuid() == 0,
	}
	cr := &countingReader{r: io.TeeReader(stream, h)}
	if err := a.run(ctx, cr); err != nil {
		return Result{}, err
	}
	// archive/tar reports a stream cut inside a file's padding as a clean
	// end; a whole archive always ends on a block boundary.
	if cr.n%blockSize != 0 {
		return Result{}, badArchive(io.ErrUnexpectedEOF)
	}
	// The diff ID covers the whole stream, trailing padding included.
	if _, err := io.Copy(io.Discard, io.TeeReader(stream, h)); err != nil {
		return Result{}, badArchive(err)
	}
	return Result{DiffID: digestOf(h), Size: a.size}, nil
}

const blockSize = 512

// writebackChunk is how much of a large file is written before its
// writeback is started (Options.Durable).
const writebackChunk = 8 << 20

// copyFile writes a regular file's content through one reused buffer;
// with Options.Durable, every writebackChunk written starts that range's
// writeback (sync_file_range WRITE: asynchronous, no metadata, no wait).
func (a *applier) copyFile(f *os.File, r io.Reader, size int64) (int64, error) {
	if size < 64<<10 {
		return io.Copy(f, r)
	}
	if a.buf == nil {
		a.buf = make([]byte, 1<<20)
	}
	var n, started int64
	for {
		m, rerr := r.Read(a.buf)
		if m > 0 {
			w, err := f.Write(a.buf[:m])
			n += int64(w)
			if err != nil {
				return n, err
			}
			if a.opts.Durable && n-started >= writebackChunk {
				// Best effort: the caller's sync is what makes it durable.
				_ = unix.SyncFileRange(int(f.Fd()), started, n-started, unix.SYNC_FILE_RANGE_WRITE)
				started = n
			}
		}
		if rerr == io.EOF {
			return n, nil
		}
		if rerr != nil {
			return n, rerr
		}
	}
}

type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

func digestOf(h hash.Hash) digest.Digest {
	return digest.NewDigestFromBytes(digest.SHA256, h.Sum(nil))
}

func badArchive(err error) error {
	if errors.Is(err, io.ErrUnexpectedEOF) {
		return errdefs.InvalidArgumentf("apply layer: truncated archive: %w", err)
	}
	return errdefs.InvalidArgumentf("apply layer: %w", err)
}

type applier struct {
	root     string
	opts     Options
	unpacked map[string]bool // rel paths this layer wrote (opaque dirs keep them)
	dirs     []*tar.Header   // directory times are set last
	dirPaths []string
	size     int64
	isRoot   bool
	buf      []byte // copyFile's
}

func (a *applier) run(ctx context.Context, r io.Reader) error {
	tr := tar.NewReader(r)
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return badArchive(err)
		}
		if err := a.entry(hdr, tr); err != nil {
			return fmt.Errorf("apply layer: %s: %w", hdr.Name, err)
		}
	}
	for i := len(a.dirs) - 1; i >= 0; i-- {
		if err := setTimes(a.dirPaths[i], a.dirs[i]); err != nil {
			return fmt.Errorf("apply layer: %s: %w", a.dirs[i].Name, err)
		}
	}
	return nil
}

// resolve returns rel's host path: its parent resolved inside the root
// (and created if missing), its last component never followed.
func (a *applier) resolve(rel string) (string, error) {
	dir := path.Dir(rel)
	parent, err := securejoin.SecureJoin(a.root, dir)
	if err != nil {
		return "", resolveErr(err)
	}
	if dir != "." {
		if err := a.mkdirAll(parent); err != nil {
			return "", resolveErr(err)
		}
	}
	return filepath.Join(parent, path.Base(rel)), nil
}

func resolveErr(err error) error {
	if errors.Is(err, syscall.ELOOP) || errors.Is(err, syscall.ENOTDIR) {
		return errdefs.InvalidArgumentf("resolve path in layer: %w", err)
	}
	return err
}

// mkdirAll creates the missing directories of an already resolved path
// (which has no symlink components) with mode 0755, as dockerd does for
// parents a layer does not list.
func (a *applier) mkdirAll(p string) error {
	fi, err := os.Lstat(p)
	if err == nil {
		if !fi.IsDir() {
			return &os.PathError{Op: "mkdir", Path: p, Err: syscall.ENOTDIR}
		}
		return nil
	}
	if !os.IsNotExist(err) {
		return err
	}
	if err := a.mkdirAll(filepath.Dir(p)); err != nil {
		return err
	}
	if err := os.Mkdir(p, 0o755); err != nil && !os.IsExist(err) {
		return err
	}
	return nil
}

func (a *applier) entry(hdr *tar.Header, r io.Reader) error {
	if hdr.Typeflag == tar.TypeXGlobalHeader {
		return nil
	}
	rel, err := CleanPath(hdr.Name)
	if err != nil {
		return err
	}
	if rel == "" {
		return nil // the root keeps the mode it was created with
	}
	base := path.Base(rel)
	if strings.HasPrefix(base, WhiteoutPrefix) && a.opts.Whiteouts != WhiteoutNone {
		return a.whiteout(rel, base, hdr)
	}
	p, err := a.resolve(rel)
	if err != nil {
		return err
	}

	// Replace whatever is there, unless a directory meets a directory.
	if fi, err := os.Lstat(p); err == nil {
		if a.opts.NoOverwriteDirNonDir && fi.IsDir() != (hdr.Typeflag == tar.TypeDir) {
			if fi.IsDir() {
				return errdefs.InvalidArgumentf("cannot overwrite directory %q with non-directory %q", "/"+rel, hdr.Name)
			}
			return errdefs.InvalidArgumentf("cannot overwrite non-directory %q with directory %q", "/"+rel, hdr.Name)
		}
		if !(fi.IsDir() && hdr.Typeflag == tar.TypeDir) {
			if err := os.RemoveAll(p); err != nil {
				return err
			}
		}
	} else if !os.IsNotExist(err) {
		return err
	}

	switch hdr.Typeflag {
	case tar.TypeDir:
		if err := os.Mkdir(p, 0o700); err != nil && !os.IsExist(err) {
			return err
		}
	case tar.TypeReg, tar.TypeRegA: //nolint:staticcheck // old archives use TypeRegA
		f, err := os.OpenFile(p, os.O_CREATE|os.O_EXCL|os.O_WRONLY|syscall.O_NOFOLLOW, 0o600)
		if err != nil {
			return err
		}
		a.opts.Split.content(rel, hdr.Size)
		n, err := a.copyFile(f, r, hdr.Size)
		a.opts.Split.contentDone()
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			if errors.Is(err, io.ErrUnexpectedEOF) {
				return badArchive(err)
			}
			return err
		}
		a.size += n
	case tar.TypeSymlink:
		if err := os.Symlink(hdr.Linkname, p); err != nil {
			return err
		}
	case tar.TypeLink:
		target, err := a.linkTarget(hdr.Linkname)
		if err != nil {
			return err
		}
		if err := os.Link(target, p); err != nil {
			return err
		}
		a.unpacked[rel] = true
		return nil // a hardlink shares its target's inode and attributes
	case tar.TypeChar, tar.TypeBlock, tar.TypeFifo:
		mode := uint32(hdr.Mode & 0o7777)
		switch hdr.Typeflag {
		case tar.TypeChar:
			mode |= unix.S_IFCHR
		case tar.TypeBlock:
			mode |= unix.S_IFBLK
		default:
			mode |= unix.S_IFIFO
		}
		dev := unix.Mkdev(uint32(hdr.Devmajor), uint32(hdr.Devminor))
		if err := unix.Mknod(p, mode, int(dev)); err != nil {
			return &os.PathError{Op: "mknod", Path: p, Err: err}
		}
	default:
		return errdefs.InvalidArgumentf("unsupported tar entry type %q", hdr.Typeflag)
	}
	a.unpacked[rel] = true
	if err := a.attrs(p, hdr); err != nil {
		return err
	}
	if hdr.Typeflag == tar.TypeDir {
		a.dirs = append(a.dirs, hdr)
		a.dirPaths = append(a.dirPaths, p)
	} else if err := setTimes(p, hdr); err != nil {
		return err
	}
	return nil
}

// linkTarget resolves a hardlink's target inside the root without following
// its last component (link(2) links a symlink itself).
func (a *applier) linkTarget(name string) (string, error) {
	rel, err := CleanPath(name)
	if err != nil {
		return "", err
	}
	if rel == "" {
		return "", errdefs.InvalidArgumentf("hardlink to the layer root")
	}
	parent, err := securejoin.SecureJoin(a.root, path.Dir(rel))
	if err != nil {
		return "", resolveErr(err)
	}
	target := filepath.Join(parent, path.Base(rel))
	fi, err := os.Lstat(target)
	if err != nil {
		if os.IsNotExist(err) {
			return "", errdefs.InvalidArgumentf("hardlink target %q does not exist in the layer", name)
		}
		return "", err
	}
	if fi.IsDir() {
		return "", errdefs.InvalidArgumentf("hardlink target %q is a directory", name)
	}
	return target, nil
}

func (a *applier) whiteout(rel, base string, hdr *tar.Header) error {
	dirRel := path.Dir(rel)
	if dirRel == "." {
		dirRel = ""
	}
	dir, err := securejoin.SecureJoin(a.root, dirRel)
	if err != nil {
		return resolveErr(err)
	}
	if base == WhiteoutOpaque {
		if err := a.mkdirAll(dir); err != nil {
			return resolveErr(err)
		}
		if a.opts.Whiteouts == WhiteoutOverlay {
			if err := unix.Lsetxattr(dir, "trusted.overlay.opaque", []byte("y"), 0); err != nil {
				return &os.PathError{Op: "setxattr trusted.overlay.opaque", Path: dir, Err: err}
			}
			return nil
		}
		ents, err := os.ReadDir(dir)
		if err != nil {
			return err
		}
		for _, e := range ents {
			if a.unpacked[path.Join(dirRel, e.Name())] {
				continue
			}
			if err := os.RemoveAll(filepath.Join(dir, e.Name())); err != nil {
				return err
			}
		}
		return nil
	}
	name := strings.TrimPrefix(base, WhiteoutPrefix)
	if name == "" || name == "." || name == ".." {
		return errdefs.InvalidArgumentf("invalid whiteout %q", rel)
	}
	p := filepath.Join(dir, name)
	if a.opts.Whiteouts == WhiteoutOverlay {
		if err := a.mkdirAll(dir); err != nil {
			return resolveErr(err)
		}
		if err := os.RemoveAll(p); err != nil {
			return err
		}
		if err := unix.Mknod(p, unix.S_IFCHR, 0); err != nil {
			return &os.PathError{Op: "mknod whiteout", Path: p, Err: err}
		}
		// The entry's time, so that WriteTar gives back the same tar.
		return setTimes(p, hdr)
	}
	if err := os.RemoveAll(p); err != nil && !os.IsNotExist(err) {
		return err
	}
	return nil
}

func (a *applier) attrs(p string, hdr *tar.Header) error {
	uid, gid := hdr.Uid, hdr.Gid
	if a.opts.Owner != nil {
		uid, gid = a.opts.Owner.UID, a.opts.Owner.GID
	}
	if err := os.Lchown(p, uid, gid); err != nil {
		// Unprivileged (tests, rootless): keep our own ownership.
		if a.isRoot || !errors.Is(err, syscall.EPERM) {
			return err
		}
	}
	for k, v := range hdr.PAXRecords {
		attr, ok := strings.CutPrefix(k, "SCHILY.xattr.")
		if !ok {
			continue
		}
		// overlayfs's own vocabulary is written by us, never by a layer.
		if strings.HasPrefix(attr, "trusted.overlay.") {
			continue
		}
		if err := unix.Lsetxattr(p, attr, []byte(v), 0); err != nil {
			if errors.Is(err, unix.ENOTSUP) || errors.Is(err, unix.EPERM) {
				continue
			}
			return &os.PathError{Op: "lsetxattr " + attr, Path: p, Err: err}
		}
	}
	if hdr.Typeflag != tar.TypeSymlink {
		// After chown, which clears setuid/setgid.
		if err := unix.Chmod(p, uint32(hdr.Mode&0o7777)); err != nil {
			return &os.PathError{Op: "chmod", Path: p, Err: err}
		}
	}
	return nil
}

func setTimes(p string, hdr *tar.Header) error {
	atime := hdr.AccessTime
	if atime.IsZero() {
		atime = hdr.ModTime
	}
	ts := []unix.Timespec{timespec(atime), timespec(hdr.ModTime)}
	if err := unix.UtimesNanoAt(unix.AT_FDCWD, p, ts, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return &os.PathError{Op: "utimensat", Path: p, Err: err}
	}
	return nil
}

func timespec(t time.Time) unix.Timespec {
	if t.IsZero() || t.Unix() < 0 {
		return unix.Timespec{Sec: 0, Nsec: 0}
	}
	return unix.NsecToTimespec(t.UnixNano())
}
