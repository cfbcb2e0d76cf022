package images

import (
	"net/http"
	"strings"

	"github.com/moby/moby/api/types/image"

	"github.com/berth-dev/berth/internal/apiserver/router"
	"github.com/berth-dev/berth/internal/apiserver/stream"
	"github.com/berth-dev/berth/internal/errdefs"
	"github.com/berth-dev/berth/internal/filters"
)

type imageRouter struct {
	b Backend
	d Distributor // nil: no pull, push or login
}

// NewRouter returns the /images routes served by b.
func NewRouter(b Backend) router.Router { return &imageRouter{b: b} }

// Image names contain slashes ("registry:5000/org/app"), and a ServeMux
// wildcard may only end a pattern, so /images/{name...}/json and friends
// are one pattern per method, dispatched on the last path segment.
func (i *imageRouter) Routes() []router.Route {
	return []router.Route{
		{Method: http.MethodPost, Path: "/images/create", Handler: i.create},
		{Method: http.MethodGet, Path: "/images/json", Handler: i.list},
		{Method: http.MethodGet, Path: "/images/get", Handler: i.saveMany},
		{Method: http.MethodPost, Path: "/images/load", Handler: i.load},
		{Method: http.MethodPost, Path: "/images/prune", Handler: i.prune},
		{Method: http.MethodGet, Path: "/images/{rest...}", Handler: i.get},
		{Method: http.MethodPost, Path: "/images/{rest...}", Handler: i.post},
		{Method: http.MethodDelete, Path: "/images/{name...}", Handler: i.remove},
		{Method: http.MethodPost, Path: "/auth", Handler: i.auth},
	}
}

var errPageNotFound = errdefs.NotFoundf("page not found")

// splitAction splits "org/app:1/json" into ("org/app:1", "json").
func splitAction(rest string) (name, action string) {
	k := strings.LastIndexByte(rest, '/')
	if k <= 0 {
		return "", ""
	}
	return rest[:k], rest[k+1:]
}

func (i *imageRouter) get(w http.ResponseWriter, r *http.Request) error {
	name, action := splitAction(r.PathValue("rest"))
	switch action {
	case "json":
		return i.inspect(w, r, name)
	case "history":
		return i.history(w, r, name)
	case "get":
		return i.save(w, r, []string{name})
	}
	return errPageNotFound
}

func (i *imageRouter) post(w http.ResponseWriter, r *http.Request) error {
	name, action := splitAction(r.PathValue("rest"))
	switch action {
	case "tag":
		return i.tag(w, r, name)
	case "push":
		return i.push(w, r, name)
	}
	return errPageNotFound
}

// create is POST /images/create. Only import (fromSrc=-: the body is a
// rootfs tar) is served so far; the response is the backend's JSON
// progress stream.
func (i *imageRouter) create(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	if q.Get("fromImage") != "" {
		return i.pull(w, r)
	}
	src := q.Get("fromSrc")
	switch src {
	case "":
		return errdefs.InvalidArgumentf("fromImage or fromSrc is required")
	case "-":
	default:
		return errdefs.NotImplementedf("import from URL %q: not implemented", src)
	}
	if err := checkImportPlatform(q.Get("platform")); err != nil {
		return err
	}
	w.Header().Set("Content-Type", "application/json")
	fw := stream.NewFlushWriter(w)
	if _, err := i.b.Import(r.Context(), r.Body, q.Get("repo"), q.Get("tag"), q["changes"], q.Get("message"), fw); err != nil {
		if !fw.Written() {
			return err
		}
		_ = stream.WriteError(fw, err)
		return err
	}
	fw.Flush() // a backend that wrote no progress still answers 200
	return nil
}

func (i *imageRouter) list(w http.ResponseWriter, r *http.Request) error {
	f, err := filters.Parse(r.URL.Query().Get("filters"))
	if err != nil {
		return err
	}
	list, err := i.b.List(r.Context(), ListOptions{
		All:     router.BoolValue(r, "all"),
		Filters: f,
		Digests: router.BoolValue(r, "digests"),
	})
	if err != nil {
		return err
	}
	if list == nil {
		list = []image.Summary{}
	}
	// Per API version, as dockerd shapes it.
	ctx := r.Context()
	for i := range list {
		im := &list[i]
		if !router.VersionAtLeast(ctx, "1.43") {
			if len(im.RepoTags) == 0 && len(im.RepoDigests) == 0 {
				im.RepoTags, im.RepoDigests = []string{"<none>:<none>"}, []string{"<none>@<none>"}
			}
		}
		if im.RepoTags == nil {
			im.RepoTags = []string{}
		}
		if im.RepoDigests == nil {
			im.RepoDigests = []string{}
		}
		if !router.VersionAtLeast(ctx, "1.48") {
			im.Descriptor = nil
		}
		if !router.VersionAtLeast(ctx, "1.51") {
			im.Containers = -1
		}
	}
	if !router.VersionAtLeast(ctx, "1.44") {
		out := make([]map[string]any, len(list))
		for i, im := range list {
			out[i] = map[string]any{"VirtualSize": im.Size}
		}
		return router.WriteJSONListWithFields(w, http.StatusOK, list, out)
	}
	return router.WriteJSON(w, http.StatusOK, list)
}

func (i *imageRouter) inspect(w http.ResponseWriter, r *http.Request, name string) error {
	resp, err := i.b.Inspect(r.Context(), name)
	if err != nil {
		return err
	}
	// The shape dockerd gives clients of API <= 1.51: empty lists as [],
	// no fields of later versions, and the fields 1.52 made optional.
	if resp.RepoTags == nil {
		resp.RepoTags = []string{}
	}
	if resp.RepoDigests == nil {
		resp.RepoDigests = []string{}
	}
	if !router.VersionAtLeast(r.Context(), "1.48") {
		resp.Descriptor = nil
	}
	resp.Identity = nil // API 1.53
	return router.WriteJSONWithFields(w, http.StatusOK, resp, map[string]any{
		"Parent":        "",
		"Comment":       resp.Comment,
		"DockerVersion": "",
		"Author":        resp.Author,
	})
}

func (i *imageRouter) history(w http.ResponseWriter, r *http.Request, name string) error {
	h, err := i.b.History(r.Context(), name)
	if err != nil {
		return err
	}
	if h == nil {
		h = []image.HistoryResponseItem{}
	}
	return router.WriteJSON(w, http.StatusOK, h)
}

func (i *imageRouter) tag(w http.ResponseWriter, r *http.Request, name string) error {
	q := r.URL.Query()
	if err := i.b.Tag(r.Context(), name, q.Get("repo"), q.Get("tag")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusCreated)
	return nil
}

func (i *imageRouter) remove(w http.ResponseWriter, r *http.Request) error {
	name := r.PathValue("name")
	if strings.TrimSpace(name) == "" {
		return errdefs.InvalidArgumentf("image name cannot be blank")
	}
	resp, err := i.b.Delete(r.Context(), name, router.BoolValue(r, "force"), !router.BoolValue(r, "noprune"))
	if err != nil {
		return err
	}
	if resp == nil {
		resp = []image.DeleteResponse{}
	}
	return router.WriteJSON(w, http.StatusOK, resp)
}
