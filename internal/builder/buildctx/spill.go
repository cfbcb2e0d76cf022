package buildctx

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"syscall"
)

// spill moves a context being unpacked in memory to a new directory under
// x.diskDir: everything written so far is copied as it is (directories
// 0700 until finishDirs as in a direct unpack, files with their modes,
// times, capabilities and hardlinks, symlinks as symlinks) and its
// digests rekeyed; the rest of the tar then streams there.
func (x *extractor) spill() (retErr error) {
	dst, err := os.MkdirTemp(x.diskDir, "context-")
	if err != nil {
		return fmt.Errorf("move build context to disk: %w", err)
	}
	defer func() {
		if retErr != nil {
			_ = removeTree(dst)
			retErr = fmt.Errorf("move build context to disk: %w", retErr)
		}
	}()
	rels := make([]string, 0, len(x.seen))
	for rel := range x.seen {
		rels = append(rels, rel)
	}
	sort.Strings(rels) // a directory before what it holds
	links := map[fileID]string{}
	for _, rel := range rels {
		from, to := filepath.Join(x.root, rel), filepath.Join(dst, rel)
		fi, err := os.Lstat(from)
		if err != nil {
			return err
		}
		if x.seen[rel] == kindDir {
			mode := os.FileMode(0o755) // made by mkParents
			if _, ok := x.dirs[rel]; ok {
				mode = 0o700 // a tar entry: finishDirs sets it
			}
			if err := os.Mkdir(to, mode); err != nil {
				return err
			}
			continue
		}
		if st, ok := fi.Sys().(*syscall.Stat_t); ok && st.Nlink > 1 {
			id := fileID{uint64(st.Dev), st.Ino}
			if first, ok := links[id]; ok {
				if err := os.Link(first, to); err != nil {
					return err
				}
				continue
			}
			links[id] = to
		}
		if fi.Mode()&os.ModeSymlink != 0 {
			target, err := os.Readlink(from)
			if err != nil {
				return err
			}
			if err := os.Symlink(target, to); err != nil {
				return err
			}
		} else if err := copyRegular(from, to, fi); err != nil {
			return err
		}
		if err := setTimes(to, fi.ModTime()); err != nil {
			return err
		}
	}
	// digests move with their files (after all links: a link changes
	// its target's ctime)
	for _, rel := range rels {
		if x.seen[rel] != kindFile {
			continue
		}
		from, to := filepath.Join(x.root, rel), filepath.Join(dst, rel)
		ofi, err1 := os.Lstat(from)
		nfi, err2 := os.Lstat(to)
		if err1 != nil || err2 != nil || !ofi.Mode().IsRegular() {
			continue
		}
		okey, ok1 := cacheKey(from, ofi)
		nkey, ok2 := cacheKey(to, nfi)
		if ok1 && ok2 {
			if sum, ok := x.hashes.get(okey); ok {
				x.hashes.put(nkey, sum)
			}
		}
	}
	old := x.root
	x.root, x.inMem = dst, false
	_ = removeTree(old)
	return nil
}

// copyRegular copies a file the extractor wrote: content, mode and
// file capabilities.
func copyRegular(from, to string, fi os.FileInfo) error {
	in, err := os.Open(from)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(to, os.O_WRONLY|os.O_CREATE|os.O_EXCL|syscall.O_NOFOLLOW|syscall.O_CLOEXEC, 0o600)
	if err != nil {
		return err
	}
	_, err = io.Copy(out, in)
	if err == nil {
		err = out.Chmod(fi.Mode() & modeBits)
	}
	if err == nil {
		err = copyCapability(in, out)
	}
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	return err
}
