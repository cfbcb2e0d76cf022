package builder

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/moby/buildkit/frontend/dockerfile/instructions"
	"github.com/moby/buildkit/frontend/dockerfile/shell"

	"github.com/berth-dev/berth/internal/builder/buildctx"
	"github.com/berth-dev/berth/internal/errdefs"
)

// copyStep is a resolved COPY or ADD.
type copyStep struct {
	name    string // "COPY" or "ADD"
	text    string // the instruction, for the cache entry
	groups  []copyGroup
	dest    string
	chown   string
	chmod   string
	extract bool   // ADD: unpack local tars
	key     string // set when the step's cache key was probed already (COPY --from)
}

// copyGroup is sources copied with the same options.
type copyGroup struct {
	srcs    []buildctx.Source
	extract bool
	// keepOwner: COPY --from without --chown keeps the source's owners,
	// as dockerd's (its copy has no identity to impose then).
	keepOwner bool
}

func (bd *build) dispatchCopy(ctx context.Context, st *stage, c *instructions.CopyCommand) error {
	if c.Link || c.Parents || len(c.ExcludePatterns) > 0 {
		return errdefs.InvalidArgumentf("the --link, --parents and --exclude options require BuildKit. Refer to https://docs.docker.com/go/buildkit/ to learn how to build images with BuildKit enabled")
	}
	cs := copyStep{name: "COPY", text: c.String(), dest: c.DestPath, chown: c.Chown, chmod: c.Chmod}
	for _, src := range c.SourcePaths {
		if isURL(src) {
			return errdefs.InvalidArgumentf("COPY failed: source can't be a URL for COPY")
		}
	}
	var g copyGroup
	if c.From != "" {
		// --from expands with the stage's ENV and ARGs, as BuildKit does
		// (the classic builder took it literally)
		from, _, err := bd.lex.ProcessWord(c.From, shell.EnvsFromSlice(st.env()))
		if err != nil {
			return invalidf("%s", err)
		}
		if from == "" {
			return errdefs.InvalidArgumentf("invalid from flag value %s: empty after expansion", c.From)
		}
		id, err := bd.fromImageID(ctx, st, from)
		if err != nil {
			return err
		}
		// An image's content is fixed by its ID: the key needs no mount
		// and no checksum, so a cache hit costs neither.
		// ("owners kept": entries made before --from kept owners copied
		// as 0:0; their keys must not match.)
		keyText := fmt.Sprintf("COPY --from=%s %q --chown=%s --chmod=%s %q %q owners kept", id, c.SourcePaths, c.Chown, c.Chmod, c.DestPath, contentsText(c.SourceContents))
		cs.key = stepKey(st, keyText, "")
		if hit, err := bd.cache.probe(ctx, bd.out, st, cs.key, keyText); err != nil || hit {
			return err
		}
		root, err := bd.rootfs(ctx, id)
		if err != nil {
			return err
		}
		g.keepOwner = c.Chown == ""
		for _, src := range c.SourcePaths {
			s, err := buildctx.Resolve(root, src, nil)
			if err != nil {
				return fmt.Errorf("COPY failed: %w", err)
			}
			g.srcs = append(g.srcs, s...)
		}
	} else {
		for _, src := range c.SourcePaths {
			s, err := bd.bctx.Resolve(src)
			if err != nil {
				return fmt.Errorf("COPY failed: %w", err)
			}
			g.srcs = append(g.srcs, s...)
		}
	}
	cs.groups = append(cs.groups, g)
	if err := bd.heredocSources(&cs, c.SourceContents); err != nil {
		return err
	}
	return bd.performCopy(ctx, st, cs)
}

func (bd *build) dispatchAdd(ctx context.Context, st *stage, c *instructions.AddCommand) error {
	if c.Link || len(c.ExcludePatterns) > 0 || c.Checksum != "" || c.KeepGitDir != nil || c.Unpack != nil {
		return errdefs.InvalidArgumentf("the --link, --exclude, --checksum, --keep-git-dir and --unpack options require BuildKit. Refer to https://docs.docker.com/go/buildkit/ to learn how to build images with BuildKit enabled")
	}
	cs := copyStep{name: "ADD", text: c.String(), dest: c.DestPath, chown: c.Chown, chmod: c.Chmod}
	local := copyGroup{extract: true}
	var remote copyGroup
	for _, src := range c.SourcePaths {
		if isURL(src) {
			s, err := bd.download(ctx, src, c.DestPath)
			if err != nil {
				return fmt.Errorf("ADD failed: %w", err)
			}
			remote.srcs = append(remote.srcs, s)
			continue
		}
		s, err := bd.bctx.Resolve(src)
		if err != nil {
			return fmt.Errorf("ADD failed: %w", err)
		}
		local.srcs = append(local.srcs, s...)
	}
	cs.groups = append(cs.groups, local, remote)
	if err := bd.heredocSources(&cs, c.SourceContents); err != nil {
		return err
	}
	return bd.performCopy(ctx, st, cs)
}

// heredocSources writes COPY <<EOF bodies to files a copy can read.
func (bd *build) heredocSources(cs *copyStep, contents []instructions.SourceContent) error {
	if len(contents) == 0 {
		return nil
	}
	dir, err := os.MkdirTemp(bd.cfg.TmpDir, "heredoc-")
	if err != nil {
		return err
	}
	bd.undo = append(bd.undo, func() { os.RemoveAll(dir) })
	var g copyGroup
	for _, sc := range contents {
		name := path.Base(path.Clean("/" + sc.Path))
		if name == "/" || name == "." {
			return errdefs.InvalidArgumentf("%s failed: invalid heredoc name %q", cs.name, sc.Path)
		}
		if err := os.WriteFile(filepath.Join(dir, name), []byte(sc.Data), 0o644); err != nil {
			return err
		}
		s, err := buildctx.Resolve(dir, name, nil)
		if err != nil {
			return err
		}
		g.srcs = append(g.srcs, s...)
	}
	cs.groups = append(cs.groups, g)
	return nil
}

// performCopy checksums the sources, probes the cache, and on a miss
// copies into a work layer on the stage's image and commits it. The
// history entry is dockerd's: "<shell> #(nop) COPY [--chown=u ]file:<hex> in <dest> ".
func (bd *build) performCopy(ctx context.Context, st *stage, cs copyStep) error {
	createdBy, mode, err := copyHistory(st, cs)
	if err != nil {
		return err
	}
	key := cs.key
	if key == "" {
		key = stepKey(st, createdBy, "")
		if hit, err := bd.cache.probe(ctx, bd.out, st, key, createdBy); err != nil || hit {
			return err
		}
	}

	parent := st.id
	wl, err := bd.cfg.Backend.NewWorkLayer(ctx, st.id)
	if err != nil {
		return err
	}
	defer wl.Release(ctx)
	uid, gid := 0, 0
	if cs.chown != "" {
		uid, gid, err = buildctx.Chown(wl.Path(), cs.chown)
		if err != nil {
			return fmt.Errorf("unable to convert uid/gid chown string to host mapping: %w", err)
		}
	}
	for _, g := range cs.groups {
		if len(g.srcs) == 0 {
			continue
		}
		opts := buildctx.CopyOptions{UID: uid, GID: gid, Mode: mode, Extract: g.extract, PreserveOwner: g.keepOwner}
		if err := buildctx.Copy(wl.Path(), st.config.WorkingDir, g.srcs, cs.dest, opts); err != nil {
			return fmt.Errorf("failed to copy files: %w", err)
		}
	}
	id, err := wl.Commit(ctx, bd.commitRequest(st, createdBy))
	if err != nil {
		return err
	}
	bd.madeImage(id)
	st.id = id
	return bd.cache.put(ctx, key, id, CacheEntry{Parent: parent, Description: cs.text})
}

// copyHistory checksums a COPY/ADD's sources and returns its history
// text and --chmod mode.
func copyHistory(st *stage, cs copyStep) (string, *os.FileMode, error) {
	var srcs []buildctx.Source
	for _, g := range cs.groups {
		srcs = append(srcs, g.srcs...)
	}
	n := len(srcs)
	hashes, err := checksums(srcs)
	if err != nil {
		return "", nil, fmt.Errorf("%s failed: %w", cs.name, err)
	}
	if n == 0 {
		return "", nil, errdefs.InvalidArgumentf("%s failed: no source files were specified", cs.name)
	}
	if n > 1 && !strings.HasSuffix(cs.dest, "/") {
		return "", nil, errdefs.InvalidArgumentf("When using %s with more than one source file, the destination must be a directory and end with a /", cs.name)
	}
	srcHash := hashes[0]
	if n > 1 {
		sum := sha256.Sum256([]byte(strings.Join(hashes, ",")))
		srcHash = "multi:" + hex.EncodeToString(sum[:])
	}
	var mode *os.FileMode
	if cs.chmod != "" {
		m, err := strconv.ParseUint(cs.chmod, 8, 32)
		if err != nil || m > 0o7777 {
			return "", nil, errdefs.InvalidArgumentf("invalid chmod parameter: %s", cs.chmod)
		}
		fm := os.FileMode(m)
		mode = &fm
	}
	flags := ""
	if cs.chown != "" {
		flags += "--chown=" + cs.chown + " "
	}
	if cs.chmod != "" {
		flags += "--chmod=" + cs.chmod + " "
	}
	createdBy := strings.Join(append(shellOf(&st.config), fmt.Sprintf("#(nop) %s %s%s in %s ", cs.name, flags, srcHash, cs.dest)), " ")
	return createdBy, mode, nil
}

// checksums digests each source ("file:<hex>" or "dir:<hex>", as
// dockerd names them), several at once: a wildcard COPY can name many.
func checksums(srcs []buildctx.Source) ([]string, error) {
	out := make([]string, len(srcs))
	errs := make([]error, len(srcs))
	sem := make(chan struct{}, runtime.GOMAXPROCS(0))
	var wg sync.WaitGroup
	for i, s := range srcs {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			h, err := buildctx.Checksum([]buildctx.Source{s})
			kind := "file:"
			if s.Info != nil && s.Info.IsDir() {
				kind = "dir:"
			}
			out[i], errs[i] = kind+strings.TrimPrefix(h, "sha256:"), err
		}()
	}
	wg.Wait()
	return out, errors.Join(errs...)
}

func contentsText(cs []instructions.SourceContent) []string {
	var out []string
	for _, c := range cs {
		out = append(out, c.Path+"\x00"+c.Data)
	}
	return out
}

func isURL(s string) bool {
	return strings.HasPrefix(s, "http://") || strings.HasPrefix(s, "https://")
}

// download fetches an ADD URL into the build's temp space (mode 0600,
// mtime from Last-Modified, never unpacked), as dockerd does.
func (bd *build) download(ctx context.Context, src, dest string) (buildctx.Source, error) {
	u, err := url.Parse(src)
	if err != nil {
		return buildctx.Source{}, errdefs.InvalidArgumentf("%s", err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, src, nil)
	if err != nil {
		return buildctx.Source{}, errdefs.InvalidArgumentf("%s", err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return buildctx.Source{}, errdefs.With(errdefs.InvalidArgument, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode >= 400 {
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<10))
		return buildctx.Source{}, errdefs.InvalidArgumentf("failed to GET %s with status %s: %s", src, resp.Status, body)
	}
	name := downloadName(u.Path, resp)
	if name == "" {
		if strings.HasSuffix(dest, "/") {
			return buildctx.Source{}, errdefs.InvalidArgumentf("cannot determine filename for source %s", src)
		}
		name = "__unnamed__"
	}
	dir, err := os.MkdirTemp(bd.cfg.TmpDir, "remote-")
	if err != nil {
		return buildctx.Source{}, err
	}
	bd.undo = append(bd.undo, func() { os.RemoveAll(dir) })
	p := filepath.Join(dir, name)
	f, err := os.OpenFile(p, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return buildctx.Source{}, err
	}
	if _, err := io.Copy(f, resp.Body); err != nil {
		f.Close()
		return buildctx.Source{}, fmt.Errorf("download %s: %w", src, err)
	}
	if err := f.Close(); err != nil {
		return buildctx.Source{}, err
	}
	if lm, err := http.ParseTime(resp.Header.Get("Last-Modified")); err == nil {
		_ = os.Chtimes(p, lm, lm)
	} else {
		_ = os.Chtimes(p, time.Unix(0, 0), time.Unix(0, 0))
	}
	srcs, err := buildctx.Resolve(dir, name, nil)
	if err != nil {
		return buildctx.Source{}, err
	}
	return srcs[0], nil
}

// downloadName is dockerd's getFilenameForDownload: the URL path's base,
// else Content-Disposition's filename.
func downloadName(p string, resp *http.Response) string {
	if p != "" && !strings.HasSuffix(p, "/") {
		if b := path.Base(p); b != "" && b != "/" && b != "." {
			return b
		}
	}
	if cd := resp.Header.Get("Content-Disposition"); cd != "" {
		if _, params, err := mime.ParseMediaType(cd); err == nil {
			if f := params["filename"]; f != "" && !strings.HasSuffix(f, "/") {
				if b := filepath.Base(f); b != "" && b != "/" && b != "." {
					return b
				}
			}
		}
	}
	return ""
}
