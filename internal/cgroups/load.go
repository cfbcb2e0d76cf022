package cgroups

import (
	"errors"
	"fmt"
	"os"
	"path"
	"slices"
	"strings"

	"github.com/berth-dev/berth/internal/errdefs"
)

// Load returns the Manager of the cgroup that process pid lives in, read
// from /proc/<pid>/cgroup hierarchy by hierarchy. It finds a container's
// cgroup whoever placed it (berth's runtime or runc, relative to whichever
// process's own cgroup), which New cannot when the caller's cgroup differs
// from the one the path was resolved against. The cgroup exists, so Set
// writes without creating anything.
func Load(pid int) (Manager, error) {
	l, err := host()
	if err != nil {
		return nil, err
	}
	f, err := os.Open(fmt.Sprintf("/proc/%d/cgroup", pid))
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, errdefs.NotFoundf("no such process: %d", pid)
		}
		return nil, fmt.Errorf("read cgroup of %d: %w", pid, err)
	}
	defer f.Close()
	entries, err := parseProcCgroup(f)
	if err != nil {
		return nil, err
	}
	return loadManager(l, entries)
}

func loadManager(l *layout, entries []procCgroupEntry) (*manager, error) {
	m := &manager{l: l, created: true}
	for _, h := range l.V1 {
		i := slices.IndexFunc(entries, func(e procCgroupEntry) bool { return slices.Equal(e.controllers, h.Controllers) })
		if i < 0 {
			return nil, fmt.Errorf("load cgroup: process is in no %s cgroup", strings.Join(h.Controllers, ","))
		}
		m.v1 = append(m.v1, v1dir{h: h, dir: dirOf(h, entries[i].path)})
	}
	if l.Unified != nil {
		i := slices.IndexFunc(entries, func(e procCgroupEntry) bool { return e.controllers == nil })
		if i < 0 {
			return nil, errors.New("load cgroup: process is in no unified cgroup")
		}
		m.unified = dirOf(l.Unified, entries[i].path)
	}
	return m, nil
}

// dirOf is the directory of cgroup p (as /proc/<pid>/cgroup names it) in
// h's mount, which shows the hierarchy from h.Root down.
func dirOf(h *hierarchy, p string) string {
	if h.Root != "/" && h.Root != "" {
		if p == h.Root {
			p = "/"
		} else {
			p = strings.TrimPrefix(p, h.Root)
		}
	}
	return path.Join(h.Mountpoint, p)
}
