package linux

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/berth-dev/berth/internal/errdefs"
)

// User namespaces (a spec with a "user" namespace and uid/gid mappings):
//
//   - The init is cloned with CLONE_NEWUSER together with its other new
//     namespaces, which the new user namespace then owns. os/exec writes
//     uid_map, setgroups ("allow") and gid_map from the parent before the
//     child goes on, and the child switches to the namespace's uid and gid
//     0 before it execs the init, so init starts as the namespace's root
//     with every capability in it (an exec as an unmapped uid would drop
//     them all).
//   - Namespaces given by path are joined by the parent before the clone
//     (nsPlan.parentJoin); net.* sysctls of such a network namespace are
//     written by the parent too (hostNetSysctls).
//   - The init's working directory is "/" (the bundle dir is root's alone);
//     relative bind sources are made absolute against the bundle first.
//     The rootfs and bind sources must be reachable by the mapped root, as
//     with runc.
//   - Inside: device nodes are bind-mounted from the host (mknod fails with
//     EPERM, see createDevice); sysfs, which needs a network namespace the
//     user namespace owns, falls back to a recursive bind of the host's
//     /sys; bind remounts keep the flags the kernel locked on mounts that
//     came from the host's namespace (lockedFlags).

// remapInit readies cmd (the init) for a new user namespace.
func (b *bundle) remapInit(cmd *exec.Cmd) error {
	l := b.spec.Linux
	if len(l.UIDMappings) == 0 || len(l.GIDMappings) == 0 {
		return errdefs.InvalidArgumentf("config.json: a user namespace needs linux.uidMappings and linux.gidMappings")
	}
	attr := cmd.SysProcAttr
	attr.UidMappings = sysIDMaps(l.UIDMappings)
	attr.GidMappings = sysIDMaps(l.GIDMappings)
	attr.GidMappingsEnableSetgroups = true
	attr.Credential = &syscall.Credential{Uid: 0, Gid: 0}
	changed := false
	for i, m := range b.spec.Mounts {
		if m.Source != "" && !filepath.IsAbs(m.Source) && parseMountOptions(m.Type, m.Options).bind {
			b.spec.Mounts[i].Source = filepath.Join(cmd.Dir, m.Source)
			changed = true
		}
	}
	if changed {
		raw, err := json.Marshal(&b.spec)
		if err != nil {
			return err
		}
		b.raw = raw
	}
	cmd.Dir = "/"
	if !strings.HasPrefix(cmd.Path, "/proc/self/") {
		// The mapped root may not reach the binary's directory: exec it
		// through an inherited fd (init marks it close-on-exec).
		f, err := os.Open(cmd.Path)
		if err != nil {
			return fmt.Errorf("open init binary: %w", err)
		}
		cmd.ExtraFiles = append(cmd.ExtraFiles, f)
		cmd.Path = "/proc/self/fd/" + strconv.Itoa(2+len(cmd.ExtraFiles))
		b.closeAfterStart = append(b.closeAfterStart, f)
	}
	return nil
}

func sysIDMaps(ms []specs.LinuxIDMapping) []syscall.SysProcIDMap {
	out := make([]syscall.SysProcIDMap, len(ms))
	for i, m := range ms {
		out[i] = syscall.SysProcIDMap{ContainerID: int(m.ContainerID), HostID: int(m.HostID), Size: int(m.Size)}
	}
	return out
}

// inUserNS is set in init when the container has its own user namespace.
var inUserNS bool

// atimeFlags are the access-time flags of a mount.
const atimeFlags = unix.MS_NOATIME | unix.MS_NODIRATIME | unix.MS_RELATIME | unix.MS_STRICTATIME

// lockedFlags adds to a bind remount's flags those of the mount at dest
// that a user namespace may not clear (mounts copied from a more
// privileged mount namespace are locked: nosuid, nodev, noexec, ro and
// the atime mode stay as they were, or the remount fails with EPERM).
func lockedFlags(dest string, flags uintptr) uintptr {
	if !inUserNS {
		return flags
	}
	have, err := mountFlagsOf(dest)
	if err != nil {
		return flags
	}
	flags |= have & (unix.MS_NOSUID | unix.MS_NODEV | unix.MS_NOEXEC | unix.MS_RDONLY)
	if flags&atimeFlags == 0 {
		flags |= have & atimeFlags
	}
	return flags
}

// makeSysfs runs on the parent's thread that joined the namespaces (see
// startIn): for a remapped init that joins a network namespace by path
// and mounts sysfs, it makes a detached sysfs mount there (a sysfs shows
// the network devices of its creator's network namespace, and the init
// may not mount one for a namespace the host owns) and hands it to init
// as an inherited fd, which init moves onto /sys.
func (b *bundle) makeSysfs(cmd *exec.Cmd) error {
	if !b.ns.userns {
		return nil
	}
	joinsNet, wantsSysfs := false, false
	for _, n := range b.spec.Linux.Namespaces {
		joinsNet = joinsNet || n.Type == specs.NetworkNamespace && n.Path != ""
	}
	for _, m := range b.spec.Mounts {
		wantsSysfs = wantsSysfs || m.Type == "sysfs"
	}
	if !joinsNet || !wantsSysfs {
		return nil
	}
	fsfd, err := unix.Fsopen("sysfs", unix.FSOPEN_CLOEXEC)
	if err != nil {
		return fmt.Errorf("fsopen sysfs: %w", err)
	}
	defer unix.Close(fsfd)
	if err := unix.FsconfigCreate(fsfd); err != nil {
		return fmt.Errorf("create sysfs: %w", err)
	}
	mfd, err := unix.Fsmount(fsfd, unix.FSMOUNT_CLOEXEC, unix.MOUNT_ATTR_NOSUID|unix.MOUNT_ATTR_NODEV|unix.MOUNT_ATTR_NOEXEC)
	if err != nil {
		return fmt.Errorf("fsmount sysfs: %w", err)
	}
	f := os.NewFile(uintptr(mfd), "sysfs")
	cmd.ExtraFiles = append(cmd.ExtraFiles, f)
	b.closeAfterStart = append(b.closeAfterStart, f)
	b.sysfsFD = 2 + len(cmd.ExtraFiles)
	return nil
}

// sysfsFD is the parent's sysfs mount in init (0: none); see makeSysfs.
var sysfsFD int

// mountSysfs mounts sysfs at dest: the parent's when it made one (see
// makeSysfs), else a new one, or, when a remapped init may not mount it,
// a recursive bind of the host's /sys, as runc does.
func mountSysfs(m specs.Mount, dest string, o mountOpts) error {
	if err := os.MkdirAll(dest, 0o755); err != nil {
		return err
	}
	if sysfsFD > 0 {
		err := unix.MoveMount(sysfsFD, "", unix.AT_FDCWD, dest, unix.MOVE_MOUNT_F_EMPTY_PATH)
		unix.Close(sysfsFD)
		sysfsFD = 0
		if err != nil {
			return fmt.Errorf("move sysfs onto %s: %w", dest, err)
		}
		if o.flags&unix.MS_RDONLY == 0 {
			return nil
		}
		return remountRO(dest)
	}
	err := mount(m.Source, dest, m.Type, o.flags, o.data)
	if err == nil || !inUserNS || !errors.Is(err, unix.EPERM) {
		return err
	}
	if err := mount("/sys", dest, "", unix.MS_BIND|unix.MS_REC, ""); err != nil {
		return fmt.Errorf("bind /sys (sysfs refused in the user namespace): %w", err)
	}
	return mount("", dest, "", lockedFlags(dest, o.flags&^unix.MS_REC|unix.MS_BIND|unix.MS_REMOUNT), "")
}

// ownUserNS opens the user namespace of pid when it is not ours (nil
// otherwise).
func ownUserNS(pid int) (*os.File, error) {
	f, err := os.Open("/proc/" + strconv.Itoa(pid) + "/ns/user")
	if err != nil {
		return nil, err
	}
	var theirs, ours unix.Stat_t
	if err := unix.Fstat(int(f.Fd()), &theirs); err != nil {
		f.Close()
		return nil, err
	}
	if err := unix.Stat("/proc/self/ns/user", &ours); err != nil {
		f.Close()
		return nil, err
	}
	if theirs.Ino == ours.Ino && theirs.Dev == ours.Dev {
		f.Close()
		return nil, nil
	}
	return f, nil
}

// execInUserNS makes cmd, the exec'd process of a user-namespaced
// container, enter that namespace. A Go process cannot: setns(CLONE_NEWUSER)
// refuses a multi-threaded caller, and the exec init is Go from its first
// instruction (runc joins in C before its Go runtime starts). So nsenter
// (util-linux, single-threaded C) runs first: it joins the other
// namespaces as the host's root (a network namespace the host owns could
// not be joined from inside the user namespace), then the user namespace,
// becomes its root, and execs the exec init, which joins only the mount
// namespace itself. That init is the namespace's root, so it is given the
// seccomp profile as an open file, and the parent moves it into the
// cgroups (cgroup.procs) instead of it writing the host's tasks files.
// names are the namespaces whose fds follow the sync socket, in order;
// the result names only those the init must still join ("" for the rest).
// The files returned are the parent's to close once cmd started.
func execInUserNS(cmd *exec.Cmd, names []string, userNS *os.File, stateDir string) ([]string, []*os.File, error) {
	nsenter, err := exec.LookPath("nsenter")
	if err != nil {
		return nil, nil, errdefs.NotImplementedf("exec in a container with a user namespace needs nsenter (util-linux): %v", err)
	}
	fdOf := func(f *os.File) string {
		cmd.ExtraFiles = append(cmd.ExtraFiles, f)
		return "/proc/self/fd/" + strconv.Itoa(2+len(cmd.ExtraFiles))
	}
	var closeAfter []*os.File
	args := []string{"nsenter"}
	left := make([]string, len(names))
	for i, n := range names {
		fd := "/proc/self/fd/" + strconv.Itoa(initFd+1+i)
		if n == "mnt" {
			left[i] = n
			continue
		}
		args = append(args, "--"+n+"="+fd)
	}
	args = append(args, "--user="+fdOf(userNS))
	cmd.Env = []string{}
	for _, kv := range execSeccompEnviron(stateDir) {
		p := strings.TrimPrefix(kv, execSeccompEnv+"=")
		f, err := os.Open(p)
		if err != nil {
			return nil, nil, fmt.Errorf("open container seccomp profile: %w", err)
		}
		closeAfter = append(closeAfter, f)
		fdOf(f)
		cmd.Env = []string{execSeccompEnv + "=fd:" + strconv.Itoa(2+len(cmd.ExtraFiles)) + ":" + p}
	}
	bin, err := os.Open(cmd.Path)
	if err != nil {
		return nil, closeAfter, fmt.Errorf("open exec init: %w", err)
	}
	closeAfter = append(closeAfter, bin)
	args = append(args, "--", fdOf(bin), "init")
	cmd.Path, cmd.Args = nsenter, args
	return left, closeAfter, nil
}

// hostGIDRange maps a "low high" range of container gids to the host's
// through the range holding low (gids past its end are cut); a value it
// cannot parse or map is returned as is.
func hostGIDRange(v string, maps []specs.LinuxIDMapping) string {
	f := strings.Fields(v)
	if len(f) != 2 {
		return v
	}
	low, err1 := strconv.ParseUint(f[0], 10, 32)
	high, err2 := strconv.ParseUint(f[1], 10, 32)
	if err1 != nil || err2 != nil || high < low {
		return v
	}
	for _, m := range maps {
		start, end := uint64(m.ContainerID), uint64(m.ContainerID)+uint64(m.Size)-1
		if low < start || low > end {
			continue
		}
		high = min(high, end)
		return strconv.FormatUint(uint64(m.HostID)+low-start, 10) + " " + strconv.FormatUint(uint64(m.HostID)+high-start, 10)
	}
	return v
}
