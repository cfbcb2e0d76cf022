package image

import (
	"reflect"
	"strings"
	"testing"

	dockerspec "github.com/moby/docker-image-spec/specs-go/v1"

	"github.com/berth-dev/berth/internal/errdefs"
)

func TestApplyChanges(t *testing.T) {
	var c dockerspec.DockerOCIImageConfig
	err := ApplyChanges(&c, []string{
		`CMD ["sh"]`,
		`ENV A=1 B="two words"`,
		`ENV LEGACY some value`,
		`env A=3`,
		`EXPOSE 80 53/udp 8000-8010/tcp`,
		`LABEL a=b "c d"=e`,
		`ONBUILD RUN echo hi`,
		`USER nobody:nogroup`,
		`VOLUME ["/data", "/logs"]`,
		`VOLUME /cache`,
		`WORKDIR /srv`,
		`WORKDIR app`,
		`STOPSIGNAL SIGKILL`,
	})
	if err != nil {
		t.Fatal(err)
	}
	want := dockerspec.DockerOCIImageConfig{}
	want.Cmd = []string{"sh"}
	want.Env = []string{"A=3", "B=two words", "LEGACY=some value"}
	want.ExposedPorts = map[string]struct{}{"80/tcp": {}, "53/udp": {}, "8000-8010/tcp": {}}
	want.Labels = map[string]string{"a": "b", "c d": "e"}
	want.OnBuild = []string{"RUN echo hi"}
	want.User = "nobody:nogroup"
	want.Volumes = map[string]struct{}{"/data": {}, "/logs": {}, "/cache": {}}
	want.WorkingDir = "/srv/app"
	want.StopSignal = "SIGKILL"
	if !reflect.DeepEqual(c, want) {
		t.Fatalf("got  %+v\nwant %+v", c, want)
	}
}

func TestApplyChangesCommandForms(t *testing.T) {
	var c dockerspec.DockerOCIImageConfig
	c.Cmd = []string{"inherited"}
	if err := ApplyChanges(&c, []string{`ENTRYPOINT /bin/app --flag "x y"`}); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(c.Entrypoint, []string{"/bin/sh", "-c", `/bin/app --flag "x y"`}) || c.Cmd != nil {
		t.Fatalf("shell form: %q cmd %q", c.Entrypoint, c.Cmd)
	}
	if err := ApplyChanges(&c, []string{`ENTRYPOINT ["/bin/app", "-v"]`, `CMD [not json`}); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(c.Entrypoint, []string{"/bin/app", "-v"}) || !reflect.DeepEqual(c.Cmd, []string{"/bin/sh", "-c", "[not json"}) {
		t.Fatalf("exec form: %q / %q", c.Entrypoint, c.Cmd)
	}
}

func TestApplyChangesRejects(t *testing.T) {
	for change, msg := range map[string]string{
		"RUN echo hi":        "RUN is not a valid change command",
		"FROM busybox":       "FROM is not a valid change command",
		"BOGUS x":            "unknown instruction: BOGUS",
		"EXPOSE 99999":       "invalid containerPort: 99999",
		"EXPOSE 80/foo":      "invalid proto: foo",
		"EXPOSE 90-80":       "invalid containerPort: 90-80",
		"STOPSIGNAL SIGNOPE": "STOPSIGNAL",
		"ENV ONLYKEY":        "ENV must have two arguments",
		"ENV =x":             "names can not be blank",
		"USER":               "USER requires at least one argument",
		"ONBUILD FROM x":     "isn't allowed as an ONBUILD trigger",
		"LABEL a='unclosed":  "LABEL",
		`VOLUME [""]`:        "can not be an empty string",
		"ENTRYPOINT":         "ENTRYPOINT requires at least one argument",
	} {
		var c dockerspec.DockerOCIImageConfig
		err := ApplyChanges(&c, []string{change})
		if !errdefs.Is(err, errdefs.InvalidArgument) || !strings.Contains(err.Error(), msg) {
			t.Errorf("%q: got %v, want InvalidArgument containing %q", change, err, msg)
		}
	}
}

// FuzzApplyChanges: any change line either applies or is InvalidArgument;
// it never panics.
func FuzzApplyChanges(f *testing.F) {
	for _, s := range []string{`CMD ["sh"]`, "ENV A=1 B='2 3'", "EXPOSE 80-90/udp", "LABEL \"a b\"=c", "WORKDIR ../x", "STOPSIGNAL 9", "VOLUME [\"/a\"", "ONBUILD"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, change string) {
		var c dockerspec.DockerOCIImageConfig
		if err := ApplyChanges(&c, []string{change}); err != nil && !errdefs.Is(err, errdefs.InvalidArgument) {
			t.Fatalf("%q: %v is not InvalidArgument", change, err)
		}
		if c.WorkingDir != "" && !strings.HasPrefix(c.WorkingDir, "/") {
			t.Fatalf("%q: relative WorkingDir %q", change, c.WorkingDir)
		}
	})
}
