// Package network provides berthd's networks: the none, host and bridge
// drivers, IPAM, container network namespaces and veth pairs, and port
// publishing through a userland proxy.
//
// A Service owns every network and every container sandbox (the network
// namespace a container runs in, with its endpoints and published ports).
// Networks are records the user manages; sandboxes exist from a
// container's start to its exit.
//
// On disk (each file written atomically: temp file, fsync, rename):
//
//	<data-root>/network/
//	  networks/<id>.json      a Network record (the predefined ones too)
//	  sandboxes/<ctr-id>.json a Sandbox: netns path, endpoints, ports
//	<exec-root>/netns/<ctr-id>  bind mount of the container's net namespace
//
// IPAM state is not stored on its own: it is rebuilt from the sandbox
// records at start, so it cannot disagree with them. A sandbox record is
// written before the kernel objects it names are made and removed after
// they are gone, so after a crash (berthd kill -9) Restore finds every
// veth, netns file and port it may have left: those of running
// containers are adopted (their proxies reopened), the rest removed.
//
// Kernel objects have predictable names: bridge "berth0" for the default
// network, "br-<id[:12]>" for user networks, host-side veths
// "vb<ctr-id[:7]><n>" (n: endpoint ordinal), so that cleanup can find them.
//
// The host's network configuration outside these objects is never
// changed, except net.ipv4.ip_forward when --ip-forward is set.
package network
