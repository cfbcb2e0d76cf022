package network

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"sort"

	"github.com/moby/moby/api/types/network"

	"github.com/berth-dev/berth/internal/errdefs"
)

// Sandbox is a running container's network state.
type Sandbox struct {
	ID            string `json:",omitempty"` // NetworkSettings.SandboxID
	ContainerID   string
	ContainerName string
	NetNS         string // the bind-mounted namespace file
	Endpoints     []*Endpoint
	Ports         []PortBinding
	// DNS are the embedded resolver's upstreams (--dns); none: the
	// host's.
	DNS []string `json:",omitempty"`
}

// Endpoint is a sandbox's attachment to one network.
type Endpoint struct {
	ID          string
	NetworkID   string
	NetworkName string
	IfName      string // inside the container: eth0, eth1, ...
	HostIf      string // host side of the veth
	Addr        netip.Addr
	Bits        int
	Gateway     netip.Addr
	// Addr6, Bits6, Gateway6: the IPv6 address on an IPv6 network.
	Addr6      netip.Addr `json:",omitzero"`
	Bits6      int        `json:",omitempty"`
	Gateway6   netip.Addr `json:",omitzero"`
	MAC        string
	Aliases    []string
	DNSNames   []string
	IPAMConfig *network.EndpointIPAMConfig `json:",omitempty"`
}

// PortBinding is one published port.
type PortBinding struct {
	Proto    string // tcp, udp
	HostIP   netip.Addr
	HostPort uint16
	CtrPort  uint16
}

func (sb *Sandbox) endpoint(netID string) *Endpoint {
	for _, ep := range sb.Endpoints {
		if ep.NetworkID == netID {
			return ep
		}
	}
	return nil
}

// AttachRequest asks for a container's sandbox at start.
type AttachRequest struct {
	ContainerID   string
	ContainerName string // "/web"
	Hostname      string
	// Networks: network name or id -> the endpoint settings the user gave
	// (IPAMConfig, Aliases); the first in Order gets the default route.
	Networks map[string]*network.EndpointSettings
	Order    []string
	// PortBindings, ExposedPorts and PublishAll are the container's -p/-P.
	PortBindings network.PortMap
	ExposedPorts network.PortSet
	PublishAll   bool
	// DNS are the container's --dns servers (upstreams of the embedded
	// resolver on user networks).
	DNS []string
}

// Attached is what a start needs from the sandbox.
type Attached struct {
	SandboxID string
	NetNSPath string
	// Networks is keyed by network name, with the live settings.
	Networks map[string]*network.EndpointSettings
	Ports    network.PortMap
	IP       netip.Addr // the first endpoint's address
	IP6      netip.Addr // its IPv6 address, if any
	Gateway  netip.Addr // its gateway (host-gateway)
	// EmbeddedDNS: the container is on a user network and its resolver
	// is ResolverAddr.
	EmbeddedDNS bool
}

// Attach makes the container's namespace, one veth per network and the
// published ports. On failure nothing of it remains.
func (s *Service) Attach(ctx context.Context, req AttachRequest) (att Attached, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.sandboxes[req.ContainerID]; ok {
		// A sandbox left from an earlier run (crash between exit and
		// detach): start afresh.
		s.teardownLocked(req.ContainerID)
	}
	nets := make([]*Network, 0, len(req.Order))
	for _, ref := range req.Order {
		n, err := s.lookup(ref)
		if err != nil {
			return att, err
		}
		if n.Driver != DriverBridge {
			return att, errdefs.InvalidArgumentf("container cannot be connected to network %s with driver %s", n.Name, n.Driver)
		}
		nets = append(nets, n)
	}
	sb := &Sandbox{ID: newID(), ContainerID: req.ContainerID, ContainerName: req.ContainerName, NetNS: filepath.Join(s.nsDir(), req.ContainerID), DNS: req.DNS}
	if err := writeState(s.sbPath(sb.ContainerID), sb); err != nil {
		return att, err
	}
	s.sandboxes[sb.ContainerID] = sb
	defer func() {
		if err != nil {
			s.teardownLocked(sb.ContainerID)
		}
	}()
	if err := newNetNS(sb.NetNS); err != nil {
		return att, err
	}
	for i, n := range nets {
		if err := s.addEndpointLocked(sb, n, req.Networks[req.Order[i]], req.Hostname, i == 0); err != nil {
			return att, err
		}
	}
	if err := s.publishLocked(sb, req); err != nil {
		return att, err
	}
	if s.usesDNS(sb) {
		d, err := s.startDNS(sb)
		if err != nil {
			return att, err
		}
		s.proxies[sb.ContainerID] = append(s.proxies[sb.ContainerID], d)
	}
	if err := writeState(s.sbPath(sb.ContainerID), sb); err != nil {
		return att, err
	}
	if len(sb.Ports) > 0 {
		if err := s.syncRulesLocked(); err != nil {
			return att, err
		}
	}
	return s.attachedLocked(sb), nil
}

func (s *Service) attachedLocked(sb *Sandbox) Attached {
	att := Attached{SandboxID: sb.ID, NetNSPath: sb.NetNS, Networks: map[string]*network.EndpointSettings{}, Ports: sb.portMap(), EmbeddedDNS: s.usesDNS(sb)}
	for i, ep := range sb.Endpoints {
		att.Networks[ep.NetworkName] = ep.settings()
		if i == 0 {
			att.IP, att.IP6, att.Gateway = ep.Addr, ep.Addr6, ep.Gateway
		}
	}
	return att
}

func (ep *Endpoint) settings() *network.EndpointSettings {
	mac, _ := net.ParseMAC(ep.MAC)
	return &network.EndpointSettings{
		IPAMConfig: ep.IPAMConfig.Copy(), Aliases: slices.Clone(ep.Aliases), DNSNames: slices.Clone(ep.DNSNames),
		NetworkID: ep.NetworkID, EndpointID: ep.ID, Gateway: ep.Gateway, IPAddress: ep.Addr,
		IPPrefixLen: ep.Bits, MacAddress: network.HardwareAddr(mac),
		GlobalIPv6Address: ep.Addr6, GlobalIPv6PrefixLen: ep.Bits6, IPv6Gateway: ep.Gateway6,
	}
}

// addEndpointLocked allocates an address and plugs a veth into n's bridge.
func (s *Service) addEndpointLocked(sb *Sandbox, n *Network, es *network.EndpointSettings, hostname string, defRoute bool) (err error) {
	if sb.endpoint(n.ID) != nil {
		return errdefs.Forbiddenf("endpoint with name %s already exists in network %s", sb.ContainerName[1:], n.Name)
	}
	p := s.pools[n.ID]
	if p == nil {
		return fmt.Errorf("network %s has no address pool", n.Name)
	}
	var want, want6 netip.Addr
	ep := &Endpoint{ID: newID(), NetworkID: n.ID, NetworkName: n.Name, Bits: n.Subnet.Bits(), Gateway: n.Gateway}
	if es != nil {
		if es.IPAMConfig != nil && (es.IPAMConfig.IPv4Address.IsValid() || es.IPAMConfig.IPv6Address.IsValid()) {
			want, want6 = es.IPAMConfig.IPv4Address, es.IPAMConfig.IPv6Address
			if a := want6; a.IsValid() && (!a.Is6() || a.Is4In6() || a.IsUnspecified() || a.Zone() != "") {
				return errdefs.InvalidArgumentf("invalid config for network %s: invalid endpoint settings:\ninvalid IPv6 address: %s", n.Name, a)
			}
			p6 := s.pools6[n.ID]
			if want6.IsValid() && (p6 == nil || !p6.subnet.Contains(want6)) {
				return errdefs.InvalidArgumentf("invalid config for network %s: invalid endpoint settings:\nno configured subnet contains IP address %s", n.Name, want6)
			}
			if n.Predefined() || (want.IsValid() && !n.SubnetGiven) || (want6.IsValid() && !n.Subnet6Given) {
				return errdefs.Forbiddenf("user specified IP address is supported only when connecting to networks with user configured subnets")
			}
		}
		ep.IPAMConfig = es.IPAMConfig.Copy()
		if !n.Predefined() {
			ep.Aliases = slices.Clone(es.Aliases)
		}
	}
	addr, err := p.Allocate(want)
	if err != nil {
		if errdefs.Is(err, errdefs.InvalidArgument) {
			return errdefs.InvalidArgumentf("invalid config for network %s: invalid endpoint settings:\n%v", n.Name, err)
		}
		return err
	}
	defer func() {
		if err != nil {
			p.Release(addr)
		}
	}()
	if p6 := s.pools6[n.ID]; p6 != nil {
		a6, err := p6.Allocate(want6)
		if err != nil {
			return err
		}
		defer func() {
			if err != nil {
				p6.Release(a6)
			}
		}()
		ep.Addr6, ep.Bits6, ep.Gateway6 = a6, n.Subnet6.Bits(), n.Gateway6
	}
	ep.Addr = addr
	ep.MAC = macFor(addr).String()
	ord := 0
	for slices.ContainsFunc(sb.Endpoints, func(e *Endpoint) bool { return e.IfName == fmt.Sprintf("eth%d", ord) }) {
		ord++
	}
	ep.IfName = fmt.Sprintf("eth%d", ord)
	ep.HostIf = fmt.Sprintf("vb%s%d", sb.ContainerID[:7], ord)
	if !n.Predefined() {
		ep.DNSNames = []string{sb.ContainerName[1:]}
		ep.DNSNames = append(ep.DNSNames, ep.Aliases...)
		ep.DNSNames = append(ep.DNSNames, sb.ContainerID[:12])
		if hostname != "" && hostname != sb.ContainerID[:12] && !slices.Contains(ep.DNSNames, hostname) {
			ep.DNSNames = append(ep.DNSNames, hostname)
		}
	}
	// Recorded before the veth exists, so a crash cannot orphan it.
	sb.Endpoints = append(sb.Endpoints, ep)
	if err := writeState(s.sbPath(sb.ContainerID), sb); err != nil {
		sb.Endpoints = sb.Endpoints[:len(sb.Endpoints)-1]
		return err
	}
	defer func() {
		if err != nil {
			deleteLink(ep.HostIf)
			sb.Endpoints = slices.DeleteFunc(sb.Endpoints, func(e *Endpoint) bool { return e == ep })
		}
	}()
	if err := ensureBridge(n); err != nil {
		return err
	}
	hw, _ := net.ParseMAC(ep.MAC)
	return createVeth(sb.NetNS, vethPlan{
		HostName: ep.HostIf, IfName: ep.IfName, Bridge: n.Bridge, MTU: n.MTU, MAC: hw,
		Addr: ep.Addr, Bits: ep.Bits, Gateway: n.Gateway, DefaultRoute: defRoute && !n.Internal,
		Addr6: ep.Addr6, Bits6: ep.Bits6, Gateway6: ep.Gateway6,
	})
}

// releaseLocked gives ep's addresses back to their pools.
func (s *Service) releaseLocked(ep *Endpoint) {
	if p := s.pools[ep.NetworkID]; p != nil {
		p.Release(ep.Addr)
	}
	if p := s.pools6[ep.NetworkID]; p != nil && ep.Addr6.IsValid() {
		p.Release(ep.Addr6)
	}
}

// Detach removes a container's sandbox: proxies, veths, namespace,
// addresses. A container without one is fine.
func (s *Service) Detach(ctx context.Context, containerID string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.teardownLocked(containerID)
}

func (s *Service) teardownLocked(id string) error {
	for _, c := range s.proxies[id] {
		c.Close()
	}
	delete(s.proxies, id)
	sb, ok := s.sandboxes[id]
	if !ok {
		return nil
	}
	var firstErr error
	keep := func(err error) {
		if err != nil && firstErr == nil {
			firstErr = err
		}
	}
	// Unmounting the namespace (no process is left in it) makes the
	// kernel destroy it, and with it both ends of every veth, in the
	// background: deleting the veths here would cost ~25ms each (RCU
	// grace periods) on the way to a container's removal. A veth whose
	// namespace is still held elsewhere is deleted at its name's next
	// use (createVeth) or by Restore.
	if sb.NetNS != "" {
		keep(removeNetNS(sb.NetNS))
	} else {
		for _, ep := range sb.Endpoints {
			keep(deleteLink(ep.HostIf))
		}
	}
	if firstErr != nil {
		return firstErr
	}
	for _, ep := range sb.Endpoints {
		s.releaseLocked(ep)
	}
	if err := os.Remove(s.sbPath(id)); err != nil && !os.IsNotExist(err) {
		return fmt.Errorf("remove sandbox record of %s: %w", id, err)
	}
	delete(s.sandboxes, id)
	if len(sb.Ports) > 0 {
		return s.syncRulesLocked()
	}
	return nil
}

// NetNSPath is the namespace file of a running container's sandbox
// (--network container:<id>), or "".
func (s *Service) NetNSPath(containerID string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if sb, ok := s.sandboxes[containerID]; ok {
		return sb.NetNS
	}
	return ""
}

// Connect adds network ref to a running container's sandbox.
func (s *Service) Connect(ctx context.Context, containerID, ref, hostname string, es *network.EndpointSettings) (string, *network.EndpointSettings, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	n, err := s.lookup(ref)
	if err != nil {
		return "", nil, err
	}
	sb, ok := s.sandboxes[containerID]
	if !ok {
		return "", nil, errdefs.Forbiddenf("container %s is not attached to a bridge network and cannot be connected to %s", containerID[:12], n.Name)
	}
	if n.Driver != DriverBridge {
		return "", nil, errdefs.Forbiddenf("container cannot be disconnected from host network or connected to host network")
	}
	hadDNS := s.usesDNS(sb)
	if err := s.addEndpointLocked(sb, n, es, hostname, len(sb.Endpoints) == 0); err != nil {
		return "", nil, err
	}
	if !hadDNS && s.usesDNS(sb) {
		d, err := s.startDNS(sb)
		if err != nil {
			return "", nil, err
		}
		s.proxies[containerID] = append(s.proxies[containerID], d)
	}
	if err := writeState(s.sbPath(containerID), sb); err != nil {
		return "", nil, err
	}
	return n.Name, sb.endpoint(n.ID).settings(), nil
}

// Disconnect removes network ref from a running container's sandbox.
func (s *Service) Disconnect(ctx context.Context, containerID, ref string) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	n, err := s.lookup(ref)
	if err != nil {
		return "", err
	}
	sb, ok := s.sandboxes[containerID]
	var ep *Endpoint
	if ok {
		ep = sb.endpoint(n.ID)
	}
	if ep == nil {
		return "", errdefs.Forbiddenf("container %s is not connected to network %s", containerID, n.Name)
	}
	if err := removeContainerIf(sb.NetNS, ep.IfName); err != nil {
		return "", err
	}
	if err := deleteLink(ep.HostIf); err != nil {
		return "", err
	}
	s.releaseLocked(ep)
	sb.Endpoints = slices.DeleteFunc(sb.Endpoints, func(e *Endpoint) bool { return e == ep })
	return n.Name, writeState(s.sbPath(containerID), sb)
}

// Restore brings the kernel in line with the records after a (re)start:
// bridges of every network exist; sandboxes of containers that are not
// running are removed; running ones keep theirs and get their port
// proxies again.
func (s *Service) Restore(ctx context.Context, running func(containerID string) bool) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, n := range s.sortedLocked() {
		if n.Driver != DriverBridge {
			continue
		}
		if err := ensureBridge(n); err != nil {
			return err
		}
		if err := s.enableForwarding(n); err != nil {
			return err
		}
	}
	ids := make([]string, 0, len(s.sandboxes))
	for id := range s.sandboxes {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	for _, id := range ids {
		if running(id) {
			if err := s.openProxiesLocked(s.sandboxes[id]); err != nil {
				s.log.WithError(err).WithField("container", id).Warn("restore published ports")
			}
			continue
		}
		if err := s.teardownLocked(id); err != nil {
			s.log.WithError(err).WithField("container", id).Warn("remove stale sandbox")
		}
	}
	bridges, known := map[string]bool{}, map[string]bool{}
	for _, n := range s.nets {
		if n.Driver == DriverBridge {
			bridges[n.Bridge] = true
		}
	}
	for _, sb := range s.sandboxes {
		for _, ep := range sb.Endpoints {
			known[ep.HostIf] = true
		}
	}
	for _, name := range orphanVeths(bridges, known) {
		if err := deleteLink(name); err != nil {
			s.log.WithError(err).WithField("veth", name).Warn("remove orphan veth")
		}
	}
	if err := s.syncRulesLocked(); err != nil {
		return err
	}
	// Namespace files no record names (a crash between mount and record).
	if ents, err := os.ReadDir(s.nsDir()); err == nil {
		for _, e := range ents {
			if _, ok := s.sandboxes[e.Name()]; !ok {
				removeNetNS(filepath.Join(s.nsDir(), e.Name()))
			}
		}
	}
	return nil
}
