package archive

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"

	pathrs "github.com/cyphar/filepath-securejoin/pathrs-lite"
	"golang.org/x/sys/unix"

	"github.com/berth-dev/berth/internal/errdefs"
)

// A Split records a layer tar's bytes except regular files' contents, so
// that the very same tar (same diff ID) can be written again later from
// the applied files (docker save, push), as tar-split does for dockerd.
//
// Format: a sequence of records,
//
//	'R' uvarint(n) <n raw bytes>           headers, padding, trailer
//	'F' uvarint(len) <path> uvarint(size)  a regular file's content, read
//	                                       back from <root>/<path>
type Split struct {
	w         *bufio.Writer
	raw       []byte
	inContent bool
	err       error
}

// NewSplit records into w (call Flush when Apply returns).
func NewSplit(w io.Writer) *Split { return &Split{w: bufio.NewWriter(w)} }

type splitReader struct {
	s *Split
	r io.Reader
}

func (r *splitReader) Read(p []byte) (int, error) {
	n, err := r.r.Read(p)
	if n > 0 && !r.s.inContent {
		r.s.raw = append(r.s.raw, p[:n]...)
		if len(r.s.raw) >= 64<<10 {
			r.s.flushRaw()
		}
	}
	return n, err
}

func (s *Split) wrap(r io.Reader) io.Reader {
	if s == nil {
		return r
	}
	return &splitReader{s: s, r: r}
}

func (s *Split) flushRaw() {
	if len(s.raw) == 0 || s.err != nil {
		return
	}
	s.record('R', nil, s.raw)
	s.raw = s.raw[:0]
}

func (s *Split) record(kind byte, path []byte, raw []byte) {
	var b [binary.MaxVarintLen64]byte
	_ = s.w.WriteByte(kind)
	if kind == 'R' {
		_, _ = s.w.Write(b[:binary.PutUvarint(b[:], uint64(len(raw)))])
		_, s.err = s.w.Write(raw)
		return
	}
	_, _ = s.w.Write(b[:binary.PutUvarint(b[:], uint64(len(path)))])
	_, s.err = s.w.Write(path)
}

// content marks the next size bytes as rel's content.
func (s *Split) content(rel string, size int64) {
	if s == nil {
		return
	}
	s.flushRaw()
	s.record('F', []byte(rel), nil)
	var b [binary.MaxVarintLen64]byte
	_, s.err = s.w.Write(b[:binary.PutUvarint(b[:], uint64(size))])
	s.inContent = true
}

func (s *Split) contentDone() {
	if s != nil {
		s.inContent = false
	}
}

// Flush writes what is buffered.
func (s *Split) Flush() error {
	s.flushRaw()
	if s.err != nil {
		return s.err
	}
	return s.w.Flush()
}

// WriteSplit writes the tar a Split recorded, reading file contents from
// root (in root's scope: a symlink in the layer never leads outside it).
// A file that changed size since is an error.
func WriteSplit(w io.Writer, split io.Reader, root string) error {
	rootf, err := os.Open(root)
	if err != nil {
		return err
	}
	defer rootf.Close()
	br := bufio.NewReader(split)
	for {
		kind, err := br.ReadByte()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		n, err := binary.ReadUvarint(br)
		if err != nil {
			return fmt.Errorf("read tar split: %w", err)
		}
		switch kind {
		case 'R':
			if _, err := io.CopyN(w, br, int64(n)); err != nil {
				return fmt.Errorf("read tar split: %w", err)
			}
		case 'F':
			p := make([]byte, n)
			if _, err := io.ReadFull(br, p); err != nil {
				return fmt.Errorf("read tar split: %w", err)
			}
			size, err := binary.ReadUvarint(br)
			if err != nil {
				return fmt.Errorf("read tar split: %w", err)
			}
			if err := copyContent(w, rootf, string(p), int64(size)); err != nil {
				return err
			}
		default:
			return errdefs.InvalidArgumentf("read tar split: bad record %q", kind)
		}
	}
}

func copyContent(w io.Writer, root *os.File, rel string, size int64) error {
	h, err := pathrs.OpenatInRoot(root, rel)
	if err != nil {
		return fmt.Errorf("layer file %s: %w", rel, err)
	}
	f, err := pathrs.Reopen(h, unix.O_RDONLY|unix.O_CLOEXEC)
	h.Close()
	if err != nil {
		return fmt.Errorf("layer file %s: %w", rel, err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return err
	}
	if !fi.Mode().IsRegular() || fi.Size() != size {
		return fmt.Errorf("layer file %s changed since the layer was stored", rel)
	}
	_, err = io.CopyN(w, f, size)
	return err
}

// SplitSize is the size of the tar a Split recorded, read from the split
// alone.
func SplitSize(split io.Reader) (int64, error) {
	br := bufio.NewReader(split)
	var n int64
	for {
		kind, err := br.ReadByte()
		if errors.Is(err, io.EOF) {
			return n, nil
		}
		if err != nil {
			return 0, err
		}
		l, err := binary.ReadUvarint(br)
		if err != nil {
			return 0, fmt.Errorf("read tar split: %w", err)
		}
		switch kind {
		case 'R':
			n += int64(l)
			if _, err := br.Discard(int(l)); err != nil {
				return 0, fmt.Errorf("read tar split: %w", err)
			}
		case 'F':
			if _, err := br.Discard(int(l)); err != nil {
				return 0, fmt.Errorf("read tar split: %w", err)
			}
			size, err := binary.ReadUvarint(br)
			if err != nil {
				return 0, fmt.Errorf("read tar split: %w", err)
			}
			n += int64(size)
		default:
			return 0, errdefs.InvalidArgumentf("read tar split: bad record %q", kind)
		}
	}
}
