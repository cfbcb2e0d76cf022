package userns

import (
	"fmt"
	"os"
	"os/exec"
	goruntime "runtime"
	"strconv"
	"sync"
	"syscall"

	"golang.org/x/sys/unix"
)

var (
	nsMu    sync.Mutex
	nsCache = map[string]*os.File{}
)

// NS returns a file of a user namespace holding m's maps, for
// MOUNT_ATTR_IDMAP. One namespace per distinct map is made and kept open
// for the life of the process: an open namespace file keeps it alive
// without any process in it.
func NS(m IDMap) (*os.File, error) {
	key := FormatRanges(m.UIDs) + "/" + FormatRanges(m.GIDs)
	nsMu.Lock()
	defer nsMu.Unlock()
	if f, ok := nsCache[key]; ok {
		return f, nil
	}
	f, err := newNS(m)
	if err != nil {
		return nil, err
	}
	nsCache[key] = f
	return f, nil
}

// newNS makes the namespace: a child cloned into a new user namespace
// (the maps written by os/exec before it runs) stops at its execve under
// PTRACE_TRACEME, so it never runs; its namespace is opened and the child
// killed. A Go process cannot unshare a user namespace itself (it is
// multi-threaded), hence the child.
func newNS(m IDMap) (*os.File, error) {
	goruntime.LockOSThread() // ptrace ties the child to this thread
	defer goruntime.UnlockOSThread()
	cmd := &exec.Cmd{
		Path: "/proc/self/exe",
		Args: []string{"berth-userns"},
		SysProcAttr: &syscall.SysProcAttr{
			Cloneflags:  unix.CLONE_NEWUSER,
			UidMappings: sysMaps(m.UIDs),
			GidMappings: sysMaps(m.GIDs),
			Ptrace:      true,
			Pdeathsig:   syscall.SIGKILL,
		},
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("create user namespace: %w", err)
	}
	defer func() {
		cmd.Process.Kill()
		cmd.Wait() // may fail if a process-wide reaper collected it
	}()
	f, err := os.Open("/proc/" + strconv.Itoa(cmd.Process.Pid) + "/ns/user")
	if err != nil {
		return nil, fmt.Errorf("open user namespace: %w", err)
	}
	return f, nil
}

func sysMaps(rs []Range) []syscall.SysProcIDMap {
	out := make([]syscall.SysProcIDMap, len(rs))
	for i, r := range rs {
		out[i] = syscall.SysProcIDMap{ContainerID: int(r.ContainerID), HostID: int(r.HostID), Size: int(r.Size)}
	}
	return out
}

// CloneIDMapped returns a detached copy of the mount at dir, idmapped
// through the user namespace ns (open_tree(OPEN_TREE_CLONE) +
// mount_setattr(MOUNT_ATTR_IDMAP)): a file owned by host uid 0 shows as
// the namespace's root's host uid through it. Use it as a path with
// FDPath. Closing the file drops the copy once nothing else uses it: an
// overlay mounted on it keeps a private copy of its own, so no mount is
// left to clean up after the overlay is unmounted.
func CloneIDMapped(dir string, ns *os.File) (*os.File, error) {
	fd, err := unix.OpenTree(unix.AT_FDCWD, dir, unix.OPEN_TREE_CLONE|unix.OPEN_TREE_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("open_tree %s: %w", dir, err)
	}
	attr := unix.MountAttr{Attr_set: unix.MOUNT_ATTR_IDMAP, Userns_fd: uint64(ns.Fd())}
	if err := unix.MountSetattr(fd, "", unix.AT_EMPTY_PATH, &attr); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("idmap %s (mount_setattr): %w", dir, err)
	}
	return os.NewFile(uintptr(fd), dir), nil
}

// FDPath is the path by which the kernel resolves f ("/proc/self/fd/N").
func FDPath(f *os.File) string { return "/proc/self/fd/" + strconv.Itoa(int(f.Fd())) }
