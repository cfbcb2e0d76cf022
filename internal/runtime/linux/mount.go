package linux

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	securejoin "github.com/cyphar/filepath-securejoin"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// mountOpts is a spec mount's option list, split into mount(2) arguments.
type mountOpts struct {
	flags       uintptr   // MS_* flags for the mount itself
	propagation []uintptr // applied one by one after mounting
	data        string    // filesystem-specific options
	bind        bool
	rro         bool // "rro": read-only recursively (mount_setattr AT_RECURSIVE)
}

var mountFlag = map[string]struct {
	clear bool
	flag  uintptr
}{
	"ro":            {false, unix.MS_RDONLY},
	"rw":            {true, unix.MS_RDONLY},
	"nosuid":        {false, unix.MS_NOSUID},
	"suid":          {true, unix.MS_NOSUID},
	"nodev":         {false, unix.MS_NODEV},
	"dev":           {true, unix.MS_NODEV},
	"noexec":        {false, unix.MS_NOEXEC},
	"exec":          {true, unix.MS_NOEXEC},
	"sync":          {false, unix.MS_SYNCHRONOUS},
	"async":         {true, unix.MS_SYNCHRONOUS},
	"dirsync":       {false, unix.MS_DIRSYNC},
	"mand":          {false, unix.MS_MANDLOCK},
	"nomand":        {true, unix.MS_MANDLOCK},
	"noatime":       {false, unix.MS_NOATIME},
	"atime":         {true, unix.MS_NOATIME},
	"nodiratime":    {false, unix.MS_NODIRATIME},
	"diratime":      {true, unix.MS_NODIRATIME},
	"relatime":      {false, unix.MS_RELATIME},
	"norelatime":    {true, unix.MS_RELATIME},
	"strictatime":   {false, unix.MS_STRICTATIME},
	"nostrictatime": {true, unix.MS_STRICTATIME},
	"bind":          {false, unix.MS_BIND},
	"rbind":         {false, unix.MS_BIND | unix.MS_REC},
}

var propagationFlag = map[string]uintptr{
	"private":     unix.MS_PRIVATE,
	"rprivate":    unix.MS_PRIVATE | unix.MS_REC,
	"shared":      unix.MS_SHARED,
	"rshared":     unix.MS_SHARED | unix.MS_REC,
	"slave":       unix.MS_SLAVE,
	"rslave":      unix.MS_SLAVE | unix.MS_REC,
	"unbindable":  unix.MS_UNBINDABLE,
	"runbindable": unix.MS_UNBINDABLE | unix.MS_REC,
}

func parseMountOptions(typ string, options []string) mountOpts {
	var o mountOpts
	var data []string
	for _, opt := range options {
		if f, ok := mountFlag[opt]; ok {
			if f.clear {
				o.flags &^= f.flag
			} else {
				o.flags |= f.flag
			}
			continue
		}
		if p, ok := propagationFlag[opt]; ok {
			o.propagation = append(o.propagation, p)
			continue
		}
		if opt == "rro" {
			o.rro = true
			o.flags |= unix.MS_RDONLY
			continue
		}
		if opt == "tmpcopyup" || strings.HasPrefix(opt, "x-") {
			continue // podman's and userspace-only options
		}
		data = append(data, opt)
	}
	o.bind = typ == "bind" || o.flags&unix.MS_BIND != 0
	if o.bind {
		o.flags |= unix.MS_BIND
	}
	o.data = strings.Join(data, ",")
	return o
}

// remountFlags are the flags a bind remount must repeat to keep them.
const remountFlags = unix.MS_RDONLY | unix.MS_NOSUID | unix.MS_NODEV | unix.MS_NOEXEC |
	unix.MS_NOATIME | unix.MS_NODIRATIME | unix.MS_RELATIME | unix.MS_STRICTATIME

// mountFlagsOf reads the per-mount flags of the mount holding path; statfs's
// ST_* bits have the values of the MS_* ones.
func mountFlagsOf(path string) (uintptr, error) {
	var st unix.Statfs_t
	if err := unix.Statfs(path, &st); err != nil {
		return 0, fmt.Errorf("statfs %s: %w", path, err)
	}
	return uintptr(st.Flags) & remountFlags, nil
}

func mount(source, target, fstype string, flags uintptr, data string) error {
	if err := unix.Mount(source, target, fstype, flags, data); err != nil {
		what := fstype
		if what == "" {
			what = source
		}
		return fmt.Errorf("mount %s on %s (flags %#x, %q): %w", what, target, flags, data, err)
	}
	return nil
}

// mountInRoot performs one spec mount under rootfs. The destination is
// resolved with securejoin so a symlink in the image cannot point it out of
// the rootfs.
func mountInRoot(rootfs string, m specs.Mount, cgroupns bool) error {
	o := parseMountOptions(m.Type, m.Options)
	dest, err := securejoin.SecureJoin(rootfs, m.Destination)
	if err != nil {
		return fmt.Errorf("resolve %s in rootfs: %w", m.Destination, err)
	}
	switch {
	case m.Type == "cgroup" || m.Type == "cgroup2":
		if err := os.MkdirAll(dest, 0o755); err != nil {
			return err
		}
		err = mountCgroups(dest, o, cgroupns)
	case o.bind:
		err = bindMount(m.Source, dest, o)
	case m.Type == "sysfs":
		err = mountSysfs(m, dest, o)
	default:
		if err := os.MkdirAll(dest, 0o755); err != nil {
			return err
		}
		err = mount(m.Source, dest, m.Type, o.flags, o.data)
	}
	if err != nil {
		return err
	}
	for _, p := range o.propagation {
		if err := mount("", dest, "", p, ""); err != nil {
			return err
		}
	}
	return nil
}

// bindMount binds source on dest (created as a file or a directory like
// source), then remounts it if the options ask for more than a bind.
func bindMount(source, dest string, o mountOpts) error {
	fi, err := os.Stat(source)
	if err != nil {
		return fmt.Errorf("bind source: %w", err)
	}
	if err := mkTarget(dest, fi.IsDir()); err != nil {
		return err
	}
	if err := mount(source, dest, "", o.flags&(unix.MS_BIND|unix.MS_REC), ""); err != nil {
		return err
	}
	if o.flags&^(unix.MS_BIND|unix.MS_REC) == 0 {
		return nil
	}
	// The options say the whole truth about the mount ("rw" must be able
	// to clear a read-only source's flag), except in a user namespace,
	// where the host's flags are locked.
	if err := mount("", dest, "", lockedFlags(dest, o.flags&^unix.MS_REC|unix.MS_REMOUNT), ""); err != nil {
		return err
	}
	if o.rro {
		// A remount touches only the top mount; mount_setattr (Linux 5.12)
		// makes every submount read-only as well.
		attr := unix.MountAttr{Attr_set: unix.MOUNT_ATTR_RDONLY}
		if err := unix.MountSetattr(unix.AT_FDCWD, dest, unix.AT_RECURSIVE, &attr); err != nil {
			return fmt.Errorf("make %s read-only recursively (rro): %w", dest, err)
		}
	}
	return nil
}

// mkTarget makes a mount point: a directory, or an empty file.
func mkTarget(path string, dir bool) error {
	if dir {
		return os.MkdirAll(path, 0o755)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDONLY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0o644)
	if err != nil {
		if os.IsExist(err) {
			return nil
		}
		return fmt.Errorf("create mount point: %w", err)
	}
	return f.Close()
}

// remountRO makes path's mount read-only, keeping its other flags.
func remountRO(path string) error {
	have, err := mountFlagsOf(path)
	if err != nil {
		return err
	}
	return mount("", path, "", have|unix.MS_RDONLY|unix.MS_BIND|unix.MS_REMOUNT, "")
}

// maskPath hides path: /dev/null over a file, an empty read-only tmpfs over
// a directory. A missing path needs no mask.
func maskPath(path string) error {
	fi, err := os.Stat(path)
	if os.IsNotExist(err) {
		return nil
	}
	if err != nil {
		return err
	}
	if fi.IsDir() {
		return mount("tmpfs", path, "tmpfs", unix.MS_RDONLY, "")
	}
	return mount("/dev/null", path, "", unix.MS_BIND, "")
}

// readonlyPath binds path on itself and makes that read-only.
func readonlyPath(path string) error {
	if err := unix.Mount(path, path, "", unix.MS_BIND|unix.MS_REC, ""); err != nil {
		if err == unix.ENOENT {
			return nil
		}
		return fmt.Errorf("bind %s on itself: %w", path, err)
	}
	return remountRO(path)
}

// pivotRoot makes rootfs the root: pivot_root(".", ".") stacks the old root
// under the new one, and a detached unmount drops it (made rslave first so
// the unmount does not propagate to the host).
func pivotRoot(rootfs string) error {
	oldroot, err := unix.Open("/", unix.O_DIRECTORY|unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return err
	}
	defer unix.Close(oldroot)
	if err := unix.Chdir(rootfs); err != nil {
		return err
	}
	if err := unix.PivotRoot(".", "."); err != nil {
		return fmt.Errorf("pivot_root %s: %w", rootfs, err)
	}
	if err := unix.Fchdir(oldroot); err != nil {
		return err
	}
	if err := mount("", ".", "", unix.MS_SLAVE|unix.MS_REC, ""); err != nil {
		return err
	}
	if err := unix.Unmount(".", unix.MNT_DETACH); err != nil {
		return fmt.Errorf("unmount old root: %w", err)
	}
	return unix.Chdir("/")
}
