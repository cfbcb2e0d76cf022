package images

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"strings"

	"github.com/moby/moby/api/types/registry"

	"github.com/berth-dev/berth/internal/apiserver/router"
	"github.com/berth-dev/berth/internal/apiserver/stream"
	"github.com/berth-dev/berth/internal/errdefs"
)

// Distributor pulls, pushes and logs in (internal/distribution).
type Distributor interface {
	// Pull fetches fromImage (tag: a tag or "sha256:..." digest, may be
	// empty; platform: "os/arch[/variant]" or "" for the host's) writing
	// Docker JSON-message progress lines to progress.
	Pull(ctx context.Context, fromImage, tag, platform string, auth registry.AuthConfig, progress io.Writer) error
	// Push uploads name:tag (every tag of name if tag is empty).
	Push(ctx context.Context, name, tag string, auth registry.AuthConfig, progress io.Writer) error
	// Login checks auth against its registry; Unauthorized if refused.
	Login(ctx context.Context, auth registry.AuthConfig) (registry.AuthResponse, error)
}

// NewRouterWithDistributor is NewRouter plus pull (POST
// /images/create?fromImage=), push and POST /auth served by d.
func NewRouterWithDistributor(b Backend, d Distributor) router.Router {
	return &imageRouter{b: b, d: d}
}

// decodeAuth decodes X-Registry-Auth: base64url JSON of an AuthConfig
// (padded or not, as clients differ).
func decodeAuth(h string) (registry.AuthConfig, error) {
	var ac registry.AuthConfig
	if h == "" {
		return ac, nil
	}
	b, err := base64.URLEncoding.DecodeString(h)
	if err != nil {
		b, err = base64.RawURLEncoding.DecodeString(strings.TrimRight(h, "="))
	}
	if err != nil {
		return ac, errdefs.InvalidArgumentf("invalid X-Registry-Auth header: %v", err)
	}
	if err := json.Unmarshal(b, &ac); err != nil {
		return ac, errdefs.InvalidArgumentf("invalid X-Registry-Auth header: %v", err)
	}
	return ac, nil
}

// streamJSON runs fn with a progress writer; an error before any output
// is an HTTP status, after it an errorDetail line.
func streamJSON(w http.ResponseWriter, fn func(io.Writer) error) error {
	w.Header().Set("Content-Type", "application/json")
	fw := stream.NewFlushWriter(w)
	if err := fn(fw); err != nil {
		if !fw.Written() {
			return err
		}
		_ = stream.WriteError(fw, err)
		return nil
	}
	fw.Flush()
	return nil
}

func (i *imageRouter) pull(w http.ResponseWriter, r *http.Request) error {
	if i.d == nil {
		return errdefs.NotImplementedf("pull: not implemented")
	}
	q := r.URL.Query()
	auth, err := decodeAuth(r.Header.Get("X-Registry-Auth"))
	if err != nil {
		return err
	}
	platform := q.Get("platform")
	if strings.HasPrefix(platform, "{") { // API 1.48+ may send an OCI platform as JSON
		var p struct {
			OS           string `json:"os"`
			Architecture string `json:"architecture"`
			Variant      string `json:"variant"`
		}
		if err := json.Unmarshal([]byte(platform), &p); err != nil {
			return errdefs.InvalidArgumentf("invalid platform %q: %v", platform, err)
		}
		platform = strings.TrimSuffix(p.OS+"/"+p.Architecture+"/"+p.Variant, "/")
	}
	return streamJSON(w, func(out io.Writer) error {
		return i.d.Pull(r.Context(), q.Get("fromImage"), q.Get("tag"), platform, auth, out)
	})
}

func (i *imageRouter) push(w http.ResponseWriter, r *http.Request, name string) error {
	if i.d == nil {
		return errdefs.NotImplementedf("push: not implemented")
	}
	auth, err := decodeAuth(r.Header.Get("X-Registry-Auth"))
	if err != nil {
		return err
	}
	tag := r.URL.Query().Get("tag")
	return streamJSON(w, func(out io.Writer) error {
		return i.d.Push(r.Context(), name, tag, auth, out)
	})
}

// auth is POST /auth (docker login).
func (i *imageRouter) auth(w http.ResponseWriter, r *http.Request) error {
	var ac registry.AuthConfig
	if err := router.DecodeJSON(r, &ac); err != nil {
		return err
	}
	if i.d == nil {
		return errdefs.NotImplementedf("login: not implemented")
	}
	body, err := i.d.Login(r.Context(), ac)
	if err != nil {
		return err
	}
	return router.WriteJSON(w, http.StatusOK, body)
}
