package distribution

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/berth-dev/berth/internal/errdefs"
)

// Manifest media types this client accepts.
const (
	MediaTypeDockerManifest     = "application/vnd.docker.distribution.manifest.v2+json"
	MediaTypeDockerManifestList = "application/vnd.docker.distribution.manifest.list.v2+json"
	MediaTypeDockerConfig       = "application/vnd.docker.container.image.v1+json"
	MediaTypeDockerLayer        = "application/vnd.docker.image.rootfs.diff.tar.gzip"
	MediaTypeDockerForeignLayer = "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip"
)

var manifestAccept = strings.Join([]string{
	ocispec.MediaTypeImageManifest, MediaTypeDockerManifest,
	ocispec.MediaTypeImageIndex, MediaTypeDockerManifestList,
}, ", ")

// maxManifestSize bounds what is read of a manifest (moby's limit).
const maxManifestSize = 4 << 20

// Repository is a client for one repository on one endpoint.
type Repository struct {
	ep   *Endpoint
	path string
	auth *authorizer
}

// Repository returns a client for repository path, asking for push
// access too if push.
func (ep *Endpoint) Repository(path string, creds Credentials, push bool) *Repository {
	scope := "repository:" + path + ":pull"
	if push {
		scope += ",push"
	}
	return &Repository{ep: ep, path: path, auth: &authorizer{client: ep.client, creds: creds, scope: scope}}
}

func (r *Repository) url(p string) string {
	return r.ep.URL.String() + "/v2/" + r.path + p
}

// do sends a request, answering one authentication challenge. body, if
// not nil, is opened for each attempt.
func (r *Repository) do(ctx context.Context, method, u string, hdr http.Header, body func() (io.ReadCloser, int64, error)) (*http.Response, error) {
	return doAuth(ctx, r.ep.client, r.auth, method, u, hdr, body)
}

func doAuth(ctx context.Context, c *http.Client, a *authorizer, method, u string, hdr http.Header, body func() (io.ReadCloser, int64, error)) (*http.Response, error) {
	for attempt := 0; ; attempt++ {
		req, err := http.NewRequestWithContext(ctx, method, u, nil)
		if err != nil {
			return nil, err
		}
		for k, v := range hdr {
			req.Header[k] = v
		}
		req.Header.Set("User-Agent", "berth")
		if body != nil {
			rc, n, err := body()
			if err != nil {
				return nil, err
			}
			req.Body, req.ContentLength = rc, n
		}
		if h := a.current(); h != "" {
			req.Header.Set("Authorization", h)
		}
		resp, err := c.Do(req)
		if err != nil {
			return nil, err
		}
		if resp.StatusCode != http.StatusUnauthorized || attempt > 0 {
			return resp, nil
		}
		ch := resp.Header.Get("WWW-Authenticate")
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
		resp.Body.Close()
		if err := a.answer(ctx, ch); err != nil {
			return nil, err
		}
	}
}

// registryError turns an error response into an error of the right class,
// with the registry's code and message ("manifest unknown: manifest unknown").
func registryError(resp *http.Response, what string) error {
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	var er struct {
		Errors []struct {
			Code    string `json:"code"`
			Message string `json:"message"`
		} `json:"errors"`
	}
	msg := strings.TrimSpace(string(b))
	if json.Unmarshal(b, &er) == nil && len(er.Errors) > 0 {
		var parts []string
		for _, e := range er.Errors {
			parts = append(parts, strings.ToLower(strings.ReplaceAll(e.Code, "_", " "))+": "+e.Message)
		}
		msg = strings.Join(parts, ", ")
	}
	if msg == "" {
		msg = resp.Status
	}
	err := fmt.Errorf("%s: %s", what, msg)
	switch resp.StatusCode {
	case http.StatusUnauthorized:
		return errdefs.With(errdefs.Unauthorized, err)
	case http.StatusForbidden:
		return errdefs.With(errdefs.Forbidden, err)
	case http.StatusNotFound:
		return errdefs.With(errdefs.NotFound, err)
	case http.StatusBadRequest:
		return errdefs.With(errdefs.InvalidArgument, err)
	}
	return err
}

// Ping checks that credentials are accepted at /v2/ (docker login).
func (ep *Endpoint) Ping(ctx context.Context, creds Credentials) error {
	a := &authorizer{client: ep.client, creds: creds}
	resp, err := doAuth(ctx, ep.client, a, http.MethodGet, ep.URL.String()+"/v2/", nil, nil)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode == http.StatusUnauthorized {
		return errdefs.Unauthorizedf("unauthorized: incorrect username or password")
	}
	if resp.StatusCode != http.StatusOK {
		return registryError(resp, "login")
	}
	return nil
}

// Manifest is a fetched manifest.
type Manifest struct {
	MediaType string
	Body      []byte
	Digest    digest.Digest
}

// GetManifest fetches the manifest of tag or digest ref. A digest is
// verified against the bytes.
func (r *Repository) GetManifest(ctx context.Context, ref string) (Manifest, error) {
	hdr := http.Header{"Accept": {manifestAccept}}
	resp, err := r.do(ctx, http.MethodGet, r.url("/manifests/"+ref), hdr, nil)
	if err != nil {
		return Manifest{}, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return Manifest{}, registryError(resp, "manifest")
	}
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxManifestSize+1))
	if err != nil {
		return Manifest{}, err
	}
	if len(b) > maxManifestSize {
		return Manifest{}, fmt.Errorf("manifest %s is larger than %d bytes", ref, maxManifestSize)
	}
	m := Manifest{MediaType: resp.Header.Get("Content-Type"), Body: b, Digest: digest.FromBytes(b)}
	if d, err := digest.Parse(ref); err == nil && d != m.Digest {
		return Manifest{}, fmt.Errorf("manifest verification failed for digest %s", d)
	}
	if i := strings.IndexByte(m.MediaType, ';'); i >= 0 {
		m.MediaType = strings.TrimSpace(m.MediaType[:i])
	}
	var probe struct {
		MediaType string `json:"mediaType"`
	}
	if json.Unmarshal(b, &probe) == nil && probe.MediaType != "" {
		m.MediaType = probe.MediaType
	}
	return m, nil
}

// PutManifest uploads a manifest under ref (a tag or its digest).
func (r *Repository) PutManifest(ctx context.Context, ref, mediaType string, body []byte) error {
	hdr := http.Header{"Content-Type": {mediaType}}
	resp, err := r.do(ctx, http.MethodPut, r.url("/manifests/"+ref), hdr, bytesBody(body))
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusCreated && resp.StatusCode != http.StatusOK && resp.StatusCode != http.StatusAccepted {
		return registryError(resp, "put manifest")
	}
	return nil
}

func bytesBody(b []byte) func() (io.ReadCloser, int64, error) {
	return func() (io.ReadCloser, int64, error) {
		return io.NopCloser(strings.NewReader(string(b))), int64(len(b)), nil
	}
}

// OpenBlob reads blob d from byte offset (a Range request; the registry
// may ignore it, in which case start is 0). size is the blob's full size
// when known, else -1.
func (r *Repository) OpenBlob(ctx context.Context, d digest.Digest, offset int64) (rc io.ReadCloser, start, size int64, err error) {
	hdr := http.Header{}
	if offset > 0 {
		hdr.Set("Range", "bytes="+strconv.FormatInt(offset, 10)+"-")
	}
	resp, err := r.do(ctx, http.MethodGet, r.url("/blobs/"+d.String()), hdr, nil)
	if err != nil {
		return nil, 0, 0, err
	}
	switch resp.StatusCode {
	case http.StatusOK:
		return resp.Body, 0, resp.ContentLength, nil
	case http.StatusPartialContent:
		size = -1
		if cr := resp.Header.Get("Content-Range"); cr != "" {
			if i := strings.LastIndexByte(cr, '/'); i >= 0 {
				if n, err := strconv.ParseInt(cr[i+1:], 10, 64); err == nil {
					size = n
				}
			}
		}
		return resp.Body, offset, size, nil
	case http.StatusRequestedRangeNotSatisfiable:
		resp.Body.Close()
		return r.OpenBlob(ctx, d, 0)
	}
	defer resp.Body.Close()
	return nil, 0, 0, registryError(resp, "blob "+d.String())
}

// BlobExists tells whether the repository has blob d (HEAD).
func (r *Repository) BlobExists(ctx context.Context, d digest.Digest) (bool, error) {
	resp, err := r.do(ctx, http.MethodHead, r.url("/blobs/"+d.String()), nil, nil)
	if err != nil {
		return false, err
	}
	resp.Body.Close()
	switch resp.StatusCode {
	case http.StatusOK:
		return true, nil
	case http.StatusNotFound:
		return false, nil
	}
	return false, registryError(resp, "blob "+d.String())
}

// UploadBlob uploads blob d of size bytes monolithically: POST to start
// the upload, PUT the bytes with the digest. open is called per attempt.
func (r *Repository) UploadBlob(ctx context.Context, d digest.Digest, size int64, open func() (io.ReadCloser, error)) error {
	resp, err := r.do(ctx, http.MethodPost, r.url("/blobs/uploads/"), nil, nil)
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusAccepted {
		return registryError(resp, "start blob upload")
	}
	loc, err := r.location(resp)
	if err != nil {
		return err
	}
	q := loc.Query()
	q.Set("digest", d.String())
	loc.RawQuery = q.Encode()
	hdr := http.Header{"Content-Type": {"application/octet-stream"}}
	resp, err = r.do(ctx, http.MethodPut, loc.String(), hdr, func() (io.ReadCloser, int64, error) {
		rc, err := open()
		return rc, size, err
	})
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusCreated && resp.StatusCode != http.StatusNoContent && resp.StatusCode != http.StatusAccepted {
		return registryError(resp, "upload blob "+d.String())
	}
	return nil
}

// location resolves an upload's Location header against the endpoint.
func (r *Repository) location(resp *http.Response) (*url.URL, error) {
	l := resp.Header.Get("Location")
	if l == "" {
		return nil, errors.New("blob upload: registry sent no Location")
	}
	u, err := url.Parse(l)
	if err != nil {
		return nil, fmt.Errorf("blob upload: bad Location %q: %w", l, err)
	}
	return r.ep.URL.ResolveReference(u), nil
}

// Tags lists the repository's tags (GET /v2/<name>/tags/list, following
// the Link header's next pages).
func (r *Repository) Tags(ctx context.Context) ([]string, error) {
	var tags []string
	u := r.url("/tags/list")
	for page := 0; u != "" && page < 100; page++ {
		resp, err := r.do(ctx, http.MethodGet, u, nil, nil)
		if err != nil {
			return nil, err
		}
		if resp.StatusCode != http.StatusOK {
			err := registryError(resp, "tags")
			resp.Body.Close()
			return nil, err
		}
		var body struct {
			Tags []string `json:"tags"`
		}
		err = json.NewDecoder(io.LimitReader(resp.Body, maxManifestSize)).Decode(&body)
		resp.Body.Close()
		if err != nil {
			return nil, fmt.Errorf("tags: %w", err)
		}
		tags = append(tags, body.Tags...)
		u = ""
		if l := resp.Header.Get("Link"); l != "" {
			if s, e := strings.IndexByte(l, '<'), strings.IndexByte(l, '>'); s >= 0 && e > s {
				if next, err := url.Parse(l[s+1 : e]); err == nil {
					u = r.ep.URL.ResolveReference(next).String()
				}
			}
		}
	}
	return tags, nil
}
