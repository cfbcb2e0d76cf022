package linux

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/berth-dev/berth/internal/errdefs"
	"github.com/berth-dev/berth/internal/seccomp"
)

// A profile is compiled once per process; every container with it gets
// the same program, kept in its state dir for execs.
func TestPrepareSeccompCompilesOnce(t *testing.T) {
	errno := uint(1)
	p := &specs.LinuxSeccomp{DefaultAction: specs.ActAllow,
		Syscalls: []specs.LinuxSyscall{{Names: []string{"keyctl"}, Action: specs.ActErrno, ErrnoRet: &errno}}}
	a, b := t.TempDir(), t.TempDir()
	progA, err := prepareSeccomp(a, p)
	if err != nil {
		t.Fatal(err)
	}
	compiled.Lock()
	n := len(compiled.byKey)
	compiled.Unlock()
	progB, err := prepareSeccomp(b, p)
	if err != nil {
		t.Fatal(err)
	}
	compiled.Lock()
	if len(compiled.byKey) != n {
		t.Errorf("the same profile was compiled twice")
	}
	compiled.Unlock()
	if &progA[0] != &progB[0] {
		t.Errorf("the cached program was not reused")
	}
	saved, err := os.ReadFile(filepath.Join(b, execSeccompFile))
	if err != nil || !bytes.Equal(saved, progB) {
		t.Errorf("state dir program: %v", err)
	}
	if _, err := seccomp.UnmarshalFilter(saved); err != nil {
		t.Error(err)
	}
	t.Setenv(execSeccompEnv, filepath.Join(b, execSeccompFile))
	if f, err := loadExecSeccomp(); err != nil || f == nil {
		t.Errorf("exec init's load: %v %v", f, err)
	}

	if _, err := prepareSeccomp("", &specs.LinuxSeccomp{DefaultAction: "SCMP_ACT_BOGUS"}); !errdefs.Is(err, errdefs.InvalidArgument) {
		t.Errorf("bad profile: %v, want an invalid argument", err)
	}
	if prog, err := prepareSeccomp(a, nil); prog != nil || err != nil {
		t.Errorf("no profile: %v %v", prog, err)
	}
}
