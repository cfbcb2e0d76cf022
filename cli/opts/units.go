package opts

import (
	"fmt"
	"math/big"
	"sort"
	"strconv"

	units "github.com/docker/go-units"
	"github.com/moby/moby/api/types/container"
)

// MemBytes is a size flag ("bytes") taking docker's units: 64m, 1g, 512k.
type MemBytes int64

func (m *MemBytes) String() string {
	if *m == 0 {
		return "0"
	}
	return units.BytesSize(float64(*m))
}

// Set parses a RAM size such as "64m" (binary units, like docker).
func (m *MemBytes) Set(value string) error {
	v, err := units.RAMInBytes(value)
	*m = MemBytes(v)
	return err
}

// Type is the name shown in --help.
func (m *MemBytes) Type() string { return "bytes" }

// Value is the size in bytes.
func (m *MemBytes) Value() int64 { return int64(*m) }

// MemSwapBytes is MemBytes that also accepts -1 (unlimited swap).
type MemSwapBytes int64

func (m *MemSwapBytes) String() string { return (*MemBytes)(m).String() }

// Set parses a size, or -1 for unlimited.
func (m *MemSwapBytes) Set(value string) error {
	if value == "-1" {
		*m = -1
		return nil
	}
	return (*MemBytes)(m).Set(value)
}

// Type is the name shown in --help.
func (m *MemSwapBytes) Type() string { return "bytes" }

// Value is the size in bytes, or -1.
func (m *MemSwapBytes) Value() int64 { return int64(*m) }

// NanoCPUs is the --cpus flag ("decimal"): a CPU count kept as 1e-9 CPUs.
type NanoCPUs int64

func (c *NanoCPUs) String() string {
	if *c == 0 {
		return ""
	}
	return big.NewRat(int64(*c), 1e9).FloatString(3)
}

// Set parses a decimal CPU count such as "1.5" into 1500000000.
func (c *NanoCPUs) Set(value string) error {
	r, ok := new(big.Rat).SetString(value)
	if !ok {
		return fmt.Errorf("failed to parse %v as a rational number", value)
	}
	nano := r.Mul(r, big.NewRat(1e9, 1))
	if !nano.IsInt() {
		return fmt.Errorf("value is too precise")
	}
	*c = NanoCPUs(nano.Num().Int64())
	return nil
}

// Type is the name shown in --help.
func (c *NanoCPUs) Type() string { return "decimal" }

// Value is the count in units of 1e-9 CPUs.
func (c *NanoCPUs) Value() int64 { return int64(*c) }

// UlimitOpt is the repeatable --ulimit flag: name=soft[:hard].
type UlimitOpt struct {
	values map[string]*container.Ulimit
	order  []string
}

// NewUlimitOpt returns an empty --ulimit value.
func NewUlimitOpt() *UlimitOpt { return &UlimitOpt{values: map[string]*container.Ulimit{}} }

// Set parses one ulimit; a later value for the same name replaces the earlier.
func (o *UlimitOpt) Set(val string) error {
	l, err := units.ParseUlimit(val)
	if err != nil {
		return err
	}
	if _, ok := o.values[l.Name]; !ok {
		o.order = append(o.order, l.Name)
	}
	o.values[l.Name] = l
	return nil
}

func (o *UlimitOpt) String() string {
	var out []string
	for _, n := range o.order {
		out = append(out, o.values[n].String())
	}
	return fmt.Sprintf("%v", out)
}

// Type is the name shown in --help.
func (o *UlimitOpt) Type() string { return "ulimit" }

// GetList returns the ulimits sorted by name, as docker sends them (never nil).
func (o *UlimitOpt) GetList() []*container.Ulimit {
	names := append([]string(nil), o.order...)
	sort.Strings(names)
	out := []*container.Ulimit{}
	for _, n := range names {
		out = append(out, o.values[n])
	}
	return out
}

// ParseRestartPolicy parses --restart: no, always, unless-stopped,
// on-failure[:max-retries].
func ParseRestartPolicy(policy string) (container.RestartPolicy, error) {
	var p container.RestartPolicy
	if policy == "" {
		return p, nil
	}
	name, count, hasColon := cut(policy, ":")
	if hasColon && name == "" {
		return p, fmt.Errorf("invalid restart policy format: no policy provided before colon")
	}
	if count != "" {
		n, err := strconv.Atoi(count)
		if err != nil {
			return p, fmt.Errorf("invalid restart policy format: maximum retry count must be an integer")
		}
		p.MaximumRetryCount = n
	}
	p.Name = container.RestartPolicyMode(name)
	switch p.Name {
	case container.RestartPolicyDisabled, container.RestartPolicyAlways, container.RestartPolicyUnlessStopped:
		if p.MaximumRetryCount != 0 {
			return p, fmt.Errorf("invalid restart policy: maximum retry count can only be used with 'on-failure'")
		}
	case container.RestartPolicyOnFailure:
		if p.MaximumRetryCount < 0 {
			return p, fmt.Errorf("invalid restart policy: maximum retry count cannot be negative")
		}
	default:
		return p, fmt.Errorf("invalid restart policy: unknown policy '%s'; use one of 'no', 'always', 'on-failure', or 'unless-stopped'", name)
	}
	return p, nil
}
