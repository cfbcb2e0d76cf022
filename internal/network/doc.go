// Package network provides berthd's networks: the none, host and bridge
// drivers, IPAM, container network namespaces and veth pairs, and port
// publishing through a userland proxy.
//
// IPv6 follows dockerd 28: a bridge network has one IPv4 subnet and, with
// EnableIPv6 (network create --ipv6; --ipv6 for the default network), one
// IPv6 subnet, given or taken from the address pools, where a ULA /48
// derived from the host id stands in when none of the configured pools
// is IPv6. Addresses of both families are handed out in order (dockerd no
// longer derives IPv6 ones from MAC addresses). Published ports given
// without a host address are bound on 0.0.0.0 and [::]; the [::] half
// reaches a container without IPv6 through the proxy alone.
//
// A Service owns every network and every container sandbox (the network
// namespace a container runs in, with its endpoints and published ports).
// Networks are records the user manages; sandboxes exist from a
// container's start to its exit.
//
// On disk (each file written atomically: temp file, fsync, rename):
//
//	<data-root>/network/
//	  host-id                 seed of the IPv6 ULA pool (made once)
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
// "vb<ctr-id[:7]><n>" (n: endpoint ordinal), nftables tables "ip berth"
// and "ip6 berth" (rewritten whole from the records in one batch, so
// Restore after a kill -9 leaves exactly what the records name), so that
// cleanup can find them.
//
// The host's network configuration outside these objects is never
// changed, except what dockerd changes too: net.ipv4.ip_forward when
// --ip-forward is set, and net.ipv6.conf.all.forwarding when an IPv6
// network is made with --ip-forward and --ip6tables. berth sets no chain
// policy (dockerd 28 sets the FORWARD policy to DROP; berth does not).
// IPv6 bridges get disable_ipv6=0 and accept_ra=0, as dockerd sets them,
// and accept_dad=0 (see ensureBridge). Inside containers, an interface
// given only an IPv4 address gets disable_ipv6=1, as dockerd 26.0.2+.
package network
