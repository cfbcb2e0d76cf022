// Package ocicli drives a runc-compatible runtime binary (runc, crun)
// through its command line, behind the runtime.Runtime seam:
//
//	<bin> [extra args] --root R --log <state>/<verb>.log --log-format json \
//	      create --bundle B --pid-file <state>/init.pid [--console-socket <state>/console.sock] ID
//	<bin> ... start ID
//	<bin> ... kill [--all] ID SIGNUM
//	<bin> ... delete --force ID
//	<bin> ... exec --process P --detach --pid-file F [--console-socket S --tty] ID   (see exec.go)
//
// Stdio is passed through: the container's stdin, stdout and stderr are
// the create command's fds 0, 1 and 2 (so the runtime's own complaints
// during create also land on the container's stderr; berth reads them
// from the JSON log). With a terminal, berth listens on console.sock and
// receives the pty master the runtime sends there (SCM_RIGHTS).
//
// The binary is run through reaper.Default.Start and Wait: the caller is a
// subreaper that reaps every child, and the container's init, orphaned by
// the runtime's exit, becomes its child too.
//
// The state directory (CreateOpts.StateDir) holds:
//
//	init.pid        the container init's host pid, written by the runtime
//	console.sock    the console socket, while create runs (terminal only;
//	                in a temporary directory if this path is too long)
//	<verb>.log      the runtime's JSON log of the last run of each verb
//	<verb>.stderr   its stderr (for verbs other than create)
//
// A task whose creator is gone (a restarted monitor) is rebuilt by Adopt
// from the state directory and the runtime's own state under --root.
package ocicli

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/berth-dev/berth/internal/errdefs"
	"github.com/berth-dev/berth/internal/ocispec"
	"github.com/berth-dev/berth/internal/runtime"
	"github.com/berth-dev/berth/internal/runtime/reaper"
)

// Runtime is a runc-compatible binary.
type Runtime struct {
	name, bin, root string
	extra           []string
}

// New returns a Runtime named name that runs binaryPath with its state
// under rootDir (--root) and extraArgs before every command.
func New(name, binaryPath, rootDir string, extraArgs []string) runtime.Runtime {
	return &Runtime{name: name, bin: binaryPath, root: rootDir, extra: extraArgs}
}

// Name implements runtime.Runtime.
func (r *Runtime) Name() string { return r.name }

// stdio is what a command's fds 0-2 are; nil means /dev/null.
type stdio struct{ in, out, err *os.File }

// run runs one command of the binary and turns a failure into an error
// carrying the runtime's own message.
func (r *Runtime) run(ctx context.Context, stateDir, verb string, io stdio, args ...string) error {
	logPath := filepath.Join(stateDir, verb+".log")
	os.Remove(logPath)
	full := append(append([]string{}, r.extra...), "--root", r.root, "--log", logPath, "--log-format", "json", verb)
	cmd := exec.Command(r.bin, append(full, args...)...)
	// A nil *os.File must become a nil interface (/dev/null), or exec
	// passes fd -1.
	if io.in != nil {
		cmd.Stdin = io.in
	}
	if io.out != nil {
		cmd.Stdout = io.out
	}
	if io.err != nil {
		cmd.Stderr = io.err
	}
	var errFile *os.File
	if io.err == nil {
		f, err := os.Create(filepath.Join(stateDir, verb+".stderr"))
		if err != nil {
			return fmt.Errorf("%s %s: %w", r.name, verb, err)
		}
		defer f.Close()
		errFile = f
		cmd.Stderr = f
	}
	ch, err := reaper.Default.Start(cmd)
	if err != nil {
		return fmt.Errorf("%s %s: %w", r.name, verb, err)
	}
	stop := context.AfterFunc(ctx, func() { cmd.Process.Signal(unix.SIGKILL) })
	status, err := reaper.Default.Wait(cmd, ch)
	stop()
	if err != nil {
		return fmt.Errorf("%s %s: %w", r.name, verb, err)
	}
	if status == 0 {
		return nil
	}
	msg := logError(logPath)
	if msg == "" && errFile != nil {
		b, _ := os.ReadFile(errFile.Name())
		msg = strings.TrimSpace(string(b))
	}
	if msg == "" {
		msg = fmt.Sprintf("exit status %d", status)
	}
	if ctx.Err() != nil {
		return fmt.Errorf("%s %s: %w (%s)", r.name, verb, ctx.Err(), msg)
	}
	return &cliError{verb: verb, name: r.name, msg: msg, kind: classify(msg)}
}

// logError returns the error-level messages of a runtime's JSON log.
func logError(path string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	var msgs []string
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		var e struct{ Level, Msg string }
		if json.Unmarshal(sc.Bytes(), &e) == nil && (e.Level == "error" || e.Level == "fatal") && e.Msg != "" {
			msgs = append(msgs, e.Msg)
		}
	}
	return strings.Join(msgs, "; ")
}

// cliError is a failed command with the runtime's message.
type cliError struct {
	name, verb, msg string
	kind            error
}

func (e *cliError) Error() string { return e.name + " " + e.verb + ": " + e.msg }
func (e *cliError) Unwrap() error { return e.kind }

// classify maps a runtime's exec failure text to runtime's errors: runc
// and crun print Go's and libc's texts after `exec: "name": ` or
// "exec failed:".
func classify(msg string) error {
	if !strings.Contains(msg, `exec: "`) && !strings.Contains(msg, "exec failed") && !strings.Contains(msg, "executable file not found") {
		return nil
	}
	switch {
	case strings.Contains(msg, "executable file not found"), strings.Contains(msg, "no such file or directory"):
		return runtime.ErrExecNotFound
	case strings.Contains(msg, "permission denied"), strings.Contains(msg, "is a directory"):
		return runtime.ErrExecPermission
	}
	return nil
}

// Create implements runtime.Runtime. Like runc create, it fails with
// ErrExecNotFound or ErrExecPermission for a program that cannot run.
func (r *Runtime) Create(ctx context.Context, id string, opts runtime.CreateOpts) (_ runtime.Task, retErr error) {
	if opts.StateDir == "" {
		return nil, errors.New("ocicli: a state directory is required")
	}
	t := &task{r: r, id: id, stateDir: opts.StateDir}
	pidFile := filepath.Join(opts.StateDir, "init.pid")
	args := []string{"--bundle", opts.Bundle, "--pid-file", pidFile}
	io := stdio{opts.Stdin, opts.Stdout, opts.Stderr}
	terminal, err := wantsTerminal(opts.Bundle)
	if err != nil {
		return nil, err
	}
	if err := r.downgradeRRO(opts.Bundle); err != nil {
		return nil, err
	}
	var console chan consoleResult
	if terminal {
		sock := filepath.Join(opts.StateDir, "console.sock")
		if len(sock) >= 100 { // sun_path holds 108 bytes
			dir, err := os.MkdirTemp("", "berth-console-")
			if err != nil {
				return nil, fmt.Errorf("console socket: %w", err)
			}
			defer os.RemoveAll(dir)
			sock = filepath.Join(dir, "console.sock")
		}
		l, err := net.ListenUnix("unix", &net.UnixAddr{Name: sock, Net: "unix"})
		if err != nil {
			return nil, fmt.Errorf("console socket: %w", err)
		}
		defer l.Close()
		console = make(chan consoleResult, 1)
		go func() { console <- receiveConsole(l) }()
		args = append(args, "--console-socket", sock)
		io = stdio{}
	}
	defer func() {
		if retErr != nil {
			// Whatever a failed or killed create left: process, cgroup,
			// the runtime's state, ours.
			t.Delete(context.Background())
			os.RemoveAll(opts.StateDir)
		}
	}()
	if err := r.run(ctx, opts.StateDir, "create", io, append(args, id)...); err != nil {
		return nil, err
	}
	b, err := os.ReadFile(pidFile)
	if err != nil {
		return nil, fmt.Errorf("%s create: read pid file: %w", r.name, err)
	}
	if t.pid, err = strconv.Atoi(strings.TrimSpace(string(b))); err != nil {
		return nil, fmt.Errorf("%s create: pid file: %w", r.name, err)
	}
	if terminal {
		// The runtime has sent the master before create returned.
		select {
		case c := <-console:
			if c.err != nil {
				return nil, fmt.Errorf("%s create: receive console: %w", r.name, c.err)
			}
			t.console = c.f
		default:
			return nil, fmt.Errorf("%s create: no console received", r.name)
		}
	}
	return t, nil
}

// downgradeRRO rewrites the bundle's recursive read-only binds for a
// runtime taken to lack them (runc 1.1): an "rro" marked
// ocispec.RROFallback (Docker's bind-recursive=enabled) becomes "ro", as
// dockerd does for such runtimes; any other "rro" (bind-recursive=readonly)
// is refused.
func (r *Runtime) downgradeRRO(bundle string) error {
	p := filepath.Join(bundle, "config.json")
	b, err := os.ReadFile(p)
	if err != nil {
		return fmt.Errorf("read bundle config: %w", err)
	}
	if !bytes.Contains(b, []byte(`"rro"`)) {
		return nil
	}
	var doc map[string]json.RawMessage
	var mounts []specs.Mount
	if err := json.Unmarshal(b, &doc); err != nil {
		return fmt.Errorf("decode bundle config: %w", err)
	}
	if err := json.Unmarshal(doc["mounts"], &mounts); err != nil {
		return fmt.Errorf("decode bundle mounts: %w", err)
	}
	for i, m := range mounts {
		if !slices.Contains(m.Options, "rro") {
			continue
		}
		if !slices.Contains(m.Options, ocispec.RROFallback) {
			return errdefs.InvalidArgumentf("recursive read-only bind at %s (bind-recursive=readonly) is not supported by runtime %s; use berth's built-in runtime",
				m.Destination, r.name)
		}
		var opts []string
		for _, o := range m.Options {
			switch o {
			case "rro":
				opts = append(opts, "ro")
			case ocispec.RROFallback:
			default:
				opts = append(opts, o)
			}
		}
		mounts[i].Options = opts
	}
	if doc["mounts"], err = json.Marshal(mounts); err != nil {
		return err
	}
	if b, err = json.Marshal(doc); err != nil {
		return err
	}
	return os.WriteFile(p, b, 0o600)
}

func wantsTerminal(bundle string) (bool, error) {
	b, err := os.ReadFile(filepath.Join(bundle, "config.json"))
	if err != nil {
		return false, fmt.Errorf("read bundle config: %w", err)
	}
	var spec struct {
		Process *struct {
			Terminal bool `json:"terminal"`
		} `json:"process"`
	}
	if err := json.Unmarshal(b, &spec); err != nil {
		return false, fmt.Errorf("decode bundle config: %w", err)
	}
	return spec.Process != nil && spec.Process.Terminal, nil
}

type consoleResult struct {
	f   *os.File
	err error
}

// receiveConsole accepts the runtime's connection and takes the pty master
// from its SCM_RIGHTS message.
func receiveConsole(l *net.UnixListener) consoleResult {
	conn, err := l.AcceptUnix()
	if err != nil {
		return consoleResult{err: err}
	}
	defer conn.Close()
	buf := make([]byte, 4096)
	oob := make([]byte, unix.CmsgSpace(4))
	_, oobn, _, _, err := conn.ReadMsgUnix(buf, oob)
	if err != nil {
		return consoleResult{err: err}
	}
	scms, err := unix.ParseSocketControlMessage(oob[:oobn])
	if err != nil || len(scms) != 1 {
		return consoleResult{err: fmt.Errorf("no fd in console message (%v)", err)}
	}
	fds, err := unix.ParseUnixRights(&scms[0])
	if err != nil || len(fds) != 1 {
		return consoleResult{err: fmt.Errorf("no fd in console message (%v)", err)}
	}
	unix.CloseOnExec(fds[0])
	return consoleResult{f: os.NewFile(uintptr(fds[0]), "console")}
}

type task struct {
	r        *Runtime
	id       string
	pid      int
	stateDir string
	console  *os.File

	mu      sync.Mutex
	deleted bool
}

func (t *task) ID() string        { return t.id }
func (t *task) Pid() int          { return t.pid }
func (t *task) Console() *os.File { return t.console }

// Start implements runtime.Task.
func (t *task) Start(ctx context.Context) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.r.run(ctx, t.stateDir, "start", stdio{}, t.id)
}

// Kill implements runtime.Task.
func (t *task) Kill(ctx context.Context, sig syscall.Signal, all bool) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.deleted {
		return fmt.Errorf("%s kill %s: %w", t.r.name, t.id, unix.ESRCH)
	}
	args := []string{t.id, strconv.Itoa(int(sig))}
	if all {
		args = append([]string{"--all"}, args...)
	}
	return t.r.run(ctx, t.stateDir, "kill", stdio{}, args...)
}

// Delete implements runtime.Task: delete --force (which also kills what
// still runs), then the state directory goes.
func (t *task) Delete(ctx context.Context) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.deleted {
		return nil
	}
	if err := t.r.run(ctx, t.stateDir, "delete", stdio{}, "--force", t.id); err != nil {
		var ce *cliError
		if !errors.As(err, &ce) || !strings.Contains(ce.msg, "does not exist") {
			return err
		}
	}
	if t.console != nil {
		t.console.Close()
		t.console = nil
	}
	if err := os.RemoveAll(t.stateDir); err != nil {
		return fmt.Errorf("%s delete: %w", t.r.name, err)
	}
	t.deleted = true
	return nil
}

// Adopt implements runtime.Adopter: the runtime binary keeps the
// container's state under --root, so a task needs only its id, its state
// directory and its init's pid, which must be the one the runtime wrote
// (init.pid). Exec, Kill and Delete then run the binary as for a created
// task.
func (r *Runtime) Adopt(ctx context.Context, id string, opts runtime.AdoptOpts) (runtime.Task, error) {
	if opts.StateDir == "" || opts.Pid <= 0 {
		return nil, errdefs.InvalidArgumentf("%s adopt %s: no state directory or pid", r.name, id)
	}
	b, err := os.ReadFile(filepath.Join(opts.StateDir, "init.pid"))
	if err != nil {
		return nil, fmt.Errorf("%s adopt %s: %w", r.name, id, err)
	}
	if pid, err := strconv.Atoi(strings.TrimSpace(string(b))); err != nil || pid != opts.Pid {
		return nil, errdefs.Conflictf("%s adopt %s: init.pid says %q, not %d", r.name, id, bytes.TrimSpace(b), opts.Pid)
	}
	return &task{r: r, id: id, pid: opts.Pid, stateDir: opts.StateDir}, nil
}
