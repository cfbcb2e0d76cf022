package containerlog

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

var t0 = time.Date(2026, 11, 27, 10, 0, 0, 123456789, time.UTC)

func TestAppendEntryGolden(t *testing.T) {
	for _, tc := range []struct {
		m    Message
		want string
	}{
		{Message{Stream: "stdout", Line: []byte("hello\n"), Time: t0},
			`{"log":"hello\n","stream":"stdout","time":"2026-11-27T10:00:00.123456789Z"}`},
		{Message{Stream: "stderr", Line: []byte("a\tb <x> & \"q\" \\ \r\x01\n"), Time: t0.Add(-123456789)},
			`{"log":"a\u0009b \u003cx\u003e \u0026 \"q\" \\ \r\u0001\n","stream":"stderr","time":"2026-11-27T10:00:00Z"}`},
		{Message{Stream: "stdout", Line: []byte("caf\xc3\xa9 \xff \xe2\x80\xa8"), Time: t0.Add(-123000000)},
			`{"log":"café \ufffd \u2028","stream":"stdout","time":"2026-11-27T10:00:00.000456789Z"}`},
		// Non-UTC times are written in UTC.
		{Message{Stream: "stdout", Line: []byte("x\n"), Time: t0.In(time.FixedZone("X", 3600))},
			`{"log":"x\n","stream":"stdout","time":"2026-11-27T10:00:00.123456789Z"}`},
	} {
		got := string(AppendEntry(nil, tc.m))
		if got != tc.want+"\n" {
			t.Errorf("AppendEntry(%q)\n got %s\nwant %s", tc.m.Line, got, tc.want)
		}
	}
}

func readAll(t *testing.T, path string, opts ReadOptions) []Message {
	t.Helper()
	var out []Message
	err := Read(context.Background(), path, opts, func(m Message) error {
		out = append(out, m)
		return nil
	})
	if err != nil {
		t.Fatalf("Read: %v", err)
	}
	return out
}

func lines(ms []Message) string {
	var b strings.Builder
	for _, m := range ms {
		b.Write(m.Line)
	}
	return b.String()
}

func TestStreamSplitsLinesAndPartials(t *testing.T) {
	path := filepath.Join(t.TempDir(), "c-json.log")
	w, err := NewWriter(Config{Path: path})
	if err != nil {
		t.Fatal(err)
	}
	out, errs := w.Stream("stdout"), w.Stream("stderr")
	out.Write([]byte("one\ntw"))
	errs.Write([]byte("err\n"))
	out.Write([]byte("o\nthr"))
	long := bytes.Repeat([]byte("x"), 2*MaxLineSize+10)
	out.Write([]byte("ee\n"))
	out.Write(long)
	out.Write([]byte("\nno newline"))
	out.Close()
	errs.Close()
	w.Close()

	ms := readAll(t, path, ReadOptions{Tail: -1})
	type e struct {
		stream, line string
		partial      bool
	}
	want := []e{
		{"stdout", "one\n", false}, {"stderr", "err\n", false}, {"stdout", "two\n", false},
		{"stdout", "three\n", false},
		{"stdout", strings.Repeat("x", MaxLineSize), true},
		{"stdout", strings.Repeat("x", MaxLineSize), true},
		{"stdout", "xxxxxxxxxx\n", false},
		{"stdout", "no newline\n", false},
	}
	if len(ms) != len(want) {
		t.Fatalf("got %d entries, want %d: %q", len(ms), len(want), lines(ms))
	}
	for i, m := range ms {
		if m.Stream != want[i].stream || string(m.Line) != want[i].line || m.Partial != want[i].partial {
			t.Errorf("entry %d = %s %q partial=%v, want %+v", i, m.Stream, m.Line, m.Partial, want[i])
		}
		if m.Time.Location() != time.UTC || time.Since(m.Time) > time.Minute {
			t.Errorf("entry %d time %v", i, m.Time)
		}
	}
	raw, _ := os.ReadFile(path)
	if !bytes.HasPrefix(raw, []byte(`{"log":"one\n","stream":"stdout","time":"`)) {
		t.Errorf("file starts %q", raw[:60])
	}
}

func writeN(t *testing.T, w *Writer, from, to int, at func(i int) time.Time) {
	t.Helper()
	for i := from; i < to; i++ {
		if err := w.WriteMessage(Message{Stream: "stdout", Line: fmt.Appendf(nil, "line %03d\n", i), Time: at(i)}); err != nil {
			t.Fatal(err)
		}
	}
}

func seq(from, to int) string {
	var b strings.Builder
	for i := from; i < to; i++ {
		fmt.Fprintf(&b, "line %03d\n", i)
	}
	return b.String()
}

func byIndex(i int) time.Time { return t0.Add(time.Duration(i) * time.Second) }

func TestRotationAndTail(t *testing.T) {
	path := filepath.Join(t.TempDir(), "c-json.log")
	entry := len(AppendEntry(nil, Message{Stream: "stdout", Line: []byte("line 000\n"), Time: byIndex(0)}))
	w, err := NewWriter(Config{Path: path, MaxSize: int64(10 * entry), MaxFiles: 3})
	if err != nil {
		t.Fatal(err)
	}
	writeN(t, w, 0, 45, byIndex)
	w.Close()
	// 45 entries, 10 per file: 0-9, 10-19 dropped... files hold 20-29, 30-39, 40-44.
	for name, want := range map[string]string{path + ".2": seq(20, 30), path + ".1": seq(30, 40), path: seq(40, 45)} {
		if got := lines(readFile(t, name)); got != want {
			t.Errorf("%s = %q, want %q", filepath.Base(name), got, want)
		}
	}
	if _, err := os.Stat(path + ".3"); !os.IsNotExist(err) {
		t.Errorf("%s.3 exists: %v", path, err)
	}
	for _, tc := range []struct {
		tail     int
		from, to int
	}{{-1, 20, 45}, {0, 45, 45}, {3, 42, 45}, {5, 40, 45}, {6, 39, 45}, {17, 28, 45}, {25, 20, 45}, {1000, 20, 45}} {
		if got, want := lines(readAll(t, path, ReadOptions{Tail: tc.tail})), seq(tc.from, tc.to); got != want {
			t.Errorf("tail %d = %q, want %q", tc.tail, got, want)
		}
	}
}

// readFile reads one file of a log set, ignoring the others.
func readFile(t *testing.T, name string) []Message {
	dir := t.TempDir()
	data, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(dir, "one.log"), data, 0o600)
	return readAll(t, filepath.Join(dir, "one.log"), ReadOptions{Tail: -1})
}

func TestRotationMaxFilesOneTruncates(t *testing.T) {
	path := filepath.Join(t.TempDir(), "c-json.log")
	w, err := NewWriter(Config{Path: path, MaxSize: 200, MaxFiles: 1})
	if err != nil {
		t.Fatal(err)
	}
	writeN(t, w, 0, 7, byIndex)
	w.Close()
	got := lines(readAll(t, path, ReadOptions{Tail: -1}))
	if got == "" || !strings.HasSuffix(got, "line 006\n") || strings.Contains(got, "line 000") {
		t.Errorf("got %q", got)
	}
	if _, err := os.Stat(path + ".1"); !os.IsNotExist(err) {
		t.Errorf("rotated file with max-file 1: %v", err)
	}
}

func TestSinceUntil(t *testing.T) {
	path := filepath.Join(t.TempDir(), "c-json.log")
	w, _ := NewWriter(Config{Path: path, MaxSize: 500, MaxFiles: 5})
	writeN(t, w, 0, 20, byIndex)
	w.Close()
	if got, want := lines(readAll(t, path, ReadOptions{Tail: -1, Since: byIndex(15)})), seq(15, 20); got != want {
		t.Errorf("since = %q, want %q", got, want)
	}
	if got, want := lines(readAll(t, path, ReadOptions{Tail: -1, Until: byIndex(4)})), seq(0, 5); got != want {
		t.Errorf("until = %q, want %q", got, want)
	}
	if got, want := lines(readAll(t, path, ReadOptions{Tail: -1, Since: byIndex(5), Until: byIndex(7)})), seq(5, 8); got != want {
		t.Errorf("since+until = %q, want %q", got, want)
	}
	// Tail first, then since (Docker's order).
	if got, want := lines(readAll(t, path, ReadOptions{Tail: 3, Since: byIndex(10)})), seq(17, 20); got != want {
		t.Errorf("tail+since = %q, want %q", got, want)
	}
	if got := lines(readAll(t, path, ReadOptions{Tail: 3, Until: byIndex(10)})); got != "" {
		t.Errorf("tail+until = %q, want none", got)
	}
}

func TestTruncatedLastLine(t *testing.T) {
	path := filepath.Join(t.TempDir(), "c-json.log")
	w, _ := NewWriter(Config{Path: path})
	writeN(t, w, 0, 3, byIndex)
	w.Close()
	// A writer killed mid-write leaves half an entry.
	full := AppendEntry(nil, Message{Stream: "stdout", Line: []byte("line 003\n"), Time: byIndex(3)})
	f, _ := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	f.Write(full[:len(full)/2])
	f.Close()
	if got, want := lines(readAll(t, path, ReadOptions{Tail: -1})), seq(0, 3); got != want {
		t.Errorf("read = %q, want %q", got, want)
	}
	if got, want := lines(readAll(t, path, ReadOptions{Tail: 2})), seq(1, 3); got != want {
		t.Errorf("tail 2 = %q, want %q", got, want)
	}
	// A new writer (monitor restarted) terminates the fragment; later
	// entries are readable and the fragment is skipped.
	w, _ = NewWriter(Config{Path: path})
	writeN(t, w, 4, 6, byIndex)
	w.Close()
	if got, want := lines(readAll(t, path, ReadOptions{Tail: -1})), seq(0, 3)+seq(4, 6); got != want {
		t.Errorf("after reopen = %q, want %q", got, want)
	}
}

func TestMissingLogIsEmpty(t *testing.T) {
	if ms := readAll(t, filepath.Join(t.TempDir(), "none.log"), ReadOptions{Tail: -1}); len(ms) != 0 {
		t.Errorf("got %d entries", len(ms))
	}
}

func TestFollowAcrossRotation(t *testing.T) {
	path := filepath.Join(t.TempDir(), "c-json.log")
	w, err := NewWriter(Config{Path: path, MaxSize: 2000, MaxFiles: 4})
	if err != nil {
		t.Fatal(err)
	}
	writeN(t, w, 0, 5, byIndex)

	done := make(chan struct{})
	got := make(chan string, 1)
	first := make(chan struct{})
	go func() {
		var b strings.Builder
		n := 0
		err := Read(context.Background(), path, ReadOptions{Tail: 2, Follow: true, Done: done}, func(m Message) error {
			b.Write(m.Line)
			if n++; n == 2 {
				close(first)
			}
			return nil
		})
		if err != nil {
			b.WriteString("error: " + err.Error())
		}
		got <- b.String()
	}()
	<-first
	// A concurrent writer, slower than the reader, rotating several times
	// (2000 bytes hold ~25 entries; 60 entries rotate twice).
	for i := 5; i < 65; i++ {
		writeN(t, w, i, i+1, byIndex)
		if i%10 == 0 {
			time.Sleep(5 * time.Millisecond)
		}
	}
	w.Close()
	close(done)
	select {
	case s := <-got:
		if want := seq(3, 65); s != want {
			t.Errorf("follow got %q\nwant %q", s, want)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("follow did not return after Done")
	}
	if _, err := os.Stat(path + ".2"); err != nil {
		t.Errorf("expected two rotations: %v", err)
	}
}

func TestFollowWaitsForNewLinesAndCancels(t *testing.T) {
	path := filepath.Join(t.TempDir(), "c-json.log")
	ctx, cancel := context.WithCancel(context.Background())
	msgs := make(chan Message, 10)
	errc := make(chan error, 1)
	go func() {
		// The log does not exist yet: follow waits for it.
		errc <- Read(ctx, path, ReadOptions{Tail: -1, Follow: true}, func(m Message) error {
			msgs <- m
			return nil
		})
	}()
	time.Sleep(50 * time.Millisecond)
	w, _ := NewWriter(Config{Path: path})
	defer w.Close()
	start := time.Now()
	w.Stream("stdout").Write([]byte("late\n"))
	select {
	case m := <-msgs:
		if string(m.Line) != "late\n" {
			t.Errorf("got %q", m.Line)
		}
		if d := time.Since(start); d > 900*time.Millisecond {
			t.Errorf("follow took %v: inotify not effective", d)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no message")
	}
	cancel()
	select {
	case err := <-errc:
		if err != context.Canceled {
			t.Errorf("Read after cancel = %v", err)
		}
	case <-time.After(3 * time.Second):
		t.Fatal("Read did not return after cancel")
	}
}

func TestErrStopEndsRead(t *testing.T) {
	path := filepath.Join(t.TempDir(), "c-json.log")
	w, _ := NewWriter(Config{Path: path})
	writeN(t, w, 0, 10, byIndex)
	w.Close()
	n := 0
	err := Read(context.Background(), path, ReadOptions{Tail: -1}, func(Message) error {
		if n++; n == 3 {
			return ErrStop
		}
		return nil
	})
	if err != nil || n != 3 {
		t.Errorf("err %v after %d", err, n)
	}
}

func TestFailedRotationKeepsLogging(t *testing.T) {
	path := filepath.Join(t.TempDir(), "c-json.log")
	// <path>.1 is a non-empty directory: renaming onto it fails.
	if err := os.MkdirAll(filepath.Join(path+".1", "x"), 0o700); err != nil {
		t.Fatal(err)
	}
	w, err := NewWriter(Config{Path: path, MaxSize: 100, MaxFiles: 2})
	if err != nil {
		t.Fatal(err)
	}
	writeN(t, w, 0, 2, byIndex) // > 100 bytes
	if err := w.WriteMessage(Message{Stream: "stdout", Line: []byte("line 002\n"), Time: byIndex(2)}); err == nil {
		t.Error("rotation onto a directory did not fail")
	}
	w.Close()
	if got, want := lines(readFile(t, path)), seq(0, 3); got != want {
		t.Errorf("log = %q, want %q", got, want)
	}
}

func TestReadStopsWithContext(t *testing.T) {
	path := filepath.Join(t.TempDir(), "c-json.log")
	w, _ := NewWriter(Config{Path: path})
	writeN(t, w, 0, 5000, byIndex)
	w.Close()
	ctx, cancel := context.WithCancel(context.Background())
	n := 0
	err := Read(ctx, path, ReadOptions{Tail: -1}, func(Message) error {
		if n++; n == 10 {
			cancel()
		}
		return nil
	})
	if err != context.Canceled || n >= 5000 {
		t.Errorf("Read = %v after %d entries", err, n)
	}
}

// FuzzEntryRoundTrip: whatever the output, the entry is one line of valid
// JSON whose "log" decodes back to the output (invalid UTF-8 aside, which
// becomes U+FFFD as in Docker).
func FuzzEntryRoundTrip(f *testing.F) {
	for _, seed := range []string{"hello\n", "a\tb<>&\"\\\r\x00\x1f", "caf\xc3\xa9\n", "\xe2\x80\xa8\xe2\x80\xa9", "\xff\xfe", ""} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, line []byte) {
		entry := AppendEntry(nil, Message{Stream: "stdout", Line: line, Time: t0})
		if bytes.IndexByte(entry, '\n') != len(entry)-1 {
			t.Fatalf("entry is not one line: %q", entry)
		}
		var e jsonEntry
		if err := json.Unmarshal(entry, &e); err != nil {
			t.Fatalf("entry %q: %v", entry, err)
		}
		if want := strings.ToValidUTF8(string(line), "\ufffd"); utf8.Valid(line) && e.Log != want {
			t.Fatalf("log %q, want %q", e.Log, want)
		}
		if !e.Time.Equal(t0) || e.Stream != "stdout" {
			t.Fatalf("entry %q decoded to %+v", entry, e)
		}
	})
}
