package ocispec

import (
	"bufio"
	"bytes"
	"net/netip"
	"strings"
)

// HostnameFile is the content of the container's /etc/hostname.
func HostnameFile(hostname string) []byte {
	return []byte(hostname + "\n")
}

// defaultHosts are the lines dockerd (libnetwork's etchosts) starts every
// /etc/hosts with.
const defaultHosts = "127.0.0.1\tlocalhost\n" +
	"::1\tlocalhost ip6-localhost ip6-loopback\n" +
	"fe00::0\tip6-localnet\n" +
	"ff00::0\tip6-mcastprefix\n" +
	"ff02::1\tip6-allnodes\n" +
	"ff02::2\tip6-allrouters\n"

// HostsFile is the /etc/hosts of a container without an address of its
// own (network none, or before networking gives it one): dockerd's default
// lines, then the --add-host entries ("name:ip", or "name=ip"), each as
// "ip\tname". Like dockerd, it maps the hostname to nothing when there is
// no address; HostsFileWithIP maps it.
func HostsFile(hostname string, extra []string) []byte {
	return HostsFileWithIP(hostname, "", netip.Addr{}, extra)
}

// HostsFileWithIP is HostsFile plus the line dockerd appends when the
// container has address ip: "ip\thostname.domainname hostname" (or
// "ip\thostname" without a domain name).
func HostsFileWithIP(hostname, domainname string, ip netip.Addr, extra []string) []byte {
	var b strings.Builder
	b.WriteString(defaultHosts)
	for _, e := range extra {
		name, addr, ok := strings.Cut(e, "=")
		if !ok {
			// "name:ip"; the address may itself hold colons (IPv6).
			name, addr, _ = strings.Cut(e, ":")
		}
		addr = strings.TrimSuffix(strings.TrimPrefix(addr, "["), "]")
		b.WriteString(addr + "\t" + name + "\n")
	}
	if ip.IsValid() && hostname != "" {
		names := hostname
		if domainname != "" {
			names = hostname + "." + domainname + " " + hostname
		}
		b.WriteString(ip.String() + "\t" + names + "\n")
	}
	return []byte(b.String())
}

// DefaultDNS are the nameservers dockerd falls back to when the host's
// resolv.conf leaves a container with its own network namespace none;
// DefaultDNS6 are added to them for a container with IPv6.
var (
	DefaultDNS  = []string{"8.8.8.8", "8.8.4.4"}
	DefaultDNS6 = []string{"2001:4860:4860::8888", "2001:4860:4860::8844"}
)

// ResolvConf is the /etc/resolv.conf of a container with a network
// namespace of its own, derived from the host's (host) as dockerd 28
// does for a network without the embedded resolver (libnetwork's
// TransformForLegacyNw): --dns, --dns-search and --dns-option replace
// the host's nameservers, search domains and options, as given; of the
// host's nameservers, loopback ones (127.0.0.53 and the like),
// unreachable from the container, are dropped, and so are IPv6 ones
// unless the container has IPv6 (ipv6); when none remain, DefaultDNS
// (and DefaultDNS6 with ipv6) are used. A --dns-search of "." means no
// search domains. (With --network host, dockerd copies the host file as
// it is.)
func ResolvConf(host []byte, dns, search, opts []string, ipv6 bool) []byte {
	hostNS, hostSearch, hostOpts := parseResolvConf(host)
	ns := dns
	if len(ns) == 0 {
		for _, n := range hostNS {
			a, err := netip.ParseAddr(n)
			if err == nil && (a.Unmap().IsLoopback() || (a.Unmap().Is6() && !ipv6)) {
				continue
			}
			ns = append(ns, n)
		}
		if len(ns) == 0 {
			ns = DefaultDNS
			if ipv6 {
				ns = append(append([]string(nil), DefaultDNS...), DefaultDNS6...)
			}
		}
	}
	if len(search) == 0 {
		search = hostSearch
	} else if len(search) == 1 && search[0] == "." {
		search = nil
	}
	if len(opts) == 0 {
		opts = hostOpts
	}
	var b strings.Builder
	for _, n := range ns {
		b.WriteString("nameserver " + n + "\n")
	}
	if len(search) > 0 {
		b.WriteString("search " + strings.Join(search, " ") + "\n")
	}
	if len(opts) > 0 {
		b.WriteString("options " + strings.Join(opts, " ") + "\n")
	}
	return []byte(b.String())
}

// parseResolvConf reads nameservers, search domains (a "domain" line
// counts when there is no "search") and options.
func parseResolvConf(b []byte) (ns, search, opts []string) {
	var domain []string
	s := bufio.NewScanner(bytes.NewReader(b))
	for s.Scan() {
		line := s.Text()
		if i := strings.IndexAny(line, "#;"); i >= 0 {
			line = line[:i]
		}
		f := strings.Fields(line)
		if len(f) < 2 {
			continue
		}
		switch f[0] {
		case "nameserver":
			ns = append(ns, f[1])
		case "search":
			search = f[1:]
		case "domain":
			domain = f[1:2]
		case "options":
			opts = append(opts, f[1:]...)
		}
	}
	if search == nil {
		search = domain
	}
	return ns, search, opts
}
