package network

import (
	"context"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/moby/moby/api/types/network"
	"github.com/vishvananda/netlink"

	"github.com/berth-dev/berth/internal/errdefs"
)

func TestPoolAllocate(t *testing.T) {
	p := newPool(netip.MustParsePrefix("10.0.0.0/29"), netip.Prefix{}, netip.MustParseAddr("10.0.0.1"))
	var got []string
	for {
		a, err := p.Allocate(netip.Addr{})
		if err != nil {
			if !errdefs.Is(err, errdefs.Unavailable) {
				t.Fatalf("exhausted pool: %v", err)
			}
			break
		}
		got = append(got, a.String())
	}
	// Not the network, the gateway or the broadcast address.
	if strings.Join(got, " ") != "10.0.0.2 10.0.0.3 10.0.0.4 10.0.0.5 10.0.0.6" {
		t.Fatalf("allocated %v", got)
	}
	p.Release(netip.MustParseAddr("10.0.0.4"))
	if a, err := p.Allocate(netip.Addr{}); err != nil || a.String() != "10.0.0.4" {
		t.Fatalf("after release: %v %v", a, err)
	}
	if _, err := p.Allocate(netip.MustParseAddr("10.0.0.3")); !errdefs.Is(err, errdefs.Conflict) {
		t.Fatalf("taken address: %v", err)
	}
	if _, err := p.Allocate(netip.MustParseAddr("10.9.0.3")); !errdefs.Is(err, errdefs.InvalidArgument) || !strings.Contains(err.Error(), "no configured subnet or ip-range contain the IP address 10.9.0.3") {
		t.Fatalf("outside address: %v", err)
	}
	r := newPool(netip.MustParsePrefix("10.1.0.0/24"), netip.MustParsePrefix("10.1.0.128/25"), netip.MustParseAddr("10.1.0.1"))
	if a, _ := r.Allocate(netip.Addr{}); a.String() != "10.1.0.128" {
		t.Fatalf("ip-range start: %v", a)
	}
}

func TestNextSubnet(t *testing.T) {
	taken := []netip.Prefix{netip.MustParsePrefix("10.213.0.0/24"), netip.MustParsePrefix("10.213.2.0/23")}
	if got, err := nextSubnet(defaultPools, false, taken); err != nil || got.String() != "10.213.1.0/24" {
		t.Fatalf("nextSubnet = %v, %v", got, err)
	}
	// IPv6: /64s of the ULA pool, in order, skipping taken ones.
	ula := ulaPool("")
	if ula.Base.String() != "fd42:98fc:1c14::/48" || ula.Size != 64 {
		t.Fatalf("ULA pool %v (dockerd derives fd42:98fc:1c14::/48 from an empty host id)", ula)
	}
	pools := append(slicesClone(defaultPools), ula)
	got, err := nextSubnet(pools, true, []netip.Prefix{netip.MustParsePrefix("fd42:98fc:1c14::/64"), netip.MustParsePrefix("10.213.1.0/24")})
	if err != nil || got.String() != "fd42:98fc:1c14:1::/64" {
		t.Fatalf("nextSubnet v6 = %v, %v", got, err)
	}
	// A configured IPv6 pool with one subnet: the second network gets
	// dockerd's error, as Forbidden.
	one := []AddressPool{{Base: netip.MustParsePrefix("fd00:aa::/64"), Size: 64}}
	if got, err := nextSubnet(one, true, nil); err != nil || got.String() != "fd00:aa::/64" {
		t.Fatalf("one-subnet pool: %v %v", got, err)
	}
	_, err = nextSubnet(one, true, []netip.Prefix{netip.MustParsePrefix("fd00:aa::/64")})
	if !errdefs.Is(err, errdefs.Forbidden) || !strings.Contains(err.Error(), "could not find an available, non-overlapping IPv6 address pool among the defaults to assign to the network") {
		t.Fatalf("exhausted v6 pool: %v", err)
	}
	// Subnet arithmetic across byte boundaries.
	ap := AddressPool{Base: netip.MustParsePrefix("fd00:1::/56"), Size: 64}
	if p, ok := ap.nthSubnet(0x1f); !ok || p.String() != "fd00:1:0:1f::/64" {
		t.Fatalf("nthSubnet(0x1f) = %v %v", p, ok)
	}
	if _, ok := ap.nthSubnet(256); ok {
		t.Fatal("nthSubnet past the end")
	}
	ap4 := AddressPool{Base: netip.MustParsePrefix("10.0.0.0/8"), Size: 24}
	if p, ok := ap4.nthSubnet(258); !ok || p.String() != "10.1.2.0/24" {
		t.Fatalf("nthSubnet v4 = %v %v", p, ok)
	}
}

func slicesClone(p []AddressPool) []AddressPool { return append([]AddressPool(nil), p...) }

func TestPoolAllocate6(t *testing.T) {
	p := newPool(netip.MustParsePrefix("fd00:1::/64"), netip.Prefix{}, netip.MustParseAddr("fd00:1::1"))
	var got []string
	for i := 0; i < 3; i++ {
		a, err := p.Allocate(netip.Addr{})
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, a.String())
	}
	// In order after the subnet-router anycast address and the gateway.
	if strings.Join(got, " ") != "fd00:1::2 fd00:1::3 fd00:1::4" {
		t.Fatalf("allocated %v", got)
	}
	if a, err := p.Allocate(netip.MustParseAddr("fd00:1::99")); err != nil || a.String() != "fd00:1::99" {
		t.Fatalf("preferred: %v %v", a, err)
	}
	if _, err := p.Allocate(netip.MustParseAddr("fd00:1::99")); !errdefs.Is(err, errdefs.Conflict) {
		t.Fatalf("taken: %v", err)
	}
	if _, err := p.Allocate(netip.MustParseAddr("fd00:2::5")); !errdefs.Is(err, errdefs.InvalidArgument) || !strings.Contains(err.Error(), "no configured subnet contains IP address fd00:2::5") {
		t.Fatalf("outside: %v", err)
	}
	// The last address of an IPv6 subnet is usable (no broadcast); a
	// full small subnet says so.
	small := newPool(netip.MustParsePrefix("fd00:3::/126"), netip.Prefix{}, netip.MustParseAddr("fd00:3::1"))
	var all []string
	for {
		a, err := small.Allocate(netip.Addr{})
		if err != nil {
			if !errdefs.Is(err, errdefs.Unavailable) || !strings.Contains(err.Error(), "IPv6") {
				t.Fatalf("exhausted: %v", err)
			}
			break
		}
		all = append(all, a.String())
	}
	if strings.Join(all, " ") != "fd00:3::2 fd00:3::3" {
		t.Fatalf("small pool %v", all)
	}
	r := newPool(netip.MustParsePrefix("fd00:4::/64"), netip.MustParsePrefix("fd00:4::100/120"), netip.MustParseAddr("fd00:4::1"))
	if a, _ := r.Allocate(netip.Addr{}); a.String() != "fd00:4::100" {
		t.Fatalf("ip-range start: %v", a)
	}
}

func TestPlanPorts(t *testing.T) {
	pm := network.PortMap{
		network.MustParsePort("80/tcp"):  {{HostIP: netip.MustParseAddr("127.0.0.1"), HostPort: "8080"}, {HostPort: "9000-9010"}},
		network.MustParsePort("53/udp"):  {{HostPort: ""}},
		network.MustParsePort("443/tcp"): nil,
	}
	exposed := network.PortSet{network.MustParsePort("443/tcp"): {}, network.MustParsePort("80/tcp"): {}}
	got, err := planPorts(pm, exposed, true)
	if err != nil {
		t.Fatal(err)
	}
	// No host address: 0.0.0.0, then its [::] twin (same port).
	want := []wantBinding{
		{proto: "udp", hostIP: netip.IPv4Unspecified(), ctrPort: 53},
		{proto: "udp", hostIP: netip.IPv6Unspecified(), ctrPort: 53, twin: true},
		{proto: "tcp", hostIP: netip.IPv4Unspecified(), lo: 9000, hi: 9010, ctrPort: 80},
		{proto: "tcp", hostIP: netip.IPv6Unspecified(), lo: 9000, hi: 9010, ctrPort: 80, twin: true},
		{proto: "tcp", hostIP: netip.MustParseAddr("127.0.0.1"), lo: 8080, hi: 8080, ctrPort: 80},
		{proto: "tcp", hostIP: netip.IPv4Unspecified(), ctrPort: 443},
		{proto: "tcp", hostIP: netip.IPv6Unspecified(), ctrPort: 443, twin: true},
	}
	if len(got) != len(want) {
		t.Fatalf("got %+v", got)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("binding %d = %+v, want %+v", i, got[i], want[i])
		}
	}
	if _, err := planPorts(network.PortMap{network.MustParsePort("80/tcp"): {{HostPort: "x"}}}, nil, false); !errdefs.Is(err, errdefs.InvalidArgument) {
		t.Fatalf("bad host port: %v", err)
	}
	// An explicit IPv6 host address is one binding.
	got, err = planPorts(network.PortMap{network.MustParsePort("80/tcp"): {{HostIP: netip.MustParseAddr("::1"), HostPort: "8080"}}}, nil, false)
	if err != nil || len(got) != 1 || got[0].hostIP.String() != "::1" || got[0].twin {
		t.Fatalf("[::1]:8080:80 = %+v, %v", got, err)
	}
}

func TestPlanRules(t *testing.T) {
	a := &Network{Name: "a", Driver: DriverBridge, Bridge: "br-a", Subnet: netip.MustParsePrefix("10.1.0.0/24")}
	b := &Network{Name: "b", Driver: DriverBridge, Bridge: "br-b", Subnet: netip.MustParsePrefix("10.2.0.0/24"), Internal: true}
	h := &Network{Name: "host", Driver: DriverHost}
	sb := &Sandbox{ContainerID: "c1", Endpoints: []*Endpoint{{Addr: netip.MustParseAddr("10.1.0.2")}},
		Ports: []PortBinding{{Proto: "tcp", HostIP: netip.IPv4Unspecified(), HostPort: 8080, CtrPort: 80}}}
	rs := planRules([]*Network{h, b, a}, []*Sandbox{sb}, false)
	if len(rs.Isolate) != 2 || rs.Isolate[0] != [2]string{"br-a", "br-b"} || rs.Isolate[1] != [2]string{"br-b", "br-a"} {
		t.Errorf("isolate %v", rs.Isolate)
	}
	if len(rs.Internal) != 1 || rs.Internal[0] != "br-b" {
		t.Errorf("internal %v", rs.Internal)
	}
	if len(rs.Masquerade) != 1 || rs.Masquerade[0].Bridge != "br-a" {
		t.Errorf("masquerade %v (an internal network gets none)", rs.Masquerade)
	}
	if len(rs.DNAT) != 1 || rs.DNAT[0].Target.String() != "10.1.0.2" || rs.DNAT[0].HostPort != 8080 {
		t.Errorf("dnat %v", rs.DNAT)
	}

	// The ip6 table: the same isolation; masquerade and DNAT for IPv6
	// networks and endpoints only.
	a.EnableIPv6, a.Subnet6 = true, netip.MustParsePrefix("fd00:a::/64")
	sb.Ports = append(sb.Ports, PortBinding{Proto: "tcp", HostIP: netip.IPv6Unspecified(), HostPort: 8080, CtrPort: 80})
	v4only := &Sandbox{ContainerID: "c2", Endpoints: []*Endpoint{{Addr: netip.MustParseAddr("10.2.0.2")}},
		Ports: []PortBinding{{Proto: "tcp", HostIP: netip.IPv6Unspecified(), HostPort: 9090, CtrPort: 80}}}
	rs6 := planRules([]*Network{h, b, a}, []*Sandbox{sb, v4only}, true)
	if !rs6.V6 || len(rs6.Isolate) != 2 || len(rs6.Internal) != 1 {
		t.Errorf("ip6 isolation %+v", rs6)
	}
	if len(rs6.Masquerade) != 1 || rs6.Masquerade[0].Subnet.String() != "fd00:a::/64" {
		t.Errorf("ip6 masquerade %v", rs6.Masquerade)
	}
	if len(rs6.DNAT) != 0 {
		t.Errorf("ip6 dnat to an endpoint without IPv6: %v", rs6.DNAT)
	}
	sb.Endpoints[0].Addr6 = netip.MustParseAddr("fd00:a::2")
	rs6 = planRules([]*Network{h, b, a}, []*Sandbox{sb, v4only}, true)
	if len(rs6.DNAT) != 1 || rs6.DNAT[0].Target.String() != "fd00:a::2" || !rs6.DNAT[0].HostIP.Is6() {
		t.Errorf("ip6 dnat %v", rs6.DNAT)
	}
	if rs4 := planRules([]*Network{h, b, a}, []*Sandbox{sb, v4only}, false); len(rs4.DNAT) != 1 {
		t.Errorf("ip dnat got the IPv6 bindings: %v", rs4.DNAT)
	}
}

func TestPTRAddr(t *testing.T) {
	if a, ok := ptrAddr("50.1.88.10.in-addr.arpa"); !ok || a.String() != "10.88.1.50" {
		t.Fatalf("ptrAddr = %v %v", a, ok)
	}
	if _, ok := ptrAddr("web.n1"); ok {
		t.Fatal("not a PTR name")
	}
	if a, ok := ptrAddr("b.a.9.8.7.6.5.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.ip6.arpa"); !ok || a.String() != "2001:db8::567:89ab" {
		t.Fatalf("ptrAddr ip6 = %v %v", a, ok)
	}
}

// TestKernel drives the service against the kernel. It re-runs itself in
// a new network namespace (unshare --net), so every bridge, veth and
// nftables rule it makes exists only there and goes with the process.
func TestKernel(t *testing.T) {
	if os.Getuid() != 0 {
		t.Skip("needs root")
	}
	if os.Getenv("BERTH_NETWORK_TEST_NETNS") == "" {
		if _, err := exec.LookPath("unshare"); err != nil {
			t.Skip("no unshare")
		}
		cmd := exec.Command("unshare", "--net", os.Args[0], "-test.run=^TestKernel$", "-test.v")
		cmd.Env = append(os.Environ(), "BERTH_NETWORK_TEST_NETNS=1")
		out, err := cmd.CombinedOutput()
		t.Logf("%s", out)
		if err != nil {
			t.Fatalf("in a new netns: %v", err)
		}
		return
	}
	lo, _ := netlink.LinkByName("lo")
	netlink.LinkSetUp(lo)
	root := t.TempDir()
	ctx := context.Background()
	s, err := New(Config{DataRoot: filepath.Join(root, "data"), ExecRoot: filepath.Join(root, "exec"), DefaultBridge: true, IPTables: true})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.Restore(ctx, func(string) bool { return false }); err != nil {
		t.Fatal(err)
	}
	if _, err := netlink.LinkByName(DefaultBridgeName); err != nil {
		t.Fatalf("default bridge: %v", err)
	}
	if _, err := s.Create(ctx, CreateOptions{Name: "u", IPAM: []IPAMConfig{{Subnet: netip.MustParsePrefix("10.50.0.0/24")}}}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Create(ctx, CreateOptions{Name: "v", IPAM: []IPAMConfig{{Subnet: netip.MustParsePrefix("10.50.0.128/25")}}}); !errdefs.Is(err, errdefs.Forbidden) {
		t.Fatalf("overlap: %v", err)
	}
	const rounds = 20
	var total time.Duration
	for i := 0; i < rounds; i++ {
		id := fmt.Sprintf("%02d", i) + strings.Repeat("ab", 31)
		start := time.Now()
		att, err := s.Attach(ctx, AttachRequest{ContainerID: id, ContainerName: "/c", Networks: map[string]*network.EndpointSettings{"u": nil}, Order: []string{"u"}})
		if err != nil {
			t.Fatal(err)
		}
		total += time.Since(start)
		if !netip.MustParsePrefix("10.50.0.0/24").Contains(att.IP) || (i == 0 && att.IP.String() != "10.50.0.2") || !att.EmbeddedDNS {
			t.Fatalf("attached %+v", att)
		}
		if _, err := netlink.LinkByName("vb" + id[:7] + "0"); err != nil {
			t.Fatalf("host veth: %v", err)
		}
		if err := s.Detach(ctx, id); err != nil {
			t.Fatal(err)
		}
	}
	t.Logf("attach (netns + veth + addresses + DNS listener): %v per container", total/rounds)
	// The kernel removes the veths with their namespaces, in the background.
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		links, _ := netlink.LinkList()
		n := 0
		for _, l := range links {
			if l.Type() == "veth" {
				n++
			}
		}
		if n == 0 {
			break
		}
		if time.Now().After(deadline) {
			var names []string
			for _, l := range links {
				names = append(names, l.Attrs().Name+"/"+l.Type())
			}
			t.Fatalf("%d veths left after detach: %v", n, names)
		}
	}
	if ents, _ := os.ReadDir(filepath.Join(root, "exec", "netns")); len(ents) != 0 {
		t.Fatalf("netns files left: %d", len(ents))
	}
	if err := s.Remove(ctx, "u"); err != nil {
		t.Fatal(err)
	}

	// IPv6: one IPv4 and one IPv6 subnet; the bridge gets both gateways
	// and IPv6 turned on, the container both addresses, and the ip6
	// table exists.
	if _, err := s.Create(ctx, CreateOptions{Name: "six", EnableIPv6: true, IPAM: []IPAMConfig{
		{Subnet: netip.MustParsePrefix("10.60.0.0/24")}, {Subnet: netip.MustParsePrefix("fd00:60::/64")}}}); err != nil {
		t.Fatal(err)
	}
	six, _ := s.Get("six")
	if !six.EnableIPv6 || six.Gateway6.String() != "fd00:60::1" {
		t.Fatalf("six: %+v", six)
	}
	if b, _ := os.ReadFile("/proc/sys/net/ipv6/conf/" + six.Bridge + "/accept_ra"); strings.TrimSpace(string(b)) != "0" {
		t.Fatalf("accept_ra of %s: %q", six.Bridge, b)
	}
	id := strings.Repeat("cd", 32)
	att, err := s.Attach(ctx, AttachRequest{ContainerID: id, ContainerName: "/c6", Networks: map[string]*network.EndpointSettings{"six": nil}, Order: []string{"six"}})
	if err != nil {
		t.Fatal(err)
	}
	if att.IP6.String() != "fd00:60::2" || att.Networks["six"].IPv6Gateway.String() != "fd00:60::1" || att.Networks["six"].GlobalIPv6PrefixLen != 64 {
		t.Fatalf("attached v6 %+v %+v", att, att.Networks["six"])
	}
	out, err := exec.Command("nsenter", "--net="+att.NetNSPath, "ip", "-6", "route", "show", "default").CombinedOutput()
	if err != nil || !strings.Contains(string(out), "via fd00:60::1") {
		t.Fatalf("container v6 default route: %v %s", err, out)
	}
	if err := s.Detach(ctx, id); err != nil {
		t.Fatal(err)
	}
	if err := s.Remove(ctx, "six"); err != nil {
		t.Fatal(err)
	}
}
