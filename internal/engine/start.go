package engine

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"time"

	securejoin "github.com/cyphar/filepath-securejoin"
	ctypes "github.com/moby/moby/api/types/container"
	eventtypes "github.com/moby/moby/api/types/events"

	"github.com/berth-dev/berth/internal/cgroups"
	"github.com/berth-dev/berth/internal/container"
	"github.com/berth-dev/berth/internal/errdefs"
	"github.com/berth-dev/berth/internal/monitor"
	"github.com/berth-dev/berth/internal/network"
	"github.com/berth-dev/berth/internal/ocispec"
	"github.com/berth-dev/berth/internal/runtime"
)

// Start starts a created or exited container. Already running:
// errdefs.NotModified.
func (e *Engine) Start(ctx context.Context, ref string) error {
	ent, err := e.store.Get(ref)
	if err != nil {
		return err
	}
	ent.Lock()
	err = e.startChecked(ctx, ent)
	ent.Unlock()
	if err != nil && !errdefs.Is(err, errdefs.NotModified) && ent.Snapshot().HostConfig.AutoRemove {
		// As dockerd: a --rm container that fails to start is removed
		// (docker run --rm waits for the removal).
		if rerr := e.remove(cleanupCtx(ctx), ent, true); rerr != nil && !errdefs.Is(rerr, errdefs.NotFound) {
			e.log.WithError(rerr).WithField("container", ent.ID()).Warn("auto-remove after failed start")
		}
	}
	return err
}

func (e *Engine) startChecked(ctx context.Context, ent *container.Entry) error {
	c := ent.Snapshot()
	switch c.State.Status {
	case ctypes.StateRunning:
		return errdefs.NotModifiedf("container %s is already started", c.ID)
	case ctypes.StatePaused:
		return errdefs.Conflictf("cannot start a paused container, try unpause instead")
	case ctypes.StateRemoving, ctypes.StateDead:
		return errdefs.Conflictf("container is marked for removal and cannot be started")
	}
	e.resetRestart(c.ID)
	return e.startLocked(ctx, ent)
}

// startLocked runs the start sequence; the caller holds ent's lifecycle
// lock. On failure everything acquired is released and the error is
// recorded in the container's state.
func (e *Engine) startLocked(ctx context.Context, ent *container.Entry) (err error) {
	c := ent.Snapshot()
	id := c.ID
	defer func() {
		if err == nil {
			return
		}
		code := 128 // dockerd's exitUnknown
		switch {
		case errors.Is(err, runtime.ErrExecNotFound):
			code = 127
		case errors.Is(err, runtime.ErrExecPermission):
			code = 126
		}
		if code != 128 {
			err = errdefs.InvalidArgumentf("failed to create task for container: %w", err)
		}
		// As dockerd: the status stays (created, or exited from an
		// earlier run); the exit code and error say why it did not run.
		msg := err.Error()
		_, uerr := ent.Update(func(c *container.Container) error {
			c.State.Error = msg
			if code != 128 || c.State.ExitCode == 0 {
				c.State.ExitCode = code
			}
			return nil
		})
		if uerr != nil {
			e.log.WithError(uerr).WithField("container", id).Warn("record start failure")
		}
	}()
	undoCtx := cleanupCtx(ctx)

	rootfs, err := e.cfg.Layers.Mount(ctx, id)
	if err != nil {
		return fmt.Errorf("mount rootfs of %s: %w", id, err)
	}
	defer func() {
		if err != nil {
			if uerr := e.cfg.Layers.Unmount(undoCtx, id); uerr != nil {
				e.log.WithError(uerr).WithField("container", id).Warn("undo start: unmount rootfs")
			}
		}
	}()
	if c.Config.WorkingDir != "" {
		wd, jerr := securejoin.SecureJoin(rootfs, c.Config.WorkingDir)
		if jerr != nil {
			return fmt.Errorf("resolve working dir %s: %w", c.Config.WorkingDir, jerr)
		}
		if err = os.MkdirAll(wd, 0o755); err != nil {
			return fmt.Errorf("create working dir: %w", err)
		}
	}
	netnsPath, att, err := e.attachNetworks(ctx, c)
	if err != nil {
		return err
	}
	defer func() {
		if err != nil && att.NetNSPath != "" {
			e.detachNetworks(undoCtx, id)
		}
	}()
	if err = writeEtcFiles(c, att); err != nil {
		return err
	}
	if err = e.chownEtcFiles(ctx, c); err != nil {
		return err
	}

	volSources, volExtra, err := e.mountVolumes(ctx, c)
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			e.unmountVolumes(undoCtx, id)
		}
	}()
	spec, err := ocispec.Build(ocispec.Input{
		ID:              id,
		Config:          c.Config,
		HostConfig:      c.HostConfig,
		Rootfs:          rootfs,
		Files:           ocispec.Files{Hostname: c.HostnamePath, Hosts: c.HostsPath, ResolvConf: c.ResolvConfPath},
		CgroupParent:    e.cfg.CgroupParent,
		HostCapBounding: e.cfg.HostCapBounding,
		CgroupV2:        cgroups.Version() == "2",
		NoNewPrivileges: e.cfg.NoNewPrivileges,
		VolumeSources:   volSources,
		ExtraMounts:     volExtra,
		NetNSPath:       netnsPath,
		// The remapping the container was created with (see remapIDs).
		Opts: append(slices.Clip(e.cfg.SpecOpts), ocispec.WithUserns(e.remapIDs(ctx, c), BuiltinRuntime)),
	})
	if err != nil {
		return err
	}
	bundle := e.bundleDir(id)
	if err = os.MkdirAll(bundle, 0o700); err != nil {
		return fmt.Errorf("create bundle: %w", err)
	}
	defer func() {
		if err != nil {
			os.RemoveAll(bundle)
		}
	}()
	specJSON, err := json.Marshal(spec)
	if err != nil {
		return fmt.Errorf("encode spec of %s: %w", id, err)
	}
	if err = container.WriteFileAtomic(filepath.Join(bundle, "config.json"), specJSON, 0o600); err != nil {
		return err
	}

	rt, err := e.runtimePath(c.Runtime)
	if err != nil {
		return err
	}
	req := monitor.CreateRequest{
		ID:        id,
		Bundle:    bundle,
		Runtime:   rt,
		Terminal:  c.Config.Tty,
		OpenStdin: c.Config.OpenStdin,
		StdinOnce: c.Config.StdinOnce,
	}
	if c.LogPath != "" {
		maxSize, maxFiles, lerr := e.logLimits(c.HostConfig)
		if lerr != nil {
			return lerr
		}
		req.Log = monitor.LogConfig{Path: c.LogPath, MaxSize: maxSize, MaxFiles: maxFiles}
	}
	// The container is not running, so a task the monitor still holds for
	// it is stale (a cleanup that failed earlier): clear it first.
	if _, serr := e.cfg.Monitor.State(ctx, id); serr == nil {
		e.destroyTask(undoCtx, id)
	}
	pid, err := e.cfg.Monitor.Create(ctx, req)
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			e.destroyTask(undoCtx, id)
		}
	}()
	if hc := c.HostConfig; c.Config.Tty && hc.ConsoleSize[0] > 0 && hc.ConsoleSize[1] > 0 {
		if rerr := e.cfg.Monitor.Resize(ctx, id, hc.ConsoleSize[0], hc.ConsoleSize[1]); rerr != nil {
			e.log.WithError(rerr).WithField("container", id).Debug("initial console size")
		}
	}
	// Clients attached before the start get their streams now, so they
	// see the program's first byte.
	e.handOffAttaches(ctx, id)
	if err = e.cfg.Monitor.Start(ctx, id); err != nil {
		return err
	}
	if _, err = ent.Update(func(c *container.Container) error {
		c.State.SetRunning(pid, time.Now().UTC())
		c.State.Health = initialHealth(c)
		c.ManuallyStopped = false
		setNetworksLive(c, att)
		return nil
	}); err != nil {
		return err
	}
	e.logEvent(ent.Snapshot(), eventtypes.ActionStart, nil)
	e.watch(ent)
	e.startHealth(ent)
	return nil
}

// destroyTask kills and forgets a task the monitor holds.
func (e *Engine) destroyTask(ctx context.Context, id string) {
	if err := e.cfg.Monitor.Kill(ctx, id, 9); err != nil && !errdefs.Is(err, errdefs.NotFound) && !errdefs.Is(err, errdefs.Conflict) {
		e.log.WithError(err).WithField("container", id).Debug("kill task")
	}
	wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	_, werr := e.cfg.Monitor.Wait(wctx, id)
	cancel()
	if werr != nil && !errdefs.Is(werr, errdefs.NotFound) {
		e.log.WithError(werr).WithField("container", id).Warn("wait for killed task")
	}
	if err := e.cfg.Monitor.Delete(ctx, id); err != nil && !errdefs.Is(err, errdefs.NotFound) {
		e.log.WithError(err).WithField("container", id).Warn("delete task")
	}
}

// writeEtcFiles writes the container's hostname, hosts and resolv.conf.
func writeEtcFiles(c *container.Container, att network.Attached) error {
	cfg, hc := c.Config, c.HostConfig
	hostname := cfg.Hostname
	if hc.NetworkMode.IsHost() {
		hostname, _ = os.Hostname()
	}
	hosts := ocispec.HostsFileWithIP(hostname, cfg.Domainname, att.IP, hostGateway(hc.ExtraHosts, att.Gateway))
	hosts = hostsWithIP(hosts, hostname, cfg.Domainname, att.IP6)
	hostResolv, _ := os.ReadFile("/etc/resolv.conf")
	resolv := hostResolv
	if hc.NetworkMode.IsHost() {
		if h, err := os.ReadFile("/etc/hosts"); err == nil {
			hosts = h
		}
	}
	if !hc.NetworkMode.IsHost() || len(hc.DNS) > 0 || len(hc.DNSSearch) > 0 || len(hc.DNSOptions) > 0 {
		dns := make([]string, 0, len(hc.DNS))
		for _, a := range hc.DNS {
			dns = append(dns, a.String())
		}
		resolv = ocispec.ResolvConf(hostResolv, dns, hc.DNSSearch, hc.DNSOptions, att.IP6.IsValid())
		if att.EmbeddedDNS {
			// The embedded resolver forwards to the --dns servers or the
			// host's (IPv6 ones included, from berthd's namespace);
			// dockerd writes ndots:0 the same way.
			resolv = ocispec.ResolvConf(hostResolv, []string{network.ResolverAddr}, hc.DNSSearch, append([]string{"ndots:0"}, hc.DNSOptions...), att.IP6.IsValid())
		}
	}
	for _, f := range []struct {
		path string
		data []byte
	}{
		{c.HostnamePath, ocispec.HostnameFile(hostname)},
		{c.HostsPath, hosts},
		{c.ResolvConfPath, resolv},
	} {
		if err := container.WriteFileAtomic(f.path, f.data, 0o644); err != nil {
			return err
		}
	}
	return nil
}
