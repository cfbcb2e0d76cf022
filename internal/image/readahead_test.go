package image

import (
	"bytes"
	"context"
	"errors"
	"io"
	"math/rand"
	"testing"
	"testing/iotest"
	"time"
)

func TestReadAheadCopiesAndReportsErrors(t *testing.T) {
	data := make([]byte, 1<<20+123)
	rand.New(rand.NewSource(1)).Read(data)
	for _, tc := range []struct {
		name string
		r    io.Reader
	}{
		{"whole", bytes.NewReader(data)},
		{"one byte at a time", iotest.OneByteReader(bytes.NewReader(data[:5000]))},
		{"half reads", iotest.HalfReader(bytes.NewReader(data))},
	} {
		ra := newReadAhead(context.Background(), tc.r, 4096, 3)
		got, err := io.ReadAll(iotest.HalfReader(ra))
		ra.Close()
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		want := data
		if tc.name == "one byte at a time" {
			want = data[:5000]
		}
		if !bytes.Equal(got, want) {
			t.Fatalf("%s: got %d bytes, not the input's %d", tc.name, len(got), len(want))
		}
	}

	boom := errors.New("boom")
	ra := newReadAhead(context.Background(), io.MultiReader(bytes.NewReader(data[:10000]), iotest.ErrReader(boom)), 4096, 2)
	got, err := io.ReadAll(ra)
	ra.Close()
	if !errors.Is(err, boom) || !bytes.Equal(got, data[:10000]) {
		t.Fatalf("got %d bytes, err %v; want 10000 bytes, then boom", len(got), err)
	}
}

// Close returns while the goroutine waits for the consumer, and r is not
// read after it.
func TestReadAheadCloseStopsReading(t *testing.T) {
	cr := &countReader{r: bytes.NewReader(make([]byte, 1<<20))}
	ra := newReadAhead(context.Background(), cr, 1024, 2)
	if _, err := io.ReadFull(ra, make([]byte, 100)); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { ra.Close(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Close did not return")
	}
	n := cr.n
	time.Sleep(20 * time.Millisecond)
	if cr.n != n || n > 8*1024 {
		t.Fatalf("read %d bytes (then %d) after Close; want at most depth+2 chunks, none after", n, cr.n)
	}
}

type countReader struct {
	r io.Reader
	n int
}

func (c *countReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += n
	return n, err
}
