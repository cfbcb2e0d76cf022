package engine

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"

	securejoin "github.com/cyphar/filepath-securejoin"
	pathrs "github.com/cyphar/filepath-securejoin/pathrs-lite"
	"github.com/moby/moby/api/types/mount"
	"golang.org/x/sys/unix"

	"github.com/berth-dev/berth/internal/container"
	"github.com/berth-dev/berth/internal/errdefs"
	"github.com/berth-dev/berth/internal/volume"
)

// viewMount is a mount of a container's filesystem view: source (a host
// path, or sub resolved inside it) bound at dest inside the rootfs.
type viewMount struct {
	dest         string // clean, absolute in the container
	source       string
	sub          string      // a volume's subpath, resolved in source's scope
	volume       string      // the volume to mount for the call, if any
	user         volume.User // its mount event's container and mount
	ro           bool
	nonRecursive bool
}

// viewMounts lists what dockerd's setupMounts binds into the view it
// copies in: the container's volumes and binds (--volumes-from ones
// too) and the generated hosts, hostname and resolv.conf unless a mount
// replaces them; tmpfs mounts are left out (a copy under one reads and
// writes the layer beneath it, which the container does not see),
// parents before children.
func viewMounts(c *container.Container) []viewMount {
	var out []viewMount
	have := map[string]bool{}
	for _, mp := range c.Mounts {
		dest := filepath.Clean(mp.Destination)
		have[dest] = true
		switch mp.Type {
		case mount.TypeVolume:
			out = append(out, viewMount{dest: dest, source: mp.Source, sub: mp.Subpath, volume: mp.Name, user: mountUser(c.ID, mp), ro: !mp.RW})
		case mount.TypeBind:
			out = append(out, viewMount{dest: dest, source: mp.Source, ro: !mp.RW, nonRecursive: mp.NonRecursive})
		}
	}
	ro := c.HostConfig != nil && c.HostConfig.ReadonlyRootfs
	for _, f := range []struct{ dest, src string }{
		{"/etc/resolv.conf", c.ResolvConfPath}, {"/etc/hostname", c.HostnamePath}, {"/etc/hosts", c.HostsPath},
	} {
		if f.src == "" || have[f.dest] {
			continue
		}
		if fi, err := os.Lstat(f.src); err != nil || !fi.Mode().IsRegular() {
			continue // never started: the image's file is the container's
		}
		out = append(out, viewMount{dest: f.dest, source: f.src, ro: ro})
	}
	slices.SortStableFunc(out, func(a, b viewMount) int {
		return strings.Count(a.dest, "/") - strings.Count(b.dest, "/")
	})
	return out
}

// mountPointOf returns the container's mount point that holds the
// container path p (the deepest), if any: dockerd's HasResource over its
// MountPoints, which have no --tmpfs entry (--mount type=tmpfs is one).
func mountPointOf(c *container.Container, p string) (container.MountPoint, bool) {
	var best container.MountPoint
	found := false
	for _, mp := range c.Mounts {
		dest := filepath.Clean(mp.Destination)
		if p != dest && !strings.HasPrefix(p, strings.TrimSuffix(dest, "/")+"/") || mp.Type == mount.TypeTmpfs && isTmpfsFlag(c, dest) {
			continue
		}
		if !found || len(dest) > len(filepath.Clean(best.Destination)) {
			best, found = mp, true
		}
	}
	return best, found
}

func isTmpfsFlag(c *container.Container, dest string) bool {
	if c.HostConfig == nil {
		return false
	}
	for d := range c.HostConfig.Tmpfs {
		if filepath.Clean(d) == dest {
			return true
		}
	}
	return false
}

// containerFS is a container's rootfs as docker cp sees it: its volumes
// and binds mounted at their destinations. Those mounts exist only in a
// private mount namespace owned by one locked thread, which every file
// access of the copy runs on (do); closing the view ends the thread and
// the namespace with it, so nothing is ever mounted on the host and
// nothing is left to unmount. A container without such mounts gets no
// thread: do runs on the caller.
type containerFS struct {
	rootfs string
	todo   chan func()
}

// openContainerFS mounts ms (their sources mounted already) over rootfs
// in a new private mount namespace.
func openContainerFS(rootfs string, ms []viewMount) (*containerFS, error) {
	v := &containerFS{rootfs: rootfs}
	if len(ms) == 0 {
		return v, nil
	}
	v.todo = make(chan func())
	ready := make(chan error, 1)
	go func() {
		// Never unlocked: the thread, and the mount namespace only it
		// is in, end with this goroutine (Go starts new threads from a
		// clean template thread, so none inherits the namespace).
		runtime.LockOSThread()
		if err := mountView(rootfs, ms); err != nil {
			ready <- err
			return
		}
		ready <- nil
		for f := range v.todo {
			f()
		}
	}()
	if err := <-ready; err != nil {
		return nil, err
	}
	return v, nil
}

// do runs f where the view's mounts are seen. Goroutines f starts see
// the host's mounts (the bare rootfs): f does its file work itself.
func (v *containerFS) do(f func() error) error {
	if v.todo == nil {
		return f()
	}
	errc := make(chan error, 1)
	v.todo <- func() { errc <- f() }
	return <-errc
}

// close ends the view's thread. The kernel drops its namespace, and the
// copies of mounts in it, as the thread exits: not waited for (the RCU
// grace period of that teardown was ~1 ms, most of a stat). An unmount
// or removal on the host meanwhile is unaffected: a mount in another
// namespace neither blocks the host's umount nor makes rmdir of its
// mount point busy.
func (v *containerFS) close() {
	if v.todo != nil {
		close(v.todo)
	}
}

// mountView unshares the calling (locked) thread's mount namespace and
// binds each source at its destination. Nothing propagates out: the
// namespace's mounts are made slaves first and each bound tree private.
// Every path is pinned by a file descriptor: the destination is resolved
// inside the rootfs (and the mounts already bound there: a nested
// destination lands in its parent volume) by openat2(RESOLVE_IN_ROOT),
// a volume's subpath inside the volume; the bind is then open_tree +
// move_mount between the descriptors, so a component swapped for a
// symlink after the resolution cannot redirect it.
func mountView(rootfs string, ms []viewMount) error {
	if err := unix.Unshare(unix.CLONE_NEWNS | unix.CLONE_FS); err != nil {
		return fmt.Errorf("unshare mount namespace: %w", err)
	}
	if err := unix.Mount("", "/", "", unix.MS_SLAVE|unix.MS_REC, ""); err != nil {
		return fmt.Errorf("make mounts slaves: %w", err)
	}
	root, err := os.OpenFile(rootfs, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return err
	}
	defer root.Close()
	for _, m := range ms {
		if err := bindInRoot(root, m); err != nil {
			return fmt.Errorf("mount %s at %s for copy: %w", m.source, m.dest, err)
		}
	}
	return nil
}

func bindInRoot(root *os.File, m viewMount) error {
	src, err := os.OpenFile(m.source, unix.O_PATH|unix.O_CLOEXEC, 0)
	if errors.Is(err, fs.ErrNotExist) && m.volume == "" {
		return nil // a bind source removed since: the layer's path is read
	}
	if err != nil {
		return err
	}
	defer src.Close()
	if m.sub != "" {
		sub, err := pathrs.OpenatInRoot(src, m.sub)
		if err != nil {
			return fmt.Errorf("subpath %s: %w", m.sub, err)
		}
		defer sub.Close()
		src = sub
	}
	var st unix.Stat_t
	if err := unix.Fstat(int(src.Fd()), &st); err != nil {
		return err
	}
	dst, err := mountTarget(root, m.dest, st.Mode&unix.S_IFMT == unix.S_IFDIR)
	if err != nil {
		return err
	}
	defer dst.Close()
	flags := uint(unix.OPEN_TREE_CLONE | unix.OPEN_TREE_CLOEXEC | unix.AT_EMPTY_PATH)
	if !m.nonRecursive {
		flags |= unix.AT_RECURSIVE
	}
	tree, err := unix.OpenTree(int(src.Fd()), "", flags)
	if err != nil {
		return fmt.Errorf("open_tree: %w", err)
	}
	defer unix.Close(tree)
	// Private before anything is bound under it: a clone of a shared
	// mount is the host mount's peer, and a nested mount bound below it
	// would appear on the host.
	attr := unix.MountAttr{Propagation: unix.MS_PRIVATE}
	if m.ro {
		attr.Attr_set = unix.MOUNT_ATTR_RDONLY
	}
	if err := unix.MountSetattr(tree, "", unix.AT_EMPTY_PATH|unix.AT_RECURSIVE, &attr); err != nil {
		return fmt.Errorf("mount_setattr: %w", err)
	}
	if err := unix.MoveMount(tree, "", int(dst.Fd()), "", unix.MOVE_MOUNT_F_EMPTY_PATH|unix.MOVE_MOUNT_T_EMPTY_PATH); err != nil {
		return fmt.Errorf("move_mount: %w", err)
	}
	return nil
}

// mountTarget opens dest inside root (symlinks resolved in its scope),
// creating it if missing (a directory, or an empty file for a file
// source), as dockerd and the runtime do for a mount point: a dangling
// symlink is created where it points in the rootfs.
func mountTarget(root *os.File, dest string, dir bool) (*os.File, error) {
	h, err := pathrs.OpenatInRoot(root, dest)
	if err == nil || !errors.Is(err, fs.ErrNotExist) {
		return h, err
	}
	resolved, err := securejoin.SecureJoin(root.Name(), dest)
	if err != nil {
		return nil, err
	}
	if dest, err = filepath.Rel(root.Name(), resolved); err != nil {
		return nil, err
	}
	if dir {
		return pathrs.MkdirAllHandle(root, dest, 0o755)
	}
	parent, err := pathrs.MkdirAllHandle(root, filepath.Dir(dest), 0o755)
	if err != nil {
		return nil, err
	}
	defer parent.Close()
	fd, err := unix.Openat(int(parent.Fd()), filepath.Base(dest), unix.O_CREAT|unix.O_EXCL|unix.O_NOFOLLOW|unix.O_WRONLY|unix.O_CLOEXEC, 0o644)
	if err != nil && !errors.Is(err, unix.EEXIST) {
		return nil, err
	}
	if err == nil {
		unix.Close(fd)
	}
	return pathrs.OpenatInRoot(root, dest)
}

// withContainerFS is withRootfsOpt with the container's filesystem view
// (containerFS). Each volume it binds is mounted for the call through
// Volumes.WithMountedFor (a typed volume of a stopped container is
// mounted by nothing else), which publishes the volume's mount and
// unmount events for the container, as dockerd does for every archive
// call.
func (e *Engine) withContainerFS(ctx context.Context, ref string, freeze bool, fn func(c *container.Container, v *containerFS) error) error {
	return e.withRootfsOpt(ctx, ref, freeze, func(c *container.Container, rootfs string) error {
		ms := viewMounts(c)
		var mountSources func(i int) error
		mountSources = func(i int) error {
			for i < len(ms) && ms[i].volume == "" {
				i++
			}
			if i == len(ms) {
				v, err := openContainerFS(rootfs, ms)
				if err != nil {
					return err
				}
				defer v.close()
				return fn(c, v)
			}
			if e.cfg.Volumes == nil {
				return errdefs.NotImplementedf("volumes are not available in this daemon")
			}
			return e.cfg.Volumes.WithMountedFor(ctx, ms[i].volume, ms[i].user, func(p string) error {
				ms[i].source = p
				return mountSources(i + 1)
			})
		}
		return mountSources(0)
	})
}
