package linux

import (
	"fmt"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

var capNumber = map[string]uint{
	"CAP_CHOWN": unix.CAP_CHOWN, "CAP_DAC_OVERRIDE": unix.CAP_DAC_OVERRIDE,
	"CAP_DAC_READ_SEARCH": unix.CAP_DAC_READ_SEARCH, "CAP_FOWNER": unix.CAP_FOWNER,
	"CAP_FSETID": unix.CAP_FSETID, "CAP_KILL": unix.CAP_KILL, "CAP_SETGID": unix.CAP_SETGID,
	"CAP_SETUID": unix.CAP_SETUID, "CAP_SETPCAP": unix.CAP_SETPCAP,
	"CAP_LINUX_IMMUTABLE": unix.CAP_LINUX_IMMUTABLE, "CAP_NET_BIND_SERVICE": unix.CAP_NET_BIND_SERVICE,
	"CAP_NET_BROADCAST": unix.CAP_NET_BROADCAST, "CAP_NET_ADMIN": unix.CAP_NET_ADMIN,
	"CAP_NET_RAW": unix.CAP_NET_RAW, "CAP_IPC_LOCK": unix.CAP_IPC_LOCK, "CAP_IPC_OWNER": unix.CAP_IPC_OWNER,
	"CAP_SYS_MODULE": unix.CAP_SYS_MODULE, "CAP_SYS_RAWIO": unix.CAP_SYS_RAWIO,
	"CAP_SYS_CHROOT": unix.CAP_SYS_CHROOT, "CAP_SYS_PTRACE": unix.CAP_SYS_PTRACE,
	"CAP_SYS_PACCT": unix.CAP_SYS_PACCT, "CAP_SYS_ADMIN": unix.CAP_SYS_ADMIN, "CAP_SYS_BOOT": unix.CAP_SYS_BOOT,
	"CAP_SYS_NICE": unix.CAP_SYS_NICE, "CAP_SYS_RESOURCE": unix.CAP_SYS_RESOURCE,
	"CAP_SYS_TIME": unix.CAP_SYS_TIME, "CAP_SYS_TTY_CONFIG": unix.CAP_SYS_TTY_CONFIG,
	"CAP_MKNOD": unix.CAP_MKNOD, "CAP_LEASE": unix.CAP_LEASE, "CAP_AUDIT_WRITE": unix.CAP_AUDIT_WRITE,
	"CAP_AUDIT_CONTROL": unix.CAP_AUDIT_CONTROL, "CAP_SETFCAP": unix.CAP_SETFCAP,
	"CAP_MAC_OVERRIDE": unix.CAP_MAC_OVERRIDE, "CAP_MAC_ADMIN": unix.CAP_MAC_ADMIN,
	"CAP_SYSLOG": unix.CAP_SYSLOG, "CAP_WAKE_ALARM": unix.CAP_WAKE_ALARM,
	"CAP_BLOCK_SUSPEND": unix.CAP_BLOCK_SUSPEND, "CAP_AUDIT_READ": unix.CAP_AUDIT_READ,
	"CAP_PERFMON": unix.CAP_PERFMON, "CAP_BPF": unix.CAP_BPF,
	"CAP_CHECKPOINT_RESTORE": unix.CAP_CHECKPOINT_RESTORE,
}

// capSet is a capability bit mask.
type capSet uint64

// capSetOf turns names into a mask. Names this kernel or table does not
// know are skipped, as runc does (with a warning there).
func capSetOf(names []string, last uint) capSet {
	var s capSet
	for _, n := range names {
		c, ok := capNumber[strings.ToUpper(n)]
		if ok && c <= last {
			s |= 1 << c
		}
	}
	return s
}

// caps is the spec's capabilities as masks.
type caps struct {
	bounding, effective, permitted, inheritable, ambient capSet
}

func planCaps(c *specs.LinuxCapabilities, last uint) caps {
	return caps{
		bounding:    capSetOf(c.Bounding, last),
		effective:   capSetOf(c.Effective, last),
		permitted:   capSetOf(c.Permitted, last),
		inheritable: capSetOf(c.Inheritable, last),
		ambient:     capSetOf(c.Ambient, last),
	}
}

// lastCap probes the highest capability the kernel knows.
func lastCap() uint {
	c := uint(unix.CAP_LAST_CAP)
	for c < 63 {
		if _, err := unix.PrctlRetInt(unix.PR_CAPBSET_READ, uintptr(c+1), 0, 0, 0); err != nil {
			break
		}
		c++
	}
	for c > 0 {
		if _, err := unix.PrctlRetInt(unix.PR_CAPBSET_READ, uintptr(c), 0, 0, 0); err == nil {
			break
		}
		c--
	}
	return c
}

// dropBounding removes from the bounding set what c does not keep. It
// needs CAP_SETPCAP, so it runs before the switch to the user.
func dropBounding(c caps, last uint) error {
	for i := uint(0); i <= last; i++ {
		if c.bounding&(1<<i) != 0 {
			continue
		}
		if err := unix.Prctl(unix.PR_CAPBSET_DROP, uintptr(i), 0, 0, 0); err != nil {
			return fmt.Errorf("drop capability %d from bounding set: %w", i, err)
		}
	}
	return nil
}

// setCaps sets the calling thread's effective, permitted, inheritable and
// ambient sets (after the user switch, with PR_SET_KEEPCAPS held).
func setCaps(c caps) error {
	hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
	var data [2]unix.CapUserData
	for i, s := range []capSet{c.effective, c.permitted, c.inheritable} {
		lo, hi := uint32(s), uint32(s>>32)
		switch i {
		case 0:
			data[0].Effective, data[1].Effective = lo, hi
		case 1:
			data[0].Permitted, data[1].Permitted = lo, hi
		case 2:
			data[0].Inheritable, data[1].Inheritable = lo, hi
		}
	}
	if err := unix.Capset(&hdr, &data[0]); err != nil {
		return fmt.Errorf("capset: %w", err)
	}
	if err := unix.Prctl(unix.PR_CAP_AMBIENT, unix.PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0); err != nil {
		return fmt.Errorf("clear ambient capabilities: %w", err)
	}
	for i := uint(0); i < 64; i++ {
		if c.ambient&(1<<i) == 0 {
			continue
		}
		if err := unix.Prctl(unix.PR_CAP_AMBIENT, unix.PR_CAP_AMBIENT_RAISE, uintptr(i), 0, 0); err != nil {
			return fmt.Errorf("raise ambient capability %d: %w", i, err)
		}
	}
	return nil
}

// currentPermitted is the calling thread's permitted set.
func currentPermitted() (capSet, error) {
	hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
	var data [2]unix.CapUserData
	if err := unix.Capget(&hdr, &data[0]); err != nil {
		return 0, fmt.Errorf("capget: %w", err)
	}
	return capSet(data[0].Permitted) | capSet(data[1].Permitted)<<32, nil
}

// within limits c to the capabilities the runtime holds: asking for more
// (--privileged where berth lacks, say, CAP_SYS_RESOURCE) gives what
// there is instead of failing in capset.
func (c caps) within(have capSet) caps {
	c.effective &= have
	c.permitted &= have
	c.inheritable &= have
	c.ambient &= c.permitted & c.inheritable
	return c
}
