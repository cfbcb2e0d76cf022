package config

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/spf13/pflag"

	"github.com/berth-dev/berth/internal/errdefs"
)

func load(t *testing.T, file string, args ...string) (*Config, error) {
	t.Helper()
	fs := pflag.NewFlagSet("berthd", pflag.ContinueOnError)
	f := NewFlags(fs)
	if file != "" {
		p := filepath.Join(t.TempDir(), "daemon.json")
		if err := os.WriteFile(p, []byte(file), 0o600); err != nil {
			t.Fatal(err)
		}
		args = append(args, "--config-file", p)
	} else {
		args = append(args, "--config-file", filepath.Join(t.TempDir(), "absent.json"))
		// An explicitly named but absent file is an error; model the
		// default case by not marking it changed.
		fs2 := pflag.NewFlagSet("berthd", pflag.ContinueOnError)
		f = NewFlags(fs2)
		f.configFile = args[len(args)-1]
		if err := fs2.Parse(args[:len(args)-2]); err != nil {
			t.Fatal(err)
		}
		return f.Load()
	}
	if err := fs.Parse(args); err != nil {
		t.Fatal(err)
	}
	return f.Load()
}

func TestDefaults(t *testing.T) {
	c, err := load(t, "")
	if err != nil {
		t.Fatal(err)
	}
	if c.DataRoot != DefaultDataRoot || c.ExecRoot != DefaultExecRoot || c.StorageDriver != "overlay2" {
		t.Fatalf("defaults: %+v", c)
	}
	if len(c.Hosts) != 1 || c.Hosts[0] != DefaultHost {
		t.Fatalf("hosts: %v", c.Hosts)
	}
	if c.Pidfile != "/run/berth/berthd.pid" {
		t.Fatalf("pidfile: %s", c.Pidfile)
	}
	if c.LogOpts["max-size"] != "20m" || c.LogOpts["max-file"] != "5" {
		t.Fatalf("logs must be bounded by default: %v", c.LogOpts)
	}
	if !*c.LiveRestore {
		t.Fatal("live-restore must default to true")
	}
}

func TestFlagsAndFile(t *testing.T) {
	c, err := load(t, `{"storage-driver":"vfs","runtimes":{"myrunc":{"path":"/usr/bin/runc"}},"log-opts":{"max-size":"1m"}}`,
		"--data-root", "/tmp/x", "-H", "unix:///tmp/a.sock", "-H", "tcp://127.0.0.1:2375")
	if err != nil {
		t.Fatal(err)
	}
	if c.StorageDriver != "vfs" || c.DataRoot != "/tmp/x" || len(c.Hosts) != 2 {
		t.Fatalf("%+v", c)
	}
	if c.Runtimes["myrunc"].Path != "/usr/bin/runc" || c.LogOpts["max-size"] != "1m" || c.LogOpts["max-file"] != "5" {
		t.Fatalf("%+v", c)
	}
}

func TestErrors(t *testing.T) {
	cases := []struct {
		file string
		args []string
		want string
	}{
		{`{"data-root":"/a"}`, []string{"--data-root", "/b"}, "specified both as a flag and in the configuration file: data-root"},
		{`{"bogus":1}`, nil, "don't match any configuration option: bogus"},
		{`{`, nil, "invalid JSON"},
		{`{}`, []string{"--storage-driver", "zfs"}, "unsupported storage driver: zfs"},
		{`{}`, []string{"--data-root", "rel"}, "must be an absolute path"},
		{`{}`, []string{"--add-runtime", "nopath"}, "must be NAME=PATH"},
		{`{}`, []string{"--default-runtime", "ghost"}, "specified default runtime 'ghost' does not exist"},
		{`{}`, []string{"-H", "fd://"}, "only unix:// and tcp://"},
		{`{"hosts":["unix:///x"]}`, []string{"-H", "unix:///y"}, "both as a flag and in the configuration file: hosts"},
	}
	for _, tc := range cases {
		_, err := load(t, tc.file, tc.args...)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s %v: got %v, want %q", tc.file, tc.args, err, tc.want)
			continue
		}
		if !errdefs.Is(err, errdefs.InvalidArgument) {
			t.Errorf("%v: not InvalidArgument", err)
		}
	}
}

func TestAllRuntimes(t *testing.T) {
	c := &Config{Runtimes: map[string]Runtime{"x": {Path: "/x"}}}
	got := c.AllRuntimes(func(n string) (string, error) {
		if n == "runc" {
			return "/usr/sbin/runc", nil
		}
		return "", errors.New("not found")
	})
	if len(got) != 2 || got["runc"].Path != "/usr/sbin/runc" || got["x"].Path != "/x" {
		t.Fatalf("%v", got)
	}
}
