// Package stream holds the streaming side of the Engine API: the hijacked
// attach connection, Docker's stdout/stderr multiplexing (stdcopy frames),
// and JSON progress streams.
//
// A stdcopy frame is an 8-byte header followed by the payload:
//
//	byte 0     stream: 0 stdin, 1 stdout, 2 stderr, 3 system error
//	bytes 1-3  zero
//	bytes 4-7  payload length, big-endian uint32
//
// The moby api module ships only the reader side (pkg/stdcopy.StdCopy);
// NewStdWriter here is the writer side.
package stream

import (
	"encoding/binary"
	"encoding/json"
	"io"
	"net/http"
	"sync"

	"github.com/moby/moby/api/pkg/stdcopy"
)

// maxFrame bounds one frame's payload so a huge Write becomes several frames.
const maxFrame = 1 << 20

type stdWriter struct {
	w   io.Writer
	typ stdcopy.StdType
}

// NewStdWriter returns a writer that wraps every Write in stdcopy frames of
// stream typ. Each frame goes to w in a single Write call, so writers of
// different streams may share a w that is safe for concurrent Writes (a
// net.Conn, or a LockedWriter).
func NewStdWriter(w io.Writer, typ stdcopy.StdType) io.Writer {
	return &stdWriter{w: w, typ: typ}
}

func (s *stdWriter) Write(p []byte) (int, error) {
	n := 0
	for len(p) > 0 {
		chunk := p
		if len(chunk) > maxFrame {
			chunk = chunk[:maxFrame]
		}
		buf := make([]byte, 8+len(chunk))
		buf[0] = byte(s.typ)
		binary.BigEndian.PutUint32(buf[4:], uint32(len(chunk)))
		copy(buf[8:], chunk)
		if _, err := s.w.Write(buf); err != nil {
			return n, err
		}
		n += len(chunk)
		p = p[len(chunk):]
	}
	return n, nil
}

// LockedWriter serialises Writes to W.
type LockedWriter struct {
	mu sync.Mutex
	W  io.Writer
}

func (l *LockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.W.Write(p)
}

// FlushWriter writes through to an http.ResponseWriter and flushes after
// every Write, so a stream reaches the client as it is produced. The first
// Write sends the response header (status 200 unless the handler set one);
// Written tells a handler whether an error can still get its own status.
type FlushWriter struct {
	mu      sync.Mutex
	w       http.ResponseWriter
	rc      *http.ResponseController
	written bool
}

// NewFlushWriter wraps w.
func NewFlushWriter(w http.ResponseWriter) *FlushWriter {
	return &FlushWriter{w: w, rc: http.NewResponseController(w)}
}

func (f *FlushWriter) Write(p []byte) (int, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.written = true
	n, err := f.w.Write(p)
	if err != nil {
		return n, err
	}
	_ = f.rc.Flush() // a writer that cannot flush still delivers at the end
	return n, nil
}

// Flush sends the header now (if not yet sent) and any buffered body.
func (f *FlushWriter) Flush() {
	f.mu.Lock()
	defer f.mu.Unlock()
	if !f.written {
		f.w.WriteHeader(http.StatusOK)
		f.written = true
	}
	_ = f.rc.Flush()
}

// Written reports whether the response header has been sent.
func (f *FlushWriter) Written() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.written
}

// jsonMessage is the subset of Docker's JSON message a berth stream emits.
// "error" duplicates errorDetail.message for old clients, as dockerd does.
type jsonMessage struct {
	Status      string     `json:"status,omitempty"`
	ID          string     `json:"id,omitempty"`
	ErrorDetail *jsonError `json:"errorDetail,omitempty"`
	Error       string     `json:"error,omitempty"`
}

type jsonError struct {
	Message string `json:"message"`
}

// WriteStatus writes one {"status": ...} progress line.
func WriteStatus(w io.Writer, id, status string) error {
	return writeLine(w, jsonMessage{ID: id, Status: status})
}

// WriteError writes err as an in-band progress-stream error line
// ({"errorDetail":{"message":...},"error":...}); the docker CLI turns it
// into a failed command.
func WriteError(w io.Writer, err error) error {
	return writeLine(w, jsonMessage{ErrorDetail: &jsonError{Message: err.Error()}, Error: err.Error()})
}

func writeLine(w io.Writer, m jsonMessage) error {
	b, err := json.Marshal(m)
	if err != nil {
		return err
	}
	_, err = w.Write(append(b, '\n'))
	return err
}
