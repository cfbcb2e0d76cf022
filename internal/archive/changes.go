package archive

import (
	"errors"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sort"
	"syscall"

	"golang.org/x/sys/unix"
)

// ChangeKind is docker diff's letter: C, A or D (the Engine API's 0, 1, 2).
type ChangeKind uint8

// The kinds, numbered as the Engine API numbers them.
const (
	ChangeModify ChangeKind = iota
	ChangeAdd
	ChangeDelete
)

// Change is one path a layer changed, "/"-rooted.
type Change struct {
	Path string
	Kind ChangeKind
}

// changeSet collects changes and marks the parents of every change as
// modified, as dockerd does (a file added to /etc makes "C /etc").
type changeSet struct {
	m map[string]ChangeKind
}

func (c *changeSet) add(rel string, k ChangeKind) {
	p := "/" + rel
	if old, ok := c.m[p]; ok && old != ChangeModify {
		return
	}
	c.m[p] = k
	for d := path.Dir(p); d != "/"; d = path.Dir(d) {
		if _, ok := c.m[d]; ok {
			break
		}
		c.m[d] = ChangeModify
	}
}

func (c *changeSet) list() []Change {
	out := make([]Change, 0, len(c.m))
	for p, k := range c.m {
		out = append(out, Change{Path: p, Kind: k})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Path < out[j].Path })
	return out
}

// Changes lists what turns the tree lower into the tree upper, both full
// copies (the vfs driver), by walking both.
func Changes(lower, upper string) ([]Change, error) {
	cs := &changeSet{m: map[string]ChangeKind{}}
	var walk func(rel string) error
	walk = func(rel string) error {
		ents, err := os.ReadDir(filepath.Join(upper, rel))
		if err != nil {
			return err
		}
		seen := map[string]bool{}
		for _, e := range ents {
			seen[e.Name()] = true
			r := path.Join(rel, e.Name())
			fi, err := e.Info()
			if err != nil {
				return err
			}
			lfi, lerr := os.Lstat(filepath.Join(lower, r))
			if errors.Is(lerr, syscall.ENOTDIR) {
				lerr = fs.ErrNotExist
			}
			switch {
			case errors.Is(lerr, fs.ErrNotExist):
				cs.add(r, ChangeAdd)
				if fi.IsDir() {
					addTree(cs, filepath.Join(upper, r), r)
				}
				continue
			case lerr != nil:
				return lerr
			}
			if !sameEntry(filepath.Join(lower, r), filepath.Join(upper, r), lfi, fi) {
				cs.add(r, ChangeModify)
			}
			if fi.IsDir() {
				if lfi.IsDir() {
					if err := walk(r); err != nil {
						return err
					}
				} else {
					addTree(cs, filepath.Join(upper, r), r)
				}
			}
		}
		lents, err := os.ReadDir(filepath.Join(lower, rel))
		if err != nil && !errors.Is(err, fs.ErrNotExist) && !errors.Is(err, syscall.ENOTDIR) {
			return err
		}
		for _, e := range lents {
			if !seen[e.Name()] {
				cs.add(path.Join(rel, e.Name()), ChangeDelete)
			}
		}
		return nil
	}
	if err := walk(""); err != nil {
		return nil, err
	}
	return cs.list(), nil
}

// addTree marks everything under a new directory as added.
func addTree(cs *changeSet, dir, rel string) {
	_ = filepath.WalkDir(dir, func(p string, e fs.DirEntry, err error) error {
		if err != nil || p == dir {
			return nil
		}
		r, _ := filepath.Rel(dir, p)
		cs.add(path.Join(rel, filepath.ToSlash(r)), ChangeAdd)
		return nil
	})
}

// OverlayChanges lists an overlay upper directory's changes, reading its
// whiteouts (0:0 character devices) and opaque markers directly; lowers
// (topmost first) only tell an added path from a modified one.
func OverlayChanges(upper string, lowers []string) ([]Change, error) {
	cs := &changeSet{m: map[string]ChangeKind{}}
	inLower := func(rel string) bool {
		for _, l := range lowers {
			fi, err := os.Lstat(filepath.Join(l, rel))
			if err != nil {
				continue
			}
			if isWhiteoutDev(fi) {
				return false
			}
			return true
		}
		return false
	}
	err := filepath.WalkDir(upper, func(p string, e fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if p == upper {
			return nil
		}
		rel, err := filepath.Rel(upper, p)
		if err != nil {
			return err
		}
		rel = filepath.ToSlash(rel)
		fi, err := e.Info()
		if err != nil {
			return err
		}
		if isWhiteoutDev(fi) {
			cs.add(rel, ChangeDelete)
			return nil
		}
		if !inLower(rel) {
			cs.add(rel, ChangeAdd)
			return nil
		}
		if fi.IsDir() {
			if isOpaque(p) {
				// Everything the lowers had below is gone unless rewritten.
				for _, l := range lowers {
					ents, _ := os.ReadDir(filepath.Join(l, rel))
					for _, le := range ents {
						if _, err := os.Lstat(filepath.Join(p, le.Name())); errors.Is(err, fs.ErrNotExist) {
							cs.add(path.Join(rel, le.Name()), ChangeDelete)
						}
					}
				}
				cs.add(rel, ChangeModify)
			}
			// A directory copied up only because of its children is
			// marked by them; one whose own attributes changed is marked
			// here.
			if lfi, err := lowerStat(lowers, rel); err == nil && !sameDirAttrs(lfi, fi) {
				cs.add(rel, ChangeModify)
			}
			return nil
		}
		cs.add(rel, ChangeModify)
		return nil
	})
	if err != nil {
		return nil, err
	}
	return cs.list(), nil
}

func lowerStat(lowers []string, rel string) (fs.FileInfo, error) {
	for _, l := range lowers {
		if fi, err := os.Lstat(filepath.Join(l, rel)); err == nil {
			return fi, nil
		}
	}
	return nil, fs.ErrNotExist
}

func sameDirAttrs(a, b fs.FileInfo) bool {
	as, bs := a.Sys().(*syscall.Stat_t), b.Sys().(*syscall.Stat_t)
	return as.Mode == bs.Mode && as.Uid == bs.Uid && as.Gid == bs.Gid
}

func isWhiteoutDev(fi fs.FileInfo) bool {
	st, ok := fi.Sys().(*syscall.Stat_t)
	return ok && fi.Mode()&fs.ModeCharDevice != 0 && st.Rdev == 0 && st.Mode&unix.S_IFMT == unix.S_IFCHR
}
