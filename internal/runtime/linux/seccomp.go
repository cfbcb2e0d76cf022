package linux

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/berth-dev/berth/internal/seccomp"
)

// Exec'd processes get the container's seccomp profile, as with runc: Create
// keeps linux.seccomp in the task's state dir, Exec points the exec init at
// it through the environment, and the exec init compiles it before joining
// the container's mount namespace and loads it as init does.
const (
	execSeccompFile = "seccomp.json"
	execSeccompEnv  = "BERTH_EXEC_SECCOMP"
)

// saveExecSeccomp writes the container's profile for later execs.
func saveExecSeccomp(stateDir string, p *specs.LinuxSeccomp) error {
	if stateDir == "" || p == nil {
		return nil
	}
	b, err := json.Marshal(p)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(stateDir, 0o700); err != nil {
		return fmt.Errorf("save seccomp profile: %w", err)
	}
	if err := os.WriteFile(filepath.Join(stateDir, execSeccompFile), b, 0o600); err != nil {
		return fmt.Errorf("save seccomp profile: %w", err)
	}
	return nil
}

// execSeccompEnviron is the exec init's environment: the profile's path
// when the container has one.
func execSeccompEnviron(stateDir string) []string {
	if stateDir == "" {
		return []string{}
	}
	p := filepath.Join(stateDir, execSeccompFile)
	if _, err := os.Stat(p); err != nil {
		return []string{}
	}
	return []string{execSeccompEnv + "=" + p}
}

// loadExecSeccomp compiles the profile named by the environment (nil when
// there is none). A profile that went missing is an error, not a silent
// unconfined exec.
func loadExecSeccomp() (*seccomp.Filter, error) {
	path := os.Getenv(execSeccompEnv)
	if path == "" {
		return nil, nil
	}
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("container seccomp profile %s is gone", path)
	}
	if err != nil {
		return nil, err
	}
	var p specs.LinuxSeccomp
	if err := json.Unmarshal(b, &p); err != nil {
		return nil, fmt.Errorf("decode %s: %w", path, err)
	}
	return seccomp.Prepare(&p)
}
