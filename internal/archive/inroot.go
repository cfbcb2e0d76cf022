package archive

import (
	"context"
	"fmt"
	"io"
	"runtime"

	"golang.org/x/sys/unix"
)

// WriteTarInRoot is WriteTar of a tree that processes may be changing
// while it is read (a running container's rootfs: docker export). The
// walk runs chrooted into dir on a thread of its own (unshare(CLONE_FS),
// so no other thread's root changes), which is thrown away after: a
// directory swapped for a symlink to "/" between its listing and its
// reading resolves inside the tree, never on the host (the
// CVE-2018-15664 class; moby walks in a chroot too, pkg/chrootarchive).
// Go starts new threads from a clean template thread when a locked one
// needs them, so the chroot never spreads.
func WriteTarInRoot(ctx context.Context, w io.Writer, dir string, opts TarOptions) error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread() // never unlocked: the thread dies with this goroutine
		if err := unix.Unshare(unix.CLONE_FS); err != nil {
			errc <- fmt.Errorf("tar %s: unshare(CLONE_FS): %w", dir, err)
			return
		}
		if err := unix.Chroot(dir); err != nil {
			errc <- fmt.Errorf("tar %s: chroot: %w", dir, err)
			return
		}
		if err := unix.Chdir("/"); err != nil {
			errc <- fmt.Errorf("tar %s: chdir: %w", dir, err)
			return
		}
		errc <- WriteTar(ctx, w, "/", opts)
	}()
	return <-errc
}
