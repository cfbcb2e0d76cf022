package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestSecurityExportSymlinkRace: docker export and docker diff of a
// running container whose process swaps a directory for a symlink to a
// host directory never show the host's files (content or names). 3000
// files sorted before the swapped directory widen the window between the
// walk listing its parent and reading it (walks by host paths leaked the
// canary in ~5% of the exports and ~4% of the diffs here, and a third of
// the diffs failed on files removed meanwhile).
func TestSecurityExportSymlinkRace(t *testing.T) {
	d := StartDaemon(t)
	d.ImportBusybox()
	host := t.TempDir()
	os.WriteFile(filepath.Join(host, "canary-HOST-NAME"), []byte("HOST-SECRET"), 0o600)
	loop := fmt.Sprintf(`mkdir -p /w; cd /w; i=0; while [ $i -lt 3000 ]; do : > a$i; i=$((i+1)); done; touch /ready
		while :; do rm -rf x; mkdir x; echo ctr > x/canary; rm -rf x; ln -s %s x; done`, host)
	d.MustDocker("run", "-d", "--name", "racer", "busybox", "sh", "-c", loop)
	waitFor(t, func() bool { return d.Docker("", "exec", "racer", "test", "-e", "/ready").Code == 0 })
	n, leaks := 0, 0
	for end := time.Now().Add(12 * time.Second); time.Now().Before(end); n++ {
		r := d.Docker("", "export", "racer")
		if r.Code != 0 {
			t.Fatalf("export: exit %d: %s", r.Code, r.Stderr)
		}
		if strings.Contains(r.Stdout, "HOST-SECRET") {
			leaks++
		}
	}
	if leaks > 0 {
		t.Errorf("%d of %d exports held the host canary", leaks, n)
	}
	t.Logf("%d exports against the swapping loop, %d leaks", n, leaks)

	n, leaks = 0, 0
	for end := time.Now().Add(8 * time.Second); time.Now().Before(end); n++ {
		r := d.Docker("", "diff", "racer")
		if r.Code != 0 {
			t.Fatalf("diff: %s", r)
		}
		if strings.Contains(r.Stdout, "HOST-NAME") {
			leaks++
		}
	}
	if leaks > 0 {
		t.Errorf("%d of %d diffs listed the host directory", leaks, n)
	}
	t.Logf("%d diffs against the swapping loop, %d leaks", n, leaks)
}
