package apiserver_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/moby/moby/api/types/container"

	"github.com/berth-dev/berth/internal/apiserver/router/containers"
	"github.com/berth-dev/berth/internal/errdefs"
)

// The fake's pause, top, stats and update: state checks and echoes, so the
// router's decoding, status codes and streaming are what is tested.

func (f *fakeEngine) Pause(ctx context.Context, ref string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	c, err := f.get(ref)
	if err != nil {
		return err
	}
	if c.state != container.StateRunning {
		return errdefs.Conflictf("Container %s is not running", c.id)
	}
	c.state = container.StatePaused
	return nil
}

func (f *fakeEngine) Unpause(ctx context.Context, ref string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	c, err := f.get(ref)
	if err != nil {
		return err
	}
	if c.state != container.StatePaused {
		return errdefs.Conflictf("Container %s is not paused", c.id)
	}
	c.state = container.StateRunning
	return nil
}

func (f *fakeEngine) Top(ctx context.Context, ref, psArgs string) (container.TopResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, err := f.get(ref); err != nil {
		return container.TopResponse{}, err
	}
	return container.TopResponse{Titles: []string{"PID", "ARGS"}, Processes: [][]string{{"1", psArgs}}}, nil
}

func (f *fakeEngine) Stats(ctx context.Context, ref string, opts containers.StatsOptions, emit func(*container.StatsResponse) error) error {
	f.mu.Lock()
	c, err := f.get(ref)
	f.mu.Unlock()
	if err != nil {
		return err
	}
	n := 1
	if opts.Stream {
		n = 3
	}
	for i := 0; i < n; i++ {
		if err := emit(&container.StatsResponse{ID: c.id, Name: c.name, NumProcs: uint32(i)}); err != nil {
			return err
		}
	}
	return nil
}

func (f *fakeEngine) Update(ctx context.Context, ref string, cfg container.UpdateConfig) (container.UpdateResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, err := f.get(ref); err != nil {
		return container.UpdateResponse{}, err
	}
	if cfg.Memory != 0 && cfg.Memory < 6<<20 {
		return container.UpdateResponse{}, errdefs.InvalidArgumentf("Minimum memory limit allowed is 6MB")
	}
	return container.UpdateResponse{Warnings: []string{}}, nil
}

func TestRunningRoutes(t *testing.T) {
	e := newEnv(t)
	e.create("web", `{"Image":"busybox"}`)
	r := e.post("/v1.51/containers/web/pause")
	if r.status != 409 || !strings.Contains(string(r.body), "is not running") {
		t.Errorf("pause of a created container: %d %s", r.status, r.body)
	}
	e.want(e.post("/v1.51/containers/web/start"), 204, "POST", "/containers/{id}/start")
	e.want(e.post("/v1.51/containers/web/pause"), 204, "POST", "/containers/{id}/pause")
	e.want(e.post("/v1.51/containers/web/unpause"), 204, "POST", "/containers/{id}/unpause")
	r = e.post("/v1.51/containers/web/unpause")
	if r.status != 409 || !strings.Contains(string(r.body), "is not paused") {
		t.Errorf("unpause of a running container: %d %s", r.status, r.body)
	}
	e.wantError(e.post("/v1.51/containers/nope/pause"), 404, "No such container: nope")

	r = e.get("/v1.51/containers/web/top?ps_args=aux")
	e.want(r, 200, "GET", "/containers/{id}/top")
	var top container.TopResponse
	if err := json.Unmarshal(r.body, &top); err != nil || top.Processes[0][1] != "aux" {
		t.Errorf("top: %s %v", r.body, err)
	}

	r = e.get("/v1.51/containers/web/stats")
	e.want(r, 200, "", "") // a stream of documents: not one body to check
	if n := strings.Count(string(r.body), "\n"); n != 3 {
		t.Errorf("streamed %d documents: %s", n, r.body)
	}
	r = e.get("/v1.51/containers/web/stats?stream=false")
	e.want(r, 200, "GET", "/containers/{id}/stats")
	if n := strings.Count(string(r.body), "\n"); n != 1 || !strings.Contains(string(r.body), `"name":"/web"`) && !strings.Contains(string(r.body), `"name":"web"`) {
		t.Errorf("stream=false: %s", r.body)
	}
	e.wantError(e.get("/v1.51/containers/web/stats?stream=true&one-shot=true"), 400, "cannot have stream=true and one-shot=true")
	e.wantError(e.get("/v1.51/containers/nope/stats"), 404, "No such container: nope")

	r = e.postJSON("/v1.51/containers/web/update", `{"Memory":67108864}`)
	e.want(r, 200, "POST", "/containers/{id}/update")
	if !strings.Contains(string(r.body), `"Warnings":[]`) {
		t.Errorf("update: %s", r.body)
	}
	e.wantError(e.postJSON("/v1.51/containers/web/update", `{"Memory":1024}`), 400, "Minimum memory limit allowed is 6MB")
	e.wantError(e.postJSON("/v1.51/containers/web/update", ``), 400, "invalid JSON: empty request body")
}

func TestAttachBadDetachKeys(t *testing.T) {
	e := newEnv(t)
	e.create("web", `{"Image":"busybox"}`)
	e.wantError(e.post("/v1.51/containers/web/attach?stream=1&stdin=1&detachKeys=bogus"), 400, "Invalid detach keys (bogus) provided")
}
