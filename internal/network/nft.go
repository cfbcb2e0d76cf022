package network

import (
	"encoding/binary"
	"fmt"
	"net"
	"net/netip"
	"sort"

	"github.com/google/nftables"
	"github.com/google/nftables/expr"
	"golang.org/x/sys/unix"
)

// TableName is berth's nftables tables: "ip berth" and, for IPv6
// networks, "ip6 berth" (with the same isolation rules). berth changes no
// other table and no chain policy: its base chains accept by default and
// only drop what isolation forbids.
const TableName = "berth"

// ruleSet is the whole table as data: computed from the records by
// planRules (pure), written by applyRules in one atomic batch.
type ruleSet struct {
	V6 bool // the ip6 table
	// Isolate: no forwarding from In to Out (different user networks).
	Isolate [][2]string
	// Internal bridges: nothing forwarded in or out.
	Internal []string
	// Masquerade traffic from Subnet leaving through another interface.
	Masquerade []masq
	// DNAT published ports arriving for a local address.
	DNAT []dnat
}

type masq struct {
	Subnet netip.Prefix
	Bridge string
}

type dnat struct {
	Proto    string
	HostIP   netip.Addr // unspecified: any local address
	HostPort uint16
	Target   netip.Addr
	CtrPort  uint16
}

// planRules computes berth's ip (or, v6, ip6) table from networks and
// sandboxes.
func planRules(nets []*Network, sbs []*Sandbox, v6 bool) ruleSet {
	rs := ruleSet{V6: v6}
	var bridges []*Network
	for _, n := range nets {
		if n.Driver == DriverBridge {
			bridges = append(bridges, n)
		}
	}
	sort.Slice(bridges, func(i, j int) bool { return bridges[i].Bridge < bridges[j].Bridge })
	for _, a := range bridges {
		if a.Internal {
			rs.Internal = append(rs.Internal, a.Bridge)
		} else if a.Options[OptMasquerade] != "false" {
			if !v6 {
				rs.Masquerade = append(rs.Masquerade, masq{Subnet: a.Subnet, Bridge: a.Bridge})
			} else if a.EnableIPv6 && a.Subnet6.IsValid() {
				rs.Masquerade = append(rs.Masquerade, masq{Subnet: a.Subnet6, Bridge: a.Bridge})
			}
		}
		for _, b := range bridges {
			if a != b {
				rs.Isolate = append(rs.Isolate, [2]string{a.Bridge, b.Bridge})
			}
		}
	}
	ids := make([]int, len(sbs))
	for i := range sbs {
		ids[i] = i
	}
	sort.Slice(ids, func(i, j int) bool { return sbs[ids[i]].ContainerID < sbs[ids[j]].ContainerID })
	for _, i := range ids {
		sb := sbs[i]
		if len(sb.Endpoints) == 0 {
			continue
		}
		ep := sb.Endpoints[0]
		for _, p := range sb.Ports {
			if p.HostIP.Is6() != v6 {
				continue
			}
			target := ep.Addr
			if v6 {
				// A container without IPv6 is reached through the
				// userland proxy alone.
				if target = ep.Addr6; !target.IsValid() {
					continue
				}
			}
			rs.DNAT = append(rs.DNAT, dnat{Proto: p.Proto, HostIP: p.HostIP, HostPort: p.HostPort, Target: target, CtrPort: p.CtrPort})
		}
	}
	return rs
}

func ifname(s string) []byte {
	b := make([]byte, unix.IFNAMSIZ)
	copy(b, s)
	return b
}

func be16(v uint16) []byte {
	b := make([]byte, 2)
	binary.BigEndian.PutUint16(b, v)
	return b
}

func metaIs(key expr.MetaKey, op expr.CmpOp, data []byte) []expr.Any {
	return []expr.Any{&expr.Meta{Key: key, Register: 1}, &expr.Cmp{Op: op, Register: 1, Data: data}}
}

func (rs ruleSet) empty() bool {
	return len(rs.Isolate) == 0 && len(rs.Internal) == 0 && len(rs.Masquerade) == 0 && len(rs.DNAT) == 0
}

// applyRules replaces berth's ip table with rs4 and its ip6 table with
// rs6 (none without withV6) in one transaction. An empty rule set removes
// its table.
func applyRules(rs4, rs6 ruleSet, withV6 bool) error {
	c, err := nftables.New()
	if err != nil {
		return fmt.Errorf("nftables: %w", err)
	}
	defer c.CloseLasting()
	addTable(c, rs4)
	if !withV6 {
		rs6 = ruleSet{V6: true}
	}
	addTable(c, rs6)
	if err := c.Flush(); err != nil {
		return fmt.Errorf("program nftables table %s: %w", TableName, err)
	}
	return nil
}

// addTable queues the replacement of one of berth's tables by rs.
func addTable(c *nftables.Conn, rs ruleSet) {
	fam, nfproto := nftables.TableFamilyIPv4, byte(unix.NFPROTO_IPV4)
	// Offsets and lengths of the addresses in the network header.
	saddr, daddr, alen := uint32(12), uint32(16), uint32(4)
	if rs.V6 {
		fam, nfproto = nftables.TableFamilyIPv6, unix.NFPROTO_IPV6
		saddr, daddr, alen = 8, 24, 16
	}
	t := &nftables.Table{Name: TableName, Family: fam}
	// Add-then-delete makes the delete valid whether or not the table
	// exists; both go in the same batch as the new table.
	c.AddTable(t)
	c.DelTable(t)
	if rs.empty() {
		return
	}
	c.AddTable(t)
	accept := nftables.ChainPolicyAccept
	fwd := c.AddChain(&nftables.Chain{Name: "forward", Table: t, Type: nftables.ChainTypeFilter, Hooknum: nftables.ChainHookForward, Priority: nftables.ChainPriorityFilter, Policy: &accept})
	post := c.AddChain(&nftables.Chain{Name: "postrouting", Table: t, Type: nftables.ChainTypeNAT, Hooknum: nftables.ChainHookPostrouting, Priority: nftables.ChainPriorityNATSource, Policy: &accept})
	pre := c.AddChain(&nftables.Chain{Name: "prerouting", Table: t, Type: nftables.ChainTypeNAT, Hooknum: nftables.ChainHookPrerouting, Priority: nftables.ChainPriorityNATDest, Policy: &accept})
	out := c.AddChain(&nftables.Chain{Name: "output", Table: t, Type: nftables.ChainTypeNAT, Hooknum: nftables.ChainHookOutput, Priority: nftables.ChainPriorityNATDest, Policy: &accept})
	drop := &expr.Verdict{Kind: expr.VerdictDrop}
	for _, br := range rs.Internal {
		c.AddRule(&nftables.Rule{Table: t, Chain: fwd, Exprs: append(append(metaIs(expr.MetaKeyIIFNAME, expr.CmpOpEq, ifname(br)), metaIs(expr.MetaKeyOIFNAME, expr.CmpOpNeq, ifname(br))...), drop)})
		c.AddRule(&nftables.Rule{Table: t, Chain: fwd, Exprs: append(append(metaIs(expr.MetaKeyOIFNAME, expr.CmpOpEq, ifname(br)), metaIs(expr.MetaKeyIIFNAME, expr.CmpOpNeq, ifname(br))...), drop)})
	}
	for _, p := range rs.Isolate {
		c.AddRule(&nftables.Rule{Table: t, Chain: fwd, Exprs: append(append(metaIs(expr.MetaKeyIIFNAME, expr.CmpOpEq, ifname(p[0])), metaIs(expr.MetaKeyOIFNAME, expr.CmpOpEq, ifname(p[1]))...), drop)})
	}
	for _, m := range rs.Masquerade {
		mask := net.CIDRMask(m.Subnet.Bits(), int(alen)*8)
		ex := []expr.Any{
			&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseNetworkHeader, Offset: saddr, Len: alen},
			&expr.Bitwise{SourceRegister: 1, DestRegister: 1, Len: alen, Mask: mask, Xor: make([]byte, alen)},
			&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: m.Subnet.Masked().Addr().AsSlice()},
		}
		ex = append(ex, metaIs(expr.MetaKeyOIFNAME, expr.CmpOpNeq, ifname(m.Bridge))...)
		ex = append(ex, &expr.Masq{})
		c.AddRule(&nftables.Rule{Table: t, Chain: post, Exprs: ex})
	}
	for _, d := range rs.DNAT {
		proto := byte(unix.IPPROTO_TCP)
		if d.Proto == "udp" {
			proto = unix.IPPROTO_UDP
		}
		ex := []expr.Any{
			&expr.Fib{Register: 1, FlagDADDR: true, ResultADDRTYPE: true},
			&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: binary.NativeEndian.AppendUint32(nil, unix.RTN_LOCAL)},
		}
		if !d.HostIP.IsUnspecified() {
			ex = append(ex, &expr.Payload{DestRegister: 1, Base: expr.PayloadBaseNetworkHeader, Offset: daddr, Len: alen},
				&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: d.HostIP.AsSlice()})
		}
		ex = append(ex, metaIs(expr.MetaKeyL4PROTO, expr.CmpOpEq, []byte{proto})...)
		ex = append(ex,
			&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseTransportHeader, Offset: 2, Len: 2},
			&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: be16(d.HostPort)},
			&expr.Immediate{Register: 1, Data: d.Target.AsSlice()},
			&expr.Immediate{Register: 2, Data: be16(d.CtrPort)},
			&expr.NAT{Type: expr.NATTypeDestNAT, Family: uint32(nfproto), RegAddrMin: 1, RegProtoMin: 2, Specified: true},
		)
		c.AddRule(&nftables.Rule{Table: t, Chain: pre, Exprs: ex})
		// Locally made traffic to a non-loopback local address; the
		// loopback (127.0.0.0/8, ::1) is the userland proxy's.
		notLo := []expr.Any{
			&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseNetworkHeader, Offset: daddr, Len: 1},
			&expr.Cmp{Op: expr.CmpOpNeq, Register: 1, Data: []byte{127}},
		}
		if rs.V6 {
			notLo = []expr.Any{
				&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseNetworkHeader, Offset: daddr, Len: alen},
				&expr.Cmp{Op: expr.CmpOpNeq, Register: 1, Data: netip.IPv6Loopback().AsSlice()},
			}
		}
		c.AddRule(&nftables.Rule{Table: t, Chain: out, Exprs: append(notLo, ex...)})
	}
}
