package opts

import (
	"testing"
)

func TestMemBytes(t *testing.T) {
	for in, want := range map[string]int64{"0": 0, "1024": 1024, "1k": 1024, "64m": 64 << 20, "1g": 1 << 30, "1.5g": 3 << 29, "2GB": 2 << 30} {
		var m MemBytes
		if err := m.Set(in); err != nil || m.Value() != want {
			t.Errorf("MemBytes(%q) = %d, %v; want %d", in, m.Value(), err, want)
		}
	}
	var m MemBytes
	if err := m.Set("-5"); err == nil {
		t.Error("negative size should fail")
	}
	if m.Type() != "bytes" {
		t.Errorf("type = %q", m.Type())
	}
}

func TestNanoCPUs(t *testing.T) {
	for in, want := range map[string]int64{"1": 1e9, "0.5": 5e8, "1.5": 15e8, "0.000000001": 1, "2.25": 225e7} {
		var c NanoCPUs
		if err := c.Set(in); err != nil || c.Value() != want {
			t.Errorf("NanoCPUs(%q) = %d, %v; want %d", in, c.Value(), err, want)
		}
	}
	var c NanoCPUs
	if err := c.Set("0.0000000001"); err == nil || err.Error() != "value is too precise" {
		t.Errorf("too precise: %v", err)
	}
	if c.Type() != "decimal" {
		t.Errorf("type = %q", c.Type())
	}
}

func TestUlimitLaterWinsSortedByName(t *testing.T) {
	u := NewUlimitOpt()
	for _, v := range []string{"nofile=1:2", "core=0", "nofile=3:4"} {
		if err := u.Set(v); err != nil {
			t.Fatal(err)
		}
	}
	l := u.GetList()
	if len(l) != 2 || l[0].Name != "core" || l[1].Name != "nofile" || l[1].Soft != 3 {
		t.Errorf("ulimits = %v", u)
	}
	if err := u.Set("bogus=1"); err == nil {
		t.Error("unknown ulimit should fail")
	}
}

func TestConvertKVStringsToMap(t *testing.T) {
	m := ConvertKVStringsToMap([]string{"a=1", "b", "c=x=y", "a=2"})
	if m["a"] != "2" || m["b"] != "" || m["c"] != "x=y" || len(m) != 3 {
		t.Errorf("map = %v", m)
	}
}
