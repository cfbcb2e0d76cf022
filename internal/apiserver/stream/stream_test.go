package stream

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/moby/moby/api/pkg/stdcopy"
)

func TestStdWriterRoundTrip(t *testing.T) {
	var buf bytes.Buffer
	lw := &LockedWriter{W: &buf}
	out, errw := NewStdWriter(lw, stdcopy.Stdout), NewStdWriter(lw, stdcopy.Stderr)
	var wg sync.WaitGroup
	for i := 0; i < 20; i++ {
		wg.Add(2)
		go func() { defer wg.Done(); out.Write([]byte("out\n")) }()
		go func() { defer wg.Done(); errw.Write([]byte("err\n")) }()
	}
	wg.Wait()
	var o, e bytes.Buffer
	if _, err := stdcopy.StdCopy(&o, &e, &buf); err != nil {
		t.Fatal(err)
	}
	if o.String() != strings.Repeat("out\n", 20) || e.String() != strings.Repeat("err\n", 20) {
		t.Errorf("demuxed %q / %q", o.String(), e.String())
	}
}

func TestStdWriterFrameHeader(t *testing.T) {
	var buf bytes.Buffer
	n, err := NewStdWriter(&buf, stdcopy.Stderr).Write([]byte("abc"))
	if n != 3 || err != nil {
		t.Fatal(n, err)
	}
	want := []byte{2, 0, 0, 0, 0, 0, 0, 3, 'a', 'b', 'c'}
	if !bytes.Equal(buf.Bytes(), want) {
		t.Errorf("frame % x, want % x", buf.Bytes(), want)
	}
}

func TestStdWriterSplitsLargeWrites(t *testing.T) {
	var buf bytes.Buffer
	p := bytes.Repeat([]byte("z"), maxFrame+10)
	if n, err := NewStdWriter(&buf, stdcopy.Stdout).Write(p); n != len(p) || err != nil {
		t.Fatal(n, err)
	}
	b := buf.Bytes()
	if got := binary.BigEndian.Uint32(b[4:8]); got != maxFrame {
		t.Errorf("first frame %d bytes", got)
	}
	second := b[8+maxFrame:]
	if got := binary.BigEndian.Uint32(second[4:8]); got != 10 {
		t.Errorf("second frame %d bytes", got)
	}
	var o bytes.Buffer
	if _, err := stdcopy.StdCopy(&o, &o, bytes.NewReader(b)); err != nil || o.Len() != len(p) {
		t.Errorf("round trip %d bytes, %v", o.Len(), err)
	}
}

type failWriter struct{}

func (failWriter) Write(p []byte) (int, error) { return 0, errors.New("broken pipe") }

func TestStdWriterError(t *testing.T) {
	if n, err := NewStdWriter(failWriter{}, stdcopy.Stdout).Write([]byte("x")); n != 0 || err == nil {
		t.Errorf("n=%d err=%v", n, err)
	}
}

func TestFlushWriter(t *testing.T) {
	rec := httptest.NewRecorder()
	fw := NewFlushWriter(rec)
	if fw.Written() {
		t.Fatal("written before any write")
	}
	fw.Write([]byte("a"))
	if !fw.Written() || !rec.Flushed || rec.Body.String() != "a" {
		t.Errorf("after write: written=%v flushed=%v body=%q", fw.Written(), rec.Flushed, rec.Body.String())
	}
	rec = httptest.NewRecorder()
	fw = NewFlushWriter(rec)
	fw.Flush()
	if !fw.Written() || !rec.Flushed || rec.Code != 200 {
		t.Errorf("explicit flush: %v %v %d", fw.Written(), rec.Flushed, rec.Code)
	}
}

func TestJSONMessages(t *testing.T) {
	var buf bytes.Buffer
	WriteStatus(&buf, "", "sha256:abc")
	WriteError(&buf, errors.New("no space left on device"))
	ls := strings.Split(strings.TrimSpace(buf.String()), "\n")
	if len(ls) != 2 || ls[0] != `{"status":"sha256:abc"}` {
		t.Fatalf("lines %q", ls)
	}
	var m struct {
		Error       string
		ErrorDetail struct{ Message string } `json:"errorDetail"`
	}
	if err := json.Unmarshal([]byte(ls[1]), &m); err != nil || m.Error != "no space left on device" || m.ErrorDetail.Message != m.Error {
		t.Errorf("error line %q (%v)", ls[1], err)
	}
}

func TestHijackContentType(t *testing.T) {
	for _, c := range []struct {
		tty, v142 bool
		want      string
	}{
		{true, true, "application/vnd.docker.raw-stream"},
		{false, true, "application/vnd.docker.multiplexed-stream"},
		{false, false, "application/vnd.docker.raw-stream"},
		{true, false, "application/vnd.docker.raw-stream"},
	} {
		if got := HijackContentType(c.tty, c.v142); got != c.want {
			t.Errorf("tty=%v 1.42=%v: %s", c.tty, c.v142, got)
		}
	}
}
