package image

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"time"

	"github.com/distribution/reference"
	dockerspec "github.com/moby/docker-image-spec/specs-go/v1"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/berth-dev/berth/internal/errdefs"
)

// EmptyLayerDiffID is the diff ID of a layer tar with no entries (1024
// zero bytes): a commit that changed nothing adds no layer, only a
// history entry marked empty_layer, as dockerd does.
const EmptyLayerDiffID = digest.Digest("sha256:5f70bf18a086007016e948b04aed3b82103a36bea41755b6cddfaf10ace3c6ef")

// CommitOptions describe a committed image: docker commit's, or a build
// step's.
type CommitOptions struct {
	Parent  ID                              // the container's image ("" = none)
	Config  dockerspec.DockerOCIImageConfig // the container's config
	Changes []string                        // Dockerfile instructions, applied over Config
	// ExactConfig stores Config as given (a build step's config, already
	// complete): no Changes, no merging.
	ExactConfig bool
	Author      string
	Comment     string // the image's comment and its history entry's
	// HistoryComment is the history entry's comment only (a build step's;
	// dockerd's builder leaves the image's comment empty).
	HistoryComment string
	CreatedBy      string // the container's command, for history
	ContainerID    string
	Repo, Tag      string // "" = untagged
}

// commitConfig is the new image's config and tag, checked before any
// layer is read.
func commitConfig(opts *CommitOptions) (dockerspec.DockerOCIImageConfig, reference.Named, error) {
	var user dockerspec.DockerOCIImageConfig
	if opts.ExactConfig {
		if len(opts.Changes) > 0 {
			return user, nil, errdefs.InvalidArgumentf("commit: changes cannot be applied to an exact config")
		}
		user = opts.Config
	} else {
		if err := ApplyChanges(&user, opts.Changes); err != nil {
			return user, nil, err
		}
		mergeConfig(&user, &opts.Config)
	}
	if opts.Repo == "" {
		// dockerd: a tag without a repository is ignored
		return user, nil, nil
	}
	t, err := parseTag(opts.Repo, opts.Tag)
	if err != nil {
		return user, nil, err
	}
	return user, t, nil
}

// parentOf returns the parent image's config and top layer.
func (s *Store) parentOf(id ID) (dockerspec.DockerOCIImage, ChainID, error) {
	if id == "" {
		return dockerspec.DockerOCIImage{}, "", nil
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	rec, ok := s.images[id]
	if !ok {
		return dockerspec.DockerOCIImage{}, "", notFound(string(id))
	}
	return rec.config, rec.topLayer, nil
}

// Commit creates an image from the parent image plus the layer tar
// (a container's changes). Everything that can be refused is checked
// before the tar is read; the layer is registered before the config is
// written, so a crash leaves no half image. A tar with no entries adds no
// layer: the history entry is marked empty_layer, as dockerd does.
func (s *Store) Commit(ctx context.Context, layerTar io.Reader, opts CommitOptions) (ID, error) {
	user, named, err := commitConfig(&opts)
	if err != nil {
		return "", err
	}
	parent, parentTop, err := s.parentOf(opts.Parent)
	if err != nil {
		return "", err
	}
	// A tar that starts with its end-of-archive blocks holds nothing: no
	// layer to register (and sync), as after a RUN that changed nothing.
	br := bufio.NewReaderSize(layerTar, 4096)
	if head, _ := br.Peek(1024); len(head) == 1024 && !slices.ContainsFunc(head, func(b byte) bool { return b != 0 }) {
		if _, err := io.Copy(io.Discard, br); err != nil {
			return "", fmt.Errorf("commit: %w", err)
		}
		return s.commitEmpty(ctx, opts, user, named, parent, parentTop)
	}
	l, err := s.layers.Register(ctx, br, parentTop)
	if err != nil {
		return "", fmt.Errorf("commit: %w", err)
	}
	if l.DiffID == EmptyLayerDiffID {
		// The image stays on its parent's layers.
		if _, err := s.layers.Release(ctx, l.ChainID); err != nil {
			return "", err
		}
		return s.commitEmpty(ctx, opts, user, named, parent, parentTop)
	}
	return s.commitChild(ctx, opts, user, named, parent, l.ChainID, l.DiffID)
}

// CommitConfig creates an image on the parent's layers with a new config
// and a history entry marked empty_layer (a build's ENV, CMD, LABEL...
// step): no layer is registered and no tar read.
func (s *Store) CommitConfig(ctx context.Context, opts CommitOptions) (ID, error) {
	user, named, err := commitConfig(&opts)
	if err != nil {
		return "", err
	}
	parent, parentTop, err := s.parentOf(opts.Parent)
	if err != nil {
		return "", err
	}
	return s.commitEmpty(ctx, opts, user, named, parent, parentTop)
}

// commitEmpty makes an image on top (the parent's top layer), taking the
// reference the image holds on it.
func (s *Store) commitEmpty(ctx context.Context, opts CommitOptions, user dockerspec.DockerOCIImageConfig, named reference.Named, parent dockerspec.DockerOCIImage, top ChainID) (ID, error) {
	if top != "" {
		if _, err := s.layers.Get(top); err != nil {
			return "", err
		}
	}
	return s.commitChild(ctx, opts, user, named, parent, top, "")
}

// commitChild writes the image: the parent's layers plus diffID ("" =
// none, an empty layer), its history plus one entry; top is the image's
// top layer, on which the caller holds the reference the image takes.
func (s *Store) commitChild(ctx context.Context, opts CommitOptions, user dockerspec.DockerOCIImageConfig, named reference.Named, parent dockerspec.DockerOCIImage, top ChainID, diffID digest.Digest) (ID, error) {
	created := time.Now().UTC()
	var cf configFile
	cf.Comment = opts.Comment
	cf.Created = &created
	cf.Author = opts.Author
	cf.Platform = parent.Platform
	if cf.OS == "" {
		cf.OS = "linux"
	}
	if cf.Architecture == "" {
		cf.Architecture = runtime.GOARCH
	}
	cf.Config = user
	cf.RootFS = ocispec.RootFS{Type: "layers", DiffIDs: append([]digest.Digest(nil), parent.RootFS.DiffIDs...)}
	if diffID != "" {
		cf.RootFS.DiffIDs = append(cf.RootFS.DiffIDs, diffID)
	}
	comment := opts.Comment
	if opts.HistoryComment != "" {
		comment = opts.HistoryComment
	}
	cf.History = append(append([]ocispec.History(nil), parent.History...), ocispec.History{
		Created:    &created,
		CreatedBy:  opts.CreatedBy,
		Author:     opts.Author,
		Comment:    comment,
		EmptyLayer: diffID == "",
	})
	id, err := s.create(ctx, cf, top, opts.Parent) // top "" (an empty scratch commit) holds nothing
	if err != nil {
		return "", err
	}
	if named != nil {
		s.mu.Lock()
		err = s.tagLocked(named, id)
		s.mu.Unlock()
		if err != nil {
			return "", err
		}
	}
	return id, nil
}

// writeParent records id's parent image (docker history names the
// parent's entries by its ID; an untagged image with children is not
// dangling). Not fsynced, like lastUpdated: after a host crash a lost
// parent file makes the parent look dangling, nothing worse.
func (s *Store) writeParent(id, parent ID) error {
	md := s.metadataDir(id)
	if err := os.MkdirAll(md, 0o700); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(md, "parent"), []byte(parent), 0o600)
}

// mergeConfig fills what the changes left unset from the container's
// config (dockerd's daemon/commit.go merge).
func mergeConfig(user, c *dockerspec.DockerOCIImageConfig) {
	if user.User == "" {
		user.User = c.User
	}
	if len(user.ExposedPorts) == 0 {
		user.ExposedPorts = maps.Clone(c.ExposedPorts)
	} else {
		for p := range c.ExposedPorts {
			user.ExposedPorts[p] = struct{}{}
		}
	}
	if len(user.Env) == 0 {
		user.Env = append([]string(nil), c.Env...)
	} else {
		for _, ce := range c.Env {
			ck, _, _ := strings.Cut(ce, "=")
			found := false
			for _, ue := range user.Env {
				if uk, _, _ := strings.Cut(ue, "="); uk == ck {
					found = true
					break
				}
			}
			if !found {
				user.Env = append(user.Env, ce)
			}
		}
	}
	if len(c.Labels) > 0 && user.Labels == nil {
		user.Labels = map[string]string{}
	}
	for k, v := range c.Labels {
		if _, ok := user.Labels[k]; !ok {
			user.Labels[k] = v
		}
	}
	if len(user.Entrypoint) == 0 {
		if len(user.Cmd) == 0 {
			user.Cmd = c.Cmd
		}
		if user.Entrypoint == nil {
			user.Entrypoint = c.Entrypoint
		}
	}
	if user.Healthcheck == nil {
		user.Healthcheck = c.Healthcheck
	}
	if user.WorkingDir == "" {
		user.WorkingDir = c.WorkingDir
	}
	if len(user.Volumes) == 0 {
		user.Volumes = maps.Clone(c.Volumes)
	} else {
		for v := range c.Volumes {
			user.Volumes[v] = struct{}{}
		}
	}
	if user.StopSignal == "" {
		user.StopSignal = c.StopSignal
	}
	if len(user.OnBuild) == 0 {
		user.OnBuild = c.OnBuild
	}
	if len(user.Shell) == 0 {
		user.Shell = c.Shell
	}
}
