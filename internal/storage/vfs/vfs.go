// Package vfs is the portable storage driver: every snapshot is a full
// copy of its parent's tree, mounted by binding its directory. Slow and
// large, but it works on any filesystem.
//
// On disk (the dir/ tree as dockerd's vfs lays it out):
//
//	<data-root>/vfs/
//	  dir/<key>/        the snapshot's whole tree
//	  meta/<key>.json   {"parent":"<key>","kind":"active|view|committed","created":...}
//	<data-root>/tmp/vfs-*   trees being copied (removed on open)
//
// A snapshot exists once its meta file does: the tree is renamed into
// dir/ first, the meta file written (atomically) second, so on open a tree
// without meta is half-made and removed, as is meta without a tree.
package vfs

import (
	"context"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/moby/sys/mountinfo"

	"github.com/berth-dev/berth/internal/errdefs"
	"github.com/berth-dev/berth/internal/storage"
)

// Name is the driver's name.
const Name = "vfs"

// Driver is the vfs driver.
type Driver struct {
	home, tmp string

	mu            sync.Mutex
	snaps         storage.Snapshots
	storage.Trees // Stat, Walk, Usage, Mounts, UpperDir, Diff over mu, snaps and dir
}

var (
	_ storage.Driver       = (*Driver)(nil)
	_ storage.Applier      = (*Driver)(nil)
	_ storage.Differ       = (*Driver)(nil)
	_ storage.Mountpointer = (*Driver)(nil)
	_ storage.Statuser     = (*Driver)(nil)
)

// New opens (creating if needed) the driver under dataRoot.
func New(dataRoot string) (*Driver, error) {
	d := &Driver{home: filepath.Join(dataRoot, Name), tmp: filepath.Join(dataRoot, "tmp")}
	d.Trees = storage.Trees{Mu: &d.mu, Snaps: &d.snaps, Dir: d.dir}
	for _, dir := range []string{d.dirs(), d.metas(), d.tmp} {
		if err := os.MkdirAll(dir, 0o710); err != nil {
			return nil, err
		}
	}
	return d, d.load()
}

func (d *Driver) dirs() string             { return filepath.Join(d.home, "dir") }
func (d *Driver) metas() string            { return filepath.Join(d.home, "meta") }
func (d *Driver) dir(key string) string    { return filepath.Join(d.home, "dir", key) }
func (d *Driver) metaOf(key string) string { return filepath.Join(d.home, "meta", key+".json") }

func (d *Driver) load() error {
	tmps, _ := filepath.Glob(filepath.Join(d.tmp, "vfs-*"))
	for _, t := range tmps {
		if err := removeTree(t); err != nil {
			return err
		}
	}
	return d.snaps.LoadMetaDir(d.metas(), d.dirs(), func(p string) bool {
		_, err := os.Lstat(p)
		return err == nil
	}, removeTree)
}

// Name implements storage.Driver.
func (d *Driver) Name() string { return Name }

// Mountpoint implements storage.Mountpointer: the tree is bound onto itself.
func (d *Driver) Mountpoint(key string) string { return d.dir(key) }

// Prepare implements storage.Driver.
func (d *Driver) Prepare(ctx context.Context, key, parent string, opts ...storage.Opt) ([]storage.Mount, error) {
	if err := storage.RefuseIDMap(Name, opts); err != nil {
		return nil, err
	}
	if err := d.create(ctx, key, parent, storage.KindActive); err != nil {
		return nil, err
	}
	return d.Mounts(ctx, key)
}

// View implements storage.Driver.
func (d *Driver) View(ctx context.Context, key, parent string) ([]storage.Mount, error) {
	if parent == "" {
		return nil, errdefs.InvalidArgumentf("view %s: a view needs a parent", key)
	}
	if err := d.create(ctx, key, parent, storage.KindView); err != nil {
		return nil, err
	}
	return d.Mounts(ctx, key)
}

func (d *Driver) create(ctx context.Context, key, parent string, kind storage.Kind) (retErr error) {
	if err := storage.ValidateKey(key); err != nil {
		return err
	}
	d.mu.Lock()
	err := d.snaps.CheckCreate(key, parent)
	d.mu.Unlock()
	if err != nil {
		return err
	}
	tmp, err := os.MkdirTemp(d.tmp, "vfs-")
	if err != nil {
		return err
	}
	defer func() {
		if retErr != nil {
			_ = removeTree(tmp)
		}
	}()
	tree := filepath.Join(tmp, "tree")
	if parent != "" {
		// Committed snapshots never change, so the copy needs no lock.
		if err := CopyTree(ctx, d.dir(parent), tree); err != nil {
			return err
		}
	} else if err := os.Mkdir(tree, 0o755); err != nil {
		return err
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.snaps.Has(key) {
		return errdefs.Conflictf("snapshot %s already exists", key)
	}
	if parent != "" && !d.snaps.Has(parent) {
		return errdefs.NotFoundf("parent snapshot %s was removed", parent)
	}
	if err := os.Rename(tree, d.dir(key)); err != nil {
		return err
	}
	m := storage.Meta{Parent: parent, Kind: kind, Created: time.Now().UTC()}
	if err := storage.WriteMetaFile(d.metaOf(key), m); err != nil {
		_ = os.RemoveAll(d.dir(key))
		return err
	}
	_ = os.Remove(tmp)
	d.snaps.Put(key, m)
	return nil
}

// Commit implements storage.Driver.
func (d *Driver) Commit(ctx context.Context, name, key string) error {
	if err := storage.ValidateKey(name); err != nil {
		return err
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	m, err := d.snaps.CheckCommit(name, key)
	if err != nil {
		return err
	}
	if name != key {
		if mounted, _ := mountinfo.Mounted(d.dir(key)); mounted {
			return errdefs.Conflictf("commit %s: snapshot is mounted", key)
		}
		if err := os.Rename(d.dir(key), d.dir(name)); err != nil {
			return err
		}
		if err := storage.WriteMetaFile(d.metaOf(name), m); err != nil {
			return err
		}
		d.snaps.Delete(key)
		_ = os.Remove(d.metaOf(key))
	} else if err := storage.WriteMetaFile(d.metaOf(name), m); err != nil {
		return err
	}
	d.snaps.Put(name, m)
	return nil
}

// Remove implements storage.Driver.
func (d *Driver) Remove(ctx context.Context, key string) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if err := d.snaps.CheckRemove(key, d.dir(key)); err != nil {
		return err
	}
	if err := storage.RemoveMetaFile(d.metaOf(key)); err != nil {
		return err
	}
	d.snaps.Delete(key)
	gone, err := os.MkdirTemp(d.tmp, "vfs-rm-")
	if err != nil {
		return err
	}
	if err := os.Rename(d.dir(key), filepath.Join(gone, "x")); err != nil {
		_ = os.Remove(gone)
		return err
	}
	return os.RemoveAll(gone)
}

// Status implements storage.Statuser.
func (d *Driver) Status() [][2]string {
	return [][2]string{{"Backing Filesystem", storage.FSName(d.home)}}
}

// Close implements storage.Driver.
func (d *Driver) Close() error { return nil }

func removeTree(p string) error {
	mounts, err := mountinfo.GetMounts(mountinfo.PrefixFilter(p))
	if err != nil {
		return err
	}
	for i := len(mounts) - 1; i >= 0; i-- {
		_ = storage.Unmount(mounts[i].Mountpoint)
	}
	return os.RemoveAll(p)
}
