package linux

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	securejoin "github.com/cyphar/filepath-securejoin"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

func mode(m os.FileMode) *os.FileMode { return &m }

// defaultDevices are created in every container's /dev, as runc does;
// spec.Linux.Devices may add to or override them.
var defaultDevices = []specs.LinuxDevice{
	{Path: "/dev/null", Type: "c", Major: 1, Minor: 3, FileMode: mode(0o666)},
	{Path: "/dev/zero", Type: "c", Major: 1, Minor: 5, FileMode: mode(0o666)},
	{Path: "/dev/full", Type: "c", Major: 1, Minor: 7, FileMode: mode(0o666)},
	{Path: "/dev/random", Type: "c", Major: 1, Minor: 8, FileMode: mode(0o666)},
	{Path: "/dev/urandom", Type: "c", Major: 1, Minor: 9, FileMode: mode(0o666)},
	{Path: "/dev/tty", Type: "c", Major: 5, Minor: 0, FileMode: mode(0o666)},
}

// devSymlinks are the /dev links every container gets.
var devSymlinks = [][2]string{
	{"/proc/self/fd", "/dev/fd"},
	{"/proc/self/fd/0", "/dev/stdin"},
	{"/proc/self/fd/1", "/dev/stdout"},
	{"/proc/self/fd/2", "/dev/stderr"},
	{"pts/ptmx", "/dev/ptmx"},
}

// planDevices merges the defaults with the spec's devices (spec wins).
func planDevices(spec []specs.LinuxDevice) []specs.LinuxDevice {
	out := make([]specs.LinuxDevice, 0, len(defaultDevices)+len(spec))
	seen := map[string]bool{}
	for _, d := range spec {
		seen[filepath.Clean(d.Path)] = true
	}
	for _, d := range defaultDevices {
		if !seen[d.Path] {
			out = append(out, d)
		}
	}
	return append(out, spec...)
}

func deviceType(t string) (uint32, error) {
	switch t {
	case "c", "u":
		return unix.S_IFCHR, nil
	case "b":
		return unix.S_IFBLK, nil
	case "p":
		return unix.S_IFIFO, nil
	}
	return 0, fmt.Errorf("unknown device type %q", t)
}

// createDevices makes the device nodes and /dev symlinks under rootfs.
func createDevices(rootfs string, devs []specs.LinuxDevice) error {
	old := unix.Umask(0)
	defer unix.Umask(old)
	for _, d := range devs {
		if err := createDevice(rootfs, d); err != nil {
			return fmt.Errorf("create device %s: %w", d.Path, err)
		}
	}
	for _, l := range devSymlinks {
		dest, err := securejoin.SecureJoin(rootfs, l[1])
		if err != nil {
			return err
		}
		if l[1] == "/dev/ptmx" {
			os.Remove(dest) // must reach the container's own devpts
		}
		if err := os.Symlink(l[0], dest); err != nil && !os.IsExist(err) {
			return fmt.Errorf("symlink %s: %w", l[1], err)
		}
	}
	return nil
}

// hostDevice finds the host's node of a device: at its container path,
// else (--device /dev/x:/dev/y) the node under /dev with its type and
// number.
func hostDevice(path string, typ uint32, rdev uint64) (string, error) {
	match := func(p string) bool {
		var st unix.Stat_t
		return unix.Stat(p, &st) == nil && st.Mode&unix.S_IFMT == typ && st.Rdev == rdev
	}
	if match(path) {
		return path, nil
	}
	found := ""
	filepath.WalkDir("/dev", func(p string, e fs.DirEntry, err error) error {
		if err != nil || found != "" {
			return filepath.SkipDir
		}
		if e.Type()&(fs.ModeDevice|fs.ModeCharDevice) != 0 && match(p) {
			found = p
			return filepath.SkipAll
		}
		return nil
	})
	if found == "" {
		return "", fmt.Errorf("no host node of device %s (%d:%d) to bind", path, unix.Major(rdev), unix.Minor(rdev))
	}
	return found, nil
}

func createDevice(rootfs string, d specs.LinuxDevice) error {
	typ, err := deviceType(d.Type)
	if err != nil {
		return err
	}
	dest, err := securejoin.SecureJoin(rootfs, d.Path)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(dest), 0o755); err != nil {
		return err
	}
	perm := uint32(0o666)
	if d.FileMode != nil {
		perm = uint32(d.FileMode.Perm())
	}
	os.Remove(dest) // an image may ship a stale node or a file
	err = unix.Mknod(dest, typ|perm, int(unix.Mkdev(uint32(d.Major), uint32(d.Minor))))
	if err == unix.EPERM && typ != unix.S_IFIFO {
		// No CAP_MKNOD (dropped by the caller, or in a user namespace):
		// bind the host's node.
		src, err := hostDevice(d.Path, typ, unix.Mkdev(uint32(d.Major), uint32(d.Minor)))
		if err != nil {
			return err
		}
		if err := mkTarget(dest, false); err != nil {
			return err
		}
		return mount(src, dest, "", unix.MS_BIND, "")
	}
	if err != nil {
		return fmt.Errorf("mknod: %w", err)
	}
	uid, gid := 0, 0
	if d.UID != nil {
		uid = int(*d.UID)
	}
	if d.GID != nil {
		gid = int(*d.GID)
	}
	if uid != 0 || gid != 0 {
		return unix.Lchown(dest, uid, gid)
	}
	return nil
}
