package seccomp

import (
	"encoding/binary"
	"testing"

	"github.com/elastic/go-seccomp-bpf/arch"
	mobyseccomp "github.com/moby/profiles/seccomp"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/net/bpf"
	"golang.org/x/sys/unix"
)

// run simulates the kernel running the filter on one syscall. The VM loads
// big-endian words, so each 32-bit word of seccomp_data is written
// big-endian at the offset where the (little-endian) kernel has it.
func run(t *testing.T, prog []unix.SockFilter, auditArch uint32, nr uint32, args ...uint64) uint32 {
	t.Helper()
	raw := make([]bpf.RawInstruction, len(prog))
	for i, f := range prog {
		raw[i] = bpf.RawInstruction{Op: f.Code, Jt: f.Jt, Jf: f.Jf, K: f.K}
	}
	insts, ok := bpf.Disassemble(raw)
	if !ok {
		t.Fatal("disassemble")
	}
	vm, err := bpf.NewVM(insts)
	if err != nil {
		t.Fatal(err)
	}
	data := make([]byte, 64)
	binary.BigEndian.PutUint32(data[0:], nr)
	binary.BigEndian.PutUint32(data[4:], auditArch)
	for i, a := range args {
		binary.BigEndian.PutUint32(data[16+8*i:], uint32(a))
		binary.BigEndian.PutUint32(data[16+8*i+4:], uint32(a>>32))
	}
	out, err := vm.Run(data)
	if err != nil {
		t.Fatal(err)
	}
	return uint32(out)
}

func nr(t *testing.T, info *arch.Info, name string) uint32 {
	t.Helper()
	n, ok := info.SyscallNames[name]
	if !ok {
		t.Fatalf("no syscall %s on %s", name, info.Name)
	}
	return uint32(n | info.SeccompMask)
}

// dockerCaps is Docker's default capability set.
var dockerCaps = []string{"CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FSETID", "CAP_FOWNER", "CAP_MKNOD", "CAP_NET_RAW",
	"CAP_SETGID", "CAP_SETUID", "CAP_SETFCAP", "CAP_SETPCAP", "CAP_NET_BIND_SERVICE", "CAP_SYS_CHROOT", "CAP_KILL", "CAP_AUDIT_WRITE"}

func defaultProfile(t *testing.T, caps []string) *specs.LinuxSeccomp {
	t.Helper()
	p, err := mobyseccomp.GetDefaultProfile(&specs.Spec{Process: &specs.Process{Capabilities: &specs.LinuxCapabilities{Bounding: caps}}})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

const (
	eperm  = retErrno | uint32(unix.EPERM)
	enosys = retErrno | uint32(unix.ENOSYS)
)

func TestDockerDefaultProfile(t *testing.T) {
	prog, err := compileFor(defaultProfile(t, dockerCaps), specs.ArchX86_64)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("default profile: %d instructions", len(prog))
	x64, i386, x32 := uint32(arch.X86_64.ID), uint32(arch.I386.ID), uint32(arch.X86_64.ID)
	for _, c := range []struct {
		name string
		arch uint32
		info *arch.Info
		args []uint64
		want uint32
	}{
		{"read", x64, arch.X86_64, nil, retAllow},
		{"execve", x64, arch.X86_64, nil, retAllow},
		{"capset", x64, arch.X86_64, nil, retAllow},
		{"unshare", x64, arch.X86_64, []uint64{unix.CLONE_NEWUSER}, eperm},
		{"mount", x64, arch.X86_64, nil, eperm},
		{"keyctl", x64, arch.X86_64, nil, eperm},
		{"add_key", x64, arch.X86_64, nil, eperm},
		{"ptrace", x64, arch.X86_64, nil, retAllow}, // allowed on kernels >= 4.8
		{"clone3", x64, arch.X86_64, nil, enosys},
		{"clone", x64, arch.X86_64, []uint64{17}, retAllow},
		{"clone", x64, arch.X86_64, []uint64{unix.CLONE_NEWUSER | 17}, eperm},
		{"clone", x64, arch.X86_64, []uint64{unix.CLONE_NEWNS}, eperm},
		{"socket", x64, arch.X86_64, []uint64{unix.AF_INET}, retAllow},
		{"socket", x64, arch.X86_64, []uint64{unix.AF_NETLINK}, retAllow},
		{"socket", x64, arch.X86_64, []uint64{unix.AF_VSOCK}, eperm},
		{"socket", x64, arch.X86_64, []uint64{1<<32 | unix.AF_INET}, eperm}, // high word counts
		{"personality", x64, arch.X86_64, []uint64{0}, retAllow},
		{"personality", x64, arch.X86_64, []uint64{0xffffffff}, retAllow},
		{"personality", x64, arch.X86_64, []uint64{1}, eperm},
		{"read", i386, arch.I386, nil, retAllow},
		{"unshare", i386, arch.I386, nil, eperm},
		{"read", x32, arch.X32, nil, retAllow},
		{"unshare", x32, arch.X32, nil, eperm},
	} {
		if got := run(t, prog, c.arch, nr(t, c.info, c.name), c.args...); got != c.want {
			t.Errorf("%s/%s(%#x): %#x, want %#x", c.info.Name, c.name, c.args, got, c.want)
		}
	}
	// Any syscall number not in the profile: the default action.
	if got := run(t, prog, x64, 999); got != eperm {
		t.Errorf("nr 999: %#x", got)
	}
	// A foreign architecture is killed.
	if got := run(t, prog, uint32(arch.AARCH64.ID), 63); got != retKillThread {
		t.Errorf("aarch64 read: %#x", got)
	}

	// With CAP_SYS_ADMIN the profile allows mount, unshare and clone3.
	prog, err = compileFor(defaultProfile(t, append(dockerCaps, "CAP_SYS_ADMIN")), specs.ArchX86_64)
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"mount", "unshare", "clone3", "setns"} {
		if got := run(t, prog, x64, nr(t, arch.X86_64, name)); got != retAllow {
			t.Errorf("CAP_SYS_ADMIN %s: %#x", name, got)
		}
	}
}

func errnoRet(n uint) *uint { return &n }

func TestOperators(t *testing.T) {
	const big = 0x1_0000_0005
	p := &specs.LinuxSeccomp{
		DefaultAction: specs.ActAllow,
		Syscalls: []specs.LinuxSyscall{
			{Names: []string{"read"}, Action: specs.ActErrno, ErrnoRet: errnoRet(5), Args: []specs.LinuxSeccompArg{{Index: 2, Value: big, Op: specs.OpGreaterThan}}},
			{Names: []string{"write"}, Action: specs.ActErrno, Args: []specs.LinuxSeccompArg{{Index: 0, Value: big, Op: specs.OpLessThan}}},
			{Names: []string{"close"}, Action: specs.ActErrno, Args: []specs.LinuxSeccompArg{{Index: 0, Value: big, Op: specs.OpGreaterEqual}}},
			{Names: []string{"dup"}, Action: specs.ActErrno, Args: []specs.LinuxSeccompArg{{Index: 0, Value: big, Op: specs.OpLessEqual}}},
			{Names: []string{"dup2"}, Action: specs.ActErrno, Args: []specs.LinuxSeccompArg{{Index: 0, Value: big, Op: specs.OpNotEqual}}},
			{Names: []string{"kill"}, Action: specs.ActKillProcess, Args: []specs.LinuxSeccompArg{{Index: 1, Value: 0xf0, ValueTwo: 0x10, Op: specs.OpMaskedEqual}}},
			// Two arguments: AND.
			{Names: []string{"lseek"}, Action: specs.ActTrap, Args: []specs.LinuxSeccompArg{{Index: 0, Value: 1, Op: specs.OpEqualTo}, {Index: 2, Value: 2, Op: specs.OpEqualTo}}},
			// Same argument twice: OR (runc).
			{Names: []string{"fcntl"}, Action: specs.ActLog, Args: []specs.LinuxSeccompArg{{Index: 1, Value: 1, Op: specs.OpEqualTo}, {Index: 1, Value: 2, Op: specs.OpEqualTo}}},
			{Names: []string{"no_such_syscall", "getpid"}, Action: specs.ActErrno},
		},
	}
	prog, err := compileFor(p, specs.ArchX86_64)
	if err != nil {
		t.Fatal(err)
	}
	x := uint32(arch.X86_64.ID)
	e := func(n uint32) uint32 { return retErrno | n }
	for _, c := range []struct {
		name string
		args []uint64
		want uint32
	}{
		{"read", []uint64{0, 0, big + 1}, e(5)}, {"read", []uint64{0, 0, big}, retAllow}, {"read", []uint64{0, 0, 6}, retAllow},
		{"read", []uint64{0, 0, 0x2_0000_0000}, e(5)},
		{"write", []uint64{big - 1}, e(1)}, {"write", []uint64{big}, retAllow}, {"write", []uint64{0x2_0000_0000}, retAllow}, {"write", []uint64{6}, e(1)},
		{"close", []uint64{big}, e(1)}, {"close", []uint64{big - 1}, retAllow}, {"close", []uint64{0x1_0000_0006}, e(1)},
		{"dup", []uint64{big}, e(1)}, {"dup", []uint64{big + 1}, retAllow}, {"dup", []uint64{4}, e(1)},
		{"dup2", []uint64{big}, retAllow}, {"dup2", []uint64{5}, e(1)}, {"dup2", []uint64{big + (1 << 32)}, e(1)},
		{"kill", []uint64{0, 0x1f}, retKillProcess}, {"kill", []uint64{0, 0x20}, retAllow},
		{"lseek", []uint64{1, 0, 2}, retTrap}, {"lseek", []uint64{1, 0, 3}, retAllow}, {"lseek", []uint64{0, 0, 2}, retAllow},
		{"fcntl", []uint64{0, 1}, retLog}, {"fcntl", []uint64{0, 2}, retLog}, {"fcntl", []uint64{0, 3}, retAllow},
		{"getpid", nil, e(1)}, {"getppid", nil, retAllow},
	} {
		if got := run(t, prog, x, nr(t, arch.X86_64, c.name), c.args...); got != c.want {
			t.Errorf("%s(%#x): %#x, want %#x", c.name, c.args, got, c.want)
		}
	}
	// x32 is not listed: its syscalls are killed like a foreign arch.
	if got := run(t, prog, x, nr(t, arch.X32, "read")); got != retKillThread {
		t.Errorf("x32 read without x32 in the profile: %#x", got)
	}
}

func TestCompileErrors(t *testing.T) {
	for name, p := range map[string]*specs.LinuxSeccomp{
		"bad default": {DefaultAction: "SCMP_ACT_NOPE"},
		"bad action":  {DefaultAction: specs.ActAllow, Syscalls: []specs.LinuxSyscall{{Names: []string{"read"}, Action: "x"}}},
		"bad op":      {DefaultAction: specs.ActAllow, Syscalls: []specs.LinuxSyscall{{Names: []string{"read"}, Action: specs.ActErrno, Args: []specs.LinuxSeccompArg{{Op: "SCMP_CMP_X"}}}}},
		"bad index":   {DefaultAction: specs.ActAllow, Syscalls: []specs.LinuxSyscall{{Names: []string{"read"}, Action: specs.ActErrno, Args: []specs.LinuxSeccompArg{{Index: 6, Op: specs.OpEqualTo}}}}},
		"notify":      {DefaultAction: specs.ActNotify},
	} {
		if _, err := compileFor(p, specs.ArchX86_64); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
	if _, err := Prepare(&specs.LinuxSeccomp{DefaultAction: specs.ActAllow, Flags: []specs.LinuxSeccompFlag{"SECCOMP_FILTER_FLAG_NOPE"}}); err == nil {
		t.Error("bad flag: no error")
	}
}

func BenchmarkCompileDefault(b *testing.B) {
	p, err := mobyseccomp.GetDefaultProfile(&specs.Spec{Process: &specs.Process{Capabilities: &specs.LinuxCapabilities{Bounding: dockerCaps}}})
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if _, err := Compile(p); err != nil {
			b.Fatal(err)
		}
	}
}
