package network

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"time"
)

// Driver names.
const (
	DriverBridge = "bridge"
	DriverHost   = "host"
	DriverNull   = "null"
)

// Predefined network names.
const (
	NameBridge = "bridge"
	NameHost   = "host"
	NameNone   = "none"
)

// Bridge driver options (docker's names).
const (
	OptBridgeName = "com.docker.network.bridge.name"
	OptMTU        = "com.docker.network.driver.mtu"
	OptDefault    = "com.docker.network.bridge.default_bridge"
	OptMasquerade = "com.docker.network.bridge.enable_ip_masquerade"
	OptICC        = "com.docker.network.bridge.enable_icc"
	OptHostBindIP = "com.docker.network.bridge.host_binding_ipv4"
)

// Network is one network's record.
type Network struct {
	ID       string
	Name     string
	Driver   string
	Created  time.Time
	Internal bool
	// Attachable is recorded and shown; every bridge network is attachable.
	Attachable bool
	Labels     map[string]string
	Options    map[string]string
	// Subnet, Gateway and IPRange are set for bridge networks; IPRange
	// (allocation pool) defaults to Subnet.
	Subnet  netip.Prefix
	Gateway netip.Addr
	IPRange netip.Prefix
	// SubnetGiven: the user chose the subnet (docker shows IPAM.Config
	// with or without a gateway accordingly).
	SubnetGiven bool
	// EnableIPv6: the network has an IPv6 subnet too (Subnet6, Gateway6,
	// IPRange6, Subnet6Given as for IPv4).
	EnableIPv6   bool         `json:",omitempty"`
	Subnet6      netip.Prefix `json:",omitzero"`
	Gateway6     netip.Addr   `json:",omitzero"`
	IPRange6     netip.Prefix `json:",omitzero"`
	Subnet6Given bool         `json:",omitempty"`
	// Bridge is the Linux bridge's name ("berth0", "br-<id12>").
	Bridge string
	MTU    int
}

// Predefined reports whether n is one of bridge, host, none.
func (n *Network) Predefined() bool {
	return n.Options[OptDefault] == "true" || n.Driver == DriverHost || n.Driver == DriverNull
}

// newID returns a network id: 64 lower-case hex characters.
func newID() string {
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(err)
	}
	return hex.EncodeToString(b[:])
}

// writeJSON writes v to path atomically and durably.
func writeJSON(path string, v any) error { return writeJSONSync(path, v, true) }

// writeState writes v to path atomically, without fsync: for sandbox
// records, which describe kernel objects that a host crash takes away
// with them (a stale record is removed by Restore).
func writeState(path string, v any) error { return writeJSONSync(path, v, false) }

func writeJSONSync(path string, v any, durable bool) error {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("encode %s: %w", path, err)
	}
	return writeBytes(path, b, durable)
}

// writeFileAtomic writes b to path atomically and durably.
func writeFileAtomic(path string, b []byte) error { return writeBytes(path, b, true) }

func writeBytes(path string, b []byte, durable bool) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), ".tmp-*")
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(b); err != nil {
		tmp.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := syncIf(tmp, durable); err != nil {
		tmp.Close()
		return fmt.Errorf("sync %s: %w", path, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}

// readDir decodes every <name>.json file of dir into a T.
func readDir[T any](dir string) (map[string]*T, error) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", dir, err)
	}
	out := map[string]*T{}
	for _, e := range ents {
		name := e.Name()
		if filepath.Ext(name) != ".json" || name[0] == '.' {
			continue
		}
		b, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			return nil, fmt.Errorf("read %s: %w", name, err)
		}
		v := new(T)
		if err := json.Unmarshal(b, v); err != nil {
			return nil, fmt.Errorf("decode %s: %w", filepath.Join(dir, name), err)
		}
		out[name[:len(name)-len(".json")]] = v
	}
	return out, nil
}

func syncIf(f *os.File, durable bool) error {
	if !durable {
		return nil
	}
	return f.Sync()
}
