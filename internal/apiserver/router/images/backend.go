// Package images routes the /images endpoints of the Engine API.
package images

import (
	"context"
	"io"

	"github.com/moby/moby/api/types/image"

	"github.com/berth-dev/berth/internal/filters"
)

// Backend is what the image routes need from the image service.
type Backend interface {
	// Import creates an image from a rootfs tar (POST /images/create?fromSrc=-).
	// repo/tag may be empty (dangling image). repo may itself carry the tag
	// (docker CLI 28 sends repo=example.com/app:v1 and no tag), as dockerd
	// accepts. changes are Dockerfile
	// instructions (CMD, ENTRYPOINT, ENV, EXPOSE, LABEL, ONBUILD, USER,
	// VOLUME, WORKDIR, STOPSIGNAL) applied to the config. progress receives
	// Docker JSON-message lines ending, as from dockerd, with a
	// {"status":"<id>"} line (docker import prints it); the returned id is
	// "sha256:...". The router writes an error as an errorDetail line once
	// progress has started, else as an HTTP status.
	Import(ctx context.Context, src io.Reader, repo, tag string, changes []string, message string, progress io.Writer) (string, error)
	List(ctx context.Context, opts ListOptions) ([]image.Summary, error)
	Inspect(ctx context.Context, ref string) (image.InspectResponse, error)
	// Delete untags or deletes (Docker's rules); a container using the
	// image is a Conflict unless force.
	Delete(ctx context.Context, ref string, force, prune bool) ([]image.DeleteResponse, error)
	History(ctx context.Context, ref string) ([]image.HistoryResponseItem, error)
	Tag(ctx context.Context, ref, repo, tag string) error
}

// ListOptions for GET /images/json.
type ListOptions struct {
	All     bool
	Filters filters.Args
	Digests bool
}
