package network

import (
	"context"
	"fmt"
	"maps"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/berth-dev/berth/internal/errdefs"
	"github.com/berth-dev/berth/internal/filters"
)

// DefaultBridgeIP is the default network's gateway and subnet (--bip).
var DefaultBridgeIP = netip.MustParsePrefix("172.31.0.1/16")

// DefaultBridgeName is the default network's Linux bridge.
const DefaultBridgeName = "berth0"

// Config configures a Service.
type Config struct {
	DataRoot, ExecRoot string
	// DefaultBridge makes the predefined network "bridge" on
	// DefaultBridgeName (dockerd's --bridge=none turns it off).
	DefaultBridge bool
	// BridgeIP is the default bridge's gateway/prefix (zero: DefaultBridgeIP).
	BridgeIP netip.Prefix
	// MTU of bridges and veths (0: kernel default 1500).
	MTU int
	// IPForward turns on net.ipv4.ip_forward when a bridge is made.
	IPForward bool
	// IPTables programs berth's nftables table (isolation between
	// networks, --internal, masquerading, DNAT of published ports);
	// dockerd's --iptables=false turns it off. Published ports are also
	// always served by a userland proxy (loopback traffic, and how a host
	// port in use is noticed).
	IPTables bool
	// IPv6 gives the default network an IPv6 subnet: FixedCIDRv6, or one
	// from the pools (dockerd's --ipv6, --fixed-cidr-v6).
	IPv6        bool
	FixedCIDRv6 netip.Prefix
	// IP6Tables programs the same rules for IPv6 in table "ip6 berth" and
	// (with IPForward) turns on IPv6 forwarding, as dockerd 27+'s
	// --ip6tables (on by default).
	IP6Tables bool
	// AddressPools replace the default pools (dockerd's
	// default-address-pools); without an IPv6 pool among them, a ULA /48
	// derived from the host id is added, as dockerd 27+ does.
	AddressPools []AddressPool
	Logger       logrus.FieldLogger
}

// Service manages networks and container sandboxes.
type Service struct {
	cfg Config
	log logrus.FieldLogger

	mu        sync.Mutex
	nets      map[string]*Network // by id
	pools     map[string]*pool    // by network id (bridge networks)
	pools6    map[string]*pool    // by network id (IPv6 networks)
	addrPools []AddressPool       // for networks without --subnet
	sandboxes map[string]*Sandbox // by container id
	proxies   map[string][]closer // by container id
}

type closer interface{ Close() error }

func (s *Service) netDir() string           { return filepath.Join(s.cfg.DataRoot, "network", "networks") }
func (s *Service) sbDir() string            { return filepath.Join(s.cfg.DataRoot, "network", "sandboxes") }
func (s *Service) nsDir() string            { return filepath.Join(s.cfg.ExecRoot, "netns") }
func (s *Service) netPath(id string) string { return filepath.Join(s.netDir(), id+".json") }
func (s *Service) sbPath(id string) string  { return filepath.Join(s.sbDir(), id+".json") }

// New loads the networks, creating the predefined ones as needed. Call
// Restore once the running containers are known.
func New(cfg Config) (*Service, error) {
	if !cfg.BridgeIP.IsValid() {
		cfg.BridgeIP = DefaultBridgeIP
	}
	if cfg.Logger == nil {
		cfg.Logger = logrus.StandardLogger()
	}
	s := &Service{cfg: cfg, log: cfg.Logger, nets: map[string]*Network{}, pools: map[string]*pool{}, pools6: map[string]*pool{}, sandboxes: map[string]*Sandbox{}, proxies: map[string][]closer{}}
	for _, d := range []string{s.netDir(), s.sbDir(), s.nsDir()} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return nil, fmt.Errorf("create %s: %w", d, err)
		}
	}
	s.addrPools = slices.Clone(cfg.AddressPools)
	if len(s.addrPools) == 0 {
		s.addrPools = slices.Clone(defaultPools)
	}
	if !slices.ContainsFunc(s.addrPools, func(p AddressPool) bool { return p.Base.Addr().Is6() }) {
		id, err := s.hostID()
		if err != nil {
			return nil, err
		}
		s.addrPools = append(s.addrPools, ulaPool(id))
	}
	nets, err := readDir[Network](s.netDir())
	if err != nil {
		return nil, err
	}
	for id, n := range nets {
		if n.ID != id {
			continue
		}
		s.nets[id] = n
	}
	if err := s.ensurePredefined(); err != nil {
		return nil, err
	}
	for _, n := range s.nets {
		s.addPoolsLocked(n)
	}
	sbs, err := readDir[Sandbox](s.sbDir())
	if err != nil {
		return nil, err
	}
	for id, sb := range sbs {
		if sb.ContainerID != id {
			continue
		}
		s.sandboxes[id] = sb
		for _, ep := range sb.Endpoints {
			if p := s.pools[ep.NetworkID]; p != nil {
				p.Reserve(ep.Addr)
			}
			if p := s.pools6[ep.NetworkID]; p != nil && ep.Addr6.IsValid() {
				p.Reserve(ep.Addr6)
			}
		}
	}
	return s, nil
}

// addPoolsLocked makes the address pools of bridge network n.
func (s *Service) addPoolsLocked(n *Network) {
	if n.Driver != DriverBridge {
		return
	}
	s.pools[n.ID] = newPool(n.Subnet, n.IPRange, n.Gateway)
	if n.EnableIPv6 && n.Subnet6.IsValid() {
		s.pools6[n.ID] = newPool(n.Subnet6, n.IPRange6, n.Gateway6)
	}
}

// hostID is <data-root>/network/host-id, made once: the seed of the IPv6
// ULA pool (dockerd uses its engine's host id the same way).
func (s *Service) hostID() (string, error) {
	p := filepath.Join(s.cfg.DataRoot, "network", "host-id")
	if b, err := os.ReadFile(p); err == nil && len(b) > 0 {
		return strings.TrimSpace(string(b)), nil
	}
	id := newID()
	if err := writeFileAtomic(p, []byte(id+"\n")); err != nil {
		return "", err
	}
	return id, nil
}

func (s *Service) byName(name string) *Network {
	for _, n := range s.nets {
		if n.Name == name {
			return n
		}
	}
	return nil
}

// ensurePredefined adds host, none and (when enabled) bridge, and brings
// the default bridge's record in line with the daemon's flags.
func (s *Service) ensurePredefined() error {
	want := []*Network{
		{Name: NameHost, Driver: DriverHost},
		{Name: NameNone, Driver: DriverNull},
	}
	if s.cfg.DefaultBridge {
		gw := s.cfg.BridgeIP.Addr()
		br := &Network{
			Name: NameBridge, Driver: DriverBridge, Subnet: s.cfg.BridgeIP.Masked(), Gateway: gw,
			Bridge: DefaultBridgeName, MTU: s.cfg.MTU,
			Options: map[string]string{
				OptDefault: "true", OptICC: "true", OptMasquerade: "true", OptHostBindIP: "0.0.0.0",
				OptBridgeName: DefaultBridgeName, OptMTU: strconv.Itoa(mtuOr1500(s.cfg.MTU)),
			},
		}
		if err := s.planDefaultIPv6(br); err != nil {
			return err
		}
		want = append(want, br)
	} else if old := s.byName(NameBridge); old != nil && old.Predefined() {
		// --bridge=none after a run with the default bridge.
		if err := os.Remove(s.netPath(old.ID)); err != nil && !os.IsNotExist(err) {
			return fmt.Errorf("remove default bridge record: %w", err)
		}
		delete(s.nets, old.ID)
	}
	for _, w := range want {
		old := s.byName(w.Name)
		if old != nil && old.Driver == w.Driver && old.Subnet == w.Subnet && old.Gateway == w.Gateway && old.MTU == w.MTU &&
			old.EnableIPv6 == w.EnableIPv6 && old.Subnet6 == w.Subnet6 && old.Gateway6 == w.Gateway6 {
			continue
		}
		w.ID, w.Created = newID(), time.Now().UTC()
		if old != nil {
			w.ID, w.Created = old.ID, old.Created
		}
		if w.Labels == nil {
			w.Labels = map[string]string{}
		}
		if w.Options == nil {
			w.Options = map[string]string{}
		}
		if err := writeJSON(s.netPath(w.ID), w); err != nil {
			return err
		}
		s.nets[w.ID] = w
	}
	return nil
}

// planDefaultIPv6 gives the default bridge its IPv6 subnet (--ipv6):
// --fixed-cidr-v6, else the one it had, else the next free one of the
// pools.
func (s *Service) planDefaultIPv6(br *Network) error {
	if !s.cfg.IPv6 {
		return nil
	}
	br.EnableIPv6 = true
	if p := s.cfg.FixedCIDRv6; p.IsValid() {
		br.Subnet6, br.Subnet6Given = p.Masked(), true
		br.Gateway6 = firstHost(br.Subnet6)
		return nil
	}
	if old := s.byName(NameBridge); old != nil && old.EnableIPv6 && old.Subnet6.IsValid() && !old.Subnet6Given {
		br.Subnet6, br.Gateway6 = old.Subnet6, old.Gateway6
		return nil
	}
	sub, err := nextSubnet(s.addrPools, true, s.takenLocked(true, NameBridge))
	if err != nil {
		return fmt.Errorf("create default bridge network: %w", err)
	}
	br.Subnet6, br.Gateway6 = sub, firstHost(sub)
	return nil
}

// takenLocked lists the subnets of one family that networks other than
// skip hold.
func (s *Service) takenLocked(v6 bool, skip string) []netip.Prefix {
	var taken []netip.Prefix
	for _, other := range s.nets {
		if other.Name == skip {
			continue
		}
		if v6 {
			if other.EnableIPv6 && other.Subnet6.IsValid() {
				taken = append(taken, other.Subnet6)
			}
		} else if other.Subnet.IsValid() {
			taken = append(taken, other.Subnet)
		}
	}
	return taken
}

func mtuOr1500(m int) int {
	if m == 0 {
		return 1500
	}
	return m
}

// lookup finds a network by full id, name, or unique id prefix (docker's
// order).
func (s *Service) lookup(ref string) (*Network, error) {
	if n, ok := s.nets[ref]; ok {
		return n, nil
	}
	if n := s.byName(ref); n != nil {
		return n, nil
	}
	var found *Network
	if ref != "" {
		for id, n := range s.nets {
			if strings.HasPrefix(id, ref) {
				if found != nil {
					return nil, errdefs.InvalidArgumentf("network %s is ambiguous (%d matches found based on ID prefix)", ref, 2)
				}
				found = n
			}
		}
	}
	if found == nil {
		return nil, errdefs.NotFoundf("network %s not found", ref)
	}
	return found, nil
}

// Get returns a copy of the network ref names.
func (s *Service) Get(ref string) (Network, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	n, err := s.lookup(ref)
	if err != nil {
		return Network{}, err
	}
	return *n, nil
}

// CreateOptions are POST /networks/create's.
type CreateOptions struct {
	Name       string
	Driver     string
	Internal   bool
	Attachable bool
	EnableIPv6 bool
	Labels     map[string]string
	Options    map[string]string
	IPAMDriver string
	// IPAM are the IPAM configs given: at most one IPv4 and, with
	// EnableIPv6, one IPv6 (IPv6 ones are ignored without it, as dockerd
	// does).
	IPAM []IPAMConfig
}

// IPAMConfig is one subnet of a network create request.
type IPAMConfig struct {
	Subnet  netip.Prefix
	IPRange netip.Prefix
	Gateway netip.Addr
}

// Create makes a user-defined network; the bridge is made now so that a
// bad option fails here rather than at the first container's start.
func (s *Service) Create(ctx context.Context, o CreateOptions) (id string, err error) {
	if o.Name == "" {
		return "", errdefs.InvalidArgumentf("network name cannot be empty")
	}
	driver := o.Driver
	if driver == "" {
		driver = DriverBridge
	}
	switch driver {
	case DriverBridge:
	case DriverHost, DriverNull:
		return "", errdefs.Forbiddenf("only one instance of %q network is allowed", driver)
	default:
		return "", errdefs.NotFoundf("plugin %q not found", driver)
	}
	if o.IPAMDriver != "" && o.IPAMDriver != "default" {
		return "", errdefs.NotFoundf("plugin %q not found", o.IPAMDriver)
	}
	var v4, v6 []IPAMConfig
	for _, c := range o.IPAM {
		if c.Subnet.IsValid() && c.Subnet.Addr().Is6() {
			v6 = append(v6, c)
		} else {
			v4 = append(v4, c)
		}
	}
	if len(v4) > 1 {
		return "", errdefs.NotImplementedf("more than one IPv4 subnet per network is not supported by berth yet")
	}
	if o.EnableIPv6 && len(v6) > 1 {
		return "", errdefs.NotImplementedf("more than one IPv6 subnet per network is not supported by berth yet")
	}
	mtu := s.cfg.MTU
	brName := ""
	for k, v := range o.Options {
		switch k {
		case OptBridgeName:
			brName = v
		case OptMTU:
			m, err := strconv.Atoi(v)
			if err != nil || m < 68 || m > 65535 {
				return "", errdefs.InvalidArgumentf("invalid MTU %q: must be an integer between 68 and 65535", v)
			}
			mtu = m
		case OptICC, OptMasquerade, OptHostBindIP, "com.docker.network.bridge.enable_ipv4", "com.docker.network.container_iface_prefix":
		default:
			if strings.HasPrefix(k, "com.docker.network.") {
				return "", errdefs.InvalidArgumentf("unsupported driver option %s for the bridge driver", k)
			}
		}
	}
	if brName != "" && len(brName) > 15 {
		return "", errdefs.InvalidArgumentf("bridge name %q is longer than 15 characters", brName)
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	if s.byName(o.Name) != nil {
		return "", errdefs.Conflictf("network with name %s already exists", o.Name)
	}
	n := &Network{
		ID: newID(), Name: o.Name, Driver: driver, Created: time.Now().UTC(), Internal: o.Internal,
		Attachable: o.Attachable, Labels: maps.Clone(o.Labels), Options: maps.Clone(o.Options), MTU: mtu,
	}
	if n.Labels == nil {
		n.Labels = map[string]string{}
	}
	if n.Options == nil {
		n.Options = map[string]string{}
	}
	if brName == "" {
		brName = "br-" + n.ID[:12]
	}
	for _, other := range s.nets {
		if other.Bridge == brName {
			return "", errdefs.Conflictf("bridge name %s is already in use by network %s", brName, other.Name)
		}
	}
	n.Bridge = brName
	var c4, c6 IPAMConfig
	if len(v4) > 0 {
		c4 = v4[0]
	}
	p4, err := s.planSubnet(c4, false)
	if err != nil {
		return "", err
	}
	n.Subnet, n.SubnetGiven, n.IPRange, n.Gateway = p4.subnet, p4.given, p4.ipRange, p4.gateway
	if o.EnableIPv6 {
		n.EnableIPv6 = true
		if len(v6) > 0 {
			c6 = v6[0]
		}
		p6, err := s.planSubnet(c6, true)
		if err != nil {
			return "", err
		}
		n.Subnet6, n.Subnet6Given, n.IPRange6, n.Gateway6 = p6.subnet, p6.given, p6.ipRange, p6.gateway
	}
	if err := ensureBridge(n); err != nil {
		deleteLink(n.Bridge)
		return "", err
	}
	defer func() {
		if err != nil {
			deleteLink(n.Bridge)
		}
	}()
	if err := s.enableForwarding(n); err != nil {
		return "", err
	}
	if err := writeJSON(s.netPath(n.ID), n); err != nil {
		return "", err
	}
	s.nets[n.ID] = n
	s.addPoolsLocked(n)
	if err := s.syncRulesLocked(); err != nil {
		s.removeLocked(n)
		return "", err
	}
	return n.ID, nil
}

// enableForwarding turns on forwarding for a network with a way out
// (--ip-forward; IPv6 too with --ip6tables, as dockerd).
func (s *Service) enableForwarding(n *Network) error {
	if !s.cfg.IPForward || n.Internal {
		return nil
	}
	if err := setIPForward(); err != nil {
		return err
	}
	if n.EnableIPv6 && s.cfg.IP6Tables {
		return setIPv6Forward()
	}
	return nil
}

// subnetPlan is one address family's subnet, range and gateway as
// planSubnet validated or picked them.
type subnetPlan struct {
	subnet  netip.Prefix
	given   bool // the subnet came from the request, not the pools
	ipRange netip.Prefix
	gateway netip.Addr
}

// planSubnet validates o, or picks a free subnet from the address pools
// when o names none, for the network's IPv4 (v6 false) or IPv6 side.
func (s *Service) planSubnet(o IPAMConfig, v6 bool) (subnetPlan, error) {
	taken := s.takenLocked(v6, "")
	if !o.Subnet.IsValid() {
		if !v6 && (o.IPRange.IsValid() || o.Gateway.IsValid()) {
			return subnetPlan{}, errdefs.InvalidArgumentf("invalid pool request: ip-range and gateway require a subnet")
		}
		sub, err := nextSubnet(s.addrPools, v6, taken)
		if err != nil {
			return subnetPlan{}, err
		}
		return subnetPlan{subnet: sub, gateway: firstHost(sub)}, nil
	}
	sub := o.Subnet.Masked()
	maxBits := 30
	if v6 {
		maxBits = 126
	}
	if sub.Bits() > maxBits {
		return subnetPlan{}, errdefs.InvalidArgumentf("invalid subnet %s: too small for a bridge network", o.Subnet)
	}
	for _, t := range taken {
		if overlaps(sub, t) {
			return subnetPlan{}, errdefs.Forbiddenf("invalid pool request: Pool overlaps with other one on this address space")
		}
	}
	p := subnetPlan{subnet: sub, given: true, gateway: firstHost(sub)}
	if o.IPRange.IsValid() {
		if v6 && !o.IPRange.Addr().Is6() {
			return subnetPlan{}, errdefs.InvalidArgumentf("invalid network config:\ninvalid ip-range %s: parent subnet is an IPv6 block", o.IPRange)
		}
		if o.IPRange.Bits() < sub.Bits() || !sub.Contains(o.IPRange.Addr()) {
			return subnetPlan{}, errdefs.InvalidArgumentf("invalid ip-range %s: it must be within subnet %s", o.IPRange, sub)
		}
		p.ipRange = o.IPRange.Masked()
	}
	if o.Gateway.IsValid() {
		if v6 && !o.Gateway.Is6() {
			return subnetPlan{}, errdefs.InvalidArgumentf("invalid network config:\ninvalid gateway %s: parent subnet is an IPv6 block", o.Gateway)
		}
		// IPv6 has no broadcast address.
		if !sub.Contains(o.Gateway) || o.Gateway == sub.Addr() || (!v6 && o.Gateway == broadcast(sub)) {
			return subnetPlan{}, errdefs.InvalidArgumentf("invalid gateway %s: it must be within subnet %s", o.Gateway, sub)
		}
		p.gateway = o.Gateway
	}
	return p, nil
}

// Remove deletes a user-defined network without endpoints.
func (s *Service) Remove(ctx context.Context, ref string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	n, err := s.lookup(ref)
	if err != nil {
		return err
	}
	if n.Predefined() {
		return errdefs.Forbiddenf("%s is a pre-defined network and cannot be removed", n.Name)
	}
	var names []string
	for _, sb := range s.sandboxes {
		if sb.endpoint(n.ID) != nil {
			names = append(names, fmt.Sprintf("name:%q id:%q", strings.TrimPrefix(sb.ContainerName, "/"), sb.ContainerID[:12]))
		}
	}
	if len(names) > 0 {
		sort.Strings(names)
		return errdefs.Forbiddenf("error while removing network: network %s has active endpoints (%s)", n.Name, strings.Join(names, ", "))
	}
	return s.removeLocked(n)
}

func (s *Service) removeLocked(n *Network) error {
	if err := deleteLink(n.Bridge); err != nil {
		return err
	}
	if err := os.Remove(s.netPath(n.ID)); err != nil && !os.IsNotExist(err) {
		return fmt.Errorf("remove network %s: %w", n.Name, err)
	}
	delete(s.nets, n.ID)
	delete(s.pools, n.ID)
	delete(s.pools6, n.ID)
	return s.syncRulesLocked()
}

// syncRulesLocked rewrites berth's nftables table from the records.
func (s *Service) syncRulesLocked() error {
	if !s.cfg.IPTables {
		return nil
	}
	nets := make([]*Network, 0, len(s.nets))
	for _, n := range s.nets {
		nets = append(nets, n)
	}
	sbs := make([]*Sandbox, 0, len(s.sandboxes))
	for _, sb := range s.sandboxes {
		sbs = append(sbs, sb)
	}
	return applyRules(planRules(nets, sbs, false), planRules(nets, sbs, true), s.cfg.IP6Tables)
}

// Prune removes user-defined networks without endpoints that match f
// (label, label!, until).
func (s *Service) Prune(ctx context.Context, f filters.Args) ([]string, error) {
	if err := f.Validate("label", "label!", "until"); err != nil {
		return nil, err
	}
	until, err := untilFilter(f)
	if err != nil {
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
	var out []string
	for _, n := range s.sortedLocked() {
		if n.Predefined() || used[n.ID] || !matchLabels(f, n.Labels) || (!until.IsZero() && !n.Created.Before(until)) {
			continue
		}
		if err := s.removeLocked(n); err != nil {
			return out, err
		}
		out = append(out, n.Name)
	}
	return out, nil
}

func (s *Service) sortedLocked() []*Network {
	out := make([]*Network, 0, len(s.nets))
	for _, n := range s.nets {
		out = append(out, n)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

func untilFilter(f filters.Args) (time.Time, error) {
	vs := f.Get("until")
	if len(vs) == 0 {
		return time.Time{}, nil
	}
	v := vs[0]
	if d, err := time.ParseDuration(v); err == nil {
		return time.Now().Add(-d), nil
	}
	if sec, err := strconv.ParseInt(v, 10, 64); err == nil {
		return time.Unix(sec, 0), nil
	}
	for _, layout := range []string{time.RFC3339Nano, time.RFC3339, "2006-01-02T15:04:05", "2006-01-02"} {
		if t, err := time.Parse(layout, v); err == nil {
			return t, nil
		}
	}
	return time.Time{}, errdefs.InvalidArgumentf("invalid filter 'until=%s'", v)
}

func matchLabels(f filters.Args, labels map[string]string) bool {
	for _, l := range f.Get("label") {
		k, v, hasV := strings.Cut(l, "=")
		lv, ok := labels[k]
		if !ok || (hasV && lv != v) {
			return false
		}
	}
	for _, l := range f.Get("label!") {
		k, v, hasV := strings.Cut(l, "=")
		if lv, ok := labels[k]; ok && (!hasV || lv == v) {
			return false
		}
	}
	return true
}

// Close stops the port proxies; sandboxes stay for the next Restore.
func (s *Service) Close() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for id, cs := range s.proxies {
		for _, c := range cs {
			c.Close()
		}
		delete(s.proxies, id)
	}
}
