package builder

import (
	"fmt"
	"strings"
	"sync"
)

// progress writes the classic builder's stream. In quiet mode it holds
// everything back: a successful build then prints only the image ID, a
// failed one flushes what it held so the user sees where it broke (as
// dockerd's notVerboseBuffer does). It is safe for concurrent use: a
// backend may copy a RUN's stdout and stderr from two goroutines.
//
// Between hold and flush, lines wait in memory too: a step holds its
// lines until it turns out to need work (a cache miss flushes), so a
// cached rebuild's steps go out as one message, not three per step,
// while a RUN's output still streams as it comes.
type progress struct {
	mu      sync.Mutex
	out     Output
	quiet   bool
	held    strings.Builder
	err     error // the first write error (the client went away)
	batch   bool  // hold was called and flush not yet
	pending strings.Builder
}

func (p *progress) stream(s string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.err != nil || s == "" {
		return
	}
	if p.quiet {
		p.held.WriteString(s)
		return
	}
	if p.batch {
		p.pending.WriteString(s)
		return
	}
	p.err = p.out.Stream(s)
}

// hold keeps lines back until flush.
func (p *progress) hold() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.batch = true
}

// flush sends what hold kept, and lines go out as they come again.
func (p *progress) flush() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.batch = false
	if p.pending.Len() > 0 && p.err == nil {
		p.err = p.out.Stream(p.pending.String())
	}
	p.pending.Reset()
}

func (p *progress) printf(format string, args ...any) { p.stream(fmt.Sprintf(format, args...)) }

// Write takes a RUN step's output.
func (p *progress) Write(b []byte) (int, error) {
	p.stream(string(b))
	if err := p.failed(); err != nil {
		return 0, err
	}
	return len(b), nil
}

// failed is the first write error, if any.
func (p *progress) failed() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.err
}

// flushHeld sends what quiet mode held back (after a failure).
func (p *progress) flushHeld() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.quiet && p.held.Len() > 0 && p.err == nil {
		p.err = p.out.Stream(p.held.String())
		p.held.Reset()
	}
}

// shortID is dockerd's stringid.TruncateID: 12 hex digits, no algorithm.
func shortID(id string) string {
	if _, hex, ok := strings.Cut(id, ":"); ok {
		id = hex
	}
	if len(id) > 12 {
		id = id[:12]
	}
	return id
}

// stderrWriter is a RUN's stderr: each write framed in red, as dockerd's
// StderrFormatter does.
type stderrWriter struct{ p *progress }

func (w stderrWriter) Write(b []byte) (int, error) {
	w.p.stream("\033[91m" + string(b) + "\033[0m")
	if err := w.p.failed(); err != nil {
		return 0, err
	}
	return len(b), nil
}
