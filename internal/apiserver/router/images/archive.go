package images

import (
	"context"
	"io"
	"net/http"

	"github.com/moby/moby/api/types/image"

	"github.com/berth-dev/berth/internal/apiserver/router"
	"github.com/berth-dev/berth/internal/apiserver/stream"
	"github.com/berth-dev/berth/internal/errdefs"
	"github.com/berth-dev/berth/internal/filters"
)

// ArchiveBackend is what save, load and prune need. It is optional: a
// backend without it answers 501.
type ArchiveBackend interface {
	// Save writes the named images as a docker-archive. Every name is
	// resolved before the first byte is written.
	Save(ctx context.Context, refs []string, w io.Writer) error
	// Load stores the images of a docker-archive, writing JSON-message
	// lines ({"stream":"Loaded image: x\n"}) to progress.
	Load(ctx context.Context, r io.Reader, progress io.Writer) error
	Prune(ctx context.Context, f filters.Args) (image.PruneReport, error)
}

func (i *imageRouter) archive() (ArchiveBackend, error) {
	ab, ok := i.b.(ArchiveBackend)
	if !ok {
		return nil, errdefs.NotImplementedf("image save, load and prune are not implemented")
	}
	return ab, nil
}

// tarWriter sets the tar content type on the first write.
type tarWriter struct {
	w       http.ResponseWriter
	written bool
}

func (t *tarWriter) Write(p []byte) (int, error) {
	if !t.written {
		t.written = true
		t.w.Header().Set("Content-Type", "application/x-tar")
		t.w.WriteHeader(http.StatusOK)
	}
	return t.w.Write(p)
}

// save serves GET /images/get?names=... and GET /images/{name}/get.
func (i *imageRouter) save(w http.ResponseWriter, r *http.Request, names []string) error {
	ab, err := i.archive()
	if err != nil {
		return err
	}
	tw := &tarWriter{w: w}
	if err := ab.Save(r.Context(), names, tw); err != nil {
		if tw.written {
			panic(http.ErrAbortHandler) // never a cut archive that looks whole
		}
		return err
	}
	if !tw.written {
		_, _ = tw.Write(nil)
	}
	return nil
}

func (i *imageRouter) saveMany(w http.ResponseWriter, r *http.Request) error {
	return i.save(w, r, r.URL.Query()["names"])
}

// load serves POST /images/load.
func (i *imageRouter) load(w http.ResponseWriter, r *http.Request) error {
	ab, err := i.archive()
	if err != nil {
		return err
	}
	w.Header().Set("Content-Type", "application/json")
	fw := stream.NewFlushWriter(w)
	if err := ab.Load(r.Context(), r.Body, fw); err != nil {
		if !fw.Written() {
			return err
		}
		_ = stream.WriteError(fw, err)
		return nil
	}
	fw.Flush()
	return nil
}

// prune serves POST /images/prune.
func (i *imageRouter) prune(w http.ResponseWriter, r *http.Request) error {
	ab, err := i.archive()
	if err != nil {
		return err
	}
	f, err := filters.Parse(r.URL.Query().Get("filters"))
	if err != nil {
		return err
	}
	rep, err := ab.Prune(r.Context(), f)
	if err != nil {
		return err
	}
	return router.WriteJSON(w, http.StatusOK, rep)
}
