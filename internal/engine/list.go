package engine

import (
	"context"
	"regexp"
	"strconv"
	"strings"
	"time"

	ctypes "github.com/moby/moby/api/types/container"

	"github.com/berth-dev/berth/internal/apiserver/router/containers"
	"github.com/berth-dev/berth/internal/container"
	"github.com/berth-dev/berth/internal/errdefs"
	"github.com/berth-dev/berth/internal/filters"
)

var listFilters = []string{"id", "name", "status", "label", "ancestor", "exited", "before", "since", "is-task", "health", "volume"}

// List returns containers newest first, from snapshots (it never waits
// on a container's lifecycle operations).
func (e *Engine) List(ctx context.Context, opts containers.ListOptions) ([]ctypes.Summary, error) {
	f := opts.Filters
	if err := f.Validate(listFilters...); err != nil {
		return nil, err
	}
	m, err := e.newListMatcher(ctx, f)
	if err != nil {
		return nil, err
	}
	all := opts.All || opts.Limit > 0 || f.Contains("status")
	now := time.Now()
	out := []ctypes.Summary{}
	for _, c := range e.store.List() {
		if m.before != nil {
			if c.ID == m.before.ID || !c.Created.Before(m.before.Created) {
				continue
			}
		}
		if m.since != nil && (c.ID == m.since.ID || !c.Created.After(m.since.Created)) {
			continue
		}
		if !all && !c.State.Running() {
			continue
		}
		if !m.match(c) {
			continue
		}
		s := c.Summary(now)
		if opts.Size {
			s.SizeRw, _ = e.rwSize(ctx, c.ID)
		}
		out = append(out, s)
		if opts.Limit > 0 && len(out) >= opts.Limit {
			break
		}
	}
	return out, nil
}

type listMatcher struct {
	f             filters.Args
	names         []*regexp.Regexp
	exited        []int
	ancestors     map[string]bool // image ids
	ancestorRefs  map[string]bool
	before, since *container.Container
	isTask        *bool
}

func (e *Engine) newListMatcher(ctx context.Context, f filters.Args) (*listMatcher, error) {
	m := &listMatcher{f: f}
	for _, v := range f.Get("name") {
		re, err := regexp.Compile(v)
		if err != nil {
			return nil, errdefs.InvalidArgumentf("invalid filter 'name=%s': %v", v, err)
		}
		m.names = append(m.names, re)
	}
	for _, v := range f.Get("status") {
		if err := ctypes.ValidateContainerState(ctypes.ContainerState(v)); err != nil {
			return nil, errdefs.InvalidArgumentf("invalid filter 'status=%s'", v)
		}
	}
	for _, v := range f.Get("exited") {
		code, err := strconv.Atoi(v)
		if err != nil {
			return nil, errdefs.InvalidArgumentf("invalid filter 'exited=%s'", v)
		}
		m.exited = append(m.exited, code)
	}
	if refs := f.Get("ancestor"); len(refs) > 0 {
		m.ancestors, m.ancestorRefs = map[string]bool{}, map[string]bool{}
		for _, ref := range refs {
			m.ancestorRefs[ref] = true
			if img, err := e.cfg.Images.Get(ctx, ref); err == nil {
				m.ancestors[string(img.ID)] = true
			}
		}
	}
	for _, p := range []struct {
		key string
		dst **container.Container
	}{{"before", &m.before}, {"since", &m.since}} {
		for _, v := range f.Get(p.key) {
			ent, err := e.store.Get(v)
			if err != nil {
				return nil, err
			}
			*p.dst = ent.Snapshot()
		}
	}
	for _, v := range f.Get("health") {
		switch ctypes.HealthStatus(v) {
		case ctypes.Starting, ctypes.Healthy, ctypes.Unhealthy, ctypes.NoHealthcheck:
		default:
			return nil, errdefs.InvalidArgumentf("Unrecognised filter value for health: %s", v)
		}
	}
	for _, v := range f.Get("is-task") {
		b, err := strconv.ParseBool(v)
		if err != nil {
			return nil, errdefs.InvalidArgumentf("invalid filter 'is-task=%s'", v)
		}
		m.isTask = &b
	}
	return m, nil
}

func (m *listMatcher) match(c *container.Container) bool {
	if ids := m.f.Get("id"); len(ids) > 0 && !anyPrefix(ids, c.ID) {
		return false
	}
	if len(m.names) > 0 {
		ok := false
		for _, re := range m.names {
			if re.MatchString(c.Name) || re.MatchString(strings.TrimPrefix(c.Name, "/")) {
				ok = true
			}
		}
		if !ok {
			return false
		}
	}
	if !m.f.Match("status", string(c.State.Status)) {
		return false
	}
	health := ctypes.NoHealthcheck
	if h := c.State.Health; h != nil {
		health = h.Status
	}
	if !m.f.Match("health", string(health)) {
		return false
	}
	if !m.f.MatchKVList("label", c.Config.Labels) {
		return false
	}
	if len(m.exited) > 0 {
		if c.State.Status != ctypes.StateExited {
			return false
		}
		ok := false
		for _, code := range m.exited {
			ok = ok || code == c.State.ExitCode
		}
		if !ok {
			return false
		}
	}
	if m.ancestors != nil && !m.ancestors[string(c.ImageID)] && !m.ancestorRefs[c.Config.Image] {
		return false
	}
	if m.isTask != nil && *m.isTask {
		return false // no swarm tasks here
	}
	if vols := m.f.Get("volume"); len(vols) > 0 && !mountsAny(c, vols) {
		return false
	}
	return true
}

// mountsAny reports whether one of c's mounts is named or mounted at one of
// vals, as dockerd's volume filter matches.
func mountsAny(c *container.Container, vals []string) bool {
	for _, mp := range c.MountPoints() {
		for _, v := range vals {
			if (mp.Name != "" && mp.Name == v) || mp.Destination == v {
				return true
			}
		}
	}
	return false
}

func anyPrefix(prefixes []string, s string) bool {
	for _, p := range prefixes {
		if strings.HasPrefix(s, p) {
			return true
		}
	}
	return false
}
