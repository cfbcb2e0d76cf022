// Package buildctx is the build context of the classic builder: the tar a
// client sends with POST /build, unpacked safely into the build's own
// temp directory, with .dockerignore applied; and the file operations of
// COPY and ADD: resolving sources (wildcards, never outside their root),
// checksumming them for the build cache, and copying them into a rootfs
// with Docker's COPY/ADD rules.
//
// The signatures in this file are the contract the builder codes
// against; their bodies live in the other files of the package.
package buildctx

import (
	"context"
	"io"
	"os"
)

// Context is an unpacked build context.
type Context struct {
	// Root is the directory holding the context's files (under the
	// tmpDir given to Extract). Files excluded by .dockerignore are not
	// there, except the Dockerfile and .dockerignore themselves.
	Root string

	excluded func(rel string) bool // .dockerignore match (nil: none)
}

// Extract unpacks a context tar (plain, gzip, bzip2 or xz, detected from
// the bytes) into a new directory under tmpDir. dockerfile is the
// Dockerfile's path in the context ("" = "Dockerfile"). Entries whose
// path would escape the directory are refused (errdefs.InvalidArgument);
// on error nothing is left behind.
//
//	func Extract(ctx context.Context, r io.Reader, tmpDir, dockerfile string) (*Context, error)
var _ = func(ctx context.Context, r io.Reader, tmpDir, dockerfile string) (*Context, error) {
	return Extract(ctx, r, tmpDir, dockerfile)
}

// Close removes the unpacked context.
//	func (c *Context) Close() error

// Dockerfile reads the Dockerfile (path relative to Root; "" =
// "Dockerfile"). A missing one is errdefs.InvalidArgument
// "Cannot locate specified Dockerfile: <name>" (dockerd's message).
//	func (c *Context) Dockerfile(name string) ([]byte, error)

// Source is one resolved COPY/ADD source.
type Source struct {
	Root string      // the tree it is in (a context's Root or an image's rootfs)
	Rel  string      // its path relative to Root, cleaned, "/"-separated ("." = the root itself)
	Info os.FileInfo // Lstat of it
}

// Resolve expands one COPY/ADD source (wildcards as filepath.Match,
// inside root only; symlinks inside root are followed but never out of
// it). Errors (as dockerd's classic builder words them):
//   - a path leaving root: errdefs.InvalidArgument "forbidden path outside the build context: ../x ()"
//   - nothing matches / missing / excluded by .dockerignore (excluded !=
//     nil and excluded(rel)): errdefs.NotFound
//     "file not found in build context or excluded by .dockerignore: stat x: file does not exist"
//	func Resolve(root, src string, excluded func(rel string) bool) ([]Source, error)
//	func (c *Context) Resolve(src string) ([]Source, error)  // Resolve(c.Root, src, c.excluded)

// Checksum is the content digest ("sha256:...") of sources as COPY/ADD
// cache keys use it: paths (relative to each source), modes, link
// targets and file contents; not times or owners.
//	func Checksum(srcs []Source) (string, error)

// CopyOptions are COPY/ADD's flags, resolved.
type CopyOptions struct {
	UID, GID int          // owner of everything copied (classic COPY: 0:0 unless --chown)
	Mode     *os.FileMode // --chmod (nil = keep the source's)
	// Extract: ADD of a local tar (plain, gzip, bzip2, xz) unpacks it
	// into dest instead of copying the file.
	Extract bool
}

// Copy copies srcs into the rootfs at dest (absolute in the container;
// relative dest is taken from workdir), following Docker's rules:
// a directory source copies its contents; several sources or a dest
// ending in "/" need dest to be a directory (created, with parents, as
// needed: "When using COPY with more than one source file, the
// destination must be a directory and end with a /"); dest symlinks are
// resolved inside rootfs (securejoin), never out of it.
//	func Copy(rootfs, workdir string, srcs []Source, dest string, opts CopyOptions) error

// Chown resolves a --chown value ("user", "user:group", "1000:1000",
// names looked up in rootfs's /etc/passwd and /etc/group) to ids.
//	func Chown(rootfs, spec string) (uid, gid int, err error)

// Extract: see above. (A stub until the implementation lands.)
func Extract(ctx context.Context, r io.Reader, tmpDir, dockerfile string) (*Context, error) {
	return nil, io.ErrUnexpectedEOF
}
