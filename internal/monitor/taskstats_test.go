package monitor

import (
	"os"
	"os/exec"
	"testing"
	"time"
)

// TestExitWatch checks that taskstats records carry the exit statuses of
// processes: a plain exit and a SIGKILL.
func TestExitWatch(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root (CAP_NET_ADMIN)")
	}
	w, err := newExitWatch()
	if err != nil {
		t.Skipf("taskstats unavailable here: %v", err)
	}
	defer w.stop()
	for _, tc := range []struct {
		script string
		kill   bool
		want   int
	}{
		{"read x; exit 7", false, 7},
		{"read x", true, 137},
	} {
		cmd := exec.Command("sh", "-c", tc.script)
		stdin, err := cmd.StdinPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		w.watch(cmd.Process.Pid)
		if tc.kill {
			cmd.Process.Kill()
		} else {
			stdin.Close()
		}
		cmd.Wait()
		code, ok, lost := w.code(cmd.Process.Pid, 2*time.Second)
		if !ok || code != tc.want {
			t.Errorf("%q: code %d, ok %v (records lost: %v), want %d", tc.script, code, ok, lost, tc.want)
		}
	}
}
