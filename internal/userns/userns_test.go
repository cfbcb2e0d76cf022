package userns

import (
	"archive/tar"
	"bytes"
	"io"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/berth-dev/berth/internal/errdefs"
)

func files(t *testing.T, subuid, subgid string) Files {
	t.Helper()
	dir := t.TempDir()
	w := func(name, s string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	return Files{
		Passwd: w("passwd", "root:x:0:0:root:/root:/bin/sh\ndockremap:x:999:998::/nonexistent:/bin/false\nalice:x:1000:1000::/home/alice:/bin/sh\n"),
		Group:  w("group", "root:x:0:\ndockremap:x:998:\nalice:x:1000:\nstaff:x:50:\n"),
		Subuid: w("subuid", subuid),
		Subgid: w("subgid", subgid),
	}
}

func TestResolve(t *testing.T) {
	f := files(t, "# comment\n\nalice:100000:65536\ndockremap:200000:1000\ndockremap:300000:65536\n1000:400000:10\n",
		"alice:500000:65536\n999:600000:65536\n")
	r, err := Resolve("default", f)
	if err != nil {
		t.Fatal(err)
	}
	if r.User != "dockremap" || r.Group != "dockremap" {
		t.Errorf("user:group = %s:%s", r.User, r.Group)
	}
	// Stacked from 0 in file order; the gid ranges found by uid.
	if got := FormatRanges(r.UIDs); got != "0:200000:1000,1000:300000:65536" {
		t.Errorf("uids = %s", got)
	}
	if got := FormatRanges(r.GIDs); got != "0:600000:65536" {
		t.Errorf("gids = %s", got)
	}
	if u, g := r.Root(); u != 200000 || g != 600000 {
		t.Errorf("root = %d:%d", u, g)
	}
	if u, g := r.ToHost(1500, 70000); u != 300500 || g != -1 {
		t.Errorf("ToHost = %d:%d", u, g)
	}
	r, err = Resolve("1000:staff", f)
	if err != nil || r.User != "alice" || r.Group != "staff" || FormatRanges(r.UIDs) != "0:100000:65536" {
		t.Errorf("1000:staff = %+v, %v", r, err)
	}
}

func TestResolveErrors(t *testing.T) {
	good := files(t, "alice:100000:65536\n", "alice:100000:65536\n")
	noDockremap := good
	noDockremap.Passwd = filepath.Join(t.TempDir(), "passwd")
	os.WriteFile(noDockremap.Passwd, []byte("root:x:0:0:root:/root:/bin/sh\n"), 0o644)
	for _, tc := range []struct {
		spec string
		f    Files
		want string
	}{
		{"nobody", good, "no entry in"},
		{"default", noDockremap, "useradd"},
		{"alice:nogroup", good, `group "nogroup"`},
		{"a:b:c", good, "invalid user/group"},
		{"dockremap", good, "no subordinate ID ranges found for user \"dockremap\" in " + good.Subuid},
		{"alice", files(t, "alice:100000:65536\n", "bob:1:2\n"), "subgid"},
		{"alice", files(t, "alice:100000\n", "alice:100000:65536\n"), "line 1"},
		{"alice", files(t, "alice:x:65536\n", "alice:100000:65536\n"), "must be numbers"},
		{"alice", files(t, "alice:0:65536\n", "alice:0:65536\n"), "host's root"},
		{"alice", Files{Passwd: good.Passwd, Group: good.Group, Subuid: "/nonexistent/subuid", Subgid: good.Subgid}, "/nonexistent/subuid does not exist"},
	} {
		_, err := Resolve(tc.spec, tc.f)
		if err == nil || !strings.Contains(err.Error(), tc.want) || !errdefs.Is(err, errdefs.InvalidArgument) && !strings.Contains(tc.want, "does not") {
			t.Errorf("Resolve(%q) = %v, want error containing %q", tc.spec, err, tc.want)
		}
	}
}

func TestCloneIDMapped(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root")
	}
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "f"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	m := IDMap{UIDs: []Range{{0, 100000, 65536}}, GIDs: []Range{{0, 200000, 65536}}}
	ns, err := NS(m)
	if err != nil {
		t.Fatal(err)
	}
	if ns2, _ := NS(m); ns2 != ns {
		t.Error("NS not cached")
	}
	mnt, err := CloneIDMapped(dir, ns)
	if err != nil {
		t.Fatal(err)
	}
	defer mnt.Close()
	fi, err := os.Stat(filepath.Join(FDPath(mnt), "f"))
	if err != nil {
		t.Fatal(err)
	}
	st := fi.Sys().(*syscall.Stat_t)
	if st.Uid != 100000 || st.Gid != 200000 {
		t.Errorf("idmapped owner = %d:%d, want 100000:200000", st.Uid, st.Gid)
	}
}

func TestTarMapping(t *testing.T) {
	m := IDMap{UIDs: []Range{{ContainerID: 0, HostID: 100000, Size: 65536}}, GIDs: []Range{{ContainerID: 0, HostID: 200000, Size: 65536}}}
	var in bytes.Buffer
	tw := tar.NewWriter(&in)
	for _, h := range []tar.Header{{Name: "a", Uid: 0, Gid: 0, Size: 1}, {Name: "b", Uid: 1000, Gid: 70000, Size: 1}} {
		tw.WriteHeader(&h)
		tw.Write([]byte("x"))
	}
	tw.Close()
	toHost := TarToHost(bytes.NewReader(in.Bytes()), m)
	var back bytes.Buffer
	err := WriteTarToContainer(&back, m, func(w io.Writer) error {
		tr := tar.NewReader(toHost)
		tw := tar.NewWriter(w)
		for {
			h, err := tr.Next()
			if err == io.EOF {
				return tw.Close()
			}
			if err != nil {
				return err
			}
			if h.Name == "a" && (h.Uid != 100000 || h.Gid != 200000) || h.Name == "b" && (h.Uid != 101000 || h.Gid != 65534) {
				t.Errorf("to host: %s %d:%d", h.Name, h.Uid, h.Gid)
			}
			tw.WriteHeader(h)
			io.Copy(tw, tr)
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	tr := tar.NewReader(&back)
	for {
		h, err := tr.Next()
		if err != nil {
			break
		}
		if h.Name == "a" && (h.Uid != 0 || h.Gid != 0) || h.Name == "b" && (h.Uid != 1000 || h.Gid != 65534) {
			t.Errorf("back: %s %d:%d", h.Name, h.Uid, h.Gid)
		}
	}
}
