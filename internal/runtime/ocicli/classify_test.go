package ocicli

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/berth-dev/berth/internal/runtime"
)

func TestClassify(t *testing.T) {
	for _, tc := range []struct {
		msg  string
		want error
	}{
		{`runc create failed: unable to start container process: exec: "nosuchcmd": executable file not found in $PATH`, runtime.ErrExecNotFound},
		{`runc create failed: unable to start container process: exec: "/x/y": stat /x/y: no such file or directory`, runtime.ErrExecNotFound},
		{`runc create failed: unable to start container process: exec: "/noexec": permission denied`, runtime.ErrExecPermission},
		{`executable file not found in $PATH: No such file or directory`, runtime.ErrExecNotFound}, // crun
		{`exec failed: permission denied`, runtime.ErrExecPermission},
		{`runc create failed: unable to start container process: error during container init: error mounting "/nonexistent" to rootfs at "/data": stat /nonexistent: no such file or directory`, nil},
		{`container "x" does not exist`, nil},
	} {
		if got := classify(tc.msg); got != tc.want {
			t.Errorf("classify(%q) = %v, want %v", tc.msg, got, tc.want)
		}
	}
	e := &cliError{name: "runc", verb: "create", msg: `exec: "x": executable file not found in $PATH`, kind: runtime.ErrExecNotFound}
	if !errors.Is(e, runtime.ErrExecNotFound) || e.Error() != `runc create: exec: "x": executable file not found in $PATH` {
		t.Errorf("got %q", e)
	}
}

func TestLogError(t *testing.T) {
	p := filepath.Join(t.TempDir(), "create.log")
	log := `{"level":"warning","msg":"ignored","time":"2026-01-01T00:00:00Z"}
{"level":"error","msg":"runc create failed: first","time":"2026-01-01T00:00:00Z"}
not json
{"level":"fatal","msg":"second","time":"2026-01-01T00:00:00Z"}
`
	if err := os.WriteFile(p, []byte(log), 0o644); err != nil {
		t.Fatal(err)
	}
	if got := logError(p); got != "runc create failed: first; second" {
		t.Errorf("got %q", got)
	}
	if got := logError(filepath.Join(t.TempDir(), "missing")); got != "" {
		t.Errorf("missing log: %q", got)
	}
}
