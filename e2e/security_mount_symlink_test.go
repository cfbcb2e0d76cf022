package e2e

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestSecurityMountTargetSymlink: an image whose mount targets are
// symlinks pointing out of the rootfs ("/data -> /../../../tmp/X") gets
// its volumes, binds and tmpfs mounted where the link resolves inside the
// rootfs. Nothing is created, mounted over or copied from the host path
// the link names: the volume's copy-up does not take the host directory's
// files, and what the container writes lands in the volume or bind source.
func TestSecurityMountTargetSymlink(t *testing.T) {
	d := StartDaemon(t)
	d.ImportBusybox()
	tag := filepath.Base(d.Root)
	absent := "/tmp/" + tag + "-absent"   // must never be created
	present := "/tmp/" + tag + "-present" // exists, holds a secret
	hostFile := "/tmp/" + tag + "-file"   // a file target, must stay absent
	t.Cleanup(func() { os.RemoveAll(absent); os.RemoveAll(present); os.Remove(hostFile) })
	if err := os.MkdirAll(present, 0o755); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(present, "secret"), []byte("HOST-SECRET\n"), 0o644)

	d.MustDocker("run", "--name", "mk", "busybox", "sh", "-c",
		"ln -s /../../.."+absent+" /data && ln -s ../../.."+present+" /data2 && ln -s /../.."+hostFile+" /file")
	d.MustDocker("commit", "mk", "evil:latest")
	d.MustDocker("rm", "mk")

	bindDir := t.TempDir()
	bindFile := filepath.Join(t.TempDir(), "f")
	os.WriteFile(bindFile, []byte("bind-file\n"), 0o644)
	script := `set -e
		echo in > /data/f; echo in > /data2/f
		test ! -e /data2/secret || { echo "host secret visible"; exit 3; }
		cat /file`
	for name, args := range map[string][]string{
		"named volumes":     {"-v", "v1:/data", "-v", "v2:/data2"},
		"anonymous volumes": {"-v", "/data", "-v", "/data2"},
		"mount volumes":     {"--mount", "type=volume,src=v3,dst=/data", "--mount", "type=volume,src=v4,dst=/data2"},
		"binds":             {"-v", bindDir + ":/data", "-v", bindDir + ":/data2"},
		"tmpfs":             {"--tmpfs", "/data", "--tmpfs", "/data2"},
	} {
		args = append(append([]string{"run", "--rm", "-v", bindFile + ":/file:ro"}, args...), "evil", "sh", "-c", script)
		r := d.Docker("", args...)
		if r.Code != 0 || strings.TrimSpace(r.Stdout) != "bind-file" {
			t.Errorf("%s: %s", name, r)
		}
		if _, err := os.Lstat(absent); err == nil {
			t.Fatalf("%s: %s was created on the host", name, absent)
		}
		if ents, _ := os.ReadDir(present); len(ents) != 1 {
			t.Fatalf("%s: %s on the host changed: %v", name, present, ents)
		}
		if _, err := os.Lstat(hostFile); err == nil {
			t.Fatalf("%s: %s was created on the host", name, hostFile)
		}
	}
	// What the container wrote is in the volumes and the bind source.
	for _, v := range []string{"v1", "v2", "v3", "v4"} {
		if out := d.MustDocker("run", "--rm", "-v", v+":/v", "busybox", "ls", "/v"); out != "f" {
			t.Errorf("volume %s holds %q, want only the container's f (no copy of the host's secret)", v, out)
		}
	}
	if b, err := os.ReadFile(filepath.Join(bindDir, "f")); err != nil || string(b) != "in\n" {
		t.Errorf("bind source: %q %v", b, err)
	}
	if mi := readFile(t, "/proc/self/mountinfo"); strings.Contains(mi, tag+"-") {
		t.Errorf("a mount on the host names %s-*:\n%s", tag, mi)
	}
}
