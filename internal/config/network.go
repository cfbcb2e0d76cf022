package config

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"

	"github.com/spf13/pflag"

	"github.com/berth-dev/berth/internal/errdefs"
)

// Network is the daemon's networking settings (dockerd's flags and
// daemon.json keys of the same names), embedded in Config.
//
// --bridge=none turns the default network "bridge" off (containers
// without --network then get loopback only); --bip sets its gateway and
// subnet; --ip-forward lets berthd turn on net.ipv4.ip_forward when a
// bridge network with a route out is made (needed for containers to reach
// beyond the host); --iptables=false is accepted for dockerd parity
// (no nftables table "berth" then: no isolation, masquerading or DNAT;
// published ports are served by the userland proxy alone).
//
// --ipv6 gives the default network an IPv6 subnet too: --fixed-cidr-v6,
// or one from the default address pools; --ip6tables (on by default, as
// in dockerd 27+) programs the same rules for IPv6 in table "ip6 berth"
// and, with --ip-forward, turns on IPv6 forwarding. default-address-pools
// ({"base": "10.10.0.0/16", "size": 24}, IPv6 ones too) replace the pools
// networks without --subnet take their subnets from.
type Network struct {
	Bridge       string        `json:"bridge,omitempty"`
	BIP          string        `json:"bip,omitempty"`
	MTU          int           `json:"mtu,omitempty"`
	IPForward    bool          `json:"ip-forward,omitempty"`
	IPTables     bool          `json:"iptables,omitempty"`
	IPv6         bool          `json:"ipv6,omitempty"`
	FixedCIDRv6  string        `json:"fixed-cidr-v6,omitempty"`
	IP6Tables    bool          `json:"ip6tables,omitempty"`
	AddressPools []AddressPool `json:"default-address-pools,omitempty"`
}

// AddressPool is one of default-address-pools: Base carved into subnets
// of Size bits.
type AddressPool struct {
	Base string `json:"base"`
	Size int    `json:"size"`
}

func networkJSONKeys() []string {
	return []string{"bridge", "bip", "mtu", "ip-forward", "iptables", "ipv6", "fixed-cidr-v6", "ip6tables", "default-address-pools"}
}

// addressPoolFlag is --default-address-pool base=CIDR,size=N (repeatable).
type addressPoolFlag struct{ pools *[]AddressPool }

func (f addressPoolFlag) Type() string { return "pool-options" }

func (f addressPoolFlag) String() string {
	var out []string
	for _, p := range *f.pools {
		out = append(out, fmt.Sprintf("base=%s,size=%d", p.Base, p.Size))
	}
	return strings.Join(out, " ")
}

func (f addressPoolFlag) Set(v string) error {
	var p AddressPool
	for _, kv := range strings.Split(v, ",") {
		k, val, _ := strings.Cut(kv, "=")
		switch strings.ToLower(strings.TrimSpace(k)) {
		case "base":
			p.Base = val
		case "size":
			n, err := strconv.Atoi(val)
			if err != nil {
				return fmt.Errorf("invalid size value: %s", val)
			}
			p.Size = n
		default:
			return fmt.Errorf("unexpected key '%s' in '%s'", k, kv)
		}
	}
	*f.pools = append(*f.pools, p)
	return nil
}

func registerNetworkFlags(fs *pflag.FlagSet, n *Network) {
	fs.StringVarP(&n.Bridge, "bridge", "b", "", `Attach containers to a network bridge ("none" disables the default network)`)
	fs.StringVar(&n.BIP, "bip", "", "Specify default-bridge IPv4 network (default 172.31.0.1/16)")
	fs.IntVar(&n.MTU, "mtu", 0, "Set the containers network MTU")
	fs.BoolVar(&n.IPForward, "ip-forward", true, "Enable IP forwarding in the daemon's network namespace")
	fs.BoolVar(&n.IPTables, "iptables", true, "Enable addition of packet filter rules")
	fs.BoolVar(&n.IPv6, "ipv6", false, "Enable IPv6 networking on the default bridge network")
	fs.StringVar(&n.FixedCIDRv6, "fixed-cidr-v6", "", "IPv6 subnet of the default bridge network")
	fs.BoolVar(&n.IP6Tables, "ip6tables", true, "Enable addition of ip6tables rules")
	fs.Var(addressPoolFlag{&n.AddressPools}, "default-address-pool", "Default address pools for node specific local networks")
}

// FixedCIDRv6Prefix is --fixed-cidr-v6 parsed (zero when unset).
func (n *Network) FixedCIDRv6Prefix() netip.Prefix {
	p, _ := netip.ParsePrefix(n.FixedCIDRv6)
	return p
}

// BasePrefix is p.Base parsed (validated by Validate).
func (p AddressPool) BasePrefix() netip.Prefix {
	b, _ := netip.ParsePrefix(p.Base)
	return b
}

// BridgeIP is --bip parsed (zero when unset).
func (n *Network) BridgeIP() netip.Prefix {
	p, _ := netip.ParsePrefix(n.BIP)
	return p
}

func (n *Network) validateNetwork() error {
	if n.Bridge != "" && n.Bridge != "none" {
		return errdefs.InvalidArgumentf("--bridge=%s: only \"none\" is supported (the default bridge is berth0)", n.Bridge)
	}
	if n.BIP != "" {
		p, err := netip.ParsePrefix(n.BIP)
		if err != nil || !p.Addr().Is4() || p.Bits() > 30 || p.Addr() == p.Masked().Addr() {
			return errdefs.InvalidArgumentf("invalid bip %q: want an IPv4 gateway address with a prefix length, like 172.31.0.1/16", n.BIP)
		}
	}
	if n.MTU != 0 && (n.MTU < 68 || n.MTU > 65535) {
		return errdefs.InvalidArgumentf("invalid mtu %d", n.MTU)
	}
	if n.FixedCIDRv6 != "" {
		p, err := netip.ParsePrefix(n.FixedCIDRv6)
		if err != nil || !p.Addr().Is6() || p.Addr().Is4In6() || p.Bits() > 126 {
			return errdefs.InvalidArgumentf("invalid fixed-cidr-v6 %q: want an IPv6 subnet, like fd00:1::/64", n.FixedCIDRv6)
		}
	}
	for _, p := range n.AddressPools {
		b, err := netip.ParsePrefix(p.Base)
		if err != nil {
			return errdefs.InvalidArgumentf("invalid base pool %q: %v", p.Base, err)
		}
		if p.Size <= 0 || p.Size < b.Bits() || p.Size > b.Addr().BitLen() {
			return errdefs.InvalidArgumentf("invalid pools size: %d", p.Size)
		}
	}
	return nil
}
