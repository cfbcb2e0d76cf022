package apiserver_test

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/berth-dev/berth/internal/apiserver"
)

// FuzzRequestDecoders sends arbitrary create bodies, names and filters
// through the real routes (fake backends): whatever the input, the answer
// is a 2xx or a 4xx with a JSON message, never a 5xx or a crash.
func FuzzRequestDecoders(f *testing.F) {
	f.Add(`{"Image":"busybox","Cmd":["true"],"HostConfig":{"Memory":1}}`, "c1", `{"status":{"running":true}}`)
	f.Add(`{}`, "", `{"label":["a=b"]}`)
	f.Add(`{"Image":""}`, "/bad name", `{"bogus":{"x":true}}`)
	f.Add(`null`, "x", `[`)
	f.Add(`{"Image":"b"} {"x":1}`, "", `{"name":["a"],"id":{"b":true}}`)
	f.Add(`{"Image":"b","HostConfig":null,"NetworkingConfig":{"EndpointsConfig":{"n":null}}}`, "", `{"dangling":{"maybe":true}}`)
	f.Fuzz(func(t *testing.T, body, name, filters string) {
		s := apiserver.New(apiserver.Config{}, apiserver.Backends{Containers: newFakeEngine(), Images: newFakeImages(), System: fakeSystem{}})
		h := s.Handler()
		check := func(method, target, body string) {
			req := httptest.NewRequest(method, target, strings.NewReader(body))
			req.Header.Set("Content-Type", "application/json")
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			if rec.Code >= 500 {
				t.Fatalf("%s %s %q: %d %s", method, target, body, rec.Code, rec.Body.String())
			}
			if rec.Code >= 400 && !strings.Contains(rec.Body.String(), `"message"`) {
				t.Fatalf("%s %s: %d without a message: %s", method, target, rec.Code, rec.Body.String())
			}
		}
		q := url.Values{"filters": {filters}}.Encode()
		check(http.MethodPost, "/v1.47/containers/create?"+url.Values{"name": {name}}.Encode(), body)
		check(http.MethodGet, "/v1.47/containers/json?all=1&"+q, "")
		check(http.MethodGet, "/v1.47/images/json?"+q, "")
	})
}
