package cgroups

import (
	"os"
	"path/filepath"
	"testing"
)

// TestEnableWalksAncestors checks, on plain files standing in for a
// unified hierarchy, that enable adds to cgroup.subtree_control of every
// ancestor from the root to the parent, only what is offered there and
// not yet enabled, and leaves the container's own directory alone.
func TestEnableWalksAncestors(t *testing.T) {
	root := t.TempDir()
	files := map[string]string{
		"cgroup.controllers":             "cpu memory pids",
		"cgroup.subtree_control":         "cpu",
		"a/cgroup.controllers":           "cpu memory",
		"a/cgroup.subtree_control":       "cpu memory",
		"a/b/cgroup.controllers":         "cpu",
		"a/b/cgroup.subtree_control":     "",
		"a/b/ctr/cgroup.controllers":     "",
		"a/b/ctr/cgroup.subtree_control": "untouched",
	}
	for name, content := range files {
		p := filepath.Join(root, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	l := &layout{Mode: ModeV2, Unified: &hierarchy{Mountpoint: root, Root: "/", Own: "/a"}}
	m, err := newManager(l, "b/ctr")
	if err != nil {
		t.Fatal(err)
	}
	if want := filepath.Join(root, "a/b/ctr"); m.Path("") != want {
		t.Fatalf("Path = %q, want %q", m.Path(""), want)
	}
	if err := m.enable([]string{"cpu", "memory", "pids", "io"}); err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]string{
		"cgroup.subtree_control":         "+memory +pids", // cpu was on; io is not offered
		"a/cgroup.subtree_control":       "cpu memory",    // nothing missing: no write
		"a/b/cgroup.subtree_control":     "+cpu",
		"a/b/ctr/cgroup.subtree_control": "untouched",
	} {
		b, err := os.ReadFile(filepath.Join(root, name))
		if err != nil {
			t.Fatal(err)
		}
		if string(b) != want {
			t.Errorf("%s = %q, want %q", name, b, want)
		}
	}
}
