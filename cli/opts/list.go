package opts

import (
	"strings"
)

// ValidatorFunc checks (and may rewrite) one value of a repeatable flag.
type ValidatorFunc func(val string) (string, error)

// ListOpts is a repeatable string flag ("list" in help output); each value
// passes through the optional validator before it is kept.
type ListOpts struct {
	values    []string
	validator ValidatorFunc
}

// NewListOpts returns an empty list with the given validator (may be nil).
func NewListOpts(validator ValidatorFunc) *ListOpts {
	return &ListOpts{validator: validator}
}

func (o *ListOpts) String() string {
	if len(o.values) == 0 {
		return ""
	}
	return "[" + strings.Join(o.values, " ") + "]"
}

// Set appends a value after validation.
func (o *ListOpts) Set(value string) error {
	if o.validator != nil {
		v, err := o.validator(value)
		if err != nil {
			return err
		}
		value = v
	}
	o.values = append(o.values, value)
	return nil
}

// Type is the name shown in --help.
func (o *ListOpts) Type() string { return "list" }

// GetAll returns the values in the order given (nil when none).
func (o *ListOpts) GetAll() []string { return o.values }

// GetAllOrEmpty is GetAll but never nil, for fields the API wants as [].
func (o *ListOpts) GetAllOrEmpty() []string {
	if o.values == nil {
		return []string{}
	}
	return o.values
}

// Len is the number of values given.
func (o *ListOpts) Len() int { return len(o.values) }

// Get reports whether key was given (case-insensitive), for -a stdin|stdout|stderr.
func (o *ListOpts) Get(key string) bool {
	for _, v := range o.values {
		if strings.EqualFold(v, key) {
			return true
		}
	}
	return false
}
