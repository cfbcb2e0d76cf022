// Package overlay2 is the default storage driver: each snapshot is an
// overlayfs layer laid out as dockerd's overlay2 lays it out, so deep
// chains fit in a mount's page-sized options.
//
// On disk:
//
//	<data-root>/overlay2/
//	  l/<short>        -> ../<key>/diff   (26-char link names)
//	  <key>/
//	    diff/          the layer's own files (the overlay upper dir)
//	    link           <short>
//	    lower          "l/<parent-short>:l/<grandparent-short>:..." (absent for a base)
//	    work/          overlay work dir (active snapshots)
//	    merged/        conventional mount point
//	    committed      present once committed (as dockerd writes it)
//	    snapshot.json  {"parent":"<key>","kind":"active|view|committed","created":..., "volatile":bool}
//	<data-root>/tmp/overlay2-*   snapshots being built (removed on open)
//
// Mounts: an active snapshot with a parent is
// overlay lowerdir=<l links>,upperdir=diff,workdir=work,index=off; a base
// (no parent) is a bind mount of diff; a view of one layer is a read-only
// bind of its diff, of more a read-only overlay of lowerdirs only. At most
// 128 layers deep, as in dockerd.
//
// Volatile: snapshots prepared WithVolatile (containers' writable layers)
// are mounted with "volatile". Unmounting a non-volatile overlay calls
// syncfs on the whole backing filesystem, so it costs whatever unrelated
// dirty data the host has: measured on this kind of host, 250-320 ms
// against 3-4 ms with volatile on a busy machine, and 14-21 ms against
// 4-8 ms with 200 MiB of unrelated dirty data on a quiet one. The price:
// fsync inside the container does not reach the disk, so after a host
// crash (not a daemon crash, not a clean reboot) a container's writable
// layer may have lost recent writes; image layers are never volatile.
// The kernel refuses to mount an upper dir again while its
// work/work/incompat/volatile marker exists; Mounts removes the marker of a
// snapshot that is not mounted.
package overlay2

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base32"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/moby/sys/mountinfo"
	"golang.org/x/sys/unix"

	"github.com/berth-dev/berth/internal/archive"
	"github.com/berth-dev/berth/internal/errdefs"
	"github.com/berth-dev/berth/internal/storage"
	"github.com/berth-dev/berth/internal/userns"
)

// Name is the driver's name.
const Name = "overlay2"

// MaxDepth is the deepest chain of layers a snapshot may sit on.
const MaxDepth = 128

// Driver is the overlay2 driver.
type Driver struct {
	home string // <data-root>/overlay2
	tmp  string // <data-root>/tmp

	mu    sync.Mutex
	snaps storage.Snapshots
}

var (
	_ storage.Driver       = (*Driver)(nil)
	_ storage.Applier      = (*Driver)(nil)
	_ storage.Differ       = (*Driver)(nil)
	_ storage.Mountpointer = (*Driver)(nil)
	_ storage.Metadataer   = (*Driver)(nil)
	_ storage.Statuser     = (*Driver)(nil)
)

// New opens (creating if needed) the driver under dataRoot. It fails with
// errdefs.Unavailable when overlayfs cannot be mounted here.
func New(dataRoot string) (*Driver, error) {
	d := &Driver{
		home: filepath.Join(dataRoot, Name),
		tmp:  filepath.Join(dataRoot, "tmp"),
	}
	for _, dir := range []string{filepath.Join(d.home, "l"), d.tmp} {
		if err := os.MkdirAll(dir, 0o710); err != nil {
			return nil, err
		}
	}
	if err := d.probe(); err != nil {
		return nil, err
	}
	if err := d.load(); err != nil {
		return nil, err
	}
	return d, nil
}

// probe mounts a tiny overlay to see that the kernel and the backing
// filesystem support it.
func (d *Driver) probe() error {
	dir, err := os.MkdirTemp(d.tmp, "overlay2-probe-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	for _, s := range []string{"l1", "l2", "u", "w", "m"} {
		if err := os.Mkdir(filepath.Join(dir, s), 0o755); err != nil {
			return err
		}
	}
	m := storage.Mount{Type: "overlay", Source: "overlay", Options: []string{
		"lowerdir=" + filepath.Join(dir, "l1") + ":" + filepath.Join(dir, "l2"),
		"upperdir=" + filepath.Join(dir, "u"), "workdir=" + filepath.Join(dir, "w"), "index=off",
	}}
	if err := m.Mount(filepath.Join(dir, "m")); err != nil {
		return errdefs.Unavailablef("storage driver overlay2 is not usable on %s (%v); use the vfs driver", d.home, err)
	}
	return storage.Unmount(filepath.Join(dir, "m"))
}

// load reads every snapshot, drops half-built temp dirs and repairs or
// removes l/ links.
func (d *Driver) load() error {
	tmps, _ := filepath.Glob(filepath.Join(d.tmp, "overlay2-*"))
	for _, t := range tmps {
		if err := os.RemoveAll(t); err != nil {
			return err
		}
	}
	ents, err := os.ReadDir(d.home)
	if err != nil {
		return err
	}
	links := map[string]bool{}
	for _, e := range ents {
		if !e.IsDir() || e.Name() == "l" {
			continue
		}
		key := e.Name()
		dir := filepath.Join(d.home, key)
		m, err := readMeta(dir)
		if err != nil {
			// Snapshots appear by rename with snapshot.json inside, so a
			// dir without one is damage; a torn one is a volatile layer's
			// after a host crash (only those are written without fsync).
			// Both are removed; an unreadable one is kept for a human.
			var syntax *json.SyntaxError
			if errors.Is(err, fs.ErrNotExist) || errors.As(err, &syntax) || errors.Is(err, errTorn) {
				if err := removeTree(dir); err != nil {
					return err
				}
			}
			continue
		}
		d.snaps.Put(key, m)
		if link, err := os.ReadFile(filepath.Join(dir, "link")); err == nil {
			short := string(bytes.TrimSpace(link))
			links[short] = true
			lp := filepath.Join(d.home, "l", short)
			if t, err := os.Readlink(lp); err != nil || t != "../"+key+"/diff" {
				_ = os.Remove(lp)
				if err := os.Symlink("../"+key+"/diff", lp); err != nil {
					return err
				}
			}
		}
	}
	lents, err := os.ReadDir(filepath.Join(d.home, "l"))
	if err != nil {
		return err
	}
	for _, e := range lents {
		if !links[e.Name()] {
			_ = os.Remove(filepath.Join(d.home, "l", e.Name()))
		}
	}
	return nil
}

var errTorn = errors.New("empty snapshot.json")

func readMeta(dir string) (storage.Meta, error) {
	b, err := os.ReadFile(filepath.Join(dir, "snapshot.json"))
	if err != nil {
		return storage.Meta{}, err
	}
	if len(b) == 0 {
		return storage.Meta{}, errTorn
	}
	m, err := storage.ParseMeta(b)
	if err != nil {
		return storage.Meta{}, fmt.Errorf("%s: %w", dir, err)
	}
	return m, nil
}

func writeMeta(dir string, m storage.Meta) error {
	if m.Volatile {
		// A volatile layer does not survive a host crash anyway: spare
		// container create an fsync. (A torn file is dropped on open.)
		b, err := m.Marshal()
		if err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(dir, "snapshot.json"), b, 0o600)
	}
	return storage.WriteMetaFile(filepath.Join(dir, "snapshot.json"), m)
}

// Name implements storage.Driver.
func (d *Driver) Name() string { return Name }

func (d *Driver) dir(key string) string { return filepath.Join(d.home, key) }

// Mountpoint implements storage.Mountpointer.
func (d *Driver) Mountpoint(key string) string { return filepath.Join(d.home, key, "merged") }

// Prepare implements storage.Driver.
func (d *Driver) Prepare(ctx context.Context, key, parent string, opts ...storage.Opt) ([]storage.Mount, error) {
	var o storage.Opts
	for _, f := range opts {
		f(&o)
	}
	if err := d.create(key, parent, storage.KindActive, o.Volatile, o.IDMap); err != nil {
		return nil, err
	}
	return d.Mounts(ctx, key)
}

// View implements storage.Driver.
func (d *Driver) View(ctx context.Context, key, parent string) ([]storage.Mount, error) {
	if parent == "" {
		return nil, errdefs.InvalidArgumentf("view %s: a view needs a parent", key)
	}
	if err := d.create(key, parent, storage.KindView, false, userns.IDMap{}); err != nil {
		return nil, err
	}
	return d.Mounts(ctx, key)
}

func (d *Driver) create(key, parent string, kind storage.Kind, volatile bool, idm userns.IDMap) (retErr error) {
	if err := storage.ValidateKey(key); err != nil {
		return err
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if err := d.snaps.CheckCreate(key, parent); err != nil {
		return err
	}
	var lower string
	if parent != "" {
		link, err := os.ReadFile(filepath.Join(d.dir(parent), "link"))
		if err != nil {
			return err
		}
		lower = "l/" + strings.TrimSpace(string(link))
		if pl, err := os.ReadFile(filepath.Join(d.dir(parent), "lower")); err == nil {
			lower += ":" + string(pl)
		} else if !errors.Is(err, fs.ErrNotExist) {
			return err
		}
		if n := strings.Count(lower, ":") + 1; n > MaxDepth {
			return errdefs.InvalidArgumentf("snapshot %s: %d layers deep, more than the %d overlay2 allows", key, n, MaxDepth)
		}
	}

	tmp, err := os.MkdirTemp(d.tmp, "overlay2-")
	if err != nil {
		return err
	}
	defer func() {
		if retErr != nil {
			_ = removeTree(tmp)
		}
	}()
	if err := os.Chmod(tmp, 0o710); err != nil {
		return err
	}
	dirs := []string{"merged"}
	if kind == storage.KindActive {
		dirs = append(dirs, "diff", "work")
	}
	for _, s := range dirs {
		if err := os.Mkdir(filepath.Join(tmp, s), 0o755); err != nil {
			return err
		}
	}
	if lower != "" {
		if err := os.WriteFile(filepath.Join(tmp, "lower"), []byte(lower), 0o644); err != nil {
			return err
		}
	}
	var linkPath string
	if kind == storage.KindActive {
		short := newShortID()
		if err := os.WriteFile(filepath.Join(tmp, "link"), []byte(short), 0o644); err != nil {
			return err
		}
		linkPath = filepath.Join(d.home, "l", short)
		if err := os.Symlink("../"+key+"/diff", linkPath); err != nil {
			return err
		}
		defer func() {
			if retErr != nil {
				_ = os.Remove(linkPath)
			}
		}()
	}
	m := storage.Meta{Parent: parent, Kind: kind, Created: time.Now().UTC(), Volatile: volatile}
	if !idm.Empty() {
		if err := remapDirs(d.home, tmp, idm); err != nil {
			return err
		}
		m.UIDMap, m.GIDMap = userns.FormatRanges(idm.UIDs), userns.FormatRanges(idm.GIDs)
	}
	if err := writeMeta(tmp, m); err != nil {
		return err
	}
	if err := os.Rename(tmp, d.dir(key)); err != nil {
		return err
	}
	d.snaps.Put(key, m)
	return nil
}

// remapDirs readies snapshot dir (still in tmp) for a remapped container:
// its diff root is owned by the container's root, as a new container's
// root dir is with dockerd's remapping (what the container creates there
// is then owned by its host IDs), and the container's root may traverse
// home and dir to reach merged (mode 0710, group its root's gid, as
// dockerd's remapped data root; other users still cannot).
func remapDirs(home, dir string, idm userns.IDMap) error {
	uid, gid := idm.Root()
	if uid < 0 || gid < 0 {
		return errdefs.InvalidArgumentf("id map %s/%s does not map the container's root", userns.FormatRanges(idm.UIDs), userns.FormatRanges(idm.GIDs))
	}
	if err := os.Lchown(filepath.Join(dir, "diff"), uid, gid); err != nil {
		return err
	}
	for _, p := range []string{home, dir} {
		if err := os.Lchown(p, -1, gid); err != nil {
			return err
		}
	}
	return nil
}

func newShortID() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(b)
}

// Mounts implements storage.Driver.
func (d *Driver) Mounts(ctx context.Context, key string) ([]storage.Mount, error) {
	d.mu.Lock()
	m, err := d.snaps.Get(key)
	d.mu.Unlock()
	if err != nil {
		return nil, err
	}
	dir := d.dir(key)
	lowers, err := d.lowerDirs(key)
	if err != nil {
		return nil, err
	}
	switch m.Kind {
	case storage.KindView:
		if len(lowers) == 1 {
			return []storage.Mount{{Type: "bind", Source: lowers[0], Options: []string{"ro", "rbind"}}}, nil
		}
		return []storage.Mount{{Type: "overlay", Source: "overlay", Options: []string{
			"lowerdir=" + strings.Join(lowers, ":"), "index=off", "ro",
		}}}, nil
	case storage.KindActive:
		if len(lowers) == 0 {
			return []storage.Mount{{Type: "bind", Source: filepath.Join(dir, "diff"), Options: []string{"rw", "rbind"}}}, nil
		}
		opts := []string{
			"lowerdir=" + strings.Join(lowers, ":"),
			"upperdir=" + filepath.Join(dir, "diff"),
			"workdir=" + filepath.Join(dir, "work"),
			"index=off",
		}
		if m.Volatile {
			opts = append(opts, "volatile")
			if mounted, _ := mountinfo.Mounted(d.Mountpoint(key)); !mounted {
				if err := os.RemoveAll(filepath.Join(dir, "work", "work", "incompat")); err != nil {
					return nil, err
				}
			}
		}
		if m.UIDMap != "" {
			opts = append(opts, "uidmap="+m.UIDMap, "gidmap="+m.GIDMap)
		}
		return []storage.Mount{{Type: "overlay", Source: "overlay", Options: opts}}, nil
	}
	return nil, errdefs.Conflictf("snapshot %s is committed: prepare a child or a view to mount it", key)
}

// lowerDirs returns key's lower dirs as absolute l/ link paths, nearest first.
func (d *Driver) lowerDirs(key string) ([]string, error) {
	b, err := os.ReadFile(filepath.Join(d.dir(key), "lower"))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	ls := strings.Split(strings.TrimSpace(string(b)), ":")
	for i := range ls {
		ls[i] = filepath.Join(d.home, ls[i])
	}
	return ls, nil
}

// Commit implements storage.Driver.
func (d *Driver) Commit(ctx context.Context, name, key string) error {
	if err := storage.ValidateKey(name); err != nil {
		return err
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	nm, err := d.snaps.CheckCommit(name, key)
	if err != nil {
		return err
	}
	if name != key {
		if mounted, _ := mountinfo.Mounted(d.Mountpoint(key)); mounted {
			return errdefs.Conflictf("commit %s: snapshot is mounted", key)
		}
	}
	// Drop the work dir: a committed layer is never an upper again.
	if err := removeTree(filepath.Join(d.dir(key), "work")); err != nil {
		return err
	}
	if name != key {
		if err := os.Rename(d.dir(key), d.dir(name)); err != nil {
			return err
		}
		link, err := os.ReadFile(filepath.Join(d.dir(name), "link"))
		if err != nil {
			return err
		}
		lp := filepath.Join(d.home, "l", strings.TrimSpace(string(link)))
		tl := lp + ".tmp"
		_ = os.Remove(tl)
		if err := os.Symlink("../"+name+"/diff", tl); err != nil {
			return err
		}
		if err := os.Rename(tl, lp); err != nil {
			return err
		}
		d.snaps.Delete(key)
	}
	if err := os.WriteFile(filepath.Join(d.dir(name), "committed"), nil, 0o600); err != nil {
		return err
	}
	if err := writeMeta(d.dir(name), nm); err != nil {
		return err
	}
	d.snaps.Put(name, nm)
	return nil
}

// Remove implements storage.Driver.
func (d *Driver) Remove(ctx context.Context, key string) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if err := d.snaps.CheckRemove(key, d.dir(key)); err != nil {
		return err
	}
	dir := d.dir(key)
	link, _ := os.ReadFile(filepath.Join(dir, "link"))
	// Disappear atomically, then delete at leisure.
	gone, err := os.MkdirTemp(d.tmp, "overlay2-rm-")
	if err != nil {
		return err
	}
	if err := os.Rename(dir, filepath.Join(gone, "x")); err != nil {
		_ = os.Remove(gone)
		return err
	}
	d.snaps.Delete(key)
	if s := strings.TrimSpace(string(link)); s != "" {
		_ = os.Remove(filepath.Join(d.home, "l", s))
	}
	return os.RemoveAll(gone)
}

// Stat implements storage.Driver.
func (d *Driver) Stat(ctx context.Context, key string) (storage.Info, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.snaps.Stat(key)
}

// Walk implements storage.Driver.
func (d *Driver) Walk(ctx context.Context, fn func(context.Context, storage.Info) error) error {
	return d.snaps.Walk(ctx, &d.mu, fn)
}

// Usage implements storage.Driver.
func (d *Driver) Usage(ctx context.Context, key string) (storage.Usage, error) {
	if _, err := d.Stat(ctx, key); err != nil {
		return storage.Usage{}, err
	}
	return storage.DirUsage(filepath.Join(d.dir(key), "diff"))
}

// UpperDir implements storage.Applier.
func (d *Driver) UpperDir(ctx context.Context, key string) (string, bool, error) {
	i, err := d.Stat(ctx, key)
	if err != nil {
		return "", false, err
	}
	if i.Kind != storage.KindActive {
		return "", false, errdefs.Conflictf("snapshot %s is %s, not active", key, i.Kind)
	}
	return filepath.Join(d.dir(key), "diff"), true, nil
}

// Metadata implements storage.Metadataer with dockerd's GraphDriver keys.
func (d *Driver) Metadata(ctx context.Context, key string) (map[string]string, error) {
	i, err := d.Stat(ctx, key)
	if err != nil {
		return nil, err
	}
	dir := d.dir(key)
	md := map[string]string{"MergedDir": filepath.Join(dir, "merged")}
	if i.Kind != storage.KindView {
		md["UpperDir"] = filepath.Join(dir, "diff")
	}
	if i.Kind == storage.KindActive {
		md["WorkDir"] = filepath.Join(dir, "work")
	}
	lowers, err := d.lowerDirs(key)
	if err != nil {
		return nil, err
	}
	if len(lowers) > 0 {
		abs := make([]string, len(lowers))
		for i, l := range lowers {
			t, err := os.Readlink(l)
			if err != nil {
				return nil, err
			}
			abs[i] = filepath.Join(filepath.Dir(l), t)
		}
		md["LowerDir"] = strings.Join(abs, ":")
	}
	return md, nil
}

// Diff implements storage.Differ: the upper dir is the diff, with
// overlay's whiteouts turned into OCI ones.
func (d *Driver) Diff(ctx context.Context, key string, w io.Writer) error {
	i, err := d.Stat(ctx, key)
	if err != nil {
		return err
	}
	if i.Kind == storage.KindView {
		return errdefs.InvalidArgumentf("diff %s: a view has no changes", key)
	}
	d.mu.Lock()
	m, err := d.snaps.Get(key)
	d.mu.Unlock()
	if err != nil {
		return err
	}
	dir := filepath.Join(d.dir(key), "diff")
	if m.UIDMap == "" {
		return archive.WriteTar(ctx, w, dir, archive.TarOptions{OverlayWhiteouts: true})
	}
	// A remapped container's files are owned by its host IDs on disk;
	// the layer records them as the container sees them (dockerd's
	// remapped commits do the same).
	idm, err := metaIDMap(m)
	if err != nil {
		return err
	}
	return userns.WriteTarToContainer(w, idm, func(w io.Writer) error {
		return archive.WriteTar(ctx, w, dir, archive.TarOptions{OverlayWhiteouts: true})
	})
}

// IDMap implements storage.IDMapper.
func (d *Driver) IDMap(ctx context.Context, key string) (userns.IDMap, error) {
	d.mu.Lock()
	m, err := d.snaps.Get(key)
	d.mu.Unlock()
	if err != nil {
		return userns.IDMap{}, err
	}
	return metaIDMap(m)
}

func metaIDMap(m storage.Meta) (idm userns.IDMap, err error) {
	if idm.UIDs, err = userns.ParseRanges(m.UIDMap); err == nil {
		idm.GIDs, err = userns.ParseRanges(m.GIDMap)
	}
	return idm, err
}

// Status implements storage.Statuser with dockerd's overlay2 lines. New
// has mounted a probe overlay here, so d_type is supported.
func (d *Driver) Status() [][2]string {
	return [][2]string{
		{"Backing Filesystem", storage.FSName(d.home)},
		{"Supports d_type", "true"},
		{"Using metacopy", "false"},
		{"Native Overlay Diff", "true"},
		{"userxattr", "false"},
	}
}

// Close implements storage.Driver.
func (d *Driver) Close() error { return nil }

// removeTree deletes a tree that may have a stray mount inside (a crashed
// daemon's): those are detached first, so that nothing is deleted through
// them.
func removeTree(p string) error {
	mounts, err := mountinfo.GetMounts(mountinfo.PrefixFilter(p))
	if err != nil {
		return err
	}
	for i := len(mounts) - 1; i >= 0; i-- {
		if err := unix.Unmount(mounts[i].Mountpoint, unix.MNT_DETACH); err != nil && !errors.Is(err, syscall.EINVAL) {
			return fmt.Errorf("unmount %s: %w", mounts[i].Mountpoint, err)
		}
	}
	return os.RemoveAll(p)
}
