package builder

import (
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/berth-dev/berth/internal/errdefs"
)

func TestAddURL(t *testing.T) {
	h := newHarness(t)
	mod := time.Date(2020, 1, 2, 3, 4, 5, 0, time.UTC)
	body := "remote content"
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/files/remote.txt":
			w.Header().Set("Last-Modified", mod.Format(http.TimeFormat))
			w.Write([]byte(body))
		case "/dl/":
			w.Header().Set("Content-Disposition", `attachment; filename="named.bin"`)
			w.Write([]byte("named"))
		default:
			http.NotFound(w, r)
		}
	}))
	defer srv.Close()

	files := df("FROM busybox", "ADD "+srv.URL+"/files/remote.txt /dl/", "ADD "+srv.URL+"/dl/ /named/")
	img, out, err := h.build(files, Options{})
	skipIfCopyMissing(t, err)
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	root := h.be.get(img.ID).root
	p := filepath.Join(root, "dl/remote.txt")
	b, err := os.ReadFile(p)
	if err != nil || string(b) != body {
		t.Fatalf("downloaded file: %q %v", b, err)
	}
	if fi, _ := os.Stat(p); fi.Mode().Perm() != 0o600 || !fi.ModTime().Equal(mod) {
		t.Errorf("downloaded file mode %v mtime %v", fi.Mode(), fi.ModTime())
	}
	if _, err := os.Stat(filepath.Join(root, "named/named.bin")); err != nil {
		t.Errorf("Content-Disposition name: %v", err)
	}
	// same content again: cache hit; changed content: miss
	_, out = h.mustBuild(files, Options{})
	if c := strings.Count(out, "Using cache"); c != 2 {
		t.Errorf("unchanged URL: %d hits\n%s", c, out)
	}
	body = "changed"
	_, out = h.mustBuild(files, Options{})
	if strings.Contains(out, "Using cache") {
		t.Errorf("changed URL content hit the cache\n%s", out)
	}
}

func TestAddURLErrors(t *testing.T) {
	h := newHarness(t)
	srv := httptest.NewServer(http.NotFoundHandler())
	defer srv.Close()
	_, _, err := h.build(df("FROM busybox", "ADD "+srv.URL+"/missing /x"), Options{})
	if err == nil || !strings.Contains(err.Error(), "ADD failed: failed to GET "+srv.URL+"/missing with status 404 Not Found") {
		t.Errorf("404: %v", err)
	}
	// a port nothing listens on: the offline case
	l := srv.Listener.Addr().String()
	srv.Close()
	_, _, err = h.build(df("FROM busybox", "ADD http://"+l+"/x /x"), Options{})
	if err == nil || !strings.HasPrefix(err.Error(), `ADD failed: Get "http://`+l+`/x": dial tcp`) || !errdefs.Is(err, errdefs.InvalidArgument) {
		t.Errorf("offline: %v", err)
	}
	_, _, err = h.build(df("FROM busybox", "COPY http://"+l+"/x /x"), Options{})
	if err == nil || !strings.Contains(err.Error(), "source can't be a URL for COPY") {
		t.Errorf("COPY URL: %v", err)
	}
	h.b.wait()
	if n := entries(t, h.b.cfg.TmpDir); n != 0 {
		t.Errorf("%d entries left in the builder's tmp dir", n)
	}
}

func entries(t *testing.T, dir string) int {
	es, err := os.ReadDir(dir)
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	return len(es)
}
