package storage

import (
	"io/fs"
	"path/filepath"
	"syscall"
)

// DirUsage sums the space a directory tree uses, counting a hardlinked
// inode once: the layer size dockerd reports.
func DirUsage(dir string) (Usage, error) {
	var u Usage
	seen := map[uint64]bool{}
	err := filepath.WalkDir(dir, func(p string, e fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		fi, err := e.Info()
		if err != nil {
			return err
		}
		if st, ok := fi.Sys().(*syscall.Stat_t); ok && st.Nlink > 1 && !fi.IsDir() {
			if seen[st.Ino] {
				return nil
			}
			seen[st.Ino] = true
		}
		u.Inodes++
		if !fi.IsDir() {
			u.Size += fi.Size()
		}
		return nil
	})
	return u, err
}
