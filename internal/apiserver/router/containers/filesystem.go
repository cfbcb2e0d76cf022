package containers

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"

	"github.com/moby/moby/api/types/container"

	"github.com/berth-dev/berth/internal/apiserver/router"
	"github.com/berth-dev/berth/internal/errdefs"
)

// FilesystemBackend is what the routes over a container's filesystem
// need: commit, diff, export and the archive (docker cp) endpoints. It is
// optional: a backend without it answers 501.
type FilesystemBackend interface {
	// Commit makes an image of the container (POST /commit) and returns
	// its ID ("sha256:...").
	Commit(ctx context.Context, ref string, opts CommitOptions) (string, error)
	// Changes lists the container's changes against its image.
	Changes(ctx context.Context, ref string) ([]container.FilesystemChange, error)
	// Export writes the container's whole filesystem as a tar. An error
	// before the first write gets its own status.
	Export(ctx context.Context, ref string, w io.Writer) error
	// StatPath stats path inside the container (its last component not
	// followed). Missing: errdefs.NotFound.
	StatPath(ctx context.Context, ref, path string) (container.PathStat, error)
	// ArchivePath writes path (a file or a tree) as a tar to w, calling
	// stat first, before any byte is written.
	ArchivePath(ctx context.Context, ref, path string, stat func(container.PathStat), w io.Writer) error
	// ExtractToDir unpacks a tar into the directory path inside the
	// container.
	ExtractToDir(ctx context.Context, ref, path string, opts ExtractOptions, r io.Reader) error
}

// CommitOptions for POST /commit.
type CommitOptions struct {
	Repo, Tag       string
	Author, Comment string
	Changes         []string
	Pause           bool
	Config          *container.Config // optional base config (the request body)
}

// ExtractOptions for PUT /containers/{id}/archive.
type ExtractOptions struct {
	NoOverwriteDirNonDir bool
	CopyUIDGID           bool
}

func (c *containerRouter) fs() (FilesystemBackend, error) {
	fb, ok := c.b.(FilesystemBackend)
	if !ok {
		return nil, errdefs.NotImplementedf("container filesystem operations are not implemented")
	}
	return fb, nil
}

func (c *containerRouter) commit(w http.ResponseWriter, r *http.Request) error {
	fb, err := c.fs()
	if err != nil {
		return err
	}
	q := r.URL.Query()
	var cfg *container.Config
	if r.ContentLength != 0 && r.Body != nil {
		var v container.Config
		if err := json.NewDecoder(r.Body).Decode(&v); err != nil && err != io.EOF {
			return errdefs.InvalidArgumentf("invalid commit config: %w", err)
		}
		cfg = &v
	}
	id, err := fb.Commit(r.Context(), q.Get("container"), CommitOptions{
		Repo: q.Get("repo"), Tag: q.Get("tag"),
		Author: q.Get("author"), Comment: q.Get("comment"),
		Changes: q["changes"],
		Pause:   router.BoolValueOr(r, "pause", true),
		Config:  cfg,
	})
	if err != nil {
		return err
	}
	return router.WriteJSON(w, http.StatusCreated, container.CommitResponse{ID: id})
}

func (c *containerRouter) changes(w http.ResponseWriter, r *http.Request) error {
	fb, err := c.fs()
	if err != nil {
		return err
	}
	ch, err := fb.Changes(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	if ch == nil {
		ch = []container.FilesystemChange{}
	}
	return router.WriteJSON(w, http.StatusOK, ch)
}

// firstWrite sets headers and the status on the first write only.
type firstWrite struct {
	w       http.ResponseWriter
	header  func(http.Header)
	written bool
}

func (f *firstWrite) Write(p []byte) (int, error) {
	if !f.written {
		f.written = true
		if f.header != nil {
			f.header(f.w.Header())
		}
		f.w.WriteHeader(http.StatusOK)
	}
	return f.w.Write(p)
}

func (c *containerRouter) export(w http.ResponseWriter, r *http.Request) error {
	fb, err := c.fs()
	if err != nil {
		return err
	}
	fw := &firstWrite{w: w, header: func(h http.Header) { h.Set("Content-Type", "application/x-tar") }}
	if err := fb.Export(r.Context(), r.PathValue("id"), fw); err != nil {
		if fw.written {
			panic(http.ErrAbortHandler) // the client must not take a cut tar for a whole one
		}
		return err
	}
	return nil
}

func statHeader(st container.PathStat) (string, error) {
	b, err := json.Marshal(st)
	if err != nil {
		return "", err
	}
	return base64.StdEncoding.EncodeToString(b), nil
}

// archive serves GET and HEAD /containers/{id}/archive.
func (c *containerRouter) archive(w http.ResponseWriter, r *http.Request) error {
	fb, err := c.fs()
	if err != nil {
		return err
	}
	p := r.URL.Query().Get("path")
	if p == "" {
		return errdefs.InvalidArgumentf("path is required")
	}
	if r.Method == http.MethodHead {
		st, err := fb.StatPath(r.Context(), r.PathValue("id"), p)
		if err != nil {
			return err
		}
		h, err := statHeader(st)
		if err != nil {
			return err
		}
		w.Header().Set("X-Docker-Container-Path-Stat", h)
		w.WriteHeader(http.StatusOK)
		return nil
	}
	var hdr string
	fw := &firstWrite{w: w, header: func(h http.Header) {
		h.Set("Content-Type", "application/x-tar")
		h.Set("X-Docker-Container-Path-Stat", hdr)
	}}
	err = fb.ArchivePath(r.Context(), r.PathValue("id"), p, func(st container.PathStat) {
		hdr, _ = statHeader(st)
	}, fw)
	if err != nil {
		if fw.written {
			panic(http.ErrAbortHandler)
		}
		return err
	}
	if !fw.written {
		_, _ = fw.Write(nil)
	}
	return nil
}

func (c *containerRouter) putArchive(w http.ResponseWriter, r *http.Request) error {
	fb, err := c.fs()
	if err != nil {
		return err
	}
	p := r.URL.Query().Get("path")
	if p == "" {
		return errdefs.InvalidArgumentf("path is required")
	}
	err = fb.ExtractToDir(r.Context(), r.PathValue("id"), p, ExtractOptions{
		NoOverwriteDirNonDir: router.BoolValue(r, "noOverwriteDirNonDir"),
		CopyUIDGID:           router.BoolValue(r, "copyUIDGID"),
	}, r.Body)
	if err != nil {
		return err
	}
	w.WriteHeader(http.StatusOK)
	return nil
}
