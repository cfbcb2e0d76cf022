package e2e

import (
	"context"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/berth-dev/berth/internal/builder"
	"github.com/berth-dev/berth/internal/builder/cache"
	"github.com/berth-dev/berth/internal/image"
)

// The build cache as the docker CLI sees it: system df (and -v) count its
// records, builder prune removes the dangling ones and their images,
// prune -a the rest (tagged images stay), and records survive a restart.
// The records are written straight into <data-root>/builder/cache.db
// while berthd is stopped, as a build would have left them: an ENV step
// whose image is tagged app:v1, and a RUN step of another build whose
// untagged image (a commit) adds 300 kB.
func TestBuildCacheDfAndPrune(t *testing.T) {
	d := StartDaemon(t)
	d.ImportBusybox()
	bb := d.MustDocker("image", "inspect", "-f", "{{.Id}}", "busybox")
	d.MustDocker("run", "--name", "step", "--network", "none", "busybox", "sh", "-c", "head -c 300000 /dev/urandom > /blob")
	run := d.MustDocker("commit", "step")
	d.MustDocker("run", "--name", "meta", "--network", "none", "busybox", "true")
	d.MustDocker("commit", "--change", "ENV A=b", "meta", "app:v1")
	env := d.MustDocker("image", "inspect", "-f", "{{.Id}}", "app:v1")
	d.MustDocker("rm", "step", "meta")
	d.Stop()

	ctx := context.Background()
	c, err := cache.Open(filepath.Join(d.DataRoot, "builder"))
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Put(ctx, "env-key", image.ID(env), builder.CacheEntry{Parent: image.ID(bb), Description: "ENV A=b"}); err != nil {
		t.Fatal(err)
	}
	if err := c.Put(ctx, "run-key", image.ID(run), builder.CacheEntry{Parent: image.ID(bb), Description: "RUN head -c 300000 /dev/urandom > /blob"}); err != nil {
		t.Fatal(err)
	}
	c.Get(ctx, "run-key")
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	d.Start()

	cacheLine := regexp.MustCompile(`(?m)^Build Cache\s+(\d+)\s+(\d+)\s+(\S+)\s+(\S+)`)
	df := d.MustDocker("system", "df")
	m := cacheLine.FindStringSubmatch(df)
	if m == nil || m[1] != "2" || m[2] != "0" || !strings.HasPrefix(m[3], "30") || !strings.HasPrefix(m[4], "30") {
		t.Fatalf("system df: want 2 records, 0 active, ~300kB, ~300kB reclaimable:\n%s", df)
	}
	if r := d.Berth("", "system", "df"); r.Code != 0 || !regexp.MustCompile(`(?m)^Build Cache\s+2\s+0\s+30`).MatchString(r.Stdout) {
		t.Errorf("berth system df: %s", r)
	}
	dfv := d.MustDocker("system", "df", "-v")
	runID := cache.RecordID("run-key")
	if !strings.Contains(dfv, "Build cache usage:") || !strings.Contains(dfv, runID[:12]) || !strings.Contains(dfv, cache.RecordID("env-key")[:12]) {
		t.Fatalf("system df -v lacks the records:\n%s", dfv)
	}
	t.Logf("system df -v:\n%s", dfv)

	// Without -a only the dangling record goes (the RUN step: its image
	// is untagged and no tagged image descends from it), with its image.
	out := d.MustDocker("builder", "prune", "-f")
	if !strings.Contains(out, runID) || strings.Contains(out, cache.RecordID("env-key")) || !strings.Contains(out, "Total reclaimed space: 30") {
		t.Fatalf("builder prune:\n%s", out)
	}
	if r := d.Docker("", "image", "inspect", run); r.Code == 0 {
		t.Errorf("the RUN step's image survived the prune")
	}

	// Records persist across a restart.
	d.Stop()
	d.Start()
	if m := cacheLine.FindStringSubmatch(d.MustDocker("system", "df")); m == nil || m[1] != "1" {
		t.Fatalf("after restart: %v", m)
	}
	out = d.MustDocker("builder", "prune", "-a", "-f")
	if !strings.Contains(out, cache.RecordID("env-key")) {
		t.Fatalf("builder prune -a:\n%s", out)
	}
	d.MustDocker("image", "inspect", "app:v1") // tagged: stays
	if m := cacheLine.FindStringSubmatch(d.MustDocker("system", "df")); m == nil || m[1] != "0" {
		t.Fatalf("after prune -a: %v", m)
	}
	// docker system prune calls /build/prune too.
	d.MustDocker("system", "prune", "-f")
}

// With real builds: when a rebuild moves the tag, the replaced build's
// own steps become dangling; builder prune (without -a) frees them and
// their images, and keeps the steps the tagged image is made of, which
// still hit.
func TestBuildCachePruneReplacedBuild(t *testing.T) {
	d := StartDaemon(t)
	d.ImportBusybox()
	dir := t.TempDir()
	write := func(last string) {
		df := "FROM busybox\nRUN echo one > /one\n" + last + "\n"
		if err := os.WriteFile(filepath.Join(dir, "Dockerfile"), []byte(df), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("RUN head -c 200000 /dev/urandom > /old")
	d.MustDocker("build", "--network", "none", "-t", "app:1", dir)
	old := d.MustDocker("image", "inspect", "-f", "{{.Id}}", "app:1")
	write("RUN head -c 100000 /dev/urandom > /new")
	d.MustDocker("build", "--network", "none", "-t", "app:1", dir)

	cacheLine := regexp.MustCompile(`(?m)^Build Cache\s+(\d+)\s+(\d+)\s+(\S+)\s+(\S+)`)
	m := cacheLine.FindStringSubmatch(d.MustDocker("system", "df"))
	if m == nil || m[1] != "3" || !strings.HasPrefix(m[4], "20") {
		t.Fatalf("system df: want 3 records, ~200kB reclaimable (the replaced step): %v", m)
	}
	out := d.MustDocker("builder", "prune", "-f")
	if strings.Count(out, "\n") < 2 || !strings.Contains(out, "Total reclaimed space: 20") {
		t.Fatalf("builder prune:\n%s", out)
	}
	if r := d.Docker("", "image", "inspect", old); r.Code == 0 {
		t.Errorf("the replaced build's image survived")
	}
	r := d.Docker("", "build", "--network", "none", "-t", "app:1", dir)
	if r.Code != 0 || strings.Count(r.Stdout, " ---> Using cache\n") != 2 {
		t.Errorf("after builder prune, the current build should hit twice: %s", r)
	}
	if got := d.MustDocker("run", "--rm", "--network", "none", "app:1", "sh", "-c", "cat /one; wc -c < /new"); got != "one\n100000" {
		t.Errorf("app:1 runs: %q", got)
	}
	// berth system prune ends with the build cache, as docker's does: a
	// replaced step goes.
	write("RUN echo three > /three")
	d.MustDocker("build", "--network", "none", "-t", "app:1", dir)
	if r := d.Berth("", "system", "prune", "-f"); r.Code != 0 || !strings.Contains(r.Stdout, "Deleted build cache objects:") {
		t.Errorf("berth system prune should prune the replaced build step: %s", r)
	}
}
