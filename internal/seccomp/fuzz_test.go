package seccomp

import (
	"testing"

	"github.com/elastic/go-seccomp-bpf/arch"
	mobyseccomp "github.com/moby/profiles/seccomp"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// FuzzProfile: any profile JSON (as --security-opt seccomp=<json> sends)
// is either refused with an error or compiles to a program the kernel
// would take (at most 4096 instructions, every jump in range) that returns
// a verdict for any syscall.
func FuzzProfile(f *testing.F) {
	for _, s := range []string{
		`{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["mkdir"],"action":"SCMP_ACT_ERRNO","errnoRet":13}]}`,
		`{"defaultAction":"SCMP_ACT_ERRNO","architectures":["SCMP_ARCH_X86_64","SCMP_ARCH_X86","SCMP_ARCH_X32"],"syscalls":[{"names":["read","write"],"action":"SCMP_ACT_ALLOW"},{"names":["socket"],"action":"SCMP_ACT_ALLOW","args":[{"index":0,"value":2,"op":"SCMP_CMP_EQ"},{"index":0,"value":10,"op":"SCMP_CMP_EQ"}]}]}`,
		`{"defaultAction":"SCMP_ACT_KILL_PROCESS","syscalls":[{"names":["clone"],"action":"SCMP_ACT_ALLOW","args":[{"index":0,"value":2114060288,"valueTwo":0,"op":"SCMP_CMP_MASKED_EQ"}]}]}`,
		`{"defaultAction":"SCMP_ACT_NOTIFY"}`, `{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["read"],"action":"SCMP_ACT_LOG","args":[{"index":7,"op":"SCMP_CMP_GT"}]}]}`,
	} {
		f.Add(s)
	}
	spec := &specs.Spec{Process: &specs.Process{Capabilities: &specs.LinuxCapabilities{Bounding: dockerCaps}}}
	f.Fuzz(func(t *testing.T, body string) {
		p, err := mobyseccomp.LoadProfile(body, spec)
		if err != nil || p == nil {
			return
		}
		prog, err := compileFor(p, specs.ArchX86_64)
		if err != nil {
			return
		}
		if len(prog) == 0 || len(prog) > 4096 {
			t.Fatalf("program of %d instructions", len(prog))
		}
		for _, nr := range []uint32{0, 1, 41, 56, 435, 999, 0x40000000} {
			run(t, prog, uint32(arch.X86_64.ID), nr, 2, 0x7E020000, 1<<40)
		}
	})
}
