package builder

import (
	"maps"
	"slices"
	"strings"
)

// builtinArgs are the proxy variables every build may use without an
// ARG; they stay out of image history unless the Dockerfile declares
// them (moby builder/dockerfile/buildargs.go).
var builtinArgs = map[string]bool{
	"HTTP_PROXY": true, "http_proxy": true,
	"HTTPS_PROXY": true, "https_proxy": true,
	"FTP_PROXY": true, "ftp_proxy": true,
	"NO_PROXY": true, "no_proxy": true,
	"ALL_PROXY": true, "all_proxy": true,
}

// buildArgs tracks ARG declarations as dockerd's classic builder does:
// meta ARGs (before the first FROM) are visible to FROM lines and give
// defaults to a stage's own ARG of the same name; inside a stage only
// declared ARGs (and the builtin proxy args) expand and reach RUN.
type buildArgs struct {
	allowed    map[string]*string // declared in the current stage (or meta scope)
	meta       map[string]*string // declared before the first FROM
	referenced map[string]bool    // declared anywhere (for the unused warning)
	options    map[string]*string // --build-arg
}

func newBuildArgs(options map[string]*string) *buildArgs {
	return &buildArgs{
		allowed:    map[string]*string{},
		meta:       map[string]*string{},
		referenced: map[string]bool{},
		options:    options,
	}
}

// forStage returns the args a new stage starts with: the meta args
// known, nothing declared yet.
func (b *buildArgs) forStage() *buildArgs {
	n := newBuildArgs(b.options)
	maps.Copy(n.meta, b.meta)
	maps.Copy(n.referenced, b.referenced)
	return n
}

func (b *buildArgs) add(key string, value *string) {
	b.allowed[key] = value
	b.referenced[key] = true
}

func (b *buildArgs) addMeta(key string, value *string) {
	b.add(key, value)
	b.meta[key] = value
}

// value resolves key in scope: --build-arg wins, then the declared
// default, then (for a declaration without one) the meta arg's.
func (b *buildArgs) value(key string, scope map[string]*string) (string, bool) {
	def, declared := scope[key]
	if v, ok := b.options[key]; ok && v != nil {
		return *v, true
	}
	if def == nil {
		if v, ok := b.meta[key]; ok && v != nil {
			return *v, true
		}
		return "", false
	}
	return *def, declared
}

func (b *buildArgs) all(scope map[string]*string) map[string]string {
	m := map[string]string{}
	for k := range scope {
		if v, ok := b.value(k, scope); ok {
			m[k] = v
		}
	}
	for k := range builtinArgs {
		if v, ok := b.value(k, scope); ok {
			m[k] = v
		}
	}
	return m
}

// metaEnv is what FROM lines expand with.
func (b *buildArgs) metaEnv() []string { return kvList(b.all(b.meta)) }

// filtered returns the stage's args as KEY=value, minus those env
// already sets (ENV wins over ARG), sorted.
func (b *buildArgs) filtered(env []string) []string {
	set := map[string]bool{}
	for _, e := range env {
		k, _, _ := strings.Cut(e, "=")
		set[k] = true
	}
	var out []string
	for k, v := range b.all(b.allowed) {
		if !set[k] {
			out = append(out, k+"="+v)
		}
	}
	slices.Sort(out)
	return out
}

// historyArgs are the args RUN records in its history entry ("|2 A=1
// B=2 ..."): builtin proxy args only when the Dockerfile declared them.
func (b *buildArgs) historyArgs(args []string) []string {
	var out []string
	for _, kv := range args {
		k, _, _ := strings.Cut(kv, "=")
		if _, declared := b.allowed[k]; declared || !builtinArgs[k] {
			out = append(out, kv)
		}
	}
	return out
}

// unused lists --build-arg names no ARG declared, sorted.
func (b *buildArgs) unused() []string {
	var out []string
	for k := range b.options {
		if !b.referenced[k] && !builtinArgs[k] {
			out = append(out, k)
		}
	}
	slices.Sort(out)
	return out
}

func kvList(m map[string]string) []string {
	out := make([]string, 0, len(m))
	for k, v := range m {
		out = append(out, k+"="+v)
	}
	slices.Sort(out)
	return out
}
