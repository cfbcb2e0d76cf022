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
	if got, err := nextSubnet(taken); err != nil || got.String() != "10.213.1.0/24" {
		t.Fatalf("nextSubnet = %v, %v", got, err)
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
	want := []wantBinding{
		{proto: "udp", hostIP: netip.IPv4Unspecified(), ctrPort: 53},
		{proto: "tcp", hostIP: netip.IPv4Unspecified(), lo: 9000, hi: 9010, ctrPort: 80},
		{proto: "tcp", hostIP: netip.MustParseAddr("127.0.0.1"), lo: 8080, hi: 8080, ctrPort: 80},
		{proto: "tcp", hostIP: netip.IPv4Unspecified(), ctrPort: 443},
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
}

func TestPlanRules(t *testing.T) {
	a := &Network{Name: "a", Driver: DriverBridge, Bridge: "br-a", Subnet: netip.MustParsePrefix("10.1.0.0/24")}
	b := &Network{Name: "b", Driver: DriverBridge, Bridge: "br-b", Subnet: netip.MustParsePrefix("10.2.0.0/24"), Internal: true}
	h := &Network{Name: "host", Driver: DriverHost}
	sb := &Sandbox{ContainerID: "c1", Endpoints: []*Endpoint{{Addr: netip.MustParseAddr("10.1.0.2")}},
		Ports: []PortBinding{{Proto: "tcp", HostIP: netip.IPv4Unspecified(), HostPort: 8080, CtrPort: 80}}}
	rs := planRules([]*Network{h, b, a}, []*Sandbox{sb})
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
}

func TestPTRAddr(t *testing.T) {
	if a, ok := ptrAddr("50.1.88.10.in-addr.arpa"); !ok || a.String() != "10.88.1.50" {
		t.Fatalf("ptrAddr = %v %v", a, ok)
	}
	if _, ok := ptrAddr("web.n1"); ok {
		t.Fatal("not a PTR name")
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
	if _, err := s.Create(ctx, CreateOptions{Name: "u", Subnet: netip.MustParsePrefix("10.50.0.0/24")}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Create(ctx, CreateOptions{Name: "v", Subnet: netip.MustParsePrefix("10.50.0.128/25")}); !errdefs.Is(err, errdefs.Forbidden) {
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
}
