// Package filters parses the `filters` query parameter of the Engine API.
//
// The wire form is a JSON object mapping a key to a set of values, either
// {"key":{"value":true}} (current) or {"key":["value"]} (API < 1.22 and some
// clients). Unknown keys are rejected by the caller with Validate.
package filters

import (
	"encoding/json"
	"strings"

	"github.com/berth-dev/berth/internal/errdefs"
)

// Args is a parsed filter set.
type Args struct {
	m map[string]map[string]bool
}

// NewArgs returns an empty filter set, optionally seeded with key=value pairs.
func NewArgs(kv ...[2]string) Args {
	a := Args{m: map[string]map[string]bool{}}
	for _, p := range kv {
		a.Add(p[0], p[1])
	}
	return a
}

// Parse decodes the query parameter value. An empty string is an empty set.
func Parse(s string) (Args, error) {
	a := NewArgs()
	if s == "" {
		return a, nil
	}
	if err := json.Unmarshal([]byte(s), &a.m); err == nil {
		return a, nil
	}
	var legacy map[string][]string
	if err := json.Unmarshal([]byte(s), &legacy); err != nil {
		return a, errdefs.InvalidArgumentf("invalid filter: %v", err)
	}
	for k, vs := range legacy {
		for _, v := range vs {
			a.Add(k, v)
		}
	}
	return a, nil
}

// Add adds value to key.
func (a Args) Add(key, value string) {
	if a.m[key] == nil {
		a.m[key] = map[string]bool{}
	}
	a.m[key][value] = true
}

// Len is the number of keys.
func (a Args) Len() int { return len(a.m) }

// Contains reports whether key is present.
func (a Args) Contains(key string) bool { _, ok := a.m[key]; return ok }

// Get returns key's values.
func (a Args) Get(key string) []string {
	var out []string
	for v := range a.m[key] {
		out = append(out, v)
	}
	return out
}

// Validate rejects keys not in accepted, with Docker's message.
func (a Args) Validate(accepted ...string) error {
	for k := range a.m {
		ok := false
		for _, acc := range accepted {
			if k == acc {
				ok = true
				break
			}
		}
		if !ok {
			return errdefs.InvalidArgumentf("invalid filter '%s'", k)
		}
	}
	return nil
}

// Match reports whether any of key's values equals source (true when key is
// absent).
func (a Args) Match(key, source string) bool {
	vs, ok := a.m[key]
	if !ok {
		return true
	}
	return vs[source]
}

// MatchKVList matches "label" style filters ("k" or "k=v") against a map.
// All values of key must match (AND), as Docker does.
func (a Args) MatchKVList(key string, sources map[string]string) bool {
	for v := range a.m[key] {
		k, val, hasVal := strings.Cut(v, "=")
		got, ok := sources[k]
		if !ok || (hasVal && got != val) {
			return false
		}
	}
	return true
}

// MarshalJSON encodes the current wire form.
func (a Args) MarshalJSON() ([]byte, error) { return json.Marshal(a.m) }
