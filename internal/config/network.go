package config

import (
	"net/netip"

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
type Network struct {
	Bridge    string `json:"bridge,omitempty"`
	BIP       string `json:"bip,omitempty"`
	MTU       int    `json:"mtu,omitempty"`
	IPForward bool   `json:"ip-forward,omitempty"`
	IPTables  bool   `json:"iptables,omitempty"`
}

func networkJSONKeys() []string {
	return []string{"bridge", "bip", "mtu", "ip-forward", "iptables"}
}

func registerNetworkFlags(fs *pflag.FlagSet, n *Network) {
	fs.StringVarP(&n.Bridge, "bridge", "b", "", `Attach containers to a network bridge ("none" disables the default network)`)
	fs.StringVar(&n.BIP, "bip", "", "Specify default-bridge IPv4 network (default 172.31.0.1/16)")
	fs.IntVar(&n.MTU, "mtu", 0, "Set the containers network MTU")
	fs.BoolVar(&n.IPForward, "ip-forward", true, "Enable IP forwarding in the daemon's network namespace")
	fs.BoolVar(&n.IPTables, "iptables", true, "Enable addition of packet filter rules")
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
	return nil
}
