package seccomp

import (
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
