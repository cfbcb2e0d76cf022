package linux

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"

	"github.com/berth-dev/berth/internal/cgroups"
	"github.com/berth-dev/berth/internal/errdefs"
	"github.com/berth-dev/berth/internal/runtime"
)

// Adopt implements runtime.Adopter; see "Adoption" in the package doc.
func (r *Runtime) Adopt(ctx context.Context, id string, opts runtime.AdoptOpts) (runtime.Task, error) {
	if opts.Pidfd == nil || opts.Pid <= 0 {
		return nil, errdefs.InvalidArgumentf("adopt container %s: no init pid", id)
	}
	var spec struct {
		Linux *struct {
			CgroupsPath string `json:"cgroupsPath"`
		} `json:"linux"`
	}
	raw, err := os.ReadFile(filepath.Join(opts.Bundle, "config.json"))
	if err != nil {
		return nil, fmt.Errorf("adopt container %s: read bundle config: %w", id, err)
	}
	if err := json.Unmarshal(raw, &spec); err != nil {
		return nil, fmt.Errorf("adopt container %s: decode bundle config: %w", id, err)
	}
	var cg cgroups.Manager
	if spec.Linux != nil && spec.Linux.CgroupsPath != "" {
		if cg, err = r.adoptCgroup(opts.Pid, spec.Linux.CgroupsPath); err != nil {
			return nil, fmt.Errorf("adopt container %s: cgroup: %w", id, err)
		}
	}
	rc, err := opts.Pidfd.SyscallConn()
	if err != nil {
		return nil, fmt.Errorf("adopt container %s: %w", id, err)
	}
	pidfd, derr := -1, error(nil)
	if err := rc.Control(func(fd uintptr) { pidfd, derr = unix.FcntlInt(fd, unix.F_DUPFD_CLOEXEC, 0) }); err != nil {
		return nil, fmt.Errorf("adopt container %s: %w", id, err)
	}
	if derr != nil {
		return nil, fmt.Errorf("adopt container %s: dup pidfd: %w", id, derr)
	}
	return &task{rt: r, id: id, pid: opts.Pid, pidfd: pidfd, sock: -1, stateDir: opts.StateDir, cg: cg}, nil
}

// adoptCgroup is the manager of an adopted init's cgroup: where the init
// is (/proc/<pid>/cgroup), since a relative cgroupsPath resolved against
// the cgroup of the process that created it, which may not be ours. A
// runtime given Options.NewCgroup uses that instead.
func (r *Runtime) adoptCgroup(pid int, cgroupsPath string) (cgroups.Manager, error) {
	if r.customCgroup {
		return r.newCgroup(cgroupsPath)
	}
	if cg, err := cgroups.Load(pid); err == nil {
		return cg, nil
	}
	return r.newCgroup(cgroupsPath)
}
