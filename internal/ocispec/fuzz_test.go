package ocispec

import (
	"strings"
	"testing"
)

// The parsers take user input straight from the API: they must never
// panic, and what they accept must be well-formed.
func FuzzParseBind(f *testing.F) {
	for _, s := range []string{"/a:/b", "/a:/b:ro,rshared", "vol:/x:nocopy", "/x", ":", "a:b:c:d", "/a:/", "./d:/d", "/a:/b:z,Z"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		m, err := ParseBind(raw)
		if err != nil {
			return
		}
		if !strings.HasPrefix(m.Destination, "/") || m.Destination == "/" {
			t.Errorf("%q: destination %q accepted", raw, m.Destination)
		}
		if m.Kind == KindBind && !strings.HasPrefix(m.Source, "/") {
			t.Errorf("%q: relative bind source %q accepted", raw, m.Source)
		}
	})
}

func FuzzTmpfsOptions(f *testing.F) {
	for _, s := range []string{"", "rw,size=64m", "exec,noexec", "mode=1777,uid=1,gid=2", "bogus", "size", "=", "ro,rw,ro"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, data string) {
		opts, err := tmpfsOptions(data)
		if err != nil {
			return
		}
		seen := map[string]bool{}
		for _, o := range opts {
			key, ok := mountFlagKeys[o]
			if !ok {
				k, _, _ := strings.Cut(o, "=")
				key = "data:" + k
			}
			if seen[key] {
				t.Errorf("%q: %q has two options of kind %s", data, opts, key)
			}
			seen[key] = true
		}
	})
}

func FuzzResolvConf(f *testing.F) {
	f.Add("nameserver 127.0.0.53\nsearch a b\noptions ndots:1\n", false)
	f.Add("domain x\nnameserver ::1 # c\n", false)
	f.Add("nameserver 2001:db8::1\n", true)
	f.Fuzz(func(t *testing.T, host string, ipv6 bool) {
		out := string(ResolvConf([]byte(host), nil, nil, nil, ipv6))
		if !strings.HasPrefix(out, "nameserver ") {
			t.Errorf("no nameserver in %q (from %q)", out, host)
		}
	})
}
