package stream

import (
	"bufio"
	"net"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"
)

// TestHijackDeferredWaitsForReady: the client must not see the 101 before
// the handler says the attach is ready (it would start the container and
// lose its first output).
func TestHijackDeferredWaitsForReady(t *testing.T) {
	ready := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, writeHeader, err := HijackDeferred(w, r, "application/vnd.docker.raw-stream")
		if err != nil {
			t.Error(err)
			return
		}
		defer c.Close()
		<-ready
		if err := writeHeader(); err != nil {
			t.Error(err)
		}
		if err := writeHeader(); err != nil { // idempotent
			t.Error(err)
		}
		c.Write([]byte("out"))
	}))
	defer srv.Close()
	conn, err := net.Dial("tcp", srv.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.Write([]byte("POST /attach HTTP/1.1\r\nHost: x\r\nUpgrade: tcp\r\nConnection: Upgrade\r\n\r\n"))
	br := bufio.NewReader(conn)
	conn.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
	if _, err := br.ReadByte(); err == nil {
		t.Fatal("response sent before ready")
	}
	conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	close(ready)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusSwitchingProtocols {
		t.Fatalf("status %d", resp.StatusCode)
	}
	b := make([]byte, 3)
	if _, err := br.Read(b); err != nil || string(b) != "out" {
		t.Fatalf("body %q %v", b, err)
	}
}
