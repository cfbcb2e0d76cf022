package network

import (
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"net/netip"

	"github.com/berth-dev/berth/internal/errdefs"
)

// pool hands out the addresses of one network's IP range (IPv4 or
// IPv6). It is pure state: the Service rebuilds it from sandbox records.
// Addresses are given in order from the range, as dockerd's default IPAM
// does for both families (dockerd no longer derives IPv6 addresses from
// MAC addresses).
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

// lastAddr is the last address of p (the broadcast address for IPv4).
func lastAddr(p netip.Prefix) netip.Addr {
	a := p.Masked().Addr().AsSlice()
	bits := p.Bits()
	for i := range a {
		for b := 0; b < 8; b++ {
			if i*8+b >= bits {
				a[i] |= 0x80 >> b
			}
		}
	}
	out, _ := netip.AddrFromSlice(a)
	return out
}

// broadcast is the last address of an IPv4 prefix.
func broadcast(p netip.Prefix) netip.Addr { return lastAddr(p) }

// usable reports whether a may be given to an endpoint: not the subnet's
// own address (the IPv6 subnet-router anycast address), not the gateway,
// and for IPv4 not the broadcast address.
func (p *pool) usable(a netip.Addr) bool {
	if !p.subnet.Contains(a) || a == p.subnet.Masked().Addr() || a == p.gateway {
		return false
	}
	return !a.Is4() || a != broadcast(p.subnet)
}

func family(a netip.Addr) string {
	if a.Is4() {
		return "IPv4"
	}
	return "IPv6"
}

// Allocate returns the preferred address when valid and free, or the next
// free one of the range.
func (p *pool) Allocate(preferred netip.Addr) (netip.Addr, error) {
	if preferred.IsValid() {
		if !p.subnet.Contains(preferred) {
			if preferred.Is6() {
				return netip.Addr{}, errdefs.InvalidArgumentf("no configured subnet contains IP address %s", preferred)
			}
			return netip.Addr{}, errdefs.InvalidArgumentf("no configured subnet or ip-range contain the IP address %s", preferred)
		}
		if !p.usable(preferred) || p.used[preferred] {
			return netip.Addr{}, errdefs.Conflictf("Address already in use")
		}
		p.used[preferred] = true
		return preferred, nil
	}
	start := p.next
	if !start.IsValid() || !p.rng.Contains(start) {
		start = p.rng.Masked().Addr()
	}
	a := start
	for {
		if p.rng.Contains(a) && p.usable(a) && !p.used[a] {
			p.used[a] = true
			p.next = a.Next()
			return a, nil
		}
		a = a.Next()
		if !a.IsValid() || !p.rng.Contains(a) {
			a = p.rng.Masked().Addr()
		}
		if a == start {
			return netip.Addr{}, errdefs.Unavailablef("no available %s addresses on this network's address pools: %s", family(p.subnet.Addr()), p.subnet)
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

// AddressPool is a base prefix carved into subnets of Size bits for
// networks created without --subnet (dockerd's default-address-pools).
type AddressPool struct {
	Base netip.Prefix
	Size int
}

// defaultPools are berth's IPv4 pools, carved into /24 subnets (dockerd
// uses 172.17-31/16 and 192.168/20; berth keeps to a corner less often
// used on hosts).
var defaultPools = []AddressPool{
	{Base: netip.MustParsePrefix("10.213.0.0/16"), Size: 24},
	{Base: netip.MustParsePrefix("10.214.0.0/16"), Size: 24},
}

// ulaPool is dockerd 27+'s IPv6 default pool: a /48 unique local prefix
// whose 40-bit global ID is taken from a hash of the host's id, carved
// into /64s, so that --ipv6 works without a subnet and stays stable.
func ulaPool(hostID string) AddressPool {
	sum := sha256.Sum256([]byte(hostID))
	gid := binary.BigEndian.Uint64(sum[:]) & (1<<40 - 1)
	var a [16]byte
	a[0] = 0xfd
	for i := 0; i < 5; i++ {
		a[1+i] = byte(gid >> (8 * (4 - i)))
	}
	return AddressPool{Base: netip.PrefixFrom(netip.AddrFrom16(a), 48), Size: 64}
}

// nthSubnet is the i-th subnet of Size bits in the pool (ok false past
// its end).
func (ap AddressPool) nthSubnet(i uint64) (netip.Prefix, bool) {
	span := ap.Size - ap.Base.Bits()
	if span < 0 || (span < 64 && i >= 1<<span) {
		return netip.Prefix{}, false
	}
	base := ap.Base.Masked().Addr()
	shift := base.BitLen() - ap.Size // i counts in units of 2^shift
	b := base.As16()
	hi, lo := binary.BigEndian.Uint64(b[:8]), binary.BigEndian.Uint64(b[8:])
	var addHi, addLo uint64
	switch {
	case shift >= 64:
		addHi = i << (shift - 64)
	case shift == 0:
		addLo = i
	default:
		addLo, addHi = i<<shift, i>>(64-shift)
	}
	nlo := lo + addLo
	if nlo < lo {
		hi++
	}
	hi += addHi
	binary.BigEndian.PutUint64(b[:8], hi)
	binary.BigEndian.PutUint64(b[8:], nlo)
	a := netip.AddrFrom16(b)
	if base.Is4() {
		a = a.Unmap()
	}
	return netip.PrefixFrom(a, ap.Size), true
}

// nextSubnet picks the first subnet of the pools of a's family that
// overlaps none of taken. At most maxScan subnets of one pool are looked
// at (the ULA pool has 65536 /64s).
func nextSubnet(pools []AddressPool, v6 bool, taken []netip.Prefix) (netip.Prefix, error) {
	const maxScan = 1 << 16
	for _, ap := range pools {
		if ap.Base.Addr().Is6() != v6 {
			continue
		}
		for i := uint64(0); i < maxScan; i++ {
			cand, ok := ap.nthSubnet(i)
			if !ok {
				break
			}
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
		}
	}
	if v6 {
		return netip.Prefix{}, errdefs.Forbiddenf("could not find an available, non-overlapping IPv6 address pool among the defaults to assign to the network")
	}
	return netip.Prefix{}, fmt.Errorf("all predefined address pools have been fully subnetted: %w", errdefs.Unavailablef("no free subnet"))
}
