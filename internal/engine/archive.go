package engine

import (
	"context"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	securejoin "github.com/cyphar/filepath-securejoin"
	pathrs "github.com/cyphar/filepath-securejoin/pathrs-lite"
	ctypes "github.com/moby/moby/api/types/container"
	eventtypes "github.com/moby/moby/api/types/events"

	"github.com/berth-dev/berth/internal/apiserver/router/containers"
	"github.com/berth-dev/berth/internal/archive"
	"github.com/berth-dev/berth/internal/container"
	"github.com/berth-dev/berth/internal/errdefs"
	"github.com/berth-dev/berth/internal/userns"
)

// containerPath is a path the client named inside a container, resolved
// on the host. Every resolution goes through securejoin in the rootfs's
// scope: a symlink in the container ("/x -> /etc") means <rootfs>/etc,
// never the host's /etc (the docker cp CVE class).
type containerPath struct {
	abs      string // "/"-rooted in the container, trailing "/" or "/." kept
	resolved string // host path: the parent resolved, the base not followed
}

func resolveContainerPath(rootfs, p string) (containerPath, error) {
	abs := filepath.Join("/", p)
	if (strings.HasSuffix(p, "/") || strings.HasSuffix(p, "/.")) && abs != "/" {
		// docker's PreserveTrailingDotOrSeparator
		if strings.HasSuffix(p, "/.") {
			abs += "/."
		} else {
			abs += "/"
		}
	}
	dir, base := filepath.Split(abs)
	rdir, err := securejoin.SecureJoin(rootfs, dir)
	if err != nil {
		return containerPath{}, err
	}
	return containerPath{abs: abs, resolved: filepath.Join(rdir, base)}, nil
}

func fileNotFound(p string, c *container.Container) error {
	return errdefs.NotFoundf("Could not find the file %s in container %s", p, strings.TrimPrefix(c.Name, "/"))
}

// lstatInRoot stats the container path without following its last
// component, unless it ends in a separator. The parent is resolved and
// pinned by openat2(RESOLVE_IN_ROOT) (pathrs-lite), and the stat goes
// through that handle: a stat is not frozen like a copy, and a resolved
// path string would let the container swap a component for a symlink out
// of the rootfs before the stat (leaking a host file's size, mode and
// times).
func lstatInRoot(rootfs string, cp containerPath) (fs.FileInfo, error) {
	whole := cp.abs == "/" || strings.HasSuffix(cp.abs, "/") || strings.HasSuffix(cp.abs, "/.")
	dir, base := filepath.Split(cp.abs)
	if whole {
		dir, base = cp.abs, ""
	}
	h, err := pathrs.OpenInRoot(rootfs, dir)
	if err != nil {
		return nil, err
	}
	defer h.Close()
	if base == "" {
		return h.Stat()
	}
	return os.Lstat("/proc/self/fd/" + strconv.Itoa(int(h.Fd())) + "/" + base)
}

func statIn(rootfs string, c *container.Container, cp containerPath, p string) (ctypes.PathStat, error) {
	fi, err := lstatInRoot(rootfs, cp)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) || errors.Is(err, fs.ErrInvalid) {
			return ctypes.PathStat{}, fileNotFound(p, c)
		}
		return ctypes.PathStat{}, err
	}
	st := ctypes.PathStat{Name: filepath.Base(cp.abs), Size: fi.Size(), Mode: fi.Mode(), Mtime: fi.ModTime()}
	if cp.abs == "/" {
		st.Name = "/"
	}
	if fi.Mode()&fs.ModeSymlink != 0 {
		host, err := securejoin.SecureJoin(rootfs, cp.abs)
		if err != nil {
			return ctypes.PathStat{}, err
		}
		rel, err := filepath.Rel(rootfs, host)
		if err != nil {
			return ctypes.PathStat{}, err
		}
		st.LinkTarget = filepath.Join("/", rel)
	}
	return st, nil
}

// StatPath stats a path in the container (docker cp's HEAD).
func (e *Engine) StatPath(ctx context.Context, ref, p string) (st ctypes.PathStat, err error) {
	err = e.withContainerFS(ctx, ref, false, func(c *container.Container, v *containerFS) error {
		return v.do(func() error {
			cp, err := resolveContainerPath(v.rootfs, p)
			if err != nil {
				return err
			}
			st, err = statIn(v.rootfs, c, cp, p)
			return err
		})
	})
	return st, err
}

// ArchivePath writes a path of the container as a tar (docker cp out).
func (e *Engine) ArchivePath(ctx context.Context, ref, p string, stat func(ctypes.PathStat), w io.Writer) error {
	return e.withContainerFS(ctx, ref, true, func(c *container.Container, v *containerFS) error {
		rootfs := v.rootfs
		var src string
		var st ctypes.PathStat
		if err := v.do(func() error {
			cp, err := resolveContainerPath(rootfs, p)
			if err != nil {
				return err
			}
			if st, err = statIn(rootfs, c, cp, p); err != nil {
				return err
			}
			src = cp.resolved
			if st.Mode.IsDir() {
				// A directory named through a symlink or a trailing "/"
				// is read where it resolves, in scope.
				src, err = securejoin.SecureJoin(rootfs, cp.abs)
			}
			return err
		}); err != nil {
			return err
		}
		stat(st)
		abs := filepath.Join("/", p)
		name := filepath.Base(abs)
		if strings.HasSuffix(p, "/.") || abs == "/" {
			name = "."
		}
		write := func(w io.Writer) error {
			return v.do(func() error { return archive.WriteTarRebased(ctx, w, rootfs, src, name) })
		}
		if m := e.remapIDs(ctx, c); !m.Empty() {
			// Files show the host IDs of a remapped container's root
			// here; the tar says what the container sees.
			inner := write
			write = func(w io.Writer) error { return userns.WriteTarToContainer(w, m, inner) }
		}
		if err := write(w); err != nil {
			return err
		}
		e.logEvent(c, eventtypes.ActionArchivePath, map[string]string{"path": p})
		return nil
	})
}

// ExtractToDir unpacks a tar into a directory of the container (docker
// cp in). Entries are resolved inside that directory, so neither "../"
// names nor symlinks (in the tar or in the container) can write outside
// the container's root. A directory under a read-only mount is refused
// as dockerd refuses it; one under a writable mount is accepted even in
// a --read-only container.
func (e *Engine) ExtractToDir(ctx context.Context, ref, p string, opts containers.ExtractOptions, r io.Reader) error {
	return e.withContainerFS(ctx, ref, true, func(c *container.Container, v *containerFS) error {
		ao := archive.Options{Whiteouts: archive.WhiteoutNone, NoOverwriteDirNonDir: opts.NoOverwriteDirNonDir}
		m := e.remapIDs(ctx, c)
		if !opts.CopyUIDGID {
			ao.Owner = &archive.Owner{}
			if !m.Empty() {
				ao.Owner.UID, ao.Owner.GID = m.Root() // the container's root
			}
		} else if !m.Empty() {
			// -a: the tar's IDs are the container's; on disk they are
			// its host IDs.
			rc := userns.TarToHost(r, m)
			defer rc.Close()
			r = rc
		}
		if err := v.do(func() error {
			dir, err := securejoin.SecureJoin(v.rootfs, filepath.Join("/", p))
			if err != nil {
				return err
			}
			fi, err := os.Stat(dir)
			if err != nil {
				if errors.Is(err, fs.ErrNotExist) {
					return fileNotFound(p, c)
				}
				return err
			}
			if !fi.IsDir() {
				return errdefs.InvalidArgumentf("extraction point is not a directory")
			}
			if err := checkWritable(c, v.rootfs, dir); err != nil {
				return err
			}
			_, err = archive.Apply(ctx, dir, r, ao)
			return err
		}); err != nil {
			return err
		}
		e.logEvent(c, eventtypes.ActionExtractToDir, map[string]string{"path": p})
		return nil
	})
}

// checkWritable is dockerd's checkWritablePath for dir, a host path in
// rootfs: the mount holding it decides, else the rootfs.
func checkWritable(c *container.Container, rootfs, dir string) error {
	rel, err := filepath.Rel(rootfs, dir)
	if err != nil {
		return err
	}
	if mp, ok := mountPointOf(c, filepath.Join("/", rel)); ok {
		if !mp.RW {
			return errdefs.Forbiddenf("mounted volume is marked read-only")
		}
		return nil
	}
	if c.HostConfig != nil && c.HostConfig.ReadonlyRootfs {
		return errdefs.Forbiddenf("container rootfs is marked read-only")
	}
	return nil
}
