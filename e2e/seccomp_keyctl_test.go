package e2e

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// keyctlProg reports the errno of keyctl(KEYCTL_GET_KEYRING_ID,
// KEY_SPEC_SESSION_KEYRING, 0): a syscall needing no capability, so only
// seccomp makes it EPERM.
const keyctlProg = `package main

import (
	"fmt"
	"syscall"
)

func main() {
	_, _, e := syscall.RawSyscall(syscall.SYS_KEYCTL, 0, ^uintptr(2), 0)
	fmt.Println("keyctl errno", int(e))
}
`

// TestSeccompKeyctl: keyctl is EPERM under Docker's default profile
// (berth's runtime and runc) and not when unconfined.
func TestSeccompKeyctl(t *testing.T) {
	needRoot(t)
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "go.mod"), []byte("module keyctl\n\ngo 1.21\n"), 0o644)
	os.WriteFile(filepath.Join(dir, "main.go"), []byte(keyctlProg), 0o644)
	build := exec.Command("go", "build", "-o", filepath.Join(dir, "bin", "keyctl"), ".")
	build.Dir = dir
	build.Env = append(os.Environ(), "CGO_ENABLED=0", "GOFLAGS=")
	if out, err := build.CombinedOutput(); err != nil {
		t.Skipf("build helper: %v\n%s", err, out)
	}
	d := StartDaemon(t)
	d.ImportBusybox()
	for _, rt := range []string{"berth", "runc"} {
		if rt == "runc" {
			if _, err := exec.LookPath("runc"); err != nil {
				continue
			}
		}
		run := func(extra ...string) string {
			args := append([]string{"run", "--rm", "--runtime", rt, "-v", filepath.Join(dir, "bin") + ":/t:ro"}, extra...)
			return strings.TrimSpace(d.MustDocker(append(args, "busybox", "/t/keyctl")...))
		}
		if out := run(); out != "keyctl errno 1" {
			t.Errorf("%s default profile: %q, want EPERM", rt, out)
		}
		if out := run("--security-opt", "seccomp=unconfined"); out == "keyctl errno 1" || !strings.HasPrefix(out, "keyctl errno") {
			t.Errorf("%s unconfined: %q", rt, out)
		}
	}
}
