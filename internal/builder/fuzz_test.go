package builder

import (
	"testing"

	"github.com/moby/buildkit/frontend/dockerfile/instructions"
	"github.com/moby/buildkit/frontend/dockerfile/shell"
)

// seedDockerfiles cover every instruction, directives, heredocs and
// multi-stage references; they seed FuzzParseDockerfile.
var seedDockerfiles = []string{
	"FROM busybox\nRUN echo hi\n",
	"# syntax=docker/dockerfile:1\n# escape=`\nFROM busybox\nRUN echo `\n  hi\n",
	"ARG BASE=busybox\nFROM ${BASE:-alpine} AS a\nARG BASE\nENV A=$BASE B=\"x y\"\nLABEL k=$A\n",
	"FROM busybox AS build\nRUN touch /x\nFROM scratch\nCOPY --from=build /x /x\nCOPY --from=0 /x /y\n",
	"FROM a AS one\nFROM one AS two\nFROM two\nCOPY --from=one --chown=1:1 --chmod=644 a b /d/\n",
	"FROM busybox\nADD http://127.0.0.1/x /x\nADD a.tar /\nCOPY <<EOF /f\nhello $A\nEOF\n",
	"FROM busybox\nRUN <<EOF\necho a\nEOF\nRUN <<-X cat\n\tb\n\tX\n",
	"FROM busybox\nCMD [\"a\"]\nENTRYPOINT b c\nSHELL [\"/bin/ash\", \"-c\"]\nHEALTHCHECK --interval=5s CMD true\nHEALTHCHECK NONE\n",
	"FROM busybox\nEXPOSE 80 443/udp 1-3\nVOLUME [\"/a\", \"/b\"]\nUSER 1:1\nWORKDIR a/../b\nSTOPSIGNAL 9\nONBUILD RUN x\nMAINTAINER me\n",
	"FROM busybox\nFOO bar\n",
	"FROM\n",
	"ARG X\n",
	"FROM busybox AS A\nFROM busybox AS a\n",
	"FROM busybox\nRUN --mount=type=cache,target=/c --network=none echo\n",
	"FROM $X AS ${Y}\nCOPY --from=${Z} / /\n",
	"FROM busybox\nENV A=${B:?err}\nRUN echo ${A/x/y} ${A#x} ${A%%y}\n",
	"\ufeffFROM busybox\r\nRUN a \\\r\n\r\n b\r\n",
}

// FuzzParseDockerfile feeds arbitrary bytes through parsing, stage
// planning and word expansion, the parts of a build that touch the
// Dockerfile before any image: none may panic, and the plan must be
// consistent (target needed, step count covers the stages built).
func FuzzParseDockerfile(f *testing.F) {
	for _, s := range seedDockerfiles {
		f.Add([]byte(s), "")
		f.Add([]byte(s), "a")
	}
	f.Fuzz(func(t *testing.T, dt []byte, target string) {
		v := "1"
		p, err := planBuild(dt, Options{Target: target, BuildArgs: map[string]*string{"X": &v}, Labels: map[string]string{"l": "v"}})
		if err != nil {
			return
		}
		if !p.needed[p.target] {
			t.Fatalf("target %d not needed", p.target)
		}
		steps := len(p.metaArgs)
		lex := shell.NewLex(p.escape)
		env := shell.EnvsFromSlice([]string{"A=a", "B=b c"})
		expand := func(w string) (string, error) {
			s, _, err := lex.ProcessWord(w, env)
			return s, err
		}
		for i, s := range p.stages {
			if !p.needed[i] {
				continue
			}
			steps += 1 + len(s.Commands)
			_, _, _ = lex.ProcessWord(s.BaseName, env)
			for _, c := range s.Commands {
				if ex, ok := c.(instructions.SupportsSingleWordExpansion); ok {
					_ = ex.Expand(expand)
				}
				if ex, ok := c.(instructions.SupportsSingleWordExpansionRaw); ok {
					_ = ex.ExpandRaw(expand)
				}
				switch c := c.(type) {
				case *instructions.RunCommand:
					_, _ = runHeredoc(c.ShellDependantCmdLine)
				case *instructions.ExposeCommand:
					for _, port := range c.Ports {
						_, _ = lex.ProcessWords(port, env)
					}
				}
			}
		}
		if steps != p.steps {
			t.Fatalf("steps %d, plan says %d", steps, p.steps)
		}
	})
}
