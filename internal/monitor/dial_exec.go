package monitor

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/berth-dev/berth/internal/errdefs"
)

var _ ExecClient = (*client)(nil)

func execPath(id, execID, verb string) string {
	return pathFor(id, "execs") + "/" + url.PathEscape(execID) + "/" + verb
}

// Exec implements ExecClient. A detached exec is a plain request; an
// attached one is upgraded like Attach, its head read byte by byte so no
// output is buffered away from the caller.
func (c *client) Exec(ctx context.Context, id string, req ExecRequest) (int, net.Conn, error) {
	if req.Attach == nil {
		var out struct{ Pid int }
		if err := c.do(ctx, http.MethodPost, pathFor(id, "exec"), req, &out); err != nil {
			return 0, nil, err
		}
		return out.Pid, nil, nil
	}
	body, err := json.Marshal(req)
	if err != nil {
		return 0, nil, err
	}
	var d net.Dialer
	conn, err := d.DialContext(ctx, "unix", c.sock)
	if err != nil {
		return 0, nil, errdefs.Unavailablef("monitor: exec in %s: %v", id, err)
	}
	stop := context.AfterFunc(ctx, func() { conn.SetDeadline(time.Unix(1, 0)) })
	ok := false
	defer func() {
		if !ok {
			stop()
			conn.Close()
		}
	}()
	head := "POST " + pathFor(id, "exec") + " HTTP/1.1\r\nHost: monitor\r\nConnection: Upgrade\r\nUpgrade: tcp\r\nContent-Type: application/json\r\nContent-Length: " + strconv.Itoa(len(body)) + "\r\n\r\n"
	if _, err := conn.Write(append([]byte(head), body...)); err != nil {
		return 0, nil, attachErr(ctx, id, err)
	}
	resp, err := readHead(conn)
	if err != nil {
		return 0, nil, attachErr(ctx, id, err)
	}
	if resp.StatusCode != http.StatusSwitchingProtocols {
		n := resp.ContentLength
		if n < 0 || n > 64*1024 {
			n = 64 * 1024
		}
		resp.Body = io.NopCloser(io.LimitReader(conn, n))
		return 0, nil, decodeError(resp)
	}
	pid, err := strconv.Atoi(resp.Header.Get(execPidHeader))
	if err != nil {
		return 0, nil, fmt.Errorf("monitor: exec in %s: bad %s header: %v", id, execPidHeader, err)
	}
	if !stop() {
		return 0, nil, ctx.Err()
	}
	ok = true
	return pid, conn, nil
}

// readHead reads an HTTP response head, and nothing after it.
func readHead(conn net.Conn) (*http.Response, error) {
	head := make([]byte, 0, 256)
	one := make([]byte, 1)
	for !bytes.HasSuffix(head, []byte("\r\n\r\n")) {
		if len(head) > 16*1024 {
			return nil, fmt.Errorf("response head too long")
		}
		if _, err := io.ReadFull(conn, one); err != nil {
			return nil, err
		}
		head = append(head, one[0])
	}
	return http.ReadResponse(bufio.NewReader(bytes.NewReader(head)), nil)
}

// ExecResize implements ExecClient.
func (c *client) ExecResize(ctx context.Context, id, execID string, height, width uint) error {
	q := url.Values{"h": {strconv.FormatUint(uint64(height), 10)}, "w": {strconv.FormatUint(uint64(width), 10)}}
	return c.do(ctx, http.MethodPost, execPath(id, execID, "resize")+"?"+q.Encode(), nil, nil)
}

// ExecWait implements ExecClient.
func (c *client) ExecWait(ctx context.Context, id, execID string) (Exit, error) {
	var ex Exit
	err := c.do(ctx, http.MethodPost, execPath(id, execID, "wait"), nil, &ex)
	return ex, err
}
