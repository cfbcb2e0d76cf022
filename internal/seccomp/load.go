package seccomp

import (
	"fmt"
	"unsafe"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// filterFlags maps the spec's flags to SECCOMP_FILTER_FLAG_*.
var filterFlags = map[specs.LinuxSeccompFlag]uintptr{
	specs.LinuxSeccompFlagLog:              unix.SECCOMP_FILTER_FLAG_LOG,
	specs.LinuxSeccompFlagSpecAllow:        unix.SECCOMP_FILTER_FLAG_SPEC_ALLOW,
	specs.LinuxSeccompFlagWaitKillableRecv: unix.SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV,
}

// Filter is a compiled profile ready to load.
type Filter struct {
	prog  []unix.SockFilter
	flags uintptr
}

// Prepare compiles a profile and checks its flags.
func Prepare(p *specs.LinuxSeccomp) (*Filter, error) {
	prog, err := Compile(p)
	if err != nil {
		return nil, err
	}
	f := &Filter{prog: prog}
	for _, fl := range p.Flags {
		v, ok := filterFlags[fl]
		if !ok {
			return nil, fmt.Errorf("seccomp: unsupported flag %q", fl)
		}
		f.flags |= v
	}
	return f, nil
}

// Len is the program's length in instructions.
func (f *Filter) Len() int { return len(f.prog) }

// Load installs the filter on the calling thread (which must be locked to
// its OS thread and execve from it: the new program inherits the filter).
// Without no_new_privs the thread needs CAP_SYS_ADMIN.
func (f *Filter) Load() error {
	prog := unix.SockFprog{Len: uint16(len(f.prog)), Filter: &f.prog[0]}
	_, _, e := unix.RawSyscall(unix.SYS_SECCOMP, unix.SECCOMP_SET_MODE_FILTER, f.flags, uintptr(unsafe.Pointer(&prog)))
	if e != 0 {
		return fmt.Errorf("seccomp(SECCOMP_SET_MODE_FILTER): %w", e)
	}
	return nil
}
