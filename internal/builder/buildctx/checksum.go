package buildctx

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"hash"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
)

// Checksum is the content digest ("sha256:...") of sources as COPY/ADD
// cache keys use it: paths (relative to each source), modes, link
// targets and file contents; not times or owners.
//
// The digest is sha256 over one record per source, then one per entry
// (the source itself as ".", then a directory's entries depth first in
// lexical order, .dockerignore'd ones skipped):
//
//	"S" name NUL                             (the source's base name)
//	"E" rel NUL type mode-octal NUL payload NUL
//
// type is one of d f l c b p s; payload is a file's content sha256 (hex),
// a symlink's target, a device's number, or empty.
func Checksum(srcs []Source) (string, error) {
	h := sha256.New()
	buf := getBuf()
	defer putBuf(buf)
	for _, s := range srcs {
		fmt.Fprintf(h, "S%s\x00", s.name())
		if err := s.hashTree(h, ".", filepath.Join(s.Root, filepath.FromSlash(s.Rel)), s.Info, buf); err != nil {
			return "", fmt.Errorf("checksum %s: %w", s.Rel, err)
		}
	}
	return "sha256:" + hex.EncodeToString(h.Sum(nil)), nil
}

func (s Source) hashTree(h io.Writer, rel, p string, fi fs.FileInfo, buf *[]byte) error {
	if fi == nil {
		var err error
		if fi, err = os.Lstat(p); err != nil {
			return err
		}
	}
	mode := fi.Mode()
	var typ byte
	var payload string
	switch {
	case mode.IsRegular():
		typ = 'f'
		sum, err := s.fileDigest(p, fi, buf)
		if err != nil {
			return err
		}
		payload = sum
	case mode.IsDir():
		typ = 'd'
	case mode&os.ModeSymlink != 0:
		typ = 'l'
		target, err := os.Readlink(p)
		if err != nil {
			return err
		}
		payload = target
	case mode&os.ModeCharDevice != 0:
		typ = 'c'
	case mode&os.ModeDevice != 0:
		typ = 'b'
	case mode&os.ModeNamedPipe != 0:
		typ = 'p'
	default:
		typ = 's'
	}
	if typ == 'c' || typ == 'b' {
		if st, ok := fi.Sys().(*syscall.Stat_t); ok {
			payload = strconv.FormatUint(st.Rdev, 10)
		}
	}
	fmt.Fprintf(h, "E%s\x00%c%o\x00%s\x00", rel, typ, uint32(mode&modeBits), payload)
	if typ != 'd' {
		return nil
	}
	return s.eachChild(rel, p, func(childRel, cp string, ci fs.FileInfo) error {
		return s.hashTree(h, childRel, cp, ci, buf)
	})
}

func (s Source) fileDigest(p string, fi fs.FileInfo, buf *[]byte) (string, error) {
	key, keyed := cacheKey(p, fi)
	if keyed && s.hashes != nil {
		if sum, ok := s.hashes.get(key); ok {
			return sum, nil
		}
	}
	f, err := os.Open(p)
	if err != nil {
		return "", err
	}
	defer f.Close()
	fh := sha256.New()
	if _, err := io.CopyBuffer(hashWriter{fh}, f, *buf); err != nil {
		return "", err
	}
	sum := hex.EncodeToString(fh.Sum(nil))
	if keyed && s.hashes != nil {
		s.hashes.put(key, sum)
	}
	return sum, nil
}

// hashWriter hides nothing but keeps io.CopyBuffer on our buffer.
type hashWriter struct{ hash.Hash }

func (w hashWriter) Write(p []byte) (int, error) { return w.Hash.Write(p) }

// fileKey identifies one version of a file: a rewrite changes its size,
// mtime or ctime, a replacement its inode.
type fileKey struct {
	path         string
	size         int64
	mtime, ctime int64 // ns
	ino, dev     uint64
}

func cacheKey(p string, fi fs.FileInfo) (fileKey, bool) {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return fileKey{}, false
	}
	return fileKey{
		path:  p,
		size:  fi.Size(),
		mtime: st.Mtim.Sec*1e9 + st.Mtim.Nsec,
		ctime: st.Ctim.Sec*1e9 + st.Ctim.Nsec,
		ino:   st.Ino,
		dev:   st.Dev,
	}, true
}

// hashCache remembers file content digests for one Context.
type hashCache struct {
	mu sync.Mutex
	m  map[fileKey]string
}

func newHashCache() *hashCache { return &hashCache{m: map[fileKey]string{}} }

func (c *hashCache) get(k fileKey) (string, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	s, ok := c.m[k]
	return s, ok
}

func (c *hashCache) put(k fileKey, sum string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.m[k] = sum
}

var bufPool = sync.Pool{New: func() any { b := make([]byte, 1<<20); return &b }}

func getBuf() *[]byte  { return bufPool.Get().(*[]byte) }
func putBuf(b *[]byte) { bufPool.Put(b) }
