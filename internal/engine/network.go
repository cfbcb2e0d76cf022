package engine

import (
	"bytes"
	"context"
	"fmt"
	"net/netip"
	"os"
	"slices"
	"sort"
	"strings"

	ctypes "github.com/moby/moby/api/types/container"
	eventtypes "github.com/moby/moby/api/types/events"
	nettypes "github.com/moby/moby/api/types/network"

	"github.com/berth-dev/berth/internal/apiserver/router/networks"
	"github.com/berth-dev/berth/internal/container"
	"github.com/berth-dev/berth/internal/errdefs"
	"github.com/berth-dev/berth/internal/events"
	"github.com/berth-dev/berth/internal/filters"
	"github.com/berth-dev/berth/internal/network"
	"github.com/berth-dev/berth/internal/ocispec"
)

var _ networks.Backend = (*Engine)(nil)

// ownNetNS reports whether mode gives the container a namespace berth
// wires to networks (the default bridge or a user network).
func ownNetNS(mode ctypes.NetworkMode) bool {
	return !mode.IsNone() && !mode.IsHost() && !mode.IsContainer()
}

// planNetworks normalizes hc.NetworkMode ("default" is "bridge" when the
// default bridge exists) and returns the networks the container joins,
// from the mode and the request's endpoint configs.
func (e *Engine) planNetworks(hc *ctypes.HostConfig, nc *nettypes.NetworkingConfig) (map[string]*nettypes.EndpointSettings, error) {
	nw := e.cfg.Networks
	if nw == nil {
		return nil, nil
	}
	mode := hc.NetworkMode
	given := string(mode) // the docker CLI keys the endpoint config by it ("default")
	if mode == "" || mode.IsDefault() {
		if _, _, err := nw.Resolve(network.NameBridge); err != nil {
			return nil, nil // --bridge=none: loopback only
		}
		mode = network.NameBridge
		hc.NetworkMode = mode
	}
	if mode.IsContainer() {
		return nil, nil
	}
	var eps map[string]*nettypes.EndpointSettings
	if nc != nil {
		eps = nc.EndpointsConfig
	}
	out := map[string]*nettypes.EndpointSettings{}
	add := func(ref string, es *nettypes.EndpointSettings) error {
		id, name, err := nw.Resolve(ref)
		if err != nil {
			if !errdefs.Is(err, errdefs.NotFound) || ref != string(mode) {
				return err
			}
			// As dockerd: an unknown --network fails the start, not the
			// create (a 404 at create makes the docker CLI try a pull).
			name = ref
		}
		s := &nettypes.EndpointSettings{NetworkID: id}
		if es != nil {
			s.IPAMConfig = es.IPAMConfig.Copy()
			s.Aliases = slices.Clone(es.Aliases)
			s.DriverOpts = es.DriverOpts
			s.MacAddress = es.MacAddress
		}
		if name == network.NameBridge || name == network.NameHost || name == network.NameNone {
			if s.IPAMConfig != nil && (s.IPAMConfig.IPv4Address.IsValid() || s.IPAMConfig.IPv6Address.IsValid()) {
				return errdefs.InvalidArgumentf("user specified IP address is supported on user defined networks only")
			}
			if len(s.Aliases) > 0 {
				return errdefs.InvalidArgumentf("network-scoped alias is supported only for containers in user defined networks")
			}
		}
		out[name] = s
		return nil
	}
	var primary *nettypes.EndpointSettings
	for k, es := range eps {
		if k == string(mode) || k == given {
			primary = es
		}
	}
	if err := add(string(mode), primary); err != nil {
		return nil, err
	}
	if mode.IsNone() || mode.IsHost() {
		if len(eps) > 1 {
			return nil, errdefs.InvalidArgumentf("container cannot be connected to multiple networks with one of the networks in private (none) mode")
		}
		return out, nil
	}
	keys := make([]string, 0, len(eps))
	for k := range eps {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if k == string(mode) || k == given {
			continue
		}
		if err := add(k, eps[k]); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// attachNetworks prepares the namespace a starting container joins:
// ("", zero, nil) leaves it to the runtime (none, host, no networking).
func (e *Engine) attachNetworks(ctx context.Context, c *container.Container) (string, network.Attached, error) {
	var att network.Attached
	mode := c.HostConfig.NetworkMode
	if mode.IsContainer() {
		other, err := e.store.Get(mode.ConnectedContainer())
		if err != nil {
			return "", att, err
		}
		oc := other.Snapshot()
		if !oc.State.Running() || oc.State.Pid == 0 {
			return "", att, errdefs.Conflictf("cannot join network namespace of a non running container: container %s is %s", strings.TrimPrefix(oc.Name, "/"), oc.State.Status)
		}
		if e.cfg.Networks != nil {
			if p := e.cfg.Networks.NetNSPath(oc.ID); p != "" {
				return p, att, nil
			}
		}
		return fmt.Sprintf("/proc/%d/ns/net", oc.State.Pid), att, nil
	}
	if e.cfg.Networks == nil || !ownNetNS(mode) || len(c.Networks) == 0 {
		return "", att, nil
	}
	order := make([]string, 0, len(c.Networks))
	for name := range c.Networks {
		order = append(order, name)
	}
	_, primary, _ := e.cfg.Networks.Resolve(string(mode))
	sort.Slice(order, func(i, j int) bool {
		if (order[i] == primary) != (order[j] == primary) {
			return order[i] == primary
		}
		return order[i] < order[j]
	})
	att, err := e.cfg.Networks.Attach(ctx, network.AttachRequest{
		ContainerID: c.ID, ContainerName: c.Name, Hostname: c.Config.Hostname,
		Networks: c.Networks, Order: order,
		PortBindings: c.HostConfig.PortBindings, ExposedPorts: c.Config.ExposedPorts, PublishAll: c.HostConfig.PublishAllPorts,
		DNS: dnsServers(c.HostConfig),
	})
	if err != nil {
		return "", att, err
	}
	for _, name := range order {
		if es := att.Networks[name]; es != nil {
			e.netEvent(eventtypes.ActionConnect, es.NetworkID, name, c.ID)
		}
	}
	return att.NetNSPath, att, nil
}

// setNetworksLive records the live endpoint settings of a started container.
func setNetworksLive(c *container.Container, att network.Attached) {
	if len(att.Networks) == 0 {
		return
	}
	nets := map[string]*nettypes.EndpointSettings{}
	for name, es := range c.Networks {
		live := es.Copy()
		if l, ok := att.Networks[name]; ok {
			l.IPAMConfig, l.Aliases, l.DriverOpts = es.IPAMConfig.Copy(), slices.Clone(es.Aliases), es.DriverOpts
			live = l
		}
		nets[name] = live
	}
	c.Networks = nets
	c.Ports = att.Ports
	c.SandboxID, c.SandboxKey = att.SandboxID, att.NetNSPath
}

// clearNetworksLive forgets the addresses of a container that stopped.
func clearNetworksLive(c *container.Container) {
	c.SandboxID, c.SandboxKey = "", ""
	if len(c.Networks) == 0 && c.Ports == nil {
		return
	}
	nets := map[string]*nettypes.EndpointSettings{}
	for name, es := range c.Networks {
		nets[name] = &nettypes.EndpointSettings{IPAMConfig: es.IPAMConfig.Copy(), Aliases: slices.Clone(es.Aliases), DriverOpts: es.DriverOpts, NetworkID: es.NetworkID}
	}
	c.Networks = nets
	c.Ports = nil
}

// detachNetworks removes a stopped container's sandbox.
func (e *Engine) detachNetworks(ctx context.Context, id string) {
	if e.cfg.Networks == nil {
		return
	}
	if err := e.cfg.Networks.Detach(ctx, id); err != nil {
		e.log.WithError(err).WithField("container", id).Warn("remove network sandbox")
	}
	if ent, err := e.store.Get(id); err == nil {
		c := ent.Snapshot()
		if ownNetNS(c.HostConfig.NetworkMode) {
			for name, es := range c.Networks {
				e.netEvent(eventtypes.ActionDisconnect, es.NetworkID, name, id)
			}
		}
	}
}

// hostGateway resolves --add-host name:host-gateway entries.
func hostGateway(extra []string, gw netip.Addr) []string {
	out := make([]string, 0, len(extra))
	for _, h := range extra {
		for _, sep := range []string{"=", ":"} {
			if name, v, ok := strings.Cut(h, sep); ok && v == "host-gateway" {
				if gw.IsValid() {
					h = name + sep + gw.String()
				}
				break
			}
		}
		out = append(out, h)
	}
	return out
}

// IsRunning reports whether container id runs (network restore).
func (e *Engine) IsRunning(id string) bool {
	ent, err := e.store.Get(id)
	return err == nil && ent.Snapshot().State.Running()
}

func (e *Engine) networks() (Networks, error) {
	if e.cfg.Networks == nil {
		return nil, errdefs.NotImplementedf("networking is not enabled")
	}
	return e.cfg.Networks, nil
}

// NetworkList is GET /networks.
func (e *Engine) NetworkList(ctx context.Context, f filters.Args) ([]nettypes.Inspect, error) {
	nw, err := e.networks()
	if err != nil {
		return nil, err
	}
	return nw.List(ctx, f)
}

// NetworkInspect is GET /networks/{id}.
func (e *Engine) NetworkInspect(ctx context.Context, ref string) (nettypes.Inspect, error) {
	nw, err := e.networks()
	if err != nil {
		return nettypes.Inspect{}, err
	}
	return nw.Inspect(ctx, ref)
}

// NetworkCreate is POST /networks/create.
func (e *Engine) NetworkCreate(ctx context.Context, req networks.CreateRequest) (nettypes.CreateResponse, error) {
	nw, err := e.networks()
	if err != nil {
		return nettypes.CreateResponse{}, err
	}
	if req.Scope != "" && req.Scope != "local" {
		return nettypes.CreateResponse{}, errdefs.NotImplementedf("network scope %q is not supported", req.Scope)
	}
	if req.Ingress || req.ConfigOnly {
		return nettypes.CreateResponse{}, errdefs.NotImplementedf("ingress and config-only networks are not supported")
	}
	if (req.EnableIPv4 != nil && !*req.EnableIPv4) || req.Options["com.docker.network.bridge.enable_ipv4"] == "false" {
		return nettypes.CreateResponse{}, errdefs.NotImplementedf("IPv6-only networks (--ipv4=false) are not supported by berth yet")
	}
	o := network.CreateOptions{
		Name: req.Name, Driver: req.Driver, Internal: req.Internal, Attachable: req.Attachable,
		Labels: req.Labels, Options: req.Options, EnableIPv6: req.EnableIPv6 != nil && *req.EnableIPv6,
	}
	if req.IPAM != nil {
		o.IPAMDriver = req.IPAM.Driver
		for _, c := range req.IPAM.Config {
			if len(c.AuxAddress) > 0 {
				return nettypes.CreateResponse{}, errdefs.NotImplementedf("auxiliary addresses are not supported")
			}
			o.IPAM = append(o.IPAM, network.IPAMConfig{Subnet: c.Subnet, IPRange: c.IPRange, Gateway: c.Gateway})
		}
	}
	id, err := nw.Create(ctx, o)
	if err != nil {
		return nettypes.CreateResponse{}, err
	}
	e.netEvent(eventtypes.ActionCreate, id, req.Name, "")
	return nettypes.CreateResponse{ID: id}, nil
}

// NetworkRemove is DELETE /networks/{id}.
func (e *Engine) NetworkRemove(ctx context.Context, ref string) error {
	nw, err := e.networks()
	if err != nil {
		return err
	}
	n, err := nw.Inspect(ctx, ref)
	if err != nil {
		return err
	}
	if err := nw.Remove(ctx, ref); err != nil {
		return err
	}
	e.netEvent(eventtypes.ActionDestroy, n.ID, n.Name, "")
	return nil
}

// NetworkPrune is POST /networks/prune.
func (e *Engine) NetworkPrune(ctx context.Context, f filters.Args) ([]string, error) {
	nw, err := e.networks()
	if err != nil {
		return nil, err
	}
	return nw.Prune(ctx, f)
}

// NetworkConnect connects a container to a network: its record always,
// its sandbox too when it runs.
func (e *Engine) NetworkConnect(ctx context.Context, ref, ctr string, es *nettypes.EndpointSettings) error {
	nw, err := e.networks()
	if err != nil {
		return err
	}
	ent, err := e.store.Get(ctr)
	if err != nil {
		return err
	}
	ent.Lock()
	defer ent.Unlock()
	c := ent.Snapshot()
	mode := c.HostConfig.NetworkMode
	if mode.IsHost() || mode.IsContainer() {
		return errdefs.Forbiddenf("container sharing network namespace with another container or host cannot be connected to any other network")
	}
	if mode.IsNone() {
		return errdefs.Forbiddenf("container cannot be connected to multiple networks with one of the networks in private (none) mode")
	}
	id, name, err := nw.Resolve(ref)
	if err != nil {
		return err
	}
	if _, ok := c.Networks[name]; ok {
		return errdefs.Forbiddenf("endpoint with name %s already exists in network %s", strings.TrimPrefix(c.Name, "/"), name)
	}
	if name == network.NameHost || name == network.NameNone {
		return errdefs.Forbiddenf("container cannot be disconnected from host network or connected to host network")
	}
	settings := &nettypes.EndpointSettings{NetworkID: id}
	if es != nil {
		settings.IPAMConfig, settings.Aliases = es.IPAMConfig.Copy(), slices.Clone(es.Aliases)
	}
	if c.State.Running() {
		_, live, err := nw.Connect(ctx, c.ID, name, c.Config.Hostname, settings)
		if err != nil {
			return err
		}
		live.IPAMConfig, live.Aliases = settings.IPAMConfig, settings.Aliases
		settings = live
		if err := connectEtcFiles(c, name, live.IPAddress, live.GlobalIPv6Address); err != nil {
			e.log.WithError(err).WithField("container", c.ID).Warn("update hosts and resolv.conf after connect")
		}
	}
	if _, err = ent.Update(func(c *container.Container) error {
		nets := map[string]*nettypes.EndpointSettings{}
		for k, v := range c.Networks {
			nets[k] = v
		}
		nets[name] = settings
		c.Networks = nets
		return nil
	}); err != nil {
		return err
	}
	if c.State.Running() {
		e.netEvent(eventtypes.ActionConnect, id, name, c.ID)
	}
	return nil
}

// NetworkDisconnect disconnects a container from a network.
func (e *Engine) NetworkDisconnect(ctx context.Context, ref, ctr string, force bool) error {
	nw, err := e.networks()
	if err != nil {
		return err
	}
	ent, err := e.store.Get(ctr)
	if err != nil {
		return err
	}
	ent.Lock()
	defer ent.Unlock()
	c := ent.Snapshot()
	netID, name, err := nw.Resolve(ref)
	if err != nil {
		return err
	}
	if _, ok := c.Networks[name]; !ok {
		return errdefs.Forbiddenf("container %s is not connected to network %s", c.ID, name)
	}
	if name == network.NameHost || name == network.NameNone {
		return errdefs.Forbiddenf("container cannot be disconnected from host network or connected to host network")
	}
	if c.State.Running() {
		if _, err := nw.Disconnect(ctx, c.ID, name); err != nil {
			return err
		}
		if es := c.Networks[name]; es != nil && es.IPAddress.IsValid() {
			if err := editFileInPlace(c.HostsPath, func(b []byte) []byte {
				return hostsWithout(hostsWithout(b, es.IPAddress), es.GlobalIPv6Address)
			}); err != nil {
				e.log.WithError(err).WithField("container", c.ID).Warn("update hosts after disconnect")
			}
		}
	}
	if _, err = ent.Update(func(c *container.Container) error {
		nets := map[string]*nettypes.EndpointSettings{}
		for k, v := range c.Networks {
			if k != name {
				nets[k] = v
			}
		}
		c.Networks = nets
		return nil
	}); err != nil {
		return err
	}
	if c.State.Running() {
		e.netEvent(eventtypes.ActionDisconnect, netID, name, c.ID)
	}
	return nil
}

// connectEtcFiles updates the files of running container c that joined
// network name with address ip, as dockerd does: /etc/hosts gets a line
// mapping the hostname to ip, and resolv.conf points at the embedded
// resolver when name is the container's first user network (dockerd
// leaves it so after a disconnect, and so does berth: the resolver
// keeps serving the sandbox). The files are bind-mounted into the
// container, so they are rewritten in place.
func connectEtcFiles(c *container.Container, name string, ip, ip6 netip.Addr) error {
	if ip.IsValid() && c.Config.Hostname != "" {
		if err := editFileInPlace(c.HostsPath, func(b []byte) []byte {
			if len(b) > 0 && b[len(b)-1] != '\n' {
				b = append(b, '\n')
			}
			return hostsWithIP(hostsWithIP(b, c.Config.Hostname, c.Config.Domainname, ip), c.Config.Hostname, c.Config.Domainname, ip6)
		}); err != nil {
			return err
		}
	}
	if name == network.NameBridge {
		return nil
	}
	for other := range c.Networks {
		if other != network.NameBridge {
			return nil // the embedded resolver served it already
		}
	}
	hc := c.HostConfig
	hostResolv, _ := os.ReadFile("/etc/resolv.conf")
	resolv := ocispec.ResolvConf(hostResolv, []string{network.ResolverAddr}, hc.DNSSearch, append([]string{"ndots:0"}, hc.DNSOptions...), ip6.IsValid())
	return editFileInPlace(c.ResolvConfPath, func([]byte) []byte { return resolv })
}

// hostsWithIP appends the line mapping hostname to ip (none for an
// invalid ip) as dockerd writes it; an IPv6 network's address gets its
// own line after the IPv4 one.
func hostsWithIP(hosts []byte, hostname, domainname string, ip netip.Addr) []byte {
	if !ip.IsValid() || hostname == "" {
		return hosts
	}
	line := ocispec.HostsFileWithIP(hostname, domainname, ip, nil)
	return append(hosts, line[bytes.LastIndexByte(line[:len(line)-1], '\n')+1:]...)
}

// hostsWithout drops the lines of hosts that map address ip.
func hostsWithout(hosts []byte, ip netip.Addr) []byte {
	if !ip.IsValid() {
		return hosts
	}
	var out []byte
	for _, line := range bytes.SplitAfter(hosts, []byte("\n")) {
		if f := bytes.Fields(line); len(f) > 1 {
			if a, err := netip.ParseAddr(string(f[0])); err == nil && a == ip {
				continue
			}
		}
		out = append(out, line...)
	}
	return out
}

// editFileInPlace rewrites path through edit without replacing the
// inode, which a running container has bind-mounted.
func editFileInPlace(path string, edit func([]byte) []byte) error {
	if path == "" {
		return nil
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	return os.WriteFile(path, edit(b), 0o644)
}

func dnsServers(hc *ctypes.HostConfig) []string {
	out := make([]string, 0, len(hc.DNS))
	for _, a := range hc.DNS {
		out = append(out, a.String())
	}
	return out
}

// netEvent publishes a network event as dockerd words it (type is the
// driver; container is set for connect and disconnect).
func (e *Engine) netEvent(action eventtypes.Action, id, name, ctr string) {
	a := map[string]string{"name": name, "type": "bridge"}
	if ctr != "" {
		a["container"] = ctr
	}
	e.cfg.Events.Publish(events.Message{Type: eventtypes.NetworkEventType, Action: action, Actor: eventtypes.Actor{ID: id, Attributes: a}})
}
