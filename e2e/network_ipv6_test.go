package e2e

import (
	"fmt"
	"io"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/google/nftables"
	"github.com/google/nftables/expr"
)

// httpGet6 fetches / from addr over TCP/IPv6 inside the daemon's
// namespace.
func (d *Daemon) httpGet6(addr string) (string, error) {
	c, err := d.dial("tcp6", addr)
	if err != nil {
		return "", err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	fmt.Fprintf(c, "GET / HTTP/1.0\r\nHost: x\r\n\r\n")
	b, err := io.ReadAll(c)
	if err != nil {
		return "", err
	}
	_, body, _ := strings.Cut(string(b), "\r\n\r\n")
	return body, nil
}

func waitHTTP6(t *testing.T, d *Daemon, addr string) string {
	t.Helper()
	var body string
	var err error
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if body, err = d.httpGet6(addr); err == nil && body != "" {
			return body
		}
	}
	t.Fatalf("GET http://%s/: %v (body %q)", addr, err, body)
	return ""
}

// nftSummary describes berth's nftables table of family fam in the
// daemon's namespace: "" when it does not exist, else a word per rule
// kind (dnat, masquerade, drop).
func (d *Daemon) nftSummary(t *testing.T, fam nftables.TableFamily) string {
	t.Helper()
	var words []string
	err := d.inNetNS(func() error {
		c, err := nftables.New()
		if err != nil {
			return err
		}
		defer c.CloseLasting()
		tables, err := c.ListTablesOfFamily(fam)
		if err != nil {
			return err
		}
		for _, tb := range tables {
			if tb.Name != "berth" {
				continue
			}
			words = append(words, "table")
			chains, err := c.ListChainsOfTableFamily(fam)
			if err != nil {
				return err
			}
			for _, ch := range chains {
				if ch.Table.Name != "berth" {
					continue
				}
				rules, err := c.GetRules(tb, ch)
				if err != nil {
					return err
				}
				for _, r := range rules {
					for _, e := range r.Exprs {
						switch e := e.(type) {
						case *expr.NAT:
							if e.Type == expr.NATTypeDestNAT {
								words = append(words, "dnat")
							}
						case *expr.Masq:
							words = append(words, "masquerade")
						case *expr.Verdict:
							if e.Kind == expr.VerdictDrop {
								words = append(words, "drop")
							}
						}
					}
				}
			}
		}
		return nil
	})
	if err != nil {
		t.Fatalf("list nftables: %v", err)
	}
	return strings.Join(words, " ")
}

// nsCmd runs a command in the daemon's namespace and returns its output.
func (d *Daemon) nsCmd(t *testing.T, args ...string) string {
	t.Helper()
	out, err := exec.Command("ip", append([]string{"netns", "exec", d.NetNS}, args...)...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s: %v: %s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

func TestNetworkIPv6(t *testing.T) {
	d := StartDaemonNetNS(t, "--ipv6", "--fixed-cidr-v6", "fd00:b0::/64")
	d.ImportBusybox()

	// The default bridge with --fixed-cidr-v6: an address from it and a
	// route via its first address; the legacy top-level fields carry it.
	out := d.MustDocker("run", "--rm", "busybox", "sh", "-c", "ip -6 -o addr show eth0 scope global; ip -6 route show default")
	if !strings.Contains(out, "inet6 fd00:b0::") || !strings.Contains(out, "default via fd00:b0::1") {
		t.Fatalf("default bridge v6: %s", out)
	}
	d.MustDocker("run", "-d", "--name", "onbr", "busybox", "sleep", "300")
	if out := d.MustDocker("inspect", "-f", "{{.NetworkSettings.GlobalIPv6Address}} {{.NetworkSettings.GlobalIPv6PrefixLen}} {{.NetworkSettings.IPv6Gateway}}", "onbr"); !strings.HasPrefix(out, "fd00:b0::") || !strings.HasSuffix(out, " 64 fd00:b0::1") {
		t.Fatalf("inspect v6 on bridge: %q", out)
	}
	if out := d.MustDocker("network", "inspect", "-f", "{{.EnableIPv6}} {{range .IPAM.Config}}{{.Subnet}} {{end}}", "bridge"); out != "true 172.31.0.0/16 fd00:b0::/64" {
		t.Fatalf("bridge network inspect: %q", out)
	}

	// A user network with one IPv4 and one IPv6 subnet, and one whose
	// IPv6 subnet comes from the default (ULA) pool.
	d.MustDocker("network", "create", "--ipv6", "--subnet", "10.88.6.0/24", "--subnet", "fd00:6::/64", "v6a")
	d.MustDocker("network", "create", "--ipv6", "v6b")
	out = d.MustDocker("network", "inspect", "-f", "{{.EnableIPv6}} {{range .IPAM.Config}}{{.Subnet}} {{.Gateway}} {{end}}", "v6a")
	if out != "true 10.88.6.0/24 10.88.6.1 fd00:6::/64 fd00:6::1" {
		t.Fatalf("network inspect v6a: %q", out)
	}
	out = d.MustDocker("network", "inspect", "-f", "{{range .IPAM.Config}}{{.Subnet}} {{end}}", "v6b")
	if f := strings.Fields(out); len(f) != 2 || !strings.HasPrefix(f[1], "fd") || !strings.HasSuffix(f[1], "::/64") {
		t.Fatalf("v6b subnets (want a ULA /64): %q", out)
	}

	d.MustDocker("run", "-d", "--name", "s1", "--network", "v6a", "--ip6", "fd00:6::50", "busybox", "sh", "-c", httpdCmd)
	d.MustDocker("run", "-d", "--name", "s2", "--network", "v6a", "busybox", "sleep", "300")
	f := `{{with index .NetworkSettings.Networks "v6a"}}{{.GlobalIPv6Address}} {{.GlobalIPv6PrefixLen}} {{.IPv6Gateway}} {{.IPAMConfig.IPv6Address}}{{end}}`
	if out := d.MustDocker("inspect", "-f", f, "s1"); out != "fd00:6::50 64 fd00:6::1 fd00:6::50" {
		t.Fatalf("inspect s1 v6: %q", out)
	}
	s1Host := d.MustDocker("inspect", "-f", "{{.Config.Hostname}}", "s1")
	if out := d.MustDocker("exec", "s1", "cat", "/etc/hosts"); !strings.Contains(out, "\nfd00:6::50\t"+s1Host) {
		t.Fatalf("s1 hosts: %q", out)
	}
	if out := d.MustDocker("network", "inspect", "-f", "{{range .Containers}}{{.Name}} {{.IPv6Address}};{{end}}", "v6a"); !strings.Contains(out, "s1 fd00:6::50/64;") {
		t.Fatalf("network inspect containers: %q", out)
	}
	// By name over IPv6 (AAAA from the embedded DNS), and HTTP.
	if out := d.MustDocker("exec", "s2", "ping", "-6", "-c1", "-W3", "s1"); !strings.Contains(out, "fd00:6::50") {
		t.Fatalf("ping -6 s1: %s", out)
	}
	if out := d.MustDocker("exec", "s2", "nslookup", "-type=AAAA", "s1"); !strings.Contains(out, "fd00:6::50") {
		t.Fatalf("AAAA s1: %s", out)
	}
	if out := d.MustDocker("exec", "s2", "wget", "-qO-", "http://[fd00:6::50]/"); !strings.HasPrefix(out, "hello-") {
		t.Fatalf("wget over v6: %q", out)
	}
	// Other names still go upstream.
	stop := d.fakeResolver(t, "127.0.0.1:53", "outside.test.", "10.9.8.7")
	defer stop()
	if out := d.MustDocker("run", "--rm", "--network", "v6a", "--dns", "127.0.0.1", "busybox", "nslookup", "outside.test"); !strings.Contains(out, "10.9.8.7") {
		t.Fatalf("forwarded query on a v6 network: %s", out)
	}

	// Isolation: v6b reaches nothing on v6a, over IPv6 either (without
	// the ip6 rules, with forwarding on, this ping is answered in well
	// under a millisecond).
	if r := d.Docker("", "run", "--rm", "--network", "v6b", "busybox", "ping", "-6", "-c1", "-W2", "fd00:6::50"); r.Code == 0 {
		t.Fatalf("v6b reached v6a over IPv6: %s", r)
	}

	// Published ports: an explicit [::1] binding and the default one on
	// both families (loopback through the proxy, the bridge's IPv6
	// address through the ip6 DNAT rule).
	d.MustDocker("run", "-d", "--name", "pub", "--network", "v6a", "-p", "18180:80", "-p", "[::1]:18181:80", "busybox", "sh", "-c", httpdCmd)
	for _, a := range []string{"[::1]:18181", "[::1]:18180", "[fd00:6::1]:18180"} {
		if body := waitHTTP6(t, d, a); !strings.HasPrefix(body, "hello-") {
			t.Fatalf("published %s: %q", a, body)
		}
	}
	waitHTTP(t, d, "127.0.0.1:18180")
	if out := d.MustDocker("port", "pub"); !strings.Contains(out, "[::1]:18181") || !strings.Contains(out, "[::]:18180") || !strings.Contains(out, "0.0.0.0:18180") {
		t.Fatalf("docker port: %q", out)
	}
	if r := d.nftSummary(t, nftables.TableFamilyIPv6); !strings.Contains(r, "dnat") || !strings.Contains(r, "masquerade") || !strings.Contains(r, "drop") {
		t.Fatalf("ip6 berth table: %s", r)
	}

	// Connect and disconnect with IPv6.
	d.MustDocker("network", "connect", "v6b", "s2")
	s2b := d.MustDocker("inspect", "-f", `{{(index .NetworkSettings.Networks "v6b").GlobalIPv6Address}}`, "s2")
	if !strings.HasPrefix(s2b, "fd") {
		t.Fatalf("s2 on v6b: %q", s2b)
	}
	if out := d.MustDocker("exec", "s2", "sh", "-c", "ip -6 -o addr show eth1 scope global; cat /etc/hosts"); !strings.Contains(out, s2b+"/64") || !strings.Contains(out, s2b+"\t") {
		t.Fatalf("s2 after connect: %s", out)
	}
	d.MustDocker("network", "disconnect", "v6b", "s2")
	if out := d.MustDocker("exec", "s2", "sh", "-c", "ip -6 -o addr; cat /etc/hosts"); strings.Contains(out, s2b) {
		t.Fatalf("s2 after disconnect still has %s: %s", s2b, out)
	}

	// An internal IPv6 network has no IPv6 route out.
	d.MustDocker("network", "create", "--internal", "--ipv6", "--subnet", "fd00:7::/64", "inner6")
	if out := d.MustDocker("run", "--rm", "--network", "inner6", "busybox", "ip", "-6", "route"); strings.Contains(out, "default") {
		t.Fatalf("internal v6 network has a default route: %s", out)
	}

	// Bad input, nothing half made.
	d.MustDocker("network", "create", "--subnet", "10.88.8.0/24", "v4only")
	// As dockerd 26.0.2+: an interface with only an IPv4 address has
	// IPv6 off (no link-local address, no router advertisements).
	if out := d.MustDocker("run", "--rm", "--network", "v4only", "busybox", "sh", "-c", "cat /proc/sys/net/ipv6/conf/eth0/disable_ipv6; ip -6 -o addr show eth0"); out != "1" {
		t.Errorf("IPv6 on an IPv4-only interface: %q", out)
	}
	if out := d.MustDocker("run", "--rm", "--network", "v6a", "busybox", "cat", "/proc/sys/net/ipv6/conf/eth0/disable_ipv6"); out != "0" {
		t.Errorf("disable_ipv6 on an IPv6 interface: %q", out)
	}
	// The --rm runs above may still be removing their veths: what the
	// failures must not do is add links.
	before := map[string]bool{}
	for _, l := range d.links(t) {
		before[l] = true
	}
	for _, c := range []struct {
		args []string
		msg  string
	}{
		{[]string{"network", "create", "--ipv6", "--subnet", "fd00:6::/80", "over"}, "Pool overlaps with other one on this address space"},
		{[]string{"run", "--rm", "--network", "v6a", "--ip6", "fd00:9::5", "busybox", "true"}, "no configured subnet contains IP address fd00:9::5"},
		{[]string{"run", "--rm", "--network", "v4only", "--ip6", "fd00:6::7", "busybox", "true"}, "no configured subnet contains IP address fd00:6::7"},
		{[]string{"run", "--rm", "--network", "v6b", "--ip6", "fd00:6::8", "busybox", "true"}, "no configured subnet contains IP address fd00:6::8"},
		{[]string{"run", "--rm", "--ip6", "fd00:b0::9", "busybox", "true"}, "user specified IP address is supported on user defined networks only"},
		{[]string{"network", "create", "--ipv6", "--ipv4=false", "v6only"}, "IPv6-only networks"},
	} {
		r := d.Docker("", c.args...)
		if r.Code == 0 || !strings.Contains(r.Stderr, c.msg) {
			t.Errorf("docker %s: want failure with %q, got %s", strings.Join(c.args, " "), c.msg, r)
		}
	}
	for _, l := range d.links(t) {
		if !before[l] {
			t.Errorf("a failed command left link %s", l)
		}
	}

	// kill -9: the running container keeps its IPv6 port; after removal
	// nothing IPv6 of berth's is left (addresses, rules, ports).
	d.Kill()
	d.Start()
	if body := waitHTTP6(t, d, "[::1]:18181"); !strings.HasPrefix(body, "hello-") {
		t.Fatalf("after restart: %q", body)
	}
	d.MustDocker("rm", "-f", "s1", "s2", "pub", "onbr")
	for _, n := range []string{"v6a", "v6b", "inner6", "v4only"} {
		d.MustDocker("network", "rm", n)
	}
	if n := d.waitVeths(t, 0); n != 0 {
		t.Errorf("veths left: %v", d.links(t))
	}
	if out := d.nsCmd(t, "ip", "-6", "-o", "addr"); strings.Contains(out, "fd00:6:") || strings.Contains(out, "fd00:7:") {
		t.Errorf("IPv6 addresses left: %s", out)
	}
	// The default bridge (IPv6 too) keeps its masquerading; nothing else.
	for _, fam := range []nftables.TableFamily{nftables.TableFamilyIPv4, nftables.TableFamilyIPv6} {
		if out := d.nftSummary(t, fam); out != "table masquerade" {
			t.Errorf("berth table of family %v after cleanup: %q", fam, out)
		}
	}
	if _, err := d.dial("tcp6", "[::1]:18181"); err == nil {
		t.Error("port [::1]:18181 still served")
	}
}

// TestNetworkIPv6Pools: configured default-address-pools with two IPv6
// subnets and --ipv6 without --fixed-cidr-v6: the default bridge takes
// the first, a --ipv6 network the second, and the next one gets dockerd's
// error and leaves nothing behind.
func TestNetworkIPv6Pools(t *testing.T) {
	d := StartDaemonNetNS(t, "--ipv6", "--default-address-pool", "base=10.77.0.0/16,size=24", "--default-address-pool", "base=fd00:77::/63,size=64")
	if out := d.MustDocker("network", "inspect", "-f", "{{.EnableIPv6}} {{range .IPAM.Config}}{{.Subnet}} {{end}}", "bridge"); out != "true 172.31.0.0/16 fd00:77::/64" {
		t.Fatalf("default bridge: %q", out)
	}
	d.MustDocker("network", "create", "--ipv6", "p1")
	if out := d.MustDocker("network", "inspect", "-f", "{{range .IPAM.Config}}{{.Subnet}} {{end}}", "p1"); out != "10.77.0.0/24 fd00:77:0:1::/64" {
		t.Fatalf("p1 subnets: %q", out)
	}
	// The --rm runs above may still be removing their veths: what the
	// failures must not do is add links.
	before := map[string]bool{}
	for _, l := range d.links(t) {
		before[l] = true
	}
	r := d.Docker("", "network", "create", "--ipv6", "p2")
	if r.Code == 0 || !strings.Contains(r.Stderr, "could not find an available, non-overlapping IPv6 address pool among the defaults to assign to the network") {
		t.Fatalf("second v6 network: %s", r)
	}
	for _, l := range d.links(t) {
		if !before[l] {
			t.Errorf("the failure left link %s", l)
		}
	}
	if out := d.MustDocker("network", "ls", "-q", "--filter", "name=p2"); out != "" {
		t.Errorf("p2 exists: %q", out)
	}
	d.MustDocker("network", "rm", "p1")
	// The default bridge keeps its IPv6 subnet across a restart.
	d.Stop()
	d.Start()
	if out := d.MustDocker("network", "inspect", "-f", "{{range .IPAM.Config}}{{.Subnet}} {{end}}", "bridge"); out != "172.31.0.0/16 fd00:77::/64" {
		t.Fatalf("default bridge after restart: %q", out)
	}
}
