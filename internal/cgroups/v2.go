package cgroups

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
)

// enable makes controllers available to the container's cgroup: each one
// the hierarchy offers is added to cgroup.subtree_control of every
// ancestor, from the hierarchy's root down to the container's parent.
//
// v2 refuses to enable controllers below a cgroup that holds processes (the
// no-internal-processes rule). The only such cgroup berth takes charge of is
// the caller's own, which a relative cgroupsPath nests under: berth moves
// every process of it into its leaf child "berth-daemon" and retries, the
// way a delegated subtree is meant to be used. Any other busy ancestor (an
// absolute --cgroup-parent with processes in it) is an error naming it.
func (m *manager) enable(ctrls []string) error {
	if len(ctrls) == 0 || m.l.Unified == nil {
		return nil
	}
	root := m.l.Unified.Mountpoint
	ownDir := filepath.Join(root, ownRel(m.l.Unified))
	rel, err := filepath.Rel(root, filepath.Dir(m.unified))
	if err != nil || strings.HasPrefix(rel, "..") {
		return fmt.Errorf("enable cgroup controllers: %s is not below %s", m.unified, root)
	}
	dir := root
	parts := []string{}
	if rel != "." {
		parts = strings.Split(rel, string(filepath.Separator))
	}
	for i := 0; ; i++ {
		if err := enableIn(dir, ctrls, dir == ownDir); err != nil {
			return err
		}
		if i == len(parts) {
			return nil
		}
		dir = filepath.Join(dir, parts[i])
	}
}

func enableIn(dir string, ctrls []string, mayEvacuate bool) error {
	avail, err := readFile(filepath.Join(dir, "cgroup.controllers"))
	if err != nil {
		return err
	}
	cur, err := readFile(filepath.Join(dir, "cgroup.subtree_control"))
	if err != nil {
		return err
	}
	var add []string
	for _, c := range ctrls {
		if slices.Contains(strings.Fields(avail), c) && !slices.Contains(strings.Fields(cur), c) {
			add = append(add, "+"+c)
		}
	}
	if len(add) == 0 {
		return nil
	}
	err = writeFile(dir, "cgroup.subtree_control", strings.Join(add, " "))
	if errors.Is(err, syscall.EBUSY) && mayEvacuate {
		if err := evacuate(dir); err != nil {
			return err
		}
		err = writeFile(dir, "cgroup.subtree_control", strings.Join(add, " "))
	}
	if errors.Is(err, syscall.EBUSY) {
		return fmt.Errorf("enable cgroup controllers %v in %s: it holds processes, and cgroup v2 allows no controllers below a cgroup with processes: %w", add, dir, err)
	}
	if err != nil && len(add) > 1 {
		// One controller may refuse (cpuset partitions, a threaded
		// subtree); enable the others and let writes to the refused one
		// report it.
		for _, a := range add {
			_ = writeFile(dir, "cgroup.subtree_control", a)
		}
		return nil
	}
	return err
}

// evacuate moves every process of dir into dir/berth-daemon.
func evacuate(dir string) error {
	leaf := filepath.Join(dir, evacLeaf)
	if err := os.Mkdir(leaf, 0o755); err != nil && !errors.Is(err, os.ErrExist) {
		return fmt.Errorf("create cgroup %s: %w", leaf, err)
	}
	// Processes forked meanwhile land in dir again: a few rounds catch them.
	for range 5 {
		procs, err := readFile(filepath.Join(dir, "cgroup.procs"))
		if err != nil {
			return err
		}
		if procs == "" {
			return nil
		}
		for _, p := range strings.Fields(procs) {
			if err := writeFile(leaf, "cgroup.procs", p); err != nil && !errors.Is(err, syscall.ESRCH) {
				return fmt.Errorf("move process out of %s: %w", dir, err)
			}
		}
	}
	return nil
}
