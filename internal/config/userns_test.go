package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/berth-dev/berth/internal/errdefs"
	"github.com/berth-dev/berth/internal/userns"
)

func TestUsernsRemap(t *testing.T) {
	// The flag and the daemon.json key both reach the resolution, which
	// fails for a user /etc/passwd does not have, naming the file.
	for _, tc := range []struct{ file string }{{`{"userns-remap": "no-such-user-berth"}`}, {""}} {
		var err error
		if tc.file != "" {
			_, err = load(t, tc.file)
		} else {
			_, err = load(t, "", "--userns-remap", "no-such-user-berth")
		}
		if !errdefs.Is(err, errdefs.InvalidArgument) || !strings.Contains(err.Error(), "/etc/passwd") {
			t.Errorf("file %q: %v", tc.file, err)
		}
	}
	_, err := load(t, "", "--userns-remap", "default", "--storage-driver", "vfs")
	if err == nil || !strings.Contains(err.Error(), "overlay2") {
		t.Errorf("vfs with remap: %v", err)
	}

	dir := t.TempDir()
	w := func(name, s string) string {
		p := filepath.Join(dir, name)
		os.WriteFile(p, []byte(s), 0o644)
		return p
	}
	c := Config{StorageDriver: "overlay2"}
	c.UsernsRemap = "default"
	c.usernsFiles = userns.Files{
		Passwd: w("passwd", "dockremap:x:999:999::/:/bin/false\n"),
		Group:  w("group", "dockremap:x:999:\n"),
		Subuid: w("subuid", "dockremap:100000:65536\n"),
		Subgid: w("subgid", "dockremap:100000:65536\n"),
	}
	if err := c.validateUserns(); err != nil {
		t.Fatal(err)
	}
	if u, g := c.Remap.Root(); u != 100000 || g != 100000 || c.Remap.User != "dockremap" {
		t.Errorf("remap %+v", c.Remap)
	}
	c.usernsFiles.Subgid = w("subgid2", "dockremap:100000\n")
	if err := c.validateUserns(); err == nil || !strings.Contains(err.Error(), "subgid2 line 1") {
		t.Errorf("malformed subgid: %v", err)
	}
}
