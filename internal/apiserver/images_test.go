package apiserver_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"net/url"
	"strings"
	"testing"

	"github.com/moby/moby/api/types/image"

	"github.com/berth-dev/berth/internal/apiserver/apitest"

	"github.com/berth-dev/berth/internal/errdefs"
)

type progressLine struct {
	Status      string `json:"status"`
	Error       string `json:"error"`
	ErrorDetail *struct {
		Message string `json:"message"`
	} `json:"errorDetail"`
}

func lines(t *testing.T, b []byte) []progressLine {
	t.Helper()
	var out []progressLine
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		var l progressLine
		if err := json.Unmarshal(sc.Bytes(), &l); err != nil {
			t.Fatalf("progress line %q: %v", sc.Text(), err)
		}
		out = append(out, l)
	}
	return out
}

func TestImageImport(t *testing.T) {
	e := newEnv(t)
	q := url.Values{"fromSrc": {"-"}, "repo": {"example.com/org/app"}, "tag": {"v1"}, "message": {"hi"}, "changes": {"CMD [\"sh\"]", "ENV A=b"}}
	r := e.do("POST", "/v1.51/images/create?"+q.Encode(), "application/x-tar", strings.NewReader(strings.Repeat("x", 2048)))
	if r.status != 200 || r.header.Get("Content-Type") != "application/json" {
		t.Fatalf("import: %d %v %s", r.status, r.header, r.body)
	}
	ls := lines(t, r.body)
	if len(ls) != 2 || ls[0].Status != "Importing" || !strings.HasPrefix(ls[1].Status, "sha256:") {
		t.Fatalf("progress %s", r.body)
	}
	li := e.images.lastImport
	if li.repo != "example.com/org/app" || li.tag != "v1" || li.message != "hi" || len(li.changes) != 2 || li.changes[1] != "ENV A=b" || li.size != 2048 {
		t.Errorf("import args %+v", li)
	}

	// The slashed name reaches inspect, history, tag and delete whole.
	r = e.get("/v1.51/images/example.com/org/app:v1/json")
	e.want(r, 200, "GET", "/images/{name}/json")
	var ins image.InspectResponse
	if json.Unmarshal(r.body, &ins); ins.ID != ls[1].Status {
		t.Errorf("inspect id %q, want %q", ins.ID, ls[1].Status)
	}
	e.want(e.get("/v1.51/images/example.com/org/app:v1/history"), 200, "GET", "/images/{name}/history")
	e.want(e.post("/v1.51/images/example.com/org/app:v1/tag?repo=example.com/org/app2&tag=v2"), 201, "POST", "/images/{name}/tag")
	e.want(e.get("/v1.51/images/example.com/org/app2:v2/json"), 200, "GET", "/images/{name}/json")
	e.wantError(e.post("/images/example.com/org/app:v1/tag?repo=UPPER"), 400, "invalid reference format: repository name (UPPER) must be lowercase")
	e.wantError(e.get("/images/example.com/org/app:v1/nope"), 404, "page not found")
	e.wantError(e.post("/images/example.com/org/app:v1/nope"), 404, "page not found")
	r = e.do("DELETE", "/v1.51/images/example.com/org/app2:v2?force=1", "", nil)
	e.want(r, 200, "DELETE", "/images/{name}")
	var del []image.DeleteResponse
	if json.Unmarshal(r.body, &del); len(del) == 0 {
		t.Errorf("delete: %s", r.body)
	}
	e.wantError(e.get("/images/example.com/org/app2:v2/json"), 404, "")
}

func TestImageImportErrors(t *testing.T) {
	e := newEnv(t)
	e.wantError(e.post("/images/create"), 400, "fromImage or fromSrc is required")
	e.wantError(e.post("/images/create?fromImage=busybox&tag=latest"), 501, "")
	e.wantError(e.post("/images/create?fromSrc=http://example.com/x.tar"), 501, "")

	// Before any progress: a real status.
	e.locked(func() { e.images.importEarly = errdefs.InvalidArgumentf("invalid reference format") })
	e.wantError(e.do("POST", "/images/create?fromSrc=-&repo=UP", "", strings.NewReader("x")), 400, "invalid reference format")
	e.locked(func() { e.images.importEarly = nil })

	// After progress: in-band errorDetail, status stays 200.
	e.locked(func() { e.images.importErr = errdefs.InvalidArgumentf("archive/tar: invalid tar header") })
	r := e.do("POST", "/images/create?fromSrc=-", "", strings.NewReader("not a tar"))
	if r.status != 200 {
		t.Fatalf("late error status %d", r.status)
	}
	ls := lines(t, r.body)
	last := ls[len(ls)-1]
	if last.ErrorDetail == nil || last.ErrorDetail.Message != "archive/tar: invalid tar header" || last.Error != last.ErrorDetail.Message {
		t.Errorf("late error line %s", r.body)
	}
}

func TestImageListDelete(t *testing.T) {
	e := newEnv(t)
	r := e.get(`/v1.51/images/json?all=1&digests=1&filters={"dangling":{"false":true}}`)
	e.want(r, 200, "GET", "/images/json")
	var list []image.Summary
	if json.Unmarshal(r.body, &list); len(list) != 1 || list[0].RepoTags[0] != "busybox:latest" {
		t.Errorf("list %s", r.body)
	}
	e.wantError(e.get("/images/json?filters=nope"), 400, "")
	e.want(e.get("/v1.51/images/busybox/json"), 200, "GET", "/images/{name}/json")
	e.wantError(e.do("DELETE", "/images/busybox", "", nil), 409, "")
	e.want(e.do("DELETE", "/v1.51/images/busybox?force=1&noprune=1", "", nil), 200, "DELETE", "/images/{name}")
	r = e.get("/images/json")
	if string(bytes.TrimSpace(r.body)) != "[]" {
		t.Errorf("empty list %q", r.body)
	}
	e.wantError(e.get("/images/busybox/history"), 404, "No such image: busybox:latest")
}

func TestImageInspectShape(t *testing.T) {
	e := newEnv(t)
	r := e.get("/v1.51/images/busybox/json")
	e.want(r, 200, "GET", "/images/{name}/json")
	var m map[string]json.RawMessage
	if err := json.Unmarshal(r.body, &m); err != nil {
		t.Fatal(err)
	}
	for k, want := range map[string]string{"Parent": `""`, "Comment": `""`, "DockerVersion": `""`, "Author": `""`, "RepoDigests": `[]`} {
		if string(m[k]) != want {
			t.Errorf("%s = %s, want %s", k, m[k], want)
		}
	}
	e.wantError(e.do("DELETE", "/images/%20", "", nil), 400, "image name cannot be blank")
}

func TestImageListVersions(t *testing.T) {
	e := newEnv(t)
	e.do("POST", "/images/create?fromSrc=-", "", strings.NewReader("dangling")) // no repo: untagged
	list := func(v string) []map[string]json.RawMessage {
		r := e.get("/v" + v + "/images/json")
		apitest.Check(t, v, "GET", "/images/json", 200, r.body)
		var ms []map[string]json.RawMessage
		if err := json.Unmarshal(r.body, &ms); err != nil {
			t.Fatal(err)
		}
		return ms
	}
	var dangling map[string]json.RawMessage
	for _, m := range list("1.51") {
		if string(m["RepoTags"]) == "[]" {
			dangling = m
		}
		if string(m["Containers"]) != "-1" && string(m["Containers"]) != "0" {
			t.Errorf("1.51 Containers %s", m["Containers"])
		}
		if _, ok := m["VirtualSize"]; ok {
			t.Error("1.51 has VirtualSize")
		}
	}
	if dangling == nil || string(dangling["RepoDigests"]) != "[]" {
		t.Errorf("dangling image on 1.51: %v", dangling)
	}
	found := false
	for _, m := range list("1.42") {
		if string(m["RepoTags"]) == `["<none>:<none>"]` && string(m["RepoDigests"]) == `["<none>@<none>"]` {
			found = true
		}
		if string(m["VirtualSize"]) != "4096" {
			t.Errorf("1.42 VirtualSize %s", m["VirtualSize"])
		}
	}
	if !found {
		t.Error("1.42: no <none>:<none> image")
	}
}
