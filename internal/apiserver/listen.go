package apiserver

import (
	"crypto/tls"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/berth-dev/berth/internal/errdefs"
)

// SocketGroup owns the unix socket when it exists on the host (else root).
const SocketGroup = "berth"

// Listen opens the listener for one -H address:
//
//	unix:///run/berth.sock   a stale socket file is removed; mode 0660,
//	                         group SocketGroup if it exists, else root
//	tcp://host:port          TLS when tlsConfig is non-nil, else plain
func Listen(addr string, tlsConfig *tls.Config) (net.Listener, error) {
	proto, rest, ok := strings.Cut(addr, "://")
	if !ok {
		return nil, errdefs.InvalidArgumentf("listen %s: invalid address: want unix:///path or tcp://host:port", addr)
	}
	switch proto {
	case "unix":
		return listenUnix(rest)
	case "tcp":
		if _, _, err := net.SplitHostPort(rest); err != nil {
			return nil, errdefs.InvalidArgumentf("listen %s: %v", addr, err)
		}
		l, err := net.Listen("tcp", rest)
		if err != nil {
			return nil, fmt.Errorf("listen %s: %w", addr, err)
		}
		if tlsConfig != nil {
			l = tls.NewListener(l, tlsConfig)
		}
		return l, nil
	}
	return nil, errdefs.InvalidArgumentf("listen %s: unsupported protocol %q", addr, proto)
}

func listenUnix(path string) (net.Listener, error) {
	if path == "" || !filepath.IsAbs(path) {
		return nil, errdefs.InvalidArgumentf("listen unix://%s: socket path must be absolute", path)
	}
	if fi, err := os.Lstat(path); err == nil {
		if fi.Mode().Type() != fs.ModeSocket {
			return nil, errdefs.Conflictf("listen unix://%s: exists and is not a socket", path)
		}
		if c, err := net.Dial("unix", path); err == nil {
			c.Close()
			return nil, errdefs.Conflictf("listen unix://%s: another daemon is serving this socket", path)
		}
		if err := os.Remove(path); err != nil {
			return nil, fmt.Errorf("remove stale socket %s: %w", path, err)
		}
	} else if !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("stat %s: %w", path, err)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, fmt.Errorf("create socket dir: %w", err)
	}
	l, err := net.Listen("unix", path)
	if err != nil {
		return nil, fmt.Errorf("listen unix://%s: %w", path, err)
	}
	gid := 0
	if g, err := user.LookupGroup(SocketGroup); err == nil {
		if n, err := strconv.Atoi(g.Gid); err == nil {
			gid = n
		}
	}
	if err := os.Chown(path, 0, gid); err != nil && os.Geteuid() == 0 {
		l.Close()
		return nil, fmt.Errorf("chown %s: %w", path, err)
	}
	if err := os.Chmod(path, 0o660); err != nil {
		l.Close()
		return nil, fmt.Errorf("chmod %s: %w", path, err)
	}
	return l, nil
}

// ListenAll opens a listener for every -H address; on failure the ones
// already opened are closed again.
func ListenAll(addrs []string, tlsConfig *tls.Config) (_ []net.Listener, err error) {
	var ls []net.Listener
	defer func() {
		if err != nil {
			for _, l := range ls {
				l.Close()
			}
		}
	}()
	for _, a := range addrs {
		l, err := Listen(a, tlsConfig)
		if err != nil {
			return nil, err
		}
		ls = append(ls, l)
	}
	return ls, nil
}
