package apiserver_test

import (
	"os/exec"
	"strings"
	"testing"
)

// The API layer talks to services only through the routers' Backend
// interfaces: it links no engine, image, runtime, storage or kernel code.
func TestDependencyDirection(t *testing.T) {
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Skip("go tool not in PATH")
	}
	out, err := exec.Command(goBin, "list", "-deps", "github.com/berth-dev/berth/internal/apiserver/...").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	allowed := []string{"internal/apiserver", "internal/errdefs", "internal/filters"}
	for _, pkg := range strings.Fields(string(out)) {
		rest, ok := strings.CutPrefix(pkg, "github.com/berth-dev/berth/")
		if !ok {
			continue
		}
		fine := false
		for _, a := range allowed {
			if rest == a || strings.HasPrefix(rest, a+"/") {
				fine = true
			}
		}
		if !fine {
			t.Errorf("apiserver depends on %s", pkg)
		}
	}
}
