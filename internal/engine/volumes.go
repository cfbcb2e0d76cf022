package engine

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"

	securejoin "github.com/cyphar/filepath-securejoin"
	ctypes "github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/mount"

	"github.com/berth-dev/berth/internal/container"
	"github.com/berth-dev/berth/internal/errdefs"
	"github.com/berth-dev/berth/internal/ocispec"
	"github.com/berth-dev/berth/internal/volume"
)

// Volumes is the volume service as the engine uses it; *volume.Service
// provides it. Containers are the users: Acquire (get or create, and
// reference) at create, Mount/Unmount around each run, Release at rm;
// Ref re-registers a loaded container's references after a restart.
type Volumes interface {
	Acquire(ctx context.Context, name, container string, opts volume.AcquireOptions) (volume.Info, error)
	Ref(name, container string)
	Release(name, container string)
	RemoveIfUnused(ctx context.Context, name string) error
	Mount(ctx context.Context, name string, u volume.User) (string, error)
	Unmount(ctx context.Context, name, container string) error
	// WithMounted runs f with the volume mounted for berthd itself.
	WithMounted(ctx context.Context, name string, f func(path string) error) error
	// WithMountedFor is WithMounted for a copy through u.Container's
	// filesystem: mount and unmount events say u.
	WithMountedFor(ctx context.Context, name string, u volume.User, f func(path string) error) error
}

// resolveMounts turns the host config's binds, --mount, --tmpfs and
// --volumes-from entries and the image's VOLUMEs into the container's
// mount points, getting (creating) every volume they name and
// referencing it for container id. On error nothing stays referenced or
// created. copy lists the volume mounts to fill with image content.
func (e *Engine) resolveMounts(ctx context.Context, id string, cfg *ctypes.Config, hc *ctypes.HostConfig) (mps []container.MountPoint, copy []int, err error) {
	ums, err := ocispec.UserMounts(hc)
	if err != nil {
		return nil, nil, err
	}
	defer func() {
		if err != nil {
			e.releaseVolumes(cleanupCtx(ctx), id, mps, true)
			mps, copy = nil, nil
		}
	}()
	acquire := func(name string, opts volume.AcquireOptions) (volume.Info, error) {
		if e.cfg.Volumes == nil {
			return volume.Info{}, errdefs.NotImplementedf("volumes are not available in this daemon")
		}
		return e.cfg.Volumes.Acquire(ctx, name, id, opts)
	}
	have := map[string]bool{}
	for _, um := range ums {
		have[um.Destination] = true
		mp := container.MountPoint{Type: mount.Type(um.Kind), Destination: um.Destination, RW: !um.ReadOnly, Mode: um.Mode}
		switch um.Kind {
		case ocispec.KindBind:
			if err := e.checkBindSource(um.Source); err != nil {
				return mps, nil, err
			}
			mp.Source, mp.Propagation, mp.NonRecursive = um.Source, um.Propagation, um.NonRecursive
			mp.RecursiveRO = string(um.RecursiveRO)
		case ocispec.KindTmpfs:
			mp.RW = true
		case ocispec.KindVolume:
			anon := um.Source == ""
			info, err := acquire(um.Source, volume.AcquireOptions{Driver: um.VolumeDriver, DriverOpts: um.VolumeOpts, Labels: um.VolumeLabels, Anonymous: anon})
			if err != nil {
				return mps, nil, err
			}
			mp.Name, mp.Source, mp.Driver, mp.Anonymous, mp.Subpath = info.Name, info.Mountpoint, info.Driver, anon, um.Subpath
			if mp.Mode == "" && !anon {
				mp.Mode = "z" // dockerd's default label mode, shown by inspect
			}
			if !um.NoCopy && um.Subpath == "" {
				copy = append(copy, len(mps))
			}
		}
		mps = append(mps, mp)
	}
	for _, spec := range hc.VolumesFrom {
		from, err := e.volumesFrom(spec, have)
		if err != nil {
			return mps, nil, err
		}
		for _, mp := range from {
			if mp.Type == mount.TypeVolume {
				if e.cfg.Volumes == nil {
					return mps, nil, errdefs.NotImplementedf("volumes are not available in this daemon")
				}
				e.cfg.Volumes.Ref(mp.Name, id)
			}
			mps = append(mps, mp)
		}
	}
	for _, dest := range slices.Sorted(mapKeys(cfg.Volumes)) {
		dest = filepath.Clean(dest)
		if have[dest] || e.cfg.Volumes == nil {
			continue
		}
		have[dest] = true
		info, err := acquire("", volume.AcquireOptions{Anonymous: true})
		if err != nil {
			return mps, nil, err
		}
		copy = append(copy, len(mps))
		mps = append(mps, container.MountPoint{Type: mount.TypeVolume, Name: info.Name, Source: info.Mountpoint, Driver: info.Driver,
			Destination: dest, RW: true, Anonymous: true})
	}
	return mps, copy, nil
}

func mapKeys[V any](m map[string]V) func(func(string) bool) {
	return func(yield func(string) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}

// checkBindSource refuses to bind the daemon's data root into a container.
func (e *Engine) checkBindSource(src string) error {
	root := filepath.Clean(e.cfg.DataRoot)
	same := src == root
	if !same {
		a, aerr := filepath.EvalSymlinks(src)
		b, berr := filepath.EvalSymlinks(root)
		same = aerr == nil && berr == nil && a == b
	}
	if same {
		return errdefs.InvalidArgumentf("invalid mount config for type %q: bind source path is the daemon's data root: %s", mount.TypeBind, src)
	}
	return nil
}

// volumesFrom expands one --volumes-from entry ("ctr[:ro|rw]") into the
// other container's volume and bind mounts whose destinations are free.
func (e *Engine) volumesFrom(spec string, have map[string]bool) ([]container.MountPoint, error) {
	ref, mode, _ := strings.Cut(spec, ":")
	switch mode {
	case "", "ro", "rw":
	default:
		return nil, errdefs.InvalidArgumentf("invalid mode: %s", mode)
	}
	ent, err := e.store.Get(ref)
	if errdefs.Is(err, errdefs.NotFound) {
		// 400, as dockerd: a 404 would make the docker CLI pull the image.
		return nil, errdefs.With(errdefs.InvalidArgument, err)
	}
	if err != nil {
		return nil, err
	}
	src := ent.Snapshot()
	var out []container.MountPoint
	for _, mp := range src.Mounts {
		if mp.Type != mount.TypeVolume && mp.Type != mount.TypeBind || have[mp.Destination] {
			continue
		}
		have[mp.Destination] = true
		mp.Anonymous = false
		mp.From = src.ID
		switch mode {
		case "ro":
			mp.RW = false
		case "rw":
			mp.RW = true
		}
		out = append(out, mp)
	}
	return out, nil
}

// copyUp fills each listed volume, if empty, with the image content at its
// destination (resolved inside the rootfs), as dockerd does at create.
func (e *Engine) copyUp(ctx context.Context, id string, mps []container.MountPoint, which []int) (err error) {
	if len(which) == 0 || e.cfg.Volumes == nil {
		return nil
	}
	rootfs, err := e.cfg.Layers.Mount(ctx, id)
	if err != nil {
		return fmt.Errorf("mount rootfs of %s: %w", id, err)
	}
	defer func() {
		if uerr := e.cfg.Layers.Unmount(cleanupCtx(ctx), id); uerr != nil {
			e.log.WithError(uerr).WithField("container", id).Warn("unmount rootfs after copy-up")
		}
	}()
	for _, i := range which {
		mp := mps[i]
		src, err := securejoin.SecureJoin(rootfs, mp.Destination)
		if err != nil {
			return fmt.Errorf("resolve %s in rootfs: %w", mp.Destination, err)
		}
		fi, err := os.Lstat(src)
		if errors.Is(err, fs.ErrNotExist) || err == nil && !fi.IsDir() {
			continue
		}
		if err != nil {
			return err
		}
		if err := e.cfg.Volumes.WithMounted(ctx, mp.Name, func(p string) error {
			empty, err := volume.IsEmpty(p)
			if err != nil || !empty {
				return err
			}
			return volume.CopyUp(src, p)
		}); err != nil {
			return err
		}
	}
	return nil
}

// mountVolumes mounts the container's volumes for a run: the host paths
// of its own volume mounts by destination (ocispec.Input.VolumeSources)
// and the --volumes-from mounts (ocispec.Input.ExtraMounts). Missing -v
// bind sources are created, as dockerd does. On error nothing stays
// mounted.
func (e *Engine) mountVolumes(ctx context.Context, c *container.Container) (sources map[string]string, extra []ocispec.UserMount, err error) {
	var mounted []string
	defer func() {
		if err != nil {
			for _, name := range mounted {
				e.cfg.Volumes.Unmount(cleanupCtx(ctx), name, c.ID)
			}
		}
	}()
	if ums, perr := ocispec.UserMounts(c.HostConfig); perr == nil {
		for _, um := range ums {
			if um.Kind != ocispec.KindBind || !um.CreateSource {
				continue
			}
			if _, serr := os.Lstat(um.Source); errors.Is(serr, fs.ErrNotExist) {
				if err := os.MkdirAll(um.Source, 0o755); err != nil {
					return nil, nil, fmt.Errorf("create bind source %s: %w", um.Source, err)
				}
			}
		}
	}
	sources = map[string]string{}
	for _, mp := range c.Mounts {
		p := mp.Source
		if mp.Type == mount.TypeVolume {
			if e.cfg.Volumes == nil {
				return nil, nil, errdefs.NotImplementedf("volumes are not available in this daemon")
			}
			if p, err = e.cfg.Volumes.Mount(ctx, mp.Name, mountUser(c.ID, mp)); err != nil {
				return nil, nil, err
			}
			mounted = append(mounted, mp.Name)
			if mp.Subpath != "" {
				sub, jerr := securejoin.SecureJoin(p, mp.Subpath)
				if jerr != nil {
					return nil, nil, fmt.Errorf("cannot access path %s: %w", filepath.Join(p, mp.Subpath), jerr)
				}
				if _, serr := os.Stat(sub); serr != nil {
					return nil, nil, errdefs.InvalidArgumentf("cannot access path %s: %v", sub, serr)
				}
				p = sub
			}
		}
		switch {
		case mp.From != "" && (mp.Type == mount.TypeVolume || mp.Type == mount.TypeBind):
			extra = append(extra, ocispec.UserMount{Kind: ocispec.KindBind, Source: p, Destination: mp.Destination,
				ReadOnly: !mp.RW, Propagation: mp.Propagation, NonRecursive: mp.NonRecursive, RecursiveRO: ocispec.RecursiveRO(mp.RecursiveRO)})
		case mp.Type == mount.TypeVolume:
			sources[mp.Destination] = p
		}
	}
	return sources, extra, nil
}

// unmountVolumes lets go of the volumes a run of container id mounted.
func (e *Engine) unmountVolumes(ctx context.Context, id string) {
	if e.cfg.Volumes == nil {
		return
	}
	ent, err := e.store.Get(id)
	if err != nil {
		return
	}
	for _, mp := range ent.Snapshot().Mounts {
		if mp.Type != mount.TypeVolume {
			continue
		}
		if err := e.cfg.Volumes.Unmount(ctx, mp.Name, id); err != nil {
			e.log.WithError(err).WithFields(map[string]any{"container": id, "volume": mp.Name}).Warn("unmount volume")
		}
	}
}

// releaseVolumes drops container id's references; removeAnonymous also
// removes the anonymous volumes made for it that nothing else uses
// (docker rm -v, --rm).
func (e *Engine) releaseVolumes(ctx context.Context, id string, mps []container.MountPoint, removeAnonymous bool) {
	if e.cfg.Volumes == nil {
		return
	}
	for _, mp := range mps {
		if mp.Type != mount.TypeVolume {
			continue
		}
		e.cfg.Volumes.Release(mp.Name, id)
		if removeAnonymous && mp.Anonymous {
			if err := e.cfg.Volumes.RemoveIfUnused(ctx, mp.Name); err != nil {
				e.log.WithError(err).WithFields(map[string]any{"container": id, "volume": mp.Name}).Warn("remove anonymous volume")
			}
		}
	}
}

// restoreVolumes re-registers a loaded container's references and, for
// a running one, its mounts (users are counted in memory).
func (e *Engine) restoreVolumes(ctx context.Context, c *container.Container) {
	if e.cfg.Volumes == nil {
		return
	}
	for _, mp := range c.Mounts {
		if mp.Type != mount.TypeVolume {
			continue
		}
		e.cfg.Volumes.Ref(mp.Name, c.ID)
		if c.State.Running() {
			if _, err := e.cfg.Volumes.Mount(ctx, mp.Name, mountUser(c.ID, mp)); err != nil {
				e.log.WithError(err).WithFields(map[string]any{"container": c.ID, "volume": mp.Name}).Warn("restore volume mount")
			}
		}
	}
}

func mountUser(id string, mp container.MountPoint) volume.User {
	return volume.User{Container: id, Destination: mp.Destination, ReadWrite: mp.RW, Propagation: string(mp.Propagation)}
}
