package containers

import (
	"io"
	"net/http"

	"github.com/moby/moby/api/pkg/stdcopy"
	"github.com/moby/term"

	"github.com/berth-dev/berth/internal/apiserver/router"
	"github.com/berth-dev/berth/internal/apiserver/stream"
	"github.com/berth-dev/berth/internal/errdefs"
)

// attach hijacks the connection once the container is known to exist and
// hands its two directions to the backend: reads are the client's stdin
// (io.EOF on the client's half-close), writes the output, in stdcopy frames
// unless the container has a TTY.
func (c *containerRouter) attach(w http.ResponseWriter, r *http.Request) error {
	id := r.PathValue("id")
	q := r.URL.Query()
	useStdin, useStdout, useStderr := router.BoolValue(r, "stdin"), router.BoolValue(r, "stdout"), router.BoolValue(r, "stderr")
	logs, streamOut := router.BoolValue(r, "logs"), router.BoolValue(r, "stream")
	// Bad detach keys are a 400 before the hijack, as dockerd answers.
	if k := q.Get("detachKeys"); k != "" {
		if _, err := term.ToBytes(k); err != nil {
			return errdefs.InvalidArgumentf("Invalid detach keys (%s) provided", k)
		}
	}
	tty, err := c.b.ContainerTTY(r.Context(), id)
	if err != nil {
		return err
	}
	conn, writeHeader, err := stream.HijackDeferred(w, r, stream.HijackContentType(tty, router.VersionAtLeast(r.Context(), "1.42")))
	if err != nil {
		return err
	}
	defer conn.Close()

	// The header goes out when the backend is ready (see AttachOptions.Ready)
	// and at the latest before anything else is written.
	opts := AttachOptions{Logs: logs, Stream: streamOut, DetachKeys: q.Get("detachKeys"), Ready: func() { _ = writeHeader() }}
	if useStdin {
		opts.Stdin = conn
	}
	var out io.Writer = conn
	if tty {
		if useStdout {
			opts.Stdout = out
		}
		if useStderr {
			opts.Stderr = out
		}
	} else {
		if useStdout {
			opts.Stdout = stream.NewStdWriter(out, stdcopy.Stdout)
		}
		if useStderr {
			opts.Stderr = stream.NewStdWriter(out, stdcopy.Stderr)
		}
	}
	// After the hijack the request context no longer notices the client
	// leaving: WatchHangup does (unix sockets), else the backend sees a
	// write error. A server shutdown ends the attach through ctx too.
	ctx, cancel := router.StreamContext(r)
	defer cancel()
	go conn.WatchHangup(cancel)
	err = c.b.Attach(ctx, id, opts)
	if herr := writeHeader(); herr != nil {
		return herr
	}
	if err != nil {
		if tty {
			_, _ = io.WriteString(out, err.Error()+"\r\n")
		} else {
			_, _ = stream.NewStdWriter(out, stdcopy.Systemerr).Write([]byte(err.Error()))
		}
		return err
	}
	_ = conn.CloseWrite()
	return nil
}
