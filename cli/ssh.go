package cli

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/url"
	"os/exec"
	"sync"
	"syscall"
	"time"

	"github.com/moby/moby/client"
)

// sshClientOptions reaches a daemon through ssh://[user@]host[:port]: every
// API connection runs `ssh [-l user] [-p port] -- host berth system
// dial-stdio` and talks HTTP over its stdin/stdout, as the docker CLI
// does with `docker system dial-stdio`. ssh's own configuration
// (~/.ssh/config, agent, known hosts) applies.
func sshClientOptions(host string) ([]client.Opt, error) {
	args, err := sshArgs(host)
	if err != nil {
		return nil, err
	}
	dial := func(ctx context.Context, _, _ string) (net.Conn, error) {
		return newCommandConn(ctx, "ssh", args...)
	}
	return []client.Opt{client.WithHost("http://berth.example.com"), client.WithDialContext(dial)}, nil
}

// sshArgs builds ssh's arguments for an ssh:// host.
func sshArgs(host string) ([]string, error) {
	u, err := url.Parse(host)
	if err != nil {
		return nil, fmt.Errorf("invalid ssh host %q: %w", host, err)
	}
	if u.Scheme != "ssh" || u.Hostname() == "" {
		return nil, fmt.Errorf("invalid ssh host %q: want ssh://[user@]host[:port]", host)
	}
	if (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "" {
		return nil, fmt.Errorf("invalid ssh host %q: extra path, query or fragment", host)
	}
	if _, hasPass := u.User.Password(); hasPass {
		return nil, fmt.Errorf("invalid ssh host %q: a password in the URL is not supported (use keys or an agent)", host)
	}
	var args []string
	if name := u.User.Username(); name != "" {
		args = append(args, "-l", name)
	}
	if p := u.Port(); p != "" {
		args = append(args, "-p", p)
	}
	args = append(args, "-o", "ConnectTimeout=30", "-T", "--", u.Hostname(), "berth", "system", "dial-stdio")
	return args, nil
}

// commandConn is a net.Conn over a command's stdin and stdout.
type commandConn struct {
	cmd    *exec.Cmd
	stdin  io.WriteCloser
	stdout io.ReadCloser
	stderr *limitedBuffer

	closeOnce sync.Once
	readAny   bool
}

func newCommandConn(ctx context.Context, name string, args ...string) (net.Conn, error) {
	// Not CommandContext: the connection outlives the dial's context.
	cmd := exec.Command(name, args...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true} // a ^C on the CLI is not ssh's
	c := &commandConn{cmd: cmd, stderr: &limitedBuffer{max: 4096}}
	cmd.Stderr = c.stderr
	var err error
	if c.stdin, err = cmd.StdinPipe(); err != nil {
		return nil, err
	}
	if c.stdout, err = cmd.StdoutPipe(); err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("run %s: %w", name, err)
	}
	if ctx.Err() != nil {
		c.Close()
		return nil, ctx.Err()
	}
	return c, nil
}

func (c *commandConn) Read(p []byte) (int, error) {
	n, err := c.stdout.Read(p)
	if n > 0 {
		c.readAny = true
	}
	if err == io.EOF && !c.readAny {
		c.cmd.Wait()
		msg := bytes.TrimSpace(c.stderr.Bytes())
		return n, fmt.Errorf("connection to %s closed: %s (%v)", c.cmd.Args[len(c.cmd.Args)-4], msg, c.cmd.ProcessState)
	}
	return n, err
}

func (c *commandConn) Write(p []byte) (int, error) { return c.stdin.Write(p) }

// CloseWrite half-closes the connection (hijacked attach streams).
func (c *commandConn) CloseWrite() error { return c.stdin.Close() }

func (c *commandConn) Close() error {
	c.closeOnce.Do(func() {
		c.stdin.Close()
		if c.cmd.Process != nil {
			c.cmd.Process.Kill()
		}
		c.cmd.Wait()
	})
	return nil
}

type dummyAddr struct{}

func (dummyAddr) Network() string { return "ssh" }
func (dummyAddr) String() string  { return "ssh" }

func (c *commandConn) LocalAddr() net.Addr                { return dummyAddr{} }
func (c *commandConn) RemoteAddr() net.Addr               { return dummyAddr{} }
func (c *commandConn) SetDeadline(t time.Time) error      { return nil }
func (c *commandConn) SetReadDeadline(t time.Time) error  { return nil }
func (c *commandConn) SetWriteDeadline(t time.Time) error { return nil }

// limitedBuffer keeps the first max bytes written to it.
type limitedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
	max int
}

func (b *limitedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if room := b.max - b.buf.Len(); room > 0 {
		b.buf.Write(p[:min(len(p), room)])
	}
	return len(p), nil
}

func (b *limitedBuffer) Bytes() []byte {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]byte(nil), b.buf.Bytes()...)
}
