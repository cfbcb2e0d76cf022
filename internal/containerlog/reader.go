package containerlog

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"golang.org/x/sys/unix"
)

// ReadOptions selects the entries Read yields.
type ReadOptions struct {
	// Tail keeps only the last Tail entries present when Read starts;
	// negative means all. Tail applies before Since/Until, as in Docker.
	Tail int
	// Since and Until bound entry times (Since inclusive, Until
	// inclusive); zero values are unbounded. Read returns once an entry
	// is after Until.
	Since, Until time.Time
	// Follow keeps reading entries as they are written, across rotation,
	// until ctx ends (Read returns ctx.Err()) or Done is closed.
	Follow bool
	// Done, when closed during Follow, makes Read yield what has been
	// written so far and return nil: the caller closes it once the
	// container has exited (the monitor closes the log before it records
	// the exit, so nothing is missed).
	Done <-chan struct{}
}

// ErrStop may be returned by Read's callback to end reading early; Read
// then returns nil.
var ErrStop = errors.New("stop reading log")

// Read calls fn for each selected entry of the log at path (and its rotated
// files), oldest first. A missing log is an empty one. Lines that are not
// complete JSON entries (a writer killed mid-write) are skipped.
func Read(ctx context.Context, path string, opts ReadOptions, fn func(Message) error) error {
	r := &reader{ctx: ctx, path: path, opts: opts, fn: fn}
	err := r.run(ctx)
	if errors.Is(err, ErrStop) || errors.Is(err, errUntil) {
		return nil
	}
	return err
}

var errUntil = errors.New("past until")

type reader struct {
	ctx  context.Context
	path string
	opts ReadOptions
	fn   func(Message) error
}

type openFile struct {
	f   *os.File
	off int64
}

func (r *reader) run(ctx context.Context) error {
	files, err := r.openAll()
	if err != nil {
		return err
	}
	defer func() {
		for _, of := range files {
			if of.f != nil {
				of.f.Close()
			}
		}
	}()
	if r.opts.Tail >= 0 {
		if err := tailOffsets(files, r.opts.Tail); err != nil {
			return err
		}
	}
	// All but the newest file are complete: read them to the end.
	for i := 0; i < len(files)-1; i++ {
		if _, err := r.readFrom(files[i].f, files[i].off); err != nil {
			return err
		}
	}
	var cur *os.File
	var off int64
	if n := len(files); n > 0 && files[n-1].f != nil && isCurrent(files[n-1].f, r.path) {
		cur, off = files[n-1].f, files[n-1].off
		files[n-1].f = nil // now owned below
	} else if n > 0 && files[n-1].f != nil {
		// Rotated between listing and opening: read it as complete.
		if _, err := r.readFrom(files[n-1].f, files[n-1].off); err != nil {
			return err
		}
	}
	if !r.opts.Follow {
		if cur != nil {
			defer cur.Close()
			_, err := r.readFrom(cur, off)
			return err
		}
		return nil
	}
	return r.follow(ctx, cur, off)
}

// openAll opens path.N ... path.1, path (oldest first), skipping missing.
func (r *reader) openAll() ([]openFile, error) {
	var files []openFile
	names := []string{r.path}
	for i := 1; ; i++ {
		name := rotated(r.path, i)
		if _, err := os.Lstat(name); err != nil {
			break
		}
		names = append(names, name)
	}
	for i := len(names) - 1; i >= 0; i-- {
		f, err := os.Open(names[i])
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		if err != nil {
			for _, of := range files {
				of.f.Close()
			}
			return nil, fmt.Errorf("read log: %w", err)
		}
		files = append(files, openFile{f: f})
	}
	return files, nil
}

func isCurrent(f *os.File, path string) bool {
	a, err1 := f.Stat()
	b, err2 := os.Stat(path)
	return err1 == nil && err2 == nil && os.SameFile(a, b)
}

// tailOffsets sets each file's start so that n complete lines remain in
// total, counting from the newest file back.
func tailOffsets(files []openFile, n int) error {
	for i := len(files) - 1; i >= 0; i-- {
		st, err := files[i].f.Stat()
		if err != nil {
			return fmt.Errorf("read log: %w", err)
		}
		off, found, err := tailOffset(files[i].f, st.Size(), n)
		if err != nil {
			return err
		}
		files[i].off = off
		if n -= found; n == 0 {
			for j := 0; j < i; j++ {
				files[j].off = -1 // older than the tail: skip
			}
			return nil
		}
	}
	return nil
}

// tailOffset returns the offset where the last n complete lines of f
// start, and how many complete lines it found (<= n). A trailing fragment
// without "\n" is not a line.
func tailOffset(f *os.File, size int64, n int) (int64, int, error) {
	if n == 0 {
		return size, 0, nil
	}
	const block = 32 * 1024
	buf := make([]byte, block)
	newlines := 0
	end := size
	for end > 0 {
		start := max(end-block, 0)
		b := buf[:end-start]
		if _, err := f.ReadAt(b, start); err != nil && err != io.EOF {
			return 0, 0, fmt.Errorf("read log: %w", err)
		}
		for i := len(b) - 1; i >= 0; i-- {
			if b[i] != '\n' {
				continue
			}
			newlines++
			if newlines == n+1 {
				return start + int64(i) + 1, n, nil
			}
		}
		end = start
	}
	return 0, newlines, nil
}

// readFrom delivers the complete lines of f from off (-1: none) and returns
// the offset after the last one; a trailing fragment is left unread.
func (r *reader) readFrom(f *os.File, off int64) (int64, error) {
	if off < 0 {
		return off, nil
	}
	if _, err := f.Seek(off, io.SeekStart); err != nil {
		return off, fmt.Errorf("read log: %w", err)
	}
	br := bufio.NewReaderSize(f, 32*1024)
	for n := 0; ; n++ {
		if n%1024 == 1023 {
			if err := r.ctx.Err(); err != nil {
				return off, err // a long read stops with its caller
			}
		}
		line, err := br.ReadBytes('\n')
		if err == io.EOF {
			return off, nil // fragment, if any, stays unread
		}
		if err != nil {
			return off, fmt.Errorf("read log: %w", err)
		}
		off += int64(len(line))
		if err := r.deliver(line); err != nil {
			return off, err
		}
	}
}

type jsonEntry struct {
	Log    string    `json:"log"`
	Stream string    `json:"stream"`
	Time   time.Time `json:"time"`
}

func (r *reader) deliver(line []byte) error {
	var e jsonEntry
	if err := json.Unmarshal(line, &e); err != nil || e.Time.IsZero() {
		return nil // torn or foreign line: skip
	}
	if !r.opts.Since.IsZero() && e.Time.Before(r.opts.Since) {
		return nil
	}
	if !r.opts.Until.IsZero() && e.Time.After(r.opts.Until) {
		return errUntil
	}
	m := Message{Stream: e.Stream, Line: []byte(e.Log), Time: e.Time}
	m.Partial = len(m.Line) == 0 || m.Line[len(m.Line)-1] != '\n'
	return r.fn(m)
}

// follow reads cur from off, then waits for more, switching to the new
// file when <path> is rotated or appears.
func (r *reader) follow(ctx context.Context, cur *os.File, off int64) error {
	defer func() {
		if cur != nil {
			cur.Close()
		}
	}()
	w := newWatcher(filepath.Dir(r.path))
	defer w.close()
	stop := context.AfterFunc(ctx, w.interrupt)
	defer stop()
	if r.opts.Done != nil {
		done := make(chan struct{})
		defer close(done)
		go func() {
			select {
			case <-r.opts.Done:
				w.interrupt()
			case <-done:
			}
		}()
	}
	for {
		finishing := r.opts.Done != nil && isClosed(r.opts.Done)
		var err error
		if cur == nil {
			cur, err = os.Open(r.path)
			if errors.Is(err, os.ErrNotExist) {
				cur = nil
			} else if err != nil {
				return fmt.Errorf("read log: %w", err)
			}
			off = 0
		}
		if cur != nil {
			if st, err := cur.Stat(); err == nil && st.Size() < off {
				off = 0 // truncated (MaxFiles == 1)
			}
			if off, err = r.readFrom(cur, off); err != nil {
				return err
			}
			if !isCurrent(cur, r.path) {
				// Rotated: the old file is complete once drained again.
				if off, err = r.readFrom(cur, off); err != nil {
					return err
				}
				cur.Close()
				cur = nil
				continue
			}
		}
		if finishing {
			return nil
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		w.wait()
	}
}

func isClosed(ch <-chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}

// watcher waits for changes in a directory with inotify, or at most a
// second (a plain poll when inotify is unavailable).
type watcher struct {
	f *os.File // inotify fd, nil if unavailable
	c chan struct{}
}

func newWatcher(dir string) *watcher {
	w := &watcher{c: make(chan struct{}, 1)}
	fd, err := unix.InotifyInit1(unix.IN_CLOEXEC | unix.IN_NONBLOCK)
	if err != nil {
		return w
	}
	_, err = unix.InotifyAddWatch(fd, dir, unix.IN_MODIFY|unix.IN_CREATE|unix.IN_MOVED_TO|unix.IN_MOVED_FROM|unix.IN_CLOSE_WRITE|unix.IN_DELETE)
	if err != nil {
		unix.Close(fd)
		return w
	}
	w.f = os.NewFile(uintptr(fd), "inotify")
	return w
}

// wait returns after a change, an interrupt, or a second.
func (w *watcher) wait() {
	if w.f == nil {
		select {
		case <-w.c:
		case <-time.After(250 * time.Millisecond):
		}
		return
	}
	select {
	case <-w.c:
		return
	default:
	}
	w.f.SetReadDeadline(time.Now().Add(time.Second))
	select {
	case <-w.c: // interrupted while arming the deadline
		return
	default:
	}
	// One read takes a burst of events (each is 16 bytes + a name).
	var buf [4096]byte
	if _, err := w.f.Read(buf[:]); err != nil && !errors.Is(err, os.ErrDeadlineExceeded) {
		time.Sleep(250 * time.Millisecond) // broken inotify: degrade to polling
	}
}

func (w *watcher) interrupt() {
	select {
	case w.c <- struct{}{}:
	default:
	}
	if w.f != nil {
		w.f.SetReadDeadline(time.Unix(1, 0))
	}
}

func (w *watcher) close() {
	if w.f != nil {
		w.f.Close()
	}
}
