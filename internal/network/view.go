package network

import (
	"context"
	"maps"
	"net"
	"net/netip"
	"strings"

	"github.com/moby/moby/api/types/network"

	"github.com/berth-dev/berth/internal/filters"
)

func (n *Network) apiNetwork() network.Network {
	out := network.Network{
		Name: n.Name, ID: n.ID, Created: n.Created, Scope: "local", Driver: n.Driver, EnableIPv4: true,
		IPAM:     network.IPAM{Driver: "default", Options: map[string]string{}, Config: []network.IPAMConfig{}},
		Internal: n.Internal, Attachable: n.Attachable, Options: maps.Clone(n.Options), Labels: maps.Clone(n.Labels),
	}
	if n.Driver == DriverBridge {
		c := network.IPAMConfig{Subnet: n.Subnet, Gateway: n.Gateway, IPRange: n.IPRange}
		out.IPAM.Config = append(out.IPAM.Config, c)
		if n.EnableIPv6 && n.Subnet6.IsValid() {
			out.EnableIPv6 = true
			out.IPAM.Config = append(out.IPAM.Config, network.IPAMConfig{Subnet: n.Subnet6, Gateway: n.Gateway6, IPRange: n.IPRange6})
		}
	}
	if n.Driver != DriverBridge {
		out.IPAM.Options = nil
		out.EnableIPv4 = n.Driver == DriverHost
	}
	return out
}

// List is GET /networks (filters: driver, id, label, name, scope, type, dangling).
func (s *Service) List(ctx context.Context, f filters.Args) ([]network.Inspect, error) {
	if err := f.Validate("dangling", "driver", "id", "label", "name", "scope", "type"); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	used := map[string]bool{}
	for _, sb := range s.sandboxes {
		for _, ep := range sb.Endpoints {
			used[ep.NetworkID] = true
		}
	}
	out := []network.Inspect{}
	for _, n := range s.sortedLocked() {
		if !matchList(f, n, used[n.ID]) {
			continue
		}
		out = append(out, network.Inspect{Network: n.apiNetwork(), Containers: map[string]network.EndpointResource{}})
	}
	return out, nil
}

func matchList(f filters.Args, n *Network, used bool) bool {
	anyOf := func(key string, ok func(v string) bool) bool {
		vs := f.Get(key)
		if len(vs) == 0 {
			return true
		}
		for _, v := range vs {
			if ok(v) {
				return true
			}
		}
		return false
	}
	return anyOf("driver", func(v string) bool { return v == n.Driver }) &&
		anyOf("id", func(v string) bool { return strings.HasPrefix(n.ID, v) }) &&
		anyOf("name", func(v string) bool { return strings.Contains(n.Name, v) }) &&
		anyOf("scope", func(v string) bool { return v == "local" }) &&
		anyOf("type", func(v string) bool { return (v == "builtin") == n.Predefined() }) &&
		anyOf("dangling", func(v string) bool { return (v == "true" || v == "1") == (!used && !n.Predefined()) }) &&
		matchLabels(f, n.Labels)
}

// Inspect is GET /networks/{id}.
func (s *Service) Inspect(ctx context.Context, ref string) (network.Inspect, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	n, err := s.lookup(ref)
	if err != nil {
		return network.Inspect{}, err
	}
	out := network.Inspect{Network: n.apiNetwork(), Containers: map[string]network.EndpointResource{}}
	for _, sb := range s.sandboxes {
		ep := sb.endpoint(n.ID)
		if ep == nil {
			continue
		}
		mac, _ := net.ParseMAC(ep.MAC)
		out.Containers[sb.ContainerID] = network.EndpointResource{
			Name: strings.TrimPrefix(sb.ContainerName, "/"), EndpointID: ep.ID, MacAddress: network.HardwareAddr(mac),
			IPv4Address: prefixOf(ep),
		}
		if ep.Addr6.IsValid() {
			r := out.Containers[sb.ContainerID]
			r.IPv6Address = netip.PrefixFrom(ep.Addr6, ep.Bits6)
			out.Containers[sb.ContainerID] = r
		}
	}
	return out, nil
}

// Resolve checks that ref names a network and returns its id and name.
func (s *Service) Resolve(ref string) (id, name string, err error) {
	n, err := s.Get(ref)
	if err != nil {
		return "", "", err
	}
	return n.ID, n.Name, nil
}

func prefixOf(ep *Endpoint) netip.Prefix { return netip.PrefixFrom(ep.Addr, ep.Bits) }
