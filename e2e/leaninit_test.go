package e2e

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// TestLeanInitOpenedOnce: the monitor starts containers and execs from
// the berth-init installed next to berthd, opened once for its life (it
// opened one more descriptor per container before), and --init
// (berthd as docker-init) still works beside it.
func TestLeanInitOpenedOnce(t *testing.T) {
	d := StartDaemon(t)
	d.ImportBusybox()
	for i := 0; i < 5; i++ {
		d.MustDocker("run", "--rm", "busybox", "true")
	}
	if out := d.MustDocker("run", "--rm", "--init", "busybox", "cat", "/proc/1/cmdline"); !strings.HasPrefix(out, "/sbin/docker-init") {
		t.Errorf("--init: pid 1 is %q", out)
	}
	d.MustDocker("run", "-d", "--name", "lean", "busybox", "sleep", "60")
	if out := d.MustDocker("exec", "lean", "echo", "exec-ok"); out != "exec-ok" {
		t.Errorf("exec: %q", out)
	}
	b, err := os.ReadFile(filepath.Join(d.ExecRoot, "monitor.pid"))
	if err != nil {
		t.Fatal(err)
	}
	pid, _ := strconv.Atoi(strings.TrimSpace(string(b)))
	fds, _ := os.ReadDir("/proc/" + strconv.Itoa(pid) + "/fd")
	n := 0
	for _, fd := range fds {
		if l, _ := os.Readlink("/proc/" + strconv.Itoa(pid) + "/fd/" + fd.Name()); filepath.Base(l) == "berth-init" {
			n++
		}
	}
	if n != 1 {
		t.Errorf("the monitor holds %d descriptors of berth-init after 7 containers and an exec, want 1", n)
	}
}
