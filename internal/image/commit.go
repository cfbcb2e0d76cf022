package image

import (
	"context"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"github.com/distribution/reference"
	dockerspec "github.com/moby/docker-image-spec/specs-go/v1"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// EmptyLayerDiffID is the diff ID of a layer tar with no entries (1024
// zero bytes): a commit that changed nothing adds no layer, only a
// history entry marked empty_layer, as dockerd does.
const EmptyLayerDiffID = digest.Digest("sha256:5f70bf18a086007016e948b04aed3b82103a36bea41755b6cddfaf10ace3c6ef")

// CommitOptions describe docker commit's new image.
type CommitOptions struct {
	Parent      ID                              // the container's image ("" = none)
	Config      dockerspec.DockerOCIImageConfig // the container's config
	Changes     []string                        // Dockerfile instructions, applied over Config
	Author      string
	Comment     string
	CreatedBy   string // the container's command, for history
	ContainerID string
	Repo, Tag   string // "" = untagged
}

// Commit creates an image from the parent image plus the layer tar
// (a container's changes). Everything that can be refused is checked
// before the tar is read; the layer is registered before the config is
// written, so a crash leaves no half image.
func (s *Store) Commit(ctx context.Context, layerTar io.Reader, opts CommitOptions) (ID, error) {
	var user dockerspec.DockerOCIImageConfig
	if err := ApplyChanges(&user, opts.Changes); err != nil {
		return "", err
	}
	mergeConfig(&user, &opts.Config)
	var named reference.Named
	if opts.Repo != "" {
		t, err := parseTag(opts.Repo, opts.Tag)
		if err != nil {
			return "", err
		}
		named = t
	} else if opts.Tag != "" {
		// dockerd: a tag without a repository is ignored
		opts.Tag = ""
	}

	var parent dockerspec.DockerOCIImage
	var parentTop ChainID
	if opts.Parent != "" {
		s.mu.RLock()
		rec, ok := s.images[opts.Parent]
		if ok {
			parent = rec.config
			parentTop = rec.topLayer
		}
		s.mu.RUnlock()
		if !ok {
			return "", notFound(string(opts.Parent))
		}
	}
	l, err := s.layers.Register(ctx, layerTar, parentTop)
	if err != nil {
		return "", fmt.Errorf("commit: %w", err)
	}
	top := l.ChainID
	empty := l.DiffID == EmptyLayerDiffID
	if empty {
		// The image stays on its parent's layers.
		if _, err := s.layers.Release(ctx, l.ChainID); err != nil {
			return "", err
		}
		top = parentTop
		if top != "" {
			if _, err := s.layers.Get(top); err != nil {
				return "", err
			}
		}
	}

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
	if !empty {
		cf.RootFS.DiffIDs = append(cf.RootFS.DiffIDs, l.DiffID)
	}
	cf.History = append(append([]ocispec.History(nil), parent.History...), ocispec.History{
		Created:    &created,
		CreatedBy:  opts.CreatedBy,
		Author:     opts.Author,
		Comment:    opts.Comment,
		EmptyLayer: empty,
	})
	id, err := s.create(ctx, cf, top) // top "" (an empty scratch commit) holds nothing
	if err != nil {
		return "", err
	}
	if opts.Parent != "" {
		s.setParent(id, opts.Parent)
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

// setParent records id's parent image (docker history names the parent's
// entries by its ID). Informational, like lastUpdated.
func (s *Store) setParent(id, parent ID) {
	md := s.metadataDir(id)
	if err := os.MkdirAll(md, 0o700); err == nil {
		_ = os.WriteFile(filepath.Join(md, "parent"), []byte(parent), 0o600)
	}
	s.mu.Lock()
	if rec, ok := s.images[id]; ok {
		rec.parent = parent
	}
	s.mu.Unlock()
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
