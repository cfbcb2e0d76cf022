package apiserver_test

import (
	"os"
	"path/filepath"
	"runtime"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/berth-dev/berth/internal/apiserver"
)

// TestUnixSocketGroup: when the group "berth" exists, the socket is
// root:berth 0660 (as docker's with the docker group). The group is made
// to exist only for this test: on a thread of its own, in a private mount
// namespace, /etc/group is bind-mounted with a berth entry added. The
// host's /etc/group is never touched and the thread is discarded.
func TestUnixSocketGroup(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root")
	}
	dir := t.TempDir()
	orig, err := os.ReadFile("/etc/group")
	if err != nil {
		t.Skip(err)
	}
	groupFile := filepath.Join(dir, "group")
	if err := os.WriteFile(groupFile, append(orig, []byte("\nberth:x:4242:\n")...), 0o644); err != nil {
		t.Fatal(err)
	}
	sock := filepath.Join(dir, "berth.sock")
	type result struct {
		gid  uint32
		mode os.FileMode
		err  error
	}
	done := make(chan result, 1)
	go func() {
		// Never unlocked: the thread dies with this goroutine.
		runtime.LockOSThread()
		if err := unix.Unshare(unix.CLONE_NEWNS | unix.CLONE_FS); err != nil {
			done <- result{err: err}
			return
		}
		if err := unix.Mount("", "/", "", unix.MS_REC|unix.MS_PRIVATE, ""); err != nil {
			done <- result{err: err}
			return
		}
		if err := unix.Mount(groupFile, "/etc/group", "", unix.MS_BIND, ""); err != nil {
			done <- result{err: err}
			return
		}
		l, err := apiserver.Listen("unix://"+sock, nil)
		if err != nil {
			done <- result{err: err}
			return
		}
		defer l.Close()
		fi, err := os.Stat(sock)
		if err != nil {
			done <- result{err: err}
			return
		}
		done <- result{gid: fi.Sys().(*syscall.Stat_t).Gid, mode: fi.Mode().Perm()}
	}()
	r := <-done
	if r.err != nil {
		t.Fatal(r.err)
	}
	if r.gid != 4242 || r.mode != 0o660 {
		t.Errorf("socket gid %d mode %v, want 4242 0660", r.gid, r.mode)
	}
}
