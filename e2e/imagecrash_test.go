package e2e

import (
	"math/rand/v2"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestImageStoreSurvivesSIGKILL kills berthd at random points of load,
// commit and rmi, restarts it, and checks the store each time: every
// listed image saves whole (its layers reproduce their diff IDs), and
// `berth system check` finds no orphan and no missing content.
func TestImageStoreSurvivesSIGKILL(t *testing.T) {
	d := StartDaemon(t)
	d.ImportBusybox()
	d.MustDocker("run", "--name", "wr", "busybox", "sh", "-c", "for i in 1 2 3 4; do dd if=/dev/urandom of=/f$i bs=1M count=5 2>/dev/null; done")
	d.MustDocker("commit", "wr", "big:1")
	arch := filepath.Join(d.Root, "big.tar")
	d.MustDocker("save", "-o", arch, "big:1")
	d.MustDocker("rmi", "big:1")

	ops := map[string][]string{
		"load":   {"load", "-i", arch},
		"commit": {"commit", "wr", "big:c"},
		"rmi":    {"rmi", "-f", "big:1"},
	}
	names := []string{"load", "commit", "rmi"}
	const rounds = 4
	interrupted := 0
	for round := 0; round < rounds; round++ {
		for _, op := range names {
			if op == "rmi" {
				d.Docker("", "load", "-i", arch) // something to remove
			}
			cmd := exec.Command("docker", append([]string{"-H", d.Host}, ops[op]...)...)
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			// Each op takes well under 200 ms (load streams, commit and
			// rmi are quick): a wider window mostly kills after it ended.
			time.Sleep(time.Duration(rand.IntN(70)) * time.Millisecond)
			d.Kill()
			if cmd.Wait() != nil {
				interrupted++
			}
			d.Start()
			checkStore(t, d, op, round)
		}
	}
	t.Logf("%d of %d operations were cut by the kill", interrupted, rounds*len(names))
	if interrupted == 0 {
		t.Fatal("no operation was interrupted: the test proved nothing")
	}
}

func checkStore(t *testing.T, d *Daemon, op string, round int) {
	t.Helper()
	ids := strings.Fields(d.MustDocker("images", "-aq", "--no-trunc"))
	for _, id := range ids {
		if r := d.Docker("", "save", "-o", filepath.Join(d.Root, "check.tar"), id); r.Code != 0 {
			t.Fatalf("%s round %d: image %s does not save whole: %s", op, round, id, r)
		}
	}
	if r := d.Berth("", "system", "check", "--grace", "0s"); r.Code != 0 || !strings.Contains(r.Stdout, "store consistent") {
		t.Fatalf("%s round %d: system check: %s", op, round, r)
	}
}

func TestSystemDfPruneCheck(t *testing.T) {
	d := StartDaemon(t)
	d.ImportBusybox()
	d.MustDocker("run", "--name", "talker", "busybox", "sh", "-c", "i=0; while [ $i -lt 200 ]; do echo line $i; i=$((i+1)); done")
	df := d.MustDocker("system", "df")
	if !strings.Contains(df, "Images          1") || !strings.Contains(df, "Containers      1") {
		t.Fatalf("docker system df:\n%s", df)
	}
	r := d.Berth("", "system", "df", "-v")
	if r.Code != 0 || !strings.Contains(r.Stdout, "Container Logs") || strings.Contains(r.Stdout, "Container Logs   1        0        0B") {
		t.Fatalf("berth system df -v: %s", r)
	}
	// An orphan temp entry is reported, then repaired.
	orphan := filepath.Join(d.DataRoot, "tmp", "layer-orphan")
	if err := exec.Command("mkdir", "-p", orphan+"/x").Run(); err != nil {
		t.Fatal(err)
	}
	if r := d.Berth("", "system", "check", "--grace", "0s"); r.Code != 1 || !strings.Contains(r.Stdout, "orphan temp: "+orphan) {
		t.Fatalf("check did not report the orphan: %s", r)
	}
	if r := d.Berth("", "system", "check", "--grace", "0s", "--repair"); r.Code != 0 || !strings.Contains(r.Stdout, "(removed)") {
		t.Fatalf("check --repair: %s", r)
	}
	if r := d.Berth("", "system", "check", "--grace", "0s"); r.Code != 0 || !strings.Contains(r.Stdout, "store consistent") {
		t.Fatalf("check after repair: %s", r)
	}
	// system prune (the docker CLI also calls /build/prune).
	d.MustDocker("commit", "talker") // a dangling image
	r = d.Docker("", "system", "prune", "-f")
	if r.Code != 0 || !strings.Contains(r.Stdout, "Deleted Containers:") || !strings.Contains(r.Stdout, "Deleted Images:") {
		t.Fatalf("docker system prune: %s", r)
	}
	if got := d.MustDocker("ps", "-aq"); got != "" {
		t.Fatalf("containers left: %s", got)
	}
	if r := d.Berth("", "system", "prune", "-af"); r.Code != 0 || !strings.Contains(r.Stdout, "untagged: busybox:latest") {
		t.Fatalf("berth system prune -a: %s", r)
	}
	if got := d.MustDocker("images", "-aq"); got != "" {
		t.Fatalf("images left: %s", got)
	}
}
