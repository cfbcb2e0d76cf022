package linux_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"testing"
	"time"

	mobyseccomp "github.com/moby/profiles/seccomp"

	"github.com/berth-dev/berth/internal/runtime"
	"github.com/berth-dev/berth/internal/runtime/linux"
	"github.com/berth-dev/berth/internal/runtime/runtimetest"
)

// TestMeasureInitBinary times create+start+wait of `true` under Docker's
// default seccomp profile with berthd ($BERTH_INIT_BINARY) and with
// cmd/berth-init as the container's init, alternating one container each
// so that a shared machine's load falls on both alike; medians of
// $BERTH_MEASURE_N (default 100) each. Run by hand only:
//
//	go build -o /tmp/berthd ./cmd/berthd
//	BERTH_MEASURE=1 BERTH_INIT_BINARY=/tmp/berthd go test -run TestMeasureInitBinary -v ./internal/runtime/linux
func TestMeasureInitBinary(t *testing.T) {
	berthd := os.Getenv("BERTH_INIT_BINARY")
	if os.Getenv("BERTH_MEASURE") == "" || berthd == "" || os.Geteuid() != 0 {
		t.Skip("set BERTH_MEASURE=1 and BERTH_INIT_BINARY=<berthd>, as root")
	}
	n := 100
	if v, err := strconv.Atoi(os.Getenv("BERTH_MEASURE_N")); err == nil {
		n = v
	}
	lean := filepath.Join(t.TempDir(), linux.ExecInitName)
	if out, err := exec.Command("go", "build", "-o", lean, "../../../cmd/berth-init").CombinedOutput(); err != nil {
		t.Fatalf("build berth-init: %v\n%s", err, out)
	}
	rootfs := runtimetest.Rootfs(t)
	cgParent := "berth-measure-" + strconv.Itoa(os.Getpid())
	defer runtimetest.RemoveCgroups(t, cgParent)
	rts := map[string]runtime.Runtime{
		"berthd":     linux.New(linux.Options{InitPath: berthd, ExecInitPath: lean}),
		"berth-init": linux.New(linux.Options{InitPath: lean, ExecInitPath: lean}),
	}
	took := map[string][]time.Duration{}
	for i := -1; i < n; i++ { // one unmeasured warm-up round
		for _, name := range []string{"berthd", "berth-init"} {
			spec := runtimetest.Spec(rootfs, cgParent+"/c", "true")
			p, err := mobyseccomp.GetDefaultProfile(spec)
			if err != nil {
				t.Fatal(err)
			}
			spec.Linux.Seccomp = p
			start := time.Now()
			if _, errOut, code, err := runtimetest.RunSpec(t, rts[name], spec, ""); err != nil || code != 0 {
				t.Fatalf("%s: %v exit %d %s", name, err, code, errOut)
			}
			if i >= 0 {
				took[name] = append(took[name], time.Since(start))
			}
		}
	}
	for _, name := range []string{"berthd", "berth-init"} {
		d := took[name]
		slices.Sort(d)
		t.Logf("%-10s init: run `true` median %v (p10 %v, p90 %v) of %d", name, d[len(d)/2], d[len(d)/10], d[len(d)*9/10], len(d))
	}
}
