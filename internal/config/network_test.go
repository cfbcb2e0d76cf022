package config

import (
	"strings"
	"testing"

	"github.com/berth-dev/berth/internal/errdefs"
)

func TestNetworkIPv6Settings(t *testing.T) {
	c, err := load(t, "", "--ipv6", "--fixed-cidr-v6", "fd00:1::/64",
		"--default-address-pool", "base=10.10.0.0/16,size=24", "--default-address-pool", "base=fd00:aa::/48,size=64")
	if err != nil {
		t.Fatal(err)
	}
	if !c.IPv6 || c.FixedCIDRv6Prefix().String() != "fd00:1::/64" || !c.IP6Tables {
		t.Fatalf("flags: %+v", c.Network)
	}
	if len(c.AddressPools) != 2 || c.AddressPools[1].BasePrefix().String() != "fd00:aa::/48" || c.AddressPools[1].Size != 64 {
		t.Fatalf("pools: %+v", c.AddressPools)
	}
	c, err = load(t, `{"ipv6": true, "fixed-cidr-v6": "fd00:2::/64", "ip6tables": false,
		"default-address-pools": [{"base": "10.20.0.0/16", "size": 24}, {"base": "fd00:bb::/56", "size": 64}]}`)
	if err != nil {
		t.Fatal(err)
	}
	if !c.IPv6 || c.FixedCIDRv6 != "fd00:2::/64" || c.IP6Tables || len(c.AddressPools) != 2 || c.AddressPools[0].Base != "10.20.0.0/16" {
		t.Fatalf("daemon.json: %+v", c.Network)
	}
	for _, bad := range [][]string{
		{"--fixed-cidr-v6", "10.0.0.0/8"},
		{"--fixed-cidr-v6", "nonsense"},
		{"--default-address-pool", "base=10.10.0.0/16,size=8"},
		{"--default-address-pool", "base=fd00::/48,size=129"},
	} {
		if _, err := load(t, "", bad...); !errdefs.Is(err, errdefs.InvalidArgument) {
			t.Errorf("%v: %v", bad, err)
		}
	}
	// Both a flag and the file: dockerd's conflict error.
	_, err = load(t, `{"default-address-pools": [{"base": "10.20.0.0/16", "size": 24}]}`, "--default-address-pool", "base=10.10.0.0/16,size=24")
	if err == nil || !strings.Contains(err.Error(), "default-address-pools") {
		t.Errorf("flag and file: %v", err)
	}
}
