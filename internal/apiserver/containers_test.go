package apiserver_test

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"testing"
	"time"

	"github.com/moby/moby/api/pkg/stdcopy"
	"github.com/moby/moby/api/types/container"

	"github.com/berth-dev/berth/internal/apiserver/apitest"
	"github.com/berth-dev/berth/internal/errdefs"
)

func (e *env) create(name, body string) string {
	e.t.Helper()
	r := e.postJSON("/v1.51/containers/create?name="+name, body)
	e.want(r, 201, "POST", "/containers/create")
	var cr container.CreateResponse
	if err := json.Unmarshal(r.body, &cr); err != nil {
		e.t.Fatal(err)
	}
	if !bytes.Contains(r.body, []byte(`"Warnings":[]`)) {
		e.t.Errorf("create: Warnings must be [], got %s", r.body)
	}
	return cr.ID
}

func TestContainerLifecycle(t *testing.T) {
	e := newEnv(t)
	id := e.create("web", `{"Image":"busybox","Cmd":["sleep","9"],"HostConfig":{"Memory":1048576},"NetworkingConfig":{"EndpointsConfig":{}}}`)
	lc := e.engine.lastCreate
	if lc.Name != "web" || lc.Config.Image != "busybox" || lc.HostConfig == nil || lc.HostConfig.Memory != 1048576 || lc.NetworkingConfig == nil {
		t.Errorf("create request not passed on: %+v", lc)
	}
	e.wantError(e.postJSON("/containers/create?name=web", `{"Image":"busybox"}`), 409, `Conflict. The container name "/web" is already in use`)
	e.wantError(e.postJSON("/containers/create", `{"Image":"missing"}`), 404, "No such image: missing:latest")
	e.postJSON("/containers/create?platform=linux/amd64", `{"Image":"busybox"}`)
	if e.engine.lastCreate.Platform != "linux/amd64" {
		t.Errorf("platform not passed: %q", e.engine.lastCreate.Platform)
	}

	e.want(e.post("/v1.51/containers/web/start"), 204, "POST", "/containers/{id}/start")
	r := e.post("/v1.51/containers/web/start")
	e.want(r, 304, "POST", "/containers/{id}/start")
	if len(r.body) != 0 {
		t.Errorf("304 with body %q", r.body)
	}
	e.wantError(e.post("/containers/nope/start"), 404, "No such container: nope")
	e.wantError(e.postJSON("/containers/web/start", `{"Binds":["/a:/b"]}`), 400, "starting container with non-empty request body was deprecated since API v1.22 and removed in v1.24")
	e.want(e.postJSON("/v1.51/containers/web/start", `{}`), 304, "POST", "/containers/{id}/start")

	r = e.get("/v1.51/containers/" + id[:12] + "/json?size=1")
	e.want(r, 200, "GET", "/containers/{id}/json")
	var ins container.InspectResponse
	if err := json.Unmarshal(r.body, &ins); err != nil || ins.ID != id || ins.State.Status != "running" || ins.SizeRootFs == nil {
		t.Errorf("inspect: %s (%v)", r.body, err)
	}
	r = e.get("/v1.51/containers/json")
	e.want(r, 200, "GET", "/containers/json")
	var list []container.Summary
	if err := json.Unmarshal(r.body, &list); err != nil || len(list) != 1 || list[0].ID != id {
		t.Errorf("list: %s (%v)", r.body, err)
	}

	e.want(e.post("/v1.51/containers/web/stop?t=5&signal=SIGINT"), 204, "POST", "/containers/{id}/stop")
	if o := e.engine.lastStop; o.Timeout == nil || *o.Timeout != 5 || o.Signal != "SIGINT" {
		t.Errorf("stop options: %+v", o)
	}
	e.want(e.post("/v1.51/containers/web/stop"), 304, "POST", "/containers/{id}/stop")
	if e.engine.lastStop.Timeout != nil {
		t.Errorf("stop without t: timeout %v", *e.engine.lastStop.Timeout)
	}
	// Before 1.42 the signal parameter does not exist.
	e.post("/v1.41/containers/web/stop?signal=SIGINT&t=-1")
	if o := e.engine.lastStop; o.Signal != "" || o.Timeout == nil || *o.Timeout != -1 {
		t.Errorf("stop options on 1.41: %+v", o)
	}
	e.wantError(e.post("/containers/web/stop?t=abc"), 400, `invalid value for t: "abc": not an integer`)
	e.wantError(e.post("/containers/web/kill"), 409, "")
	e.want(e.post("/v1.51/containers/web/restart?t=1"), 204, "POST", "/containers/{id}/restart")
	e.wantError(e.post("/containers/web/restart?t=x"), 400, "")
	e.wantError(e.post("/containers/web/kill?signal=BOGUS"), 400, "cannot kill container: web: invalid signal: BOGUS")
	e.want(e.post("/v1.51/containers/web/kill?signal=KILL"), 204, "POST", "/containers/{id}/kill")
	if e.engine.lastKill != "KILL" {
		t.Errorf("kill signal %q", e.engine.lastKill)
	}

	e.want(e.post("/v1.51/containers/web/rename?name=web2"), 204, "POST", "/containers/{id}/rename")
	e.wantError(e.post("/containers/web/rename?name=web2"), 404, "")
	e.wantError(e.post("/containers/web2/rename"), 400, "")

	e.want(e.do("DELETE", "/v1.51/containers/web2?force=1&v=true&link=0", "", nil), 204, "DELETE", "/containers/{id}")
	if o := e.engine.lastRemove; !o.Force || !o.RemoveVolumes || o.RemoveLink {
		t.Errorf("remove options: %+v", o)
	}
	e.wantError(e.do("DELETE", "/containers/web2", "", nil), 404, "No such container: web2")
}

func TestContainerRemoveRunningConflict(t *testing.T) {
	e := newEnv(t)
	e.create("a", `{"Image":"busybox"}`)
	e.post("/containers/a/start")
	e.wantError(e.do("DELETE", "/containers/a", "", nil), 409, "")
	if e.engine.lastRemove.Force {
		t.Error("force without the parameter")
	}
}

func TestContainerListQuery(t *testing.T) {
	e := newEnv(t)
	e.create("a", `{"Image":"busybox"}`)
	e.create("b", `{"Image":"busybox"}`)
	r := e.get(`/v1.51/containers/json?all=1&limit=5&size=true&filters={"name":{"b":true}}`)
	e.want(r, 200, "GET", "/containers/json")
	var list []container.Summary
	json.Unmarshal(r.body, &list)
	if len(list) != 1 || list[0].Names[0] != "/b" {
		t.Errorf("filtered list: %s", r.body)
	}
	if o := e.engine.lastList; !o.All || o.Limit != 5 || !o.Size || !o.Filters.Contains("name") {
		t.Errorf("list options: %+v", o)
	}
	// Not running: an empty list is [] (not null).
	r = e.get("/containers/json")
	if string(bytes.TrimSpace(r.body)) != "[]" {
		t.Errorf("empty list body %q", r.body)
	}
	e.wantError(e.get("/containers/json?limit=x"), 400, "")
	e.wantError(e.get("/containers/json?filters={bad"), 400, "")
	e.wantError(e.get(`/containers/json?filters={"color":{"red":true}}`), 400, "invalid filter 'color'")
}

func TestContainerPruneResize(t *testing.T) {
	e := newEnv(t)
	id := e.create("a", `{"Image":"busybox","Tty":true}`)
	r := e.post("/v1.51/containers/prune")
	e.want(r, 200, "POST", "/containers/prune")
	var rep container.PruneReport
	if json.Unmarshal(r.body, &rep); len(rep.ContainersDeleted) != 1 || rep.ContainersDeleted[0] != id {
		t.Errorf("prune: %s", r.body)
	}
	r = e.post("/v1.51/containers/prune")
	if !bytes.Contains(r.body, []byte(`"ContainersDeleted":[]`)) {
		t.Errorf("empty prune: %s", r.body)
	}
	e.wantError(e.post(`/containers/prune?filters={"x":{"y":true}}`), 400, "invalid filter 'x'")

	e.create("t", `{"Image":"busybox","Tty":true}`)
	e.want(e.post("/v1.51/containers/t/resize?h=40&w=120"), 200, "POST", "/containers/{id}/resize")
	if e.engine.lastResize != [2]uint{40, 120} {
		t.Errorf("resize %v", e.engine.lastResize)
	}
	e.wantError(e.post("/containers/t/resize?h=x&w=1"), 400, "")
	e.wantError(e.post("/containers/t/resize?h=-1&w=1"), 400, "")
	e.create("n", `{"Image":"busybox"}`)
	e.wantError(e.post("/containers/n/resize?h=1&w=1"), 409, "")
}

// The docker CLI waits for wait's response header before it starts the
// container; the header must come before the result.
func TestContainerWaitFlushesHeader(t *testing.T) {
	e := newEnv(t)
	e.create("w", `{"Image":"busybox"}`)
	e.post("/containers/w/start")
	resp, err := http.Post(e.srv.URL+"/v1.51/containers/w/wait?condition=not-running", "", nil)
	if err != nil {
		t.Fatal(err) // no header arrived: Post would block forever without the flush
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "application/json" {
		t.Fatalf("wait: %d %v", resp.StatusCode, resp.Header)
	}
	got := make(chan []byte, 1)
	go func() {
		b, _ := io.ReadAll(resp.Body)
		got <- b
	}()
	select {
	case b := <-got:
		t.Fatalf("wait returned before the container stopped: %s", b)
	case <-time.After(50 * time.Millisecond):
	}
	e.post("/containers/w/kill")
	select {
	case b := <-got:
		e.want(response{status: 200, body: b}, 200, "POST", "/containers/{id}/wait")
		var wr container.WaitResponse
		if err := json.Unmarshal(b, &wr); err != nil || wr.StatusCode != 137 {
			t.Errorf("wait result %s (%v)", b, err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no wait result after kill")
	}

	// Errors before the wait is set up keep their status.
	e.wantError(e.post("/containers/nope/wait"), 404, "")
	e.wantError(e.post("/containers/w/wait?condition=sometime"), 400, `invalid condition: "sometime"`)
	r := e.post("/v1.51/containers/w/wait?condition=not-running")
	e.want(r, 200, "POST", "/containers/{id}/wait")
	// API < 1.30 had no conditions: the parameter is ignored.
	e.want(e.post("/v1.29/containers/w/wait?condition=sometime"), 200, "", "")
}

func demux(t *testing.T, b []byte) (stdout, stderr string, err error) {
	t.Helper()
	var o, e bytes.Buffer
	_, err = stdcopy.StdCopy(&o, &e, bytes.NewReader(b))
	return o.String(), e.String(), err
}

func TestContainerLogs(t *testing.T) {
	e := newEnv(t)
	e.create("l", `{"Image":"busybox"}`)
	e.post("/containers/l/start")

	r := e.get("/v1.51/containers/l/logs?stdout=1&stderr=1")
	if r.status != 200 || r.header.Get("Content-Type") != "application/vnd.docker.multiplexed-stream" {
		t.Fatalf("logs: %d %v", r.status, r.header)
	}
	if o, er, err := demux(t, r.body); o != "hello\n" || er != "oops\n" || err != nil {
		t.Errorf("logs: stdout %q stderr %q err %v", o, er, err)
	}
	if o := e.engine.lastLogs; o.Tail != "all" || o.Follow || !o.Since.IsZero() || !o.Until.IsZero() {
		t.Errorf("default options: %+v", o)
	}
	r = e.get("/v1.41/containers/l/logs?stdout=1")
	if r.header.Get("Content-Type") != "application/vnd.docker.raw-stream" {
		t.Errorf("1.41 logs content type %q", r.header.Get("Content-Type"))
	}
	if o, er, _ := demux(t, r.body); o != "hello\n" || er != "" {
		t.Errorf("stdout only: %q %q", o, er)
	}

	r = e.get("/v1.51/containers/l/logs?stderr=1&timestamps=1&tail=10&since=1700000000.000000600&until=1700000100")
	if o := e.engine.lastLogs; o.Tail != "10" || !o.Timestamps || o.Since != time.Unix(1700000000, 600) || o.Until != time.Unix(1700000100, 0) {
		t.Errorf("options: %+v", o)
	}
	if _, er, _ := demux(t, r.body); er != "2023-11-14T22:13:21.0000005Z oops\n" {
		t.Errorf("since-filtered stderr %q", er)
	}
	e.get("/containers/l/logs?stdout=1&since=1700000000.5")
	if got := e.engine.lastLogs.Since; got != time.Unix(1700000000, 500000000) {
		t.Errorf("fractional since %v", got)
	}

	e.wantError(e.get("/containers/l/logs"), 400, "Bad parameters: you must choose at least one stream")
	e.wantError(e.get("/containers/l/logs?stdout=1&since=yesterday"), 400, "")
	e.wantError(e.get("/containers/l/logs?stdout=1&until=1.2.3"), 400, "")
	e.wantError(e.get("/containers/l/logs?stdout=1&tail=lots"), 400, "")
	e.wantError(e.get("/containers/zz/logs?stdout=1"), 404, "No such container: zz")

	// An error after output travels in-band as a system-error frame.
	e.engine.mu.Lock()
	e.engine.logsErr = errdefs.Unavailablef("log file rotated away")
	e.engine.mu.Unlock()
	r = e.get("/v1.51/containers/l/logs?stdout=1")
	if r.status != 200 {
		t.Fatalf("late error changed status: %d", r.status)
	}
	if o, _, err := demux(t, r.body); o != "hello\n" || err == nil || !bytes.Contains([]byte(err.Error()), []byte("log file rotated away")) {
		t.Errorf("late error: stdout %q err %v", o, err)
	}
	// Before output it gets its status.
	e.create("empty", `{"Image":"busybox"}`)
	e.wantError(e.get("/containers/empty/logs?stdout=1"), 503, "log file rotated away")
}

func TestContainerLogsFollowSendsHeader(t *testing.T) {
	e := newEnv(t)
	e.create("f", `{"Image":"busybox"}`) // never started: no log lines
	resp, err := http.Get(e.srv.URL + "/v1.51/containers/f/logs?stdout=1&follow=1")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Errorf("follow: %d", resp.StatusCode)
	}
}

func TestParseTimestampTable(t *testing.T) {
	// Via the route: the engine sees what the query said.
	e := newEnv(t)
	e.create("p", `{"Image":"busybox"}`)
	for q, want := range map[string]time.Time{
		"0":                    time.Unix(0, 0),
		"1700000000":           time.Unix(1700000000, 0),
		"1700000000.000000001": time.Unix(1700000000, 1),
		"1700000000.1":         time.Unix(1700000000, 100000000),
		"-5":                   time.Unix(-5, 0),
	} {
		if r := e.get("/containers/p/logs?stdout=1&since=" + q); r.status != 200 {
			t.Errorf("since=%s: %d %s", q, r.status, r.body)
			continue
		}
		if got := e.engine.lastLogs.Since; !got.Equal(want) {
			t.Errorf("since=%s: %v, want %v", q, got, want)
		}
	}
	for _, bad := range []string{"x", "1.", "1.1234567890", "1.-1", "1.a"} {
		e.wantError(e.get("/containers/p/logs?stdout=1&since="+bad), 400, "")
	}
}

func TestContainerLogsTTY(t *testing.T) {
	e := newEnv(t)
	e.create("t", `{"Image":"busybox","Tty":true}`)
	r := e.get("/v1.51/containers/t/logs?stdout=1")
	if r.status != 200 || r.header.Get("Content-Type") != "application/vnd.docker.raw-stream" {
		t.Errorf("tty logs: %d %v", r.status, r.header)
	}
}

func TestContainerListVersionedFields(t *testing.T) {
	e := newEnv(t)
	e.create("a", `{"Image":"busybox"}`)
	for v, want := range map[string][2]bool{"1.51": {true, true}, "1.47": {true, false}, "1.45": {false, false}} {
		r := e.get("/v" + v + "/containers/json?all=1")
		ann, desc := bytes.Contains(r.body, []byte(`"Annotations"`)), bytes.Contains(r.body, []byte(`"ImageManifestDescriptor"`))
		if ann != want[0] || desc != want[1] {
			t.Errorf("API %s: Annotations %v, ImageManifestDescriptor %v; want %v", v, ann, desc, want)
		}
		apitest.Check(t, v, "GET", "/containers/json", 200, r.body)
	}
}

func TestContainerInspectVersionedFields(t *testing.T) {
	e := newEnv(t)
	e.create("a", `{"Image":"busybox"}`)
	for v, wantDesc := range map[string]bool{"1.51": true, "1.48": true, "1.47": false} {
		r := e.get("/v" + v + "/containers/a/json")
		if got := bytes.Contains(r.body, []byte(`"ImageManifestDescriptor"`)); got != wantDesc {
			t.Errorf("API %s: ImageManifestDescriptor present %v", v, got)
		}
		if bytes.Contains(r.body, []byte(`"Storage"`)) || !bytes.Contains(r.body, []byte(`"GraphDriver":{"Data":{},"Name":"overlayfs"}`)) {
			t.Errorf("API %s: Storage not turned into GraphDriver: %s", v, r.body)
		}
		apitest.Check(t, v, "GET", "/containers/{id}/json", 200, r.body)
	}
}
