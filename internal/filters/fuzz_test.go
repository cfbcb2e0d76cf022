package filters

import (
	"bytes"
	"testing"

	"github.com/berth-dev/berth/internal/errdefs"
)

// FuzzParse: any filters query value either parses, and then survives a
// round trip through its JSON form unchanged, or is an InvalidArgument.
func FuzzParse(f *testing.F) {
	for _, s := range []string{"", `{"status":{"running":true}}`, `{"label":["a=b","c"]}`, `{"name":{"x":true},"id":{"abc":true}}`,
		`{"before":{"c1":true}}`, `{"dangling":["true"]}`, `[]`, `{"a":1}`, `{"a":{"b":false}}`, `null`, `{"a":null}`, `{"a":[null]}`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		a, err := Parse(s)
		if err != nil {
			if !errdefs.Is(err, errdefs.InvalidArgument) {
				t.Fatalf("Parse(%q): unclassified error %v", s, err)
			}
			return
		}
		b1, err := a.MarshalJSON()
		if err != nil {
			t.Fatal(err)
		}
		a2, err := Parse(string(b1))
		if err != nil {
			t.Fatalf("re-parse %s: %v", b1, err)
		}
		b2, _ := a2.MarshalJSON()
		if !bytes.Equal(b1, b2) && a.Len() != 0 {
			t.Fatalf("round trip: %s -> %s", b1, b2)
		}
		for _, k := range []string{"status", "label", "name"} {
			for _, v := range a.Get(k) {
				if !a.Match(k, v) {
					t.Fatalf("%s=%s listed but does not match", k, v)
				}
			}
		}
	})
}
