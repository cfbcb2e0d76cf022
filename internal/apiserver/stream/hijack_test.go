package stream

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// Bytes the client sends right behind the request head (already buffered
// by the server) come first; the client's half-close reads as EOF without
// cancelling the request context; output still reaches the client after.
func TestHijackHalfClose(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Api-Version", "1.51")
		c, err := Hijack(w, r, HijackContentType(false, true))
		if err != nil {
			t.Error(err)
			return
		}
		defer c.Close()
		in, err := io.ReadAll(c)
		if err != nil {
			t.Error(err)
		}
		io.WriteString(c, "got "+string(in)+" ctx="+errString(r.Context().Err()))
		c.CloseWrite()
	}))
	defer srv.Close()

	for _, upgrade := range []bool{true, false} {
		conn, err := net.Dial("tcp", strings.TrimPrefix(srv.URL, "http://"))
		if err != nil {
			t.Fatal(err)
		}
		conn.SetDeadline(time.Now().Add(5 * time.Second))
		head := "POST /attach HTTP/1.1\r\nHost: x\r\n"
		if upgrade {
			head += "Connection: Upgrade\r\nUpgrade: tcp\r\n"
		}
		// The stdin bytes travel in the same write as the request head.
		io.WriteString(conn, head+"\r\nearly-")
		time.Sleep(50 * time.Millisecond)
		io.WriteString(conn, "late")
		conn.(*net.TCPConn).CloseWrite()
		br := bufio.NewReader(conn)
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatal(err)
		}
		wantStatus := 200
		if upgrade {
			wantStatus = 101
			if resp.Header.Get("Upgrade") != "tcp" || resp.Header.Get("Connection") != "Upgrade" {
				t.Errorf("upgrade headers %v", resp.Header)
			}
		}
		if resp.StatusCode != wantStatus || resp.Header.Get("Content-Type") != "application/vnd.docker.multiplexed-stream" || resp.Header.Get("Api-Version") != "1.51" {
			t.Errorf("upgrade=%v: %s %v", upgrade, resp.Status, resp.Header)
		}
		out, _ := io.ReadAll(br)
		if string(out) != "got early-late ctx=<nil>" {
			t.Errorf("upgrade=%v: output %q", upgrade, out)
		}
		conn.Close()
	}
}

func errString(err error) string {
	if err == nil {
		return "<nil>"
	}
	return err.Error()
}
