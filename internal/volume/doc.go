// Package volume keeps named and anonymous volumes: the Service the
// volumes router and the engine call, the Driver seam under it, and the
// local driver (the only one), with volumetest as the conformance suite
// every driver passes.
//
// # Tree
//
//	<data-root>/volumes/
//	  <name>/                  one volume; <name> matches [a-zA-Z0-9][a-zA-Z0-9_.-]+
//	    volume.json            {"Name","CreatedAt","Labels","Options"}: written to a
//	                           temp file, fsynced, renamed; the directory fsynced
//	    _data/                 the contents (Mountpoint); a mount point when the
//	                           volume has a type= option and is in use
//	  .creating-<rand>/        a create in progress: filled, then renamed to <name>
//	  .removing-<name>-<rand>/ a removal in progress: renamed first, deleted after
//
// A create makes the whole volume under .creating-*, then renames it into
// place, so a crash leaves either no volume or a complete one. A removal
// unmounts _data, renames the volume to .removing-*, then deletes it.
// Opening the driver finishes both: leftover .creating-* and .removing-*
// directories are deleted (after unmounting anything mounted inside them:
// a bind-backed volume's _data never loses its host directory's files to
// a removal). A volume directory without volume.json (made by hand, or
// by an older layout) is adopted as a plain local volume.
//
// # Local driver options (docker volume create --opt)
//
//	type=tmpfs device=tmpfs o=size=4m       a tmpfs, mounted on first use
//	type=none o=bind device=/host/dir       a host directory bound on _data
//	type=ext4|xfs|btrfs device=/dev/...     a block device
//	o=...                                   mount(8)-style flags and data
//	uid=N gid=N                             owner of a fresh volume's root
//	                                        (berth's; moby#21259)
//
// type and device go together, as in dockerd. Volumes with a type are
// mounted when their first user mounts them and unmounted when the last
// one lets go; users are counted in memory by container id, and the
// engine re-registers the running ones when berthd restarts.
//
// # References
//
// The Service remembers which containers refer to each volume (running
// or not): such a volume cannot be removed ("volume is in use") or
// pruned. References live in memory; the engine adds them at create and
// again for every container it loads at start.
//
// Anonymous volumes carry the label com.docker.volume.anonymous, as in
// dockerd since API 1.42: prune removes only those unless all=true.
//
// # Events
//
// create and destroy (attribute driver), mount (driver, container,
// destination, read/write, propagation) and unmount (driver, container)
// go to the events bus as dockerd publishes them. The copy of image
// content into a new volume mounts it through WithMounted, which
// publishes nothing, as dockerd's copy at create does not; docker cp's
// view of a container mounts its volumes through WithMountedFor, which
// publishes mount and unmount for the container, as dockerd's
// openContainerFS does (setupMounts, UnmountVolumes) on every archive
// call.
package volume
