package seccomp

import (
	"encoding/binary"
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

// MarshalBinary encodes the compiled filter for another process of this
// host to load (a filter compiled once, loaded by many inits): its flags
// (8 bytes), then the program's instructions (8 bytes each), in the
// host's byte order.
func (f *Filter) MarshalBinary() ([]byte, error) {
	b := binary.NativeEndian.AppendUint64(make([]byte, 0, 8+8*len(f.prog)), uint64(f.flags))
	for _, in := range f.prog {
		b = binary.NativeEndian.AppendUint16(b, in.Code)
		b = append(b, in.Jt, in.Jf)
		b = binary.NativeEndian.AppendUint32(b, in.K)
	}
	return b, nil
}

// UnmarshalFilter decodes what MarshalBinary encoded.
func UnmarshalFilter(b []byte) (*Filter, error) {
	n := (len(b) - 8) / 8
	if len(b) < 16 || len(b)%8 != 0 || n > bpfMaxInsns {
		return nil, fmt.Errorf("seccomp: encoded filter of %d bytes is malformed", len(b))
	}
	f := &Filter{flags: uintptr(binary.NativeEndian.Uint64(b)), prog: make([]unix.SockFilter, n)}
	for i := range f.prog {
		in := b[8+8*i:]
		f.prog[i] = unix.SockFilter{Code: binary.NativeEndian.Uint16(in), Jt: in[2], Jf: in[3], K: binary.NativeEndian.Uint32(in[4:])}
	}
	return f, nil
}

// bpfMaxInsns is the kernel's limit on a classic BPF program (BPF_MAXINSNS).
const bpfMaxInsns = 4096
