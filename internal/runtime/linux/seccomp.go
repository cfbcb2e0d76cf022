package linux

import (
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/berth-dev/berth/internal/errdefs"
	"github.com/berth-dev/berth/internal/seccomp"
)

// A container's profile is compiled once per profile by the parent (the
// monitor keeps the programs it compiled, keyed by the profile's JSON),
// not by every init: the default profile takes ~0.6 ms to compile, on
// the start path. Init gets the program in its config message; exec'd
// processes get the container's, as with runc: Create keeps it in the
// task's state dir, Exec points the exec init at it through the
// environment, and the exec init reads it before joining the container's
// mount namespace and loads it as init does. A container created before
// programs were kept has its profile's JSON there instead, compiled by
// the exec init.
const (
	execSeccompFile     = "seccomp.bpf"
	execSeccompJSONFile = "seccomp.json"
	execSeccompEnv      = "BERTH_EXEC_SECCOMP"
)

// compiled caches programs by the SHA-256 of their profile's JSON. Few
// profiles are in use at once (Docker's default one per capability set,
// and custom ones), so it stops growing at compiledMax.
var compiled struct {
	sync.Mutex
	byKey map[[sha256.Size]byte][]byte
}

const compiledMax = 64

// prepareSeccomp compiles the container's profile (or takes it from the
// cache) and keeps the program in stateDir for later execs. It returns
// the encoded program (seccomp.Filter.MarshalBinary), nil without one.
func prepareSeccomp(stateDir string, p *specs.LinuxSeccomp) ([]byte, error) {
	if p == nil {
		return nil, nil
	}
	js, err := json.Marshal(p)
	if err != nil {
		return nil, err
	}
	key := sha256.Sum256(js)
	compiled.Lock()
	prog, ok := compiled.byKey[key]
	compiled.Unlock()
	if !ok {
		f, err := seccomp.Prepare(p)
		if err != nil {
			return nil, errdefs.InvalidArgumentf("compile seccomp profile: %w", err)
		}
		if prog, err = f.MarshalBinary(); err != nil {
			return nil, err
		}
		compiled.Lock()
		if compiled.byKey == nil {
			compiled.byKey = map[[sha256.Size]byte][]byte{}
		}
		if len(compiled.byKey) < compiledMax {
			compiled.byKey[key] = prog
		}
		compiled.Unlock()
	}
	if stateDir == "" {
		return prog, nil
	}
	if err := os.MkdirAll(stateDir, 0o700); err != nil {
		return nil, fmt.Errorf("save seccomp program: %w", err)
	}
	if err := os.WriteFile(filepath.Join(stateDir, execSeccompFile), prog, 0o600); err != nil {
		return nil, fmt.Errorf("save seccomp program: %w", err)
	}
	return prog, nil
}

// execSeccompEnviron is the exec init's environment: the path of the
// container's program (or of its profile, for a container created before
// programs were kept) when it has one.
func execSeccompEnviron(stateDir string) []string {
	if stateDir == "" {
		return []string{}
	}
	for _, name := range []string{execSeccompFile, execSeccompJSONFile} {
		p := filepath.Join(stateDir, name)
		if _, err := os.Stat(p); err == nil {
			return []string{execSeccompEnv + "=" + p}
		}
	}
	return []string{}
}

// loadExecSeccomp reads the program (or compiles the profile) named by the
// environment (nil when there is none). A file that went missing is an
// error, not a silent unconfined exec.
func loadExecSeccomp() (*seccomp.Filter, error) {
	path := os.Getenv(execSeccompEnv)
	if path == "" {
		return nil, nil
	}
	var b []byte
	var err error
	if fd, ok := strings.CutPrefix(path, "fd:"); ok {
		// "fd:<n>:<path>": an exec into a user namespace, whose root may
		// not open the file: the parent opened it (see execInUserNS).
		n, name, _ := strings.Cut(fd, ":")
		num, _ := strconv.Atoi(n)
		b, err = io.ReadAll(os.NewFile(uintptr(num), name))
		path = name
	} else {
		b, err = os.ReadFile(path)
	}
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("container seccomp profile %s is gone", path)
	}
	if err != nil {
		return nil, err
	}
	if filepath.Base(path) == execSeccompFile {
		return seccomp.UnmarshalFilter(b)
	}
	var p specs.LinuxSeccomp
	if err := json.Unmarshal(b, &p); err != nil {
		return nil, fmt.Errorf("decode %s: %w", path, err)
	}
	return seccomp.Prepare(&p)
}
