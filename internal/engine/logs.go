package engine

import (
	"context"
	"encoding/binary"
	"io"
	"strconv"

	"github.com/berth-dev/berth/internal/apiserver/router/containers"
	"github.com/berth-dev/berth/internal/container"
	"github.com/berth-dev/berth/internal/containerlog"
	"github.com/berth-dev/berth/internal/errdefs"
)

// timestampFormat is Docker's fixed-width RFC 3339 (jsonmessage.RFC3339NanoFixed).
const timestampFormat = "2006-01-02T15:04:05.000000000Z07:00"

// Logs writes the container's log to w: stdcopy frames, or raw bytes with
// a TTY; following until the container stops or ctx ends.
func (e *Engine) Logs(ctx context.Context, ref string, opts containers.LogsOptions, w io.Writer) error {
	ent, err := e.store.Get(ref)
	if err != nil {
		return err
	}
	c := ent.Snapshot()
	ro, err := logReadOptions(opts)
	if err != nil {
		return err
	}
	tty := c.Config.Tty
	return e.readLog(ctx, ent, ro, func(m containerlog.Message) error {
		var stream byte
		switch {
		case m.Stream == "stderr" && opts.Stderr:
			stream = 2
		case m.Stream != "stderr" && opts.Stdout:
			stream = 1
		default:
			return nil
		}
		payload := m.Line
		if opts.Timestamps {
			payload = append([]byte(m.Time.UTC().Format(timestampFormat)+" "), payload...)
		}
		if tty {
			_, err := w.Write(payload)
			return err
		}
		_, err := w.Write(frame(stream, payload))
		return err
	})
}

func logReadOptions(opts containers.LogsOptions) (containerlog.ReadOptions, error) {
	ro := containerlog.ReadOptions{Tail: -1, Since: opts.Since, Until: opts.Until, Follow: opts.Follow}
	if opts.Tail != "" && opts.Tail != "all" {
		n, err := strconv.Atoi(opts.Tail)
		if err != nil {
			return ro, errdefs.InvalidArgumentf("invalid tail value %q", opts.Tail)
		}
		if n >= 0 {
			ro.Tail = n
		}
	}
	return ro, nil
}

// readLog reads the container's json-file log; with Follow it ends once
// the container is not running (the monitor has closed the log by then).
func (e *Engine) readLog(ctx context.Context, ent *container.Entry, ro containerlog.ReadOptions, fn func(containerlog.Message) error) error {
	c := ent.Snapshot()
	if c.LogPath == "" {
		return errdefs.NotImplementedf("configured logging driver does not support reading")
	}
	if ro.Follow {
		ctx2, cancel := context.WithCancel(ctx)
		defer cancel()
		done := make(chan struct{})
		go func() {
			waitStopped(ctx2, ent, -1)
			close(done)
		}()
		ro.Done = done
		ctx = ctx2
	}
	return containerlog.Read(ctx, c.LogPath, ro, fn)
}

// frame is one stdcopy frame: stream, three zero bytes, big-endian length,
// payload.
func frame(stream byte, payload []byte) []byte {
	b := make([]byte, 8+len(payload))
	b[0] = stream
	binary.BigEndian.PutUint32(b[4:8], uint32(len(payload)))
	copy(b[8:], payload)
	return b
}
