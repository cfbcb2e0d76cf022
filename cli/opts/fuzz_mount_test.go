package opts

import "testing"

// FuzzMountOpt: any --mount value is parsed or refused, never a crash; an
// accepted one always has a target and a type (as docker's).
func FuzzMountOpt(f *testing.F) {
	for _, s := range []string{"type=bind,source=/a,target=/b,readonly", "type=volume,src=v,dst=/d,volume-opt=a=b,volume-nocopy",
		"type=tmpfs,target=/t,tmpfs-size=1m,tmpfs-mode=1777", "target=/x", `"type=bind,source=/a"`, "type=bind,bind-propagation=rshared,source=/a,target=/b",
		"", ",", "type=", "type=npipe,target=/x", "a=b=c", `"`, "type=volume,volume-label=x=y,volume-driver=local,target=/v"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		var m MountOpt
		if err := m.Set(s); err != nil {
			return
		}
		for _, v := range m.Value() {
			if v.Target == "" {
				t.Fatalf("%q: accepted without a target: %+v", s, v)
			}
			if v.Type == "" { // other types go to the daemon, as with docker
				t.Fatalf("%q: accepted without a type", s)
			}
		}
	})
}
