package volume

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	eventtypes "github.com/moby/moby/api/types/events"
	vtypes "github.com/moby/moby/api/types/volume"
	"github.com/sirupsen/logrus"

	"github.com/berth-dev/berth/internal/errdefs"
	"github.com/berth-dev/berth/internal/events"
	"github.com/berth-dev/berth/internal/filters"
)

// AnonymousLabel marks volumes made for a container's `-v /path` or image
// VOLUME, as dockerd marks them (API 1.42+ prune removes only those).
const AnonymousLabel = "com.docker.volume.anonymous"

var nameRE = regexp.MustCompile(`^[a-zA-Z0-9][a-zA-Z0-9_.-]+$`)

// ValidName reports whether name is a valid local volume name.
func ValidName(name string) bool { return nameRE.MatchString(name) }

// Event is a volume event: create, mount, unmount, destroy.
type Event struct {
	Action    string
	Name      string
	Driver    string
	Container string // mount/unmount: the container
	Mount     *User  // mount: where and how
}

// Service keeps the volumes of every driver and who refers to them.
type Service struct {
	drivers map[string]Driver
	log     logrus.FieldLogger
	events  events.Publisher

	mu   sync.Mutex
	refs map[string]map[string]bool // volume name -> container ids
}

// NewService returns a service over drivers (by Name); the first local
// driver is the default.
func NewService(log logrus.FieldLogger, drivers ...Driver) *Service {
	if log == nil {
		log = logrus.StandardLogger()
	}
	s := &Service{drivers: map[string]Driver{}, log: log, events: events.Nop{}, refs: map[string]map[string]bool{}}
	for _, d := range drivers {
		s.drivers[d.Name()] = d
	}
	return s
}

// SetPublisher sets where volume events go (the events bus); call it
// before serving.
func (s *Service) SetPublisher(p events.Publisher) { s.events = p }

// emit publishes ev as dockerd shapes volume events: the actor is the
// volume name, with the driver (and, for mount and unmount, the
// container) as attributes.
func (s *Service) emit(ev Event) {
	attrs := map[string]string{"driver": ev.Driver}
	if ev.Container != "" {
		attrs["container"] = ev.Container
	}
	if m := ev.Mount; m != nil {
		attrs["destination"] = m.Destination
		attrs["read/write"] = strconv.FormatBool(m.ReadWrite)
		attrs["propagation"] = m.Propagation
	}
	s.events.Publish(events.Message{
		Type:   eventtypes.VolumeEventType,
		Action: eventtypes.Action(ev.Action),
		Actor:  eventtypes.Actor{ID: ev.Name, Attributes: attrs},
	})
}

func (s *Service) driver(name string) (Driver, error) {
	if name == "" {
		name = LocalName
	}
	d, ok := s.drivers[name]
	if !ok {
		return nil, errdefs.NotFoundf("error looking up volume plugin %s: plugin %q not found", name, name)
	}
	return d, nil
}

// find looks a volume up in every driver.
func (s *Service) find(ctx context.Context, name string) (Driver, Info, error) {
	for _, dn := range slices.Sorted(maps.Keys(s.drivers)) {
		d := s.drivers[dn]
		info, err := d.Get(ctx, name)
		if err == nil {
			return d, info, nil
		}
		if !errdefs.Is(err, errdefs.NotFound) {
			return nil, Info{}, err
		}
	}
	return nil, Info{}, errdefs.NotFoundf("get %s: no such volume", name)
}

func newName() string {
	b := make([]byte, 32)
	rand.Read(b)
	return hex.EncodeToString(b)
}

func errInvalidName(name string) error {
	return errdefs.InvalidArgumentf("create %s: %q includes invalid characters for a local volume name, only %q are allowed. If you intended to pass a host directory, use absolute path", name, name, "[a-zA-Z0-9][a-zA-Z0-9_.-]")
}

// Create makes a volume (POST /volumes/create). An existing name gives the
// existing volume, as dockerd does.
func (s *Service) Create(ctx context.Context, req vtypes.CreateRequest) (vtypes.Volume, error) {
	info, err := s.create(ctx, req.Name, req.Driver, req.DriverOpts, req.Labels)
	if err != nil {
		return vtypes.Volume{}, err
	}
	return toAPI(info), nil
}

func (s *Service) create(ctx context.Context, name, driver string, opts, labels map[string]string) (Info, error) {
	if name == "" {
		name = newName()
	}
	if !ValidName(name) {
		return Info{}, errInvalidName(name)
	}
	d, err := s.driver(driver)
	if err != nil {
		return Info{}, fmt.Errorf("create %s: %w", name, err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, info, err := s.find(ctx, name); err == nil {
		if driver != "" && info.Driver != d.Name() {
			return Info{}, errdefs.Conflictf("create %s: volume name must be unique", name)
		}
		return info, nil
	}
	info, err := d.Create(ctx, name, opts, labels)
	if err != nil {
		return Info{}, fmt.Errorf("create %s: %w", name, err)
	}
	s.emit(Event{Action: "create", Name: name, Driver: info.Driver})
	return info, nil
}

// Inspect returns one volume (GET /volumes/{name}).
func (s *Service) Inspect(ctx context.Context, name string) (vtypes.Volume, error) {
	_, info, err := s.find(ctx, name)
	if err != nil {
		return vtypes.Volume{}, err
	}
	return toAPI(info), nil
}

// Path is the host directory of a volume's data.
func (s *Service) Path(ctx context.Context, name string) (string, error) {
	_, info, err := s.find(ctx, name)
	return info.Mountpoint, err
}

func toAPI(info Info) vtypes.Volume {
	v := vtypes.Volume{
		Name:       info.Name,
		Driver:     info.Driver,
		Mountpoint: info.Mountpoint,
		Labels:     info.Labels,
		Options:    info.Options,
		Scope:      "local",
	}
	if !info.CreatedAt.IsZero() {
		v.CreatedAt = info.CreatedAt.Format(time.RFC3339)
	}
	return v
}

func (s *Service) all(ctx context.Context) ([]Info, error) {
	var out []Info
	for _, dn := range slices.Sorted(maps.Keys(s.drivers)) {
		l, err := s.drivers[dn].List(ctx)
		if err != nil {
			return nil, err
		}
		out = append(out, l...)
	}
	return out, nil
}

// List returns the volumes matching the filters (GET /volumes): dangling,
// name, label, driver.
func (s *Service) List(ctx context.Context, f filters.Args) (vtypes.ListResponse, error) {
	if err := f.Validate("dangling", "name", "label", "driver"); err != nil {
		return vtypes.ListResponse{}, err
	}
	var dangling *bool
	for _, v := range f.Get("dangling") {
		switch strings.ToLower(v) {
		case "true", "1":
			b := true
			dangling = &b
		case "false", "0":
			b := false
			dangling = &b
		default:
			return vtypes.ListResponse{}, errdefs.InvalidArgumentf("invalid filter 'dangling=%s'", v)
		}
	}
	infos, err := s.all(ctx)
	if err != nil {
		return vtypes.ListResponse{}, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	out := vtypes.ListResponse{Volumes: []vtypes.Volume{}, Warnings: []string{}}
	for _, info := range infos {
		if dangling != nil && *dangling == (len(s.refs[info.Name]) > 0) {
			continue
		}
		if !matchAny(f.Get("name"), info.Name) || !matchAny(f.Get("driver"), info.Driver) || !f.MatchKVList("label", info.Labels) {
			continue
		}
		out.Volumes = append(out.Volumes, toAPI(info))
	}
	return out, nil
}

// matchAny is dockerd's filter match: empty, equal, or a regexp match.
func matchAny(patterns []string, s string) bool {
	if len(patterns) == 0 {
		return true
	}
	for _, p := range patterns {
		if p == s {
			return true
		}
		if re, err := regexp.Compile(p); err == nil && re.MatchString(s) {
			return true
		}
	}
	return false
}

// Remove deletes a volume (DELETE /volumes/{name}). A volume any container
// refers to is a Conflict; force only makes an unknown name no error.
func (s *Service) Remove(ctx context.Context, name string, force bool) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.removeLocked(ctx, name, force)
}

func (s *Service) removeLocked(ctx context.Context, name string, force bool) error {
	d, info, err := s.find(ctx, name)
	if err != nil {
		if force && errdefs.Is(err, errdefs.NotFound) {
			return nil
		}
		return err
	}
	if users := s.refs[name]; len(users) > 0 {
		return errdefs.Conflictf("remove %s: volume is in use - [%s]", name, strings.Join(slices.Sorted(maps.Keys(users)), ", "))
	}
	if err := d.Remove(ctx, name); err != nil {
		return fmt.Errorf("remove %s: %w", name, err)
	}
	delete(s.refs, name)
	s.emit(Event{Action: "destroy", Name: name, Driver: info.Driver})
	return nil
}

// Prune removes the volumes no container refers to (POST /volumes/prune),
// filtered on label, label! and all. onlyAnonymous is API >= 1.42's
// default: named volumes stay unless all=true.
func (s *Service) Prune(ctx context.Context, f filters.Args, onlyAnonymous bool) (vtypes.PruneReport, error) {
	if err := f.Validate("label", "label!", "all"); err != nil {
		return vtypes.PruneReport{}, err
	}
	onlyAnon := onlyAnonymous
	for _, v := range f.Get("all") {
		switch strings.ToLower(v) {
		case "true", "1":
			onlyAnon = false
		case "false", "0":
		default:
			return vtypes.PruneReport{}, errdefs.InvalidArgumentf("invalid filter 'all=%s': invalid value for all", v)
		}
	}
	infos, err := s.all(ctx)
	if err != nil {
		return vtypes.PruneReport{}, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	rep := vtypes.PruneReport{VolumesDeleted: []string{}}
	for _, info := range infos {
		if len(s.refs[info.Name]) > 0 {
			continue
		}
		if _, anon := info.Labels[AnonymousLabel]; onlyAnon && !anon {
			continue
		}
		if !f.MatchKVList("label", info.Labels) || !notLabels(f.Get("label!"), info.Labels) {
			continue
		}
		var size int64
		if d, err := s.driver(info.Driver); err == nil {
			size, _ = d.Usage(ctx, info.Name)
		}
		if err := s.removeLocked(ctx, info.Name, false); err != nil {
			s.log.WithError(err).WithField("volume", info.Name).Warn("prune")
			continue
		}
		rep.VolumesDeleted = append(rep.VolumesDeleted, info.Name)
		rep.SpaceReclaimed += uint64(size)
	}
	return rep, nil
}

// notLabels is the label! filter: no value may match.
func notLabels(vals []string, labels map[string]string) bool {
	for _, v := range vals {
		k, val, hasVal := strings.Cut(v, "=")
		got, ok := labels[k]
		if ok && (!hasVal || got == val) {
			return false
		}
	}
	return true
}

// AcquireOptions describe the volume a container's mount wants.
type AcquireOptions struct {
	Driver     string
	DriverOpts map[string]string
	Labels     map[string]string
	// Anonymous makes a new volume with a random name and AnonymousLabel.
	Anonymous bool
}

// Acquire gets (creating) the named or anonymous volume a container
// mounts, and records that container as referring to it.
func (s *Service) Acquire(ctx context.Context, name, container string, opts AcquireOptions) (Info, error) {
	labels := opts.Labels
	if opts.Anonymous {
		name = ""
		labels = maps.Clone(labels)
		if labels == nil {
			labels = map[string]string{}
		}
		labels[AnonymousLabel] = ""
	}
	info, err := s.create(ctx, name, opts.Driver, opts.DriverOpts, labels)
	if err != nil {
		return Info{}, err
	}
	s.Ref(info.Name, container)
	return info, nil
}

// Ref records that container refers to volume name.
func (s *Service) Ref(name, container string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.refs[name] == nil {
		s.refs[name] = map[string]bool{}
	}
	s.refs[name][container] = true
}

// Release forgets container's reference to volume name.
func (s *Service) Release(name, container string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.refs[name], container)
	if len(s.refs[name]) == 0 {
		delete(s.refs, name)
	}
}

// RemoveIfUnused removes volume name unless a container still refers to
// it (docker rm -v of anonymous volumes).
func (s *Service) RemoveIfUnused(ctx context.Context, name string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.refs[name]) > 0 {
		return nil
	}
	return s.removeLocked(ctx, name, true)
}

// User is a container mounting a volume, as its mount event tells.
type User struct {
	Container   string
	Destination string
	ReadWrite   bool
	Propagation string
}

// Mount makes volume name's data reachable for u.Container and returns
// its host path.
func (s *Service) Mount(ctx context.Context, name string, u User) (string, error) {
	d, info, err := s.find(ctx, name)
	if err != nil {
		return "", err
	}
	p, err := d.Mount(ctx, name, u.Container)
	if err != nil {
		return "", fmt.Errorf("error while mounting volume '%s': %w", info.Mountpoint, err)
	}
	s.emit(Event{Action: "mount", Name: name, Driver: info.Driver, Container: u.Container, Mount: &u})
	return p, nil
}

// WithMounted runs f with volume name mounted for the daemon itself (the
// copy of image content into a new volume); it publishes no event.
func (s *Service) WithMounted(ctx context.Context, name string, f func(path string) error) error {
	return s.withMounted(ctx, name, nil, f)
}

// WithMountedFor runs f with volume name mounted for a copy through
// container u.Container's filesystem (docker cp), publishing mount and
// unmount events for u as dockerd's view of a container's filesystem
// does. The mount is the daemon's own: a running container's mount of
// the volume is left as it is.
func (s *Service) WithMountedFor(ctx context.Context, name string, u User, f func(path string) error) error {
	return s.withMounted(ctx, name, &u, f)
}

// withMounted mounts name under a user of its own; with u, events say u.
func (s *Service) withMounted(ctx context.Context, name string, u *User, f func(path string) error) (err error) {
	d, info, err := s.find(ctx, name)
	if err != nil {
		return err
	}
	user := "berthd-" + newName()[:16]
	p, err := d.Mount(ctx, name, user)
	if err != nil {
		return fmt.Errorf("error while mounting volume '%s': %w", info.Mountpoint, err)
	}
	if u != nil {
		s.emit(Event{Action: "mount", Name: name, Driver: info.Driver, Container: u.Container, Mount: u})
	}
	defer func() {
		uerr := d.Unmount(context.WithoutCancel(ctx), name, user)
		if uerr != nil && err == nil {
			err = fmt.Errorf("unmount volume %s: %w", name, uerr)
		}
		if uerr == nil && u != nil {
			s.emit(Event{Action: "unmount", Name: name, Driver: info.Driver, Container: u.Container})
		}
	}()
	return f(p)
}

// Unmount lets go of container's mount of volume name.
func (s *Service) Unmount(ctx context.Context, name, container string) error {
	d, info, err := s.find(ctx, name)
	if err != nil {
		return err
	}
	if err := d.Unmount(ctx, name, container); err != nil {
		return fmt.Errorf("unmount volume %s: %w", name, err)
	}
	s.emit(Event{Action: "unmount", Name: name, Driver: info.Driver, Container: container})
	return nil
}

// DiskUsage lists every volume with its UsageData (bytes used, containers
// referring to it), for GET /system/df.
func (s *Service) DiskUsage(ctx context.Context) ([]*vtypes.Volume, error) {
	infos, err := s.all(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]*vtypes.Volume, 0, len(infos))
	for _, info := range infos {
		v := toAPI(info)
		size := int64(-1)
		if d, err := s.driver(info.Driver); err == nil {
			if n, err := d.Usage(ctx, info.Name); err == nil {
				size = n
			}
		}
		s.mu.Lock()
		refs := len(s.refs[info.Name])
		s.mu.Unlock()
		v.UsageData = &vtypes.UsageData{Size: size, RefCount: int64(refs)}
		out = append(out, &v)
	}
	return out, nil
}
