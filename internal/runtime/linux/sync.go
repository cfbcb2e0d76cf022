package linux

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/berth-dev/berth/internal/runtime"
)

// Message types of the parent <-> init protocol (see the package doc).
const (
	msgConfig = "config"
	msgReady  = "ready"
	msgStart  = "start"
	msgError  = "error"
	// msgExec replaces msgConfig for an exec'd process (see exec.go).
	msgExec = "exec"
)

// Error kinds carried by an error message.
const (
	kindNotFound   = "notfound"
	kindPermission = "permission"
)

// initFd is init's end of the sync socket.
const initFd = 3

type message struct {
	Type string `json:"type"`
	// config
	Rootfs string `json:"rootfs,omitempty"`
	// config: the fd of a sysfs mount the parent made in the network
	// namespace a remapped init joins by path (0: none; see startIn)
	SysfsFD int             `json:"sysfsFd,omitempty"`
	Spec    json.RawMessage `json:"spec,omitempty"`
	// config: spec.linux.seccomp compiled by the parent
	// (seccomp.Filter.MarshalBinary); init compiles it when absent
	Seccomp []byte `json:"seccomp,omitempty"`
	// exec: the namespaces whose fds follow the sync socket (fd 4, ...)
	NS []string `json:"ns,omitempty"`
	// config, exec: the v1 cgroup tasks files the process moves its
	// thread into
	Tasks []string `json:"tasks,omitempty"`
	// error
	Step  string `json:"step,omitempty"`
	Error string `json:"error,omitempty"`
	Kind  string `json:"kind,omitempty"`
}

// initError is an error reported by init, naming the step that failed.
type initError struct {
	Step string
	Msg  string
	Kind string
}

func (e *initError) Error() string {
	if e.Kind != "" || strings.HasPrefix(e.Msg, "exec: ") {
		// Exec errors read as Docker's: `exec: "x": executable file not found in $PATH`.
		return e.Msg
	}
	return e.Step + ": " + e.Msg
}

func (e *initError) Unwrap() error {
	switch e.Kind {
	case kindNotFound:
		return runtime.ErrExecNotFound
	case kindPermission:
		return runtime.ErrExecPermission
	}
	return nil
}

// send writes one message, with fds attached as SCM_RIGHTS.
func send(fd int, m *message, fds ...int) error {
	b, err := json.Marshal(m)
	if err != nil {
		return err
	}
	if len(b) > 64<<10 {
		// A packet must fit the send buffer whole (a spec with a large
		// environment can outgrow the default ~200 KiB); root may force it.
		unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_SNDBUFFORCE, 2*len(b)+4096)
	}
	var oob []byte
	if len(fds) > 0 {
		oob = unix.UnixRights(fds...)
	}
	for {
		err = unix.Sendmsg(fd, b, oob, nil, unix.MSG_NOSIGNAL)
		if err != unix.EINTR {
			break
		}
	}
	if err != nil {
		return fmt.Errorf("send %s message: %w", m.Type, err)
	}
	return nil
}

// recv reads one message and the fds attached to it. io.EOF means the
// other end is closed (for the parent after "start": the execve happened).
func recv(fd int) (*message, []int, error) {
	// Peek with MSG_TRUNC to learn the packet's size, then read it whole.
	var n int
	var err error
	for {
		n, _, err = unix.Recvfrom(fd, nil, unix.MSG_PEEK|unix.MSG_TRUNC)
		if err != unix.EINTR {
			break
		}
	}
	if err != nil {
		return nil, nil, fmt.Errorf("receive message: %w", err)
	}
	if n == 0 {
		return nil, nil, io.EOF
	}
	buf := make([]byte, n)
	oob := make([]byte, unix.CmsgSpace(4*4))
	var oobn int
	for {
		n, oobn, _, _, err = unix.Recvmsg(fd, buf, oob, unix.MSG_CMSG_CLOEXEC)
		if err != unix.EINTR {
			break
		}
	}
	if err != nil {
		return nil, nil, fmt.Errorf("receive message: %w", err)
	}
	var fds []int
	if oobn > 0 {
		scms, err := unix.ParseSocketControlMessage(oob[:oobn])
		if err != nil {
			return nil, nil, fmt.Errorf("parse control message: %w", err)
		}
		for _, scm := range scms {
			got, err := unix.ParseUnixRights(&scm)
			if err == nil {
				fds = append(fds, got...)
			}
		}
	}
	var m message
	if err := json.Unmarshal(buf[:n], &m); err != nil {
		closeAll(fds)
		return nil, nil, fmt.Errorf("decode message: %w", err)
	}
	return &m, fds, nil
}

func closeAll(fds []int) {
	for _, fd := range fds {
		unix.Close(fd)
	}
}

// expect reads the next message and checks its type; an error message
// becomes an *initError, EOF an error saying init exited.
func expect(fd int, typ string) (*message, []int, error) {
	m, fds, err := recv(fd)
	if errors.Is(err, io.EOF) || errors.Is(err, unix.ECONNRESET) {
		// ECONNRESET: it died with our message unread.
		return nil, nil, fmt.Errorf("container init exited before %q", typ)
	}
	if err != nil {
		return nil, nil, err
	}
	if m.Type == msgError {
		closeAll(fds)
		return nil, nil, &initError{Step: m.Step, Msg: m.Error, Kind: m.Kind}
	}
	if m.Type != typ {
		closeAll(fds)
		return nil, nil, fmt.Errorf("container init: got %q message, want %q", m.Type, typ)
	}
	return m, fds, nil
}
