// Package engine is the container lifecycle: it implements the
// containers and system routers' Backends on top of the image store, the
// layer store, the OCI spec builder and the monitor, with one file per
// verb.
//
// # Lifecycle
//
//	create   validate; resolve image; merge config; reserve name;
//	         mkdir containers/<id>; CreateRW layer; resolve mounts (get or
//	         create and reference each volume, expand --volumes-from and
//	         the image's VOLUMEs); copy image content into empty volumes;
//	         write record (created)
//	start    Mount rootfs; mkdir workdir; write hostname, hosts, resolv.conf;
//	         mount volumes (typed ones on first use);
//	         ocispec.Build; write <exec-root>/containers/<id>/config.json;
//	         monitor.Create; hand the task to attaches waiting for it;
//	         monitor.Start; record running; watch for the exit
//	exit     monitor.Wait -> record exited (code, OOM, time); monitor.Delete;
//	         Unmount; unmount volumes; remove the bundle; --rm removes the
//	         container and its anonymous volumes
//	remove   (force: SIGKILL and wait) record removing; RemoveRW; remove the
//	         bundle and containers/<id>; release volumes (-v: remove the
//	         anonymous ones); unregister
//
// A running container's cgroup is found from its init's /proc/<pid>/cgroup
// (cgroups.Load), whichever runtime placed it (berth's or runc, which both
// follow the spec's cgroupsPath) and whichever process's cgroup a relative
// path was resolved against:
//
//	pause    freezer (v1 freezer.state, v2 cgroup.freeze); record paused.
//	         stop, kill and rm -f signal first, then thaw a paused container
//	         so the signal is delivered (dockerd's order); it is running again
//	top      host ps with the client's args (-q <pids> when it mixes), lines
//	         kept by the cgroup's cgroup.procs
//	stats    cgroup files and /proc/stat read directly, no process spawned;
//	         stream=false samples twice a second apart for precpu_stats
//	update   dockerd's merge into HostConfig, written to the live cgroup
//	         (running or paused) before the record
//
// # docker cp
//
// The archive calls (HEAD, GET and PUT /containers/{id}/archive) see the
// container's filesystem as dockerd's openContainerFS does: the rootfs
// with the volumes and binds (--volumes-from ones too) and the generated
// hosts, hostname and resolv.conf mounted at their destinations, tmpfs
// mounts left out (a copy under one reads and writes the layer beneath,
// which the container does not see; dockerd's setupMounts skips them).
// Those mounts are made in a private view (containerfs.go), never on the
// host:
//
//	mount      the layer (a stopped container's, for the call); each
//	           volume through Volumes.WithMountedFor (a typed volume of a
//	           stopped container is mounted for the call), which publishes
//	           volume mount and unmount for the container, as dockerd does
//	           on every archive call
//	thread     a goroutine locks its thread for good; unshare(CLONE_NEWNS);
//	           mount --make-rslave / (nothing propagates to the host)
//	bind       per mount, parents first: the destination opened inside the
//	           rootfs by openat2(RESOLVE_IN_ROOT) (made if missing; a
//	           nested one resolves in the mount above it), the source by
//	           an O_PATH open (a volume subpath inside the volume);
//	           open_tree(OPEN_TREE_CLONE) of the source, made private (and
//	           read-only for :ro) by mount_setattr, move_mount between the
//	           descriptors (no path is looked up twice)
//	copy       every file access of the call runs on that thread, with
//	           the rootfs-scoped resolution it has without mounts
//	           (securejoin, openat2), so a symlink in a volume means the
//	           container's path, never the host's
//	close      the goroutine returns; the thread exits and its namespace,
//	           with every mount in it, goes with it
//
// Mapping container paths to the mount sources instead would need a
// resolver that crosses from the rootfs into a source and back at every
// symlink; the view keeps one resolver and the kernel's own mount
// crossing. A view costs ~0.6 ms per call (HEAD of a file: 0.2 -> 0.8
// ms median). A copy in under a read-only mount fails with dockerd's
// "mounted volume is marked read-only" (the mount holding the resolved
// directory decides, a --tmpfs being none to dockerd, else --read-only's
// "container rootfs is marked read-only"); entries a tar places under a nested read-only mount fail
// on the read-only bind (EROFS).
//
// Restart policies (always, unless-stopped, on-failure[:N]) follow
// dockerd's restart manager: after an exit the container is "restarting"
// for a backoff of 100 ms doubling to 1 min (reset after a 10 s run), then
// started again; docker stop and rm cancel the next restart, docker kill
// only marks the container manually stopped (which unless-stopped honours);
// Restore starts the containers the policy brings back after a daemon or
// host restart.
//
// # Builds
//
// BuildBackend (build.go) is the classic builder's view of the engine. A
// RUN step is an ordinary container (random name, listed by docker ps -a
// while it exists, as with dockerd): attached before start, output copied
// as it comes, its exit code returned; a cancelled build kills and removes
// it. Its commit drops the mount points (and /etc if only they touched
// it), so a step that changed nothing adds an empty layer. COPY and ADD
// write into work layers: writable layers named build-<hex> with no
// container record, committed by diffing them; Restore removes any a
// killed daemon left, like every layer without a record.
//
// Each step that acquires something registers its undo at once on a named
// error result, so a failed create or start leaves nothing behind.
//
// # Trees
//
//	<data-root>/containers/<id>/      the record and generated files (see package container)
//	<data-root>/engine-id             the engine's ID shown by docker info
//	<exec-root>/containers/<id>/      the OCI bundle: config.json (the runtime may keep its state here)
//
// Restore, at daemon start, loads the records and reconciles them with the
// monitor's list: running containers are watched again, those that exited
// while berthd was away get their exit recorded, and those the monitor does
// not know (the host rebooted) are marked exited with code 255, as dockerd
// does.
package engine
