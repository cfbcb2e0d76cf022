// Package btrfs is the btrfs storage driver: every snapshot is a btrfs
// subvolume, a child made by snapshotting its parent's subvolume
// (copy-on-write, constant time), mounted by binding its directory. The
// data root must be on btrfs.
//
// On disk (dockerd's btrfs layout, plus berth's meta files):
//
//	<data-root>/btrfs/
//	  subvolumes/<key>/  the snapshot's subvolume: its whole tree
//	  meta/<key>.json    {"parent":"<key>","kind":"active|view|committed","created":...}
//
// A snapshot exists once its meta file does: the subvolume is made first,
// the meta file written (atomically) second, so on open a subvolume
// without meta is half-made and destroyed, and meta without a subvolume
// is dropped.
//
// Subvolumes are made and destroyed with the btrfs ioctls
// (BTRFS_IOC_SUBVOL_CREATE, BTRFS_IOC_SNAP_CREATE_V2, BTRFS_IOC_SNAP_DESTROY)
// through raw syscalls: no cgo, no btrfs-progs at run time.
package btrfs

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/berth-dev/berth/internal/errdefs"
	"github.com/berth-dev/berth/internal/storage"
)

// Name is the driver's name.
const Name = "btrfs"

// The ioctls (linux/btrfs.h): _IOW(0x94, nr, 4096-byte args).
const (
	iocSubvolCreate = 0x5000940e // BTRFS_IOC_SUBVOL_CREATE, struct btrfs_ioctl_vol_args
	iocSnapDestroy  = 0x5000940f // BTRFS_IOC_SNAP_DESTROY, struct btrfs_ioctl_vol_args
	iocSnapCreateV2 = 0x50009417 // BTRFS_IOC_SNAP_CREATE_V2, struct btrfs_ioctl_vol_args_v2
)

// volArgs is struct btrfs_ioctl_vol_args.
type volArgs struct {
	fd   int64
	name [4088]byte // BTRFS_PATH_NAME_MAX + 1
}

// volArgsV2 is struct btrfs_ioctl_vol_args_v2.
type volArgsV2 struct {
	fd      int64
	transid uint64
	flags   uint64
	unused  [4]uint64
	name    [4040]byte // BTRFS_SUBVOL_NAME_MAX + 1
}

func setName(dst []byte, name string) error {
	if len(name) >= len(dst) || strings.ContainsRune(name, '/') || strings.IndexByte(name, 0) >= 0 {
		return errdefs.InvalidArgumentf("bad subvolume name %q", name)
	}
	copy(dst, name)
	return nil
}

func ioctl(fd int, req uintptr, arg unsafe.Pointer) error {
	if _, _, errno := unix.Syscall(unix.SYS_IOCTL, uintptr(fd), req, uintptr(arg)); errno != 0 {
		return errno
	}
	return nil
}

func openDir(p string) (int, error) {
	fd, err := unix.Open(p, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return -1, &os.PathError{Op: "open", Path: p, Err: err}
	}
	return fd, nil
}

// subvolCreate makes an empty subvolume at path.
func subvolCreate(path string) error {
	dir, name := filepath.Split(path)
	fd, err := openDir(dir)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	var a volArgs
	if err := setName(a.name[:], name); err != nil {
		return err
	}
	if err := ioctl(fd, iocSubvolCreate, unsafe.Pointer(&a)); err != nil {
		return &os.PathError{Op: "btrfs subvolume create", Path: path, Err: err}
	}
	return nil
}

// snapshot makes path a writable snapshot of subvolume src.
func snapshot(src, path string) error {
	sfd, err := openDir(src)
	if err != nil {
		return err
	}
	defer unix.Close(sfd)
	dir, name := filepath.Split(path)
	fd, err := openDir(dir)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	var a volArgsV2
	a.fd = int64(sfd)
	if err := setName(a.name[:], name); err != nil {
		return err
	}
	if err := ioctl(fd, iocSnapCreateV2, unsafe.Pointer(&a)); err != nil {
		return &os.PathError{Op: "btrfs subvolume snapshot " + src, Path: path, Err: err}
	}
	return nil
}

// subvolDestroy deletes the subvolume at path with everything in it.
func subvolDestroy(path string) error {
	dir, name := filepath.Split(path)
	fd, err := openDir(dir)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	var a volArgs
	if err := setName(a.name[:], name); err != nil {
		return err
	}
	if err := ioctl(fd, iocSnapDestroy, unsafe.Pointer(&a)); err != nil {
		return &os.PathError{Op: "btrfs subvolume delete", Path: path, Err: err}
	}
	return nil
}

// isSubvolume tells whether path is a subvolume's root (inode 256).
func isSubvolume(path string) bool {
	var st unix.Stat_t
	return unix.Lstat(path, &st) == nil && st.Ino == 256 && st.Mode&unix.S_IFMT == unix.S_IFDIR
}

// Driver is the btrfs driver.
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

// New opens (creating if needed) the driver under dataRoot, which must
// be on btrfs (errdefs.Unavailable otherwise, as dockerd refuses).
func New(dataRoot string) (*Driver, error) {
	d := &Driver{home: filepath.Join(dataRoot, Name), tmp: filepath.Join(dataRoot, "tmp")}
	d.Trees = storage.Trees{Mu: &d.mu, Snaps: &d.snaps, Dir: d.dir}
	for _, dir := range []string{d.subvols(), d.metas(), d.tmp} {
		if err := os.MkdirAll(dir, 0o710); err != nil {
			return nil, err
		}
	}
	var st unix.Statfs_t
	if err := unix.Statfs(d.subvols(), &st); err != nil {
		return nil, &os.PathError{Op: "statfs", Path: d.subvols(), Err: err}
	}
	if st.Type != unix.BTRFS_SUPER_MAGIC {
		return nil, errdefs.Unavailablef("btrfs storage driver: %s is on %s, not btrfs", d.home, storage.FSName(d.home))
	}
	return d, d.load()
}

func (d *Driver) subvols() string          { return filepath.Join(d.home, "subvolumes") }
func (d *Driver) metas() string            { return filepath.Join(d.home, "meta") }
func (d *Driver) dir(key string) string    { return filepath.Join(d.home, "subvolumes", key) }
func (d *Driver) metaOf(key string) string { return filepath.Join(d.home, "meta", key+".json") }

func (d *Driver) load() error {
	// Nothing of this driver is built in tmp, but a crashed older layout
	// or a test may leave btrfs-* there.
	tmps, _ := filepath.Glob(filepath.Join(d.tmp, Name+"-*"))
	for _, t := range tmps {
		if err := os.RemoveAll(t); err != nil {
			return err
		}
	}
	return d.snaps.LoadMetaDir(d.metas(), d.subvols(), isSubvolume, d.destroy)
}

// destroy removes a subvolume (or a stray directory).
func (d *Driver) destroy(p string) error {
	if _, mounted, err := storage.MountedFrom(p); err == nil && mounted {
		_ = storage.Unmount(p)
	}
	if isSubvolume(p) {
		return subvolDestroy(p)
	}
	return os.RemoveAll(p)
}

// Name implements storage.Driver.
func (d *Driver) Name() string { return Name }

// Mountpoint implements storage.Mountpointer: the subvolume is bound onto
// itself.
func (d *Driver) Mountpoint(key string) string { return d.dir(key) }

// Prepare implements storage.Driver.
func (d *Driver) Prepare(ctx context.Context, key, parent string, opts ...storage.Opt) ([]storage.Mount, error) {
	if err := storage.RefuseIDMap(Name, opts); err != nil {
		return nil, err
	}
	if err := d.create(key, parent, storage.KindActive); err != nil {
		return nil, err
	}
	return d.Mounts(ctx, key)
}

// View implements storage.Driver.
func (d *Driver) View(ctx context.Context, key, parent string) ([]storage.Mount, error) {
	if parent == "" {
		return nil, errdefs.InvalidArgumentf("view %s: a view needs a parent", key)
	}
	if err := d.create(key, parent, storage.KindView); err != nil {
		return nil, err
	}
	return d.Mounts(ctx, key)
}

func (d *Driver) create(key, parent string, kind storage.Kind) error {
	if err := storage.ValidateKey(key); err != nil {
		return err
	}
	// Held across the ioctl: a snapshot takes milliseconds, and the parent
	// must not be removed meanwhile.
	d.mu.Lock()
	defer d.mu.Unlock()
	if err := d.snaps.CheckCreate(key, parent); err != nil {
		return err
	}
	p := d.dir(key)
	if _, err := os.Lstat(p); err == nil { // a leftover no meta names
		if err := d.destroy(p); err != nil {
			return err
		}
	}
	var err error
	if parent != "" {
		err = snapshot(d.dir(parent), p)
	} else {
		err = subvolCreate(p)
		if err == nil {
			err = os.Chmod(p, 0o755)
		}
	}
	if err != nil {
		return err
	}
	m := storage.Meta{Parent: parent, Kind: kind, Created: time.Now().UTC()}
	if err := storage.WriteMetaFile(d.metaOf(key), m); err != nil {
		_ = subvolDestroy(p)
		return err
	}
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
	if name == key {
		if err := storage.WriteMetaFile(d.metaOf(name), m); err != nil {
			return err
		}
		d.snaps.Put(name, m)
		return nil
	}
	if _, mounted, _ := storage.MountedFrom(d.dir(key)); mounted {
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
	// Meta first: a crash between the two leaves a subvolume that load
	// destroys.
	if err := storage.RemoveMetaFile(d.metaOf(key)); err != nil {
		return err
	}
	d.snaps.Delete(key)
	if err := subvolDestroy(d.dir(key)); err != nil {
		return fmt.Errorf("remove snapshot %s: %w", key, err)
	}
	return nil
}

// Status implements storage.Statuser.
func (d *Driver) Status() [][2]string {
	return [][2]string{{"Btrfs", ""}, {"Backing Filesystem", storage.FSName(d.home)}}
}

// Close implements storage.Driver.
func (d *Driver) Close() error { return nil }
