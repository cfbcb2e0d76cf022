package buildctx

import (
	"os"

	"github.com/berth-dev/berth/internal/errdefs"
)

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
func Copy(rootfs, workdir string, srcs []Source, dest string, opts CopyOptions) error {
	return errdefs.NotImplementedf("copy: not implemented yet")
}

// Chown resolves a --chown value ("user", "user:group", "1000:1000",
// names looked up in rootfs's /etc/passwd and /etc/group) to ids.
func Chown(rootfs, spec string) (uid, gid int, err error) {
	return 0, 0, errdefs.NotImplementedf("chown: not implemented yet")
}
