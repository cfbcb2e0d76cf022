package e2e

import (
	"encoding/json"
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"
)

// execState is GET /exec/{id}/json's Running and ExitCode.
func (d *Daemon) execState(t *testing.T, id string) (running bool, code *int) {
	t.Helper()
	hc := &http.Client{Transport: &http.Transport{Dial: func(_, _ string) (net.Conn, error) { return net.Dial("unix", d.Sock) }}}
	resp, err := hc.Get("http://berth/exec/" + id + "/json")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var st struct {
		Running  bool
		ExitCode *int
	}
	if err := json.NewDecoder(resp.Body).Decode(&st); err != nil {
		t.Fatalf("exec inspect %s: %d %v", id, resp.StatusCode, err)
	}
	return st.Running, st.ExitCode
}

// TestMonitorRestartRunningExec: an exec running when the monitor dies
// stays Running while its process lives (the new monitor never knew it;
// berthd watches the process), and is recorded as ended (exit code
// unknown, 255) once it ends, with its exec_die event.
func TestMonitorRestartRunningExec(t *testing.T) {
	d := StartDaemon(t)
	d.ImportBusybox()
	d.MustDocker("run", "-d", "--name", "box", "busybox", "sleep", "1000")
	d.MustDocker("exec", "-d", "box", "sh", "-c", "while [ ! -e /tmp/go ]; do sleep 0.1; done")
	ids := strings.Fields(strings.Trim(d.MustDocker("inspect", "-f", "{{.ExecIDs}}", "box"), "[]"))
	if len(ids) != 1 {
		t.Fatalf("exec ids: %v", ids)
	}
	id := ids[0]
	if running, _ := d.execState(t, id); !running {
		t.Fatal("exec not running before the monitor restart")
	}
	start := time.Now().Add(-time.Second).Unix()

	d.waitNewMonitor(t, d.killMonitor(t))
	time.Sleep(time.Second)
	if running, code := d.execState(t, id); !running || code != nil {
		t.Fatalf("exec whose process still runs, after the monitor restart: running %v, code %v", running, code)
	}
	d.MustDocker("exec", "box", "touch", "/tmp/go")
	var code *int
	waitFor(t, func() bool {
		var running bool
		running, code = d.execState(t, id)
		return !running
	})
	if code == nil || *code != 255 {
		t.Fatalf("exec exit code after its end: %v", code)
	}
	out := d.MustDocker("events", "--since", strconv.FormatInt(start, 10), "--until", strconv.FormatInt(time.Now().Unix()+1, 10),
		"--filter", "event=exec_die", "--format", "{{.Actor.Attributes.execID}} {{.Actor.Attributes.exitCode}}")
	if !strings.Contains(out, id+" 255") {
		t.Errorf("exec_die events: %q", out)
	}
}
