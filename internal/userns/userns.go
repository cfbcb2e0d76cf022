// Package userns is berth's user-namespace remapping (dockerd's
// --userns-remap): the ID maps read from /etc/subuid and /etc/subgid for a
// user, a user namespace holding them, and idmapped mounts made through
// it.
//
// A remapped container's uid 0 is the first ID of the user's subordinate
// range. Image layers stay owned by root on disk and are shown to the
// container through idmapped mounts (MountIDMapped); what the container
// writes (its upper dir, named volumes) is owned on disk by the remapped
// IDs, as with dockerd.
package userns

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/berth-dev/berth/internal/errdefs"
)

// Range maps Size IDs from ContainerID in the container to HostID on the
// host (a line of /proc/<pid>/uid_map).
type Range struct {
	ContainerID uint32
	HostID      uint32
	Size        uint32
}

// IDMap is a container's uid and gid maps. The zero value means no
// remapping.
type IDMap struct {
	UIDs []Range
	GIDs []Range
}

// Empty reports whether m remaps nothing.
func (m IDMap) Empty() bool { return len(m.UIDs) == 0 && len(m.GIDs) == 0 }

// Root is the host uid and gid of the container's root.
func (m IDMap) Root() (uid, gid int) {
	return toHost(m.UIDs, 0), toHost(m.GIDs, 0)
}

// ToHost maps a container uid and gid to the host's; an ID outside the
// maps is -1.
func (m IDMap) ToHost(uid, gid uint32) (int, int) {
	return toHost(m.UIDs, uid), toHost(m.GIDs, gid)
}

// ToContainer maps host IDs back to the container's; an ID outside the
// maps is returned unchanged (host root's whiteouts, say).
func (m IDMap) ToContainer(uid, gid int) (int, int) {
	return toContainer(m.UIDs, uid), toContainer(m.GIDs, gid)
}

func toContainer(rs []Range, id int) int {
	for _, r := range rs {
		if id >= int(r.HostID) && int64(id) < int64(r.HostID)+int64(r.Size) {
			return int(r.ContainerID) + id - int(r.HostID)
		}
	}
	return id
}

func toHost(rs []Range, id uint32) int {
	for _, r := range rs {
		if id >= r.ContainerID && uint64(id) < uint64(r.ContainerID)+uint64(r.Size) {
			return int(r.HostID + (id - r.ContainerID))
		}
	}
	return -1
}

// FormatRanges writes ranges as "c:h:s,c:h:s", the form ParseRanges reads
// (stored with snapshots).
func FormatRanges(rs []Range) string {
	parts := make([]string, len(rs))
	for i, r := range rs {
		parts[i] = fmt.Sprintf("%d:%d:%d", r.ContainerID, r.HostID, r.Size)
	}
	return strings.Join(parts, ",")
}

// ParseRanges reads FormatRanges' form.
func ParseRanges(s string) ([]Range, error) {
	if s == "" {
		return nil, nil
	}
	var out []Range
	for _, p := range strings.Split(s, ",") {
		f := strings.Split(p, ":")
		if len(f) != 3 {
			return nil, errdefs.InvalidArgumentf("invalid id map %q", p)
		}
		var v [3]uint32
		for i := range f {
			n, err := strconv.ParseUint(f[i], 10, 32)
			if err != nil {
				return nil, errdefs.InvalidArgumentf("invalid id map %q", p)
			}
			v[i] = uint32(n)
		}
		if v[2] == 0 {
			return nil, errdefs.InvalidArgumentf("invalid id map %q: empty range", p)
		}
		out = append(out, Range{ContainerID: v[0], HostID: v[1], Size: v[2]})
	}
	return out, nil
}
