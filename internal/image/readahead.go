package image

import (
	"context"
	"io"
)

// readAhead reads r in a goroutine of its own, up to depth chunks of
// size bytes ahead of the consumer, so that receiving an archive (the
// client's upload) overlaps with hashing and writing its layers instead
// of alternating with them. Close stops the goroutine and waits for it.
type readAhead struct {
	chunks chan []byte
	free   chan []byte
	done   chan struct{}
	stop   context.CancelFunc
	buf    []byte // the chunk being consumed
	cur    []byte // its unread rest
	err    error  // the reader's error, once chunks is closed
}

func newReadAhead(ctx context.Context, r io.Reader, size, depth int) *readAhead {
	ctx, cancel := context.WithCancel(ctx)
	ra := &readAhead{
		chunks: make(chan []byte, depth),
		free:   make(chan []byte, depth+1),
		done:   make(chan struct{}),
		stop:   cancel,
	}
	for range depth + 1 {
		ra.free <- make([]byte, size)
	}
	go func() {
		defer close(ra.done)
		defer close(ra.chunks)
		for {
			var b []byte
			select {
			case b = <-ra.free:
			case <-ctx.Done():
				ra.err = ctx.Err()
				return
			}
			n, err := io.ReadFull(r, b[:cap(b)])
			if n > 0 {
				select {
				case ra.chunks <- b[:n]:
				case <-ctx.Done():
					ra.err = ctx.Err()
					return
				}
			}
			if err == io.ErrUnexpectedEOF {
				err = io.EOF
			}
			if err != nil {
				ra.err = err
				return
			}
		}
	}()
	return ra
}

func (ra *readAhead) Read(p []byte) (int, error) {
	for len(ra.cur) == 0 {
		if ra.buf != nil {
			ra.free <- ra.buf
			ra.buf = nil
		}
		b, ok := <-ra.chunks
		if !ok {
			<-ra.done
			return 0, ra.err
		}
		ra.buf, ra.cur = b, b
	}
	n := copy(p, ra.cur)
	ra.cur = ra.cur[n:]
	return n, nil
}

// Close stops reading ahead and waits for the goroutine, which finishes
// a Read of r it is in first: r is never read after Close returns (an
// HTTP request body must not be read once its handler returns).
func (ra *readAhead) Close() {
	ra.stop()
	<-ra.done
}
