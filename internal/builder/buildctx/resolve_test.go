package buildctx

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/berth-dev/berth/internal/errdefs"
)

// mkTree writes files ("name" -> content; content "->x" makes a symlink
// to x; a name ending in "/" makes a directory) under a new temp dir.
func mkTree(t testing.TB, files map[string]string) string {
	t.Helper()
	root := t.TempDir()
	for name, content := range files {
		p := filepath.Join(root, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		switch {
		case strings.HasSuffix(name, "/"):
			err := os.MkdirAll(p, 0o755)
			if err != nil {
				t.Fatal(err)
			}
		case strings.HasPrefix(content, "->"):
			if err := os.Symlink(content[2:], p); err != nil {
				t.Fatal(err)
			}
		default:
			if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	return root
}

func TestResolve(t *testing.T) {
	root := mkTree(t, map[string]string{
		"a.txt":          "a",
		"b.txt":          "b",
		"c.md":           "c",
		"dir/x.txt":      "x",
		"dir/y.txt":      "y",
		"dir/sub/z.txt":  "z",
		"other/x.txt":    "ox",
		"empty/":         "",
		"star*":          "literal star",
		"link-in":        "->dir/x.txt",
		"link-abs":       "->/dir/y.txt",
		"link-out":       "->../../../../etc/passwd",
		"link-out-abs":   "->/etc/passwd",
		"link-dir":       "->dir",
		"link-dangling":  "->nothere",
		"loop1":          "->loop2",
		"loop2":          "->loop1",
		"ignored.txt":    "i",
		"link-ignored":   "->ignored.txt",
		"dir/ignored.md": "i",
	})
	excluded := func(rel string) bool { return rel == "ignored.txt" || strings.HasSuffix(rel, ".md") }
	notFound := func(name string) string {
		return "file not found in build context or excluded by .dockerignore: stat " + name + ": file does not exist"
	}
	tests := []struct {
		src   string
		want  string // "rel:name rel:name" (name omitted when = base(rel))
		err   string
		class errdefs.Class
	}{
		{src: "a.txt", want: "a.txt"},
		{src: "/a.txt", want: "a.txt"},
		{src: "./a.txt", want: "a.txt"},
		{src: "dir/../a.txt", want: "a.txt"},
		{src: ".", want: "."},
		{src: "/", want: "."},
		{src: "dir", want: "dir"},
		{src: "dir/", want: "dir"},
		{src: "*.txt", want: "a.txt b.txt"},
		{src: "?.txt", want: "a.txt b.txt"},
		{src: "[ab].txt", want: "a.txt b.txt"},
		{src: "dir/*.txt", want: "dir/x.txt dir/y.txt"},
		{src: "*/x.txt", want: "dir/x.txt other/x.txt"},
		{src: "*/*/z.txt", want: "dir/sub/z.txt"},
		{src: "d*", want: "dir"},
		{src: "star[*]", want: "star*"},
		{src: `star\*`, err: notFound(`star\*`), class: errdefs.NotFound}, // no wildcard left: a literal name, as dockerd
		{src: "link-in", want: "dir/x.txt:link-in"},
		{src: "link-abs", want: "dir/y.txt:link-abs"},
		{src: "link-dir", want: "dir:link-dir"},
		{src: "link-dir/x.txt", want: "dir/x.txt"},
		{src: "link-di?", want: "dir:link-dir"},
		{src: "link-dir/*.txt", want: ""}, // never walks a symlink, as dockerd
		{src: "link-out", err: notFound("link-out"), class: errdefs.NotFound},
		{src: "link-out-abs", err: notFound("link-out-abs"), class: errdefs.NotFound},
		{src: "link-dangling", err: notFound("link-dangling"), class: errdefs.NotFound},
		{src: "missing", err: notFound("missing"), class: errdefs.NotFound},
		{src: "./missing", err: notFound("missing"), class: errdefs.NotFound},
		{src: "a.txt/x", err: notFound("a.txt/x"), class: errdefs.NotFound},
		{src: "*.nomatch", want: ""},
		{src: "[", want: ""},
		{src: "ignored.txt", err: notFound("ignored.txt"), class: errdefs.NotFound},
		{src: "link-ignored", err: notFound("link-ignored"), class: errdefs.NotFound},
		{src: "*.md", want: ""},
		{src: "ignored.*", want: ""},
		{src: "../x", err: "forbidden path outside the build context: ../x ()", class: errdefs.InvalidArgument},
		{src: "dir/../../x", err: "forbidden path outside the build context: dir/../../x ()", class: errdefs.InvalidArgument},
		{src: "..", err: "forbidden path outside the build context: .. ()", class: errdefs.InvalidArgument},
		{src: "loop1", class: errdefs.InvalidArgument},
	}
	for _, tt := range tests {
		t.Run(tt.src, func(t *testing.T) {
			srcs, err := Resolve(root, tt.src, excluded)
			if tt.class != errdefs.Unknown {
				if err == nil {
					t.Fatalf("got %v, want error", srcs)
				}
				if errdefs.ClassOf(err) != tt.class || (tt.err != "" && err.Error() != tt.err) {
					t.Fatalf("err = %q (%v), want %q (%v)", err, errdefs.ClassOf(err), tt.err, tt.class)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, s := range srcs {
				g := s.Rel
				if s.Name != filepath.Base(s.Rel) {
					g += ":" + s.Name
				}
				got = append(got, g)
				if s.Root != root || s.Info == nil {
					t.Errorf("%+v", s)
				}
				fi, err := os.Lstat(filepath.Join(root, s.Rel))
				if err != nil || fi.Mode() != s.Info.Mode() {
					t.Errorf("Info of %s: %v %v", s.Rel, fi, err)
				}
			}
			if strings.Join(got, " ") != tt.want {
				t.Fatalf("got %q, want %q", strings.Join(got, " "), tt.want)
			}
		})
	}
}

func FuzzResolve(f *testing.F) {
	for _, s := range []string{"a", "*", "dir/*", "../x", "/", "link-out/passwd", "link-root/etc", "[", `\*`, "*/*/*", "link-dir/../../x", "//x", "./.", "a/./b/.."} {
		f.Add(s)
	}
	base := f.TempDir()
	root := filepath.Join(base, "root")
	for _, d := range []string{"dir/sub", "empty"} {
		if err := os.MkdirAll(filepath.Join(root, d), 0o755); err != nil {
			f.Fatal(err)
		}
	}
	os.WriteFile(filepath.Join(base, "secret"), []byte("s"), 0o644)
	os.WriteFile(filepath.Join(root, "a"), []byte("a"), 0o644)
	os.WriteFile(filepath.Join(root, "dir/sub/f"), []byte("f"), 0o644)
	os.Symlink("../secret", filepath.Join(root, "link-out"))
	os.Symlink("/", filepath.Join(root, "link-root"))
	os.Symlink("dir", filepath.Join(root, "link-dir"))
	os.Symlink("../../..", filepath.Join(root, "dir/sub/up"))
	f.Fuzz(func(t *testing.T, src string) {
		srcs, err := Resolve(root, src, nil)
		if err != nil {
			if c := errdefs.ClassOf(err); c != errdefs.NotFound && c != errdefs.InvalidArgument {
				t.Fatalf("%q: unclassified error %v", src, err)
			}
			return
		}
		for _, s := range srcs {
			if s.Rel == ".." || strings.HasPrefix(s.Rel, "../") || strings.HasPrefix(s.Rel, "/") {
				t.Fatalf("%q resolved outside: %q", src, s.Rel)
			}
			real, err := filepath.EvalSymlinks(filepath.Join(root, s.Rel))
			if err != nil {
				t.Fatal(err)
			}
			if real != root && !strings.HasPrefix(real, root+"/") {
				t.Fatalf("%q resolved to %s, outside %s", src, real, root)
			}
		}
	})
}
