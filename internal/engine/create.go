package engine

import (
	"context"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	units "github.com/docker/go-units"
	dockerspec "github.com/moby/docker-image-spec/specs-go/v1"
	ctypes "github.com/moby/moby/api/types/container"
	eventtypes "github.com/moby/moby/api/types/events"
	"github.com/moby/moby/api/types/network"

	"github.com/berth-dev/berth/internal/apiserver/router/containers"
	"github.com/berth-dev/berth/internal/cgroups"
	"github.com/berth-dev/berth/internal/container"
	"github.com/berth-dev/berth/internal/errdefs"
	"github.com/berth-dev/berth/internal/health"
	"github.com/berth-dev/berth/internal/ocispec"
	"github.com/berth-dev/berth/internal/storage"
)

// Create makes a container: record, name and writable layer. On failure
// nothing of it remains.
func (e *Engine) Create(ctx context.Context, req containers.CreateRequest) (resp ctypes.CreateResponse, err error) {
	if req.Config == nil {
		return resp, errdefs.InvalidArgumentf("Config cannot be empty in order to create a container")
	}
	if req.Platform != "" && !strings.HasPrefix(req.Platform, "linux") {
		return resp, errdefs.InvalidArgumentf("unsupported platform %q: berth runs linux containers", req.Platform)
	}
	cfg := *req.Config
	hc := &ctypes.HostConfig{}
	if req.HostConfig != nil {
		c := *req.HostConfig
		hc = &c
	}
	var name string
	if req.Name != "" {
		if name, err = container.NormalizeName(req.Name); err != nil {
			return resp, err
		}
	}
	if cfg.Image == "" {
		return resp, errdefs.InvalidArgumentf("No image specified")
	}
	if err := ocispec.Validate(&cfg, hc); err != nil {
		return resp, err
	}
	if err := ocispec.ValidateUserns(hc, !e.cfg.Remap.Empty()); err != nil {
		return resp, err
	}
	if _, err := health.ParseOnFailure(cfg.Labels[health.OnFailureLabel]); err != nil {
		return resp, err
	}
	img, err := e.cfg.Images.Get(ctx, cfg.Image)
	if err != nil {
		return resp, err
	}
	merged := mergeConfig(&cfg, &img.Config.Config)
	if err := ocispec.ValidateMerged(merged); err != nil {
		return resp, err
	}
	argv := append(slices.Clone(merged.Entrypoint), merged.Cmd...)
	if len(argv) == 0 {
		return resp, errdefs.InvalidArgumentf("No command specified")
	}
	runtime := hc.Runtime
	if runtime == "" {
		runtime = e.cfg.DefaultRuntime
	}
	if _, err := e.runtimePath(runtime); err != nil {
		return resp, err
	}
	hc.Runtime = runtime
	ocispec.AdaptHostConfig(hc, cgroups.Version() == "2")
	nets, err := e.planNetworks(hc, req.NetworkingConfig)
	if err != nil {
		return resp, err
	}
	if err := e.defaultLogConfig(hc); err != nil {
		return resp, err
	}

	id := container.NewID()
	if merged.Hostname == "" {
		merged.Hostname = id[:12]
	}
	if name == "" {
		if name, err = e.store.ReserveRandomName(id); err != nil {
			return resp, err
		}
	} else if err = e.store.ReserveName(name, id); err != nil {
		return resp, err
	}
	defer func() {
		if err != nil {
			e.store.ReleaseName(name, id)
		}
	}()

	dir := e.store.Dir(id)
	if err = os.Mkdir(dir, 0o710); err != nil {
		return resp, fmt.Errorf("create container %s: %w", id, err)
	}
	defer func() {
		if err != nil {
			os.RemoveAll(dir)
		}
	}()

	var rwOpts []storage.Opt
	if !e.cfg.Remap.Empty() && !hc.UsernsMode.IsHost() {
		// The remapped root reaches its hosts/resolv.conf/hostname here
		// (0710, group its gid, as dockerd's remapped data root).
		if _, gid := e.cfg.Remap.Root(); gid >= 0 {
			if err = os.Chown(dir, -1, gid); err != nil {
				return resp, fmt.Errorf("create container %s: %w", id, err)
			}
		}
		rwOpts = append(rwOpts, storage.WithIDMap(e.cfg.Remap))
	}
	if err = e.cfg.Layers.CreateRW(ctx, id, img.TopLayer, rwOpts...); err != nil {
		return resp, fmt.Errorf("create writable layer of %s: %w", id, err)
	}
	defer func() {
		if err != nil {
			if rerr := e.cfg.Layers.RemoveRW(cleanupCtx(ctx), id); rerr != nil {
				e.log.WithError(rerr).WithField("container", id).Warn("undo create: remove writable layer")
			}
		}
	}()
	driver, _, err := e.cfg.Layers.Metadata(ctx, id)
	if err != nil {
		return resp, fmt.Errorf("writable layer of %s: %w", id, err)
	}
	mounts, copyUp, err := e.resolveMounts(ctx, id, merged, hc)
	if err != nil {
		return resp, err
	}
	defer func() {
		if err != nil {
			e.releaseVolumes(cleanupCtx(ctx), id, mounts, true)
		}
	}()
	if err = e.copyUp(ctx, id, mounts, copyUp); err != nil {
		return resp, err
	}

	c := &container.Container{
		ID:             id,
		Name:           name,
		Created:        time.Now().UTC(),
		Path:           argv[0],
		Args:           argv[1:],
		Config:         merged,
		HostConfig:     hc,
		ImageID:        img.ID,
		Driver:         driver,
		Runtime:        runtime,
		State:          container.State{Status: ctypes.StateCreated},
		HostnamePath:   filepath.Join(dir, "hostname"),
		HostsPath:      filepath.Join(dir, "hosts"),
		ResolvConfPath: filepath.Join(dir, "resolv.conf"),
		Networks:       nets,
		Mounts:         mounts,
	}
	if hc.LogConfig.Type == "json-file" {
		c.LogPath = filepath.Join(dir, id+"-json.log")
	}
	if _, err = e.store.Add(c); err != nil {
		return resp, err
	}
	e.logEvent(c, eventtypes.ActionCreate, nil)
	return ctypes.CreateResponse{ID: id, Warnings: []string{}}, nil
}

// mergeConfig fills the user's config from the image's, with dockerd's
// rules (daemon/create.go merge): Env merged by key (the user's win), an
// Entrypoint given by the user drops the image's Cmd, labels, ports and
// volumes are unions, scalars are inherited when unset.
func mergeConfig(user *ctypes.Config, img *dockerspec.DockerOCIImageConfig) *ctypes.Config {
	c := *user
	if c.User == "" {
		c.User = img.User
	}
	if len(c.ExposedPorts) == 0 {
		c.ExposedPorts = network.PortSet{}
	} else {
		c.ExposedPorts = maps.Clone(c.ExposedPorts)
	}
	for p := range img.ExposedPorts {
		if port, err := network.ParsePort(p); err == nil {
			c.ExposedPorts[port] = struct{}{}
		}
	}
	if len(c.ExposedPorts) == 0 {
		c.ExposedPorts = nil
	}
	if len(c.Env) == 0 {
		c.Env = slices.Clone(img.Env)
	} else {
		c.Env = slices.Clone(c.Env)
		for _, ie := range img.Env {
			ik, _, _ := strings.Cut(ie, "=")
			if !slices.ContainsFunc(c.Env, func(ue string) bool { uk, _, _ := strings.Cut(ue, "="); return uk == ik }) {
				c.Env = append(c.Env, ie)
			}
		}
	}
	c.Labels = maps.Clone(c.Labels)
	if c.Labels == nil {
		c.Labels = map[string]string{}
	}
	for k, v := range img.Labels {
		if _, ok := c.Labels[k]; !ok {
			c.Labels[k] = v
		}
	}
	if len(c.Entrypoint) == 0 {
		if len(c.Cmd) == 0 {
			c.Cmd = img.Cmd
			c.ArgsEscaped = img.ArgsEscaped
		}
		if c.Entrypoint == nil {
			c.Entrypoint = img.Entrypoint
		}
	}
	if ih := img.Healthcheck; ih != nil {
		if c.Healthcheck == nil {
			h := *ih
			c.Healthcheck = &h
		} else {
			h := *c.Healthcheck
			if len(h.Test) == 0 {
				h.Test = ih.Test
			}
			if h.Interval == 0 {
				h.Interval = ih.Interval
			}
			if h.Timeout == 0 {
				h.Timeout = ih.Timeout
			}
			if h.StartPeriod == 0 {
				h.StartPeriod = ih.StartPeriod
			}
			if h.StartInterval == 0 {
				h.StartInterval = ih.StartInterval
			}
			if h.Retries == 0 {
				h.Retries = ih.Retries
			}
			c.Healthcheck = &h
		}
	}
	if c.WorkingDir == "" {
		c.WorkingDir = img.WorkingDir
	}
	if len(c.Volumes) == 0 {
		c.Volumes = maps.Clone(img.Volumes)
	} else {
		c.Volumes = maps.Clone(c.Volumes)
		for k, v := range img.Volumes {
			c.Volumes[k] = v
		}
	}
	if c.StopSignal == "" {
		c.StopSignal = img.StopSignal
	}
	if len(c.Shell) == 0 {
		c.Shell = img.Shell
	}
	if len(c.OnBuild) == 0 {
		c.OnBuild = img.OnBuild
	}
	return &c
}

var jsonFileOpts = map[string]bool{
	"max-size": true, "max-file": true, "compress": true, "labels": true,
	"labels-regex": true, "env": true, "env-regex": true, "tag": true, "mode": true, "max-buffer-size": true,
}

// defaultLogConfig picks json-file when no driver is named and checks its
// options.
func (e *Engine) defaultLogConfig(hc *ctypes.HostConfig) error {
	lc := &hc.LogConfig
	if lc.Type == "" {
		lc.Type = "json-file"
	}
	switch lc.Type {
	case "none":
		return nil
	case "json-file":
	default:
		return errdefs.InvalidArgumentf("logger: no log driver named '%s' is registered", lc.Type)
	}
	for k := range lc.Config {
		if !jsonFileOpts[k] {
			return errdefs.InvalidArgumentf("unknown log opt '%s' for json-file log driver", k)
		}
	}
	_, _, err := e.logLimits(hc)
	return err
}

// logLimits is the json-file rotation of a container.
func (e *Engine) logLimits(hc *ctypes.HostConfig) (maxSize int64, maxFiles int, err error) {
	maxSize, maxFiles = e.cfg.LogDefaults.MaxSize, e.cfg.LogDefaults.MaxFiles
	if s, ok := hc.LogConfig.Config["max-size"]; ok {
		if s == "-1" {
			maxSize = 0
		} else if maxSize, err = units.RAMInBytes(s); err != nil || maxSize < 0 {
			return 0, 0, errdefs.InvalidArgumentf("invalid max-size %q for json-file log driver", s)
		}
	}
	if s, ok := hc.LogConfig.Config["max-file"]; ok {
		if maxFiles, err = strconv.Atoi(s); err != nil || maxFiles < 1 {
			return 0, 0, errdefs.InvalidArgumentf("invalid max-file %q for json-file log driver: must be a positive number", s)
		}
		if maxFiles > 1 && maxSize == 0 {
			return 0, 0, errdefs.InvalidArgumentf("max-file cannot be set without max-size")
		}
	}
	return maxSize, maxFiles, nil
}
