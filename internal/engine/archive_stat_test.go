package engine

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// lstatInRoot resolves every component but the last in the rootfs's scope
// and never leaves it, even through absolute or ".." symlinks.
func TestLstatInRoot(t *testing.T) {
	root := t.TempDir()
	os.MkdirAll(filepath.Join(root, "d"), 0o755)
	os.WriteFile(filepath.Join(root, "d/f"), []byte("12345"), 0o644)
	os.Symlink("/d", filepath.Join(root, "l"))
	os.Symlink("/../../../../../..", filepath.Join(root, "esc"))
	// A host file that an escaping resolution would find.
	host := t.TempDir()
	os.WriteFile(filepath.Join(host, "secret"), []byte("host"), 0o644)
	os.Symlink(host, filepath.Join(root, "hostlink"))

	for _, c := range []struct {
		path string
		mode fs.FileMode // type bits; 0 = regular
		size int64
		err  error
	}{
		{"/", fs.ModeDir, -1, nil},
		{"/l", fs.ModeSymlink, -1, nil},
		{"/l/", fs.ModeDir, -1, nil},
		{"/l/.", fs.ModeDir, -1, nil},
		{"/l/f", 0, 5, nil},
		{"/esc/d/f", 0, 5, nil},
		{"/esc" + host + "/secret", 0, 0, fs.ErrNotExist},
		{"/hostlink/secret", 0, 0, fs.ErrNotExist},
		{"/missing/f", 0, 0, fs.ErrNotExist},
	} {
		cp, err := resolveContainerPath(root, c.path)
		if err != nil {
			t.Fatal(err)
		}
		fi, err := lstatInRoot(root, cp)
		if c.err != nil {
			if !errors.Is(err, c.err) {
				t.Errorf("%s: %v, want %v", c.path, err, c.err)
			}
			continue
		}
		if err != nil {
			t.Errorf("%s: %v", c.path, err)
			continue
		}
		if fi.Mode().Type() != c.mode || c.size >= 0 && fi.Size() != c.size {
			t.Errorf("%s: mode %v size %d, want %v %d", c.path, fi.Mode(), fi.Size(), c.mode, c.size)
		}
	}
}

// FuzzContainerPath: whatever path a client names, its resolution stays
// inside the rootfs, and its stat never reaches the host file that the
// rootfs's symlinks point at (absolute, relative and ".." links).
func FuzzContainerPath(f *testing.F) {
	for _, s := range []string{"/", "", ".", "/l/f", "/l/", "/l/.", "/esc/d/f", "../../../../etc", "/hostlink/secret",
		"/rel/secret", "/d/../../..", "/d/./f/", "//d//f", "/esc/../../hostlink/secret", "\x00", "/d/f/.."} {
		f.Add(s)
	}
	root := f.TempDir()
	host := f.TempDir()
	secret := make([]byte, 7777)
	os.WriteFile(filepath.Join(host, "secret"), secret, 0o644)
	os.MkdirAll(filepath.Join(root, "d"), 0o755)
	os.WriteFile(filepath.Join(root, "d/f"), []byte("12345"), 0o644)
	os.Symlink("/d", filepath.Join(root, "l"))
	os.Symlink("/../../../../../..", filepath.Join(root, "esc"))
	os.Symlink(host, filepath.Join(root, "hostlink"))
	rel, _ := filepath.Rel(root, host)
	os.Symlink(rel, filepath.Join(root, "rel"))
	f.Fuzz(func(t *testing.T, p string) {
		cp, err := resolveContainerPath(root, p)
		if err != nil {
			return
		}
		if r := cp.resolved; r != root && !strings.HasPrefix(r, root+"/") {
			t.Fatalf("%q resolves to %q, outside %s", p, r, root)
		}
		fi, err := lstatInRoot(root, cp)
		if err == nil && fi.Size() == int64(len(secret)) {
			t.Fatalf("%q: stat reached the host's %s/secret", p, host)
		}
	})
}
