// Package seccomp compiles an OCI seccomp profile (specs.LinuxSeccomp) to a
// classic BPF program and installs it on the calling thread. It is pure Go:
// berth builds with CGO_ENABLED=0, so libseccomp is not an option, and the
// pure-Go libraries that serve (elastic/go-seccomp-bpf) lack what Docker's
// profiles need (a per-rule errno such as clone3's ENOSYS, MASKED_EQ, the
// x86/x32 sub-architectures); only its syscall tables are used here.
//
// # Program shape
//
//	ld arch
//	  one section per architecture of the profile (native + sub-arches),
//	  reached by jeq arch; any other arch -> KILL_THREAD (libseccomp's
//	  bad-arch action). x86_64 and x32 share an audit arch: x32 syscalls
//	  (nr >= 0x40000000) go to the x32 section.
//	section:
//	  ld nr; the rules' syscall numbers, sorted, in chunks of up to 16:
//	  jgt max(chunk) -> next chunk; within the chunk one block per syscall:
//	    unconditional:  jeq nr ? ret action : next
//	    conditional:    jne nr -> next; per rule: argument tests, ret action;
//	                    then the unconditional rule's action if any
//	  end of chunk (no match) -> ret default action
//
// So a syscall costs about 2*chunks + 2*16 instructions at worst instead of
// a scan of the whole list.
//
// Rule semantics follow runc: conditions on different arguments are ANDed;
// several conditions on the same argument make one rule per condition
// (ORed), as runc does for libseccomp. Syscall names unknown to an
// architecture's table are skipped, as runc skips names libseccomp does
// not know.
package seccomp

import (
	"cmp"
	"fmt"
	"slices"

	"github.com/elastic/go-seccomp-bpf/arch"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// seccomp return values (linux/seccomp.h).
const (
	retKillProcess = 0x80000000
	retKillThread  = 0x00000000
	retTrap        = 0x00030000
	retErrno       = 0x00050000
	retTrace       = 0x7ff00000
	retLog         = 0x7ffc0000
	retAllow       = 0x7fff0000

	x32SyscallBit = 0x40000000

	offNr   = 0
	offArch = 4
	offArgs = 16
)

// BPF opcodes (linux/filter.h).
const (
	ldW   = unix.BPF_LD | unix.BPF_W | unix.BPF_ABS
	ret   = unix.BPF_RET | unix.BPF_K
	jeq   = unix.BPF_JMP | unix.BPF_JEQ | unix.BPF_K
	jgt   = unix.BPF_JMP | unix.BPF_JGT | unix.BPF_K
	jge   = unix.BPF_JMP | unix.BPF_JGE | unix.BPF_K
	ja    = unix.BPF_JMP | unix.BPF_JA
	andK  = unix.BPF_ALU | unix.BPF_AND | unix.BPF_K
	chunk = 16
)

// archInfo maps the OCI architecture names to syscall tables.
func archInfo(a specs.Arch) *arch.Info {
	switch a {
	case specs.ArchX86_64:
		return arch.X86_64
	case specs.ArchX86:
		return arch.I386
	case specs.ArchX32:
		return arch.X32
	case specs.ArchAARCH64:
		return arch.AARCH64
	case specs.ArchARM:
		return arch.ARM
	}
	return nil
}

// knownArch are the architecture names runc (libseccomp) accepts; other
// names fail the profile rather than being skipped.
var knownArch = map[specs.Arch]bool{
	specs.ArchX86: true, specs.ArchX86_64: true, specs.ArchX32: true, specs.ArchARM: true, specs.ArchAARCH64: true,
	specs.ArchMIPS: true, specs.ArchMIPS64: true, specs.ArchMIPS64N32: true, specs.ArchMIPSEL: true,
	specs.ArchMIPSEL64: true, specs.ArchMIPSEL64N32: true, specs.ArchPPC: true, specs.ArchPPC64: true,
	specs.ArchPPC64LE: true, specs.ArchS390: true, specs.ArchS390X: true, specs.ArchPARISC: true,
	specs.ArchPARISC64: true, specs.ArchRISCV64: true, specs.ArchLOONGARCH64: true, specs.ArchM68K: true,
	specs.ArchSH: true, specs.ArchSHEB: true,
}

// subArch reports whether a runs on a native machine (x86 and x32 on
// x86_64, arm on aarch64).
func subArch(native, a specs.Arch) bool {
	switch native {
	case specs.ArchX86_64:
		return a == specs.ArchX86 || a == specs.ArchX32
	case specs.ArchAARCH64:
		return a == specs.ArchARM
	}
	return false
}

// nativeArch is the OCI name of the architecture berth runs on.
func nativeArch() (specs.Arch, error) {
	info, err := arch.GetInfo("")
	if err != nil {
		return "", err
	}
	for _, a := range []specs.Arch{specs.ArchX86_64, specs.ArchAARCH64, specs.ArchX86, specs.ArchARM} {
		if archInfo(a) == info {
			return a, nil
		}
	}
	return "", fmt.Errorf("seccomp: unsupported architecture %s", info.Name)
}

// action turns an OCI action into a seccomp return value.
func action(a specs.LinuxSeccompAction, errnoRet *uint, defErrno uint32) (uint32, error) {
	errno := defErrno
	if errnoRet != nil {
		errno = uint32(*errnoRet)
	}
	switch a {
	case specs.ActKill, specs.ActKillThread:
		return retKillThread, nil
	case specs.ActKillProcess:
		return retKillProcess, nil
	case specs.ActTrap:
		return retTrap, nil
	case specs.ActErrno:
		return retErrno | (errno & 0xffff), nil
	case specs.ActTrace:
		return retTrace | (errno & 0xffff), nil
	case specs.ActAllow:
		return retAllow, nil
	case specs.ActLog:
		return retLog, nil
	case specs.ActNotify:
		return 0, fmt.Errorf("seccomp: action %s is not supported (no notify listener)", a)
	}
	return 0, fmt.Errorf("seccomp: unknown action %q", a)
}

// rule is one compiled condition set: all conditions must hold.
type rule struct {
	conds  []specs.LinuxSeccompArg
	action uint32
}

// Compile turns a profile into a BPF program for this machine.
func Compile(p *specs.LinuxSeccomp) ([]unix.SockFilter, error) {
	native, err := nativeArch()
	if err != nil {
		return nil, err
	}
	return compileFor(p, native)
}

func compileFor(p *specs.LinuxSeccomp, native specs.Arch) ([]unix.SockFilter, error) {
	if p.ListenerPath != "" {
		return nil, fmt.Errorf("seccomp: listenerPath is not supported")
	}
	defErrno := uint32(unix.EPERM)
	if p.DefaultErrnoRet != nil {
		defErrno = uint32(*p.DefaultErrnoRet)
	}
	def, err := action(p.DefaultAction, nil, defErrno)
	if err != nil {
		return nil, fmt.Errorf("defaultAction: %w", err)
	}
	// Architectures: the native one always (libseccomp's filter always
	// holds it), then the profile's, deduplicated.
	arches := []specs.Arch{native}
	for _, a := range p.Architectures {
		if !knownArch[a] {
			return nil, fmt.Errorf("string %s is not a valid arch for seccomp", a) // runc's words
		}
		if !subArch(native, a) {
			continue // not this machine's family (arm on x86, ...)
		}
		dup := false
		for _, b := range arches {
			dup = dup || a == b
		}
		if !dup {
			arches = append(arches, a)
		}
	}
	// Per syscall name: the rules, in profile order; and validation.
	type named struct {
		name  string
		rules []rule
		// uncond is the unconditional rule's action, if any.
		uncond    uint32
		hasUncond bool
	}
	var order []string
	byName := map[string]*named{}
	for i, sc := range p.Syscalls {
		act, err := action(sc.Action, sc.ErrnoRet, defErrno)
		if err != nil {
			return nil, fmt.Errorf("syscalls[%d]: %w", i, err)
		}
		for _, a := range sc.Args {
			if a.Index > 5 {
				return nil, fmt.Errorf("syscalls[%d]: argument index %d out of range 0-5", i, a.Index)
			}
			if err := checkOp(a.Op); err != nil {
				return nil, fmt.Errorf("syscalls[%d]: %w", i, err)
			}
		}
		rules := splitRules(sc.Args, act)
		for _, name := range sc.Names {
			n := byName[name]
			if n == nil {
				n = &named{name: name}
				byName[name] = n
				order = append(order, name)
			}
			if len(sc.Args) == 0 {
				if !n.hasUncond {
					n.uncond, n.hasUncond = act, true
				}
				continue
			}
			n.rules = append(n.rules, rules...)
		}
	}

	// About 2.5 instructions and 1 label per syscall and architecture.
	a := &asm{prog: make([]insn, 0, 3*len(order)*len(arches)+64), labels: make([]int, 0, len(order)*len(arches)+64)}
	a.ins(ldW, 0, 0, offArch)
	labels := make([]int, len(arches))
	for i := range arches {
		labels[i] = a.label()
	}
	// x86_64 and x32 share AUDIT_ARCH_X86_64: dispatch once, split on nr.
	x32 := -1
	for i, ar := range arches {
		if ar == specs.ArchX32 {
			x32 = i
		}
	}
	dispatched := map[arch.AuditArch]bool{}
	for i, ar := range arches {
		info := archInfo(ar)
		if ar == specs.ArchX32 || dispatched[info.ID] {
			continue
		}
		dispatched[info.ID] = true
		a.jmp(jeq, uint32(info.ID), labels[i], -1)
	}
	if x32 >= 0 && !dispatched[arch.X86_64.ID] {
		a.jmp(jeq, uint32(arch.X86_64.ID), labels[x32], -1)
	}
	a.ins(ret, 0, 0, retKillThread)

	for i, ar := range arches {
		info := archInfo(ar)
		a.mark(labels[i])
		a.ins(ldW, 0, 0, offNr)
		if ar == specs.ArchX86_64 {
			if x32 >= 0 {
				a.jmp(jge, x32SyscallBit, labels[x32], -1)
			} else {
				skip := a.label()
				a.cjmp(jge, x32SyscallBit, -1, skip)
				a.ins(ret, 0, 0, retKillThread)
				a.mark(skip)
			}
		}
		type sys struct {
			nr int
			n  *named
		}
		list := make([]sys, 0, len(order))
		for _, name := range order {
			nr, ok := info.SyscallNames[name]
			if !ok {
				continue
			}
			list = append(list, sys{nr | info.SeccompMask, byName[name]})
		}
		slices.SortFunc(list, func(a, b sys) int {
			if a.nr != b.nr {
				return cmp.Compare(a.nr, b.nr)
			}
			return cmp.Compare(a.n.name, b.n.name)
		})
		for start := 0; start < len(list); start += chunk {
			end := min(start+chunk, len(list))
			next := a.label()
			a.jmp(jgt, uint32(list[end-1].nr), next, -1)
			for _, s := range list[start:end] {
				if len(s.n.rules) == 0 {
					// jeq nr ? ret : next block
					skip := a.label()
					a.cjmp(jeq, uint32(s.nr), -1, skip)
					a.ins(ret, 0, 0, s.n.uncond)
					a.mark(skip)
					continue
				}
				after := a.label()
				a.jmp(jeq, uint32(s.nr), -1, after)
				for _, r := range s.n.rules {
					fail := a.label()
					for _, c := range r.conds {
						a.cond(c, fail)
					}
					a.ins(ret, 0, 0, r.action)
					a.mark(fail)
				}
				if s.n.hasUncond {
					a.ins(ret, 0, 0, s.n.uncond)
				} else {
					a.ins(ret, 0, 0, def)
				}
				a.mark(after)
				a.ins(ldW, 0, 0, offNr)
			}
			a.ins(ret, 0, 0, def)
			a.mark(next)
		}
		a.ins(ret, 0, 0, def)
	}
	prog, err := a.assemble()
	if err != nil {
		return nil, err
	}
	if len(prog) > 4096 {
		return nil, fmt.Errorf("seccomp: program of %d instructions exceeds the kernel's 4096", len(prog))
	}
	return prog, nil
}

func checkOp(op specs.LinuxSeccompOperator) error {
	switch op {
	case specs.OpNotEqual, specs.OpLessThan, specs.OpLessEqual, specs.OpEqualTo,
		specs.OpGreaterEqual, specs.OpGreaterThan, specs.OpMaskedEqual:
		return nil
	}
	return fmt.Errorf("unknown operator %q", op)
}

// splitRules applies runc's rule: several conditions on one argument make
// one rule each; otherwise all conditions form one rule.
func splitRules(args []specs.LinuxSeccompArg, act uint32) []rule {
	if len(args) == 0 {
		return nil
	}
	count := map[uint]int{}
	multi := false
	for _, a := range args {
		count[a.Index]++
		multi = multi || count[a.Index] > 1
	}
	if !multi {
		return []rule{{conds: args, action: act}}
	}
	out := make([]rule, 0, len(args))
	for _, a := range args {
		out = append(out, rule{conds: []specs.LinuxSeccompArg{a}, action: act})
	}
	return out
}

// asm is a tiny assembler with forward labels.
type asm struct {
	prog   []insn
	labels []int // label -> instruction index (-1 unset)
}

// insn is an instruction whose jump targets may be labels (>= 0) or -1
// for "the next instruction".
type insn struct {
	op     uint16
	jt, jf int
	k      uint32
	// long: an unconditional ja to label jt.
	long bool
}

func (a *asm) label() int {
	a.labels = append(a.labels, -1)
	return len(a.labels) - 1
}

func (a *asm) mark(l int) { a.labels[l] = len(a.prog) }

func (a *asm) ins(op uint16, jt, jf uint8, k uint32) {
	a.prog = append(a.prog, insn{op: op, jt: -1, jf: -1, k: k})
}

// cjmp is a conditional jump whose targets are near (< 256 instructions).
func (a *asm) cjmp(op uint16, k uint32, jt, jf int) {
	a.prog = append(a.prog, insn{op: op, jt: jt, jf: jf, k: k})
}

// jmp is a conditional jump with one far target: if the condition is
// true (jt set) or false (jf set) control goes to that label through a
// 32-bit ja; otherwise to the instruction after the ja.
func (a *asm) jmp(op uint16, k uint32, jt, jf int) {
	if jt >= 0 {
		// cond ? ja jt : skip ja
		a.prog = append(a.prog, insn{op: op, jt: -1, jf: -2, k: k})
		a.prog = append(a.prog, insn{op: ja, long: true, jt: jt})
		return
	}
	a.prog = append(a.prog, insn{op: op, jt: -2, jf: -1, k: k})
	a.prog = append(a.prog, insn{op: ja, long: true, jt: jf})
}

// cond emits one 64-bit argument test; control falls through when it
// holds and jumps to fail otherwise.
func (a *asm) cond(c specs.LinuxSeccompArg, fail int) {
	lo := uint32(offArgs + 8*c.Index)
	hi := lo + 4
	vhi, vlo := uint32(c.Value>>32), uint32(c.Value)
	ok := a.label()
	switch c.Op {
	case specs.OpEqualTo:
		a.ins(ldW, 0, 0, hi)
		a.cjmp(jeq, vhi, -1, fail)
		a.ins(ldW, 0, 0, lo)
		a.cjmp(jeq, vlo, -1, fail)
	case specs.OpNotEqual:
		a.ins(ldW, 0, 0, hi)
		a.cjmp(jeq, vhi, -1, ok)
		a.ins(ldW, 0, 0, lo)
		a.cjmp(jeq, vlo, fail, -1)
	case specs.OpGreaterThan, specs.OpGreaterEqual:
		a.ins(ldW, 0, 0, hi)
		a.cjmp(jgt, vhi, ok, -1)
		a.cjmp(jeq, vhi, -1, fail)
		a.ins(ldW, 0, 0, lo)
		op := uint16(jgt)
		if c.Op == specs.OpGreaterEqual {
			op = jge
		}
		a.cjmp(op, vlo, -1, fail)
	case specs.OpLessThan, specs.OpLessEqual:
		a.ins(ldW, 0, 0, hi)
		a.cjmp(jgt, vhi, fail, -1)
		a.cjmp(jeq, vhi, -1, ok)
		a.ins(ldW, 0, 0, lo)
		op := uint16(jge)
		if c.Op == specs.OpLessEqual {
			op = jgt
		}
		a.cjmp(op, vlo, fail, -1)
	case specs.OpMaskedEqual:
		mhi, mlo := vhi, vlo
		v2hi, v2lo := uint32(c.ValueTwo>>32), uint32(c.ValueTwo)
		a.ins(ldW, 0, 0, hi)
		a.ins(andK, 0, 0, mhi)
		a.cjmp(jeq, v2hi, -1, fail)
		a.ins(ldW, 0, 0, lo)
		a.ins(andK, 0, 0, mlo)
		a.cjmp(jeq, v2lo, -1, fail)
	}
	a.mark(ok)
}

func (a *asm) assemble() ([]unix.SockFilter, error) {
	out := make([]unix.SockFilter, len(a.prog))
	rel := func(i, t int) (int, error) {
		switch t {
		case -1:
			return 0, nil
		case -2:
			return 1, nil // over the following ja
		}
		pos := a.labels[t]
		if pos < 0 {
			return 0, fmt.Errorf("seccomp: internal error: unplaced label")
		}
		return pos - (i + 1), nil
	}
	for i, in := range a.prog {
		f := unix.SockFilter{Code: in.op, K: in.k}
		if in.long {
			off, err := rel(i, in.jt)
			if err != nil {
				return nil, err
			}
			f.K = uint32(off)
		} else if in.op&0x07 == unix.BPF_JMP {
			jt, err := rel(i, in.jt)
			if err != nil {
				return nil, err
			}
			jf, err := rel(i, in.jf)
			if err != nil {
				return nil, err
			}
			if jt > 255 || jf > 255 || jt < 0 || jf < 0 {
				return nil, fmt.Errorf("seccomp: internal error: jump of %d/%d instructions", jt, jf)
			}
			f.Jt, f.Jf = uint8(jt), uint8(jf)
		}
		out[i] = f
	}
	return out, nil
}
