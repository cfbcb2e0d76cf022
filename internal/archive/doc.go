// Package archive applies layer tars onto directories.
//
// Apply reads a layer (plain tar or gzip, told apart by the gzip magic
// bytes), writes every entry inside a root directory and returns the
// layer's diff ID: the sha256 of the uncompressed tar stream, computed
// while applying.
//
// Path handling, for every entry name and hardlink target:
//
//   - the name is cleaned; a name that climbs out of the root ("../x",
//     "a/../../x") is rejected with errdefs.InvalidArgument; an absolute
//     name is taken relative to the root;
//   - the entry's parent directory is resolved with
//     github.com/cyphar/filepath-securejoin, so symlinks already in the
//     tree are followed only as if the root were "/" (a link to "/etc" means
//     <root>/etc, a loop is an error); the entry's last component is never
//     followed: whatever is there is replaced;
//   - a symlink's target is stored as-is (it is link content, never used
//     while writing); a hardlink's target must resolve inside the root.
//
// Whiteouts (OCI image spec, layer changesets) come in two output forms:
//
//	WhiteoutDelete   ".wh.name" deletes name from the tree being written
//	                 (a full copy of the parent, as the vfs driver keeps);
//	                 ".wh..wh..opq" empties its directory of everything this
//	                 layer did not itself write.
//	WhiteoutOverlay  ".wh.name" becomes a 0:0 character device "name", and
//	                 ".wh..wh..opq" sets trusted.overlay.opaque=y on its
//	                 directory: overlayfs's native forms, for an overlay
//	                 upper (diff) directory.
//
// Ownership (lchown), modes, mtimes and xattrs are applied as recorded;
// xattrs the filesystem refuses (ENOTSUP, EPERM) are skipped. Device nodes
// and fifos are created (real images carry /dev entries); they can never
// be used to write outside the root because no path ever escapes it.
//
// WriteTar is the way back: a directory (an overlay upper dir, with its
// whiteouts turned into OCI ones, or any rootfs) as a deterministic layer
// tar, for commit and export.
//
// A Split, given to Apply, records the tar minus regular files' contents;
// WriteSplit writes the identical tar again from the applied files, so a
// layer saved or pushed keeps its diff ID whatever tar writer made it.
//
// docker cp uses WhiteoutNone (".wh." names are plain files), Owner and
// NoOverwriteDirNonDir on the way in, and WriteTarRebased on the way out,
// which opens file contents in the rootfs's scope (openat2
// RESOLVE_IN_ROOT). Changes (two full trees) and OverlayChanges (an upper
// dir's whiteouts read directly) list docker diff's A/C/D.
//
// Errors in the input (a truncated or non-tar stream, an escaping name, an
// unsupported entry type) are errdefs.InvalidArgument and name the
// operation: "apply layer: archive/tar: invalid tar header".
package archive
