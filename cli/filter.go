package cli

import (
	"errors"
	"strings"

	"github.com/moby/moby/client"
)

// filterOpt is the repeatable --filter flag: name=value.
type filterOpt struct {
	f client.Filters
}

func newFilterOpt() *filterOpt { return &filterOpt{f: client.Filters{}} }

func (o *filterOpt) Set(v string) error {
	name, value, ok := strings.Cut(v, "=")
	if !ok || strings.TrimSpace(name) == "" {
		return errors.New("bad format of filter (expected name=value)")
	}
	o.f.Add(strings.ToLower(strings.TrimSpace(name)), value)
	return nil
}

func (o *filterOpt) String() string {
	var out []string
	for k, vs := range o.f {
		for v := range vs {
			out = append(out, k+"="+v)
		}
	}
	return strings.Join(out, " ")
}

func (o *filterOpt) Type() string { return "filter" }

func (o *filterOpt) Value() client.Filters { return o.f }
