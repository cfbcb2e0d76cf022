package cli

import (
	"archive/tar"
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/moby/go-archive"
	"github.com/moby/go-archive/compression"
	"github.com/moby/moby/client/pkg/stringid"
	"github.com/moby/patternmatcher"
	"github.com/moby/patternmatcher/ignorefile"
)

// The build context, prepared client-side as the docker CLI does for the
// classic builder: a directory becomes a tar with .dockerignore applied
// (the Dockerfile and .dockerignore are always sent: the daemon needs them
// and drops them itself); "-" is a tar (maybe compressed) or a bare
// Dockerfile; an http(s) URL is downloaded and read like "-". A
// Dockerfile from stdin (-f -) or from outside the context directory is
// added to the tar under a random name, which .dockerignore then hides
// from COPY.

const defaultDockerfileName = "Dockerfile"

// buildContext is what POST /build sends.
type buildContext struct {
	body       io.ReadCloser // the context tar
	dockerfile string        // the Dockerfile's path inside it ("" = the daemon's default)
}

// prepareBuildContext turns the command line's context argument and -f
// into the tar to send. in is the CLI's stdin.
func prepareBuildContext(in io.Reader, contextArg, dockerfile string) (*buildContext, error) {
	var dockerfileCtx io.Reader // a Dockerfile to add to the tar
	if dockerfile == "-" {
		if contextArg == "-" {
			return nil, errors.New("invalid argument: can't use stdin for both build context and dockerfile")
		}
		dockerfileCtx = in
	}
	var (
		bc  *buildContext
		err error
	)
	switch {
	case contextArg == "-":
		bc, err = contextFromReader(io.NopCloser(in), dockerfile)
	case isLocalDir(contextArg):
		bc, err = contextFromDir(contextArg, dockerfile, &dockerfileCtx)
	case strings.HasPrefix(contextArg, "http://") || strings.HasPrefix(contextArg, "https://"):
		bc, err = contextFromURL(contextArg, dockerfile)
	default:
		return nil, fmt.Errorf("unable to prepare context: path %q not found", contextArg)
	}
	if err != nil {
		return nil, err
	}
	if dockerfileCtx != nil {
		bc.body, bc.dockerfile, err = addDockerfileToContext(dockerfileCtx, bc.body)
		if err != nil {
			return nil, err
		}
	}
	return bc, nil
}

func isLocalDir(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

// contextFromReader reads a tar (plain or compressed) or a bare Dockerfile.
func contextFromReader(r io.ReadCloser, dockerfile string) (*buildContext, error) {
	buf := bufio.NewReaderSize(r, 64<<10)
	magic, err := buf.Peek(1024)
	if err != nil && err != io.EOF {
		return nil, fmt.Errorf("unable to prepare context: failed to peek context header from STDIN: %v", err)
	}
	if isArchive(magic) {
		return &buildContext{body: readCloser{buf, r.Close}, dockerfile: dockerfile}, nil
	}
	if dockerfile == "-" {
		return nil, errors.New("unable to prepare context: build context is not an archive")
	}
	if dockerfile != "" {
		return nil, errors.New("unable to prepare context: ambiguous Dockerfile source: both stdin and flag correspond to Dockerfiles")
	}
	content, err := io.ReadAll(buf)
	r.Close()
	if err != nil {
		return nil, err
	}
	var tb bytes.Buffer
	tw := tar.NewWriter(&tb)
	now := time.Now()
	if err := tw.WriteHeader(&tar.Header{Name: defaultDockerfileName, Mode: 0o644, Size: int64(len(content)),
		ModTime: now, Typeflag: tar.TypeReg, Format: tar.FormatPAX}); err != nil {
		return nil, err
	}
	if _, err := tw.Write(content); err != nil {
		return nil, err
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	return &buildContext{body: io.NopCloser(&tb), dockerfile: defaultDockerfileName}, nil
}

// isArchive checks for a compression magic or a readable tar header.
func isArchive(header []byte) bool {
	if compression.Detect(header) != compression.None {
		return true
	}
	_, err := tar.NewReader(bytes.NewReader(header)).Next()
	return err == nil
}

type readCloser struct {
	io.Reader
	close func() error
}

func (r readCloser) Close() error { return r.close() }

// contextFromURL downloads a remote tar or Dockerfile (no git: berth's CLI
// does not clone repositories).
func contextFromURL(url, dockerfile string) (*buildContext, error) {
	resp, err := http.Get(url) //nolint:gosec // the user's own URL
	if err != nil {
		return nil, fmt.Errorf("unable to prepare context: unable to download remote context %s: %v", url, err)
	}
	if resp.StatusCode >= http.StatusBadRequest {
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		resp.Body.Close()
		return nil, fmt.Errorf("unable to prepare context: unable to download remote context %s: failed to GET %s with status %s: %s",
			url, url, resp.Status, bytes.TrimSpace(body))
	}
	return contextFromReader(resp.Body, dockerfile)
}

// contextFromDir tars dir. A Dockerfile outside dir is opened and left in
// *dockerfileCtx for the caller to add.
func contextFromDir(dir, dockerfile string, dockerfileCtx *io.Reader) (*buildContext, error) {
	absDir, err := resolveContextDir(dir)
	if err != nil {
		return nil, fmt.Errorf("unable to prepare context: %w", err)
	}
	if dockerfile != "" && dockerfile != "-" {
		// -f is relative to the current directory, not the context.
		if dockerfile, err = filepath.Abs(dockerfile); err != nil {
			return nil, fmt.Errorf("unable to prepare context: unable to get absolute path to Dockerfile: %v", err)
		}
	}
	rel, err := dockerfileRelPath(absDir, dockerfile)
	if err != nil {
		return nil, fmt.Errorf("unable to prepare context: %w", err)
	}
	fromStdin := dockerfile == "-"
	if strings.HasPrefix(rel, ".."+string(filepath.Separator)) {
		f, err := os.Open(dockerfile)
		if err != nil {
			return nil, fmt.Errorf("unable to open Dockerfile: %v", err)
		}
		// Read now: the tar streams later, and a file handle would leak.
		content, err := io.ReadAll(f)
		f.Close()
		if err != nil {
			return nil, fmt.Errorf("unable to open Dockerfile: %v", err)
		}
		*dockerfileCtx = bytes.NewReader(content)
		fromStdin = true // not in the tar: nothing to keep from .dockerignore
	}
	excludes, err := readDockerignore(absDir)
	if err != nil {
		return nil, err
	}
	if err := validateContextDir(absDir, excludes); err != nil {
		return nil, fmt.Errorf("error checking context: %w", err)
	}
	rel = filepath.ToSlash(rel)
	excludes = keepBuildFiles(excludes, rel, fromStdin)
	body, err := archive.TarWithOptions(absDir, &archive.TarOptions{
		ExcludePatterns: excludes,
		ChownOpts:       &archive.ChownOpts{UID: 0, GID: 0},
	})
	if err != nil {
		return nil, err
	}
	return &buildContext{body: body, dockerfile: rel}, nil
}

func resolveContextDir(dir string) (string, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return "", fmt.Errorf("unable to get absolute context directory of given context directory %q: %v", dir, err)
	}
	if abs, err = filepath.EvalSymlinks(abs); err != nil {
		return "", fmt.Errorf("unable to evaluate symlinks in context path: %v", err)
	}
	st, err := os.Lstat(abs)
	if err != nil {
		return "", fmt.Errorf("unable to stat context directory %q: %v", abs, err)
	}
	if !st.IsDir() {
		return "", fmt.Errorf("context must be a directory: %s", abs)
	}
	return abs, nil
}

// dockerfileRelPath is the Dockerfile's path relative to the context
// directory ("-" stays "-"); Dockerfile, else dockerfile, by default.
func dockerfileRelPath(absDir, dockerfile string) (string, error) {
	if dockerfile == "-" {
		return dockerfile, nil
	}
	abs := dockerfile
	if abs == "" {
		abs = filepath.Join(absDir, defaultDockerfileName)
		if _, err := os.Lstat(abs); os.IsNotExist(err) {
			alt := filepath.Join(absDir, strings.ToLower(defaultDockerfileName))
			if _, err := os.Lstat(alt); err == nil {
				abs = alt
			}
		}
	}
	if !filepath.IsAbs(abs) {
		abs = filepath.Join(absDir, abs)
	}
	resolved, err := filepath.EvalSymlinks(abs)
	if err != nil {
		return "", fmt.Errorf("unable to evaluate symlinks in Dockerfile path: %v", err)
	}
	rel, err := filepath.Rel(absDir, resolved)
	if err != nil {
		return "", fmt.Errorf("unable to get relative Dockerfile path: %v", err)
	}
	return rel, nil
}

func readDockerignore(dir string) ([]string, error) {
	f, err := os.Open(filepath.Join(dir, ".dockerignore"))
	if os.IsNotExist(err) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return ignorefile.ReadAll(f)
}

// keepBuildFiles un-excludes .dockerignore and the Dockerfile: the daemon
// reads them from the context (and hides them from COPY itself).
func keepBuildFiles(excludes []string, dockerfile string, dockerfileFromStdin bool) []string {
	if drop, _ := patternmatcher.Matches(".dockerignore", excludes); drop {
		excludes = append(excludes, "!.dockerignore")
	}
	if drop, _ := patternmatcher.Matches(dockerfile, excludes); drop && !dockerfileFromStdin {
		excludes = append(excludes, "!"+dockerfile)
	}
	return excludes
}

// validateContextDir fails early on files the tar could not read, as the
// docker CLI does, instead of sending half a context.
func validateContextDir(root string, excludes []string) error {
	pm, err := patternmatcher.New(excludes)
	if err != nil {
		return err
	}
	return filepath.Walk(root, func(p string, fi os.FileInfo, err error) error {
		if err != nil {
			if os.IsPermission(err) {
				return fmt.Errorf("can't stat '%s'", p)
			}
			if os.IsNotExist(err) {
				return fmt.Errorf("file ('%s') not found or excluded by .dockerignore", p)
			}
			return err
		}
		rel, err := filepath.Rel(root, p)
		if err != nil {
			return err
		}
		if rel = filepath.Clean(rel); rel != "." {
			if skip, err := pm.MatchesOrParentMatches(rel); err != nil {
				return err
			} else if skip {
				if fi.IsDir() {
					return filepath.SkipDir
				}
				return nil
			}
		}
		if fi.Mode()&(os.ModeSymlink|os.ModeNamedPipe) != 0 || fi.IsDir() {
			return nil
		}
		f, err := os.Open(p)
		if err != nil && os.IsPermission(err) {
			return fmt.Errorf("no permission to read from '%s'", p)
		}
		if f != nil {
			f.Close()
		}
		return nil
	})
}

// addDockerfileToContext adds the Dockerfile read from r to the context
// tar under a random name, and hides that name with .dockerignore, as the
// docker CLI does for -f - and for a Dockerfile outside the context.
func addDockerfileToContext(r io.Reader, body io.ReadCloser) (io.ReadCloser, string, error) {
	content, err := io.ReadAll(r)
	if err != nil {
		return nil, "", err
	}
	now := time.Now()
	name := ".dockerfile." + stringid.GenerateRandomID()[:20]
	return archive.ReplaceFileTarWrapper(body, map[string]archive.TarModifierFunc{
		name: func(string, *tar.Header, io.Reader) (*tar.Header, []byte, error) {
			return &tar.Header{Name: name, Mode: 0o600, ModTime: now, Typeflag: tar.TypeReg, AccessTime: now, ChangeTime: now}, content, nil
		},
		".dockerignore": func(_ string, h *tar.Header, old io.Reader) (*tar.Header, []byte, error) {
			if h == nil {
				h = &tar.Header{Name: ".dockerignore", Mode: 0o600, ModTime: now, Typeflag: tar.TypeReg, AccessTime: now, ChangeTime: now}
			}
			var b bytes.Buffer
			if old != nil {
				if _, err := b.ReadFrom(old); err != nil {
					return nil, nil, err
				}
			} else {
				b.WriteString(".dockerignore")
			}
			b.WriteString("\n" + name + "\n")
			return h, b.Bytes(), nil
		},
	}), name, nil
}
