package ocispec

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite testdata/*.json from Build's output")

// TestGoldenSpecs compares whole specs with reviewed snapshots, so that
// any change to what a `docker run` gets shows up in review.
func TestGoldenSpecs(t *testing.T) {
	cases := map[string]func(*Input){
		"default": func(*Input) {},
		"privileged-readonly-user": func(in *Input) {
			in.HostConfig.Privileged = true
			in.HostConfig.ReadonlyRootfs = true
			in.Config.User = "alice"
			in.Config.Tty = true
			in.HostConfig.Tmpfs = map[string]string{"/run": "size=64m"}
			in.HostConfig.Binds = []string{"/srv/data:/data:ro"}
		},
	}
	for name, mod := range cases {
		t.Run(name, func(t *testing.T) {
			in := baseInput(t)
			mod(&in)
			s := mustBuild(t, in)
			got, err := json.MarshalIndent(s, "", "  ")
			if err != nil {
				t.Fatal(err)
			}
			got = append(bytes.ReplaceAll(got, []byte(in.Rootfs), []byte("/ROOTFS")), '\n')
			path := filepath.Join("testdata", name+".json")
			if *update {
				if err := os.MkdirAll("testdata", 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(path, got, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (run with -update to create)", err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("spec differs from %s:\n%s", path, lineDiff(string(want), string(got)))
			}
		})
	}
}

// lineDiff shows the first lines where want and got differ.
func lineDiff(want, got string) string {
	w, g := strings.Split(want, "\n"), strings.Split(got, "\n")
	var b strings.Builder
	for i := 0; i < len(w) || i < len(g); i++ {
		var wl, gl string
		if i < len(w) {
			wl = w[i]
		}
		if i < len(g) {
			gl = g[i]
		}
		if wl != gl {
			b.WriteString("line " + itoa(i+1) + ":\n  want " + wl + "\n  got  " + gl + "\n")
			if b.Len() > 2000 {
				break
			}
		}
	}
	return b.String()
}

func itoa(i int) string { return formatSize(int64(i)) }
