package network

import (
	"crypto/rand"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"runtime"
	"strings"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// newNetNS makes a fresh network namespace and bind-mounts it on path
// (created empty). The namespace lives as long as the mount.
func newNetNS(path string) (err error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_EXCL|os.O_RDONLY, 0o444)
	if err != nil {
		return fmt.Errorf("create netns file: %w", err)
	}
	f.Close()
	defer func() {
		if err != nil {
			os.Remove(path)
		}
	}()
	return onNSThread(func() error {
		if err := unix.Unshare(unix.CLONE_NEWNET); err != nil {
			return fmt.Errorf("unshare net namespace: %w", err)
		}
		return nil
	}, func() error {
		src := fmt.Sprintf("/proc/self/task/%d/ns/net", unix.Gettid())
		if err := unix.Mount(src, path, "", unix.MS_BIND, ""); err != nil {
			return fmt.Errorf("bind mount netns on %s: %w", path, err)
		}
		return nil
	})
}

// removeNetNS unmounts and removes a netns file; a missing one is fine.
func removeNetNS(path string) error {
	if err := unix.Unmount(path, unix.MNT_DETACH); err != nil && !errors.Is(err, unix.EINVAL) && !errors.Is(err, unix.ENOENT) {
		return fmt.Errorf("unmount netns %s: %w", path, err)
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("remove netns %s: %w", path, err)
	}
	return nil
}

// inNS runs fn on a thread inside namespace ns (for /proc/sys/net,
// which shows the namespace of whoever opens it).
func inNS(ns netns.NsHandle, fn func() error) error {
	return onNSThread(func() error {
		if err := netns.Set(ns); err != nil {
			return fmt.Errorf("enter netns: %w", err)
		}
		return nil
	}, fn)
}

// onNSThread runs enter, which moves the thread to another network
// namespace, then fn, on a locked thread of its own. The thread goes
// back to its namespace before it is unlocked; if it cannot (or enter
// failed), it stays locked and the runtime ends it with the goroutine (a
// wedged main thread would hold the namespace).
func onNSThread(enter, fn func() error) error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		orig, err := netns.Get()
		if err != nil {
			errc <- fmt.Errorf("open own netns: %w", err)
			return
		}
		defer orig.Close()
		if err := enter(); err != nil {
			errc <- err
			return
		}
		ferr := fn()
		if netns.Set(orig) == nil {
			runtime.UnlockOSThread()
		}
		errc <- ferr
	}()
	return <-errc
}

// inNetNS opens a netlink handle inside the namespace at path.
func inNetNS(path string) (*netlink.Handle, netns.NsHandle, error) {
	ns, err := netns.GetFromPath(path)
	if err != nil {
		return nil, 0, fmt.Errorf("open netns %s: %w", path, err)
	}
	h, err := netlink.NewHandleAt(ns)
	if err != nil {
		ns.Close()
		return nil, 0, fmt.Errorf("netlink in netns %s: %w", path, err)
	}
	return h, ns, nil
}

func ipNet(a netip.Addr, bits int) *net.IPNet {
	return &net.IPNet{IP: net.IP(a.AsSlice()), Mask: net.CIDRMask(bits, a.BitLen())}
}

// ensureBridge makes (or adopts) n's bridge with its gateway addresses,
// up. An IPv6 network's bridge gets IPv6 turned on (disable_ipv6=0) and
// router advertisements off (accept_ra=0), as dockerd sets them, and no
// duplicate address detection (accept_dad=0): berth owns the link, and
// while the bridge's link-local address is tentative (1-2 s after its
// first port comes up) the first packets routed onto it wait.
func ensureBridge(n *Network) error {
	name := n.Bridge
	link, err := netlink.LinkByName(name)
	if err != nil {
		var nf netlink.LinkNotFoundError
		if !errors.As(err, &nf) {
			return fmt.Errorf("find bridge %s: %w", name, err)
		}
		la := netlink.NewLinkAttrs()
		la.Name = name
		if n.MTU > 0 {
			la.MTU = n.MTU
		}
		if err := netlink.LinkAdd(&netlink.Bridge{LinkAttrs: la}); err != nil {
			return fmt.Errorf("create bridge %s: %w", name, err)
		}
		if link, err = netlink.LinkByName(name); err != nil {
			return fmt.Errorf("find bridge %s: %w", name, err)
		}
	} else if link.Type() != "bridge" {
		return fmt.Errorf("interface %s exists and is not a bridge", name)
	}
	if err := ensureAddr(link, n.Gateway, n.Subnet.Bits(), netlink.FAMILY_V4); err != nil {
		return err
	}
	if n.EnableIPv6 && n.Gateway6.IsValid() {
		for _, kv := range [][2]string{{"disable_ipv6", "0"}, {"accept_ra", "0"}, {"accept_dad", "0"}} {
			if err := writeSysctl("/proc/sys/net/ipv6/conf/"+name+"/"+kv[0], kv[1]); err != nil {
				return err
			}
		}
		if err := ensureAddr(link, n.Gateway6, n.Subnet6.Bits(), netlink.FAMILY_V6); err != nil {
			return err
		}
	}
	if err := netlink.LinkSetUp(link); err != nil {
		return fmt.Errorf("set %s up: %w", name, err)
	}
	return nil
}

// ensureAddr gives link address gw/bits unless it has it. IPv6
// addresses skip duplicate address detection (berth owns the subnet), so
// they are usable at once rather than after a second or two.
func ensureAddr(link netlink.Link, gw netip.Addr, bits, fam int) error {
	name := link.Attrs().Name
	addrs, err := netlink.AddrList(link, fam)
	if err != nil {
		return fmt.Errorf("addresses of %s: %w", name, err)
	}
	for _, a := range addrs {
		if ip, ok := netip.AddrFromSlice(a.IP); ok && ip.Unmap() == gw {
			return nil
		}
	}
	na := &netlink.Addr{IPNet: ipNet(gw, bits)}
	if gw.Is6() {
		na.Flags = unix.IFA_F_NODAD
	}
	if err := netlink.AddrAdd(link, na); err != nil {
		return fmt.Errorf("add %s to %s: %w", gw, name, err)
	}
	return nil
}

func writeSysctl(path, v string) error {
	if b, err := os.ReadFile(path); err == nil && strings.TrimSpace(string(b)) == v {
		return nil
	}
	if err := os.WriteFile(path, []byte(v+"\n"), 0o644); err != nil {
		return fmt.Errorf("set %s: %w", path, err)
	}
	return nil
}

// deleteLink removes an interface; a missing one is fine.
func deleteLink(name string) error {
	link, err := netlink.LinkByName(name)
	if err != nil {
		var nf netlink.LinkNotFoundError
		if errors.As(err, &nf) {
			return nil
		}
		return fmt.Errorf("find %s: %w", name, err)
	}
	if err := netlink.LinkDel(link); err != nil {
		return fmt.Errorf("delete %s: %w", name, err)
	}
	return nil
}

// vethPlan is one endpoint's interface: host side on a bridge, the
// container side named ifName in the sandbox namespace.
type vethPlan struct {
	HostName, IfName, Bridge string
	MTU                      int
	MAC                      net.HardwareAddr
	Addr                     netip.Addr
	Bits                     int
	Gateway                  netip.Addr // default route via it when DefaultRoute
	DefaultRoute             bool
	// Addr6/Bits6/Gateway6: the IPv6 address and route, when valid.
	Addr6    netip.Addr
	Bits6    int
	Gateway6 netip.Addr
}

// createVeth makes the pair with its peer already in the namespace and
// configures the container side.
func createVeth(nsPath string, p vethPlan) (err error) {
	br, err := netlink.LinkByName(p.Bridge)
	if err != nil {
		return fmt.Errorf("find bridge %s: %w", p.Bridge, err)
	}
	h, ns, err := inNetNS(nsPath)
	if err != nil {
		return err
	}
	defer ns.Close()
	defer h.Delete()
	la := netlink.NewLinkAttrs()
	la.Name = p.HostName
	la.MasterIndex = br.Attrs().Index
	if p.MTU > 0 {
		la.MTU = p.MTU
	}
	veth := &netlink.Veth{LinkAttrs: la, PeerName: p.IfName, PeerNamespace: netlink.NsFd(int(ns)), PeerHardwareAddr: p.MAC}
	if p.MTU > 0 {
		veth.PeerMTU = uint32(p.MTU)
	}
	err = netlink.LinkAdd(veth)
	if errors.Is(err, unix.EEXIST) {
		// Left by a namespace the kernel has not finished destroying.
		if derr := deleteLink(p.HostName); derr == nil {
			err = netlink.LinkAdd(veth)
		}
	}
	if err != nil {
		return fmt.Errorf("create veth %s: %w", p.HostName, err)
	}
	defer func() {
		if err != nil {
			deleteLink(p.HostName)
		}
	}()
	host, err := netlink.LinkByName(p.HostName)
	if err != nil {
		return fmt.Errorf("find veth %s: %w", p.HostName, err)
	}
	if err := netlink.LinkSetUp(host); err != nil {
		return fmt.Errorf("set %s up: %w", p.HostName, err)
	}
	peer, err := h.LinkByName(p.IfName)
	if err != nil {
		return fmt.Errorf("find %s in container: %w", p.IfName, err)
	}
	if err := h.AddrAdd(peer, &netlink.Addr{IPNet: ipNet(p.Addr, p.Bits)}); err != nil {
		return fmt.Errorf("add %s to %s: %w", p.Addr, p.IfName, err)
	}
	if p.Addr6.IsValid() {
		if err := h.AddrAdd(peer, &netlink.Addr{IPNet: ipNet(p.Addr6, p.Bits6), Flags: unix.IFA_F_NODAD}); err != nil {
			return fmt.Errorf("add %s to %s: %w", p.Addr6, p.IfName, err)
		}
	} else if err := inNS(ns, func() error {
		// As dockerd 26.0.2+ (CVE-2024-32473): an interface given only an
		// IPv4 address gets no IPv6 at all, so that no router
		// advertisement on the bridge can configure it.
		return writeSysctl("/proc/sys/net/ipv6/conf/"+p.IfName+"/disable_ipv6", "1")
	}); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	if err := h.LinkSetUp(peer); err != nil {
		return fmt.Errorf("set %s up: %w", p.IfName, err)
	}
	if lo, err := h.LinkByName("lo"); err == nil {
		if err := h.LinkSetUp(lo); err != nil {
			return fmt.Errorf("set lo up: %w", err)
		}
	}
	if p.DefaultRoute && p.Gateway.IsValid() {
		if err := h.RouteAdd(&netlink.Route{LinkIndex: peer.Attrs().Index, Gw: net.IP(p.Gateway.AsSlice())}); err != nil {
			return fmt.Errorf("add default route via %s: %w", p.Gateway, err)
		}
	}
	if p.DefaultRoute && p.Addr6.IsValid() && p.Gateway6.IsValid() {
		if err := h.RouteAdd(&netlink.Route{LinkIndex: peer.Attrs().Index, Gw: net.IP(p.Gateway6.AsSlice())}); err != nil {
			return fmt.Errorf("add default route via %s: %w", p.Gateway6, err)
		}
	}
	return nil
}

// removeContainerIf deletes the container side of an endpoint (its peer
// on the host goes with it).
func removeContainerIf(nsPath, ifName string) error {
	h, ns, err := inNetNS(nsPath)
	if err != nil {
		return err
	}
	defer ns.Close()
	defer h.Delete()
	link, err := h.LinkByName(ifName)
	if err != nil {
		return nil
	}
	if err := h.LinkDel(link); err != nil {
		return fmt.Errorf("delete %s in container: %w", ifName, err)
	}
	return nil
}

// macFor derives docker's MAC (02:42 + the IPv4 address) for a; random
// if a is not IPv4.
func macFor(a netip.Addr) net.HardwareAddr {
	if a.Is4() {
		b := a.As4()
		return net.HardwareAddr{0x02, 0x42, b[0], b[1], b[2], b[3]}
	}
	m := make(net.HardwareAddr, 6)
	rand.Read(m)
	m[0] = m[0]&0xfe | 0x02
	return m
}

// setIPForward turns on IPv4 forwarding in berthd's namespace.
func setIPForward() error { return writeSysctl("/proc/sys/net/ipv4/ip_forward", "1") }

// setIPv6Forward turns on IPv6 forwarding in berthd's namespace (dockerd
// does so with --ip6tables and --ip-forward; berth leaves the FORWARD
// policy of the host's own tables alone).
func setIPv6Forward() error {
	return writeSysctl("/proc/sys/net/ipv6/conf/all/forwarding", "1")
}

// orphanVeths lists host-side veths named like berth's ("vb...") whose
// master is one of bridges and which no record names.
func orphanVeths(bridges map[string]bool, known map[string]bool) []string {
	links, err := netlink.LinkList()
	if err != nil {
		return nil
	}
	idx := map[int]string{}
	for _, l := range links {
		idx[l.Attrs().Index] = l.Attrs().Name
	}
	var out []string
	for _, l := range links {
		a := l.Attrs()
		if l.Type() == "veth" && len(a.Name) > 2 && a.Name[:2] == "vb" && bridges[idx[a.MasterIndex]] && !known[a.Name] {
			out = append(out, a.Name)
		}
	}
	return out
}
