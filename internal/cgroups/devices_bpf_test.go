package cgroups

import (
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// runFilter interprets the instructions deviceFilter emits, on a device
// access (typ devBlock/devChar, access bits m=1 r=2 w=4).
func runFilter(t *testing.T, prog []insn, typ, major, minor, access uint32) bool {
	t.Helper()
	ctx := [3]uint32{access<<16 | typ, major, minor}
	var r [11]uint64
	for pc := 0; pc < len(prog); pc++ {
		in := prog[pc]
		switch in.code {
		case opLdxW:
			if in.src != 1 || in.off%4 != 0 || in.off < 0 || in.off > 8 {
				t.Fatalf("pc %d: load outside the context: %+v", pc, in)
			}
			r[in.dst] = uint64(ctx[in.off/4])
		case opAndK:
			r[in.dst] = uint64(uint32(r[in.dst]) & uint32(in.imm))
		case opRshK:
			r[in.dst] = uint64(uint32(r[in.dst]) >> uint32(in.imm))
		case opMovX:
			r[in.dst] = uint64(uint32(r[in.src]))
		case opMovK:
			r[in.dst] = uint64(uint32(in.imm))
		case opJneK:
			if r[in.dst] != uint64(int64(in.imm)) {
				pc += int(in.off)
			}
		case opJeqK:
			if r[in.dst] == uint64(int64(in.imm)) {
				pc += int(in.off)
			}
		case opExit:
			if r[0] > 1 {
				t.Fatalf("filter returned %d", r[0])
			}
			return r[0] == 1
		default:
			t.Fatalf("pc %d: unknown opcode %#x", pc, in.code)
		}
	}
	t.Fatal("filter ran off its end")
	return false
}

func TestDeviceFilter(t *testing.T) {
	const m, rd, w = 1, 2, 4
	docker, err := deviceFilter(append(
		[]specs.LinuxDeviceCgroup{{Allow: false, Access: "rwm"}},
		[]specs.LinuxDeviceCgroup{
			{Allow: true, Type: "c", Major: ptr(int64(1)), Minor: ptr(int64(3)), Access: "rwm"},
			{Allow: true, Type: "c", Major: ptr(int64(136)), Access: "rw"},
			{Allow: true, Type: "b", Access: "m"},
			{Allow: false, Type: "c", Major: ptr(int64(1)), Minor: ptr(int64(3)), Access: "w"},
		}...))
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name                      string
		typ, major, minor, access uint32
		want                      bool
	}{
		{"read /dev/null", devChar, 1, 3, rd, true},
		{"write /dev/null, denied by the later rule", devChar, 1, 3, w, false},
		{"read+write /dev/null", devChar, 1, 3, rd | w, false},
		{"mknod /dev/null", devChar, 1, 3, m, true},
		{"read /dev/zero", devChar, 1, 5, rd, false},
		{"read a pty", devChar, 136, 7, rd, true},
		{"mknod a pty", devChar, 136, 7, m, false},
		{"mknod a block device", devBlock, 8, 0, m, true},
		{"read a block device", devBlock, 8, 0, rd, false},
		{"block 1:3 is not char 1:3", devBlock, 1, 3, rd, false},
	} {
		if got := runFilter(t, docker, c.typ, c.major, c.minor, c.access); got != c.want {
			t.Errorf("%s: allowed=%v, want %v", c.name, got, c.want)
		}
	}

	none, _ := deviceFilter(nil)
	if !runFilter(t, none, devChar, 1, 5, rd) {
		t.Error("no rules: access denied, want the v1 default of allowed")
	}
	if _, err := deviceFilter([]specs.LinuxDeviceCgroup{{Type: "x"}}); err == nil {
		t.Error("bad rule type accepted")
	}
}

func TestDeviceFilterStopsAtCatchAll(t *testing.T) {
	prog, err := deviceFilter([]specs.LinuxDeviceCgroup{
		{Allow: true, Type: "c", Major: ptr(int64(1)), Minor: ptr(int64(5)), Access: "r"},
		{Allow: true, Access: "rwm"},
		{Allow: false, Type: "c", Major: ptr(int64(1)), Minor: ptr(int64(3))},
	})
	if err != nil {
		t.Fatal(err)
	}
	// prologue, the deny block (3 tests + verdict), the catch-all verdict;
	// nothing after it (the kernel refuses unreachable instructions).
	if want := 6 + 5 + 2; len(prog) != want {
		t.Fatalf("program has %d instructions, want %d", len(prog), want)
	}
	if runFilter(t, prog, devChar, 1, 3, 2) || !runFilter(t, prog, devChar, 1, 5, 4) {
		t.Fatal("catch-all allow after a deny: wrong verdicts")
	}
}
