package buildctx

import (
	"archive/tar"
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/berth-dev/berth/internal/errdefs"
)

func needRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root (chown)")
	}
}

func resolveAll(t *testing.T, root string, srcs ...string) []Source {
	t.Helper()
	var out []Source
	for _, s := range srcs {
		r, err := Resolve(root, s, nil)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, r...)
	}
	return out
}

// describe lists a tree as "path type mode uid:gid [-> target | =content]".
func describe(t *testing.T, root string) string {
	t.Helper()
	var lines []string
	filepath.Walk(root, func(p string, fi os.FileInfo, err error) error {
		if err != nil {
			t.Fatal(err)
		}
		rel, _ := filepath.Rel(root, p)
		if rel == "." {
			return nil
		}
		st := fi.Sys().(*syscall.Stat_t)
		l := rel + " " + fi.Mode().String() + " " + strconv.Itoa(int(st.Uid)) + ":" + strconv.Itoa(int(st.Gid))
		switch {
		case fi.Mode()&os.ModeSymlink != 0:
			target, _ := os.Readlink(p)
			l += " -> " + target
		case fi.Mode().IsRegular():
			b, _ := os.ReadFile(p)
			l += " =" + string(b)
		}
		lines = append(lines, l)
		return nil
	})
	return strings.Join(lines, "\n")
}

func ctxTree(t *testing.T) string {
	return mkTree(t, map[string]string{
		"a.txt":         "a",
		"b.txt":         "b",
		"dir/x.txt":     "x",
		"dir/sub/z.txt": "z",
		"dir/link":      "->x.txt",
		"dir/abs":       "->/etc/passwd",
	})
}

func TestCopyRules(t *testing.T) {
	needRoot(t)
	tests := []struct {
		name    string
		srcs    []string
		dest    string
		workdir string
		prep    map[string]string // rootfs contents before
		want    string            // describe() of the rootfs after, restricted to lines under check
		check   []string
		err     string
	}{
		{name: "dir copies contents", srcs: []string{"dir"}, dest: "/app",
			check: []string{"app", "app/x.txt", "app/link", "app/abs", "app/sub/z.txt", "!app/dir"}},
		{name: "file to new path", srcs: []string{"a.txt"}, dest: "/new/name",
			check: []string{"new", "new/name =a", "!new/name/a.txt"}},
		{name: "file to slash", srcs: []string{"a.txt"}, dest: "/d/",
			check: []string{"d/a.txt =a"}},
		{name: "file to existing dir", srcs: []string{"a.txt"}, dest: "/exists", prep: map[string]string{"exists/": ""},
			check: []string{"exists/a.txt =a"}},
		{name: "file over existing file", srcs: []string{"a.txt"}, dest: "/f", prep: map[string]string{"f": "old"},
			check: []string{"f =a"}},
		{name: "several need slash", srcs: []string{"a.txt", "b.txt"}, dest: "/multi",
			err: "When using COPY with more than one source file, the destination must be a directory and end with a /"},
		{name: "wildcard several need slash", srcs: []string{"*.txt"}, dest: ".", workdir: "/w",
			err: "When using COPY with more than one source file, the destination must be a directory and end with a /"},
		{name: "several with slash", srcs: []string{"a.txt", "b.txt", "dir"}, dest: "/multi/",
			check: []string{"multi/a.txt =a", "multi/b.txt =b", "multi/x.txt =x", "multi/sub/z.txt =z"}},
		{name: "relative dest", srcs: []string{"a.txt"}, dest: "rel/", workdir: "/w",
			check: []string{"w/rel/a.txt =a"}},
		{name: "dot dest is the workdir", srcs: []string{"a.txt"}, dest: ".", workdir: "/w", prep: map[string]string{"w/": ""},
			check: []string{"w/a.txt =a"}},
		{name: "dot dest is no dir by itself", srcs: []string{"a.txt"}, dest: "/x/.",
			check: []string{"x =a"}},
		{name: "symlink source keeps its name", srcs: []string{"dir/link"}, dest: "/l/",
			check: []string{"l/link =x"}},
		{name: "dest through symlink to root", srcs: []string{"a.txt"}, dest: "/root-link/etc/",
			prep:  map[string]string{"root-link": "->/"},
			check: []string{"etc/a.txt =a"}},
		{name: "dest through climbing symlink", srcs: []string{"dir"}, dest: "/up/x",
			prep:  map[string]string{"up": "->../../../../../.."},
			check: []string{"x/x.txt =x"}},
		{name: "dest symlink to file is followed inside", srcs: []string{"a.txt"}, dest: "/ln",
			prep:  map[string]string{"ln": "->/target", "target": "old"},
			check: []string{"ln -> /target", "target =a"}},
		{name: "entry symlink in dest is replaced, not followed", srcs: []string{"dir"}, dest: "/app",
			prep:  map[string]string{"app/x.txt": "->/victim", "app/sub": "->/victim-dir", "victim": "v", "victim-dir/": ""},
			check: []string{"app/x.txt =x", "app/sub/z.txt =z", "victim =v", "!victim-dir/z.txt"}},
		{name: "dir onto file", srcs: []string{"dir"}, dest: "/file", prep: map[string]string{"file": "f"},
			err: "copy dir to /file: cannot copy a directory to /file: not a directory"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctxRoot := ctxTree(t)
			base := t.TempDir()
			rootfs := filepath.Join(base, "rootfs")
			os.Mkdir(rootfs, 0o755)
			os.WriteFile(filepath.Join(base, "outside"), []byte("o"), 0o644)
			for name, content := range tt.prep {
				p := filepath.Join(rootfs, name)
				os.MkdirAll(filepath.Dir(p), 0o755)
				switch {
				case strings.HasSuffix(name, "/"):
					os.MkdirAll(p, 0o755)
				case strings.HasPrefix(content, "->"):
					os.Symlink(content[2:], p)
				default:
					os.WriteFile(p, []byte(content), 0o644)
				}
			}
			err := Copy(rootfs, tt.workdir, resolveAll(t, ctxRoot, tt.srcs...), tt.dest, CopyOptions{})
			if tt.err != "" {
				if err == nil || err.Error() != tt.err {
					t.Fatalf("err = %v, want %q", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			got := describe(t, rootfs)
			for _, c := range tt.check {
				if strings.HasPrefix(c, "!") {
					if _, err := os.Lstat(filepath.Join(rootfs, c[1:])); err == nil {
						t.Errorf("%s exists\n%s", c[1:], got)
					}
					continue
				}
				name, rest, _ := strings.Cut(c, " ")
				found := false
				for _, l := range strings.Split(got, "\n") {
					if strings.HasPrefix(l, name+" ") && strings.HasSuffix(l, rest) {
						found = true
					}
				}
				if !found {
					t.Errorf("no %q in\n%s", c, got)
				}
			}
			if e, _ := os.ReadDir(base); len(e) != 2 {
				t.Errorf("wrote outside the rootfs: %v", e)
			}
		})
	}
}

func TestCopyHandMadeNameStaysInDest(t *testing.T) {
	needRoot(t)
	ctxRoot := ctxTree(t)
	base := t.TempDir()
	rootfs := filepath.Join(base, "rootfs")
	os.Mkdir(rootfs, 0o755)
	srcs := resolveAll(t, ctxRoot, "a.txt")
	srcs[0].Name = "../../../escaped"
	if err := Copy(rootfs, "/", srcs, "/d/", CopyOptions{}); err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(listTree(t, base), " "); got != "rootfs rootfs/d rootfs/d/escaped" {
		t.Fatalf("tree: %s", got)
	}
	srcs[0].Name = ".."
	if err := Copy(rootfs, "/", srcs, "/d/", CopyOptions{}); !errdefs.Is(err, errdefs.InvalidArgument) {
		t.Fatalf("err = %v", err)
	}
}

func TestCopyOwnerModeTimes(t *testing.T) {
	needRoot(t)
	ctxRoot := ctxTree(t)
	mt := time.Date(2021, 5, 6, 7, 8, 9, 0, time.UTC)
	os.Chmod(filepath.Join(ctxRoot, "dir/x.txt"), 0o751)
	os.Chmod(filepath.Join(ctxRoot, "dir/sub"), 0o711)
	os.Chmod(filepath.Join(ctxRoot, "dir"), 0o700) // a dest made for it is 0755 all the same
	os.Chtimes(filepath.Join(ctxRoot, "dir/x.txt"), mt, mt)
	os.Chtimes(filepath.Join(ctxRoot, "dir/sub"), mt, mt)

	rootfs := t.TempDir()
	if err := Copy(rootfs, "/", resolveAll(t, ctxRoot, "dir"), "/new/parent/app", CopyOptions{UID: 1234, GID: 5678}); err != nil {
		t.Fatal(err)
	}
	want := strings.Join([]string{
		"new drwxr-xr-x 0:0", // a directory's parents are root's, as dockerd's
		"new/parent drwxr-xr-x 0:0",
		"new/parent/app drwxr-xr-x 1234:5678",
		"new/parent/app/abs Lrwxrwxrwx 1234:5678 -> /etc/passwd",
		"new/parent/app/link Lrwxrwxrwx 1234:5678 -> x.txt",
		"new/parent/app/sub drwx--x--x 1234:5678",
		"new/parent/app/sub/z.txt -rw-r--r-- 1234:5678 =z",
		"new/parent/app/x.txt -rwxr-x--x 1234:5678 =x",
	}, "\n")
	if got := describe(t, rootfs); got != want {
		t.Fatalf("got\n%s\nwant\n%s", got, want)
	}
	for _, rel := range []string{"new/parent/app/x.txt", "new/parent/app/sub"} {
		fi, _ := os.Stat(filepath.Join(rootfs, rel))
		if !fi.ModTime().Equal(mt) {
			t.Errorf("%s: mtime %v, want %v", rel, fi.ModTime(), mt)
		}
	}

	// A file's parents are the copy's; setuid survives the chown;
	// hardlinks inside one directory source stay hardlinks.
	os.Chmod(filepath.Join(ctxRoot, "a.txt"), 0o755|os.ModeSetuid)
	os.Link(filepath.Join(ctxRoot, "dir/x.txt"), filepath.Join(ctxRoot, "dir/hard"))
	rootfs3 := t.TempDir()
	if err := Copy(rootfs3, "/", resolveAll(t, ctxRoot, "a.txt"), "/p/q/", CopyOptions{UID: 7, GID: 8}); err != nil {
		t.Fatal(err)
	}
	if err := Copy(rootfs3, "/", resolveAll(t, ctxRoot, "dir"), "/d", CopyOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := Copy(rootfs3, "/", resolveAll(t, ctxRoot, "dir/x.txt", "dir/hard"), "/sep/", CopyOptions{}); err != nil {
		t.Fatal(err)
	}
	got := describe(t, rootfs3)
	for _, want := range []string{"p drwxr-xr-x 7:8", "p/q drwxr-xr-x 7:8", "p/q/a.txt urwxr-xr-x 7:8 =a"} {
		if !strings.Contains(got, want+"\n") && !strings.HasSuffix(got, want) {
			t.Errorf("no %q in\n%s", want, got)
		}
	}
	sameFile := func(a, b string) bool {
		fa, _ := os.Stat(filepath.Join(rootfs3, a))
		fb, _ := os.Stat(filepath.Join(rootfs3, b))
		return os.SameFile(fa, fb)
	}
	if !sameFile("d/x.txt", "d/hard") {
		t.Error("hardlink inside a directory source became two files")
	}
	if sameFile("sep/x.txt", "sep/hard") {
		t.Error("separate sources share an inode")
	}

	// --chmod applies to files and directories; an existing dest keeps
	// its owner.
	mode := os.FileMode(0o640)
	rootfs2 := t.TempDir()
	os.Mkdir(filepath.Join(rootfs2, "app"), 0o700)
	if err := Copy(rootfs2, "/", resolveAll(t, ctxRoot, "dir", "a.txt"), "/app/", CopyOptions{Mode: &mode}); err != nil {
		t.Fatal(err)
	}
	want2 := strings.Join([]string{
		"app drwx------ 0:0",
		"app/a.txt -rw-r----- 0:0 =a",
		"app/abs Lrwxrwxrwx 0:0 -> /etc/passwd",
		"app/hard -rw-r----- 0:0 =x",
		"app/link Lrwxrwxrwx 0:0 -> x.txt",
		"app/sub drw-r----- 0:0",
		"app/sub/z.txt -rw-r----- 0:0 =z",
		"app/x.txt -rw-r----- 0:0 =x",
	}, "\n")
	if got := describe(t, rootfs2); got != want2 {
		t.Fatalf("got\n%s\nwant\n%s", got, want2)
	}
}

// TestCopyPreserveOwner: COPY --from without --chown keeps the owners
// the source tree has (dockerd copies with the tar headers' owners);
// what Copy makes is root's; an existing dest keeps its owner. The
// expected trees were checked on dockerd 20.10.
func TestCopyPreserveOwner(t *testing.T) {
	needRoot(t)
	src := mkTree(t, map[string]string{"d/f": "f", "d/sub/g": "g", "d/link": "->f", "file": "c"})
	for rel, id := range map[string]int{"d": 102, "d/f": 100, "d/sub": 101, "d/sub/g": 102, "d/link": 103, "file": 300} {
		if err := os.Lchown(filepath.Join(src, rel), id, id+100); err != nil {
			t.Fatal(err)
		}
	}
	os.Chmod(filepath.Join(src, "file"), 0o755|os.ModeSetuid)
	rootfs := t.TempDir()
	os.Mkdir(filepath.Join(rootfs, "exist"), 0o755)
	os.Lchown(filepath.Join(rootfs, "exist"), 5, 6)
	keep := CopyOptions{PreserveOwner: true, UID: 7, GID: 8} // UID/GID ignored
	for _, c := range []struct{ src, dest string }{{"file", "/new/dir/file"}, {"d", "/copied"}, {"d", "/exist"}} {
		if err := Copy(rootfs, "/", resolveAll(t, src, c.src), c.dest, keep); err != nil {
			t.Fatal(err)
		}
	}
	want := strings.Join([]string{
		"copied drwxr-xr-x 0:0",
		"copied/f -rw-r--r-- 100:200 =f",
		"copied/link Lrwxrwxrwx 103:203 -> f",
		"copied/sub drwxr-xr-x 101:201",
		"copied/sub/g -rw-r--r-- 102:202 =g",
		"exist drwxr-xr-x 5:6",
		"exist/f -rw-r--r-- 100:200 =f",
		"exist/link Lrwxrwxrwx 103:203 -> f",
		"exist/sub drwxr-xr-x 101:201",
		"exist/sub/g -rw-r--r-- 102:202 =g",
		"new drwxr-xr-x 0:0",
		"new/dir drwxr-xr-x 0:0",
		"new/dir/file urwxr-xr-x 300:400 =c",
	}, "\n")
	if got := describe(t, rootfs); got != want {
		t.Fatalf("got\n%s\nwant\n%s", got, want)
	}
}

func TestCopyHonoursDockerignore(t *testing.T) {
	needRoot(t)
	c, err := Extract(context.Background(), bytes.NewReader(mkTar(t,
		tent{name: "Dockerfile", body: "FROM scratch\n"},
		tent{name: ".dockerignore", body: "Dockerfile\n*.tmp\n"},
		tent{name: "keep", body: "k"},
		tent{name: "x.tmp", body: "t"},
	)), t.TempDir(), "")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	srcs, err := c.Resolve(".")
	if err != nil {
		t.Fatal(err)
	}
	rootfs := t.TempDir()
	if err := Copy(rootfs, "/", srcs, "/app", CopyOptions{}); err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(listTree(t, rootfs), " "); got != "app app/.dockerignore app/keep" {
		t.Fatalf("copied %s", got)
	}
}

func TestCopyExtract(t *testing.T) {
	needRoot(t)
	layer := mkTar(t,
		tent{name: "etc/", typ: tar.TypeDir},
		tent{name: "etc/conf", body: "c", mode: 0o600},
		tent{name: "bin/tool", body: "t", mode: 0o755},
		tent{name: "lnk", typ: tar.TypeSymlink, body: "/etc/conf"},
	)
	ctxRoot := mkTree(t, map[string]string{"plain.txt": "p"})
	for name, data := range map[string][]byte{
		"l.tar":    layer,
		"l.tar.gz": compressWith(t, "gzip", layer),
		"l.tar.xz": compressWith(t, "xz", layer),
		"evil.tar": mkTar(t, tent{name: "../../../evil", body: "x"}),
		"gz.gz":    compressWith(t, "gzip", []byte("not a tar")),
	} {
		os.WriteFile(filepath.Join(ctxRoot, name), data, 0o644)
	}
	for _, src := range []string{"l.tar", "l.tar.gz", "l.tar.xz"} {
		rootfs := t.TempDir()
		if err := Copy(rootfs, "/", resolveAll(t, ctxRoot, src), "/opt", CopyOptions{Extract: true}); err != nil {
			t.Fatalf("%s: %v", src, err)
		}
		got := strings.Join(listTree(t, rootfs), " ")
		if got != "opt opt/bin opt/bin/tool opt/etc opt/etc/conf opt/lnk" {
			t.Fatalf("%s: %s", src, got)
		}
	}
	// --chown does not reach into an unpacked tar (dockerd's UntarPath);
	// the dest dir it makes is root's.
	rootfsOwn := t.TempDir()
	if err := Copy(rootfsOwn, "/", resolveAll(t, ctxRoot, "l.tar"), "/o", CopyOptions{Extract: true, UID: 5, GID: 6}); err != nil {
		t.Fatal(err)
	}
	if got := describe(t, rootfsOwn); !strings.Contains(got, "o drwxr-xr-x 0:0\n") || !strings.Contains(got, "o/etc/conf -rw------- 0:0 =c") {
		t.Fatalf("owners:\n%s", got)
	}
	// Not a tar: copied as a file, even with Extract.
	rootfs := t.TempDir()
	if err := Copy(rootfs, "/", resolveAll(t, ctxRoot, "gz.gz", "plain.txt"), "/d/", CopyOptions{Extract: true}); err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(listTree(t, rootfs), " "); got != "d d/gz.gz d/plain.txt" {
		t.Fatalf("got %s", got)
	}
	// An escaping tar: refused, nothing outside.
	base := t.TempDir()
	rootfs = filepath.Join(base, "rootfs")
	os.Mkdir(rootfs, 0o755)
	err := Copy(rootfs, "/", resolveAll(t, ctxRoot, "evil.tar"), "/a/b", CopyOptions{Extract: true})
	if !errdefs.Is(err, errdefs.InvalidArgument) {
		t.Fatalf("err = %v", err)
	}
	if got := strings.Join(listTree(t, base), " "); got != "rootfs rootfs/a rootfs/a/b" {
		t.Fatalf("tree: %s", got)
	}
	// Without Extract (COPY) a tar is a file.
	rootfs = t.TempDir()
	if err := Copy(rootfs, "/", resolveAll(t, ctxRoot, "l.tar"), "/x.tar", CopyOptions{}); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(filepath.Join(rootfs, "x.tar")); err != nil || !fi.Mode().IsRegular() {
		t.Fatalf("x.tar: %v", err)
	}
}

func TestChown(t *testing.T) {
	rootfs := mkTree(t, map[string]string{
		"etc/passwd": "root:x:0:0:root:/root:/bin/sh\nfoo:x:1000:1001::/home/foo:/bin/sh\n",
		"etc/group":  "root:x:0:\nfoo:x:1001:\nbar:x:2000:\n",
	})
	linked := mkTree(t, map[string]string{
		"real/passwd": "foo:x:42:42::/:/bin/sh\n",
		"real/group":  "foo:x:43:\n",
		"etc/passwd":  "->../../../../../real/passwd",
		"etc/group":   "->/real/group",
	})
	empty := t.TempDir()
	tests := []struct {
		rootfs, spec string
		uid, gid     int
		err          string
	}{
		{rootfs, "1000", 1000, 1000, ""},
		{rootfs, "1:2", 1, 2, ""},
		{rootfs, "foo", 1000, 1001, ""},
		{rootfs, "foo:bar", 1000, 2000, ""},
		{rootfs, "foo:5", 1000, 5, ""},
		{rootfs, "7:bar", 7, 2000, ""},
		{linked, "foo", 42, 43, ""},
		{empty, "0:0", 0, 0, ""},
		{rootfs, "nobody", 0, 0, "can't find uid for user nobody: no such user: nobody"},
		{rootfs, "foo:nogroup", 0, 0, "can't find gid for group nogroup: no such group: nogroup"},
		{rootfs, "a:b:c", 0, 0, "invalid chown string format: a:b:c"},
		{empty, "foo", 0, 0, "can't find uid for user foo: open /etc/passwd: no such file or directory"},
	}
	for _, tt := range tests {
		uid, gid, err := Chown(tt.rootfs, tt.spec)
		if tt.err != "" {
			if err == nil || err.Error() != tt.err || !errdefs.Is(err, errdefs.InvalidArgument) {
				t.Errorf("%s: err = %v, want %q", tt.spec, err, tt.err)
			}
			continue
		}
		if err != nil || uid != tt.uid || gid != tt.gid {
			t.Errorf("%s: %d:%d %v, want %d:%d", tt.spec, uid, gid, err, tt.uid, tt.gid)
		}
	}
}

// 100 MB of 1 MB files copied into a rootfs (copy_file_range on one
// filesystem).
func BenchmarkCopy100MB(b *testing.B) {
	c := extract100MB(b)
	srcs, err := c.Resolve("d")
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(100 << 20)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		rootfs := b.TempDir()
		if err := Copy(rootfs, "/", srcs, "/app", CopyOptions{}); err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		os.RemoveAll(rootfs)
		b.StartTimer()
	}
}

// File capabilities survive the context tar (the CLI sends them as a
// PAX xattr record) and COPY, as with dockerd.
func TestCapabilities(t *testing.T) {
	needRoot(t)
	if _, err := exec.LookPath("setcap"); err != nil {
		t.Skip("setcap not installed")
	}
	dir := t.TempDir()
	f := filepath.Join(dir, "ping")
	os.WriteFile(f, []byte("bin"), 0o755)
	if out, err := exec.Command("setcap", "cap_net_raw+ep", f).CombinedOutput(); err != nil {
		t.Skipf("setcap: %v %s", err, out)
	}
	capOf := func(p string) string {
		buf := make([]byte, 128)
		n, err := unix.Lgetxattr(p, "security.capability", buf)
		if err != nil {
			return ""
		}
		return string(buf[:n])
	}
	want := capOf(f)
	if want == "" {
		t.Skip("no xattr support here")
	}
	var b bytes.Buffer
	tw := tar.NewWriter(&b)
	tw.WriteHeader(&tar.Header{Name: "ping", Mode: 0o755, Size: 3, Typeflag: tar.TypeReg,
		PAXRecords: map[string]string{"SCHILY.xattr.security.capability": want}})
	tw.Write([]byte("bin"))
	tw.Close()
	c, err := Extract(context.Background(), &b, t.TempDir(), "")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if got := capOf(filepath.Join(c.Root, "ping")); got != want {
		t.Fatalf("extracted capability %q, want %q", got, want)
	}
	rootfs := t.TempDir()
	srcs, _ := c.Resolve("ping")
	if err := Copy(rootfs, "/", srcs, "/bin/", CopyOptions{UID: 5, GID: 5}); err != nil {
		t.Fatal(err)
	}
	if got := capOf(filepath.Join(rootfs, "bin/ping")); got != want {
		t.Fatalf("copied capability %q, want %q", got, want)
	}
}
