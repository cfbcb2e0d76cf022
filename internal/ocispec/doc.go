// Package ocispec describes a container as an OCI runtime spec, with the
// defaults dockerd gives a `docker run` of the same flags.
//
// It is the "describe" half of starting a container: Build turns the
// container's (image-merged) config and host config into a *specs.Spec,
// and HostnameFile, HostsFile and ResolvConf compute the contents of the
// files the engine writes and Build bind-mounts. Nothing here mounts,
// forks or writes; the only reads are the container's /etc/passwd and
// /etc/group (resolved inside the rootfs, symlinks included, with
// securejoin), the host's /dev for --privileged, /proc/sys for the
// default network sysctls and /proc/self/status when the caller gives no
// capability bounding set; each of these can be injected through Input.
//
// What Build produces, in dockerd's terms (moby daemon/oci_linux.go and
// daemon/pkg/oci/defaults.go):
//
//	process   args = Entrypoint + Cmd; env = PATH, HOSTNAME, TERM (tty), the
//	          config's, HOME (from passwd); cwd; user uid/gid + groups from
//	          the rootfs's /etc/group + --group-add; Docker's 14 default
//	          capabilities (CapEff 00000000a80425fb) in bounding, effective
//	          and permitted, tweaked by --cap-add/--cap-drop; everything the
//	          daemon holds for --privileged; rlimits from --ulimit only
//	mounts    /proc /dev /dev/pts /sys /sys/fs/cgroup /dev/mqueue /dev/shm,
//	          then binds, volumes, the generated files and tmpfs mounts,
//	          parents before children
//	linux     namespaces (mount, network, uts, pid, ipc, cgroup when
//	          private), masked and read-only paths, device cgroup rules,
//	          resources, sysctls, cgroupsPath berth/<id> (relative: nested
//	          under the runtime's own cgroup) or <cgroup-parent>/<id>
//
// The engine's calls, in order:
//
//	create  Validate(raw config, host config)      dockerd's checks and messages
//	        ValidateMerged(image-merged config)    "no command specified", ...
//	        DropUnsupported(&hc.Resources, caps)   dockerd's warn-and-drop of limits
//	                                               the host cannot enforce
//	        AdaptHostConfig(hc, cgroupV2)          dockerd's create-time defaults,
//	                                               stored so inspect shows them
//	start   HostnameFile, HostsFile, ResolvConf    contents of the generated files
//	        Build(Input)                           the spec; Input.Opts add the
//	                                               seccomp profile and the like
//	exec    ExecProcess(ExecInput)                 the exec's process, from the
//	                                               container's spec
//
// Errors are classified with internal/errdefs: InvalidArgument for what
// the user asked wrongly, NotImplemented for what berth cannot do yet
// (volumes the engine did not resolve, container:<id> pid/ipc modes,
// --gpus, per-device blkio limits).
//
// The differential subpackage runs built specs under berth's runtime and
// runc and compares what the container sees.
package ocispec
