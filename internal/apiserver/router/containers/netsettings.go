package containers

import (
	"encoding/json"

	"github.com/moby/moby/api/types/container"
)

// legacyNetworkSettings is NetworkSettings as API < 1.52 clients read it:
// with the deprecated top-level fields (IPAddress, Gateway, MacAddress,
// ...) that dockerd fills from the default "bridge" network's endpoint and
// leaves empty otherwise (docker inspect -f '{{.NetworkSettings.IPAddress}}').
func legacyNetworkSettings(ns *container.NetworkSettings) (map[string]any, error) {
	b, err := json.Marshal(ns)
	if err != nil {
		return nil, err
	}
	m := map[string]any{}
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, err
	}
	m["Bridge"] = ""
	m["HairpinMode"] = false
	m["LinkLocalIPv6Address"] = ""
	m["LinkLocalIPv6PrefixLen"] = 0
	m["SecondaryIPAddresses"] = nil
	m["SecondaryIPv6Addresses"] = nil
	m["EndpointID"], m["Gateway"], m["GlobalIPv6Address"], m["IPv6Gateway"], m["IPAddress"], m["MacAddress"] = "", "", "", "", "", ""
	m["GlobalIPv6PrefixLen"], m["IPPrefixLen"] = 0, 0
	if ep := ns.Networks["bridge"]; ep != nil {
		m["EndpointID"] = ep.EndpointID
		if ep.Gateway.IsValid() {
			m["Gateway"] = ep.Gateway.String()
		}
		if ep.IPAddress.IsValid() {
			m["IPAddress"] = ep.IPAddress.String()
		}
		m["IPPrefixLen"] = ep.IPPrefixLen
		m["MacAddress"] = ep.MacAddress.String()
		if ep.GlobalIPv6Address.IsValid() {
			m["GlobalIPv6Address"] = ep.GlobalIPv6Address.String()
			m["GlobalIPv6PrefixLen"] = ep.GlobalIPv6PrefixLen
		}
		if ep.IPv6Gateway.IsValid() {
			m["IPv6Gateway"] = ep.IPv6Gateway.String()
		}
	}
	return m, nil
}
