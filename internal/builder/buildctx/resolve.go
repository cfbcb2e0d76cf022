package buildctx

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"
	"syscall"

	securejoin "github.com/cyphar/filepath-securejoin"

	"github.com/berth-dev/berth/internal/errdefs"
)

// Source is one resolved COPY/ADD source.
type Source struct {
	Root string      // the tree it is in (a context's Root or an image's rootfs)
	Rel  string      // its path relative to Root, cleaned, "/"-separated ("." = the root itself)
	Info os.FileInfo // Lstat of it
	// Name is the source's base name as the instruction named it (or as
	// a wildcard matched it), before symlinks were followed: a file
	// copied into a directory gets this name, as with dockerd. "" means
	// path.Base(Rel).
	Name string

	excluded func(rel string) bool // .dockerignore (nil: none), skipped inside directories
	hashes   *hashCache            // the context's digest cache (nil: none)
}

func (s Source) name() string {
	if s.Name != "" {
		return s.Name
	}
	return path.Base(s.Rel)
}

// eachChild calls fn, in name order, for each entry of the directory
// dir (the source's rel below it) that .dockerignore keeps, with the
// entry's rel, path and Lstat info: what hashing and copying a
// directory source both walk.
func (s Source) eachChild(rel, dir string, fn func(childRel, p string, fi fs.FileInfo) error) error {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	for _, e := range entries {
		childRel := path.Join(rel, e.Name())
		if s.excluded != nil && s.excluded(path.Join(s.Rel, childRel)) {
			continue
		}
		fi, err := e.Info()
		if err != nil {
			return err
		}
		if err := fn(childRel, filepath.Join(dir, e.Name()), fi); err != nil {
			return err
		}
	}
	return nil
}

// Resolve expands one COPY/ADD source (wildcards as filepath.Match,
// inside root only; symlinks inside root are followed but never out of
// it). Errors (as dockerd's classic builder words them):
//   - a path leaving root: errdefs.InvalidArgument "forbidden path outside the build context: ../x ()"
//   - missing / excluded by .dockerignore (excluded != nil and
//     excluded(rel)): errdefs.NotFound
//     "file not found in build context or excluded by .dockerignore: stat x: file does not exist"
//
// A wildcard that matches nothing is no error but no sources, as in
// dockerd, whose COPY fails only when all its sources together are none
// ("no source files were specified", the caller's to say).
func Resolve(root, src string, excluded func(rel string) bool) ([]Source, error) {
	return resolve(root, src, excluded, nil)
}

// Resolve is Resolve(c.Root, src, <c's .dockerignore>); its sources share
// c's checksum cache.
func (c *Context) Resolve(src string) ([]Source, error) {
	return resolve(c.Root, src, c.excluded, c.hashes)
}

func resolve(root, src string, excluded func(string) bool, hashes *hashCache) ([]Source, error) {
	// dockerd trims one leading "/" and "./"; what is left must not climb out.
	orig := strings.TrimPrefix(strings.TrimPrefix(src, "/"), "./")
	clean := path.Clean(orig)
	if clean == ".." || strings.HasPrefix(clean, "../") {
		return nil, errdefs.InvalidArgumentf("forbidden path outside the build context: %s ()", src)
	}
	if strings.HasPrefix(clean, "/") { // "//x"
		clean = strings.TrimLeft(clean, "/")
		if clean == "" {
			clean = "."
		}
	}
	if containsWildcards(clean) {
		rels, err := matchWildcards(root, clean, excluded)
		if err != nil {
			return nil, err
		}
		srcs := make([]Source, 0, len(rels))
		for _, rel := range rels {
			s, err := resolveOne(root, rel, rel, excluded, hashes)
			if err != nil {
				return nil, err
			}
			srcs = append(srcs, s)
		}
		return srcs, nil
	}
	s, err := resolveOne(root, clean, orig, excluded, hashes)
	if err != nil {
		return nil, err
	}
	return []Source{s}, nil
}

func notFound(name string) error {
	return errdefs.With(errdefs.NotFound, fmt.Errorf("file not found in build context or excluded by .dockerignore: %w",
		&os.PathError{Op: "stat", Path: name, Err: os.ErrNotExist}))
}

// resolveOne follows rel's symlinks inside root.
func resolveOne(root, rel, orig string, excluded func(string) bool, hashes *hashCache) (Source, error) {
	if excluded != nil && excluded(rel) {
		return Source{}, notFound(orig)
	}
	full, err := securejoin.SecureJoin(root, rel)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) || errors.Is(err, fs.ErrInvalid) {
			return Source{}, notFound(orig)
		}
		return Source{}, errdefs.InvalidArgumentf("resolve %s: %w", orig, err)
	}
	real, err := filepath.Rel(root, full)
	if err != nil {
		return Source{}, err
	}
	real = filepath.ToSlash(real)
	if excluded != nil && real != rel && excluded(real) {
		return Source{}, notFound(orig)
	}
	fi, err := os.Lstat(full)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) || errors.Is(err, syscall.ENOTDIR) {
			return Source{}, notFound(orig)
		}
		return Source{}, err
	}
	return Source{Root: root, Rel: real, Info: fi, Name: path.Base(rel), excluded: excluded, hashes: hashes}, nil
}

// containsWildcards is dockerd's test: an unescaped *, ? or [.
func containsWildcards(name string) bool {
	for i := 0; i < len(name); i++ {
		switch name[i] {
		case '\\':
			i++
		case '*', '?', '[':
			return true
		}
	}
	return false
}

// matchWildcards lists the paths under root that pattern matches, in
// lexical order, as dockerd's classic builder does (filepath.Match on the
// whole relative path, so each element matches separately and "dir/*.txt"
// finds files in dir). Symlinks are matched as themselves, never walked
// into. The walk starts at the pattern's literal leading directories and
// stops at the pattern's depth.
func matchWildcards(root, pattern string, excluded func(string) bool) ([]string, error) {
	if _, err := path.Match(pattern, ""); err != nil {
		return nil, nil // a bad pattern matches nothing, as in dockerd
	}
	elems := strings.Split(pattern, "/")
	start := "."
	for _, e := range elems[:len(elems)-1] {
		if containsWildcards(e) || strings.Contains(e, "\\") {
			break
		}
		start = path.Join(start, e)
	}
	// The literal prefix must be real directories: walking "a/b" when a
	// is a symlink would leave root.
	for dir := start; dir != "."; dir = path.Dir(dir) {
		fi, err := os.Lstat(filepath.Join(root, dir))
		if err != nil || !fi.IsDir() {
			return nil, nil
		}
	}
	depth := len(elems)
	var out []string
	err := filepath.WalkDir(filepath.Join(root, start), func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if p == filepath.Join(root, start) {
				return fs.SkipAll
			}
			return nil // unreadable: unmatched
		}
		rel, rerr := filepath.Rel(root, p)
		if rerr != nil {
			return rerr
		}
		rel = filepath.ToSlash(rel)
		if rel == "." {
			return nil
		}
		n := strings.Count(rel, "/") + 1
		if n == depth {
			if ok, _ := path.Match(pattern, rel); ok && (excluded == nil || !excluded(rel)) {
				out = append(out, rel)
			}
			if d.IsDir() {
				return fs.SkipDir
			}
			return nil
		}
		if d.IsDir() {
			// Only a directory matching the pattern's prefix can hold a match.
			prefix := strings.Join(elems[:n], "/")
			if ok, _ := path.Match(prefix, rel); !ok {
				return fs.SkipDir
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}
