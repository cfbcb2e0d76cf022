package wire

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// lockDataRoot takes an exclusive flock on <data-root>/berthd.lock so that
// a second berthd on the same data root refuses to start. The lock dies with
// the process, so a killed daemon never leaves a stale one.
func lockDataRoot(dataRoot string) (release func(), err error) {
	p := filepath.Join(dataRoot, "berthd.lock")
	f, err := os.OpenFile(p, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", p, err)
	}
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		b, _ := os.ReadFile(p)
		f.Close()
		if err == unix.EWOULDBLOCK {
			return nil, fmt.Errorf("berthd is already running on data root %s (pid %s)", dataRoot, strings.TrimSpace(string(b)))
		}
		return nil, fmt.Errorf("lock %s: %w", p, err)
	}
	_ = f.Truncate(0)
	_, _ = f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0)
	return func() { f.Close() }, nil
}

// writePidfile writes pid to path, refusing to overwrite the pidfile of a
// live process (dockerd's behaviour).
func writePidfile(path string) (remove func(), err error) {
	if b, err := os.ReadFile(path); err == nil {
		if pid, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil && pid != os.Getpid() {
			if _, err := os.Stat(fmt.Sprintf("/proc/%d", pid)); err == nil {
				return nil, fmt.Errorf("pid file found, ensure berthd is not running or delete %s", path)
			}
		}
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, err
	}
	if err := os.WriteFile(path, []byte(strconv.Itoa(os.Getpid())+"\n"), 0o644); err != nil {
		return nil, fmt.Errorf("write pid file: %w", err)
	}
	return func() { os.Remove(path) }, nil
}
