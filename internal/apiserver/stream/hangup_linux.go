package stream

import (
	"errors"
	"net"
	"syscall"

	"golang.org/x/sys/unix"
)

// WatchHangup calls hangup when the client has closed the connection
// entirely. A half-close (the client's stdin ended) is not a hangup. Only
// unix sockets tell the two apart (a TCP FIN looks the same either way),
// so on other transports it returns at once and a vanished client shows
// up as a write error instead. It returns when the connection is closed.
// Like dockerd's notifyClosed, it blocks a thread in epoll_wait.
func (c *Conn) WatchHangup(hangup func()) {
	uc, ok := c.Conn.(*net.UnixConn)
	if !ok {
		return
	}
	rc, err := uc.SyscallConn()
	if err != nil {
		return
	}
	epfd, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		return
	}
	defer unix.Close(epfd)
	hung := false
	_ = rc.Control(func(fd uintptr) {
		ev := unix.EpollEvent{Events: unix.EPOLLHUP, Fd: int32(fd)}
		if unix.EpollCtl(epfd, unix.EPOLL_CTL_ADD, int(fd), &ev) != nil {
			return
		}
		events := make([]unix.EpollEvent, 1)
		for {
			_, err := unix.EpollWait(epfd, events, -1)
			if errors.Is(err, syscall.EINTR) {
				continue
			}
			hung = err == nil
			return
		}
	})
	if hung && !c.closedByUs() {
		hangup()
	}
}

// shutdownBoth ends both directions before the fd is closed, which also
// wakes WatchHangup (the fd itself outlives Close while it waits).
func (c *Conn) shutdownBoth() {
	if uc, ok := c.Conn.(*net.UnixConn); ok {
		_ = uc.CloseRead()
		_ = uc.CloseWrite()
	}
}
