package ocispec

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/moby/moby/api/types/container"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/berth-dev/berth/internal/errdefs"
)

var errNotDevice = errors.New("not a device node")

// deviceAt describes the device node at path (Lstat, no symlinks).
func deviceAt(path string) (specs.LinuxDevice, error) {
	var st unix.Stat_t
	if err := unix.Lstat(path, &st); err != nil {
		return specs.LinuxDevice{}, &fs.PathError{Op: "lstat", Path: path, Err: err}
	}
	var typ string
	switch st.Mode & unix.S_IFMT {
	case unix.S_IFCHR:
		typ = "c"
	case unix.S_IFBLK:
		typ = "b"
	default:
		return specs.LinuxDevice{}, errNotDevice
	}
	mode := fs.FileMode(st.Mode & 0o777)
	uid, gid := st.Uid, st.Gid
	return specs.LinuxDevice{
		Path:     path,
		Type:     typ,
		Major:    int64(unix.Major(uint64(st.Rdev))), //nolint:unconvert // 32-bit on some arches
		Minor:    int64(unix.Minor(uint64(st.Rdev))), //nolint:unconvert
		FileMode: &mode,
		UID:      &uid,
		GID:      &gid,
	}, nil
}

// HostDevices lists the device nodes under the host's /dev, as a
// privileged container gets them (containerd's HostDevices): the
// container's own pts, shm, mqueue and console are skipped.
func HostDevices() ([]specs.LinuxDevice, error) {
	return devicesUnder("/dev", true)
}

func devicesUnder(root string, skipOwn bool) ([]specs.LinuxDevice, error) {
	var out []specs.LinuxDevice
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if p == root {
				return err
			}
			return nil // vanished or unreadable: not ours to fail on
		}
		if d.IsDir() {
			if skipOwn && p != root {
				switch d.Name() {
				case "pts", "shm", "fd", "mqueue", ".lxc", ".lxd-mounts", ".udev":
					return filepath.SkipDir
				}
			}
			return nil
		}
		if skipOwn && p == "/dev/console" {
			return nil
		}
		if d.Type()&(fs.ModeDevice|fs.ModeCharDevice) == 0 {
			return nil
		}
		dev, err := deviceAt(p)
		if err != nil {
			return nil
		}
		out = append(out, dev)
		return nil
	})
	return out, err
}

// deviceFromPath turns a --device mapping into devices and cgroup rules
// (moby's DevicesFromPath): a device node, or every node under a
// directory.
//
// Errors name the errno alone, as dockerd's ("...: no such file or
// directory"), not the syscall and path.
func deviceFromPath(dm container.DeviceMapping) ([]specs.LinuxDevice, []specs.LinuxDeviceCgroup, error) {
	perms := dm.CgroupPermissions
	if perms == "" {
		perms = "rwm"
	}
	if strings.Trim(perms, "rwm") != "" {
		return nil, nil, errdefs.InvalidArgumentf("invalid device cgroup permissions %q for %s", perms, dm.PathOnHost)
	}
	inCtr := dm.PathInContainer
	if inCtr == "" {
		inCtr = dm.PathOnHost
	}
	resolved, err := filepath.EvalSymlinks(dm.PathOnHost)
	if err != nil {
		return nil, nil, errdefs.InvalidArgumentf("error gathering device information while adding custom device %q: %s", dm.PathOnHost, bareErr(err))
	}
	add := func(d specs.LinuxDevice, at string, devs []specs.LinuxDevice, rules []specs.LinuxDeviceCgroup) ([]specs.LinuxDevice, []specs.LinuxDeviceCgroup) {
		d.Path = at
		return append(devs, d), append(rules, cgroupRule(true, d.Type, d.Major, d.Minor, perms))
	}
	d, err := deviceAt(resolved)
	if err == nil {
		devs, rules := add(d, inCtr, nil, nil)
		return devs, rules, nil
	}
	if fi, serr := os.Stat(resolved); serr == nil && fi.IsDir() {
		found, err := devicesUnder(resolved, false)
		if err != nil {
			return nil, nil, err
		}
		var devs []specs.LinuxDevice
		var rules []specs.LinuxDeviceCgroup
		for _, d := range found {
			rel, _ := filepath.Rel(resolved, d.Path)
			devs, rules = add(d, filepath.Join(inCtr, rel), devs, rules)
		}
		return devs, rules, nil
	}
	return nil, nil, errdefs.InvalidArgumentf("error gathering device information while adding custom device %q: %s", dm.PathOnHost, bareErr(err))
}

// bareErr is a *fs.PathError's errno, else err.
func bareErr(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}
