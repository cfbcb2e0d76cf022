package build

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"sync"

	"github.com/berth-dev/berth/internal/apiserver/stream"
)

// message is one JSON message of the classic builder's stream. "error"
// repeats errorDetail.message for old clients, as dockerd does.
type message struct {
	Stream      string     `json:"stream,omitempty"`
	ErrorDetail *errDetail `json:"errorDetail,omitempty"`
	Error       string     `json:"error,omitempty"`
	Aux         *aux       `json:"aux,omitempty"`
}

type errDetail struct {
	Code    int    `json:"code,omitempty"`
	Message string `json:"message"`
}

type aux struct {
	ID string `json:"ID"`
}

// output implements Output on the response. With q, messages are held
// back (dockerd's notVerboseBuffer): a successful build then sends only
// the image ID, a failed one what was held back and the error.
type output struct {
	mu      sync.Mutex
	fw      *stream.FlushWriter
	quiet   bool
	held    bytes.Buffer
	wantAux bool // API >= 1.30
}

func newOutput(w http.ResponseWriter, quiet, wantAux bool) *output {
	return &output{fw: stream.NewFlushWriter(w), quiet: quiet, wantAux: wantAux}
}

func (o *output) Stream(text string) error {
	if text == "" {
		return nil
	}
	return o.write(message{Stream: text}, o.quiet)
}

func (o *output) Aux(id string) error {
	if !o.wantAux {
		return nil
	}
	return o.write(message{Aux: &aux{ID: id}}, o.quiet)
}

// write sends m (one line, flushed), or holds it back.
func (o *output) write(m message, hold bool) error {
	b, err := json.Marshal(m)
	if err != nil {
		return err
	}
	b = append(b, '\r', '\n')
	o.mu.Lock()
	defer o.mu.Unlock()
	var w io.Writer = o.fw
	if hold {
		w = &o.held
	}
	_, err = w.Write(b)
	return err
}

// done ends a successful build: with q, the ID alone.
func (o *output) done(id string) error {
	if o.quiet {
		if err := o.write(message{Stream: id + "\n"}, false); err != nil {
			return err
		}
	}
	o.fw.Flush() // a build that wrote nothing still answers 200
	return nil
}

// fail ends a failed build: err is returned for the server to answer
// with its status when nothing was sent yet, else sent in-band.
func (o *output) fail(err error) error {
	o.mu.Lock()
	if o.held.Len() > 0 {
		_, _ = o.fw.Write(o.held.Bytes())
		o.held.Reset()
	}
	o.mu.Unlock()
	if !o.fw.Written() {
		return err
	}
	_ = o.write(message{ErrorDetail: &errDetail{Code: stepCode(err), Message: err.Error()}, Error: err.Error()}, false)
	return err
}
