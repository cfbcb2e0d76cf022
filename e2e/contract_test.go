package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"

	"github.com/berth-dev/berth/internal/apiserver/apitest"
)

// apiClient talks HTTP to the daemon's unix socket.
func (d *Daemon) apiClient() *http.Client {
	return &http.Client{Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, "unix", d.Sock)
		},
	}}
}

// call makes one API request and returns the status and body.
func (d *Daemon) call(t *testing.T, method, path string, body any) (*http.Response, []byte) {
	t.Helper()
	var r io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			t.Fatal(err)
		}
		r = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, "http://berth"+path, r)
	if err != nil {
		t.Fatal(err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := d.apiClient().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, b
}

// TestContractSwagger validates berthd's JSON responses against the Engine
// API swagger of the version requested, for live objects.
func TestContractSwagger(t *testing.T) {
	d := StartDaemon(t)
	d.ImportBusybox()
	running := d.MustDocker("run", "-d", "--name", "running", "-l", "k=v", "busybox", "sleep", "300")
	d.MustDocker("create", "--name", "created", "-m", "32m", "--cpus", "0.5", "-e", "A=B", "-w", "/tmp", "busybox", "true")
	d.Docker("", "run", "--name", "exited", "busybox", "sh", "-c", "echo hi; exit 2")

	// 1.25's swagger has known errors dockerd does not follow (RestartPolicy
	// "no", Ports as an object); from 1.41 on, the documents are exact.
	for _, v := range []string{"1.41", "1.44", "1.51"} {
		t.Run(v, func(t *testing.T) {
			p := "/v" + v
			for _, tc := range []struct {
				method, path string
				body         any
				status       int
			}{
				{"GET", "/version", nil, 200},
				{"GET", "/info", nil, 200},
				{"GET", "/containers/json?all=1", nil, 200},
				{"GET", "/containers/running/json", nil, 200},
				{"GET", "/containers/created/json", nil, 200},
				{"GET", "/containers/exited/json?size=1", nil, 200},
				{"GET", "/containers/nosuch/json", nil, 404},
				{"GET", "/images/json", nil, 200},
				{"GET", "/images/busybox/json", nil, 200},
				{"GET", "/images/busybox/history", nil, 200},
				{"GET", "/images/nosuch/json", nil, 404},
				{"POST", "/containers/create?name=c-" + strings.ReplaceAll(v, ".", ""), map[string]any{"Image": "busybox", "Cmd": []string{"true"}}, 201},
				{"POST", "/containers/create", map[string]any{"Image": "nosuch"}, 404},
				{"POST", "/containers/create?name=running", map[string]any{"Image": "busybox"}, 409},
				{"POST", "/containers/exited/wait", nil, 200},
				{"POST", "/containers/running/start", nil, 304},
				{"POST", "/containers/exited/kill", nil, 409},
				{"DELETE", "/containers/running", nil, 409},
			} {
				resp, body := d.call(t, tc.method, p+tc.path, tc.body)
				if resp.StatusCode != tc.status {
					t.Errorf("%s %s: status %d, want %d: %s", tc.method, tc.path, resp.StatusCode, tc.status, body)
					continue
				}
				if resp.StatusCode == 304 || resp.StatusCode == 204 {
					continue
				}
				if resp.Header.Get("Api-Version") == "" || resp.Header.Get("Ostype") != "linux" {
					t.Errorf("%s %s: headers %v", tc.method, tc.path, resp.Header)
				}
				apitest.CheckResponse(t, resp, body)
			}
		})
	}
	_ = running
}

// TestBadInput: malformed requests get Docker's status codes and leave
// nothing behind.
func TestBadInput(t *testing.T) {
	d := StartDaemon(t)
	d.ImportBusybox()
	before := d.MustDocker("ps", "-aq")

	req, _ := http.NewRequest("POST", "http://berth/containers/create", strings.NewReader("{not json"))
	req.Header.Set("Content-Type", "application/json")
	resp, err := d.apiClient().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	var e struct{ Message string }
	if resp.StatusCode != 400 || json.Unmarshal(b, &e) != nil || e.Message == "" {
		t.Fatalf("malformed JSON: %d %s", resp.StatusCode, b)
	}
	if r, body := d.call(t, "GET", "/v1.99/version", nil); r.StatusCode != 400 || !strings.Contains(string(body), "is too new") {
		t.Fatalf("too new: %d %s", r.StatusCode, body)
	}
	if r, body := d.call(t, "GET", "/v1.12/version", nil); r.StatusCode != 400 || !strings.Contains(string(body), "is too old") {
		t.Fatalf("too old: %d %s", r.StatusCode, body)
	}
	if r, _ := d.call(t, "GET", "/nosuch/route", nil); r.StatusCode != 404 {
		t.Fatalf("unknown route: %d", r.StatusCode)
	}
	if r := d.Docker("", "run", "--rm", "--nosuchflag", "busybox"); r.Code != 125 || !strings.Contains(r.Stderr, "unknown flag") {
		t.Fatalf("unknown flag: %s", r)
	}
	if r := d.Docker("", "run", "--rm", "-u", "nosuchuser", "busybox", "true"); r.Code == 0 || !strings.Contains(r.Stderr, "nosuchuser") {
		t.Fatalf("unknown user: %s", r)
	}
	if r := d.Docker("", "run", "--rm", "-m", "1k", "busybox", "true"); r.Code != 125 || !strings.Contains(r.Stderr, "Minimum memory limit") {
		t.Fatalf("tiny memory: %s", r)
	}
	// A rootfs tar that is not a tar, and one that climbs out.
	if r := d.Docker("this is not a tar archive, not even close to one, padding padding padding", "import", "-", "junk:1"); r.Code == 0 {
		t.Fatalf("junk import: %s", r)
	}
	if r := d.Docker(string(evilTar(t)), "import", "-", "evil:1"); r.Code == 0 {
		t.Fatalf("escaping import accepted: %s", r)
	}
	if out := d.MustDocker("images", "-q", "--filter", "reference=junk"); out != "" {
		t.Fatalf("half image listed: %s", out)
	}
	if out := d.MustDocker("images", "-q", "--filter", "reference=evil"); out != "" {
		t.Fatalf("half image listed: %s", out)
	}
	if after := d.MustDocker("ps", "-aq"); after != before {
		t.Fatalf("containers left behind: %q", after)
	}
}
