package buildctx

import (
	"archive/tar"
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/moby/go-archive/compression"
	"github.com/moby/patternmatcher"
	"github.com/moby/patternmatcher/ignorefile"
	"golang.org/x/sys/unix"

	"github.com/berth-dev/berth/internal/errdefs"
)

const dockerignore = ".dockerignore"

// kind is what the extractor put at a path.
type kind uint8

const (
	kindDir kind = iota + 1
	kindFile
	kindSymlink
)

type dirAttrs struct {
	mode  os.FileMode
	mtime time.Time
}

// extractor writes a context tar into root. Root is a fresh 0700
// directory nobody else writes to, so seen (every path written, with its
// kind) is the whole truth about the tree: an entry whose parent is not a
// directory written here (a symlink, a file) is refused without asking
// the filesystem, and no path is ever resolved through a symlink.
type extractor struct {
	root       string
	dockerfile string // slash-separated, kept even when .dockerignore lists it
	seen       map[string]kind
	matcher    *patternmatcher.PatternMatcher
	dirs       map[string]dirAttrs // modes and times, set last (deepest first)
	buf        []byte
	// hashes gets each written file's content digest, computed as the
	// file is written: Checksum then reads no file twice, and on a
	// cached rebuild the hashing overlaps the wait for the client's
	// stream instead of following it.
	hashes *hashCache
	// inMem: root is on tmpfs until the files written add up to more
	// than memMax bytes; then spill moves the tree under diskDir.
	inMem    bool
	memMax   int64
	memBytes int64
	diskDir  string
}

func (x *extractor) run(ctx context.Context, r io.Reader) error {
	ds, err := compression.DecompressStream(r)
	if err != nil {
		return errdefs.InvalidArgumentf("extract build context: %w", err)
	}
	defer ds.Close()
	br := bufio.NewReaderSize(ds, 64<<10)
	head, err := br.Peek(512)
	if err != nil && !errors.Is(err, io.EOF) {
		return errdefs.InvalidArgumentf("extract build context: %w", err)
	}
	if len(head) == 0 {
		return nil // an empty body: an empty context
	}
	x.buf = make([]byte, 1<<20)
	if !isTarHeader(head) {
		// dockerd takes a body that is no archive as the Dockerfile.
		return x.plainDockerfile(br)
	}
	tr := tar.NewReader(br)
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return errdefs.InvalidArgumentf("extract build context: %w", err)
		}
		if err := x.entry(hdr, tr); err != nil {
			if errdefs.ClassOf(err) == errdefs.Unknown && errors.Is(err, io.ErrUnexpectedEOF) {
				err = errdefs.With(errdefs.InvalidArgument, err)
			}
			return fmt.Errorf("extract build context: %s: %w", hdr.Name, err)
		}
	}
	return x.finishDirs()
}

// finishDirs gives the directories the tar listed their modes and times,
// children before parents (a child's creation would change its parent's
// mtime, and a read-only parent would refuse it).
func (x *extractor) finishDirs() error {
	rels := make([]string, 0, len(x.dirs))
	for rel := range x.dirs {
		if x.seen[rel] == kindDir {
			rels = append(rels, rel)
		}
	}
	sort.Slice(rels, func(i, j int) bool { return len(rels[i]) > len(rels[j]) })
	for _, rel := range rels {
		d, p := x.dirs[rel], filepath.Join(x.root, rel)
		if err := os.Chmod(p, d.mode); err != nil {
			return fmt.Errorf("extract build context: %w", err)
		}
		if err := setTimes(p, d.mtime); err != nil {
			return fmt.Errorf("extract build context: %w", err)
		}
	}
	return nil
}

// isTarHeader reports whether block is a tar header: its checksum field
// matches (the test GNU tar and dockerd's archive detection rely on), or
// it is the all-zero block of an empty archive.
func isTarHeader(block []byte) bool {
	if len(block) < 512 {
		return false
	}
	block = block[:512]
	if bytes.Count(block, []byte{0}) == 512 {
		return true
	}
	field := strings.TrimRight(strings.TrimLeft(string(block[148:156]), " \x00"), " \x00")
	want, err := strconv.ParseUint(field, 8, 64)
	if err != nil {
		return false
	}
	var unsigned, signed int64
	for i, b := range block {
		if i >= 148 && i < 156 {
			b = ' '
		}
		unsigned += int64(b)
		signed += int64(int8(b))
	}
	return uint64(unsigned) == want || uint64(signed) == want
}

func (x *extractor) plainDockerfile(r io.Reader) error {
	if x.inMem {
		// its size is not known ahead: never in memory
		if err := x.spill(); err != nil {
			return err
		}
	}
	if err := x.mkParents(path.Dir(x.dockerfile)); err != nil {
		return err
	}
	f, err := os.OpenFile(filepath.Join(x.root, x.dockerfile), os.O_WRONLY|os.O_CREATE|os.O_EXCL|syscall.O_NOFOLLOW|syscall.O_CLOEXEC, 0o644)
	if err != nil {
		return fmt.Errorf("extract build context: %w", err)
	}
	_, err = io.CopyBuffer(writerOnly{f}, r, x.buf)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("extract build context: %w", err)
	}
	x.seen[x.dockerfile] = kindFile
	return nil
}

// entryPath is a tar entry's slash-separated path relative to the
// context root ("." for the root itself).
func entryPath(name string) (string, error) {
	if strings.HasPrefix(name, "/") {
		return "", errdefs.InvalidArgumentf("absolute path %q in build context", name)
	}
	rel := path.Clean(name)
	if rel == ".." || strings.HasPrefix(rel, "../") {
		return "", errdefs.InvalidArgumentf("path %q escapes the build context", name)
	}
	return rel, nil
}

// excluded reports whether .dockerignore (as read so far) drops rel from
// the disk. The Dockerfile and .dockerignore stay whatever it says.
func (x *extractor) excluded(rel string) bool {
	if x.matcher == nil || rel == x.dockerfile || rel == dockerignore {
		return false
	}
	m, _ := x.matcher.MatchesOrParentMatches(rel)
	return m
}

func (x *extractor) entry(hdr *tar.Header, r io.Reader) error {
	switch hdr.Typeflag {
	case tar.TypeXGlobalHeader, tar.TypeChar, tar.TypeBlock, tar.TypeFifo:
		return nil // nothing COPY could use; dockerd's unprivileged paths skip them too
	}
	rel, err := entryPath(hdr.Name)
	if err != nil {
		return err
	}
	if rel == "." {
		return nil // the root keeps its 0700
	}
	if x.excluded(rel) {
		return nil
	}
	if err := x.mkParents(path.Dir(rel)); err != nil {
		return err
	}
	p := filepath.Join(x.root, rel)
	if k, ok := x.seen[rel]; ok {
		if k == kindDir && hdr.Typeflag == tar.TypeDir {
			x.dirs[rel] = dirAttrs{hdr.FileInfo().Mode() & modeBits, hdr.ModTime}
			return nil
		}
		if err := os.RemoveAll(p); err != nil {
			return err
		}
		x.forget(rel)
	}

	switch hdr.Typeflag {
	case tar.TypeDir:
		if err := os.Mkdir(p, 0o700); err != nil {
			return err
		}
		x.seen[rel] = kindDir
		x.dirs[rel] = dirAttrs{hdr.FileInfo().Mode() & modeBits, hdr.ModTime}
		return nil
	case tar.TypeReg, tar.TypeRegA: //nolint:staticcheck // old archives use TypeRegA
		if x.inMem {
			// counted in pages, as tmpfs fills
			if x.memBytes += (hdr.Size + 4095) &^ 4095; x.memBytes > x.memMax {
				if err := x.spill(); err != nil {
					return err
				}
				p = filepath.Join(x.root, rel)
			}
		}
		if err := x.writeFile(p, hdr, r); err != nil {
			return err
		}
		x.seen[rel] = kindFile
		if rel == dockerignore {
			return x.readIgnore(p)
		}
		return nil
	case tar.TypeSymlink:
		if err := os.Symlink(hdr.Linkname, p); err != nil {
			return err
		}
		x.seen[rel] = kindSymlink
		return setTimes(p, hdr.ModTime)
	case tar.TypeLink:
		target, err := entryPath(hdr.Linkname)
		if err != nil {
			return err
		}
		if k := x.seen[target]; k != kindFile && k != kindSymlink {
			return errdefs.InvalidArgumentf("hardlink target %q is not a file of the build context", hdr.Linkname)
		}
		if err := os.Link(filepath.Join(x.root, target), p); err != nil {
			return err
		}
		x.seen[rel] = x.seen[target]
		return nil
	}
	return errdefs.InvalidArgumentf("unsupported tar entry type %q", hdr.Typeflag)
}

// modeBits are the mode bits kept from the tar: permissions, setuid,
// setgid, sticky.
const modeBits = os.ModePerm | os.ModeSetuid | os.ModeSetgid | os.ModeSticky

func (x *extractor) writeFile(p string, hdr *tar.Header, r io.Reader) error {
	f, err := os.OpenFile(p, os.O_WRONLY|os.O_CREATE|os.O_EXCL|syscall.O_NOFOLLOW|syscall.O_CLOEXEC, 0o600)
	if err != nil {
		return err
	}
	src := &streamReader{r: r}
	var w io.Writer = f
	var h hash.Hash
	if x.hashes != nil {
		h = sha256.New()
		w = io.MultiWriter(f, h)
	}
	_, err = io.CopyBuffer(writerOnly{w}, src, x.buf)
	if err != nil && src.err != nil {
		// A bad stream (corrupt compression, cut short) is the client's.
		err = errdefs.With(errdefs.InvalidArgument, err)
	}
	if err == nil {
		err = f.Chmod(hdr.FileInfo().Mode() & modeBits)
	}
	if v, ok := hdr.PAXRecords["SCHILY.xattr."+capabilityXattr]; ok && err == nil {
		err = setCapability(f, []byte(v))
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	if err := setTimes(p, hdr.ModTime); err != nil {
		return err
	}
	if h != nil {
		// keyed by what Checksum will see: the file as left (a later
		// hardlink to it or rewrite changes its ctime: a miss, rehashed)
		fi, err := os.Lstat(p)
		if err != nil {
			return err
		}
		if key, ok := cacheKey(p, fi); ok {
			x.hashes.put(key, hex.EncodeToString(h.Sum(nil)))
		}
	}
	return nil
}

// mkParents makes sure dir (slash-separated, relative) is a directory this
// extraction made, creating missing ones 0755.
func (x *extractor) mkParents(dir string) error {
	if dir == "." {
		return nil
	}
	switch x.seen[dir] {
	case kindDir:
		return nil
	case 0:
	default:
		return errdefs.InvalidArgumentf("path %q is not a directory of the build context (a symlink or a file)", dir)
	}
	if err := x.mkParents(path.Dir(dir)); err != nil {
		return err
	}
	if err := os.Mkdir(filepath.Join(x.root, dir), 0o755); err != nil {
		return err
	}
	x.seen[dir] = kindDir
	return nil
}

// forget drops rel and everything under it from seen (it was removed).
func (x *extractor) forget(rel string) {
	delete(x.seen, rel)
	prefix := rel + "/"
	for k := range x.seen {
		if strings.HasPrefix(k, prefix) {
			delete(x.seen, k)
		}
	}
}

// readIgnore compiles .dockerignore and removes what was already written
// that it excludes (the file need not come first in the tar).
func (x *extractor) readIgnore(p string) error {
	f, err := os.Open(p)
	if err != nil {
		return err
	}
	patterns, err := ignorefile.ReadAll(f)
	f.Close()
	if err != nil {
		return errdefs.InvalidArgumentf("error reading .dockerignore: %w", err)
	}
	pm, err := patternmatcher.New(patterns)
	if err != nil {
		return errdefs.InvalidArgumentf("error reading .dockerignore: %w", err)
	}
	x.matcher = pm
	// Deepest first, so that with "!" exceptions an excluded directory
	// that still holds kept files stays (as their parent).
	rels := make([]string, 0, len(x.seen))
	for rel := range x.seen {
		rels = append(rels, rel)
	}
	sort.Slice(rels, func(i, j int) bool { return len(rels[i]) > len(rels[j]) })
	for _, rel := range rels {
		k, ok := x.seen[rel]
		if !ok || !x.excluded(rel) || strings.HasPrefix(x.dockerfile, rel+"/") {
			continue
		}
		p := filepath.Join(x.root, rel)
		if k == kindDir && pm.Exclusions() {
			if err := os.Remove(p); err != nil && !errors.Is(err, syscall.ENOTEMPTY) && !errors.Is(err, syscall.EEXIST) {
				return err
			} else if err != nil {
				continue
			}
		} else if err := os.RemoveAll(p); err != nil {
			return err
		}
		x.forget(rel)
	}
	return nil
}

// streamReader remembers a read error, to tell the stream's failures
// from the disk's.
type streamReader struct {
	r   io.Reader
	err error
}

func (s *streamReader) Read(p []byte) (int, error) {
	n, err := s.r.Read(p)
	if err != nil && err != io.EOF {
		s.err = err
	}
	return n, err
}

// writerOnly hides *os.File's ReadFrom, whose fallback copies through a
// small buffer of its own; extraction reuses one large buffer instead.
type writerOnly struct{ io.Writer }

func setTimes(p string, mtime time.Time) error {
	ts := unix.NsecToTimespec(mtime.UnixNano())
	if mtime.IsZero() {
		ts = unix.Timespec{Sec: 0}
	}
	if err := unix.UtimesNanoAt(unix.AT_FDCWD, p, []unix.Timespec{ts, ts}, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return &os.PathError{Op: "utimensat", Path: p, Err: err}
	}
	return nil
}

// capabilityXattr is the one extended attribute a build carries, as
// dockerd's tar copies do: file capabilities (ping, ...).
const capabilityXattr = "security.capability"

// setCapability sets file capabilities on f (after its chown: chown
// clears them). A filesystem without xattrs, or a caller without the
// right, only loses them.
func setCapability(f *os.File, v []byte) error {
	err := unix.Fsetxattr(int(f.Fd()), capabilityXattr, v, 0)
	if err == nil || errors.Is(err, unix.ENOTSUP) || errors.Is(err, unix.EPERM) || errors.Is(err, unix.EINVAL) {
		return nil
	}
	return &os.PathError{Op: "setxattr " + capabilityXattr, Path: f.Name(), Err: err}
}
