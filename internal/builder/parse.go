package builder

import (
	"bytes"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"

	"github.com/moby/buildkit/frontend/dockerfile/instructions"
	"github.com/moby/buildkit/frontend/dockerfile/parser"
	"github.com/moby/buildkit/frontend/dockerfile/shell"

	"github.com/berth-dev/berth/internal/errdefs"
)

// plan is a parsed Dockerfile and the stages a build of its target
// needs, computed without touching any image.
type plan struct {
	escape   rune
	warnings []parser.Warning
	metaArgs []instructions.ArgCommand
	args     *buildArgs // after the meta args
	stages   []instructions.Stage
	needed   []bool // stages[i] is built
	target   int    // index of the target stage
	steps    int    // the N of "Step n/N"
}

// parseDockerfile parses dt into stages and meta ARGs. Errors are
// errdefs.InvalidArgument with the line number as dockerd words them.
func parseDockerfile(dt []byte, name string) (*parser.Result, []instructions.Stage, []instructions.ArgCommand, error) {
	if len(dt) == 0 {
		return nil, nil, nil, errdefs.InvalidArgumentf("the Dockerfile (%s) cannot be empty", name)
	}
	res, err := parser.Parse(bytes.NewReader(dt))
	if err != nil {
		return nil, nil, nil, errdefs.InvalidArgumentf("%s", withLine(err))
	}
	stages, metaArgs, err := instructions.Parse(res.AST, nil)
	if err != nil {
		return nil, nil, nil, errdefs.InvalidArgumentf("%s", withLine(err))
	}
	return res, stages, metaArgs, nil
}

// withLine prefixes a parser error that does not say its line with it.
func withLine(err error) string {
	msg := err.Error()
	if strings.HasPrefix(msg, "dockerfile parse error") {
		return msg
	}
	var le *parser.LocationError
	if errors.As(err, &le) && len(le.Locations) > 0 && len(le.Locations[0]) > 0 {
		return fmt.Sprintf("dockerfile parse error on line %d: %s", le.Locations[0][0].Start.Line, msg)
	}
	return msg
}

// planBuild parses the Dockerfile and decides which stages the target
// needs: the target, the stages named by its FROM and COPY --from, and
// theirs, transitively. Only earlier stages can be referenced, as in
// the classic builder, which builds in file order. --from values that
// need a stage's own ENV or ARGs to expand are resolved at dispatch;
// a stage found needed only then is built on demand.
func planBuild(dt []byte, opts Options) (*plan, error) {
	name := opts.Dockerfile
	if name == "" {
		name = "Dockerfile"
	}
	res, stages, metaArgs, err := parseDockerfile(dt, name)
	if err != nil {
		return nil, err
	}
	p := &plan{
		escape:   res.EscapeToken,
		warnings: res.Warnings,
		metaArgs: metaArgs,
		stages:   stages,
		args:     newBuildArgs(opts.BuildArgs),
	}
	lex := shell.NewLex(p.escape)
	for i := range p.metaArgs {
		if err := expandMetaArg(&p.metaArgs[i], lex, p.args); err != nil {
			return nil, errdefs.InvalidArgumentf("%s", err)
		}
	}
	if len(stages) == 0 {
		return nil, errdefs.InvalidArgumentf("No image was generated. Is your Dockerfile empty?")
	}
	seen := map[string]bool{}
	for _, s := range stages {
		if s.Name == "" {
			continue
		}
		if seen[s.Name] {
			return nil, errdefs.InvalidArgumentf("%s stage name already used", s.Name)
		}
		seen[s.Name] = true
	}
	p.target = len(stages) - 1
	if opts.Target != "" {
		ix, ok := instructions.HasStage(stages, opts.Target)
		if !ok {
			return nil, errdefs.InvalidArgumentf("failed to reach build target %s in Dockerfile", opts.Target)
		}
		p.target = ix
	}
	// --label values are LABEL steps at the end of the target, as in
	// dockerd (sorted for a repeatable cache).
	for _, k := range slices.Sorted(maps.Keys(opts.Labels)) {
		p.stages[p.target].AddCommand(instructions.NewLabelCommand(k, opts.Labels[k], true))
	}

	p.markNeeded(lex)
	p.steps = len(p.metaArgs)
	for i, s := range p.stages {
		if p.needed[i] {
			p.steps += 1 + len(s.Commands)
		}
	}
	return p, nil
}

// markNeeded marks the target and the earlier stages its FROM and COPY
// --from lines name, transitively, with --from expanded by the meta args.
func (p *plan) markNeeded(lex *shell.Lex) {
	p.needed = make([]bool, len(p.stages))
	metaEnv := shell.EnvsFromSlice(p.args.metaEnv())
	var mark func(i int)
	mark = func(i int) {
		if p.needed[i] {
			return
		}
		p.needed[i] = true
		s := &p.stages[i]
		if base, _, err := lex.ProcessWord(s.BaseName, metaEnv); err == nil {
			if j, ok := stageRef(p.stages, i, base, false); ok {
				mark(j)
			}
		}
		for _, c := range s.Commands {
			cp, ok := c.(*instructions.CopyCommand)
			if !ok || cp.From == "" {
				continue
			}
			from, _, err := lex.ProcessWord(cp.From, metaEnv)
			if err != nil {
				continue
			}
			if j, ok := stageRef(p.stages, i, from, true); ok {
				mark(j)
			}
		}
	}
	mark(p.target)

}

func expandMetaArg(a *instructions.ArgCommand, lex *shell.Lex, args *buildArgs) error {
	env := shell.EnvsFromSlice(kvList(args.all(args.allowed)))
	if err := a.Expand(func(w string) (string, error) {
		s, _, err := lex.ProcessWord(w, env)
		return s, err
	}); err != nil {
		return err
	}
	for _, kv := range a.Args {
		args.addMeta(kv.Key, kv.Value)
	}
	return nil
}

// stageRef resolves name, as used by stage cur, to an earlier stage:
// by name, or (for COPY --from) by index.
func stageRef(stages []instructions.Stage, cur int, name string, allowIndex bool) (int, bool) {
	for j := 0; j < cur && j < len(stages); j++ {
		if stages[j].Name != "" && strings.EqualFold(stages[j].Name, name) {
			return j, true
		}
	}
	if allowIndex {
		if n, err := strconv.Atoi(name); err == nil && n >= 0 && n < cur {
			return n, true
		}
	}
	return -1, false
}
