package network

import (
	"fmt"
	"net/netip"

	"github.com/berth-dev/berth/internal/errdefs"
)

// pool hands out the addresses of one network's IP range. It is pure
// state: the Service rebuilds it from sandbox records.
type pool struct {
	subnet, rng netip.Prefix
	gateway     netip.Addr
	used        map[netip.Addr]bool
	next        netip.Addr // where the next search starts
}

func newPool(subnet, rng netip.Prefix, gateway netip.Addr) *pool {
	if !rng.IsValid() {
		rng = subnet
	}
	return &pool{subnet: subnet, rng: rng, gateway: gateway, used: map[netip.Addr]bool{}, next: rng.Masked().Addr()}
}

// broadcast is the last address of p.
func broadcast(p netip.Prefix) netip.Addr {
	a := p.Masked().Addr().As4()
	bits := p.Bits()
	for i := 0; i < 4; i++ {
		for b := 0; b < 8; b++ {
			if i*8+b >= bits {
				a[i] |= 0x80 >> b
			}
		}
	}
	return netip.AddrFrom4(a)
}

// usable reports whether a may be given to an endpoint.
func (p *pool) usable(a netip.Addr) bool {
	return p.subnet.Contains(a) && a != p.subnet.Masked().Addr() && a != broadcast(p.subnet) && a != p.gateway
}

// Allocate returns the preferred address when valid and free, or the next
// free one of the range.
func (p *pool) Allocate(preferred netip.Addr) (netip.Addr, error) {
	if preferred.IsValid() {
		if !p.subnet.Contains(preferred) {
			return netip.Addr{}, errdefs.InvalidArgumentf("no configured subnet or ip-range contain the IP address %s", preferred)
		}
		if !p.usable(preferred) || p.used[preferred] {
			return netip.Addr{}, errdefs.Conflictf("Address already in use")
		}
		p.used[preferred] = true
		return preferred, nil
	}
	start := p.next
	a := start
	for {
		if p.rng.Contains(a) && p.usable(a) && !p.used[a] {
			p.used[a] = true
			p.next = a.Next()
			return a, nil
		}
		a = a.Next()
		if !p.rng.Contains(a) {
			a = p.rng.Masked().Addr()
		}
		if a == start {
			return netip.Addr{}, errdefs.Unavailablef("no available IPv4 addresses on this network's address pools: %s", p.subnet)
		}
	}
}

// Reserve marks a as used (restoring a sandbox).
func (p *pool) Reserve(a netip.Addr) { p.used[a] = true }

// Release frees a.
func (p *pool) Release(a netip.Addr) { delete(p.used, a) }

// firstHost is the first usable address of p (the default gateway).
func firstHost(p netip.Prefix) netip.Addr { return p.Masked().Addr().Next() }

// overlaps reports whether a and b share an address.
func overlaps(a, b netip.Prefix) bool { return a.Overlaps(b) }

// defaultPools are carved into /24 subnets for networks created without
// --subnet (dockerd uses 172.17-31/16 and 192.168/20; berth keeps to a
// corner less often used on hosts).
var defaultPools = []netip.Prefix{netip.MustParsePrefix("10.213.0.0/16"), netip.MustParsePrefix("10.214.0.0/16")}

// nextSubnet picks the first /24 of the default pools overlapping none of taken.
func nextSubnet(taken []netip.Prefix) (netip.Prefix, error) {
	for _, base := range defaultPools {
		a := base.Masked().Addr()
		for base.Contains(a) {
			cand := netip.PrefixFrom(a, 24)
			free := true
			for _, t := range taken {
				if overlaps(cand, t) {
					free = false
					break
				}
			}
			if free {
				return cand, nil
			}
			b := a.As4()
			b[2]++
			if b[2] == 0 {
				break
			}
			a = netip.AddrFrom4(b)
		}
	}
	return netip.Prefix{}, fmt.Errorf("all predefined address pools have been fully subnetted: %w", errdefs.Unavailablef("no free subnet"))
}
