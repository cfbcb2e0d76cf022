package apitest

import (
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"testing"
)

// TestLive checks a running daemon's responses against the swagger:
//
//	BERTH_APITEST_HOST=unix:///run/berth.sock BERTH_APITEST_IMAGE=busybox go test -run TestLive ./internal/apiserver/apitest
//
// It creates one container from the image and removes it again.
func TestLive(t *testing.T) {
	host, img := os.Getenv("BERTH_APITEST_HOST"), os.Getenv("BERTH_APITEST_IMAGE")
	if host == "" || img == "" {
		t.Skip("BERTH_APITEST_HOST and BERTH_APITEST_IMAGE not set")
	}
	sock, ok := strings.CutPrefix(host, "unix://")
	if !ok {
		t.Fatalf("only unix:// hosts: %s", host)
	}
	c := &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		return (&net.Dialer{}).DialContext(ctx, "unix", sock)
	}}}
	do := func(method, path, body string) []byte {
		t.Helper()
		req, _ := http.NewRequest(method, "http://berth/v1.51"+path, strings.NewReader(body))
		if body != "" {
			req.Header.Set("Content-Type", "application/json")
		}
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		CheckResponse(t, resp, b)
		return b
	}
	do("GET", "/_ping", "")
	do("GET", "/version", "")
	do("GET", "/info", "")
	do("GET", "/images/json", "")
	do("GET", "/images/"+img+"/json", "")
	do("GET", "/images/"+img+"/history", "")
	var cr struct{ Id string }
	json.Unmarshal(do("POST", "/containers/create?name=apitest-live", `{"Image":"`+img+`","Cmd":["sleep","30"],"Labels":{"a":"b"}}`), &cr)
	defer do("DELETE", "/containers/"+cr.Id+"?force=1", "")
	do("GET", "/containers/"+cr.Id+"/json", "")
	do("POST", "/containers/"+cr.Id+"/start", "")
	do("GET", "/containers/json", "")
	do("GET", "/containers/json?all=1&size=1", "")
	do("GET", "/containers/"+cr.Id+"/json?size=1", "")
	do("POST", "/containers/"+cr.Id+"/start", "") // 304
	do("POST", "/containers/"+cr.Id+"/kill", "")
	do("POST", "/containers/"+cr.Id+"/wait", "")
	do("GET", "/containers/"+cr.Id+"/json", "")
	do("POST", "/containers/"+cr.Id+"/kill", "")     // 409
	do("GET", "/containers/nope-nope/json", "")      // 404
	do("POST", "/containers/create", `{"Image":""}`) // 400
}
