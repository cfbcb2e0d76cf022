package seccomp

import (
	"slices"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// An architecture name libseccomp does not know fails the profile, as
// runc fails it, instead of being skipped like another family's arch.
func TestUnknownArchitecture(t *testing.T) {
	p := &specs.LinuxSeccomp{DefaultAction: specs.ActAllow, Architectures: []specs.Arch{"SCMP_ARCH_PDP11"}}
	if _, err := Prepare(p); err == nil || !strings.Contains(err.Error(), "string SCMP_ARCH_PDP11 is not a valid arch for seccomp") {
		t.Errorf("Prepare: %v", err)
	}
	p.Architectures = []specs.Arch{specs.ArchX86_64, specs.ArchS390X, specs.ArchRISCV64}
	if _, err := Prepare(p); err != nil {
		t.Errorf("known architectures of other families: %v", err)
	}
}

func TestFilterBinaryRoundTrip(t *testing.T) {
	errno := uint(1)
	p := &specs.LinuxSeccomp{DefaultAction: specs.ActAllow, Flags: []specs.LinuxSeccompFlag{specs.LinuxSeccompFlagLog},
		Syscalls: []specs.LinuxSyscall{{Names: []string{"mount", "keyctl"}, Action: specs.ActErrno, ErrnoRet: &errno}}}
	f, err := Prepare(p)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := f.MarshalBinary()
	g, err := UnmarshalFilter(b)
	if err != nil {
		t.Fatal(err)
	}
	if g.flags != f.flags || !slices.Equal(g.prog, f.prog) {
		t.Errorf("round trip changed the filter: %+v -> %+v", f, g)
	}
	for _, bad := range [][]byte{nil, b[:8], b[:len(b)-1], make([]byte, 8+8*(bpfMaxInsns+1))} {
		if _, err := UnmarshalFilter(bad); err == nil {
			t.Errorf("UnmarshalFilter of %d bytes: no error", len(bad))
		}
	}
}
