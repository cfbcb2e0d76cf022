package containerlog

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"time"
	"unicode/utf8"
)

// MaxLineSize is the largest "log" chunk of one entry: output of this many
// bytes without a newline becomes a partial entry (Docker's copier buffer).
const MaxLineSize = 16 * 1024

// Message is one log entry.
type Message struct {
	Stream string    // "stdout" or "stderr"
	Line   []byte    // the "log" field verbatim: ends in "\n" unless Partial
	Time   time.Time // when the output was read
	// Partial marks a chunk of a line longer than MaxLineSize that is
	// continued by the next entry of the same stream.
	Partial bool
}

// Config configures a Writer.
type Config struct {
	Path     string // current file; rotated files are Path.1, Path.2, ...
	MaxSize  int64  // rotate once the current file holds this many bytes; 0 = never
	MaxFiles int    // files kept including the current one; < 1 means 1
}

// Writer appends entries to a json-file log. It is safe for concurrent use.
type Writer struct {
	cfg  Config
	mu   sync.Mutex
	f    *os.File
	size int64
}

var bufPool = sync.Pool{New: func() any { return new(bytes.Buffer) }}

// NewWriter opens (creating it if needed) the log at cfg.Path for appending.
func NewWriter(cfg Config) (*Writer, error) {
	if cfg.MaxFiles < 1 {
		cfg.MaxFiles = 1
	}
	if err := os.MkdirAll(filepath.Dir(cfg.Path), 0o700); err != nil {
		return nil, fmt.Errorf("open log %s: %w", cfg.Path, err)
	}
	w := &Writer{cfg: cfg}
	if err := w.open(); err != nil {
		return nil, err
	}
	return w, nil
}

func (w *Writer) open() error {
	f, err := os.OpenFile(w.cfg.Path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o640)
	if err != nil {
		return fmt.Errorf("open log: %w", err)
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return fmt.Errorf("open log: %w", err)
	}
	w.f, w.size = f, st.Size()
	if w.size > 0 {
		// Terminate a line cut short by a writer killed mid-write.
		last := make([]byte, 1)
		if r, err := os.Open(w.cfg.Path); err == nil {
			_, err = r.ReadAt(last, w.size-1)
			r.Close()
			if err == nil && last[0] != '\n' {
				n, _ := w.f.Write([]byte{'\n'})
				w.size += int64(n)
			}
		}
	}
	return nil
}

// WriteMessage appends one entry, rotating first if the file is full.
func (w *Writer) WriteMessage(m Message) error {
	buf := bufPool.Get().(*bytes.Buffer)
	buf.Reset()
	defer func() {
		if buf.Cap() <= 64*1024 {
			bufPool.Put(buf)
		}
	}()
	buf.Write(AppendEntry(buf.AvailableBuffer(), m))

	w.mu.Lock()
	defer w.mu.Unlock()
	if w.f == nil {
		return fmt.Errorf("write log %s: %w", w.cfg.Path, os.ErrClosed)
	}
	var rotErr error
	if w.cfg.MaxSize > 0 && w.size >= w.cfg.MaxSize {
		// A failed rotation keeps appending to the current file: better
		// an oversized log than a lost entry.
		if rotErr = w.rotate(); w.f == nil {
			return rotErr
		}
	}
	n, err := w.f.Write(buf.Bytes())
	w.size += int64(n)
	if err != nil {
		return errors.Join(rotErr, fmt.Errorf("write log: %w", err))
	}
	return rotErr
}

func (w *Writer) rotate() error {
	if w.cfg.MaxFiles == 1 {
		if err := w.f.Truncate(0); err != nil {
			return fmt.Errorf("rotate log: %w", err)
		}
		w.size = 0
		return nil
	}
	if err := w.f.Close(); err != nil {
		return fmt.Errorf("rotate log: %w", err)
	}
	w.f = nil
	var err error
	for i := w.cfg.MaxFiles - 1; i > 1 && err == nil; i-- {
		err = os.Rename(rotated(w.cfg.Path, i-1), rotated(w.cfg.Path, i))
		if os.IsNotExist(err) {
			err = nil
		}
	}
	if err == nil {
		err = os.Rename(w.cfg.Path, rotated(w.cfg.Path, 1))
	}
	// Reopen <path> even after a failed rename: keep logging to it.
	if oerr := w.open(); oerr != nil {
		return errors.Join(err, oerr)
	}
	if err != nil {
		return fmt.Errorf("rotate log: %w", err)
	}
	return nil
}

func rotated(path string, i int) string { return path + "." + strconv.Itoa(i) }

// Close closes the file. Entries written before Close are on disk.
func (w *Writer) Close() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.f == nil {
		return nil
	}
	err := w.f.Close()
	w.f = nil
	return err
}

// Stream returns a writer that turns the bytes of one output stream into
// entries: a line per entry, partial entries for lines over MaxLineSize.
// Bytes of an unfinished line are held (allocated only while one is
// pending) until the newline arrives or the stream is closed.
func (w *Writer) Stream(name string) *StreamWriter {
	return &StreamWriter{w: w, name: name}
}

// StreamWriter splits one stream's output into log entries. It is not safe
// for concurrent use; use one per stream.
type StreamWriter struct {
	w       *Writer
	name    string
	pending []byte
	err     error
}

var _ io.WriteCloser = (*StreamWriter)(nil)

// Write logs every complete line in p and keeps the rest. It reports the
// first write error but always consumes p, so output is never blocked on
// a failing disk.
func (s *StreamWriter) Write(p []byte) (int, error) {
	n := len(p)
	now := time.Now().UTC()
	for len(p) > 0 {
		i := bytes.IndexByte(p, '\n')
		if i < 0 {
			break
		}
		line := p[:i+1]
		if len(s.pending) > 0 {
			line = append(s.pending, line...)
		}
		s.emit(line, now, false)
		s.pending = s.pending[:0]
		if cap(s.pending) > 4096 {
			s.pending = nil
		}
		p = p[i+1:]
	}
	for len(p) > 0 {
		room := MaxLineSize - len(s.pending)
		if len(p) < room {
			s.pending = append(s.pending, p...)
			break
		}
		chunk := p[:room]
		if len(s.pending) > 0 {
			chunk = append(s.pending, chunk...)
		}
		s.emit(chunk, now, true)
		s.pending = s.pending[:0]
		p = p[room:]
	}
	if len(s.pending) == 0 {
		s.pending = nil
	}
	return n, s.err
}

func (s *StreamWriter) emit(line []byte, t time.Time, partial bool) {
	if err := s.w.WriteMessage(Message{Stream: s.name, Line: line, Time: t, Partial: partial}); err != nil && s.err == nil {
		s.err = err
	}
}

// Close logs a pending unfinished line, with "\n" appended as Docker does.
// It does not close the underlying Writer.
func (s *StreamWriter) Close() error {
	if len(s.pending) > 0 {
		s.emit(append(s.pending, '\n'), time.Now().UTC(), false)
		s.pending = nil
	}
	return s.err
}

// AppendEntry appends m's json-file line, with its "\n", to dst.
func AppendEntry(dst []byte, m Message) []byte {
	dst = append(dst, '{')
	first := true
	if len(m.Line) > 0 {
		first = false
		dst = append(dst, `"log":`...)
		dst = appendString(dst, m.Line)
	}
	if m.Stream != "" {
		if !first {
			dst = append(dst, ',')
		}
		first = false
		dst = append(dst, `"stream":`...)
		dst = appendString(dst, []byte(m.Stream))
	}
	if !first {
		dst = append(dst, ',')
	}
	dst = append(dst, `"time":"`...)
	dst = m.Time.UTC().AppendFormat(dst, time.RFC3339Nano)
	return append(dst, '"', '}', '\n')
}

// appendString escapes s exactly as moby's jsonlog does.
func appendString(dst, s []byte) []byte {
	const hex = "0123456789abcdef"
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); {
		if b := s[i]; b < utf8.RuneSelf {
			if 0x20 <= b && b != '\\' && b != '"' && b != '<' && b != '>' && b != '&' {
				i++
				continue
			}
			dst = append(dst, s[start:i]...)
			switch b {
			case '\\', '"':
				dst = append(dst, '\\', b)
			case '\n':
				dst = append(dst, '\\', 'n')
			case '\r':
				dst = append(dst, '\\', 'r')
			default:
				dst = append(dst, '\\', 'u', '0', '0', hex[b>>4], hex[b&0xF])
			}
			i++
			start = i
			continue
		}
		c, size := utf8.DecodeRune(s[i:])
		if c == utf8.RuneError && size == 1 {
			dst = append(dst, s[start:i]...)
			dst = append(dst, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if c == '\u2028' || c == '\u2029' {
			dst = append(dst, s[start:i]...)
			dst = append(dst, '\\', 'u', '2', '0', '2', hex[c&0xF])
			i += size
			start = i
			continue
		}
		i += size
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}
