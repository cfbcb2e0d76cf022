package e2e

import (
	"fmt"
	"os"
	"strings"
	"testing"
)

// Classic-builder behaviours found missing after the first matrix
// (e2e/build_test.go): COPY --from keeps owners, RUN steps see the
// image's VOLUMEs as volumes (their writes are not committed), a missing
// base is named clearly, --pull works offline with a local base.
// Expectations were checked on dockerd 20.10 (BERTH_E2E_BUILD_REFERENCE,
// see build_test.go); berth-only ones are skipped there.
func TestBuildGaps(t *testing.T) {
	b := newBuildCase(t)
	t.Run("CopyFromKeepsOwners", b.copyFromOwners)
	t.Run("RunSeesVolumes", b.runVolumes)
	t.Run("MissingBase", b.missingBase)
	// POST /build is full duplex: a handler returning with the body
	// unread made net/http panic on the connection (golang/go#68560).
	if !b.reference && strings.Contains(b.d.Log(), "http: panic serving") {
		t.Errorf("berthd panicked serving a build:\n%s", b.d.Log())
	}
}

// copyFromOwners: COPY --from without --chown keeps the owners the files
// have in the source (dockerd copies them with their tar headers), while
// directories the copy makes are root's; with --chown, the given owner.
func (b *buildCase) copyFromOwners(t *testing.T) {
	tag := fmt.Sprintf("gaps-owned-%d", os.Getpid())
	src := contextDir(t, map[string]string{"Dockerfile": "FROM busybox\n" +
		"RUN echo i > /img && chown 55:66 /img\n"})
	b.docker(t, "build", "-q", "--network", "none", "-t", tag, src)
	defer b.d.Docker("", "rmi", tag)
	dir := contextDir(t, map[string]string{"Dockerfile": "FROM busybox AS src\n" +
		"RUN mkdir -p /d/sub && echo a > /d/f && echo b > /d/sub/g && chown 100:200 /d/f && chown 101:201 /d/sub && " +
		"chown 102:202 /d/sub/g /d && echo c > /file && chown 300:400 /file && ln -s f /d/link && chown -h 103:203 /d/link\n" +
		"FROM busybox\n" +
		"RUN mkdir /exist && chown 5:6 /exist\n" +
		"COPY --from=src /file /new/dir/file\n" +
		"COPY --from=src /d /copied\n" +
		"COPY --from=src /d /exist\n" +
		"COPY --from=0 /d/ /copied2/\n" +
		"COPY --from=src --chown=7:8 /file /chowned\n" +
		"COPY --from=" + tag + " /img /img\n" +
		"COPY Dockerfile /ctx\n" +
		"RUN stat -c 'owner %n %u:%g' /new/dir /new/dir/file /copied /copied/f /copied/sub /copied/sub/g /copied/link " +
		"/exist /exist/f /copied2 /copied2/sub/g /chowned /img /ctx\n"})
	defer b.d.Docker("", "builder", "prune", "-af")
	out := b.docker(t, "build", "--network", "none", dir)
	got := map[string]string{}
	for _, l := range strings.Split(out, "\n") {
		if f := strings.Fields(l); len(f) == 3 && f[0] == "owner" {
			got[f[1]] = f[2]
		}
	}
	for p, want := range map[string]string{
		"/new/dir": "0:0", "/new/dir/file": "300:400",
		"/copied": "0:0", "/copied/f": "100:200", "/copied/sub": "101:201", "/copied/sub/g": "102:202", "/copied/link": "103:203",
		"/exist": "5:6", "/exist/f": "100:200",
		"/copied2": "0:0", "/copied2/sub/g": "102:202",
		"/chowned": "7:8", "/img": "55:66", "/ctx": "0:0",
	} {
		if got[p] != want {
			t.Errorf("%s owned by %q, want %s (as dockerd)", p, got[p], want)
		}
	}
	if t.Failed() {
		t.Log(out)
	}
}

// runVolumes: dockerd's classic builder runs a RUN step in a container
// of the step's image, VOLUMEs included, so what a later RUN writes
// under a declared volume goes to an anonymous volume (seeded with the
// image's files) and never into the image; the volume is removed with
// the step's container.
func (b *buildCase) runVolumes(t *testing.T) {
	volumes := b.docker(t, "volume", "ls", "-q")
	containers := b.docker(t, "ps", "-aq")
	tag := fmt.Sprintf("gaps-vol-%d", os.Getpid())
	dir := contextDir(t, map[string]string{"Dockerfile": "FROM busybox\n" +
		"RUN mkdir -p /data /other && echo base > /data/base && chown 9:9 /data\n" +
		"VOLUME /data /vol2\n" +
		"RUN echo run > /data/run && echo run > /other/run && mkdir /vol2/sub && echo seen-$(cat /data/base)-$(stat -c %u /data)\n" +
		"RUN ls /data /vol2 /other; test ! -e /data/run && test ! -e /vol2/sub && test -e /other/run && echo VOLUMES-DISCARDED\n"})
	defer b.d.Docker("", "rmi", tag)
	for _, cli := range []func(string, ...string) Result{b.d.Docker, b.d.Berth} {
		if b.reference {
			cli = b.d.Docker // berth's CLI is berthd's
		}
		r := cli("", "build", "--no-cache", "--network", "none", "-t", tag, dir)
		if r.Code != 0 || !strings.Contains(r.Stdout, "seen-base-9") || !strings.Contains(r.Stdout, "VOLUMES-DISCARDED") {
			t.Errorf("a RUN after VOLUME must see the image's files in the volume and its writes there must be discarded: %s", r)
		}
	}
	// the image too: its volume is seeded from the layers only
	if r := b.d.Docker("", "run", "--rm", "--network", "none", tag, "sh", "-c", "ls /data; test -e /other/run && test ! -e /data/run"); r.Code != 0 {
		t.Errorf("built image: %s", r)
	}
	if got := b.docker(t, "volume", "ls", "-q"); got != volumes {
		t.Errorf("RUN containers' anonymous volumes were left behind:\n%s\nbefore:\n%s", got, volumes)
	}
	if got := b.docker(t, "ps", "-aq"); got != containers {
		t.Errorf("build left containers: %s", got)
	}
}

// missingBase: a FROM that is not local fails with a message naming the
// image; berth, which never pulls, says it is not local. --pull with a
// local base builds offline on berth (dockerd tries the registry).
func (b *buildCase) missingBase(t *testing.T) {
	dir := contextDir(t, map[string]string{"Dockerfile": "FROM nosuch-gaps-base:1\nRUN true\n"})
	for _, cli := range []func(string, ...string) Result{b.d.Docker, b.d.Berth} {
		r := cli("", "build", "--network", "none", dir)
		// dockerd offline names the registry it could not reach instead
		if r.Code != 1 || !b.reference && !strings.Contains(r.Stderr, "nosuch-gaps-base:1") {
			t.Errorf("missing base: want exit 1 and the image's name: %s", r)
		}
		if !b.reference && !strings.Contains(r.Stderr, "not present locally") {
			t.Errorf("missing base: berth should say the image is not local: %s", r)
		}
		if b.reference {
			break
		}
	}
	if b.reference {
		return
	}
	dir = contextDir(t, map[string]string{"Dockerfile": "FROM busybox\nRUN echo pulled-ok\n"})
	for _, cli := range []func(string, ...string) Result{b.d.Docker, b.d.Berth} {
		if r := cli("", "build", "--pull", "--network", "none", dir); r.Code != 0 || !strings.Contains(r.Stdout, "pulled-ok") {
			t.Errorf("--pull with a local base: %s", r)
		}
	}
}
