package engine

import (
	"archive/tar"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"

	dockerspec "github.com/moby/docker-image-spec/specs-go/v1"
	ctypes "github.com/moby/moby/api/types/container"
	eventtypes "github.com/moby/moby/api/types/events"

	"github.com/berth-dev/berth/internal/apiserver/router/containers"
	"github.com/berth-dev/berth/internal/archive"
	"github.com/berth-dev/berth/internal/container"
	"github.com/berth-dev/berth/internal/errdefs"
	"github.com/berth-dev/berth/internal/image"
)

var _ containers.FilesystemBackend = (*Engine)(nil)

// ImageCommitter stores a committed image; *image.Store provides it.
type ImageCommitter interface {
	Commit(ctx context.Context, layerTar io.Reader, opts image.CommitOptions) (image.ID, error)
}

// RWDiffer writes and lists a container's changes; *layer.Store provides
// it.
type RWDiffer interface {
	DiffRW(ctx context.Context, id string, w io.Writer) error
	ChangesRW(ctx context.Context, id string) ([]archive.Change, error)
}

func (e *Engine) rwDiffer() (RWDiffer, error) {
	d, ok := e.cfg.Layers.(RWDiffer)
	if !ok {
		return nil, errdefs.NotImplementedf("the layer store cannot diff writable layers")
	}
	return d, nil
}

// pauser is the engine's pause/unpause, once it has them: commit --pause
// freezes the container while its changes are read.
type pauser interface {
	Pause(ctx context.Context, ref string) error
	Unpause(ctx context.Context, ref string) error
}

// Commit makes an image of a container: its image plus its writable
// layer, with the container's config (and changes) as the image config.
func (e *Engine) Commit(ctx context.Context, ref string, opts containers.CommitOptions) (string, error) {
	ic, ok := e.cfg.Images.(ImageCommitter)
	if !ok {
		return "", errdefs.NotImplementedf("commit: the image store cannot commit")
	}
	rd, err := e.rwDiffer()
	if err != nil {
		return "", err
	}
	if ref == "" {
		return "", errdefs.InvalidArgumentf("commit: container name or ID is required")
	}
	ent, err := e.store.Get(ref)
	if err != nil {
		return "", err
	}
	c := ent.Snapshot()
	if c.State.Status == ctypes.StateRemoving || c.State.Status == ctypes.StateDead {
		return "", errdefs.Conflictf("You cannot commit container %s which is being removed", c.ID)
	}
	if opts.Pause && c.State.Status == ctypes.StateRunning {
		if p, ok := any(e).(pauser); ok {
			if err := p.Pause(ctx, c.ID); err == nil {
				defer func() { _ = p.Unpause(context.WithoutCancel(ctx), c.ID) }()
			}
		}
	}
	base := configOf(c.Config)
	user := dockerspec.DockerOCIImageConfig{}
	if opts.Config != nil {
		user = configOf(opts.Config)
	}
	changes := opts.Changes
	// A body config counts as changes already applied: merge it in first.
	if opts.Config != nil {
		base = mergeOver(user, base)
	}
	id, err := commitTar(ctx, ic, func(w io.Writer) error { return writeCommitTar(ctx, rd, c.ID, w) }, image.CommitOptions{
		Parent:      c.ImageID,
		Config:      base,
		Changes:     changes,
		Author:      opts.Author,
		Comment:     opts.Comment,
		CreatedBy:   strings.Join(c.Config.Cmd, " "),
		ContainerID: c.ID,
		Repo:        opts.Repo,
		Tag:         opts.Tag,
	})
	if err != nil {
		return "", fmt.Errorf("commit %s: %w", c.Name[1:], err)
	}
	imageRef := opts.Repo
	if imageRef != "" && opts.Tag != "" {
		imageRef += ":" + opts.Tag
	}
	e.logEvent(c, eventtypes.ActionCommit, map[string]string{"comment": opts.Comment, "imageID": string(id), "imageRef": imageRef})
	return string(id), nil
}

// configOf turns a container config into an image config (their JSON
// field names are the same).
func configOf(c *ctypes.Config) dockerspec.DockerOCIImageConfig {
	var out dockerspec.DockerOCIImageConfig
	if c == nil {
		return out
	}
	b, err := json.Marshal(c)
	if err == nil {
		_ = json.Unmarshal(b, &out)
	}
	return out
}

// mergeOver returns top with unset fields taken from bottom.
func mergeOver(top, bottom dockerspec.DockerOCIImageConfig) dockerspec.DockerOCIImageConfig {
	if top.User == "" {
		top.User = bottom.User
	}
	if len(top.Env) == 0 {
		top.Env = bottom.Env
	}
	if len(top.Cmd) == 0 && len(top.Entrypoint) == 0 {
		top.Cmd, top.Entrypoint = bottom.Cmd, bottom.Entrypoint
	}
	if top.WorkingDir == "" {
		top.WorkingDir = bottom.WorkingDir
	}
	if len(top.Labels) == 0 {
		top.Labels = bottom.Labels
	}
	if len(top.ExposedPorts) == 0 {
		top.ExposedPorts = bottom.ExposedPorts
	}
	if len(top.Volumes) == 0 {
		top.Volumes = bottom.Volumes
	}
	if top.StopSignal == "" {
		top.StopSignal = bottom.StopSignal
	}
	if top.Healthcheck == nil {
		top.Healthcheck = bottom.Healthcheck
	}
	return top
}

// Changes lists a container's filesystem changes (docker diff).
func (e *Engine) Changes(ctx context.Context, ref string) ([]ctypes.FilesystemChange, error) {
	rd, err := e.rwDiffer()
	if err != nil {
		return nil, err
	}
	ent, err := e.store.Get(ref)
	if err != nil {
		return nil, err
	}
	var ch []archive.Change
	list := func() (err error) {
		ch, err = rd.ChangesRW(ctx, ent.ID())
		return err
	}
	if ent.Snapshot().State.Status == ctypes.StateRunning {
		// Frozen while its layer is walked, as for docker cp: a process
		// swapping a directory for a symlink out of the rootfs made the
		// walk list a host directory, and files it removed failed it.
		err = e.withFrozenRootfs(ctx, ref, func(*container.Container, string) error { return list() })
	} else {
		err = list()
	}
	if err != nil {
		return nil, err
	}
	out := make([]ctypes.FilesystemChange, 0, len(ch))
	for _, c := range ch {
		if c.Kind == archive.ChangeAdd && mountPoints[strings.TrimPrefix(c.Path, "/")] {
			continue
		}
		out = append(out, ctypes.FilesystemChange{Path: c.Path, Kind: ctypes.ChangeType(c.Kind)})
	}
	// /etc copied up only for those mount points is no change either.
	for i, c := range out {
		if c.Path != "/etc" || c.Kind != ctypes.ChangeModify {
			continue
		}
		inside := false
		for _, o := range out {
			inside = inside || strings.HasPrefix(o.Path, "/etc/")
		}
		if !inside {
			out = append(out[:i], out[i+1:]...)
		}
		break
	}
	return out, nil
}

// mountPoints are the files the engine bind-mounts into every container.
// berth creates them in the writable layer (dockerd keeps them in an init
// layer below it), so they are left out of docker diff and commit when
// they are the empty mount points, as with dockerd.
var mountPoints = map[string]bool{"etc/hostname": true, "etc/hosts": true, "etc/resolv.conf": true, ".dockerenv": true}

// commitTar stores an image whose layer write produces (docker commit's,
// a build step's), streaming the tar into the image store.
func commitTar(ctx context.Context, ic ImageCommitter, write func(io.Writer) error, opts image.CommitOptions) (image.ID, error) {
	pr, pw := io.Pipe()
	go func() { pw.CloseWithError(write(pw)) }()
	id, err := ic.Commit(ctx, pr, opts)
	pr.CloseWithError(io.ErrClosedPipe) // end the writer if Commit stopped early
	return id, err
}

// writeCommitTar writes the container's changes without the empty mount
// point files, and without /etc when nothing else in it changed (the
// mount points made it look modified): a RUN that changed nothing makes
// an empty layer, as with dockerd's init layer.
func writeCommitTar(ctx context.Context, rd interface {
	DiffRW(ctx context.Context, id string, w io.Writer) error
}, id string, w io.Writer) error {
	pr, pw := io.Pipe()
	go func() { pw.CloseWithError(rd.DiffRW(ctx, id, pw)) }()
	defer pr.Close()
	tr := tar.NewReader(pr)
	tw := tar.NewWriter(w)
	var etc *tar.Header // /etc's entry, held until something in it is written
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return err
		}
		name := strings.TrimSuffix(strings.TrimPrefix(strings.TrimPrefix(hdr.Name, "./"), "/"), "/")
		if hdr.Typeflag == tar.TypeReg && hdr.Size == 0 && mountPoints[name] {
			continue
		}
		if name == "etc" && hdr.Typeflag == tar.TypeDir {
			etc = hdr
			continue
		}
		if etc != nil {
			if strings.HasPrefix(name, "etc/") {
				if err := tw.WriteHeader(etc); err != nil {
					return err
				}
			}
			etc = nil // the walk has left /etc: nothing in it changed
		}
		if err := tw.WriteHeader(hdr); err != nil {
			return err
		}
		if _, err := io.Copy(tw, tr); err != nil {
			return err
		}
	}
	return tw.Close()
}
