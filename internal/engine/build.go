package engine

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"sync"

	ctypes "github.com/moby/moby/api/types/container"

	"github.com/berth-dev/berth/internal/apiserver/router/containers"
	"github.com/berth-dev/berth/internal/builder"
	"github.com/berth-dev/berth/internal/errdefs"
	"github.com/berth-dev/berth/internal/image"
	"github.com/berth-dev/berth/internal/storage"
)

// BuildImages is what builds need from the image store; *image.Store
// provides it.
type BuildImages interface {
	Get(ctx context.Context, ref string) (*image.Image, error)
	Commit(ctx context.Context, layerTar io.Reader, opts image.CommitOptions) (image.ID, error)
	CommitConfig(ctx context.Context, opts image.CommitOptions) (image.ID, error)
	Tag(ctx context.Context, ref, repo, tag string) error
	DeleteDangling(ctx context.Context, id image.ID) error
}

// BuildLayers is what builds need from the layer store: writable layers
// with no container (work layers) and their diffs. *layer.Store provides
// it.
type BuildLayers interface {
	CreateRW(ctx context.Context, id string, parent image.ChainID, opts ...storage.Opt) error
	Mount(ctx context.Context, id string) (string, error)
	RemoveRW(ctx context.Context, id string) error
	DiffRW(ctx context.Context, id string, w io.Writer) error
}

// BuildBackend is the classic builder's view of the engine
// (builder.Backend): RUN steps are ordinary containers (listed by
// docker ps -a while they exist, as dockerd's), COPY and ADD write into
// work layers: writable layers named "build-<hex>" that no container
// owns, which Restore removes after a crash like any layer without a
// container record.
type BuildBackend struct {
	e      *Engine
	images BuildImages
	layers BuildLayers
}

var (
	_ builder.Backend      = (*BuildBackend)(nil)
	_ builder.ImageRemover = (*BuildBackend)(nil)
)

// NewBuildBackend returns the builder's backend over e and the stores e
// uses.
func NewBuildBackend(e *Engine, images BuildImages, layers BuildLayers) *BuildBackend {
	return &BuildBackend{e: e, images: images, layers: layers}
}

// Image resolves a local image.
func (b *BuildBackend) Image(ctx context.Context, ref string) (*image.Image, error) {
	return b.images.Get(ctx, ref)
}

// Run runs one RUN step's container and copies its output to req.Out as
// it comes. A container that cannot be created or started is removed and
// err says why; one that ran is kept (stopped) for CommitContainer. If
// ctx ends first, the container is killed and removed.
func (b *BuildBackend) Run(ctx context.Context, req builder.RunRequest) (string, int, error) {
	if req.Image == "" {
		return "", 0, errdefs.InvalidArgumentf("Please provide a source image with `from` prior to run")
	}
	cfg := req.Config
	cfg.Image = string(req.Image)
	if len(cfg.Entrypoint) == 0 {
		cfg.Entrypoint = []string{} // not nil: the image's entrypoint is not inherited
	}
	// A step is not a service: the image's healthcheck does not run.
	cfg.Healthcheck = &ctypes.HealthConfig{Test: []string{"NONE"}}
	cfg.AttachStdin, cfg.OpenStdin, cfg.StdinOnce, cfg.Tty = false, false, false, false
	cfg.AttachStdout, cfg.AttachStderr = true, true
	hc := req.HostConfig
	hc.AutoRemove = false
	hc.RestartPolicy = ctypes.RestartPolicy{}
	resp, err := b.e.Create(ctx, containers.CreateRequest{Config: &cfg, HostConfig: &hc})
	if err != nil {
		return "", 0, err
	}
	id := resp.ID
	if req.Created != nil {
		req.Created(id)
	}
	code, err := b.runCreated(ctx, id, req.Out, req.Stderr)
	if err != nil {
		if rerr := b.RemoveContainer(cleanupCtx(ctx), id); rerr != nil {
			b.e.log.WithError(rerr).WithField("container", id).Warn("build: remove failed step container")
		}
		return "", 0, err
	}
	return id, code, nil
}

// runCreated attaches to container id, starts it and waits for its exit
// and the end of its output (stderr to errOut if not nil, else to out).
func (b *BuildBackend) runCreated(ctx context.Context, id string, out, errOut io.Writer) (int, error) {
	if out == nil {
		out = io.Discard
	}
	if errOut == nil {
		errOut = out
	}
	actx, cancel := context.WithCancel(ctx)
	defer cancel()
	ready := make(chan struct{})
	var once sync.Once
	attached := make(chan error, 1)
	go func() {
		attached <- b.e.Attach(actx, id, containers.AttachOptions{
			Stdout: out, Stderr: errOut, Stream: true,
			Ready: func() { once.Do(func() { close(ready) }) },
		})
	}()
	select {
	case <-ready:
	case err := <-attached:
		if err == nil {
			err = fmt.Errorf("attach to build container %s ended early", id)
		}
		return 0, err
	}
	waitc, err := b.e.Wait(actx, id, ctypes.WaitConditionNextExit)
	if err != nil {
		return 0, err
	}
	if err := b.e.Start(ctx, id); err != nil {
		return 0, err
	}
	var code int
	select {
	case r := <-waitc:
		code = int(r.StatusCode)
	case <-ctx.Done():
		return 0, ctx.Err() // the caller removes it, which kills it
	}
	select {
	case err := <-attached:
		if err != nil {
			return 0, fmt.Errorf("output of build container %s: %w", id, err)
		}
	case <-ctx.Done():
		return 0, ctx.Err()
	}
	return code, nil
}

// CommitContainer makes a step's image of a stopped build container's
// changes, with the step's config exactly.
func (b *BuildBackend) CommitContainer(ctx context.Context, containerID string, req builder.CommitRequest) (image.ID, error) {
	ent, err := b.e.store.Get(containerID)
	if err != nil {
		return "", err
	}
	c := ent.Snapshot()
	if c.State.Running() {
		return "", errdefs.Conflictf("commit: build container %s is still running", c.ID)
	}
	if req.Parent != c.ImageID {
		return "", errdefs.InvalidArgumentf("commit: container %s runs image %s, not %s", c.ID, c.ImageID, req.Parent)
	}
	id, err := commitTar(ctx, b.images, func(w io.Writer) error { return writeCommitTar(ctx, b.layers, c.ID, w) }, stepOptions(req, c.ID))
	if err != nil {
		return "", fmt.Errorf("commit build container %s: %w", c.ID, err)
	}
	return id, nil
}

func stepOptions(req builder.CommitRequest, containerID string) image.CommitOptions {
	return image.CommitOptions{
		Parent:         req.Parent,
		Config:         req.Config,
		ExactConfig:    true,
		CreatedBy:      req.CreatedBy,
		HistoryComment: req.Comment,
		Author:         req.Author,
		ContainerID:    containerID,
	}
}

// RemoveContainer removes a build container, its layer and anonymous
// volumes (the image's VOLUMEs), killing it if it still runs.
func (b *BuildBackend) RemoveContainer(ctx context.Context, containerID string) error {
	return b.e.Remove(ctx, containerID, containers.RemoveOptions{Force: true, RemoveVolumes: true})
}

// CommitConfig makes a metadata-only step image on req.Parent's layers.
func (b *BuildBackend) CommitConfig(ctx context.Context, req builder.CommitRequest) (image.ID, error) {
	return b.images.CommitConfig(ctx, stepOptions(req, ""))
}

// RemoveBuildImage deletes an image a failed build made if it is
// untagged, has no child and no container uses it; else it does nothing.
func (b *BuildBackend) RemoveBuildImage(ctx context.Context, id image.ID) error {
	return b.images.DeleteDangling(ctx, id)
}

// Tag points ref at id.
func (b *BuildBackend) Tag(ctx context.Context, id image.ID, ref string) error {
	return b.images.Tag(ctx, string(id), ref, "")
}

// NewWorkLayer makes a mounted writable layer on parent's layers.
func (b *BuildBackend) NewWorkLayer(ctx context.Context, parent image.ID) (builder.WorkLayer, error) {
	var top image.ChainID
	if parent != "" {
		img, err := b.images.Get(ctx, string(parent))
		if err != nil {
			return nil, err
		}
		parent, top = img.ID, img.TopLayer
	}
	var rnd [16]byte
	if _, err := rand.Read(rnd[:]); err != nil {
		return nil, err
	}
	w := &workLayer{b: b, id: "build-" + hex.EncodeToString(rnd[:]), parent: parent}
	if err := b.layers.CreateRW(ctx, w.id, top); err != nil {
		return nil, fmt.Errorf("build: %w", err)
	}
	path, err := b.layers.Mount(ctx, w.id)
	if err != nil {
		_ = w.Release(cleanupCtx(ctx))
		return nil, fmt.Errorf("build: %w", err)
	}
	w.path = path
	return w, nil
}

// ReadOnlyRootfs mounts id's layers for reading (COPY --from): a work
// layer nobody commits.
func (b *BuildBackend) ReadOnlyRootfs(ctx context.Context, id image.ID) (string, func(), error) {
	w, err := b.NewWorkLayer(ctx, id)
	if err != nil {
		return "", nil, err
	}
	release := func() {
		if err := w.Release(context.Background()); err != nil {
			b.e.log.WithError(err).Warn("build: release rootfs of " + string(id))
		}
	}
	return w.Path(), release, nil
}

// workLayer is a builder.WorkLayer.
type workLayer struct {
	b      *BuildBackend
	id     string   // its writable layer's key, "build-<hex>"
	parent image.ID // the image it is on ("" = scratch)
	path   string
}

func (w *workLayer) Path() string { return w.path }

// Commit makes an image of the layer's changes on its parent.
func (w *workLayer) Commit(ctx context.Context, req builder.CommitRequest) (image.ID, error) {
	if req.Parent != w.parent {
		return "", errdefs.InvalidArgumentf("commit: work layer is on image %q, not %q", w.parent, req.Parent)
	}
	id, err := commitTar(ctx, w.b.images, func(out io.Writer) error { return w.b.layers.DiffRW(ctx, w.id, out) }, stepOptions(req, ""))
	if err != nil {
		return "", fmt.Errorf("commit build layer: %w", err)
	}
	return id, nil
}

// Release unmounts and removes the layer; idempotent.
func (w *workLayer) Release(ctx context.Context) error {
	return w.b.layers.RemoveRW(ctx, w.id)
}
