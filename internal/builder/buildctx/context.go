package buildctx

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"

	securejoin "github.com/cyphar/filepath-securejoin"
	"github.com/moby/patternmatcher"

	"github.com/berth-dev/berth/internal/errdefs"
)

// DefaultDockerfile is the Dockerfile's name when the request names none.
const DefaultDockerfile = "Dockerfile"

// Context is an unpacked build context.
type Context struct {
	// Root is the directory holding the context's files (under the
	// tmpDir given to Extract). Files excluded by .dockerignore are not
	// there, except the Dockerfile and .dockerignore themselves.
	Root string

	excluded func(rel string) bool // .dockerignore match (nil: none)
	hashes   *hashCache            // file content digests, for Checksum
}

// Extract unpacks a context tar (plain, gzip, bzip2, xz or zstd, detected
// from the bytes) into a new directory under tmpDir. dockerfile is the
// Dockerfile's path in the context ("" = "Dockerfile"). A body that is
// not a tar at all is taken as the Dockerfile itself. Entries whose path
// would escape the directory are refused (errdefs.InvalidArgument); on
// error nothing is left behind.
func Extract(ctx context.Context, r io.Reader, tmpDir, dockerfile string) (*Context, error) {
	return ExtractMem(ctx, r, tmpDir, dockerfile, MemOptions{})
}

// MemOptions let a small context unpack in memory.
type MemOptions struct {
	// Dir is a directory on tmpfs ("" = none). The context starts
	// there; once its files add up to more than Max bytes (in 4 KiB
	// pages, as tmpfs counts them) it moves to
	// tmpDir (what was written is copied once, as it was: modes, times,
	// hardlinks, digests) and the rest streams there.
	Dir string
	Max int64
}

// ExtractMem is Extract starting in mem.Dir (see MemOptions): creating
// files there costs no disk inode allocation, which on a busy ext4 costs
// up to ~1 ms a file, most of a cached rebuild's time.
func ExtractMem(ctx context.Context, r io.Reader, tmpDir, dockerfile string, mem MemOptions) (_ *Context, retErr error) {
	dfRel, err := dockerfileRel(dockerfile)
	if err != nil {
		return nil, err
	}
	if tmpDir, err = filepath.Abs(tmpDir); err != nil {
		return nil, fmt.Errorf("extract build context: %w", err)
	}
	if err := os.MkdirAll(tmpDir, 0o700); err != nil {
		return nil, fmt.Errorf("extract build context: %w", err)
	}
	x := &extractor{
		dockerfile: dfRel,
		seen:       map[string]kind{},
		dirs:       map[string]dirAttrs{},
		hashes:     newHashCache(),
		diskDir:    tmpDir,
	}
	parent := tmpDir
	if mem.Dir != "" {
		if parent, err = filepath.Abs(mem.Dir); err != nil {
			return nil, fmt.Errorf("extract build context: %w", err)
		}
		x.inMem, x.memMax = true, mem.Max
	}
	if x.root, err = os.MkdirTemp(parent, "context-"); err != nil {
		return nil, fmt.Errorf("extract build context: %w", err)
	}
	defer func() {
		if retErr != nil {
			_ = removeTree(x.root)
		}
	}()
	if err := x.run(ctx, r); err != nil {
		return nil, err
	}
	root := x.root
	c := &Context{Root: root, hashes: x.hashes}
	if x.matcher != nil {
		c.excluded = keptButExcluded(x.matcher, dfRel)
	}
	return c, nil
}

// keptButExcluded is what of the unpacked tree COPY must not see: the
// Dockerfile and .dockerignore when .dockerignore lists them (dockerd
// removes just these two after reading the Dockerfile). Everything else
// .dockerignore excludes was never written; directories still on disk
// only hold kept ("!") files.
func keptButExcluded(pm *patternmatcher.PatternMatcher, dockerfile string) func(rel string) bool {
	hidden := map[string]bool{}
	for _, rel := range []string{dockerfile, dockerignore} {
		if m, _ := pm.MatchesOrParentMatches(rel); m {
			hidden[rel] = true
		}
	}
	if len(hidden) == 0 {
		return nil
	}
	return func(rel string) bool { return hidden[rel] }
}

// Close removes the unpacked context.
func (c *Context) Close() error {
	if c == nil || c.Root == "" {
		return nil
	}
	return removeTree(c.Root)
}

// removeTree removes dir even where the tar made a directory read-only
// (which stops an unprivileged daemon, and tests, from emptying it).
func removeTree(dir string) error {
	if err := os.RemoveAll(dir); err == nil || !errors.Is(err, os.ErrPermission) {
		return err
	}
	_ = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err == nil && d.IsDir() {
			_ = os.Chmod(p, 0o700)
		}
		return nil
	})
	return os.RemoveAll(dir)
}

// Dockerfile reads the Dockerfile (path relative to Root; "" =
// "Dockerfile"; symlinks followed inside Root). A missing one is
// errdefs.InvalidArgument "Cannot locate specified Dockerfile: <name>"
// (dockerd's message); for the default name, "dockerfile" is tried too,
// as dockerd does.
func (c *Context) Dockerfile(name string) ([]byte, error) {
	if name == "" {
		name = DefaultDockerfile
	}
	rel, err := dockerfileRel(name)
	if err != nil {
		return nil, err
	}
	b, err := readInRoot(c.Root, rel)
	if errors.Is(err, os.ErrNotExist) && name == DefaultDockerfile {
		b, err = readInRoot(c.Root, strings.ToLower(name))
	}
	if err != nil {
		if errors.Is(err, os.ErrNotExist) || errors.Is(err, errIsDir) {
			return nil, errdefs.InvalidArgumentf("Cannot locate specified Dockerfile: %s", name)
		}
		return nil, fmt.Errorf("read Dockerfile %s: %w", name, err)
	}
	return b, nil
}

var errIsDir = errors.New("is a directory")

func readInRoot(root, rel string) ([]byte, error) {
	p, err := securejoin.SecureJoin(root, rel)
	if err != nil {
		return nil, err
	}
	fi, err := os.Stat(p)
	if err != nil {
		return nil, err
	}
	if !fi.Mode().IsRegular() {
		return nil, errIsDir
	}
	return os.ReadFile(p)
}

// dockerfileRel is the Dockerfile's slash-separated path in the context.
// Like dockerd, a leading "/" means the context's root; climbing out of
// it is refused.
func dockerfileRel(name string) (string, error) {
	if name == "" {
		name = DefaultDockerfile
	}
	rel := path.Clean(strings.TrimLeft(filepath.ToSlash(name), "/"))
	if rel == "." || rel == ".." || strings.HasPrefix(rel, "../") || strings.IndexByte(rel, 0) >= 0 {
		return "", errdefs.InvalidArgumentf("the Dockerfile (%s) must be within the build context", name)
	}
	return rel, nil
}
