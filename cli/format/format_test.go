package format

import (
	"bytes"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/image"
)

var fixedNow = time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)

func init() { now = func() time.Time { return fixedNow } }

func ago(d time.Duration) int64 { return fixedNow.Add(-d).Unix() }

func TestSinceAndSize(t *testing.T) {
	for d, want := range map[time.Duration]string{
		5 * time.Second:     "5 seconds ago",
		70 * time.Second:    "About a minute ago",
		3 * time.Minute:     "3 minutes ago",
		61 * time.Minute:    "About an hour ago",
		50 * time.Hour:      "2 days ago",
		24 * 15 * time.Hour: "2 weeks ago",
	} {
		if got := Since(fixedNow.Add(-d)); got != want {
			t.Errorf("Since(-%v) = %q, want %q", d, got, want)
		}
	}
	for n, want := range map[int64]string{0: "0B", 999: "999B", 1234: "1.23kB", 4_400_000: "4.4MB", 1_500_000_000: "1.5GB"} {
		if got := Size(n); got != want {
			t.Errorf("Size(%d) = %q, want %q", n, got, want)
		}
	}
	if got := TruncateID("sha256:0123456789abcdef0123"); got != "0123456789ab" {
		t.Errorf("TruncateID = %q", got)
	}
	if got := Ellipsis("abcdefghij", 5); got != "abcd…" {
		t.Errorf("Ellipsis = %q", got)
	}
	if got := Ellipsis("abc", 5); got != "abc" {
		t.Errorf("Ellipsis short = %q", got)
	}
}

func TestTemplateFuncs(t *testing.T) {
	v := map[string]any{"S": "hello world", "L": []string{"a", "b"}, "M": map[string]string{"k": "<v>"}}
	for tmpl, want := range map[string]string{
		`{{upper .S}}`:        "HELLO WORLD",
		`{{lower "ABC"}}`:     "abc",
		`{{title .S}}`:        "Hello World",
		`{{join .L ","}}`:     "a,b",
		`{{split "a:b" ":"}}`: "[a b]",
		`{{truncate .S 5}}`:   "hello",
		`{{pad "x" 1 2}}|`:    " x  |",
		`{{json .M}}`:         `{"k":"<v>"}`,
		`{{json .L}}`:         `["a","b"]`,
	} {
		got, err := Execute(tmpl, v)
		if err != nil || got != want {
			t.Errorf("%s = %q, %v; want %q", tmpl, got, err, want)
		}
	}
}

func sampleContainers() []container.Summary {
	return []container.Summary{
		{
			ID:      "4c0ffee0000000000000000000000000000000000000000000000000000000001",
			Names:   []string{"/web", "/other/link"},
			Image:   "nginx@sha256:abcdef",
			Command: "/docker-entrypoint.sh nginx -g 'daemon off;'",
			Created: ago(3 * time.Minute),
			State:   "running",
			Status:  "Up 3 minutes",
			Labels:  map[string]string{"b": "2", "a": "1"},
			Ports: []container.PortSummary{
				{PrivatePort: 443, Type: "tcp"},
				{IP: netip.MustParseAddr("0.0.0.0"), PrivatePort: 80, PublicPort: 8080, Type: "tcp"},
			},
		},
		{
			ID:      "deadbeef00000000000000000000000000000000000000000000000000000002",
			Names:   []string{"/idle"},
			Image:   "sha256:1234567890abcdef1234567890abcdef",
			Command: "sh",
			Created: ago(70 * time.Second),
			State:   "exited",
			Status:  "Exited (0) 5 seconds ago",
		},
	}
}

func containerRows(trunc bool) []Row {
	var rows []Row
	for _, c := range sampleContainers() {
		rows = append(rows, Container{C: c, Trunc: trunc})
	}
	return rows
}

func TestContainerTable(t *testing.T) {
	var b bytes.Buffer
	if err := Write(&b, ContainerTable, containerRows(true), ContainerHeader); err != nil {
		t.Fatal(err)
	}
	want := `CONTAINER ID   IMAGE                                     COMMAND                  CREATED              STATUS                     PORTS                           NAMES
4c0ffee00000   nginx                                     "/docker-entrypoint.…"   3 minutes ago        Up 3 minutes               443/tcp, 0.0.0.0:8080->80/tcp   web
deadbeef0000   sha256:1234567890abcdef1234567890abcdef   "sh"                     About a minute ago   Exited (0) 5 seconds ago                                   idle
`
	if b.String() != want {
		t.Errorf("table:\n%s\nwant:\n%s", b.String(), want)
	}
}

func TestContainerTableEmptyHasHeader(t *testing.T) {
	var b bytes.Buffer
	if err := Write(&b, ContainerTable, nil, ContainerHeader); err != nil {
		t.Fatal(err)
	}
	if want := "CONTAINER ID   IMAGE     COMMAND   CREATED   STATUS    PORTS     NAMES\n"; b.String() != want {
		t.Errorf("empty table = %q, want %q", b.String(), want)
	}
}

func TestContainerFormats(t *testing.T) {
	var b bytes.Buffer
	if err := Write(&b, QuietFmt, containerRows(true), ContainerHeader); err != nil {
		t.Fatal(err)
	}
	if b.String() != "4c0ffee00000\ndeadbeef0000\n" {
		t.Errorf("quiet = %q", b.String())
	}

	b.Reset()
	rows := containerRows(false)
	if err := Write(&b, `{{.Names}} {{.Image}} {{.Labels}} {{.Label "b"}} {{.State}}`, rows, ContainerHeader); err != nil {
		t.Fatal(err)
	}
	if want := "web,other/link nginx@sha256:abcdef a=1,b=2 2 running\nidle sha256:1234567890abcdef1234567890abcdef   exited\n"; b.String() != want {
		t.Errorf("custom (no-trunc) =\n%q\nwant\n%q", b.String(), want)
	}

	b.Reset()
	if err := Write(&b, `table {{.Names}}\t{{upper .State}}`, rows[:1], ContainerHeader); err != nil {
		t.Fatal(err)
	}
	if want := "NAMES            STATE\nweb,other/link   RUNNING\n"; b.String() != want {
		t.Errorf("table with func =\n%q\nwant\n%q", b.String(), want)
	}

	b.Reset()
	if err := Write(&b, "json", rows[1:], ContainerHeader); err != nil {
		t.Fatal(err)
	}
	for _, part := range []string{`"ID":"deadbeef00000000`, `"Names":"idle"`, `"Status":"Exited (0) 5 seconds ago"`, `"RunningFor":"About a minute ago"`, `"Command":"\"sh\""`} {
		if !strings.Contains(b.String(), part) {
			t.Errorf("json output %s lacks %s", b.String(), part)
		}
	}

	if err := Write(&b, "{{.Nope", rows, ContainerHeader); err == nil || !strings.Contains(err.Error(), "template parsing error") {
		t.Errorf("bad template: %v", err)
	}
}

func TestContainerSize(t *testing.T) {
	c := Container{C: container.Summary{SizeRw: 1234, SizeRootFs: 4_400_000}}
	if got := c.Size(); got != "1.23kB (virtual 4.4MB)" {
		t.Errorf("Size = %q", got)
	}
}

func TestImageTable(t *testing.T) {
	imgs := []image.Summary{
		{ID: "sha256:aaaaaaaaaaaa1111", RepoTags: []string{"busybox:latest", "localhost:5000/bb:1.0"}, RepoDigests: []string{"busybox@sha256:d1"}, Created: ago(50 * time.Hour), Size: 4_400_000},
		{ID: "sha256:bbbbbbbbbbbb2222", Created: ago(5 * time.Second), Size: 999},
		{ID: "sha256:cccccccccccc3333", RepoDigests: []string{"alpine@sha256:d2"}, Created: ago(61 * time.Minute), Size: 1234},
	}
	var b bytes.Buffer
	if err := Write(&b, ImageTable, ImageRows(imgs, true, false), ImageHeader); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSuffix(b.String(), "\n"), "\n")
	if len(lines) != 5 {
		t.Fatalf("image table:\n%s", b.String())
	}
	fields := func(s string) []string { return strings.Fields(s) }
	if got := strings.Join(fields(lines[0]), " "); got != "REPOSITORY TAG IMAGE ID CREATED SIZE" {
		t.Errorf("header = %q", got)
	}
	for i, w := range []string{
		"busybox latest aaaaaaaaaaaa 2 days ago 4.4MB",
		"localhost:5000/bb 1.0 aaaaaaaaaaaa 2 days ago 4.4MB",
		"<none> <none> bbbbbbbbbbbb 5 seconds ago 999B",
		"alpine <none> cccccccccccc About an hour ago 1.23kB",
	} {
		if got := strings.Join(fields(lines[i+1]), " "); got != w {
			t.Errorf("row %d = %q, want %q", i, got, w)
		}
	}

	b.Reset()
	if err := Write(&b, ImageTableDigests, ImageRows(imgs[:1], false, true), ImageHeader); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(b.String(), "DIGEST") || !strings.Contains(b.String(), "sha256:d1") || !strings.Contains(b.String(), "sha256:aaaaaaaaaaaa1111") {
		t.Errorf("digests/no-trunc table:\n%s", b.String())
	}
}

func TestHistoryRows(t *testing.T) {
	h := History{H: image.HistoryResponseItem{ID: "<missing>", Created: ago(3 * time.Minute), CreatedBy: "/bin/sh -c #(nop)\tADD file:0123456789abcdef0123456789abcdef in /", Size: 1234}, Trunc: true, Human: true}
	if h.ID() != "<missing>" || h.CreatedSince() != "3 minutes ago" || h.Size() != "1.23kB" {
		t.Errorf("history row = %q %q %q", h.ID(), h.CreatedSince(), h.Size())
	}
	if got := h.CreatedBy(); got != "/bin/sh -c #(nop) ADD file:0123456789abcdef0…" || len([]rune(got)) != 45 {
		t.Errorf("CreatedBy = %q", got)
	}
	h.Human = false
	if h.Size() != "1234" || !strings.HasPrefix(h.CreatedSince(), "2026-11-27T") {
		t.Errorf("non-human = %q %q", h.Size(), h.CreatedSince())
	}
}

func TestDisplayablePorts(t *testing.T) {
	any4 := netip.MustParseAddr("0.0.0.0")
	any6 := netip.MustParseAddr("::")
	p := func(ip netip.Addr, priv, pub uint16, proto string) container.PortSummary {
		return container.PortSummary{IP: ip, PrivatePort: priv, PublicPort: pub, Type: proto}
	}
	tests := []struct {
		in   []container.PortSummary
		want string
	}{
		{nil, ""},
		{[]container.PortSummary{p(netip.Addr{}, 80, 0, "tcp")}, "80/tcp"},
		{[]container.PortSummary{p(netip.Addr{}, 8002, 0, "tcp"), p(netip.Addr{}, 8000, 0, "tcp"), p(netip.Addr{}, 8001, 0, "tcp"), p(netip.Addr{}, 53, 0, "udp")}, "53/udp, 8000-8002/tcp"},
		{[]container.PortSummary{p(netip.Addr{}, 80, 0, "tcp"), p(netip.Addr{}, 82, 0, "tcp")}, "80/tcp, 82/tcp"},
		{[]container.PortSummary{p(any4, 80, 80, "tcp"), p(any4, 81, 81, "tcp")}, "0.0.0.0:80-81->80-81/tcp"},
		{[]container.PortSummary{p(any4, 80, 8080, "tcp"), p(any6, 80, 8080, "tcp"), p(netip.Addr{}, 443, 0, "tcp")}, "443/tcp, 0.0.0.0:8080->80/tcp, [::]:8080->80/tcp"},
	}
	for _, tc := range tests {
		if got := DisplayablePorts(tc.in); got != tc.want {
			t.Errorf("DisplayablePorts(%v) = %q, want %q", tc.in, got, tc.want)
		}
	}
}
