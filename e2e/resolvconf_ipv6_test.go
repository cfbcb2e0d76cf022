package e2e

import (
	"crypto/rand"
	"encoding/hex"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestResolvConfIPv6Nameservers: as with dockerd 28, a container on the
// default bridge keeps the host's IPv6 nameservers when it has IPv6 and
// loses them when it has none (--network none); a user network's
// container gets the embedded resolver. berthd runs in a network
// namespace and a mount namespace of the test's, where a resolv.conf of
// the test's covers /etc/resolv.conf.
func TestResolvConfIPv6Nameservers(t *testing.T) {
	needRoot(t)
	var b [4]byte
	rand.Read(b[:])
	ns := "berth-t-" + hex.EncodeToString(b[:])
	if out, err := exec.Command("ip", "netns", "add", ns).CombinedOutput(); err != nil {
		t.Skipf("ip netns add: %v: %s", err, out)
	}
	t.Cleanup(func() { exec.Command("ip", "netns", "del", ns).Run() })
	if out, err := exec.Command("ip", "-n", ns, "link", "set", "lo", "up").CombinedOutput(); err != nil {
		t.Fatalf("lo up: %v: %s", err, out)
	}
	resolv := filepath.Join(t.TempDir(), "resolv.conf")
	if err := os.WriteFile(resolv, []byte("nameserver 127.0.0.53\nnameserver 2001:db8::53\nnameserver 192.0.2.53\nsearch example.test\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	// The mount namespace dies with the last process in it (berthd, its
	// monitor and containers), and the bind mount with it.
	wrap := []string{"unshare", "--mount", "--propagation", "slave", "sh", "-c",
		`mount --bind "$0" /etc/resolv.conf && exec nsenter --net=/run/netns/` + ns + ` "$@"`, resolv}
	d := startDaemonWith(t, ns, wrap, "--ipv6", "--fixed-cidr-v6", "fd00:b3::/64")
	d.ImportBusybox()

	out := d.MustDocker("run", "--rm", "busybox", "cat", "/etc/resolv.conf")
	if out != "nameserver 2001:db8::53\nnameserver 192.0.2.53\nsearch example.test" {
		t.Fatalf("default bridge with IPv6: %q", out)
	}
	out = d.MustDocker("run", "--rm", "--network", "none", "busybox", "cat", "/etc/resolv.conf")
	if out != "nameserver 192.0.2.53\nsearch example.test" {
		t.Fatalf("--network none: %q", out)
	}
	d.MustDocker("network", "create", "--ipv6", "--subnet", "fd00:b4::/64", "v6dns")
	out = d.MustDocker("run", "--rm", "--network", "v6dns", "busybox", "cat", "/etc/resolv.conf")
	if strings.Contains(out, "2001:db8::53") || !strings.Contains(out, "nameserver 127.0.0.11") {
		t.Fatalf("user network: %q", out)
	}
}
