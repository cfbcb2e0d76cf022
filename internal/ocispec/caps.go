package ocispec

import (
	"bufio"
	"bytes"
	"os"
	"slices"
	"strconv"
	"strings"

	"github.com/berth-dev/berth/internal/errdefs"
)

// capNames lists the kernel's capabilities by number (linux/capability.h,
// up to CAP_CHECKPOINT_RESTORE = 40, the last one as of Linux 6.x).
var capNames = [...]string{
	"CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_DAC_READ_SEARCH", "CAP_FOWNER",
	"CAP_FSETID", "CAP_KILL", "CAP_SETGID", "CAP_SETUID", "CAP_SETPCAP",
	"CAP_LINUX_IMMUTABLE", "CAP_NET_BIND_SERVICE", "CAP_NET_BROADCAST",
	"CAP_NET_ADMIN", "CAP_NET_RAW", "CAP_IPC_LOCK", "CAP_IPC_OWNER",
	"CAP_SYS_MODULE", "CAP_SYS_RAWIO", "CAP_SYS_CHROOT", "CAP_SYS_PTRACE",
	"CAP_SYS_PACCT", "CAP_SYS_ADMIN", "CAP_SYS_BOOT", "CAP_SYS_NICE",
	"CAP_SYS_RESOURCE", "CAP_SYS_TIME", "CAP_SYS_TTY_CONFIG", "CAP_MKNOD",
	"CAP_LEASE", "CAP_AUDIT_WRITE", "CAP_AUDIT_CONTROL", "CAP_SETFCAP",
	"CAP_MAC_OVERRIDE", "CAP_MAC_ADMIN", "CAP_SYSLOG", "CAP_WAKE_ALARM",
	"CAP_BLOCK_SUSPEND", "CAP_AUDIT_READ", "CAP_PERFMON", "CAP_BPF",
	"CAP_CHECKPOINT_RESTORE",
}

// DefaultCapabilities is Docker's default capability set, in Docker's order
// (moby daemon/pkg/oci/caps). As a mask: 0x00000000a80425fb.
func DefaultCapabilities() []string {
	return []string{
		"CAP_CHOWN",
		"CAP_DAC_OVERRIDE",
		"CAP_FSETID",
		"CAP_FOWNER",
		"CAP_MKNOD",
		"CAP_NET_RAW",
		"CAP_SETGID",
		"CAP_SETUID",
		"CAP_SETFCAP",
		"CAP_SETPCAP",
		"CAP_NET_BIND_SERVICE",
		"CAP_SYS_CHROOT",
		"CAP_KILL",
		"CAP_AUDIT_WRITE",
	}
}

// CapMask returns the bitmask of the named capabilities; unknown names are
// ignored.
func CapMask(names []string) uint64 {
	var m uint64
	for _, n := range names {
		if i := slices.Index(capNames[:], n); i >= 0 {
			m |= 1 << uint(i)
		}
	}
	return m
}

// capsFromMask returns the names of the capabilities set in mask, by number.
func capsFromMask(mask uint64) []string {
	var out []string
	for i, n := range capNames {
		if mask&(1<<uint(i)) != 0 {
			out = append(out, n)
		}
	}
	return out
}

// CurrentCapBounding reads the calling process's capability bounding set
// from /proc/self/status (the CapBnd line).
func CurrentCapBounding() (uint64, error) {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0, err
	}
	return parseCapBnd(b)
}

func parseCapBnd(status []byte) (uint64, error) {
	s := bufio.NewScanner(bytes.NewReader(status))
	for s.Scan() {
		if v, ok := strings.CutPrefix(s.Text(), "CapBnd:"); ok {
			return strconv.ParseUint(strings.TrimSpace(v), 16, 64)
		}
	}
	return 0, os.ErrNotExist
}

const allCapabilities = "ALL"

// normalizeCaps upper-cases, adds the CAP_ prefix and checks each name of
// a --cap-add/--cap-drop list against the known and the available
// capabilities, with Docker's messages. "ALL" passes through.
func normalizeCaps(in []string, available uint64) ([]string, error) {
	var out []string
	for _, c := range in {
		c = strings.ToUpper(strings.TrimSpace(c))
		if c == allCapabilities {
			out = append(out, c)
			continue
		}
		if !strings.HasPrefix(c, "CAP_") {
			c = "CAP_" + c
		}
		i := slices.Index(capNames[:], c)
		if i < 0 {
			return nil, errdefs.InvalidArgumentf("unknown capability: %q", c)
		}
		if available != 0 && available&(1<<uint(i)) == 0 {
			return nil, errdefs.InvalidArgumentf("capability not supported by your kernel or not available in the current environment: %q", c)
		}
		out = append(out, c)
	}
	return out, nil
}

// capabilities computes the container's capability list as Docker does
// (TweakCapabilities): privileged gets everything available, otherwise the
// defaults minus --cap-drop plus --cap-add, with "ALL" on either side.
func capabilities(adds, drops []string, privileged bool, available uint64) ([]string, error) {
	if privileged {
		return capsFromMask(available), nil
	}
	if len(adds) == 0 && len(drops) == 0 {
		return DefaultCapabilities(), nil
	}
	capDrop, err := normalizeCaps(drops, available)
	if err != nil {
		return nil, err
	}
	capAdd, err := normalizeCaps(adds, available)
	if err != nil {
		return nil, err
	}
	var caps []string
	switch {
	case slices.Contains(capAdd, allCapabilities):
		for _, c := range capsFromMask(available) {
			if !slices.Contains(capDrop, c) {
				caps = append(caps, c)
			}
		}
	case slices.Contains(capDrop, allCapabilities):
		for _, c := range capAdd {
			if !slices.Contains(caps, c) {
				caps = append(caps, c)
			}
		}
	default:
		for _, c := range DefaultCapabilities() {
			if !slices.Contains(capDrop, c) {
				caps = append(caps, c)
			}
		}
		for _, c := range capAdd {
			if !slices.Contains(caps, c) {
				caps = append(caps, c)
			}
		}
	}
	if caps == nil {
		caps = []string{}
	}
	return caps, nil
}
