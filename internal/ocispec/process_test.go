package ocispec

import (
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/moby/moby/api/types/container"
	"golang.org/x/sys/unix"
)

// A symlinked /etc/passwd resolves inside the rootfs, never on the host.
func TestResolveUserSymlinkStaysInRootfs(t *testing.T) {
	host := t.TempDir()
	if err := os.WriteFile(filepath.Join(host, "passwd"), []byte("evil:x:0:0::/evil:/bin/sh\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	root := t.TempDir()
	if err := os.MkdirAll(filepath.Join(root, "etc"), 0o755); err != nil {
		t.Fatal(err)
	}
	// Absolute and relative escapes both land inside root.
	if err := os.Symlink(filepath.Join(host, "passwd"), filepath.Join(root, "etc", "passwd")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("../../../../../../.."+filepath.Join(host, "passwd"), filepath.Join(root, "etc", "group")); err != nil {
		t.Fatal(err)
	}
	if _, _, err := resolveUser(root, "evil", nil); err == nil {
		t.Fatal("user found through a symlink out of the rootfs")
	}
	// The in-rootfs target of the symlink is what is read.
	inside := filepath.Join(root, host)
	if err := os.MkdirAll(inside, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(inside, "passwd"), []byte("good:x:7:7::/g:/bin/sh\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	u, home, err := resolveUser(root, "good", nil)
	if err != nil || u.UID != 7 || home != "/g" {
		t.Fatalf("user %+v home %q err %v", u, home, err)
	}
}

// A FIFO planted as /etc/passwd must not block the daemon.
func TestResolveUserFIFO(t *testing.T) {
	root := t.TempDir()
	if err := os.MkdirAll(filepath.Join(root, "etc"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := unix.Mkfifo(filepath.Join(root, "etc", "passwd"), 0o644); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() {
		_, _, err := resolveUser(root, "", nil)
		done <- err
	}()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("resolveUser: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("resolveUser blocked on a FIFO")
	}
}

func TestEnv(t *testing.T) {
	cases := []struct {
		cfg  container.Config
		home string
		want []string
	}{
		{container.Config{Hostname: "h"}, "/root", []string{"PATH=" + DefaultPathEnv, "HOSTNAME=h", "HOME=/root"}},
		{container.Config{Hostname: "h", Env: []string{"PATH"}}, "", []string{"HOSTNAME=h"}},
		{container.Config{Hostname: "h", Env: []string{"A=1", "A=2", "B=", "HOSTNAME=x"}}, "/",
			[]string{"PATH=" + DefaultPathEnv, "HOSTNAME=x", "A=2", "B=", "HOME=/"}},
	}
	for _, tc := range cases {
		if got := Env(&tc.cfg, tc.home); !slices.Equal(got, tc.want) {
			t.Errorf("Env(%v) = %q, want %q", tc.cfg.Env, got, tc.want)
		}
	}
}

func TestParseCapBnd(t *testing.T) {
	m, err := parseCapBnd([]byte("Name:\tx\nCapInh:\t0000000000000000\nCapBnd:\t000001fffeffffff\n"))
	if err != nil || m != hostBnd {
		t.Errorf("got %x, %v", m, err)
	}
	if _, err := parseCapBnd([]byte("Name:\tx\n")); err == nil {
		t.Error("no CapBnd line accepted")
	}
	if CapMask(capsFromMask(hostBnd)) != hostBnd {
		t.Error("capsFromMask and CapMask disagree")
	}
}

func TestDevicesUnder(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root (mknod)")
	}
	dev := t.TempDir()
	mk := func(p string, mode uint32, major, minor uint32) {
		t.Helper()
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := unix.Mknod(p, mode, int(unix.Mkdev(major, minor))); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(p, os.FileMode(mode&0o777)); err != nil { // past the umask
			t.Fatal(err)
		}
	}
	mk(filepath.Join(dev, "null"), unix.S_IFCHR|0o666, 1, 3)
	mk(filepath.Join(dev, "disk", "sda"), unix.S_IFBLK|0o660, 8, 0)
	mk(filepath.Join(dev, "pts", "0"), unix.S_IFCHR|0o620, 136, 0)
	if err := os.WriteFile(filepath.Join(dev, "regular"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	got, err := devicesUnder(dev, true)
	if err != nil {
		t.Fatal(err)
	}
	var paths []string
	for _, d := range got {
		paths = append(paths, d.Path)
		if d.Path == filepath.Join(dev, "disk", "sda") && (d.Type != "b" || d.Major != 8 || *d.FileMode != 0o660) {
			t.Errorf("sda %+v", d)
		}
	}
	if want := []string{filepath.Join(dev, "disk", "sda"), filepath.Join(dev, "null")}; !slices.Equal(paths, want) {
		t.Errorf("devices %q, want %q (pts skipped, regular files ignored)", paths, want)
	}

	devs, rules, err := deviceFromPath(container.DeviceMapping{PathOnHost: dev + "/disk", PathInContainer: "/dev/xdisk", CgroupPermissions: "r"})
	if err != nil || len(devs) != 1 || devs[0].Path != "/dev/xdisk/sda" || len(rules) != 1 || rules[0].Access != "r" || *rules[0].Major != 8 {
		t.Errorf("directory mapping: %+v %+v %v", devs, rules, err)
	}
	if _, _, err := deviceFromPath(container.DeviceMapping{PathOnHost: filepath.Join(dev, "regular")}); err == nil {
		t.Error("regular file accepted as a device")
	}
}
