package apiserver

import (
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/berth-dev/berth/internal/errdefs"
)

func TestStatusFor(t *testing.T) {
	cases := []struct {
		class errdefs.Class
		want  int
	}{
		{errdefs.InvalidArgument, 400},
		{errdefs.Unauthorized, 401},
		{errdefs.Forbidden, 403},
		{errdefs.NotFound, 404},
		{errdefs.NotModified, 304},
		{errdefs.Conflict, 409},
		{errdefs.NotImplemented, 501},
		{errdefs.Unavailable, 503},
		{errdefs.Unknown, 500},
	}
	seen := map[errdefs.Class]bool{}
	for _, c := range cases {
		seen[c.class] = true
		err := errdefs.With(c.class, errors.New("boom"))
		if got := statusFor(err); got != c.want {
			t.Errorf("%v: status %d, want %d", c.class, got, c.want)
		}
		// The class survives wrapping with %w.
		if got := statusFor(fmt.Errorf("outer: %w", err)); got != c.want {
			t.Errorf("wrapped %v: status %d, want %d", c.class, got, c.want)
		}
	}
	// Every class is in the table: a new class must get a status here.
	for c := errdefs.Unknown; c <= errdefs.Unavailable+1; c++ {
		if c.String() != "unknown" && !seen[c] {
			t.Errorf("class %v missing from the table", c)
		}
	}
	if got := statusFor(errors.New("plain")); got != 500 {
		t.Errorf("unclassified: %d, want 500", got)
	}
}

func TestWriteError(t *testing.T) {
	rec := httptest.NewRecorder()
	writeError(rec, errdefs.NotFoundf("No such container: %s", "x"))
	if rec.Code != 404 || rec.Header().Get("Content-Type") != "application/json" || rec.Body.String() != "{\"message\":\"No such container: x\"}\n" {
		t.Errorf("404: %d %q %q", rec.Code, rec.Header().Get("Content-Type"), rec.Body.String())
	}
	rec = httptest.NewRecorder()
	rec.Header().Set("Content-Type", "application/json")
	writeError(rec, errdefs.NotModifiedf("container already started"))
	if rec.Code != http.StatusNotModified || rec.Body.Len() != 0 || rec.Header().Get("Content-Type") != "" {
		t.Errorf("304: %d %q body %q", rec.Code, rec.Header().Get("Content-Type"), rec.Body.String())
	}
}
