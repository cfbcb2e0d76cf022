package cgroups

import (
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"runtime"
	"unsafe"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/berth-dev/berth/internal/errdefs"
)

// Device rules on v2 are an eBPF program of type BPF_PROG_TYPE_CGROUP_DEVICE
// attached to the container's cgroup. deviceFilter writes it, as data;
// attachDeviceFilter loads and attaches it.
//
// Semantics: the rules are matched last to first and the first match
// decides (the last rule that matches wins, as when they are written one
// by one to v1's devices.allow/deny); an access no rule matches is
// allowed, as in a fresh v1 cgroup. An allow rule matches when the access
// asked for is within its access letters, a deny rule when they overlap.
// With docker's list (deny all, then allow a few) this is exactly v1's
// outcome.

// insn is one eBPF instruction.
type insn struct {
	code uint8
	dst  uint8
	src  uint8
	off  int16
	imm  int32
}

// eBPF opcodes used by the filter.
const (
	opLdxW   = 0x61 // BPF_LDX|BPF_MEM|BPF_W:   dst = *(u32 *)(src + off)
	opAndK   = 0x54 // BPF_ALU|BPF_AND|BPF_K:   dst &= imm (32 bit)
	opRshK   = 0x74 // BPF_ALU|BPF_RSH|BPF_K:   dst >>= imm (32 bit)
	opMovX   = 0xbc // BPF_ALU|BPF_MOV|BPF_X:   dst = src (32 bit)
	opMovK   = 0xb4 // BPF_ALU|BPF_MOV|BPF_K:   dst = imm (32 bit)
	opJneK   = 0x55 // BPF_JMP|BPF_JNE|BPF_K:   if dst != imm: pc += off
	opJeqK   = 0x15 // BPF_JMP|BPF_JEQ|BPF_K:   if dst == imm: pc += off
	opExit   = 0x95 // BPF_JMP|BPF_EXIT:        return r0
	devBlock = 1    // BPF_DEVCG_DEV_BLOCK
	devChar  = 2    // BPF_DEVCG_DEV_CHAR
)

// Registers: r1 is the context (struct bpf_cgroup_dev_ctx { u32
// access_type; u32 major; u32 minor; }, access_type = access<<16 | type);
// the prologue loads r2 = type, r3 = access, r4 = major, r5 = minor.
func devicePrologue() []insn {
	return []insn{
		{code: opLdxW, dst: 2, src: 1, off: 0},
		{code: opAndK, dst: 2, imm: 0xffff},
		{code: opLdxW, dst: 3, src: 1, off: 0},
		{code: opRshK, dst: 3, imm: 16},
		{code: opLdxW, dst: 4, src: 1, off: 4},
		{code: opLdxW, dst: 5, src: 1, off: 8},
	}
}

func accessBits(access string) int32 {
	var b int32
	for _, c := range access {
		switch c {
		case 'm':
			b |= 1 // BPF_DEVCG_ACC_MKNOD
		case 'r':
			b |= 2 // BPF_DEVCG_ACC_READ
		case 'w':
			b |= 4 // BPF_DEVCG_ACC_WRITE
		}
	}
	return b
}

// deviceFilter compiles rules into the program described above.
func deviceFilter(rules []specs.LinuxDeviceCgroup) ([]insn, error) {
	prog := devicePrologue()
	for i := len(rules) - 1; i >= 0; i-- {
		r := rules[i]
		var block []insn
		// Each test jumps past the rest of the block on mismatch; the
		// offsets are patched once the block's length is known.
		var jumps []int
		jump := func(in insn) {
			jumps = append(jumps, len(block))
			block = append(block, in)
		}
		switch r.Type {
		case "", "a":
		case "b":
			jump(insn{code: opJneK, dst: 2, imm: devBlock})
		case "c":
			jump(insn{code: opJneK, dst: 2, imm: devChar})
		default:
			return nil, errdefs.InvalidArgumentf("device rule type %q: must be a, b or c", r.Type)
		}
		access := r.Access
		if access == "" {
			access = "rwm"
		}
		if bits := accessBits(access); bits != 7 {
			block = append(block, insn{code: opMovX, dst: 1, src: 3})
			if r.Allow {
				// asked & ^bits must be 0
				block = append(block, insn{code: opAndK, dst: 1, imm: ^bits & 7})
				jump(insn{code: opJneK, dst: 1, imm: 0})
			} else {
				// asked & bits must not be 0
				block = append(block, insn{code: opAndK, dst: 1, imm: bits})
				jump(insn{code: opJeqK, dst: 1, imm: 0})
			}
		}
		if r.Major != nil && *r.Major >= 0 {
			jump(insn{code: opJneK, dst: 4, imm: int32(*r.Major)})
		}
		if r.Minor != nil && *r.Minor >= 0 {
			jump(insn{code: opJneK, dst: 5, imm: int32(*r.Minor)})
		}
		verdict := int32(0)
		if r.Allow {
			verdict = 1
		}
		block = append(block, insn{code: opMovK, dst: 0, imm: verdict}, insn{code: opExit})
		for _, j := range jumps {
			block[j].off = int16(len(block) - j - 1)
		}
		prog = append(prog, block...)
		if len(jumps) == 0 {
			// Matches everything: earlier rules are unreachable, and the
			// verifier rejects unreachable code.
			return prog, nil
		}
	}
	return append(prog, insn{code: opMovK, dst: 0, imm: 1}, insn{code: opExit}), nil
}

func encodeInsns(prog []insn) []byte {
	out := make([]byte, 0, 8*len(prog))
	for _, in := range prog {
		var b [8]byte
		b[0] = in.code
		b[1] = in.dst&0xf | in.src<<4
		binary.LittleEndian.PutUint16(b[2:], uint16(in.off))
		binary.LittleEndian.PutUint32(b[4:], uint32(in.imm))
		out = append(out, b[:]...)
	}
	return out
}

// bpfProgLoadAttr is the head of union bpf_attr for BPF_PROG_LOAD.
type bpfProgLoadAttr struct {
	progType    uint32
	insnCnt     uint32
	insns       uint64
	license     uint64
	logLevel    uint32
	logSize     uint32
	logBuf      uint64
	kernVersion uint32
	progFlags   uint32
	progName    [16]byte
}

// bpfProgAttachAttr is union bpf_attr for BPF_PROG_ATTACH.
type bpfProgAttachAttr struct {
	targetFd     uint32
	attachBpfFd  uint32
	attachType   uint32
	attachFlags  uint32
	replaceBpfFd uint32
}

// attachDeviceFilter loads the filter for rules and attaches it to the
// cgroup directory dir (BPF_F_ALLOW_MULTI, so an ancestor's filters keep
// applying too). The attachment lives as long as the cgroup.
func attachDeviceFilter(dir string, rules []specs.LinuxDeviceCgroup) error {
	prog, err := deviceFilter(rules)
	if err != nil {
		return err
	}
	// The kernel reads these through addresses stored as integers, which
	// the Go runtime cannot see: all three live on the heap (a returned
	// slice, a package variable, a buffer above the stack-allocation
	// limit), where nothing moves.
	code := encodeInsns(prog)
	license := bpfLicense
	logBuf := make([]byte, 128<<10)
	attr := bpfProgLoadAttr{
		progType: unix.BPF_PROG_TYPE_CGROUP_DEVICE,
		insnCnt:  uint32(len(prog)),
		insns:    uint64(uintptr(unsafe.Pointer(&code[0]))),
		license:  uint64(uintptr(unsafe.Pointer(&license[0]))),
		logLevel: 1,
		logSize:  uint32(len(logBuf)),
		logBuf:   uint64(uintptr(unsafe.Pointer(&logBuf[0]))),
	}
	copy(attr.progName[:], "berth_devices")
	fd, _, errno := unix.Syscall(unix.SYS_BPF, unix.BPF_PROG_LOAD, uintptr(unsafe.Pointer(&attr)), unsafe.Sizeof(attr))
	runtime.KeepAlive(code)
	runtime.KeepAlive(license)
	if errno != 0 {
		log := string(logBuf[:max(0, indexNUL(logBuf))])
		return fmt.Errorf("load device filter for %s: %w: %s", dir, errno, log)
	}
	progFd := int(fd)
	defer unix.Close(progFd)

	cg, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("attach device filter: %w", err)
	}
	defer cg.Close()
	at := bpfProgAttachAttr{
		targetFd:    uint32(cg.Fd()),
		attachBpfFd: uint32(progFd),
		attachType:  unix.BPF_CGROUP_DEVICE,
		attachFlags: unix.BPF_F_ALLOW_MULTI,
	}
	_, _, errno = unix.Syscall(unix.SYS_BPF, unix.BPF_PROG_ATTACH, uintptr(unsafe.Pointer(&at)), unsafe.Sizeof(at))
	if errno != 0 {
		err := fmt.Errorf("attach device filter to %s: %w", dir, errno)
		if errors.Is(errno, unix.EPERM) || errors.Is(errno, unix.EINVAL) {
			err = errdefs.With(errdefs.Unavailable, err)
		}
		return err
	}
	return nil
}

var bpfLicense = []byte("Apache-2.0\x00")

func indexNUL(b []byte) int {
	for i, c := range b {
		if c == 0 {
			return i
		}
	}
	return len(b)
}
