package monitor

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"

	"github.com/creack/pty"
	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/berth-dev/berth/internal/runtime"
)

// hostRuntime is a test-only runtime.Runtime that runs spec.Process.Args
// as a plain host process (no namespaces): enough to exercise the
// monitor's supervision (stdio, pty, exits, reaping). A created task is
// a shell blocked on fd 3 until Start.
type hostRuntime struct{}

func (hostRuntime) Name() string { return "host-test" }

type hostTask struct {
	id      string
	cmd     *exec.Cmd
	gate    *os.File
	console *os.File
	oom     bool
	argv0   string
}

func (hostRuntime) Create(ctx context.Context, id string, opts runtime.CreateOpts) (runtime.Task, error) {
	data, err := os.ReadFile(filepath.Join(opts.Bundle, "config.json"))
	if err != nil {
		return nil, err
	}
	var spec specs.Spec
	if err := json.Unmarshal(data, &spec); err != nil {
		return nil, err
	}
	gateR, gateW, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	defer gateR.Close()
	args := append([]string{"-c", `read _ <&3; exec 3<&-; exec "$@"`, "sh"}, spec.Process.Args...)
	cmd := exec.Command("/bin/sh", args...)
	cmd.Env = spec.Process.Env
	cmd.ExtraFiles = []*os.File{gateR}
	t := &hostTask{id: id, cmd: cmd, gate: gateW, oom: spec.Annotations["test.oom"] == "true", argv0: spec.Process.Args[0]}
	var slave *os.File
	if spec.Process.Terminal {
		t.console, slave, err = pty.Open()
		if err != nil {
			gateW.Close()
			return nil, err
		}
		defer slave.Close()
		if spec.Process.ConsoleSize != nil {
			pty.Setsize(t.console, &pty.Winsize{Rows: uint16(spec.Process.ConsoleSize.Height), Cols: uint16(spec.Process.ConsoleSize.Width)})
		}
		cmd.Stdin, cmd.Stdout, cmd.Stderr = slave, slave, slave
		cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true, Setctty: true}
	} else {
		// Typed nil *os.File must not become a non-nil io.Reader.
		if opts.Stdin != nil {
			cmd.Stdin = opts.Stdin
		}
		if opts.Stdout != nil {
			cmd.Stdout = opts.Stdout
		}
		if opts.Stderr != nil {
			cmd.Stderr = opts.Stderr
		}
	}
	// Started, never waited for: the monitor reaps it.
	if err := cmd.Start(); err != nil {
		gateW.Close()
		if t.console != nil {
			t.console.Close()
		}
		return nil, err
	}
	return t, nil
}

func (t *hostTask) ID() string        { return t.id }
func (t *hostTask) Pid() int          { return t.cmd.Process.Pid }
func (t *hostTask) Console() *os.File { return t.console }

func (t *hostTask) Start(ctx context.Context) error {
	if _, err := exec.LookPath(t.argv0); err != nil {
		return fmt.Errorf("exec: %q: %w", t.argv0, runtime.ErrExecNotFound)
	}
	_, err := t.gate.Write([]byte("go\n"))
	t.gate.Close()
	return err
}

func (t *hostTask) Kill(ctx context.Context, sig syscall.Signal, all bool) error {
	return syscall.Kill(t.cmd.Process.Pid, sig)
}

func (t *hostTask) Delete(ctx context.Context) error {
	t.gate.Close()
	if t.console != nil {
		t.console.Close()
	}
	return nil
}

func (t *hostTask) OOMKilled() (bool, error) { return t.oom, nil }

func hostRuntimes(name string, args []string) (runtime.Runtime, error) {
	if name != "host-test" {
		return nil, fmt.Errorf("unknown runtime %q", name)
	}
	return hostRuntime{}, nil
}
