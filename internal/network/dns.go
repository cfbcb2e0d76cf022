package network

import (
	"fmt"
	"net"
	"net/netip"
	"os"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/miekg/dns"
	"github.com/vishvananda/netns"
)

// ResolverAddr is the embedded DNS server's address inside containers on
// user networks (dockerd's).
const ResolverAddr = "127.0.0.11"

// dnsServer is one sandbox's embedded resolver: UDP and TCP on
// 127.0.0.11:53 inside its namespace, served by berthd.
type dnsServer struct {
	udp, tcp *dns.Server
	pc       net.PacketConn
	l        net.Listener
}

// Close stops serving and closes the sockets, which otherwise keep the
// container's namespace (and its veth) alive.
func (d *dnsServer) Close() error {
	d.udp.Shutdown()
	d.tcp.Shutdown()
	d.pc.Close()
	d.l.Close()
	return nil
}

// listenIn opens the resolver's sockets inside the namespace at path.
func listenIn(path string) (net.PacketConn, net.Listener, error) {
	type res struct {
		pc  net.PacketConn
		l   net.Listener
		err error
	}
	ch := make(chan res, 1)
	go func() {
		runtime.LockOSThread()
		orig, err := netns.Get()
		if err != nil {
			ch <- res{err: err}
			return
		}
		defer orig.Close()
		target, err := netns.GetFromPath(path)
		if err != nil {
			ch <- res{err: fmt.Errorf("open netns %s: %w", path, err)}
			return
		}
		defer target.Close()
		if err := netns.Set(target); err != nil {
			ch <- res{err: fmt.Errorf("enter netns %s: %w", path, err)}
			return
		}
		var r res
		r.pc, r.err = net.ListenPacket("udp4", ResolverAddr+":53")
		if r.err == nil {
			if r.l, r.err = net.Listen("tcp4", ResolverAddr+":53"); r.err != nil {
				r.pc.Close()
			}
		}
		if netns.Set(orig) == nil {
			runtime.UnlockOSThread() // else the thread ends with the goroutine
		}
		ch <- r
	}()
	r := <-ch
	if r.err != nil {
		return nil, nil, fmt.Errorf("embedded DNS listener: %w", r.err)
	}
	return r.pc, r.l, nil
}

// startDNS serves the embedded resolver of sandbox sb.
func (s *Service) startDNS(sb *Sandbox) (closer, error) {
	pc, l, err := listenIn(sb.NetNS)
	if err != nil {
		return nil, err
	}
	h := &resolver{s: s, id: sb.ContainerID}
	d := &dnsServer{
		udp: &dns.Server{PacketConn: pc, Handler: h},
		tcp: &dns.Server{Listener: l, Handler: h},
		pc:  pc, l: l,
	}
	started := make(chan struct{}, 2)
	d.udp.NotifyStartedFunc = func() { started <- struct{}{} }
	d.tcp.NotifyStartedFunc = func() { started <- struct{}{} }
	go d.udp.ActivateAndServe()
	go d.tcp.ActivateAndServe()
	<-started
	<-started
	return d, nil
}

// usesDNS reports whether sb has an endpoint on a user network.
func (s *Service) usesDNS(sb *Sandbox) bool {
	for _, ep := range sb.Endpoints {
		if n := s.nets[ep.NetworkID]; n != nil && !n.Predefined() {
			return true
		}
	}
	return false
}

// resolver answers one sandbox's queries: names, aliases and short ids of
// containers sharing a user network with it (A, and PTR for their
// addresses); anything else goes to the upstream servers, from berthd's
// own namespace (so a loopback resolver on the host works).
type resolver struct {
	s  *Service
	id string
}

func (r *resolver) ServeDNS(w dns.ResponseWriter, q *dns.Msg) {
	if len(q.Question) != 1 {
		m := new(dns.Msg)
		m.SetRcode(q, dns.RcodeFormatError)
		w.WriteMsg(m)
		return
	}
	qq := q.Question[0]
	if qq.Qclass == dns.ClassINET {
		if m := r.local(q, qq); m != nil {
			w.WriteMsg(m)
			return
		}
	}
	w.WriteMsg(r.forward(q, w.LocalAddr().Network()))
}

// local answers from the sandbox's networks, or returns nil.
func (r *resolver) local(q *dns.Msg, qq dns.Question) *dns.Msg {
	r.s.mu.Lock()
	defer r.s.mu.Unlock()
	me, ok := r.s.sandboxes[r.id]
	if !ok {
		return nil
	}
	nets := map[string]bool{}
	for _, ep := range me.Endpoints {
		if n := r.s.nets[ep.NetworkID]; n != nil && !n.Predefined() {
			nets[ep.NetworkID] = true
		}
	}
	name := strings.ToLower(strings.TrimSuffix(qq.Name, "."))
	m := new(dns.Msg)
	m.SetReply(q)
	m.Authoritative = true
	m.RecursionAvailable = true
	switch qq.Qtype {
	case dns.TypeA, dns.TypeAAAA, dns.TypeANY:
		var found, found6 []netip.Addr
		known := false
		for _, sb := range r.s.sandboxes {
			for _, ep := range sb.Endpoints {
				if !nets[ep.NetworkID] {
					continue
				}
				for _, n := range ep.DNSNames {
					if strings.EqualFold(n, name) || strings.EqualFold(n+"."+ep.NetworkName, name) {
						known = true
						found = append(found, ep.Addr)
						if ep.Addr6.IsValid() {
							found6 = append(found6, ep.Addr6)
						}
						break
					}
				}
			}
		}
		if !known {
			return nil
		}
		// A known name without an address of the asked family gets an
		// empty answer (NODATA), not the upstream's.
		if qq.Qtype != dns.TypeAAAA {
			for _, a := range found {
				m.Answer = append(m.Answer, &dns.A{Hdr: dns.RR_Header{Name: qq.Name, Rrtype: dns.TypeA, Class: dns.ClassINET, Ttl: 600}, A: net.IP(a.AsSlice())})
			}
		}
		if qq.Qtype != dns.TypeA {
			for _, a := range found6 {
				m.Answer = append(m.Answer, &dns.AAAA{Hdr: dns.RR_Header{Name: qq.Name, Rrtype: dns.TypeAAAA, Class: dns.ClassINET, Ttl: 600}, AAAA: net.IP(a.AsSlice())})
			}
		}
		return m
	case dns.TypePTR:
		addr, ok := ptrAddr(name)
		if !ok {
			return nil
		}
		for _, sb := range r.s.sandboxes {
			for _, ep := range sb.Endpoints {
				if nets[ep.NetworkID] && (ep.Addr == addr || ep.Addr6 == addr) {
					m.Answer = append(m.Answer, &dns.PTR{Hdr: dns.RR_Header{Name: qq.Name, Rrtype: dns.TypePTR, Class: dns.ClassINET, Ttl: 600},
						Ptr: strings.TrimPrefix(sb.ContainerName, "/") + "." + ep.NetworkName + "."})
					return m
				}
			}
		}
	}
	return nil
}

// ptrAddr parses "4.3.2.1.in-addr.arpa" to 1.2.3.4, and the 32 nibbles
// of an ip6.arpa name to their IPv6 address.
func ptrAddr(name string) (netip.Addr, bool) {
	if rest, ok := strings.CutSuffix(name, ".ip6.arpa"); ok {
		nib := strings.Split(rest, ".")
		if len(nib) != 32 {
			return netip.Addr{}, false
		}
		var b [16]byte
		for i, h := range nib {
			if len(h) != 1 {
				return netip.Addr{}, false
			}
			v, err := strconv.ParseUint(h, 16, 8)
			if err != nil {
				return netip.Addr{}, false
			}
			// nib[0] is the lowest nibble of the last byte.
			k := 31 - i
			b[k/2] |= byte(v) << (4 * (1 - k%2))
		}
		return netip.AddrFrom16(b), true
	}
	rest, ok := strings.CutSuffix(name, ".in-addr.arpa")
	if !ok {
		return netip.Addr{}, false
	}
	p := strings.Split(rest, ".")
	if len(p) != 4 {
		return netip.Addr{}, false
	}
	a, err := netip.ParseAddr(p[3] + "." + p[2] + "." + p[1] + "." + p[0])
	return a, err == nil
}

func (r *resolver) forward(q *dns.Msg, netw string) *dns.Msg {
	r.s.mu.Lock()
	var ups []string
	if sb, ok := r.s.sandboxes[r.id]; ok {
		ups = sb.DNS
	}
	r.s.mu.Unlock()
	if len(ups) == 0 {
		ups = hostNameservers()
	}
	proto := "udp"
	if strings.HasPrefix(netw, "tcp") {
		proto = "tcp"
	}
	c := &dns.Client{Net: proto, Timeout: 3 * time.Second}
	for _, u := range ups {
		resp, _, err := c.Exchange(q, net.JoinHostPort(u, "53"))
		if err == nil && resp != nil {
			return resp
		}
	}
	m := new(dns.Msg)
	m.SetRcode(q, dns.RcodeServerFailure)
	return m
}

// hostNameservers are the nameservers of berthd's /etc/resolv.conf.
func hostNameservers() []string {
	b, err := os.ReadFile("/etc/resolv.conf")
	if err != nil {
		return nil
	}
	var out []string
	for _, l := range strings.Split(string(b), "\n") {
		f := strings.Fields(l)
		if len(f) >= 2 && f[0] == "nameserver" {
			if _, err := netip.ParseAddr(f[1]); err == nil {
				out = append(out, f[1])
			}
		}
	}
	return out
}
