package containers

import (
	"net/http"
	"strconv"
	"time"

	"github.com/berth-dev/berth/internal/apiserver/router"
	"github.com/berth-dev/berth/internal/apiserver/stream"
	"github.com/berth-dev/berth/internal/errdefs"
)

func (c *containerRouter) logs(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	opts := LogsOptions{
		Stdout:     router.BoolValue(r, "stdout"),
		Stderr:     router.BoolValue(r, "stderr"),
		Follow:     router.BoolValue(r, "follow"),
		Timestamps: router.BoolValue(r, "timestamps"),
		Details:    router.BoolValue(r, "details"),
		Tail:       q.Get("tail"),
	}
	if !opts.Stdout && !opts.Stderr {
		return errdefs.InvalidArgumentf("Bad parameters: you must choose at least one stream")
	}
	if opts.Tail == "" {
		opts.Tail = "all"
	}
	if opts.Tail != "all" {
		if _, err := strconv.Atoi(opts.Tail); err != nil {
			return errdefs.InvalidArgumentf("invalid tail value %q: want \"all\" or a number", opts.Tail)
		}
	}
	for _, p := range []struct {
		key string
		dst *time.Time
	}{{"since", &opts.Since}, {"until", &opts.Until}} {
		if v := q.Get(p.key); v != "" {
			t, err := router.ParseTimestamp(v)
			if err != nil {
				return err
			}
			*p.dst = t
		}
	}
	id := r.PathValue("id")
	tty, err := c.b.ContainerTTY(r.Context(), id)
	if err != nil {
		return err
	}
	w.Header().Set("Content-Type", stream.HijackContentType(tty, router.VersionAtLeast(r.Context(), "1.42")))
	fw := stream.NewFlushWriter(w)
	if opts.Follow {
		// The client sees nothing until the header arrives; a follow may
		// be silent for a long time.
		fw.Flush()
	}
	ctx, cancel := router.StreamContext(r)
	defer cancel()
	if err := c.b.Logs(ctx, id, opts, fw); err != nil {
		if !fw.Written() {
			return err
		}
		if !tty {
			// In-band: the docker CLI's stdcopy reader returns a system
			// error frame as the command's error.
			_, _ = stream.NewStdWriter(fw, 3).Write([]byte(err.Error()))
		}
		return err
	}
	if !fw.Written() {
		fw.Flush()
	}
	return nil
}
