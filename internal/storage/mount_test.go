package storage

import (
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

func TestPlanFlagsAndData(t *testing.T) {
	p, err := Mount{Type: "bind", Source: "/x", Options: []string{"ro", "rbind", "nosuid"}}.plan()
	if err != nil || p.flags != unix.MS_RDONLY|unix.MS_BIND|unix.MS_REC|unix.MS_NOSUID || p.data != "" || p.dir != "" {
		t.Fatalf("%+v %v", p, err)
	}
	p, _ = Mount{Type: "overlay", Options: []string{"lowerdir=/a/l/X:/a/l/Y", "upperdir=/a/k/diff", "workdir=/a/k/work", "index=off"}}.plan()
	if p.data != "lowerdir=/a/l/X:/a/l/Y,upperdir=/a/k/diff,workdir=/a/k/work,index=off" || p.dir != "" {
		t.Fatalf("short options must stay absolute: %+v", p)
	}
}

func TestPlanCompactsDeepOverlays(t *testing.T) {
	home := "/var/lib/berth/overlay2"
	var lowers []string
	for i := 0; i < 128; i++ {
		lowers = append(lowers, home+"/l/ABCDEFGHIJKLMNOPQRSTUVWXYZ")
	}
	key := strings.Repeat("f", 64)
	m := Mount{Type: "overlay", Source: "overlay", Options: []string{
		"lowerdir=" + strings.Join(lowers, ":"), "upperdir=" + home + "/" + key + "/diff", "workdir=" + home + "/" + key + "/work", "index=off", "volatile"}}
	p, err := m.plan()
	if err != nil {
		t.Fatal(err)
	}
	if p.dir != home || len(p.data) > maxData || !strings.HasPrefix(p.data, "lowerdir=l/ABC") || !strings.Contains(p.data, ",upperdir="+key+"/diff,workdir="+key+"/work,index=off,volatile") {
		t.Fatalf("dir %q data %q", p.dir, p.data[:80])
	}
	// Beyond what even relative paths fit: a clear error, not a silent cut.
	for i := 0; i < 100; i++ {
		lowers = append(lowers, home+"/l/ABCDEFGHIJKLMNOPQRSTUVWXYZ")
	}
	m.Options[0] = "lowerdir=" + strings.Join(lowers, ":")
	if _, err := m.plan(); err == nil || !strings.Contains(err.Error(), "more than the kernel's") {
		t.Fatalf("want a size error, got %v", err)
	}
}

func TestBindOf(t *testing.T) {
	dir := "/var/lib/berth/vfs/dir/abc"
	for root, want := range map[string]bool{
		"/var/lib/berth/vfs/dir/abc": true, "/vfs/dir/abc": true, "/abc/sub": true,
		"/": false, "/var/lib/berth/vfs/dir/abcd": false, "/other": false,
	} {
		if got := bindOf(dir, root); got != want {
			t.Errorf("bindOf(%q) = %v", root, got)
		}
	}
}

func TestFSName(t *testing.T) {
	if got := FSName(t.TempDir()); got == "" || strings.HasPrefix(got, "<unknown") {
		t.Fatalf("FSName = %q", got)
	}
}
