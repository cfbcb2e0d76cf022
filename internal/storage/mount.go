package storage

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"

	"github.com/moby/sys/mountinfo"
	"golang.org/x/sys/unix"

	"github.com/berth-dev/berth/internal/userns"
)

// Mount is a mount described as data, like the mount(8) command line:
// Type "overlay" or "bind", Source, and Options (flags such as "ro",
// "rbind" and filesystem data such as "lowerdir=...").
type Mount struct {
	Type    string
	Source  string
	Options []string
}

// maxData is what the kernel copies of mount(2)'s data argument.
var maxData = os.Getpagesize() - 1

var flagOpts = map[string]struct {
	clear bool
	flag  uintptr
}{
	"ro":          {false, unix.MS_RDONLY},
	"rw":          {true, unix.MS_RDONLY},
	"bind":        {false, unix.MS_BIND},
	"rbind":       {false, unix.MS_BIND | unix.MS_REC},
	"nosuid":      {false, unix.MS_NOSUID},
	"nodev":       {false, unix.MS_NODEV},
	"noexec":      {false, unix.MS_NOEXEC},
	"noatime":     {false, unix.MS_NOATIME},
	"relatime":    {false, unix.MS_RELATIME},
	"strictatime": {false, unix.MS_STRICTATIME},
}

// mountPlan is what Mount hands to mount(2).
type mountPlan struct {
	flags uintptr
	data  string
	// dir, if set, is the working directory to mount from: the overlay
	// paths in data are relative to it (see compact).
	dir string
}

// plan turns m into mount(2) arguments. Pure.
func (m Mount) plan() (mountPlan, error) {
	var p mountPlan
	var data []string
	for _, o := range m.Options {
		if f, ok := flagOpts[o]; ok {
			if f.clear {
				p.flags &^= f.flag
			} else {
				p.flags |= f.flag
			}
			continue
		}
		data = append(data, o)
	}
	p.data = strings.Join(data, ",")
	if m.Type == "overlay" && len(p.data) > maxData {
		dir, short := compact(data)
		if len(short) > maxData {
			return p, fmt.Errorf("mount overlay: options are %d bytes, more than the kernel's %d even relative to %s", len(short), maxData, dir)
		}
		p.dir, p.data = dir, short
	}
	return p, nil
}

// compact makes the paths in overlay options relative to their longest
// common directory, so that deep layer chains fit in one page (dockerd
// does the same with its l/ links).
func compact(opts []string) (dir, data string) {
	var paths []string
	for _, o := range opts {
		k, v, ok := strings.Cut(o, "=")
		if !ok {
			continue
		}
		switch k {
		case "lowerdir":
			paths = append(paths, strings.Split(v, ":")...)
		case "upperdir", "workdir":
			paths = append(paths, v)
		}
	}
	if len(paths) == 0 {
		return "", strings.Join(opts, ",")
	}
	dir = filepath.Dir(paths[0])
	for _, p := range paths[1:] {
		for dir != "/" && !strings.HasPrefix(p, dir+"/") {
			dir = filepath.Dir(dir)
		}
	}
	rel := func(p string) string {
		if dir == "/" {
			return strings.TrimPrefix(p, "/")
		}
		return strings.TrimPrefix(p, dir+"/")
	}
	out := make([]string, 0, len(opts))
	for _, o := range opts {
		k, v, _ := strings.Cut(o, "=")
		switch k {
		case "lowerdir":
			ls := strings.Split(v, ":")
			for i := range ls {
				ls[i] = rel(ls[i])
			}
			o = k + "=" + strings.Join(ls, ":")
		case "upperdir", "workdir":
			o = k + "=" + rel(v)
		}
		out = append(out, o)
	}
	return dir, strings.Join(out, ",")
}

// Mount mounts m on target. An overlay with "uidmap=" and "gidmap="
// options (userns.FormatRanges forms) gets each lower dir idmapped
// through a user namespace holding those maps (see idmapLowers).
func (m Mount) Mount(target string) error {
	m, release, err := m.idmapLowers()
	if err != nil {
		return err
	}
	defer release()
	p, err := m.plan()
	if err != nil {
		return err
	}
	if p.dir != "" {
		err = mountFrom(p.dir, m.Source, target, m.Type, p.flags, p.data)
	} else {
		err = unix.Mount(m.Source, target, m.Type, p.flags, p.data)
	}
	if err != nil {
		return fmt.Errorf("mount %s on %s: %w", m.Type, target, err)
	}
	// A bind mount ignores MS_RDONLY until it is remounted.
	if p.flags&unix.MS_BIND != 0 && p.flags&unix.MS_RDONLY != 0 {
		if err := unix.Mount("", target, "", p.flags|unix.MS_REMOUNT, ""); err != nil {
			_ = unix.Unmount(target, unix.MNT_DETACH)
			return fmt.Errorf("remount %s read-only: %w", target, err)
		}
	}
	return nil
}

// idmapLowers replaces the lower dirs of an overlay that asks for an
// idmap by detached idmapped copies of them, named /proc/self/fd/<n>.
// Overlayfs refuses to be idmapped itself (EINVAL), but takes idmapped
// layers (Linux 5.19) and keeps private clones of them, so release (which
// closes the copies) runs right after the mount: nothing but the overlay
// stays mounted, and a crash leaves nothing else to clean up. The upper
// dir is not idmapped: what the container writes is owned on disk by its
// host IDs, as with dockerd's remapping.
func (m Mount) idmapLowers() (Mount, func(), error) {
	var uids, gids string
	var opts []string
	for _, o := range m.Options {
		switch k, v, _ := strings.Cut(o, "="); k {
		case "uidmap":
			uids = v
		case "gidmap":
			gids = v
		default:
			opts = append(opts, o)
		}
	}
	noop := func() {}
	if uids == "" && gids == "" {
		return m, noop, nil
	}
	if m.Type != "overlay" {
		return m, noop, fmt.Errorf("mount %s: idmapped %s mounts are not supported", m.Source, m.Type)
	}
	var idm userns.IDMap
	var err error
	if idm.UIDs, err = userns.ParseRanges(uids); err == nil {
		idm.GIDs, err = userns.ParseRanges(gids)
	}
	if err != nil {
		return m, noop, err
	}
	ns, err := userns.NS(idm)
	if err != nil {
		return m, noop, err
	}
	var clones []*os.File
	release := func() {
		for _, f := range clones {
			f.Close()
		}
	}
	for i, o := range opts {
		v, ok := strings.CutPrefix(o, "lowerdir=")
		if !ok {
			continue
		}
		ls := strings.Split(v, ":")
		for j, l := range ls {
			f, err := userns.CloneIDMapped(l, ns)
			if err != nil {
				release()
				return m, noop, err
			}
			clones = append(clones, f)
			ls[j] = userns.FDPath(f)
		}
		opts[i] = "lowerdir=" + strings.Join(ls, ":")
	}
	m.Options = opts
	return m, release, nil
}

// mountFrom mounts with dir as the working directory. The working
// directory is per process, so the mount runs on a locked thread that
// first unshares its fs attributes and then dies with its goroutine,
// leaving every other thread where it was.
func mountFrom(dir, source, target, fstype string, flags uintptr, data string) error {
	target, err := filepath.Abs(target)
	if err != nil {
		return err
	}
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread() // never unlocked: the thread exits with us
		if err := unix.Unshare(unix.CLONE_FS); err != nil {
			errc <- fmt.Errorf("unshare fs: %w", err)
			return
		}
		if err := unix.Chdir(dir); err != nil {
			errc <- fmt.Errorf("chdir %s: %w", dir, err)
			return
		}
		errc <- unix.Mount(source, target, fstype, flags, data)
	}()
	return <-errc
}

// MountAll mounts ms, in order, on target.
func MountAll(ms []Mount, target string) error {
	for i, m := range ms {
		if err := m.Mount(target); err != nil {
			if i > 0 {
				_ = Unmount(target)
			}
			return err
		}
	}
	return nil
}

// Unmount unmounts target; one that is not mounted is not an error.
func Unmount(target string) error {
	for {
		err := unix.Unmount(target, 0)
		switch {
		case err == nil:
			continue // stacked mounts: unmount until none is left
		case errors.Is(err, unix.EINVAL), errors.Is(err, unix.ENOENT):
			return nil
		case errors.Is(err, unix.EINTR):
			continue
		default:
			return fmt.Errorf("unmount %s: %w", target, err)
		}
	}
}

// MountedFrom reports a mount point whose contents come from dir: an
// overlay naming a path under dir in its options, or a bind mount of dir
// or of a path under it. A snapshot must not be removed while that is so.
func MountedFrom(dir string) (string, bool, error) {
	mounts, err := mountinfo.GetMounts(func(m *mountinfo.Info) (skip, stop bool) {
		// Deep overlays are mounted with paths relative to the driver's
		// home (see compact): "upperdir=<key>/diff".
		rel := "upperdir=" + filepath.Base(dir) + "/"
		if strings.Contains(m.VFSOptions, dir+"/") || strings.Contains(m.VFSOptions, rel) || bindOf(dir, m.Root) {
			return false, true
		}
		return true, false
	})
	if err != nil || len(mounts) == 0 {
		return "", false, err
	}
	return mounts[0].Mountpoint, true, nil
}

// bindOf reports whether a mount whose root (the path inside its own
// filesystem) is root can be dir or under it. mountinfo does not say where
// that filesystem is mounted, so every tail of dir is tried: "/a/b/key"
// matches roots "/key/...", "/b/key/..." and "/a/b/key/...".
func bindOf(dir, root string) bool {
	if root == "/" || root == "" {
		return false
	}
	parts := strings.Split(strings.Trim(dir, "/"), "/")
	for i := len(parts) - 1; i >= 0; i-- {
		t := "/" + strings.Join(parts[i:], "/")
		if root == t || strings.HasPrefix(root, t+"/") {
			return true
		}
	}
	return false
}
