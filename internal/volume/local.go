package volume

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/moby/sys/mountinfo"
	"golang.org/x/sys/unix"

	"github.com/berth-dev/berth/internal/errdefs"
)

// LocalName is the local driver's name.
const LocalName = "local"

const metaFile = "volume.json"

// localMeta is volume.json.
type localMeta struct {
	Name      string
	CreatedAt time.Time
	Labels    map[string]string `json:",omitempty"`
	Options   map[string]string `json:",omitempty"`
}

type localVolume struct {
	meta  localMeta
	users map[string]bool
}

// Local is the local volume driver over <data-root>/volumes.
type Local struct {
	root string

	mu   sync.Mutex
	vols map[string]*localVolume
	// root owns a new volume's _data (-1: root): a remapping daemon's
	// containers' root (see SetRootOwner).
	rootUID, rootGID int
}

// SetRootOwner makes new volumes' _data owned by uid:gid, the host IDs of
// a remapped container's root (--userns-remap), as dockerd's remapped
// daemon does: the container's root may write there. The volumes dir
// stays root's (0701: traversable, not listable). Call before use.
func (l *Local) SetRootOwner(uid, gid int) { l.rootUID, l.rootGID = uid, gid }

var _ Driver = (*Local)(nil)

// NewLocal opens (creating) the volumes directory root, finishing creates
// and removals a crash interrupted.
func NewLocal(root string) (*Local, error) {
	if err := os.MkdirAll(root, 0o701); err != nil {
		return nil, fmt.Errorf("create volumes dir: %w", err)
	}
	l := &Local{root: root, vols: map[string]*localVolume{}, rootUID: -1, rootGID: -1}
	ents, err := os.ReadDir(root)
	if err != nil {
		return nil, fmt.Errorf("read volumes dir: %w", err)
	}
	for _, e := range ents {
		name := e.Name()
		if !e.IsDir() {
			continue
		}
		p := filepath.Join(root, name)
		if strings.HasPrefix(name, ".creating-") || strings.HasPrefix(name, ".removing-") {
			if err := removeTree(p); err != nil {
				return nil, err
			}
			continue
		}
		if !ValidName(name) {
			continue
		}
		meta, err := readMeta(p)
		if errors.Is(err, fs.ErrNotExist) {
			// Adopt a volume directory without metadata as a plain one.
			if err := os.MkdirAll(filepath.Join(p, "_data"), 0o755); err != nil {
				return nil, err
			}
			meta = localMeta{Name: name}
			if fi, serr := os.Stat(p); serr == nil {
				meta.CreatedAt = fi.ModTime().UTC()
			}
		} else if err != nil {
			return nil, err
		}
		meta.Name = name
		l.vols[name] = &localVolume{meta: meta, users: map[string]bool{}}
	}
	return l, nil
}

func readMeta(dir string) (localMeta, error) {
	var m localMeta
	b, err := os.ReadFile(filepath.Join(dir, metaFile))
	if err != nil {
		return m, err
	}
	if err := json.Unmarshal(b, &m); err != nil {
		return m, fmt.Errorf("read %s: %w", filepath.Join(dir, metaFile), err)
	}
	return m, nil
}

// Name is "local".
func (l *Local) Name() string { return LocalName }

func (l *Local) dataPath(name string) string { return filepath.Join(l.root, name, "_data") }

func (l *Local) info(v *localVolume) Info {
	return Info{
		Name:       v.meta.Name,
		Driver:     LocalName,
		Mountpoint: l.dataPath(v.meta.Name),
		CreatedAt:  v.meta.CreatedAt,
		Labels:     maps.Clone(v.meta.Labels),
		Options:    maps.Clone(v.meta.Options),
	}
}

var localOpts = map[string]bool{"type": true, "o": true, "device": true, "size": true, "uid": true, "gid": true}

// validateLocalOpts checks options with dockerd's messages (and berth's
// uid/gid).
func validateLocalOpts(opts map[string]string) error {
	for _, k := range slices.Sorted(maps.Keys(opts)) {
		if !localOpts[k] {
			return errdefs.InvalidArgumentf("invalid option: %q", k)
		}
	}
	if opts["size"] != "" {
		return errdefs.InvalidArgumentf("quota size requested but no quota support")
	}
	typ, dev, o := opts["type"], opts["device"], opts["o"]
	if typ != "" || dev != "" || o != "" {
		if dev == "" {
			return errdefs.InvalidArgumentf("missing required option: %q", "device")
		}
		if typ == "" {
			return errdefs.InvalidArgumentf("missing required option: %q", "type")
		}
	}
	if typ == "none" {
		if f, _ := parseMountOptions(o); f&unix.MS_BIND == 0 {
			return errdefs.InvalidArgumentf("invalid option: type=none needs o=bind (or rbind)")
		}
		if !filepath.IsAbs(dev) {
			return errdefs.InvalidArgumentf("invalid option: bind device %q must be an absolute path", dev)
		}
	}
	for _, k := range []string{"uid", "gid"} {
		if s, ok := opts[k]; ok {
			if n, err := strconv.ParseUint(s, 10, 32); err != nil || n == 1<<32-1 {
				return errdefs.InvalidArgumentf("invalid option: %s=%q is not a valid id", k, s)
			}
		}
	}
	return nil
}

func ownerOpts(opts map[string]string) (uid, gid int, ok bool) {
	uid, gid = -1, -1
	if s, has := opts["uid"]; has {
		uid, _ = strconv.Atoi(s)
		ok = true
	}
	if s, has := opts["gid"]; has {
		gid, _ = strconv.Atoi(s)
		ok = true
	}
	return uid, gid, ok
}

// Create makes the volume under a temp name and renames it into place.
func (l *Local) Create(ctx context.Context, name string, opts, labels map[string]string) (_ Info, err error) {
	if err := validateLocalOpts(opts); err != nil {
		return Info{}, err
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if _, ok := l.vols[name]; ok {
		return Info{}, errdefs.Conflictf("volume %s already exists", name)
	}
	tmp := filepath.Join(l.root, ".creating-"+randHex())
	if err := os.Mkdir(tmp, 0o755); err != nil {
		return Info{}, fmt.Errorf("create volume dir: %w", err)
	}
	defer func() {
		if err != nil {
			os.RemoveAll(tmp)
		}
	}()
	if err := os.Mkdir(filepath.Join(tmp, "_data"), 0o755); err != nil {
		return Info{}, fmt.Errorf("create volume data dir: %w", err)
	}
	if uid, gid, ok := ownerOpts(opts); ok && opts["type"] == "" {
		if err := os.Lchown(filepath.Join(tmp, "_data"), uid, gid); err != nil {
			return Info{}, fmt.Errorf("chown volume data dir: %w", err)
		}
	} else if l.rootUID >= 0 {
		if err := os.Lchown(filepath.Join(tmp, "_data"), l.rootUID, l.rootGID); err != nil {
			return Info{}, fmt.Errorf("chown volume data dir: %w", err)
		}
	}
	meta := localMeta{Name: name, CreatedAt: time.Now().UTC().Truncate(time.Second), Labels: maps.Clone(labels), Options: maps.Clone(opts)}
	if len(meta.Options) == 0 {
		meta.Options = nil
	}
	if len(meta.Labels) == 0 {
		meta.Labels = nil
	}
	b, err := json.Marshal(meta)
	if err != nil {
		return Info{}, err
	}
	if err := writeFileSync(filepath.Join(tmp, metaFile), b); err != nil {
		return Info{}, err
	}
	syncDir(tmp)
	if err := os.Rename(tmp, filepath.Join(l.root, name)); err != nil {
		return Info{}, fmt.Errorf("create volume: %w", err)
	}
	syncDir(l.root)
	v := &localVolume{meta: meta, users: map[string]bool{}}
	l.vols[name] = v
	return l.info(v), nil
}

func writeFileSync(path string, data []byte) error {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o600)
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("fsync %s: %w", path, err)
	}
	return f.Close()
}

func syncDir(dir string) {
	if d, err := os.Open(dir); err == nil {
		d.Sync()
		d.Close()
	}
}

func randHex() string {
	b := make([]byte, 8)
	rand.Read(b)
	return hex.EncodeToString(b)
}

func errNoSuchVolume() error { return errdefs.NotFoundf("no such volume") }

// Get returns one volume.
func (l *Local) Get(ctx context.Context, name string) (Info, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	v, ok := l.vols[name]
	if !ok {
		return Info{}, errNoSuchVolume()
	}
	return l.info(v), nil
}

// List returns every volume, by name.
func (l *Local) List(ctx context.Context) ([]Info, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := make([]Info, 0, len(l.vols))
	for _, n := range slices.Sorted(maps.Keys(l.vols)) {
		out = append(out, l.info(l.vols[n]))
	}
	return out, nil
}

// Remove unmounts the volume if needed, renames it out of the way and
// deletes it.
func (l *Local) Remove(ctx context.Context, name string) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	v, ok := l.vols[name]
	if !ok {
		return errNoSuchVolume()
	}
	if len(v.users) > 0 {
		return errdefs.Conflictf("volume is mounted by %d container(s)", len(v.users))
	}
	if v.meta.Options["type"] != "" {
		if err := unmountAll(l.dataPath(name)); err != nil {
			return err
		}
	}
	trash := filepath.Join(l.root, ".removing-"+name+"-"+randHex())
	if err := os.Rename(filepath.Join(l.root, name), trash); err != nil {
		return fmt.Errorf("remove volume: %w", err)
	}
	syncDir(l.root)
	delete(l.vols, name)
	return removeTree(trash)
}

// Mount returns the data path, mounting typed volumes for their first user.
func (l *Local) Mount(ctx context.Context, name, user string) (string, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	v, ok := l.vols[name]
	if !ok {
		return "", errNoSuchVolume()
	}
	p := l.dataPath(name)
	if v.meta.Options["type"] != "" && len(v.users) == 0 {
		mounted, err := mountinfo.Mounted(p)
		if err != nil {
			return "", fmt.Errorf("check mount %s: %w", p, err)
		}
		if !mounted {
			if err := mountTyped(p, v.meta.Options); err != nil {
				return "", err
			}
		}
	}
	v.users[user] = true
	return p, nil
}

// mountTyped mounts a volume with type= options on its data dir, and
// gives a fresh (empty) root the uid/gid owner asked for.
func mountTyped(p string, opts map[string]string) error {
	typ, dev := opts["type"], opts["device"]
	flags, data := parseMountOptions(opts["o"])
	fstype := typ
	if typ == "none" {
		fstype = ""
	}
	if err := unix.Mount(dev, p, fstype, flags, data); err != nil {
		return fmt.Errorf("failed to mount local volume: mount %s:%s: %w", dev, p, err)
	}
	if flags&unix.MS_BIND != 0 && flags&unix.MS_RDONLY != 0 {
		// A bind ignores MS_RDONLY on the first call.
		if err := unix.Mount("", p, "", flags|unix.MS_REMOUNT, ""); err != nil {
			unix.Unmount(p, unix.MNT_DETACH)
			return fmt.Errorf("failed to mount local volume: remount %s read-only: %w", p, err)
		}
	}
	if uid, gid, ok := ownerOpts(opts); ok {
		if ents, err := os.ReadDir(p); err == nil && len(ents) == 0 || onlyLostFound(ents) {
			if err := os.Lchown(p, uid, gid); err != nil {
				unix.Unmount(p, unix.MNT_DETACH)
				return fmt.Errorf("failed to mount local volume: chown %s: %w", p, err)
			}
		}
	}
	return nil
}

func onlyLostFound(ents []os.DirEntry) bool {
	return len(ents) == 1 && ents[0].Name() == "lost+found"
}

// Unmount lets go of user's hold; the last one out unmounts a typed volume.
func (l *Local) Unmount(ctx context.Context, name, user string) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	v, ok := l.vols[name]
	if !ok {
		return errNoSuchVolume()
	}
	if !v.users[user] {
		return nil
	}
	delete(v.users, user)
	if v.meta.Options["type"] == "" || len(v.users) > 0 {
		return nil
	}
	return unmountAll(l.dataPath(name))
}

// Usage sums the sizes of the volume's files.
func (l *Local) Usage(ctx context.Context, name string) (int64, error) {
	l.mu.Lock()
	_, ok := l.vols[name]
	l.mu.Unlock()
	if !ok {
		return 0, errNoSuchVolume()
	}
	var n int64
	err := filepath.WalkDir(l.dataPath(name), func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return nil
		}
		if fi, ierr := d.Info(); ierr == nil && fi.Mode().IsRegular() {
			n += fi.Size()
		}
		return nil
	})
	return n, err
}

// unmountAll unmounts every mount at or below p, deepest first.
func unmountAll(p string) error {
	ms, err := mountinfo.GetMounts(mountinfo.PrefixFilter(p))
	if err != nil {
		return fmt.Errorf("list mounts under %s: %w", p, err)
	}
	slices.SortFunc(ms, func(a, b *mountinfo.Info) int { return len(b.Mountpoint) - len(a.Mountpoint) })
	for _, m := range ms {
		if err := unix.Unmount(m.Mountpoint, 0); err != nil && !errors.Is(err, unix.EINVAL) && !errors.Is(err, unix.ENOENT) {
			if err := unix.Unmount(m.Mountpoint, unix.MNT_DETACH); err != nil && !errors.Is(err, unix.EINVAL) {
				return fmt.Errorf("unmount %s: %w", m.Mountpoint, err)
			}
		}
	}
	return nil
}

// removeTree deletes dir after unmounting whatever is mounted inside it,
// so a bind-backed volume never takes its host directory's files along.
func removeTree(dir string) error {
	if err := unmountAll(dir); err != nil {
		return err
	}
	if ms, err := mountinfo.GetMounts(mountinfo.PrefixFilter(dir)); err == nil && len(ms) > 0 {
		return fmt.Errorf("remove %s: %s is still mounted", dir, ms[0].Mountpoint)
	}
	if err := os.RemoveAll(dir); err != nil {
		return fmt.Errorf("remove %s: %w", dir, err)
	}
	return nil
}
