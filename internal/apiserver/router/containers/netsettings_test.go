package containers

import (
	"net/netip"
	"testing"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/network"
)

func TestLegacyNetworkSettings(t *testing.T) {
	ns := &container.NetworkSettings{Networks: map[string]*network.EndpointSettings{
		"bridge": {IPAddress: netip.MustParseAddr("172.31.0.2"), Gateway: netip.MustParseAddr("172.31.0.1"), IPPrefixLen: 16,
			MacAddress: network.HardwareAddr{2, 0x42, 172, 31, 0, 2}, EndpointID: "ep"},
	}}
	m, err := legacyNetworkSettings(ns)
	if err != nil {
		t.Fatal(err)
	}
	if m["IPAddress"] != "172.31.0.2" || m["Gateway"] != "172.31.0.1" || m["IPPrefixLen"] != 16 || m["MacAddress"] != "02:42:ac:1f:00:02" || m["EndpointID"] != "ep" {
		t.Fatalf("legacy fields %v", m)
	}
	if _, ok := m["Networks"]; !ok {
		t.Fatal("Networks dropped")
	}
	// A container on a user network only: the fields are there, empty.
	m, _ = legacyNetworkSettings(&container.NetworkSettings{Networks: map[string]*network.EndpointSettings{"n1": {IPAddress: netip.MustParseAddr("10.0.0.2")}}})
	if v, ok := m["IPAddress"]; !ok || v != "" {
		t.Fatalf("IPAddress = %v, %v", v, ok)
	}
}
