package router

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/berth-dev/berth/internal/errdefs"
)

func TestCompareVersions(t *testing.T) {
	for _, c := range []struct {
		a, b string
		want int
	}{
		{"1.24", "1.24", 0}, {"1.9", "1.24", -1}, {"1.51", "1.9", 1}, {"1.51", "1.51.0", 0},
		{"2.0", "1.99", 1}, {"1.40", "1.4", 1},
	} {
		if got := CompareVersions(c.a, c.b); got != c.want {
			t.Errorf("CompareVersions(%s, %s) = %d, want %d", c.a, c.b, got, c.want)
		}
	}
	ctx := context.Background()
	if VersionFromContext(ctx) != APIVersion || !VersionAtLeast(ctx, "1.51") {
		t.Error("no version in context: want the current one")
	}
	ctx = WithVersion(ctx, "1.41")
	if VersionAtLeast(ctx, "1.42") || !VersionAtLeast(ctx, "1.41") {
		t.Error("VersionAtLeast on 1.41")
	}
}

func req(method, target, ct, body string) *http.Request {
	r := httptest.NewRequest(method, target, strings.NewReader(body))
	if body == "" {
		r = httptest.NewRequest(method, target, nil)
	}
	if ct != "" {
		r.Header.Set("Content-Type", ct)
	}
	return r
}

func TestBoolAndIntValues(t *testing.T) {
	r := req("GET", "/x?a=1&b=0&c=no&d=false&e=none&f=true&g=&h=yes&i=%20FALSE%20&n=12&bad=1x&neg=-3", "", "")
	for k, want := range map[string]bool{"a": true, "b": false, "c": false, "d": false, "e": false, "f": true, "g": false, "h": true, "i": false, "absent": false} {
		if got := BoolValue(r, k); got != want {
			t.Errorf("BoolValue(%s) = %v", k, got)
		}
	}
	if !BoolValueOr(r, "absent", true) || BoolValueOr(r, "b", true) {
		t.Error("BoolValueOr")
	}
	if n, ok, err := IntValue(r, "n"); n != 12 || !ok || err != nil {
		t.Errorf("IntValue(n) = %d %v %v", n, ok, err)
	}
	if n, ok, err := IntValue(r, "neg"); n != -3 || !ok || err != nil {
		t.Errorf("IntValue(neg) = %d %v %v", n, ok, err)
	}
	if _, ok, err := IntValue(r, "absent"); ok || err != nil {
		t.Errorf("IntValue(absent) = %v %v", ok, err)
	}
	if _, _, err := IntValue(r, "bad"); !errdefs.Is(err, errdefs.InvalidArgument) {
		t.Errorf("IntValue(bad) = %v", err)
	}
}

func TestDecodeJSON(t *testing.T) {
	var v struct{ A int }
	cases := []struct {
		ct, body string
		class    errdefs.Class
		empty    bool
	}{
		{"application/json", `{"A":1}`, errdefs.Unknown, false},
		{"application/json; charset=utf-8", `{"A":1}`, errdefs.Unknown, false},
		{"", "", errdefs.Unknown, true},
		{"application/json", "", errdefs.Unknown, true},
		{"text/plain", `{"A":1}`, errdefs.InvalidArgument, false},
		{"", `{"A":1}`, errdefs.InvalidArgument, false},
		{"application/json", `{"A":"x"}`, errdefs.InvalidArgument, false},
		{"application/json", `{"A":1}{}`, errdefs.InvalidArgument, false},
		{"application/json", `[`, errdefs.InvalidArgument, false},
	}
	for _, c := range cases {
		err := DecodeJSON(req("POST", "/x", c.ct, c.body), &v)
		switch {
		case c.empty:
			if err != ErrEmptyBody {
				t.Errorf("%q %q: %v, want ErrEmptyBody", c.ct, c.body, err)
			}
		case c.class == errdefs.Unknown:
			if err != nil || v.A != 1 {
				t.Errorf("%q %q: %v (A=%d)", c.ct, c.body, err, v.A)
			}
		default:
			if !errdefs.Is(err, c.class) {
				t.Errorf("%q %q: %v, want %v", c.ct, c.body, err, c.class)
			}
		}
	}
	err := DecodeJSON(req("POST", "/x", "text/plain", "x"), &v)
	if err == nil || err.Error() != "unsupported Content-Type header (text/plain): must be 'application/json'" {
		t.Errorf("content type message: %v", err)
	}
}

func TestParseTimestamp(t *testing.T) {
	for in, want := range map[string]time.Time{
		"0":                    time.Unix(0, 0),
		"1700000000":           time.Unix(1700000000, 0),
		"1700000000.000000001": time.Unix(1700000000, 1),
		"1700000000.1":         time.Unix(1700000000, 100000000),
		"1700000000.123456789": time.Unix(1700000000, 123456789),
		"-5":                   time.Unix(-5, 0),
	} {
		got, err := ParseTimestamp(in)
		if err != nil || !got.Equal(want) {
			t.Errorf("%s: %v %v, want %v", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "x", "1.", "1.1234567890", "1.-1", "1.a", "1.2.3", "2023-01-01"} {
		if _, err := ParseTimestamp(bad); !errdefs.Is(err, errdefs.InvalidArgument) {
			t.Errorf("%q: %v", bad, err)
		}
	}
}
