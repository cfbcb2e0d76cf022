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

// setupMemDir makes cfg.MemDir a tmpfs of cfg.MemSize bytes for small
// contexts: one a crash left is emptied and reused, else a new one is
// mounted (nosuid, nodev, noexec, 0700). Unpacking there costs no disk
// inode allocation, which on a busy ext4 costs up to ~1 ms a file and was
// most of a fully cached rebuild. Without the right to mount, builds
// unpack in TmpDir only.
func (b *Builder) setupMemDir() error {
	dir := b.cfg.MemDir
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	if !isTmpfs(dir) {
		opts := "mode=0700,size=" + strconv.FormatInt(b.cfg.MemSize, 10)
		if err := unix.Mount("tmpfs", dir, "tmpfs", unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC, opts); err != nil {
			_ = os.Remove(dir)
			return &os.PathError{Op: "mount tmpfs", Path: dir, Err: err}
		}
	} else if err := emptyDir(dir); err != nil {
		return err
	}
	b.memDir = dir
	b.memSlots = make(chan struct{}, max(1, b.cfg.MemSize/b.cfg.MemMax))
	return nil
}

func isTmpfs(dir string) bool {
	var st unix.Statfs_t
	return unix.Statfs(dir, &st) == nil && st.Type == unix.TMPFS_MAGIC
}

func emptyDir(dir string) error {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	var errs []error
	for _, e := range entries {
		errs = append(errs, os.RemoveAll(filepath.Join(dir, e.Name())))
	}
	return errors.Join(errs...)
}

// memSlot takes a share of the tmpfs for one build's context, if one is
// free; release gives it back (after the context is removed). Shares
// are MemMax bytes each and never add up to more than the tmpfs holds.
func (b *Builder) memSlot() (dir string, release func()) {
	if b.memDir == "" {
		return "", func() {}
	}
	select {
	case b.memSlots <- struct{}{}:
		return b.memDir, func() { <-b.memSlots }
	default:
		return "", func() {}
	}
}

// Close waits for finished builds' contexts to be removed and unmounts
// the tmpfs of MemDir. Builds must have ended.
func (b *Builder) Close() error {
	b.cleanup.Wait()
	if b.memDir == "" {
		return nil
	}
	dir := b.memDir
	b.memDir = ""
	if err := unix.Unmount(dir, unix.MNT_DETACH); err != nil {
		return fmt.Errorf("build: unmount %s: %w", dir, err)
	}
	return os.Remove(dir)
}
