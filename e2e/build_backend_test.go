package e2e

import (
	"strings"
	"testing"
	"time"
)

// The engine side of docker build (DOCKER_BUILDKIT=0): RUN steps as real
// containers on every network mode, on a daemon with its default bridge
// (in a network namespace of the test's); the images a build makes:
// intermediates hidden from docker images, history by step, removed with
// the image built.
func TestBuildBackendRunNetworksAndImages(t *testing.T) {
	d := StartDaemonNetNS(t)
	d.ImportBusybox()
	d.MustDocker("network", "create", "buildnet")
	dir := contextDir(t, map[string]string{"Dockerfile": "FROM busybox\n" +
		"ENV STEP=one\n" +
		"RUN echo \"net: $(cat /proc/net/dev | grep -c eth0)\" && echo $STEP > /step\n" +
		"RUN true\n" +
		"CMD [\"cat\", \"/step\"]\n"})
	for _, mode := range []string{"default", "none", "host", "bridge", "buildnet"} {
		start := time.Now()
		r := d.Docker("", "build", "--no-cache", "--network", mode, "-t", "bb:"+mode, dir)
		if r.Code != 0 {
			t.Fatalf("build --network %s: %s", mode, r)
		}
		t.Logf("--network %s: %v", mode, time.Since(start).Round(time.Millisecond))
		wantEth := map[string]string{"none": "net: 0", "default": "net: 1", "bridge": "net: 1", "buildnet": "net: 1"}[mode]
		if wantEth != "" && !strings.Contains(r.Stdout, wantEth) {
			t.Errorf("--network %s: want %q in %s", mode, wantEth, r.Stdout)
		}
		if got := d.MustDocker("run", "--rm", "--network", "none", "bb:"+mode); got != "one" {
			t.Errorf("--network %s: the image built runs: %q", mode, got)
		}
	}
	if got := d.MustDocker("ps", "-aq"); got != "" {
		t.Errorf("build containers left: %s", got)
	}

	// RUN true added no layer; ENV and CMD neither.
	hist := d.MustDocker("history", "--no-trunc", "--format", "{{.ID}} {{.Size}} {{.CreatedBy}}", "bb:none")
	lines := strings.Split(hist, "\n")
	if len(lines) < 5 || !strings.Contains(lines[0], "CMD") || !strings.HasSuffix(lines[1], "/bin/sh -c true") || strings.HasPrefix(lines[1], "<missing>") {
		t.Fatalf("history:\n%s", hist)
	}
	for _, l := range lines[:2] {
		if !strings.Contains(l, " 0B ") {
			t.Errorf("empty step with a size: %s", l)
		}
	}
	all := d.MustDocker("images", "-aq", "--no-trunc")
	top := d.MustDocker("images", "-q", "--no-trunc")
	if strings.Count(all, "\n") <= strings.Count(top, "\n") {
		t.Errorf("intermediates: images -a\n%s\nimages\n%s", all, top)
	}
	if got := d.MustDocker("images", "-q", "-f", "dangling=true"); got != "" {
		t.Errorf("intermediates listed as dangling: %s", got)
	}
	d.MustDocker("image", "prune", "-f")
	if got := d.MustDocker("images", "-aq", "--no-trunc"); got != all {
		t.Errorf("prune removed intermediates:\n%s\nwas\n%s", got, all)
	}
	for _, mode := range []string{"default", "none", "host", "bridge", "buildnet"} {
		d.MustDocker("rmi", "bb:"+mode)
	}
	if got := d.MustDocker("images", "-a", "--format", "{{.Repository}}"); got != "busybox" {
		t.Errorf("rmi left intermediates: %s", got)
	}

	// Resources from the build's flags reach RUN containers.
	rdir := contextDir(t, map[string]string{"Dockerfile": "FROM busybox\n" +
		"RUN echo mem=$(cat /sys/fs/cgroup/memory.max /sys/fs/cgroup/memory/memory.limit_in_bytes 2>/dev/null) shm=$(df -k /dev/shm | tail -1 | awk '{print $2}')\n"})
	r := d.Docker("", "build", "--no-cache", "--network", "none", "--memory", "64m", "--shm-size", "16m", rdir)
	if r.Code != 0 || !strings.Contains(r.Stdout, "mem=67108864 shm=16384") {
		t.Errorf("build --memory 64m --shm-size 16m: %s", r)
	}

	// Timings: cold and cached, ten steps.
	ten := "FROM busybox\n"
	for i := 0; i < 5; i++ {
		ten += "ENV V" + string(rune('0'+i)) + "=x\nRUN echo " + string(rune('0'+i)) + " > /f" + string(rune('0'+i)) + "\n"
	}
	tdir := contextDir(t, map[string]string{"Dockerfile": ten})
	start := time.Now()
	d.MustDocker("build", "-q", "--network", "none", "-t", "ten", tdir)
	cold := time.Since(start)
	start = time.Now()
	d.MustDocker("build", "-q", "--network", "none", "-t", "ten", tdir)
	t.Logf("ten steps (5 RUN, 5 ENV): cold %v, cached %v", cold.Round(time.Millisecond), time.Since(start).Round(time.Millisecond))
}
