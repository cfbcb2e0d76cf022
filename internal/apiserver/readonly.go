package apiserver

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"net"
	"net/http"
	"strings"
)

// Read-only listeners (--api-read-only-listener; Docker has no such
// thing) serve dashboards and monitors: only GET and HEAD requests pass,
// and of those not the websocket attach (GET .../attach/ws writes to the
// container's stdin). Everything else gets 403 with a message naming the
// listener's mode. The listener is marked at accept time, under TLS, so
// the mark holds whatever the request says.

type readOnlyKey struct{}

// readOnlyListener marks every accepted connection read-only.
type readOnlyListener struct{ net.Listener }

type readOnlyConn struct{ net.Conn }

func (l readOnlyListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return readOnlyConn{c}, nil
}

// ListenReadOnly opens read-only listeners for addrs (unix:// or tcp://,
// TLS as for the -H listeners).
func (s *Server) ListenReadOnly(addrs ...string) (_ []net.Listener, err error) {
	var ls []net.Listener
	defer func() {
		if err != nil {
			for _, l := range ls {
				l.Close()
			}
		}
	}()
	for _, a := range addrs {
		l, err := Listen(a, nil)
		if err != nil {
			return nil, err
		}
		l = readOnlyListener{l}
		if s.cfg.TLSConfig != nil && strings.HasPrefix(a, "tcp://") {
			l = tls.NewListener(l, s.cfg.TLSConfig)
		}
		ls = append(ls, l)
	}
	return ls, nil
}

// connContext records in the connection's context whether it came from a
// read-only listener.
func connContext(ctx context.Context, c net.Conn) context.Context {
	if tc, ok := c.(*tls.Conn); ok {
		c = tc.NetConn()
	}
	if _, ok := c.(readOnlyConn); ok {
		return context.WithValue(ctx, readOnlyKey{}, true)
	}
	return ctx
}

// readOnlyFilter refuses what a read-only connection may not do.
func readOnlyFilter(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if ro, _ := r.Context().Value(readOnlyKey{}).(bool); ro {
			allowed := r.Method == http.MethodGet || r.Method == http.MethodHead
			if allowed && strings.HasSuffix(strings.TrimSuffix(r.URL.Path, "/"), "/attach/ws") {
				allowed = false
			}
			if !allowed {
				w.Header().Set("Content-Type", "application/json")
				w.Header().Set("Api-Version", APIVersion)
				w.WriteHeader(http.StatusForbidden)
				json.NewEncoder(w).Encode(map[string]string{"message": "this API listener is read-only: only GET and HEAD requests are allowed (" + r.Method + " " + r.URL.Path + " refused)"})
				return
			}
		}
		next.ServeHTTP(w, r)
	})
}
