package network

import (
	"net/netip"
	"strings"
	"testing"

	"github.com/berth-dev/berth/internal/errdefs"
)

// planSubnet validates the same way for both families, with IPv4's
// broadcast and subnet-less range/gateway checks and IPv6's family
// checks.
func TestPlanSubnet(t *testing.T) {
	s := &Service{
		nets: map[string]*Network{"x": {
			Name: "x", Subnet: netip.MustParsePrefix("10.50.0.0/16"),
			EnableIPv6: true, Subnet6: netip.MustParsePrefix("fd00:50::/64"),
		}},
		addrPools: append(slicesClone(defaultPools), ulaPool("")),
	}
	pfx, addr := netip.MustParsePrefix, netip.MustParseAddr
	ok := []struct {
		o    IPAMConfig
		v6   bool
		want subnetPlan
	}{
		{IPAMConfig{}, false, subnetPlan{subnet: pfx("10.213.0.0/24"), gateway: addr("10.213.0.1")}},
		{IPAMConfig{}, true, subnetPlan{subnet: pfx("fd42:98fc:1c14::/64"), gateway: addr("fd42:98fc:1c14::1")}},
		{IPAMConfig{Subnet: pfx("10.60.1.7/24"), IPRange: pfx("10.60.1.128/25"), Gateway: addr("10.60.1.254")}, false,
			subnetPlan{subnet: pfx("10.60.1.0/24"), given: true, ipRange: pfx("10.60.1.128/25"), gateway: addr("10.60.1.254")}},
		{IPAMConfig{Subnet: pfx("fd00:60::/64"), Gateway: addr("fd00:60::ffff:ffff:ffff:ffff")}, true,
			subnetPlan{subnet: pfx("fd00:60::/64"), given: true, gateway: addr("fd00:60::ffff:ffff:ffff:ffff")}},
	}
	for _, c := range ok {
		got, err := s.planSubnet(c.o, c.v6)
		if err != nil || got != c.want {
			t.Errorf("planSubnet(%+v, v6=%v) = %+v, %v; want %+v", c.o, c.v6, got, err, c.want)
		}
	}
	bad := []struct {
		o     IPAMConfig
		v6    bool
		class errdefs.Class
		msg   string
	}{
		{IPAMConfig{Gateway: addr("10.60.0.1")}, false, errdefs.InvalidArgument, "ip-range and gateway require a subnet"},
		{IPAMConfig{Subnet: pfx("10.60.0.0/31")}, false, errdefs.InvalidArgument, "too small for a bridge network"},
		{IPAMConfig{Subnet: pfx("fd00:60::/127")}, true, errdefs.InvalidArgument, "too small for a bridge network"},
		{IPAMConfig{Subnet: pfx("10.50.3.0/24")}, false, errdefs.Forbidden, "Pool overlaps"},
		{IPAMConfig{Subnet: pfx("fd00:50::/80")}, true, errdefs.Forbidden, "Pool overlaps"},
		{IPAMConfig{Subnet: pfx("10.60.1.0/24"), IPRange: pfx("10.60.0.0/16")}, false, errdefs.InvalidArgument, "must be within subnet"},
		{IPAMConfig{Subnet: pfx("fd00:60::/64"), IPRange: pfx("10.60.1.0/25")}, true, errdefs.InvalidArgument, "parent subnet is an IPv6 block"},
		{IPAMConfig{Subnet: pfx("10.60.1.0/24"), Gateway: addr("10.60.1.255")}, false, errdefs.InvalidArgument, "must be within subnet"},
		{IPAMConfig{Subnet: pfx("10.60.1.0/24"), Gateway: addr("10.60.1.0")}, false, errdefs.InvalidArgument, "must be within subnet"},
		{IPAMConfig{Subnet: pfx("fd00:60::/64"), Gateway: addr("10.60.1.1")}, true, errdefs.InvalidArgument, "parent subnet is an IPv6 block"},
		{IPAMConfig{Subnet: pfx("fd00:60::/64"), Gateway: addr("fd00:61::1")}, true, errdefs.InvalidArgument, "must be within subnet"},
	}
	for _, c := range bad {
		_, err := s.planSubnet(c.o, c.v6)
		if err == nil || errdefs.ClassOf(err) != c.class || !strings.Contains(err.Error(), c.msg) {
			t.Errorf("planSubnet(%+v, v6=%v) = %v; want %v %q", c.o, c.v6, err, c.class, c.msg)
		}
	}
}
