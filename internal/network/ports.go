package network

import (
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/moby/moby/api/types/network"

	"github.com/berth-dev/berth/internal/errdefs"
)

// wantBinding is one requested host binding before a port is chosen.
type wantBinding struct {
	proto   string
	hostIP  netip.Addr
	lo, hi  uint16 // host port range; 0,0 = any
	ctrPort uint16
	// twin: the [::] half of a binding given without a host address
	// (docker binds 0.0.0.0 and [::]); it takes the port its IPv4 half
	// got, and is left out where the namespace has no IPv6.
	twin bool
}

// planPorts turns -p/-P into bindings to make, in a stable order.
func planPorts(pm network.PortMap, exposed network.PortSet, publishAll bool) ([]wantBinding, error) {
	var out []wantBinding
	add := func(p network.Port, b network.PortBinding) error {
		w := wantBinding{proto: string(p.Proto()), hostIP: b.HostIP, ctrPort: p.Num()}
		if w.proto == "" {
			w.proto = "tcp"
		}
		if w.proto != "tcp" && w.proto != "udp" {
			return errdefs.InvalidArgumentf("invalid port protocol %q: berth publishes tcp and udp", w.proto)
		}
		both := !w.hostIP.IsValid()
		if both {
			w.hostIP = netip.IPv4Unspecified()
		}
		w.hostIP = w.hostIP.Unmap()
		if hp := b.HostPort; hp != "" {
			los, his, isRange := strings.Cut(hp, "-")
			lo, err := strconv.ParseUint(los, 10, 16)
			if err != nil {
				return errdefs.InvalidArgumentf("invalid host port %q", hp)
			}
			hi := lo
			if isRange {
				if hi, err = strconv.ParseUint(his, 10, 16); err != nil || hi < lo {
					return errdefs.InvalidArgumentf("invalid host port range %q", hp)
				}
			}
			w.lo, w.hi = uint16(lo), uint16(hi)
		}
		w.twin = both // expanded after sorting
		out = append(out, w)
		return nil
	}
	for p, bs := range pm {
		for _, b := range bs {
			if err := add(p, b); err != nil {
				return nil, err
			}
		}
	}
	if publishAll {
		for p := range exposed {
			if len(pm[p]) == 0 {
				if err := add(p, network.PortBinding{}); err != nil {
					return nil, err
				}
			}
		}
	}
	sort.Slice(out, func(i, j int) bool {
		a, b := out[i], out[j]
		if a.ctrPort != b.ctrPort {
			return a.ctrPort < b.ctrPort
		}
		if a.proto != b.proto {
			return a.proto < b.proto
		}
		if a.hostIP != b.hostIP {
			return a.hostIP.Less(b.hostIP)
		}
		return a.lo < b.lo
	})
	// Each binding given without an address is followed by its [::] twin.
	var all []wantBinding
	for _, w := range out {
		both := w.twin
		w.twin = false
		all = append(all, w)
		if both {
			w.hostIP, w.twin = netip.IPv6Unspecified(), true
			all = append(all, w)
		}
	}
	return all, nil
}

// publishLocked binds the requested host ports and proxies them to the
// container's first endpoint.
func (s *Service) publishLocked(sb *Sandbox, req AttachRequest) error {
	want, err := planPorts(req.PortBindings, req.ExposedPorts, req.PublishAll)
	if err != nil || len(want) == 0 {
		return err
	}
	if len(sb.Endpoints) == 0 {
		return nil
	}
	ep := sb.Endpoints[0]
	var last uint16 // the port the previous binding got
	for _, w := range want {
		if w.twin {
			w.lo, w.hi = last, last
		}
		pb, c, err := bindFirst(w, ep)
		if err != nil {
			if w.twin && noIPv6(err) {
				continue
			}
			return fmt.Errorf("driver failed programming external connectivity on endpoint %s (%s): %w", sb.ContainerName[1:], ep.ID, err)
		}
		last = pb.HostPort
		s.proxies[sb.ContainerID] = append(s.proxies[sb.ContainerID], c)
		sb.Ports = append(sb.Ports, pb)
	}
	return nil
}

// noIPv6 reports whether err says the namespace cannot bind IPv6.
func noIPv6(err error) bool {
	return errors.Is(err, syscall.EAFNOSUPPORT) || errors.Is(err, syscall.EADDRNOTAVAIL) || errors.Is(err, syscall.EPROTONOSUPPORT)
}

// target is the address a binding on hostIP forwards to: the endpoint's
// IPv6 address for an IPv6 binding when it has one (docker-proxy too
// forwards [::] to the IPv4 address of a container without IPv6).
func (ep *Endpoint) target(hostIP netip.Addr) netip.Addr {
	if hostIP.Is6() && ep.Addr6.IsValid() {
		return ep.Addr6
	}
	return ep.Addr
}

func bindFirst(w wantBinding, ep *Endpoint) (PortBinding, closer, error) {
	pb := PortBinding{Proto: w.proto, HostIP: w.hostIP, CtrPort: w.ctrPort}
	target := ep.target(w.hostIP)
	if w.lo == 0 {
		c, port, err := startProxy(pb, target)
		pb.HostPort = port
		return pb, c, err
	}
	var lastErr error
	for p := uint32(w.lo); p <= uint32(w.hi); p++ {
		pb.HostPort = uint16(p)
		c, _, err := startProxy(pb, target)
		if err == nil {
			return pb, c, nil
		}
		lastErr = err
	}
	if w.lo == w.hi && errors.Is(lastErr, syscall.EADDRINUSE) {
		return pb, nil, fmt.Errorf("Bind for %s failed: port is already allocated", net.JoinHostPort(w.hostIP.String(), strconv.Itoa(int(w.lo))))
	}
	return pb, nil, lastErr
}

// openProxiesLocked reopens the proxies of an adopted sandbox.
func (s *Service) openProxiesLocked(sb *Sandbox) error {
	if len(sb.Endpoints) == 0 {
		return nil
	}
	for _, pb := range sb.Ports {
		c, _, err := startProxy(pb, sb.Endpoints[0].target(pb.HostIP))
		if err != nil {
			return err
		}
		s.proxies[sb.ContainerID] = append(s.proxies[sb.ContainerID], c)
	}
	if s.usesDNS(sb) {
		d, err := s.startDNS(sb)
		if err != nil {
			return err
		}
		s.proxies[sb.ContainerID] = append(s.proxies[sb.ContainerID], d)
	}
	return nil
}

func (sb *Sandbox) portMap() network.PortMap {
	pm := network.PortMap{}
	for _, pb := range sb.Ports {
		p, ok := network.PortFrom(pb.CtrPort, network.IPProtocol(pb.Proto))
		if !ok {
			continue
		}
		pm[p] = append(pm[p], network.PortBinding{HostIP: pb.HostIP, HostPort: strconv.Itoa(int(pb.HostPort))})
	}
	return pm
}

// startProxy listens on the binding's host address and forwards to
// target:CtrPort; it returns the port bound (for port 0).
func startProxy(pb PortBinding, target netip.Addr) (closer, uint16, error) {
	laddr := net.JoinHostPort(pb.HostIP.String(), strconv.Itoa(int(pb.HostPort)))
	backend := net.JoinHostPort(target.String(), strconv.Itoa(int(pb.CtrPort)))
	fam := "4"
	if pb.HostIP.Is6() {
		fam = "6" // tcp6 and udp6 listeners are IPv6-only: [::] and 0.0.0.0 coexist
	}
	switch pb.Proto {
	case "udp":
		pc, err := net.ListenPacket("udp"+fam, laddr)
		if err != nil {
			return nil, 0, err
		}
		p := &udpProxy{pc: pc, backend: backend, conns: map[string]*net.UDPConn{}}
		go p.run()
		return p, uint16(pc.LocalAddr().(*net.UDPAddr).Port), nil
	default:
		l, err := net.Listen("tcp"+fam, laddr)
		if err != nil {
			return nil, 0, err
		}
		go tcpProxy(l, backend)
		return l, uint16(l.Addr().(*net.TCPAddr).Port), nil
	}
}

func tcpProxy(l net.Listener, backend string) {
	for {
		c, err := l.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			time.Sleep(10 * time.Millisecond)
			continue
		}
		go func() {
			defer c.Close()
			b, err := net.DialTimeout("tcp", backend, 10*time.Second)
			if err != nil {
				return
			}
			defer b.Close()
			done := make(chan struct{}, 2)
			pipe := func(dst, src net.Conn) {
				io.Copy(dst, src)
				if tc, ok := dst.(*net.TCPConn); ok {
					tc.CloseWrite()
				}
				done <- struct{}{}
			}
			go pipe(b, c)
			go pipe(c, b)
			<-done
			<-done
		}()
	}
}

// udpProxy relays datagrams: one backend socket per client address,
// dropped after a minute of silence.
type udpProxy struct {
	pc      net.PacketConn
	backend string
	mu      sync.Mutex
	conns   map[string]*net.UDPConn
}

func (p *udpProxy) Close() error {
	err := p.pc.Close()
	p.mu.Lock()
	for _, c := range p.conns {
		c.Close()
	}
	p.mu.Unlock()
	return err
}

func (p *udpProxy) run() {
	buf := make([]byte, 65535)
	for {
		n, from, err := p.pc.ReadFrom(buf)
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			continue
		}
		p.mu.Lock()
		c, ok := p.conns[from.String()]
		if !ok {
			raddr, rerr := net.ResolveUDPAddr("udp", p.backend)
			if rerr == nil {
				c, rerr = net.DialUDP("udp", nil, raddr)
			}
			if rerr != nil {
				p.mu.Unlock()
				continue
			}
			p.conns[from.String()] = c
			go p.reply(c, from)
		}
		p.mu.Unlock()
		c.Write(buf[:n])
	}
}

func (p *udpProxy) reply(c *net.UDPConn, to net.Addr) {
	defer func() {
		p.mu.Lock()
		delete(p.conns, to.String())
		p.mu.Unlock()
		c.Close()
	}()
	buf := make([]byte, 65535)
	for {
		c.SetReadDeadline(time.Now().Add(time.Minute))
		n, err := c.Read(buf)
		if err != nil {
			return
		}
		if _, err := p.pc.WriteTo(buf[:n], to); err != nil {
			return
		}
	}
}
