// Package storage is the seam between the layer store and the filesystems
// that hold layer contents: a Driver keeps snapshots (directory trees
// stacked on a parent) and describes how to mount them as data ([]Mount),
// after containerd's snapshotter but smaller.
//
// Vocabulary:
//
//	key        the caller's name for a snapshot; also its directory name
//	           on disk ([0-9a-zA-Z_.-], no "/"), e.g. a layer's cache ID
//	active     made by Prepare: writable, may not be a parent
//	view       made by View: a read-only look at a committed parent
//	committed  made by Commit from an active snapshot: read-only, may be a
//	           parent of active snapshots and views
//
// Lifecycle: Prepare(key, parent) -> write through Mounts(key) (or into
// the directory an Applier gives) -> Commit(name, key) -> Prepare(k2, name)
// ... Remove(key) fails with Conflict while the snapshot has children.
//
// A Driver is safe for concurrent use. Every snapshot is built in
// <data-root>/tmp and renamed into place, so a crash leaves either a whole
// snapshot or a temp directory that New removes; the layer store removes
// snapshots no layer refers to (Walk + Remove).
//
// The drivers live in overlay2/ (default), vfs/ and btrfs/; drivers.New picks one.
// storagetest/ is the conformance suite both pass.
package storage

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"golang.org/x/sys/unix"

	"github.com/berth-dev/berth/internal/errdefs"
	"github.com/berth-dev/berth/internal/userns"
)

// Kind is a snapshot's kind.
type Kind int

// The kinds.
const (
	KindUnknown Kind = iota
	KindActive
	KindView
	KindCommitted
)

func (k Kind) String() string {
	switch k {
	case KindActive:
		return "active"
	case KindView:
		return "view"
	case KindCommitted:
		return "committed"
	}
	return "unknown"
}

// Info describes a snapshot.
type Info struct {
	Key     string
	Parent  string // "" for a base snapshot
	Kind    Kind
	Created time.Time
}

// Usage is the space a snapshot's own directory uses (not its parents').
type Usage struct {
	Size   int64 // bytes of regular files (and symlink targets)
	Inodes int64
}

// Opts are Prepare's options.
type Opts struct {
	// Volatile asks for a writable layer whose durability does not matter
	// (a container's): overlay2 mounts it with "volatile" so that neither
	// fsync in the container nor unmount syncs the host filesystem.
	Volatile bool
	// IDMap, when not empty, is the user namespace map of the container
	// that will use the snapshot (dockerd's --userns-remap): the upper
	// dir's root is owned by the map's root, and Mounts idmaps the lower
	// layers through it (options "uidmap=", "gidmap=" on the overlay
	// mount; see Mount), so root-owned image files show as the container's
	// root while what the container writes is owned by its host IDs.
	// Drivers that cannot do it fail with NotImplemented.
	IDMap userns.IDMap
}

// WithIDMap asks for a snapshot remapped by m; see Opts.IDMap.
func WithIDMap(m userns.IDMap) Opt { return func(o *Opts) { o.IDMap = m } }

// RefuseIDMap is the answer of a driver that cannot remap (vfs, btrfs):
// NotImplemented when opts ask for an IDMap.
func RefuseIDMap(driver string, opts []Opt) error {
	var o Opts
	for _, f := range opts {
		f(&o)
	}
	if !o.IDMap.Empty() {
		return errdefs.NotImplementedf("storage driver %s does not support user namespace remapping (--userns-remap): use overlay2", driver)
	}
	return nil
}

// Opt sets an option.
type Opt func(*Opts)

// WithVolatile marks a snapshot as throw-away; see Opts.Volatile.
func WithVolatile() Opt { return func(o *Opts) { o.Volatile = true } }

// Driver keeps snapshots. Errors: NotFound for an unknown key or parent,
// Conflict for an existing key or a parent that is not committed (or a
// Remove of a snapshot with children), InvalidArgument for a bad key.
type Driver interface {
	// Name is the driver's name ("overlay2", "vfs"): the GraphDriver name
	// and the directory under the data root.
	Name() string
	// Prepare creates an active snapshot on top of parent ("" = empty).
	Prepare(ctx context.Context, key, parent string, opts ...Opt) ([]Mount, error)
	// View creates a read-only view of committed parent.
	View(ctx context.Context, key, parent string) ([]Mount, error)
	// Mounts returns how to mount an existing active snapshot or view.
	Mounts(ctx context.Context, key string) ([]Mount, error)
	// Commit turns active snapshot key into committed snapshot name
	// (name == key commits in place).
	Commit(ctx context.Context, name, key string) error
	// Remove deletes a snapshot that has no children. It must not be
	// mounted.
	Remove(ctx context.Context, key string) error
	Stat(ctx context.Context, key string) (Info, error)
	Usage(ctx context.Context, key string) (Usage, error)
	// Walk calls fn for every snapshot, in no particular order.
	Walk(ctx context.Context, fn func(context.Context, Info) error) error
	Close() error
}

// Applier is a driver whose snapshots are plain directories that a layer
// can be applied into without mounting: vfs's copy, overlay2's upper
// (diff) dir.
type Applier interface {
	// UpperDir is the directory to apply an active snapshot's layer into;
	// overlayWhiteouts says deletions are recorded in overlay's form there
	// (else they are made by deleting).
	UpperDir(ctx context.Context, key string) (dir string, overlayWhiteouts bool, err error)
}

// Differ is a driver that writes a snapshot's changes against its parent
// as an OCI layer tar (uncompressed): overlay2 from its upper dir
// directly, vfs by comparing trees. For commit, save and push.
type Differ interface {
	Diff(ctx context.Context, key string, w io.Writer) error
}

// Mountpointer says where a snapshot is conventionally mounted
// (overlay2: <data-root>/overlay2/<key>/merged).
type Mountpointer interface {
	Mountpoint(key string) string
}

// IDMapper reports the user namespace map an active snapshot was
// prepared with (WithIDMap; empty: none), so that a container keeps the
// remapping it was created with (overlay2).
type IDMapper interface {
	IDMap(ctx context.Context, key string) (userns.IDMap, error)
}

// Metadataer reports a snapshot's GraphDriver data for inspect
// (overlay2: LowerDir, UpperDir, MergedDir, WorkDir).
type Metadataer interface {
	Metadata(ctx context.Context, key string) (map[string]string, error)
}

// ValidateKey checks that key can name a snapshot directory.
func ValidateKey(key string) error {
	if key == "" || key == "." || key == ".." || len(key) > 128 {
		return errdefs.InvalidArgumentf("invalid snapshot key %q", key)
	}
	for _, r := range key {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '-', r == '_', r == '.':
		default:
			return errdefs.InvalidArgumentf("invalid snapshot key %q", key)
		}
	}
	return nil
}

// WriteFileAtomic writes a file through a temp file in the same directory,
// fsyncs it and renames it into place.
func WriteFileAtomic(path string, data []byte, perm os.FileMode) error {
	f, err := os.CreateTemp(filepath.Dir(path), ".tmp-"+filepath.Base(path)+"-")
	if err != nil {
		return err
	}
	tmp := f.Name()
	_, err = f.Write(data)
	if err == nil {
		err = f.Chmod(perm)
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		_ = os.Remove(tmp)
	}
	return err
}

// SyncDir fsyncs a directory, making renames and creations in it durable.
func SyncDir(dir string) error {
	f, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer f.Close()
	return f.Sync()
}

// Statuser reports a driver's status lines for docker info's DriverStatus
// (overlay2: "Backing Filesystem", "Supports d_type", ...).
type Statuser interface {
	Status() [][2]string
}

// FSName names the filesystem dir is on, as docker info shows it
// ("extfs", "xfs", "btrfs", "tmpfs", ...).
func FSName(dir string) string {
	var st unix.Statfs_t
	if err := unix.Statfs(dir, &st); err != nil {
		return "<unknown>"
	}
	switch st.Type {
	case unix.EXT4_SUPER_MAGIC:
		return "extfs"
	case unix.XFS_SUPER_MAGIC:
		return "xfs"
	case unix.BTRFS_SUPER_MAGIC:
		return "btrfs"
	case unix.TMPFS_MAGIC:
		return "tmpfs"
	case unix.OVERLAYFS_SUPER_MAGIC:
		return "overlayfs"
	case 0x2fc12fc1: // ZFS
		return "zfs"
	case unix.F2FS_SUPER_MAGIC:
		return "f2fs"
	}
	return fmt.Sprintf("<unknown 0x%x>", st.Type)
}
