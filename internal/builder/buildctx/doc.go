// Package buildctx is the build context of the classic builder: the tar a
// client sends with POST /build, unpacked safely into the build's own
// temp directory, with .dockerignore applied; and the file operations of
// COPY and ADD: resolving sources (wildcards, never outside their root),
// checksumming them for the build cache, and copying them into a rootfs
// with Docker's COPY/ADD rules.
//
// # The unpacked context
//
// Extract makes one directory per build under the tmpDir it is given:
//
//	<tmpDir>/
//	  context-<random>/        Context.Root, mode 0700, removed by Close
//	    Dockerfile             (or the name the request gives), always kept
//	    .dockerignore          always kept (read while extracting)
//	    <files and dirs>       as the tar has them: modes and mtimes kept,
//	                           owned by berthd (COPY sets owners itself)
//
// Each file's content sha256 is computed as it is written (dockerd's
// FromArchive does the same with tarsum) and kept in the Context's
// digest cache, keyed by path, size, times and inode: Checksum of an
// unchanged file reads nothing, so a cached rebuild's COPY costs no
// hashing after the stream ends.
//
// The tar may be plain, gzip, bzip2, xz or zstd (told apart by magic
// bytes; xz through the xz binary, as dockerd). A body that is not a tar
// at all is the Dockerfile itself. Device nodes and fifos are skipped.
// Of extended attributes only file capabilities (security.capability)
// are kept, here and by Copy, as dockerd's tar copies do.
//
// Safety of the unpacked tree: an entry with an absolute name or one that
// climbs out with ".." is refused (errdefs.InvalidArgument); no entry is
// ever written through a symlink or a file the tar made before (the
// extractor knows every path it made, so it never asks the filesystem to
// resolve one), and a hardlink may only point at a file the tar made.
//
// .dockerignore (moby/patternmatcher, Docker's rules, "!" exceptions):
// excluded entries are not written; an excluded entry written before
// .dockerignore came in the stream is removed when it comes. The
// Dockerfile and .dockerignore stay on disk even when listed, but then
// Resolve, Checksum and Copy treat them as absent, as dockerd does.
//
// # COPY and ADD
//
// Resolve turns one source into Sources (wildcards expand in lexical
// order; symlinks are followed inside the root only, with
// filepath-securejoin). Checksum digests Sources for the cache key.
// Copy writes them into a rootfs: the destination is resolved inside the
// rootfs (a symlink to "/" means the rootfs), files inside a copied
// directory never follow what is already at their place (a symlink there
// is replaced). Everything copied is owned by CopyOptions' UID:GID
// (0:0 for a plain COPY, --chown's owner), or, with PreserveOwner (COPY
// --from without --chown), by the owners the source tree has. Chown
// resolves --chown against the rootfs's /etc/passwd and /etc/group.
//
// What Copy makes (owners, modes, which directories, error texts) was
// compared side by side with dockerd 20.10's classic builder over
// COPY/ADD of files, directories, wildcards, symlinks, tars, --chown,
// WORKDIR-relative and symlinked destinations; it matches except that
// setuid/setgid bits survive (dockerd's chown after copying clears them,
// BuildKit keeps them). Where dockerd silently drops escaping entries of
// a context tar, Extract refuses the context. testdata/dockerd-diff.sh
// repeats the comparison.
package buildctx
