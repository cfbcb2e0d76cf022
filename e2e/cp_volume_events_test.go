package e2e

import (
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestCpVolumeEvents: docker cp through a container's volumes publishes
// a volume mount (driver, container, destination, read/write,
// propagation) and an unmount (driver, container) per archive call, as
// dockerd's view of a container's filesystem does (setupMounts,
// UnmountVolumes); running and never-started containers alike, and
// nothing for a bind.
func TestCpVolumeEvents(t *testing.T) {
	d := StartDaemon(t)
	d.ImportBusybox()
	bind := t.TempDir()
	d.MustDocker("volume", "create", "evdata")
	on := d.MustDocker("run", "-d", "--name", "on", "-v", "evdata:/data", "-v", bind+":/b", "busybox", "sh", "-c", "echo hi > /data/f; sleep 300")
	off := d.MustDocker("create", "--name", "off", "-v", "evdata:/d:ro", "busybox", "true")
	waitFor(t, func() bool { return d.Docker("", "exec", "on", "test", "-e", "/data/f").Code == 0 })
	// Whole seconds: the container's own start (a mount event too) stays
	// before since.
	next := time.Now().Truncate(time.Second).Add(time.Second)
	time.Sleep(time.Until(next))
	since := strconv.FormatInt(next.Unix(), 10)

	if out := d.MustDocker("cp", "on:/data/f", "-"); !strings.Contains(out, "hi") {
		t.Fatalf("cp out of on: %q", out)
	}
	if out := d.MustDocker("cp", "off:/d/f", "-"); !strings.Contains(out, "hi") {
		t.Fatalf("cp out of off: %q", out)
	}
	format := `{{.Action}} {{.Actor.ID}} {{.Actor.Attributes.driver}} {{.Actor.Attributes.container}} {{.Actor.Attributes.destination}} {{index .Actor.Attributes "read/write"}} {{.Actor.Attributes.propagation}}`
	count := func(out, line string) int {
		n := 0
		for _, l := range strings.Split(out, "\n") {
			if strings.TrimSpace(l) == line {
				n++
			}
		}
		return n
	}
	// A volume's propagation is empty, as at start; unmount has no
	// destination, read/write or propagation.
	mountOn := "mount evdata local " + on + " /data true"
	mountOff := "mount evdata local " + off + " /d false"
	unmountOn := "unmount evdata local " + on + " <no value>  <no value>"
	unmountOff := "unmount evdata local " + off + " <no value>  <no value>"
	out := d.replay(t, since, func(out string) bool {
		return count(out, mountOff) > 0 && count(out, unmountOff) == count(out, mountOff)
	}, "--filter", "type=volume", "--format", format)
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if count(out, mountOn) == 0 || count(out, mountOn) != count(out, unmountOn) ||
		count(out, mountOn)+count(out, unmountOn)+count(out, mountOff)+count(out, unmountOff) != len(lines) {
		t.Fatalf("volume events of docker cp:\n%s", out)
	}
	t.Logf("%d volume events for two docker cp", len(lines))
}
