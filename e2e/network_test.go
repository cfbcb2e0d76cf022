package e2e

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/miekg/dns"
	"github.com/vishvananda/netns"
)

// StartDaemonNetNS starts berthd inside a network namespace the test
// makes (and deletes at the end), so that its bridges, veths, addresses
// and nftables table exist only there.
func StartDaemonNetNS(t *testing.T, args ...string) *Daemon {
	t.Helper()
	needRoot(t)
	var b [4]byte
	rand.Read(b[:])
	ns := "berth-t-" + hex.EncodeToString(b[:])
	if out, err := exec.Command("ip", "netns", "add", ns).CombinedOutput(); err != nil {
		t.Skipf("ip netns add: %v: %s", err, out)
	}
	// Registered first, so it runs after the daemon's Destroy.
	t.Cleanup(func() { exec.Command("ip", "netns", "del", ns).Run() })
	if out, err := exec.Command("ip", "-n", ns, "link", "set", "lo", "up").CombinedOutput(); err != nil {
		t.Fatalf("lo up: %v: %s", err, out)
	}
	return startDaemon(t, ns, args...)
}

// inNetNS runs fn on a thread inside the daemon's namespace; sockets fn
// makes stay in it.
func (d *Daemon) inNetNS(fn func() error) error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		orig, err := netns.Get()
		if err != nil {
			errc <- err
			return
		}
		defer orig.Close()
		h, err := netns.GetFromName(d.NetNS)
		if err != nil {
			errc <- err
			return
		}
		defer h.Close()
		if err := netns.Set(h); err != nil {
			errc <- err
			return
		}
		ferr := fn()
		if netns.Set(orig) == nil {
			runtime.UnlockOSThread() // else the thread dies with the goroutine
		}
		errc <- ferr
	}()
	return <-errc
}

// dial connects from inside the daemon's namespace.
func (d *Daemon) dial(network, addr string) (net.Conn, error) {
	var c net.Conn
	err := d.inNetNS(func() (err error) {
		c, err = net.DialTimeout(network, addr, 3*time.Second)
		return err
	})
	return c, err
}

// httpGet fetches path from addr (inside the namespace), returning the body.
func (d *Daemon) httpGet(addr, path string) (string, error) {
	c, err := d.dial("tcp4", addr)
	if err != nil {
		return "", err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	fmt.Fprintf(c, "GET %s HTTP/1.0\r\nHost: x\r\n\r\n", path)
	b, err := io.ReadAll(c)
	if err != nil {
		return "", err
	}
	_, body, _ := strings.Cut(string(b), "\r\n\r\n")
	return body, nil
}

// links lists the interface names in the daemon's namespace.
func (d *Daemon) links(t *testing.T) []string {
	t.Helper()
	out, err := exec.Command("ip", "-n", d.NetNS, "-o", "link", "show").CombinedOutput()
	if err != nil {
		t.Fatalf("ip link: %v: %s", err, out)
	}
	var names []string
	for _, l := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		f := strings.Fields(l)
		if len(f) > 1 {
			names = append(names, strings.SplitN(strings.TrimSuffix(f[1], ":"), "@", 2)[0])
		}
	}
	return names
}

func (d *Daemon) vethCount(t *testing.T) int {
	n := 0
	for _, l := range d.links(t) {
		if strings.HasPrefix(l, "vb") {
			n++
		}
	}
	return n
}

// waitVeths polls until want veths remain (the kernel removes them with
// their namespaces, in the background) and returns the last count.
func (d *Daemon) waitVeths(t *testing.T, want int) int {
	n := d.vethCount(t)
	for deadline := time.Now().Add(5 * time.Second); n != want && time.Now().Before(deadline); n = d.vethCount(t) {
		time.Sleep(20 * time.Millisecond)
	}
	return n
}

const httpdCmd = `mkdir -p /w && echo hello-$(hostname) > /w/index.html && exec httpd -f -p 80 -h /w`

func (d *Daemon) ip(t *testing.T, ctr, net string) string {
	t.Helper()
	return d.MustDocker("inspect", "-f", fmt.Sprintf("{{(index .NetworkSettings.Networks %q).IPAddress}}", net), ctr)
}

func waitHTTP(t *testing.T, d *Daemon, addr string) string {
	t.Helper()
	var body string
	var err error
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if body, err = d.httpGet(addr, "/"); err == nil && body != "" {
			return body
		}
	}
	t.Fatalf("GET http://%s/: %v (body %q)", addr, err, body)
	return ""
}

func TestNetworkBridges(t *testing.T) {
	d := StartDaemonNetNS(t)
	d.ImportBusybox()
	since := strconv.FormatInt(time.Now().Add(-time.Second).Unix(), 10)

	// The default bridge: an address from 172.31.0.0/16, the hosts file
	// maps the container's name to it.
	out := d.MustDocker("run", "--rm", "busybox", "sh", "-c", "ip -4 -o addr show eth0; cat /etc/hosts; ip route")
	if !strings.Contains(out, "inet 172.31.") || !strings.Contains(out, "default via 172.31.0.1") {
		t.Fatalf("default bridge: %s", out)
	}

	d.MustDocker("network", "create", "--subnet", "10.88.1.0/24", "--label", "t=1", "n1")
	d.MustDocker("network", "create", "n2")
	d.MustDocker("network", "create", "--internal", "--subnet", "10.88.3.0/24", "inner")
	d.MustDocker("run", "-d", "--name", "web", "--network", "n1", "--ip", "10.88.1.50", "--network-alias", "www", "busybox", "sh", "-c", httpdCmd)
	if ip := d.ip(t, "web", "n1"); ip != "10.88.1.50" {
		t.Fatalf("web ip %q", ip)
	}
	// Same network: HTTP by address.
	out = d.MustDocker("run", "--rm", "--network", "n1", "busybox", "wget", "-qO-", "http://10.88.1.50/")
	if !strings.HasPrefix(out, "hello-") {
		t.Fatalf("wget on n1: %q", out)
	}
	// The embedded DNS server: names, aliases (A) and addresses (PTR).
	out = d.MustDocker("run", "--rm", "--network", "n1", "busybox", "sh", "-c", "cat /etc/resolv.conf; wget -qO- http://web/; wget -qO- http://www/; nslookup 10.88.1.50")
	if !strings.Contains(out, "nameserver 127.0.0.11") || strings.Count(out, "hello-") != 2 || !strings.Contains(out, "web.n1") {
		t.Fatalf("DNS on n1: %s", out)
	}
	// Other names go upstream, from berthd's namespace: a resolver on its
	// loopback (given as --dns) answers.
	stop := d.fakeResolver(t, "127.0.0.1:53", "outside.test.", "10.9.8.7")
	defer stop()
	out = d.MustDocker("run", "--rm", "--network", "n1", "--dns", "127.0.0.1", "busybox", "nslookup", "outside.test")
	if !strings.Contains(out, "10.9.8.7") {
		t.Fatalf("forwarded query: %s", out)
	}
	// Not on n2.
	if r := d.Docker("", "run", "--rm", "--network", "n2", "busybox", "nslookup", "web"); strings.Contains(r.Stdout, "10.88.1.50") {
		t.Fatalf("n2 resolved web: %s", r)
	}

	// Another network: no route through.
	if r := d.Docker("", "run", "--rm", "--network", "n2", "busybox", "ping", "-c1", "-W1", "10.88.1.50"); r.Code == 0 {
		t.Fatalf("n2 reached n1: %s", r)
	}
	// Internal network: no default route.
	if out := d.MustDocker("run", "--rm", "--network", "inner", "busybox", "ip", "route"); strings.Contains(out, "default") {
		t.Fatalf("internal network has a default route: %s", out)
	}

	// network ls / inspect.
	if out := d.MustDocker("network", "ls", "--filter", "label=t=1", "--format", "{{.Name}} {{.Driver}}"); out != "n1 bridge" {
		t.Fatalf("network ls: %q", out)
	}
	out = d.MustDocker("network", "inspect", "-f", "{{range .IPAM.Config}}{{.Subnet}} {{.Gateway}}{{end}} {{range .Containers}}{{.Name}} {{.IPv4Address}}{{end}}", "n1")
	if out != "10.88.1.0/24 10.88.1.1 web 10.88.1.50/24" {
		t.Fatalf("network inspect: %q", out)
	}

	// --network container:web shares web's namespace; host-gateway is
	// the default bridge's gateway.
	out = d.MustDocker("run", "--rm", "--network", "container:web", "busybox", "wget", "-qO-", "http://127.0.0.1/")
	if !strings.HasPrefix(out, "hello-") {
		t.Fatalf("container:web: %q", out)
	}
	out = d.MustDocker("run", "--rm", "--add-host", "gw:host-gateway", "--hostname", "hn", "busybox", "cat", "/etc/hosts")
	if !strings.Contains(out, "172.31.0.1\tgw\n") || !strings.Contains(out, "\n172.31.0.") || !strings.HasSuffix(out, "\thn") {
		t.Fatalf("hosts file: %q", out)
	}

	// connect/disconnect a running container.
	d.MustDocker("run", "-d", "--name", "probe", "--network", "n2", "busybox", "sleep", "300")
	d.MustDocker("network", "connect", "n2", "web")
	webN2 := d.ip(t, "web", "n2")
	if webN2 == "" {
		t.Fatal("no n2 address after connect")
	}
	out = d.MustDocker("exec", "probe", "wget", "-qO-", "http://"+webN2+"/")
	if !strings.HasPrefix(out, "hello-") {
		t.Fatalf("wget over connected network: %q", out)
	}
	// As dockerd: the running container's /etc/hosts maps its hostname
	// to the new address too, until the disconnect.
	webHost := d.MustDocker("inspect", "-f", "{{.Config.Hostname}}", "web")
	if out := d.MustDocker("exec", "web", "cat", "/etc/hosts"); !strings.Contains(out, "10.88.1.50\t"+webHost+"\n") || !strings.HasSuffix(out, "\n"+webN2+"\t"+webHost) {
		t.Fatalf("hosts after connect: %q", out)
	}
	d.MustDocker("network", "disconnect", "n2", "web")
	if r := d.Docker("", "exec", "probe", "ping", "-c1", "-W1", webN2); r.Code == 0 {
		t.Fatalf("reached web after disconnect: %s", r)
	}
	if out := d.MustDocker("inspect", "-f", "{{len .NetworkSettings.Networks}}", "web"); out != "1" {
		t.Fatalf("networks after disconnect: %s", out)
	}
	if out := d.MustDocker("exec", "web", "cat", "/etc/hosts"); strings.Contains(out, webN2) || !strings.Contains(out, "10.88.1.50\t"+webHost) {
		t.Fatalf("hosts after disconnect: %q", out)
	}
	// A container of the default bridge that joins a user network gets
	// the embedded resolver (and keeps it, as with dockerd).
	d.MustDocker("run", "-d", "--name", "mover", "busybox", "sleep", "300")
	if out := d.MustDocker("exec", "mover", "cat", "/etc/resolv.conf"); strings.Contains(out, "127.0.0.11") {
		t.Fatalf("resolv.conf on the default bridge: %q", out)
	}
	// SandboxKey is the container's namespace file, SandboxID its id.
	out = d.MustDocker("inspect", "-f", "{{.State.Pid}} {{.NetworkSettings.SandboxKey}} {{.NetworkSettings.SandboxID}}", "mover")
	if f := strings.Fields(out); len(f) != 3 || len(f[2]) != 64 || !strings.HasPrefix(f[1], d.ExecRoot) || sameInode(f[1], "/proc/"+f[0]+"/ns/net") != nil {
		t.Fatalf("sandbox of mover: %q (%v)", out, sameInode(f[1], "/proc/"+f[0]+"/ns/net"))
	}
	moverIP := d.ip(t, "mover", "bridge")
	d.MustDocker("network", "connect", "n1", "mover")
	out = d.MustDocker("exec", "mover", "sh", "-c", "cat /etc/resolv.conf /etc/hosts; wget -qO- http://www/")
	if !strings.Contains(out, "nameserver 127.0.0.11") || !strings.Contains(out, "hello-") {
		t.Fatalf("mover after connect to n1: %s", out)
	}
	d.MustDocker("network", "disconnect", "bridge", "mover")
	out = d.MustDocker("exec", "mover", "sh", "-c", "cat /etc/hosts; wget -qO- http://web/")
	if strings.Contains(out, moverIP) || !strings.Contains(out, "hello-") {
		t.Fatalf("mover after disconnect from bridge: %s", out)
	}
	d.MustDocker("stop", "-t", "0", "mover")
	if out := d.MustDocker("inspect", "-f", "{{.NetworkSettings.SandboxKey}}{{.NetworkSettings.SandboxID}}", "mover"); out != "" {
		t.Fatalf("sandbox of a stopped container: %q", out)
	}
	// Network events, as dockerd sends them.
	webID := d.MustDocker("inspect", "-f", "{{.Id}}", "web")
	out = d.replay(t, since, outputHas("disconnect n2 "+webID), "--filter", "type=network", "--format", "{{.Action}} {{.Actor.Attributes.name}} {{.Actor.Attributes.container}}")
	for _, want := range []string{"create n1 ", "connect n1 " + webID, "connect n2 " + webID, "disconnect n2 " + webID} {
		if !strings.Contains(out+"\n", want) {
			t.Errorf("network events: no %q in\n%s", want, out)
		}
	}
}

func TestNetworkPublish(t *testing.T) {
	d := StartDaemonNetNS(t)
	d.ImportBusybox()
	d.MustDocker("run", "-d", "--name", "pub", "-p", "127.0.0.1:18080:80", "-p", "18081:80", "busybox", "sh", "-c", httpdCmd)
	if body := waitHTTP(t, d, "127.0.0.1:18080"); !strings.HasPrefix(body, "hello-") {
		t.Fatalf("published port: %q", body)
	}
	// Through the DNAT rule: the bridge's address.
	if body := waitHTTP(t, d, "172.31.0.1:18081"); !strings.HasPrefix(body, "hello-") {
		t.Fatalf("published port on the bridge address: %q", body)
	}
	if out := d.MustDocker("inspect", "-f", "{{.NetworkSettings.IPAddress}} {{.NetworkSettings.Gateway}}", "pub"); !strings.HasPrefix(out, "172.31.") || !strings.HasSuffix(out, " 172.31.0.1") {
		t.Fatalf("inspect IPAddress Gateway: %q", out)
	}
	if out := d.MustDocker("port", "pub"); !strings.Contains(out, "80/tcp -> 127.0.0.1:18080") || !strings.Contains(out, "80/tcp -> 0.0.0.0:18081") {
		t.Fatalf("docker port: %q", out)
	}

	// UDP: an echo server (busybox has no UDP server) behind -p .../udp.
	echo := filepath.Join(d.Root, "udpecho")
	build := exec.Command("go", "build", "-o", echo, "./testdata/udpecho")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build udpecho: %v: %s", err, out)
	}
	d.MustDocker("run", "-d", "--name", "echo", "-v", echo+":/udpecho:ro", "-p", "127.0.0.1:15353:53/udp", "busybox", "/udpecho", "53")
	var ans string
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline) && ans == ""; {
		ans, _ = d.udpRoundTrip("127.0.0.1:15353", "ping")
	}
	if ans != "echo:ping" {
		t.Fatalf("udp publish: answer %q", ans)
	}

	// -P publishes EXPOSEd ports on random host ports.
	d.MustDocker("run", "-d", "--name", "rnd", "--expose", "80", "-P", "busybox", "sh", "-c", httpdCmd)
	out := d.MustDocker("port", "rnd", "80/tcp")
	_, port, ok := strings.Cut(strings.Split(out, "\n")[0], ":")
	if !ok || port == "0" {
		t.Fatalf("-P port: %q", out)
	}
	waitHTTP(t, d, "127.0.0.1:"+port)
}

// udpRoundTrip sends msg over UDP from inside the namespace and returns
// the answer.
func (d *Daemon) udpRoundTrip(addr, msg string) (string, error) {
	c, err := d.dial("udp4", addr)
	if err != nil {
		return "", err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(300 * time.Millisecond))
	if _, err := c.Write([]byte(msg)); err != nil {
		return "", err
	}
	b := make([]byte, 512)
	n, err := c.Read(b)
	if err != nil {
		return "", err
	}
	return string(b[:n]), nil
}

func TestNetworkBadInput(t *testing.T) {
	d := StartDaemonNetNS(t)
	d.ImportBusybox()
	d.MustDocker("network", "create", "--subnet", "10.89.0.0/16", "a")
	links := len(d.links(t))
	for _, c := range []struct {
		args []string
		msg  string
	}{
		{[]string{"network", "create", "--subnet", "10.89.1.0/24", "b"}, "Pool overlaps with other one on this address space"},
		{[]string{"network", "create", "-d", "nosuch", "c"}, `plugin "nosuch" not found`},
		{[]string{"network", "create", "a"}, "network with name a already exists"},
		{[]string{"network", "create", "--subnet", "10.90.0.0/24", "--gateway", "10.91.0.1", "g"}, "10.91.0.1"},
		{[]string{"run", "--rm", "--network", "a", "--ip", "10.77.0.5", "busybox", "true"}, "no configured subnet or ip-range contain the IP address 10.77.0.5"},
		{[]string{"run", "--rm", "--network", "nosuch", "busybox", "true"}, "network nosuch not found"},
		{[]string{"run", "--rm", "--ip", "172.31.9.9", "busybox", "true"}, "user specified IP address is supported on user defined networks only"},
		{[]string{"network", "rm", "bridge"}, "bridge is a pre-defined network and cannot be removed"},
	} {
		r := d.Docker("", c.args...)
		if r.Code == 0 || !strings.Contains(r.Stderr, c.msg) {
			t.Errorf("docker %s: want failure with %q, got %s", strings.Join(c.args, " "), c.msg, r)
		}
	}
	if n := len(d.links(t)); n != links {
		t.Errorf("links after failures: %d, before %d: %v", n, links, d.links(t))
	}

	// A host port in use: the second container fails to start, and leaves
	// no veth behind.
	d.MustDocker("run", "-d", "--name", "first", "-p", "127.0.0.1:18090:80", "busybox", "sleep", "300")
	before := d.vethCount(t)
	r := d.Docker("", "run", "-d", "--name", "second", "-p", "127.0.0.1:18090:80", "busybox", "sleep", "300")
	if r.Code == 0 || !strings.Contains(r.Stderr, "18090") {
		t.Errorf("second bind of 18090: %s", r)
	}
	if n := d.waitVeths(t, before); n != before {
		t.Errorf("veths after failed start: %d, want %d", n, before)
	}

	// A network with a running container cannot be removed.
	d.MustDocker("run", "-d", "--name", "in-a", "--network", "a", "busybox", "sleep", "300")
	if r := d.Docker("", "network", "rm", "a"); r.Code == 0 || !strings.Contains(r.Stderr, "has active endpoints") {
		t.Errorf("rm network with endpoints: %s", r)
	}
	d.MustDocker("rm", "-f", "in-a")
	d.MustDocker("network", "rm", "a")
}

func TestNetworkKill9Recovery(t *testing.T) {
	d := StartDaemonNetNS(t)
	d.ImportBusybox()
	d.MustDocker("network", "create", "k")
	d.MustDocker("run", "-d", "--name", "kw", "--network", "k", "-p", "127.0.0.1:18100:80", "busybox", "sh", "-c", httpdCmd)
	d.MustDocker("run", "-d", "--name", "kb", "busybox", "sleep", "300")
	waitHTTP(t, d, "127.0.0.1:18100")

	d.Kill()
	d.Start()
	// The running container kept its network and its published port.
	if body := waitHTTP(t, d, "127.0.0.1:18100"); !strings.HasPrefix(body, "hello-") {
		t.Fatalf("after restart: %q", body)
	}
	d.MustDocker("rm", "-f", "kw", "kb")
	d.MustDocker("network", "rm", "k")
	if n := d.waitVeths(t, 0); n != 0 {
		t.Errorf("veths left: %v", d.links(t))
	}
	for _, l := range d.links(t) {
		if strings.HasPrefix(l, "br-") {
			t.Errorf("bridge left: %s", l)
		}
	}
	if ents, _ := os.ReadDir(filepath.Join(d.ExecRoot, "netns")); len(ents) != 0 {
		t.Errorf("netns files left: %d", len(ents))
	}
	if ents, _ := os.ReadDir(filepath.Join(d.DataRoot, "network", "sandboxes")); len(ents) != 0 {
		t.Errorf("sandbox records left: %d", len(ents))
	}
	if _, err := d.dial("tcp4", "127.0.0.1:18100"); err == nil {
		t.Error("port 18100 still served")
	}
}

// fakeResolver answers name with addr on addr:53 inside the daemon's
// namespace (standing in for a host resolver such as 127.0.0.53).
func (d *Daemon) fakeResolver(t *testing.T, listen, name, addr string) func() {
	t.Helper()
	var pc net.PacketConn
	if err := d.inNetNS(func() (err error) { pc, err = net.ListenPacket("udp4", listen); return err }); err != nil {
		t.Fatalf("fake resolver: %v", err)
	}
	srv := &dns.Server{PacketConn: pc, Handler: dns.HandlerFunc(func(w dns.ResponseWriter, q *dns.Msg) {
		m := new(dns.Msg)
		m.SetReply(q)
		switch {
		case len(q.Question) != 1 || q.Question[0].Name != name:
			m.Rcode = dns.RcodeNameError
		case q.Question[0].Qtype == dns.TypeA:
			m.Answer = append(m.Answer, &dns.A{Hdr: dns.RR_Header{Name: name, Rrtype: dns.TypeA, Class: dns.ClassINET, Ttl: 60}, A: net.ParseIP(addr)})
		default: // AAAA: the name exists, with no such record
		}
		w.WriteMsg(m)
	})}
	go srv.ActivateAndServe()
	return func() { srv.Shutdown() }
}

// sameInode fails unless paths a and b are the same file (namespace).
func sameInode(a, b string) error {
	var sa, sb syscall.Stat_t
	if err := syscall.Stat(a, &sa); err != nil {
		return err
	}
	if err := syscall.Stat(b, &sb); err != nil {
		return err
	}
	if sa.Ino != sb.Ino || sa.Dev != sb.Dev {
		return fmt.Errorf("%s and %s differ", a, b)
	}
	return nil
}
