package format

import (
	"encoding/json"
	"fmt"
	"net/netip"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/moby/moby/api/types/container"
)

// Default container list formats.
const (
	ContainerTable     = "table {{.ID}}\t{{.Image}}\t{{.Command}}\t{{.RunningFor}}\t{{.Status}}\t{{.Ports}}\t{{.Names}}"
	ContainerTableSize = ContainerTable + "\t{{.Size}}"
)

// ContainerHeader names the container columns.
var ContainerHeader = map[string]string{
	"ID":           "CONTAINER ID",
	"Image":        "IMAGE",
	"Command":      "COMMAND",
	"CreatedAt":    "CREATED AT",
	"RunningFor":   "CREATED",
	"Ports":        "PORTS",
	"Status":       "STATUS",
	"Size":         "SIZE",
	"Names":        "NAMES",
	"Labels":       "LABELS",
	"Label":        "LABEL",
	"Mounts":       "MOUNTS",
	"Networks":     "NETWORKS",
	"State":        "STATE",
	"LocalVolumes": "LOCAL VOLUMES",
}

// Container is one `ps` row.
type Container struct {
	C     container.Summary
	Trunc bool
}

// Header implements Row.
func (c Container) Header() map[string]string { return ContainerHeader }

// ID is the container ID, 12 digits unless --no-trunc.
func (c Container) ID() string {
	if c.Trunc {
		return TruncateID(c.C.ID)
	}
	return c.C.ID
}

// Names lists the names without their leading "/"; truncated output hides
// legacy link names (those with a further "/").
func (c Container) Names() string {
	var names []string
	for _, n := range c.C.Names {
		n = strings.TrimPrefix(n, "/")
		if c.Trunc && strings.Contains(n, "/") {
			continue
		}
		names = append(names, n)
	}
	return strings.Join(names, ",")
}

// Image is the image as the user named it; truncated output drops a
// digest from a reference.
func (c Container) Image() string {
	img := c.C.Image
	if img == "" {
		return "<no image>"
	}
	if c.Trunc {
		if name, _, ok := strings.Cut(img, "@"); ok && name != "" {
			return name // drop the digest; image IDs stay whole, as in docker
		}
	}
	return img
}

// Command is the quoted command, cut to 20 characters unless --no-trunc.
func (c Container) Command() string {
	cmd := c.C.Command
	if c.Trunc {
		cmd = Ellipsis(cmd, 20)
	}
	return strconv.Quote(cmd)
}

// CreatedAt is the creation time as a Go time string.
func (c Container) CreatedAt() string {
	return time.Unix(c.C.Created, 0).String()
}

// RunningFor is how long ago the container was created.
func (c Container) RunningFor() string {
	return Since(time.Unix(c.C.Created, 0))
}

// Ports lists published and exposed ports: "0.0.0.0:8080->80/tcp, 443/tcp".
func (c Container) Ports() string {
	return DisplayablePorts(c.C.Ports)
}

// State is the short state ("running", "exited").
func (c Container) State() string { return string(c.C.State) }

// Status is the daemon's human status ("Up 3 seconds").
func (c Container) Status() string { return c.C.Status }

// Size is "writable (virtual total)", as ps -s shows it.
func (c Container) Size() string {
	if c.C.SizeRw == 0 && c.C.SizeRootFs == 0 {
		return "0B"
	}
	srw := Size(c.C.SizeRw)
	if c.C.SizeRootFs > 0 {
		return fmt.Sprintf("%s (virtual %s)", srw, Size(c.C.SizeRootFs))
	}
	return srw
}

// Labels is "k=v,k2=v2" sorted by key.
func (c Container) Labels() string {
	keys := make([]string, 0, len(c.C.Labels))
	for k := range c.C.Labels {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	out := make([]string, 0, len(keys))
	for _, k := range keys {
		out = append(out, k+"="+c.C.Labels[k])
	}
	return strings.Join(out, ",")
}

// Label is one label's value.
func (c Container) Label(name string) string { return c.C.Labels[name] }

// Mounts lists mount names (volume name or source path).
func (c Container) Mounts() string {
	var out []string
	for _, m := range c.C.Mounts {
		name := m.Name
		if name == "" {
			name = m.Source
		}
		if c.Trunc {
			name = Ellipsis(name, 15)
		}
		out = append(out, name)
	}
	return strings.Join(out, ",")
}

// LocalVolumes counts mounts of the local volume driver.
func (c Container) LocalVolumes() string {
	n := 0
	for _, m := range c.C.Mounts {
		if m.Driver == "local" {
			n++
		}
	}
	return strconv.Itoa(n)
}

// Networks lists attached network names, sorted.
func (c Container) Networks() string {
	if c.C.NetworkSettings == nil {
		return ""
	}
	var out []string
	for n := range c.C.NetworkSettings.Networks {
		out = append(out, n)
	}
	sort.Strings(out)
	return strings.Join(out, ",")
}

// MarshalJSON gives `--format json` every column, as docker does.
func (c Container) MarshalJSON() ([]byte, error) {
	var platform any
	if d := c.C.ImageManifestDescriptor; d != nil && d.Platform != nil {
		platform = d.Platform
	}
	return json.Marshal(map[string]any{
		"Platform":     platform,
		"Command":      c.Command(),
		"CreatedAt":    c.CreatedAt(),
		"ID":           c.ID(),
		"Image":        c.Image(),
		"Labels":       c.Labels(),
		"LocalVolumes": c.LocalVolumes(),
		"Mounts":       c.Mounts(),
		"Names":        c.Names(),
		"Networks":     c.Networks(),
		"Ports":        c.Ports(),
		"RunningFor":   c.RunningFor(),
		"Size":         c.Size(),
		"State":        c.State(),
		"Status":       c.Status(),
	})
}

// DisplayablePorts renders ports as docker ps does: sorted by private
// port, consecutive unpublished (or identity-published) ports folded into
// ranges per IP and protocol ("8000-8002/tcp"), and mappings to a different
// host port listed last ("0.0.0.0:8080->80/tcp").
func DisplayablePorts(ports []container.PortSummary) string {
	ps := append([]container.PortSummary(nil), ports...)
	sort.SliceStable(ps, func(i, j int) bool {
		a, b := ps[i], ps[j]
		if a.PrivatePort != b.PrivatePort {
			return a.PrivatePort < b.PrivatePort
		}
		if ai, bi := ipString(a.IP), ipString(b.IP); ai != bi {
			return ai < bi
		}
		if a.PublicPort != b.PublicPort {
			return a.PublicPort < b.PublicPort
		}
		return a.Type < b.Type
	})
	var (
		out      []string
		mappings []string
		order    []string
		open     = map[string]*span{}
	)
	for _, p := range ps {
		ip := ipString(p.IP)
		if ip != "" && p.PublicPort != p.PrivatePort {
			mappings = append(mappings, fmt.Sprintf("%s:%d->%d/%s", hostIP(p.IP), p.PublicPort, p.PrivatePort, p.Type))
			continue
		}
		key := ip + "/" + p.Type
		g, ok := open[key]
		switch {
		case !ok:
			open[key] = &span{ip: ip, proto: p.Type, first: p.PrivatePort, last: p.PrivatePort}
			order = append(order, key)
		case p.PrivatePort == g.last+1:
			g.last = p.PrivatePort
		default:
			out = append(out, g.String())
			open[key] = &span{ip: ip, proto: p.Type, first: p.PrivatePort, last: p.PrivatePort}
		}
	}
	for _, k := range order {
		out = append(out, open[k].String())
	}
	return strings.Join(append(out, mappings...), ", ")
}

type span struct {
	ip, proto   string
	first, last uint16
}

func (s *span) String() string {
	r := strconv.Itoa(int(s.first))
	if s.last != s.first {
		r += "-" + strconv.Itoa(int(s.last))
	}
	if s.ip != "" {
		r = s.ip + ":" + r + "->" + r
	}
	return r + "/" + s.proto
}

func ipString(ip netip.Addr) string {
	if !ip.IsValid() {
		return ""
	}
	return ip.String()
}

func hostIP(ip netip.Addr) string {
	if ip.Is6() {
		return "[" + ip.String() + "]"
	}
	return ip.String()
}
