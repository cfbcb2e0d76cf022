package e2e

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
)

// TestRenameAndWaitConditions checks rename's errors in dockerd's order
// and the three wait conditions through the docker CLI and the API.
func TestRenameAndWaitConditions(t *testing.T) {
	d := StartDaemon(t)
	d.ImportBusybox()
	d.MustDocker("run", "-d", "--name", "ren1", "busybox", "sleep", "300")
	d.MustDocker("create", "--name", "other", "busybox")
	d.MustDocker("rename", "ren1", "ren2")
	if got := d.MustDocker("inspect", "-f", "{{.Name}}", "ren2"); got != "/ren2" {
		t.Errorf("after rename: %q", got)
	}
	for _, c := range []struct {
		args []string
		msg  string
	}{
		{[]string{"nope", "x"}, "No such container: nope"},
		{[]string{"ren2", "ren2"}, "Renaming a container with the same name as its current name"},
		{[]string{"ren2", "x"}, "Error when allocating new name: Invalid container name (x)"},
		{[]string{"ren2", "other"}, `Conflict. The container name "/other" is already in use`},
	} {
		r := d.Docker("", append([]string{"rename"}, c.args...)...)
		if r.Code != 1 || !strings.Contains(r.Stderr, c.msg) || !strings.Contains(r.Stderr, "Error: failed to rename container named "+c.args[0]) {
			t.Errorf("rename %v: %s", c.args, r)
		}
	}

	post := func(path string) (int, string) {
		resp, _ := d.apiClient().Post("http://berth"+path, "application/json", nil)
		if resp == nil {
			t.Fatalf("POST %s failed", path)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	// next-exit waits for the exit after a start, even of a created container.
	d.MustDocker("create", "--name", "nx", "busybox", "sh", "-c", "exit 4")
	got := make(chan string, 1)
	go func() { _, b := post("/containers/nx/wait?condition=next-exit"); got <- b }()
	time.Sleep(200 * time.Millisecond)
	d.MustDocker("start", "nx")
	select {
	case b := <-got:
		var w struct{ StatusCode int }
		if json.Unmarshal([]byte(b), &w) != nil || w.StatusCode != 4 {
			t.Errorf("next-exit: %s", b)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("next-exit wait did not return")
	}
	// removed returns once --rm has removed it.
	d.MustDocker("run", "-d", "--rm", "--name", "rmw", "busybox", "sleep", "0.3")
	if code, b := post("/containers/rmw/wait?condition=removed"); code != http.StatusOK || !strings.Contains(b, `"StatusCode":0`) {
		t.Errorf("removed: %d %s", code, b)
	}
	if r := d.Docker("", "inspect", "rmw"); r.Code == 0 {
		t.Errorf("rmw still there after wait removed")
	}
	if code, b := post("/containers/ren2/wait?condition=bogus"); code != http.StatusBadRequest || !strings.Contains(b, "invalid condition") {
		t.Errorf("bad condition: %d %s", code, b)
	}
	if out := d.MustDocker("wait", "nx"); out != "4" {
		t.Errorf("docker wait of an exited container: %q", out)
	}
}
