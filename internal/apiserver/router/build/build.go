package build

import (
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"strings"

	"github.com/distribution/reference"
	"github.com/moby/moby/api/types/build"
	"github.com/moby/moby/api/types/container"

	"github.com/berth-dev/berth/internal/apiserver/router"
	"github.com/berth-dev/berth/internal/errdefs"
	"github.com/berth-dev/berth/internal/filters"
)

type buildRouter struct {
	b Backend
	p CachePruner
}

// NewRouter returns the build routes. They are always served: with a nil
// Backend POST /build answers 501, with a nil CachePruner POST
// /build/prune reports nothing deleted (docker system prune calls it).
func NewRouter(b Backend, p CachePruner) router.Router { return &buildRouter{b: b, p: p} }

func (br *buildRouter) Routes() []router.Route {
	return []router.Route{
		{Method: http.MethodPost, Path: "/build", Handler: br.build},
		{Method: http.MethodPost, Path: "/build/prune", Handler: br.prune},
		{Method: http.MethodPost, Path: "/build/cancel", Handler: cancel},
	}
}

// build is POST /build.
func (br *buildRouter) build(w http.ResponseWriter, r *http.Request) error {
	opts, err := decodeOptions(r)
	if err != nil {
		return err
	}
	if br.b == nil {
		return errdefs.NotImplementedf("build is not implemented")
	}
	w.Header().Set("Content-Type", "application/json")
	// The build streams its output while it still reads the context.
	_ = http.NewResponseController(w).EnableFullDuplex()
	out := newOutput(w, opts.Quiet, router.VersionAtLeast(r.Context(), "1.30"))
	ctx, cancel := router.StreamContext(r) // a dropped client cancels the build
	defer cancel()
	id, err := br.b.Build(ctx, r.Body, opts, out)
	if err != nil {
		return out.fail(err)
	}
	return out.done(id)
}

// decodeOptions reads /build's query as dockerd's build router does;
// everything refused here is refused before the build starts.
func decodeOptions(r *http.Request) (Options, error) {
	q := r.URL.Query()
	var opts Options
	opts.Dockerfile = q.Get("dockerfile")
	opts.Quiet = router.BoolValue(r, "q")
	opts.NoCache = router.BoolValue(r, "nocache")
	opts.ForceRemove = router.BoolValue(r, "forcerm")
	opts.Pull = router.BoolValue(r, "pull")
	opts.Remove = opts.ForceRemove || q.Get("rm") == "" || router.BoolValue(r, "rm")
	opts.Target = q.Get("target")

	hc := &opts.HostConfig
	for key, dst := range map[string]*int64{
		"memory": &hc.Memory, "memswap": &hc.MemorySwap, "cpushares": &hc.CPUShares,
		"cpuperiod": &hc.CPUPeriod, "cpuquota": &hc.CPUQuota, "shmsize": &hc.ShmSize,
	} {
		if s := q.Get(key); s != "" {
			n, err := strconv.ParseInt(s, 10, 64)
			if err != nil {
				return opts, errdefs.InvalidArgumentf("invalid value for %s: %q: not an integer", key, s)
			}
			*dst = n
		}
	}
	hc.CpusetCpus = q.Get("cpusetcpus")
	hc.CpusetMems = q.Get("cpusetmems")
	hc.CgroupParent = q.Get("cgroupparent")
	hc.NetworkMode = container.NetworkMode(q.Get("networkmode"))
	hc.ExtraHosts = q["extrahosts"]
	if len(q["securityopt"]) > 0 {
		return opts, errdefs.InvalidArgumentf("security options are not supported on linux")
	}
	if iso := container.Isolation(q.Get("isolation")); iso != "" {
		if !iso.IsValid() {
			return opts, errdefs.InvalidArgumentf("unsupported isolation: %q", iso)
		}
		hc.Isolation = iso
	}
	if err := decodeJSON(q.Get("ulimits"), &hc.Ulimits, "error reading ulimit settings"); err != nil {
		return opts, err
	}
	if err := decodeJSON(q.Get("buildargs"), &opts.BuildArgs, "error reading build args"); err != nil {
		return opts, err
	}
	if err := decodeJSON(q.Get("labels"), &opts.Labels, "error reading labels"); err != nil {
		return opts, err
	}
	if err := decodeJSON(q.Get("cachefrom"), &opts.CacheFrom, "error reading cache-from"); err != nil {
		return opts, err
	}
	if router.VersionAtLeast(r.Context(), "1.32") {
		opts.Platform = q.Get("platform")
	}
	if router.VersionAtLeast(r.Context(), "1.40") {
		// BuildKit exporters: the classic builder has none, so only
		// checked for form (as dockerd does) and ignored.
		var outputs []struct {
			Type  string
			Attrs map[string]string
		}
		if err := decodeJSON(q.Get("outputs"), &outputs, "invalid outputs specified"); err != nil {
			return opts, err
		}
	}

	tags, err := SanitizeTags(q["t"])
	if err != nil {
		return opts, err
	}
	opts.Tags = tags

	switch v := q.Get("version"); v {
	case "", string(build.BuilderV1):
	case string(build.BuilderBuildKit):
		// The docker CLI's words when a daemon cannot do BuildKit; berth
		// answers Builder-Version: 1 on /_ping, so the CLI uses the
		// classic builder unless told otherwise.
		return opts, errdefs.InvalidArgumentf("buildkit not supported by daemon")
	default:
		return opts, errdefs.InvalidArgumentf("invalid version %q", v)
	}
	if router.BoolValue(r, "squash") {
		return opts, errdefs.InvalidArgumentf("squash is only supported with experimental mode")
	}
	if err := checkRemote(q.Get("remote")); err != nil {
		return opts, err
	}
	return opts, nil
}

// decodeJSON decodes a JSON-valued query parameter ("" leaves dst as is).
func decodeJSON(s string, dst any, what string) error {
	if s == "" {
		return nil
	}
	if err := json.Unmarshal([]byte(s), dst); err != nil {
		return errdefs.InvalidArgumentf("%s: %v", what, err)
	}
	return nil
}

// SanitizeTags checks the t values as dockerd does (sanitizeRepoAndTags)
// and returns them normalised ("name:tag", familiar form), without
// duplicates. The builder checks its Options.Tags with it too.
func SanitizeTags(in []string) ([]string, error) {
	var out []string
	seen := map[string]bool{}
	for _, t := range in {
		if t == "" {
			continue
		}
		ref, err := reference.ParseNormalizedNamed(t)
		if err != nil {
			return nil, errdefs.With(errdefs.InvalidArgument, err)
		}
		if _, ok := ref.(reference.Canonical); ok {
			return nil, errdefs.InvalidArgumentf("build tag cannot contain a digest")
		}
		s := reference.FamiliarString(reference.TagNameOnly(ref))
		if !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	return out, nil
}

// checkRemote refuses a remote context: berth builds only the context
// sent in the request body.
func checkRemote(remote string) error {
	switch {
	case remote == "":
		return nil
	case remote == "client-session":
		return errdefs.InvalidArgumentf("experimental session with v1 builder is no longer supported, use builder version v2 (BuildKit) instead")
	case isURL(remote):
		return errdefs.NotImplementedf("build from remote context %s: not supported (berth does not download build contexts); send the context in the request body", remote)
	default:
		return errdefs.InvalidArgumentf("remoteURL (%s) could not be recognized as URL", remote)
	}
}

// isURL reports what dockerd's urlutil calls a URL or a Git URL.
func isURL(s string) bool {
	for _, p := range []string{"http://", "https://", "git://", "git@", "github.com/"} {
		if strings.HasPrefix(s, p) {
			return true
		}
	}
	return false
}

// cancel is POST /build/cancel: classic builds end when their client
// disconnects, so, as dockerd for them, there is nothing to do.
func cancel(w http.ResponseWriter, r *http.Request) error {
	if r.URL.Query().Get("id") == "" {
		return errdefs.InvalidArgumentf("build ID not provided")
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	return nil
}

// prune is POST /build/prune.
func (br *buildRouter) prune(w http.ResponseWriter, r *http.Request) error {
	f, err := filters.Parse(r.URL.Query().Get("filters"))
	if err != nil {
		return err
	}
	opts := PruneOptions{All: router.BoolValue(r, "all"), Filters: f}
	bytesOf := func(key string) (int64, error) {
		s := r.URL.Query().Get(key)
		if s == "" {
			return 0, nil
		}
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return 0, errdefs.InvalidArgumentf("%s is in bytes and expects an integer, got %v", key, s)
		}
		return n, nil
	}
	if router.VersionAtLeast(r.Context(), "1.48") {
		if opts.ReservedSpace, err = bytesOf("reserved-space"); err != nil {
			return err
		}
		if opts.ReservedSpace == 0 {
			if opts.ReservedSpace, err = bytesOf("keep-storage"); err != nil {
				return err
			}
		}
		if opts.MaxUsedSpace, err = bytesOf("max-used-space"); err != nil {
			return err
		}
		if opts.MinFreeSpace, err = bytesOf("min-free-space"); err != nil {
			return err
		}
	} else if opts.ReservedSpace, err = bytesOf("keep-storage"); err != nil {
		return err
	}
	rep := build.CachePruneReport{}
	if br.p != nil {
		if rep, err = br.p.Prune(r.Context(), opts); err != nil {
			return err
		}
	}
	if rep.CachesDeleted == nil {
		rep.CachesDeleted = []string{}
	}
	return router.WriteJSON(w, http.StatusOK, rep)
}

// stepCode returns a failed RUN's exit code (0: not a step error).
func stepCode(err error) int {
	var se *StepError
	if errors.As(err, &se) {
		return se.Code
	}
	return 0
}
