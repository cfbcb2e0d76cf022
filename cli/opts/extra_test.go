package opts

import (
	"reflect"
	"strings"
	"testing"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/network"
)

func TestParseDevice(t *testing.T) {
	tests := map[string]container.DeviceMapping{
		"/dev/null":          {PathOnHost: "/dev/null", PathInContainer: "/dev/null", CgroupPermissions: "rwm"},
		"/dev/zero:/dev/z":   {PathOnHost: "/dev/zero", PathInContainer: "/dev/z", CgroupPermissions: "rwm"},
		"/dev/full:/dev/f:r": {PathOnHost: "/dev/full", PathInContainer: "/dev/f", CgroupPermissions: "r"},
		"/dev/random:rw":     {PathOnHost: "/dev/random", PathInContainer: "/dev/random", CgroupPermissions: "rw"},
	}
	for in, want := range tests {
		got, err := parseDevice(in)
		if err != nil || got != want {
			t.Errorf("parseDevice(%q) = %+v, %v; want %+v", in, got, err, want)
		}
	}
	for _, bad := range []string{"/dev/a:/dev/b:xyz", "/dev/a:relative", "a:b:c:d"} {
		if _, err := parseDevice(bad); err == nil {
			t.Errorf("parseDevice(%q) should fail", bad)
		}
	}
}

func TestExtraHostAndDNS(t *testing.T) {
	for in, want := range map[string]string{"db:10.0.0.2": "db:10.0.0.2", "db=10.0.0.2": "db:10.0.0.2", "gw:host-gateway": "gw:host-gateway", "v6=[::1]": "v6:::1", "v6:::1": "v6:::1"} {
		if got, err := validateExtraHost(in); err != nil || got != want {
			t.Errorf("validateExtraHost(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, bad := range []string{"nohost", ":1.2.3.4", "db:notanip"} {
		if _, err := validateExtraHost(bad); err == nil {
			t.Errorf("validateExtraHost(%q) should fail", bad)
		}
	}
	if _, err := validateIP("8.8.8.x"); err == nil {
		t.Error("bad DNS address accepted")
	}
}

func TestParsePortsAndHealth(t *testing.T) {
	cfg := mustParse(t, "-p", "8080:80", "-p", "127.0.0.1:53:53/udp", "--expose", "7000-7001", "-P",
		"--health-cmd", "true", "--health-retries", "2", "busybox")
	wantExposed := network.PortSet{
		network.MustParsePort("80/tcp"): {}, network.MustParsePort("53/udp"): {},
		network.MustParsePort("7000/tcp"): {}, network.MustParsePort("7001/tcp"): {},
	}
	if !reflect.DeepEqual(cfg.Config.ExposedPorts, wantExposed) {
		t.Errorf("ExposedPorts = %v", cfg.Config.ExposedPorts)
	}
	b := cfg.HostConfig.PortBindings[network.MustParsePort("53/udp")]
	if len(b) != 1 || b[0].HostIP.String() != "127.0.0.1" || b[0].HostPort != "53" {
		t.Errorf("53/udp bindings = %+v", b)
	}
	if !cfg.HostConfig.PublishAllPorts {
		t.Error("-P not applied")
	}
	hc := cfg.Config.Healthcheck
	if hc == nil || !reflect.DeepEqual(hc.Test, []string{"CMD-SHELL", "true"}) || hc.Retries != 2 {
		t.Errorf("Healthcheck = %+v", hc)
	}
	if _, err := parseArgs(t, "--no-healthcheck", "--health-cmd", "x", "busybox"); err == nil || !strings.Contains(err.Error(), "conflicts") {
		t.Errorf("--no-healthcheck with --health-cmd: %v", err)
	}
	if _, err := parseArgs(t, "--expose", "80:80", "busybox"); err == nil {
		t.Error("--expose with a colon should fail")
	}
	if _, err := parseArgs(t, "--memory-swappiness", "101", "busybox"); err == nil {
		t.Error("swappiness 101 should fail")
	}
	if _, err := parseArgs(t, "--pid", "bogus", "busybox"); err == nil {
		t.Error("--pid bogus should fail")
	}
}

func TestMountOpt(t *testing.T) {
	var m MountOpt
	if err := m.Set("type=tmpfs,dst=/t,tmpfs-size=1m,tmpfs-mode=700"); err != nil {
		t.Fatal(err)
	}
	got := m.Value()[0]
	if got.Type != "tmpfs" || got.Target != "/t" || got.TmpfsOptions.SizeBytes != 1<<20 || got.TmpfsOptions.Mode != 0o700 {
		t.Errorf("tmpfs mount = %+v %+v", got, got.TmpfsOptions)
	}
	for _, bad := range []string{
		"type=bind,src=/a",                      // no target
		"type=bind,src=/a,dst=/b,tmpfs-size=1m", // wrong option family
		"type=tmpfs,dst=/t,volume-nocopy",
		"type=volume,dst=/v,bind-propagation=rshared",
		"dst=/x,bogus=1",
		"dst=/x,readonly=maybe",
		"dst",
	} {
		var m MountOpt
		if err := m.Set(bad); err == nil {
			t.Errorf("--mount %q should fail", bad)
		}
	}
}
