package monitor

import (
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	goruntime "runtime"
	"strconv"
	"strings"
	"sync"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// exitWatch learns the exit statuses of processes the monitor is not the
// parent of: the inits it adopted after a restart. The kernel's taskstats
// interface (generic netlink family "TASKSTATS"), once a listener has
// registered for a set of CPUs, sends a record of every task that exits on
// them, exit code included, from do_exit before the exit is signalled to
// the parent or through a pidfd; so by the time an adopted init's pidfd
// turns readable its record is on the socket (or being read). Registering
// needs CAP_NET_ADMIN and the initial user, pid and network namespaces (the
// family is not per network namespace; a monitor in another one makes the
// socket from a thread that joined init's): elsewhere newExitWatch fails
// and adopted exits stay unknown (UnknownExitCode). The socket receives every
// exit on the host, so it is open only while adopted inits run. Records
// lost to a full socket buffer (ENOBUFS) leave those exits unknown too.
type exitWatch struct {
	f *os.File

	mu   sync.Mutex
	pids map[int]chan int // watched pid -> its exit code, once seen
	lost bool             // a record may have been dropped
}

// exitCodeOffset is where ac_exitcode sits in struct taskstats.
var exitCodeOffset = int(unsafe.Offsetof(unix.Taskstats{}.Ac_exitcode))

func newExitWatch() (*exitWatch, error) {
	var fd int
	var family uint16
	var err error
	if ns := initNetNS(); ns != "" {
		// A monitor in a network namespace of its own (a daemon run so):
		// the kernel sends exit records only to listeners in the initial
		// one, where a socket can be made from a thread that joined it.
		fd, family, err = taskstatsSocketIn(ns)
	} else {
		fd, family, err = taskstatsSocket()
	}
	if err != nil {
		return nil, err
	}
	ok := false
	defer func() {
		if !ok {
			unix.Close(fd)
		}
	}()
	w := &exitWatch{pids: map[int]chan int{}}
	cpus := "0-" + strconv.Itoa(goruntime.NumCPU()-1)
	if b, err := os.ReadFile("/sys/devices/system/cpu/possible"); err == nil {
		cpus = strings.TrimSpace(string(b))
	}
	req := genlRequest(family, unix.NLM_F_REQUEST|unix.NLM_F_ACK, unix.TASKSTATS_CMD_GET, unix.TASKSTATS_GENL_VERSION,
		unix.TASKSTATS_CMD_ATTR_REGISTER_CPUMASK, append([]byte(cpus), 0))
	if err := unix.Sendto(fd, req, 0, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
		return nil, fmt.Errorf("taskstats: register: %w", err)
	}
	// The ack; exit records may come first.
	buf := make([]byte, 64<<10)
	for acked := false; !acked; {
		n, _, err := unix.Recvfrom(fd, buf, 0)
		if err != nil {
			return nil, fmt.Errorf("taskstats: register: %w", err)
		}
		for _, m := range splitNetlink(buf[:n]) {
			if m.typ == unix.NLMSG_ERROR {
				if e := nlError(m.data); e != 0 {
					return nil, fmt.Errorf("taskstats: register cpus %s: %w", cpus, e)
				}
				acked = true
			}
		}
	}
	if err := unix.SetNonblock(fd, true); err != nil {
		return nil, fmt.Errorf("taskstats: %w", err)
	}
	w.f = os.NewFile(uintptr(fd), "taskstats")
	ok = true
	go w.read()
	return w, nil
}

// taskstatsSocket opens a generic netlink socket and resolves the
// TASKSTATS family on it (ENOENT: not in this network namespace).
func taskstatsSocket() (fd int, family uint16, err error) {
	fd, err = unix.Socket(unix.AF_NETLINK, unix.SOCK_RAW|unix.SOCK_CLOEXEC, unix.NETLINK_GENERIC)
	if err != nil {
		return -1, 0, fmt.Errorf("taskstats: socket: %w", err)
	}
	if err := unix.Bind(fd, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
		unix.Close(fd)
		return -1, 0, fmt.Errorf("taskstats: bind: %w", err)
	}
	// Every exit on the host lands here; room for bursts.
	unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, 8<<20)
	unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &unix.Timeval{Sec: 2})
	if family, err = genlFamily(fd, unix.TASKSTATS_GENL_NAME); err != nil {
		unix.Close(fd)
		return -1, 0, err
	}
	return fd, family, nil
}

// initNetNS is the path of the initial network namespace when it is not
// this process's, else "". Kernel threads live in it: kthreadd (pid 2)
// where the pid namespace is the initial one, else init's.
func initNetNS() string {
	path := "/proc/1/ns/net"
	if b, err := os.ReadFile("/proc/2/comm"); err == nil && strings.TrimSpace(string(b)) == "kthreadd" {
		path = "/proc/2/ns/net"
	}
	var theirs, ours unix.Stat_t
	if unix.Stat(path, &theirs) != nil || unix.Stat("/proc/self/ns/net", &ours) != nil ||
		theirs.Ino == ours.Ino && theirs.Dev == ours.Dev {
		return ""
	}
	return path
}

// taskstatsSocketIn is taskstatsSocket in the network namespace at path,
// made on a thread that joins it and is thrown away after (a socket
// stays in the namespace it was made in).
func taskstatsSocketIn(path string) (fd int, family uint16, err error) {
	type result struct {
		fd     int
		family uint16
		err    error
	}
	ch := make(chan result, 1)
	go func() {
		goruntime.LockOSThread() // never unlocked: the thread dies with us
		ns, err := unix.Open(path, unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err == nil {
			err = unix.Setns(ns, unix.CLONE_NEWNET)
			unix.Close(ns)
		}
		if err != nil {
			ch <- result{-1, 0, fmt.Errorf("taskstats: join %s: %w", path, err)}
			return
		}
		fd, family, err := taskstatsSocket()
		ch <- result{fd, family, err}
	}()
	r := <-ch
	return r.fd, r.family, r.err
}

// watch starts collecting pid's exit.
func (w *exitWatch) watch(pid int) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.pids[pid] == nil {
		w.pids[pid] = make(chan int, 1)
	}
}

// code returns pid's exit status (an Exit.Code), waiting up to d for its
// record, and stops watching pid. ok is false when it never came; lost
// then says whether records were dropped meanwhile.
func (w *exitWatch) code(pid int, d time.Duration) (code int, ok, lost bool) {
	w.mu.Lock()
	ch := w.pids[pid]
	w.mu.Unlock()
	if ch != nil {
		t := time.NewTimer(d)
		select {
		case code, ok = <-ch:
		case <-t.C:
		}
		t.Stop()
	}
	w.mu.Lock()
	delete(w.pids, pid)
	lost = w.lost
	w.mu.Unlock()
	return code, ok, lost
}

// stop closes the socket (no more records of the host's exits).
func (w *exitWatch) stop() { w.f.Close() }

func (w *exitWatch) read() {
	rc, err := w.f.SyscallConn()
	if err != nil {
		return
	}
	buf := make([]byte, 64<<10)
	for {
		var n int
		var rerr error
		err := rc.Read(func(fd uintptr) bool {
			n, _, rerr = unix.Recvfrom(int(fd), buf, unix.MSG_DONTWAIT)
			return rerr != unix.EAGAIN
		})
		if err != nil {
			return // closed
		}
		if errors.Is(rerr, unix.ENOBUFS) {
			w.mu.Lock()
			w.lost = true
			w.mu.Unlock()
			continue
		}
		if rerr != nil {
			continue
		}
		for _, m := range splitNetlink(buf[:n]) {
			if pid, code, ok := parseExitRecord(m); ok {
				w.mu.Lock()
				if ch := w.pids[pid]; ch != nil {
					select {
					case ch <- code:
					default:
					}
				}
				w.mu.Unlock()
			}
		}
	}
}

// parseExitRecord reads a TASKSTATS_CMD_NEW message: the pid (as the
// initial pid namespace numbers it) and exit status of one exited task.
func parseExitRecord(m netlinkMsg) (pid, code int, ok bool) {
	if m.typ < unix.NLMSG_MIN_TYPE || len(m.data) < unix.GENL_HDRLEN || m.data[0] != unix.TASKSTATS_CMD_NEW {
		return 0, 0, false
	}
	for _, a := range splitAttrs(m.data[unix.GENL_HDRLEN:]) {
		if a.typ != unix.TASKSTATS_TYPE_AGGR_PID {
			continue
		}
		var stats []byte
		for _, in := range splitAttrs(a.data) {
			switch in.typ {
			case unix.TASKSTATS_TYPE_PID:
				if len(in.data) >= 4 {
					pid = int(binary.NativeEndian.Uint32(in.data))
				}
			case unix.TASKSTATS_TYPE_STATS:
				stats = in.data
			}
		}
		if pid == 0 || len(stats) < exitCodeOffset+4 {
			return 0, 0, false
		}
		return pid, exitStatus(binary.NativeEndian.Uint32(stats[exitCodeOffset:])), true
	}
	return 0, 0, false
}

// exitStatus turns a task's exit_code (a wait status) into Docker's exit
// code: the status, or 128+signal.
func exitStatus(raw uint32) int {
	ws := unix.WaitStatus(raw)
	switch {
	case ws.Exited():
		return ws.ExitStatus()
	case ws.Signaled():
		return 128 + int(ws.Signal())
	}
	return UnknownExitCode
}

type netlinkMsg struct {
	typ  uint16
	data []byte // after the nlmsghdr
}

func splitNetlink(b []byte) []netlinkMsg {
	var out []netlinkMsg
	for len(b) >= unix.NLMSG_HDRLEN {
		l := int(binary.NativeEndian.Uint32(b))
		if l < unix.NLMSG_HDRLEN || l > len(b) {
			break
		}
		out = append(out, netlinkMsg{typ: binary.NativeEndian.Uint16(b[4:]), data: b[unix.NLMSG_HDRLEN:l]})
		b = b[min(nlAlign(l), len(b)):]
	}
	return out
}

type netlinkAttr struct {
	typ  uint16
	data []byte
}

func splitAttrs(b []byte) []netlinkAttr {
	var out []netlinkAttr
	for len(b) >= unix.SizeofNlAttr {
		l := int(binary.NativeEndian.Uint16(b))
		if l < unix.SizeofNlAttr || l > len(b) {
			break
		}
		out = append(out, netlinkAttr{typ: binary.NativeEndian.Uint16(b[2:]) & nlaTypeMask, data: b[unix.SizeofNlAttr:l]})
		b = b[min(nlAlign(l), len(b)):]
	}
	return out
}

func nlAlign(n int) int { return (n + unix.NLMSG_ALIGNTO - 1) &^ (unix.NLMSG_ALIGNTO - 1) }

// nlError is the errno of an NLMSG_ERROR payload (0: an ack).
func nlError(b []byte) unix.Errno {
	if len(b) < 4 {
		return unix.EINVAL
	}
	return unix.Errno(-int32(binary.NativeEndian.Uint32(b)))
}

// genlRequest is one generic netlink request with one attribute.
func genlRequest(family, flags uint16, cmd, version uint8, attr uint16, val []byte) []byte {
	alen := unix.SizeofNlAttr + len(val)
	total := unix.NLMSG_HDRLEN + unix.GENL_HDRLEN + nlAlign(alen)
	b := make([]byte, total)
	binary.NativeEndian.PutUint32(b[0:], uint32(total))
	binary.NativeEndian.PutUint16(b[4:], family)
	binary.NativeEndian.PutUint16(b[6:], flags)
	binary.NativeEndian.PutUint32(b[8:], 1) // seq
	b[unix.NLMSG_HDRLEN] = cmd
	b[unix.NLMSG_HDRLEN+1] = version
	a := b[unix.NLMSG_HDRLEN+unix.GENL_HDRLEN:]
	binary.NativeEndian.PutUint16(a[0:], uint16(alen))
	binary.NativeEndian.PutUint16(a[2:], attr)
	copy(a[unix.SizeofNlAttr:], val)
	return b
}

// genlFamily resolves a generic netlink family's id by name.
func genlFamily(fd int, name string) (uint16, error) {
	req := genlRequest(unix.GENL_ID_CTRL, unix.NLM_F_REQUEST, unix.CTRL_CMD_GETFAMILY, 1, unix.CTRL_ATTR_FAMILY_NAME, append([]byte(name), 0))
	if err := unix.Sendto(fd, req, 0, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
		return 0, fmt.Errorf("taskstats: resolve family: %w", err)
	}
	buf := make([]byte, 16<<10)
	for {
		n, _, err := unix.Recvfrom(fd, buf, 0)
		if err != nil {
			return 0, fmt.Errorf("taskstats: resolve family: %w", err)
		}
		for _, m := range splitNetlink(buf[:n]) {
			switch {
			case m.typ == unix.NLMSG_ERROR:
				if e := nlError(m.data); e != 0 {
					return 0, fmt.Errorf("taskstats: resolve family %s: %w", name, e)
				}
			case m.typ == unix.GENL_ID_CTRL && len(m.data) >= unix.GENL_HDRLEN:
				for _, a := range splitAttrs(m.data[unix.GENL_HDRLEN:]) {
					if a.typ == unix.CTRL_ATTR_FAMILY_ID && len(a.data) >= 2 {
						return binary.NativeEndian.Uint16(a.data), nil
					}
				}
			}
		}
	}
}

// nlaTypeMask strips NLA_F_NESTED and NLA_F_NET_BYTEORDER from a type.
const nlaTypeMask = 0x3fff
