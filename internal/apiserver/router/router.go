// Package router holds what every Engine API router shares: the Route type
// the server mounts, the API version carried in the request context, and
// the small decode helpers handlers use (JSON bodies, query values).
//
// A handler returns an error instead of writing one. The server maps the
// error's errdefs class to a status in one place (apiserver), unless the
// handler already wrote the response header; a streaming handler that fails
// after its first write reports the error in-band itself.
package router

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/berth-dev/berth/internal/errdefs"
)

// API version bounds served by berthd.
const (
	MinAPIVersion = "1.24"
	APIVersion    = "1.51"
)

// HandlerFunc is an Engine API handler.
type HandlerFunc func(w http.ResponseWriter, r *http.Request) error

// Route is one method+path served by a router. Path is a net/http.ServeMux
// pattern path without the /v{version} prefix ("/containers/{id}/start").
type Route struct {
	Method  string
	Path    string
	Handler HandlerFunc
}

// Router is a set of routes.
type Router interface {
	Routes() []Route
}

type versionKey struct{}

// WithVersion returns ctx carrying the client's API version.
func WithVersion(ctx context.Context, version string) context.Context {
	return context.WithValue(ctx, versionKey{}, version)
}

// VersionFromContext returns the API version the client asked for, or
// APIVersion when none is set.
func VersionFromContext(ctx context.Context) string {
	if v, ok := ctx.Value(versionKey{}).(string); ok && v != "" {
		return v
	}
	return APIVersion
}

type stoppingKey struct{}

// WithStopping returns ctx carrying a channel the server closes when it
// starts shutting down.
func WithStopping(ctx context.Context, stopping <-chan struct{}) context.Context {
	return context.WithValue(ctx, stoppingKey{}, stopping)
}

// StreamContext is the context for a long-lived response (wait, follow,
// attach): it ends with the request, or when the server starts shutting
// down, so a graceful shutdown is not held up by streams that never end.
// Ordinary requests keep the request context and finish their work.
func StreamContext(r *http.Request) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancel(r.Context())
	if stopping, ok := r.Context().Value(stoppingKey{}).(<-chan struct{}); ok && stopping != nil {
		go func() {
			select {
			case <-stopping:
				cancel()
			case <-ctx.Done():
			}
		}()
	}
	return ctx, cancel
}

// CompareVersions compares dotted API versions ("1.9" < "1.24"): -1, 0, 1.
func CompareVersions(a, b string) int {
	as, bs := strings.Split(a, "."), strings.Split(b, ".")
	for i := 0; i < len(as) || i < len(bs); i++ {
		var x, y int
		if i < len(as) {
			x, _ = strconv.Atoi(as[i])
		}
		if i < len(bs) {
			y, _ = strconv.Atoi(bs[i])
		}
		switch {
		case x < y:
			return -1
		case x > y:
			return 1
		}
	}
	return 0
}

// VersionAtLeast reports whether the request's API version is >= v.
func VersionAtLeast(ctx context.Context, v string) bool {
	return CompareVersions(VersionFromContext(ctx), v) >= 0
}

// CheckJSON rejects a body whose Content-Type is not application/json, as
// dockerd does. No Content-Type is fine when there is no body.
func CheckJSON(r *http.Request) error {
	ct := r.Header.Get("Content-Type")
	if ct == "" && (r.Body == nil || r.Body == http.NoBody || r.ContentLength == 0) {
		return nil
	}
	mt, _, err := mime.ParseMediaType(ct)
	if err != nil {
		return errdefs.InvalidArgumentf("malformed Content-Type header (%s): %v", ct, err)
	}
	if mt != "application/json" {
		return errdefs.InvalidArgumentf("unsupported Content-Type header (%s): must be 'application/json'", ct)
	}
	return nil
}

// ErrEmptyBody is returned by DecodeJSON when the request has no body.
var ErrEmptyBody = errors.New("empty request body")

// DecodeJSON checks the Content-Type and decodes the body into out. An
// empty body returns ErrEmptyBody (unclassified: the caller decides whether
// that is an error).
func DecodeJSON(r *http.Request, out any) error {
	if err := CheckJSON(r); err != nil {
		return err
	}
	if r.Body == nil || r.Body == http.NoBody || r.ContentLength == 0 {
		return ErrEmptyBody
	}
	dec := json.NewDecoder(r.Body)
	if err := dec.Decode(out); err != nil {
		if errors.Is(err, io.EOF) {
			return ErrEmptyBody
		}
		return errdefs.InvalidArgumentf("invalid JSON: %v", err)
	}
	if dec.More() {
		return errdefs.InvalidArgumentf("unexpected content after JSON")
	}
	return nil
}

// BoolValue reads a boolean query value as dockerd does: absent, "", "0",
// "no", "false" and "none" are false; anything else is true.
func BoolValue(r *http.Request, key string) bool {
	s := strings.ToLower(strings.TrimSpace(r.URL.Query().Get(key)))
	return !(s == "" || s == "0" || s == "no" || s == "false" || s == "none")
}

// BoolValueOr is BoolValue with a default for an absent key.
func BoolValueOr(r *http.Request, key string, def bool) bool {
	if _, ok := r.URL.Query()[key]; !ok {
		return def
	}
	return BoolValue(r, key)
}

// IntValue parses an integer query value; absent or empty yields (0, false).
func IntValue(r *http.Request, key string) (int, bool, error) {
	s := r.URL.Query().Get(key)
	if s == "" {
		return 0, false, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil {
		return 0, false, errdefs.InvalidArgumentf("invalid value for %s: %q: not an integer", key, s)
	}
	return n, true, nil
}

// WriteJSON writes v as a JSON response with the given status.
func WriteJSON(w http.ResponseWriter, status int, v any) error {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	return enc.Encode(v)
}

// ParseTimestamp parses the since/until query form of logs and events:
// unix seconds with an optional fraction of up to nine digits
// ("1700000000.000000001"), as the docker CLI sends them.
func ParseTimestamp(s string) (time.Time, error) {
	secStr, fracStr, hasFrac := strings.Cut(s, ".")
	sec, err := strconv.ParseInt(secStr, 10, 64)
	if err != nil {
		return time.Time{}, errdefs.InvalidArgumentf("invalid timestamp %q: %v", s, err)
	}
	var nsec int64
	if hasFrac {
		if fracStr == "" || len(fracStr) > 9 {
			return time.Time{}, errdefs.InvalidArgumentf("invalid timestamp %q: want at most nine fractional digits", s)
		}
		n, err := strconv.ParseUint(fracStr, 10, 64)
		if err != nil {
			return time.Time{}, errdefs.InvalidArgumentf("invalid timestamp %q: %v", s, err)
		}
		nsec = int64(n)
		for i := len(fracStr); i < 9; i++ {
			nsec *= 10
		}
	}
	return time.Unix(sec, nsec), nil
}

// WriteJSONWithFields writes the JSON object v with extra top-level fields
// added (or replaced): the shape older API versions had, where the current
// types omit a field (dockerd's compat.WithExtraFields).
func WriteJSONWithFields(w http.ResponseWriter, status int, v any, extra map[string]any) error {
	m, err := withFields(v, extra)
	if err != nil {
		return err
	}
	return WriteJSON(w, status, m)
}

// WriteJSONListWithFields is WriteJSONWithFields for a list: extra[i] goes
// into element i.
func WriteJSONListWithFields[T any](w http.ResponseWriter, status int, list []T, extra []map[string]any) error {
	out := make([]map[string]json.RawMessage, len(list))
	for i := range list {
		m, err := withFields(list[i], extra[i])
		if err != nil {
			return err
		}
		out[i] = m
	}
	return WriteJSON(w, status, out)
}

func withFields(v any, extra map[string]any) (map[string]json.RawMessage, error) {
	var m map[string]json.RawMessage
	b, err := marshal(v)
	if err != nil {
		return nil, err
	}
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, err
	}
	for k, x := range extra {
		if m[k], err = marshal(x); err != nil {
			return nil, err
		}
	}
	return m, nil
}

// marshal is json.Marshal without HTML escaping, like WriteJSON.
func marshal(v any) (json.RawMessage, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimRight(buf.Bytes(), "\n"), nil
}
