package ocispec

import (
	"net/netip"
	"testing"
)

func TestHostnameFile(t *testing.T) {
	if got := string(HostnameFile("abc123456789")); got != "abc123456789\n" {
		t.Errorf("got %q", got)
	}
}

func TestHostsFile(t *testing.T) {
	const defaults = "127.0.0.1\tlocalhost\n" +
		"::1\tlocalhost ip6-localhost ip6-loopback\n" +
		"fe00::0\tip6-localnet\n" +
		"ff00::0\tip6-mcastprefix\n" +
		"ff02::1\tip6-allnodes\n" +
		"ff02::2\tip6-allrouters\n"
	cases := []struct {
		name string
		got  []byte
		want string
	}{
		{"no address", HostsFile("abc123456789", nil), defaults},
		{"extra hosts", HostsFile("h", []string{"db:10.0.0.5", "v6:2001:db8::1", "eq=192.0.2.1", "br:[2001:db8::2]"}),
			defaults + "10.0.0.5\tdb\n2001:db8::1\tv6\n192.0.2.1\teq\n2001:db8::2\tbr\n"},
		{"with address", HostsFileWithIP("abc123456789", "", netip.MustParseAddr("172.17.0.2"), []string{"db:10.0.0.5"}),
			defaults + "10.0.0.5\tdb\n172.17.0.2\tabc123456789\n"},
		{"with domain", HostsFileWithIP("web", "example.org", netip.MustParseAddr("172.17.0.3"), nil),
			defaults + "172.17.0.3\tweb.example.org web\n"},
	}
	for _, tc := range cases {
		if string(tc.got) != tc.want {
			t.Errorf("%s:\n got %q\nwant %q", tc.name, tc.got, tc.want)
		}
	}
}

func TestResolvConf(t *testing.T) {
	const systemd = "# This is /run/systemd/resolve/stub-resolv.conf managed by man:systemd-resolved(8).\n" +
		"nameserver 127.0.0.53\n" +
		"options edns0 trust-ad\n" +
		"search corp.example\n"
	const mixed = "domain home.arpa\n" +
		"nameserver 127.0.0.1\n" +
		"nameserver 192.168.1.1 ; router\n" +
		"nameserver ::1\n" +
		"nameserver 2001:db8::53\n" +
		"options ndots:2\n" +
		"options timeout:1\n"
	cases := []struct {
		name              string
		host              string
		dns, search, opts []string
		ipv6              bool
		want              string
	}{
		{"systemd stub falls back to Docker's", systemd, nil, nil, nil,
			false, "nameserver 8.8.8.8\nnameserver 8.8.4.4\nsearch corp.example\noptions edns0 trust-ad\n"},
		{"systemd stub, IPv6 container: IPv6 defaults too", systemd, nil, nil, nil,
			true, "nameserver 8.8.8.8\nnameserver 8.8.4.4\nnameserver 2001:4860:4860::8888\nnameserver 2001:4860:4860::8844\nsearch corp.example\noptions edns0 trust-ad\n"},
		{"loopback and IPv6 dropped, rest kept", mixed, nil, nil, nil,
			false, "nameserver 192.168.1.1\nsearch home.arpa\noptions ndots:2 timeout:1\n"},
		{"IPv6 container keeps IPv6 nameservers, not ::1", mixed, nil, nil, nil,
			true, "nameserver 192.168.1.1\nnameserver 2001:db8::53\nsearch home.arpa\noptions ndots:2 timeout:1\n"},
		{"only IPv6 nameservers, no IPv6: defaults", "nameserver 2001:db8::53\n", nil, nil, nil,
			false, "nameserver 8.8.8.8\nnameserver 8.8.4.4\n"},
		{"empty host file", "", nil, nil, nil, false, "nameserver 8.8.8.8\nnameserver 8.8.4.4\n"},
		{"--dns --dns-search --dns-option", mixed, []string{"1.1.1.1"}, []string{"a.example", "b.example"}, []string{"rotate"},
			false, "nameserver 1.1.1.1\nsearch a.example b.example\noptions rotate\n"},
		{"--dns IPv6 is kept as given, IPv6 or not", mixed, []string{"2001:db8::1", "1.1.1.1"}, nil, nil,
			false, "nameserver 2001:db8::1\nnameserver 1.1.1.1\nsearch home.arpa\noptions ndots:2 timeout:1\n"},
		{"--dns 127.0.0.1 is the user's choice", systemd, []string{"127.0.0.1"}, nil, nil,
			false, "nameserver 127.0.0.1\nsearch corp.example\noptions edns0 trust-ad\n"},
		{"--dns-search . clears", systemd, nil, []string{"."}, nil,
			false, "nameserver 8.8.8.8\nnameserver 8.8.4.4\noptions edns0 trust-ad\n"},
	}
	for _, tc := range cases {
		got := string(ResolvConf([]byte(tc.host), tc.dns, tc.search, tc.opts, tc.ipv6))
		if got != tc.want {
			t.Errorf("%s:\n got %q\nwant %q", tc.name, got, tc.want)
		}
	}
}
