package builder

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"

	"golang.org/x/sys/unix"
)

// Defaults of Config.MemSize and Config.MemMax.
const (
	defaultMemSize = 256 << 20
	defaultMemMax  = 32 << 20
)

// setupMemDir prepares cfg.MemDir, where each build mounts a tmpfs of
// its own for its context (memSlot). Unpacking there costs no disk inode
// allocation, which on a busy ext4 costs up to ~1 ms a file and was most
// of a fully cached rebuild. What a crash left there (mounted or not) is
// removed.
func (b *Builder) setupMemDir() error {
	dir := b.cfg.MemDir
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	if err := clearMemDir(dir); err != nil {
		return err
	}
	b.memDir = dir
	b.memSlots = make(chan struct{}, max(1, b.cfg.MemSize/b.cfg.MemMax))
	return nil
}

// clearMemDir unmounts and removes whatever is in dir.
func clearMemDir(dir string) error {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	var errs []error
	for _, e := range entries {
		p := filepath.Join(dir, e.Name())
		_ = unix.Unmount(p, unix.MNT_DETACH) // EINVAL: not a mount
		errs = append(errs, os.RemoveAll(p))
	}
	return errors.Join(errs...)
}

func isTmpfs(dir string) bool {
	var st unix.Statfs_t
	return unix.Statfs(dir, &st) == nil && st.Type == unix.TMPFS_MAGIC
}

// memSlot gives a build a tmpfs of its own under MemDir (nosuid, nodev,
// noexec, 0700; sized at twice MemMax, the context moving to disk past
// MemMax), if fewer than MemSize/MemMax builds have one. release
// unmounts it, freeing its memory at once; it runs after the context is
// removed. A mount refused (no right to mount) stops further tries.
func (b *Builder) memSlot() (dir string, release func()) {
	none := func() {}
	if b.memOff.Load() || b.memDir == "" {
		return "", none
	}
	select {
	case b.memSlots <- struct{}{}:
	default:
		return "", none
	}
	free := func() { <-b.memSlots }
	dir, err := os.MkdirTemp(b.memDir, "ctx-")
	if err != nil {
		free()
		return "", none
	}
	opts := "mode=0700,size=" + strconv.FormatInt(2*b.cfg.MemMax, 10)
	if err := unix.Mount("tmpfs", dir, "tmpfs", unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC, opts); err != nil {
		if errors.Is(err, unix.EPERM) {
			b.memOff.Store(true)
		}
		_ = os.Remove(dir)
		free()
		return "", none
	}
	return dir, func() {
		_ = unix.Unmount(dir, unix.MNT_DETACH)
		_ = os.Remove(dir)
		free()
	}
}

// Close waits for finished builds' contexts to be removed and removes
// MemDir. Builds must have ended.
func (b *Builder) Close() error {
	b.cleanup.Wait()
	if b.memDir == "" {
		return nil
	}
	dir := b.memDir
	b.memDir = ""
	if err := clearMemDir(dir); err != nil {
		return fmt.Errorf("build: %w", err)
	}
	return os.Remove(dir)
}
